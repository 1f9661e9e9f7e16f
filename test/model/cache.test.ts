// Invariants of the cached forward: attending to refreshed rows must equal recomputing them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { generateIds, loadModel, type TokenFilter } from '../../src/index.js';
import { FilterSession } from '../../src/filter/filter-session.js';
import { buildIndexGraph } from '../../src/filter/indexed.js';
import { DREAM_TINY, LLADA_TINY } from '../helpers.js';

for (const dir of [LLADA_TINY, DREAM_TINY]) {
  test(`a cached step over fresh K/V equals the full forward (${dir.split('/').pop()})`, async () => {
    const m = await loadModel(dir);
    const L = 40;
    const ids = Array.from({ length: L }, (_, i) => (i * 37 + 11) % 300);
    const all = BigInt64Array.from({ length: L }, (_, i) => BigInt(i));
    const full = await m.withRuntime((rt) => rt.forward({ inputIds: BigInt64Array.from(ids, BigInt), positions: all, logitRows: all, past: null }));
    const [lo, hi] = [24, 32];
    const Hkv = m.spec.nKvHeads;
    const bias = new Float32Array(Hkv * L);
    for (let h = 0; h < Hkv; h++) bias.fill(-Infinity, h * L + lo, h * L + hi);
    const layers = m.spec.nLayers;
    const q = BigInt64Array.from({ length: hi - lo }, (_, i) => BigInt(lo + i));
    const rows = BigInt64Array.from({ length: hi - lo }, (_, i) => BigInt(i));
    const step = await m.withRuntime((rt) => rt.forward({
      inputIds: BigInt64Array.from(ids.slice(lo, hi), BigInt), positions: q, logitRows: rows,
      past: { keys: full.keys, values: full.values, rows: Array(layers).fill(L), bias: Array(layers).fill(bias) },
    }));
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

test('a filter that keeps every prompt row (in any order) decodes exactly like the dense host', async () => {
  // bidirectional attention makes the cached rows an unordered set: a compact past holding all of
  // them, reversed or rotated per head, must give the same tokens as the dense cache
  const m = await loadModel(LLADA_TINY);
  const prompt = Array.from({ length: 120 }, (_, i) => (i * 53 + 7) % 380);
  const opts = { genLength: 16, blockLength: 8, steps: 16, cache: 'dual' as const, promptRefresh: 'first-block' as const };
  const dense = await m.withRuntime((rt) => generateIds(rt, prompt, opts));
  const session = await FilterSession.create(buildIndexGraph(m.spec), m.spec);
  const { nLayers, nKvHeads: Hkv } = m.spec;
  const all: TokenFilter = {
    name: 'all', schedule: 'once-per-block', needsBlockQueries: false, windowQueries: 0,
    select: (req) => {
      const P = req.promptLength;
      const idx = new BigInt64Array(Hkv * P);
      for (let h = 0; h < Hkv; h++) for (let t = 0; t < P; t++) idx[h * P + t] = BigInt(h % 2 ? P - 1 - t : (t + 17 * h) % P);
      const extra: Record<string, ort.Tensor> = {};
      for (let l = 0; l < nLayers; l++) extra[`indices.${l}`] = new ort.Tensor('int64', idx, [Hkv, P]);
      return session.run(req, null, 0, extra);
    },
    dispose: async () => {},
  };
  const sparse = await m.withRuntime((rt) => generateIds(rt, prompt, opts, { filter: all }));
  assert.equal(sparse.timings.selections, 2);
  assert.equal(sparse.timings.keptPromptRows, 120);
  assert.deepEqual(sparse.outputIds, dense.outputIds);
  await session.dispose();
  await m.dispose();
});

test('WaveFilter schedules: once per block, every step, and on query drift', async () => {
  const m = await loadModel(LLADA_TINY);
  const prompt = Array.from({ length: 150 }, (_, i) => (i * 31 + 5) % 380);
  const base = { genLength: 16, blockLength: 8, steps: 16, cache: 'dual' as const, filter: 'wavefilter' as const };
  const once = await m.generate({ inputIds: prompt }, { ...base, wave: { schedule: 'once-per-block' } });
  assert.equal(once.timings.selections, 2);
  const every = await m.generate({ inputIds: prompt }, { ...base, wave: { schedule: 'every-step' } });
  assert.equal(every.timings.selections, 2 + every.timings.cachedSteps, 'a selection before every cached step');
  const never = await m.generate({ inputIds: prompt }, { ...base, wave: { schedule: 'on-drift', driftThreshold: -0.99 } });
  assert.equal(never.timings.selections, 2, 'no drift below a cosine of -0.99');
  const always = await m.generate({ inputIds: prompt }, { ...base, wave: { schedule: 'on-drift', driftThreshold: 1 } });
  assert.ok(always.timings.selections > 2, 'any drift re-selects at a threshold of 1');
  await m.dispose();
});

// Before the mask id was excluded from predictions, this exact case never ended: the tiny random model
// predicted the mask id in block 3 under SnapKV, the committed "token" left the position masked, and
// the block's schedule ran out with masks left. The timeout turns such a regression into a failure.
test('the mask token is never committed as a prediction, so decoding always ends', { timeout: 60_000 }, async () => {
  const { generateRuler } = await import('../../src/eval/ruler/generate.js');
  const { loadWordSources } = await import('../../src/eval/ruler/sources.js');
  const { promptIds } = await import('../../src/eval/ruler/run.js');
  const m = await loadModel(LLADA_TINY);
  const [s] = generateRuler('niah_single_1', 512, 1, { count: (i, p) => promptIds(m, { input: i, answerPrefix: p }).length, words: loadWordSources(), seed: 42 });
  const ids = promptIds(m, s);
  for (const scoring of ['auto', 'js'] as const) {
    const r = await m.generate({ inputIds: ids }, { genLength: 128, blockLength: 32, steps: 128, cache: 'dual', filter: 'snapkv', budget: 0.3, scoring });
    assert.equal(r.nfe, 128);
    assert.ok(!r.generatedIds.includes(m.spec.maskTokenId));
  }
  await m.dispose();
});
