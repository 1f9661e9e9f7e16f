// Invariants of the cached forward: attending to refreshed rows must equal recomputing them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/index.js';
import { DREAM_TINY, LLADA_TINY } from '../helpers.js';

for (const dir of [LLADA_TINY, DREAM_TINY]) {
  test(`a cached step over fresh K/V equals the full forward (${dir.split('/').pop()})`, async () => {
    const m = await loadModel(dir);
    const L = 40;
    const ids = Array.from({ length: L }, (_, i) => (i * 37 + 11) % 300);
    const all = BigInt64Array.from({ length: L }, (_, i) => BigInt(i));
    const full = await m.runtime.forward({ inputIds: BigInt64Array.from(ids, BigInt), positions: all, logitRows: all, past: null });
    const [lo, hi] = [24, 32];
    const Hkv = m.spec.nKvHeads;
    const bias = new Float32Array(Hkv * L);
    for (let h = 0; h < Hkv; h++) bias.fill(-Infinity, h * L + lo, h * L + hi);
    const layers = m.spec.nLayers;
    const q = BigInt64Array.from({ length: hi - lo }, (_, i) => BigInt(lo + i));
    const rows = BigInt64Array.from({ length: hi - lo }, (_, i) => BigInt(i));
    const step = await m.runtime.forward({
      inputIds: BigInt64Array.from(ids.slice(lo, hi), BigInt), positions: q, logitRows: rows,
      past: { keys: full.keys, values: full.values, rows: Array(layers).fill(L), bias: Array(layers).fill(bias) },
    });
    const V = m.spec.vocabSize;
    let max = 0;
    for (let i = 0; i < hi - lo; i++) for (let j = 0; j < V; j++) max = Math.max(max, Math.abs(step.logits[i * V + j] - full.logits[(lo + i) * V + j]));
    assert.ok(max < 1e-4, `max |diff| ${max}`);
    // and the step's fresh K rows equal the refresh's rows for those positions
    const D = m.spec.headDim;
    let kmax = 0;
    for (let h = 0; h < Hkv; h++)
      for (let t = 0; t < hi - lo; t++)
        for (let d = 0; d < D; d++) kmax = Math.max(kmax, Math.abs(step.keys[0][(h * (hi - lo) + t) * D + d] - full.keys[0][(h * L + lo + t) * D + d]));
    assert.ok(kmax < 1e-5, `keys differ by ${kmax}`);
    await m.dispose();
  });
}

test('abort returns what was decided so far', async () => {
  const m = await loadModel(LLADA_TINY);
  const ac = new AbortController();
  let steps = 0;
  const r = await m.generate({ inputIds: [5, 6, 7] }, {
    genLength: 16, steps: 16, cache: 'dual', onStep: () => {
      if (++steps === 3) ac.abort();
    }, signal: ac.signal,
  });
  assert.equal(r.stopReason, 'aborted');
  assert.equal(r.nfe, 3);
  assert.equal(r.generatedIds.filter((t) => t !== 383).length, 3, 'three tokens decided, the rest still masked');
  await m.dispose();
});

test('streamed text is the settled left part and adds up to the answer', async () => {
  const m = await loadModel(LLADA_TINY);
  let streamed = '';
  const r = await m.generate('What is the special magic number?', { genLength: 16, steps: 16, onText: (d) => (streamed += d) });
  assert.equal(streamed, r.text);
  await m.dispose();
});
