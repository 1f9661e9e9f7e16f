// Bad checkpoints, prompts and options: each fails before any work with a code that names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ErrorCode, WavefilterError, loadModel } from '../../src/index.js';
import { LLADA_TINY } from '../helpers.js';

function checkpoint(patch: (config: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'wf-ckpt-'));
  const config = JSON.parse(readFileSync(join(LLADA_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  patch(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(LLADA_TINY, 'model.safetensors'), join(dir, 'model.safetensors'));
  return dir;
}

async function failsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof WavefilterError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('unknown model type', () => failsWith(loadModel(checkpoint((c) => (c.model_type = 'gpt2'))), 'unsupported_model', /model_type "gpt2" is not supported/));
test('config field of the wrong type', () => failsWith(loadModel(checkpoint((c) => (c.n_layers = '2'))), 'invalid_config', /field n_layers: expected a positive integer, found "2"/));
test('config that does not match the tensors', () =>
  failsWith(loadModel(checkpoint((c) => (c.mlp_hidden_size = 128))), 'tensor_shape_mismatch', /ff_proj\.weight.*expected shape \[128, 64\], found \[160, 64\]/));
test('config asking for more layers than the weights hold', () => failsWith(loadModel(checkpoint((c) => (c.n_layers = 3))), 'missing_tensor', /blocks\.2\./));
test('unsupported architecture switch', () => failsWith(loadModel(checkpoint((c) => (c.weight_tying = true))), 'unsupported_model', /weight_tying/));
test('missing folder', () => failsWith(loadModel('/nonexistent/model'), 'file_not_found', /model folder not found/));
test('config that is not JSON', async () => {
  const dir = checkpoint(() => {});
  writeFileSync(join(dir, 'config.json'), '{"model_type": "llada",');
  await failsWith(loadModel(dir), 'invalid_config', /not valid JSON/);
});

test('generation inputs and options are validated before any forward', async () => {
  const m = await loadModel(LLADA_TINY);
  const ids = { inputIds: [1, 2, 3] };
  await failsWith(m.generate({ inputIds: Array(1020).fill(5) }, { genLength: 16 }), 'prompt_too_long', /1020 tokens\) \+ genLength \(16\) = 1036 exceeds the model's context of 1024/);
  await failsWith(m.generate({ inputIds: [1, 383, 2] }), 'invalid_input', /mask id 383/);
  await failsWith(m.generate({ inputIds: [1, 384] }), 'invalid_input', /expected an id in \[0, 384\)/);
  await failsWith(m.generate({ inputIds: [] }), 'invalid_input', /empty/);
  await failsWith(m.generate(ids, { genLength: 32, blockLength: 12 }), 'invalid_option', /blockLength: expected a divisor of genLength \(32\)/);
  await failsWith(m.generate(ids, { genLength: 32, blockLength: 8, steps: 6 }), 'invalid_option', /steps: expected a multiple of the number of blocks \(4\)/);
  await failsWith(m.generate(ids, { threshold: 1.5 }), 'invalid_option', /threshold/);
  await failsWith(m.generate(ids, { temperature: -1 }), 'invalid_option', /temperature/);
  await failsWith(m.generate(ids, { genLength: 0 }), 'invalid_option', /genLength: expected a positive integer/);
  await failsWith(m.generate(ids, { cfgScale: 1, cache: 'dual' }), 'invalid_option', /cfgScale/);
  await failsWith(m.generate(ids, { cache: 'bogus' as 'none' }), 'invalid_option', /cache/);
  await failsWith(m.generate(ids, { topP: 0.9 }), 'invalid_option', /topP: expected unset for LLaDA/);
  await failsWith(m.logits([1, 999]), 'invalid_input', /expected an id in \[0, 384\)/);
  await m.dispose();
});
