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
import { deviceRefreshCost, forwardFlops, kvBytes } from '../../src/model/refresh-cost.js';

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

test('the GPU prompt refresh by cost: every block for both shapes at gen 64, first-block only where the copies are much cheaper (hand-worked FLOPs and bytes)', () => {
  // a forward over 1000 rows of LLaDA-8B: 2 x 32 layers x (4 x 4096^2 + 3 x 4096 x 12288) x 1000 + 4 x 32 x 1000^2 x 4096
  assert.equal(forwardFlops(LLADA_8B, 1000), 2 * 32 * (4 * 4096 ** 2 + 3 * 4096 * 12288) * 1000 + 4 * 32 * 1000 ** 2 * 4096);
  // Dream's K/V: 2 x 28 layers x 4 K/V heads x 128 dims x 2 bytes per position in fp16
  assert.equal(kvBytes(DREAM_7B, 1000, 'fp16'), 2 * 28 * 4 * 128 * 2 * 1000);
  // the measurements the rates come from: LLaDA-8B's forward at 32K took 1.92 s, Dream-7B's at 16K 0.61 s
  assert.ok(Math.abs(deviceRefreshCost(LLADA_8B, 32768, 64, 2, 'fp16').refreshS - 1.92) < 0.1);
  assert.ok(Math.abs(deviceRefreshCost(DREAM_7B, 16384, 64, 2, 'fp16').refreshS - 0.61) < 0.05);
  for (const n of [4096, 16384, 32768]) {
    for (const spec of [LLADA_8B, DREAM_7B]) {
      const c = deviceRefreshCost(spec, n, 64, 2, 'fp16');
      assert.equal(c.choice, 'every-block', `${spec.family} at ${n}: copies ${c.copyS.toFixed(3)} s against a refresh of ${c.refreshS.toFixed(3)} s`);
    }
  }
  // one block: nothing to keep
  assert.deepEqual(deviceRefreshCost(DREAM_7B, 32768, 32, 1, 'fp16'), { refreshS: 0, copyS: 0, choice: 'every-block' });
  // a long generation on the GQA model at 64K: the quadratic refresh outgrows the linear copies
  const long = deviceRefreshCost(DREAM_7B, 65536, 1024, 32, 'fp16');
  assert.equal(long.choice, 'first-block', `copies ${long.copyS.toFixed(1)} s against refreshes ${long.refreshS.toFixed(1)} s`);
  // LLaDA-8B keeps 8x the K/V per position: the same generation stays every-block
  assert.equal(deviceRefreshCost(LLADA_8B, 65536, 1024, 32, 'fp16').choice, 'every-block');
});

test('serve --lanes: refused when the lanes\' copies of the weights cannot fit the host (LLaDA-8B: 64 GB a lane by hand)', async () => {
  const { checkLanesFit } = await import('../../src/cli/commands/serve.js');
  const perLane = 2 * 4 * 8_015_581_184; // the checkpoint's tensors and the session's copy, fp32
  assert.doesNotThrow(() => checkLanesFit(1, LLADA_8B, 2 * perLane));
  assert.throws(() => checkLanesFit(2, LLADA_8B, 2 * perLane), (e: unknown) => e instanceof WavefilterError && e.code === 'out_of_memory' && /--lanes 2/.test(e.message) && e.details.needed_bytes === 3 * perLane);
  // the bundled model's size: 8 lanes fit in 1 GiB
  assert.doesNotThrow(() => checkLanesFit(8, spec({ model_type: 'llada', d_model: 256, n_heads: 4, n_kv_heads: 4, n_layers: 4, mlp_hidden_size: 768, vocab_size: 4096, embedding_size: 4096, max_sequence_length: 4096, rope_theta: 10000, rms_norm_eps: 1e-5, mask_token_id: 4095, eos_token_id: 1, block_type: 'llama' }), 2 ** 30));
});
