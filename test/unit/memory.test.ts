// The memory estimate: parameter counts against the published sizes of LLaDA-8B and Dream-7B
// (Qwen2.5-7B's 7.62B), the K/V and activation terms worked by hand, and the refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelSpec } from '../../src/checkpoint/config.js';
import { checkFits, estimateMemory, parameterCount } from '../../src/model/memory.js';
import { WavefilterError } from '../../src/errors.js';

function spec(config: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'wf-mem-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return readModelSpec(dir);
}

const LLADA_8B = spec({ model_type: 'llada', d_model: 4096, n_heads: 32, n_kv_heads: 32, n_layers: 32, mlp_hidden_size: 12288, vocab_size: 126464, embedding_size: 126464, max_sequence_length: 4096, rope_theta: 500000, rms_norm_eps: 1e-5, mask_token_id: 126336, eos_token_id: 126081, block_type: 'llama' });
const DREAM_7B = spec({ model_type: 'Dream', hidden_size: 3584, num_attention_heads: 28, num_key_value_heads: 4, num_hidden_layers: 28, intermediate_size: 18944, vocab_size: 152064, max_position_embeddings: 131072, rope_theta: 1e6, rms_norm_eps: 1e-6, mask_token_id: 151666, hidden_act: 'silu', tie_word_embeddings: false });

test('parameter counts: LLaDA-8B 8.02B, Dream-7B 7.62B (the published sizes)', () => {
  assert.equal(parameterCount(LLADA_8B), 8_015_581_184);
  assert.equal(parameterCount(DREAM_7B), 7_615_616_512);
});

test('the estimate, by hand: LLaDA-8B in fp16 at a 4K prompt + 64', () => {
  const e = estimateMemory(LLADA_8B, { promptLength: 4096, genLength: 64, blockLength: 32, dtype: 'fp16', executor: 'block' });
  assert.equal(e.weightsBytes, 8_015_581_184 * 2);
  assert.equal(e.kvBytes, 2 * 32 * 32 * 128 * 2 * 4160); // K and V, 32 layers x 32 heads x 128 dims, fp16, 4160 positions
  assert.equal(e.activationBytes, 4160 * (6 * 4096 + 3 * 12288) * 2 + 32 * 126464 * 12);
  assert.equal(e.totalBytes, e.weightsBytes + e.kvBytes + e.activationBytes);
  const step = estimateMemory(LLADA_8B, { promptLength: 4096, genLength: 64, blockLength: 32, dtype: 'fp16', executor: 'step' });
  assert.equal(step.kvBytes, 2 * e.kvBytes, 'the step loop keeps a JavaScript copy of the K/V');
  const around = estimateMemory(LLADA_8B, { promptLength: 4096, genLength: 64, blockLength: 32, dtype: 'fp16', executor: 'block', kvAround: true });
  assert.equal(around.kvBytes, 2 * e.kvBytes, "'replace' attention holds the rows around the window as a second copy");
  // GQA: Dream's K/V is 7x smaller per token than its query width suggests
  const d = estimateMemory(DREAM_7B, { promptLength: 1000, genLength: 0, blockLength: 32, dtype: 'fp32', executor: 'block' });
  assert.equal(d.kvBytes, 2 * 28 * 4 * 128 * 4 * 1000);
});

test('a generation that cannot fit is refused with the numbers; one that fits passes', () => {
  const e = estimateMemory(LLADA_8B, { promptLength: 32768, genLength: 64, blockLength: 32, dtype: 'fp32', executor: 'block' });
  assert.throws(() => checkFits(e, 48 * 2 ** 30, 'cuda:0'), (x: unknown) => x instanceof WavefilterError && x.code === 'out_of_memory'
    && /needs at least .* GiB of cuda:0 memory .* 48\.0 GiB is available/.test(x.message) && x.details.needed_bytes === e.totalBytes);
  checkFits(e, 200 * 2 ** 30, 'cuda:0');
  checkFits(e, null, 'cuda:0'); // unknown capacity: no refusal on a guess
});
