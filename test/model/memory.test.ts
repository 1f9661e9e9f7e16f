// The memory check before a generation and `wavefilter inspect`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadModel } from '../../src/index.js';
import { LLADA_TINY } from '../helpers.js';

const CLI = join(import.meta.dirname ?? '', '..', '..', 'src', 'cli', 'main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });

test('a generation over the memory limit is refused before it runs, with the numbers; the model stays usable', async () => {
  const m = await loadModel(LLADA_TINY, { memoryLimit: 2_000_000 });
  const small = m.memoryEstimate(8, 8, 8);
  const big = m.memoryEstimate(600, 8, 8);
  assert.ok(small.totalBytes < 2_000_000 && big.totalBytes > 2_000_000, `${small.totalBytes} / ${big.totalBytes}`);
  let steps = 0;
  await assert.rejects(m.generate({ inputIds: Array.from({ length: 600 }, (_, i) => (i % 300) + 1) }, { genLength: 8, onStep: () => steps++, allowLongContext: true }),
    (e: Error & { code?: string; details?: Record<string, unknown> }) => e.code === 'out_of_memory' && e.details?.available_bytes === 2_000_000 && /memoryLimit/.test(e.message));
  assert.equal(steps, 0, 'nothing ran');
  const r = await m.generate({ inputIds: [5, 6, 7, 8] }, { genLength: 8 });
  assert.equal(r.stopReason, 'done');
  await m.dispose();
  await assert.rejects(loadModel(LLADA_TINY, { memoryLimit: -1 }), (e: Error & { code?: string }) => e.code === 'invalid_option');
});

test('dLLM-Cache and Elastic-Cache count their extra caches (attention and FFN outputs; x and q) in the check', async () => {
  const probe = await loadModel(LLADA_TINY);
  const { nLayers: L, dModel: d, nHeads: H, headDim: D } = probe.spec;
  await probe.dispose();
  const P = 200;
  const G = 8;
  const step = (m: Awaited<ReturnType<typeof loadModel>>): number => m.memoryEstimate(P, G, G, 'step').totalBytes;
  // a limit between the plain step loop's need and that need plus dLLM-Cache's caches (2 x 4 bytes x L x 2d per position)
  const base = await loadModel(LLADA_TINY);
  const limit = step(base) + (2 * 4 * L * 2 * d * (P + G)) / 2;
  await base.dispose();
  const m = await loadModel(LLADA_TINY, { memoryLimit: limit });
  try {
    const ids = Array.from({ length: P }, (_, i) => (i % 300) + 1);
    const r = await m.generate({ inputIds: ids }, { genLength: G, blockLength: G, steps: G, executor: 'step' });
    assert.equal(r.stopReason, 'done');
    await assert.rejects(m.generate({ inputIds: ids }, { genLength: G, blockLength: G, steps: G, cache: 'dllm-cache' }), (e: Error & { code?: string }) => e.code === 'out_of_memory');
    assert.ok(2 * 4 * L * (d + H * D) * (P + G) > limit - step(m), 'the Elastic-Cache extra is over the margin too');
    await assert.rejects(m.generateElastic({ inputIds: ids }, { genLength: G }), (e: Error & { code?: string }) => e.code === 'out_of_memory');
  } finally {
    await m.dispose();
  }
});

test('inspect describes a checkpoint and its memory without building a session', () => {
  const r = run('inspect', '--model', LLADA_TINY, '--prompt-length', '1000', '--json');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { family: string; layers: number; parameters: number; memory: { total_bytes: number; kv_bytes: number; fits: boolean } };
  assert.equal(o.family, 'llada');
  assert.ok(o.parameters > 0 && o.memory.total_bytes > o.memory.kv_bytes && o.memory.fits === true);
  const text = run('inspect', '--model', LLADA_TINY);
  assert.match(text.stdout, /parameters .* layers/);
  assert.match(text.stdout, /weights .* K\/V .* activations/);
  const bad = run('inspect', '--model', LLADA_TINY, '--prompt-length', '0');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /error \[invalid_option\]/);
});
