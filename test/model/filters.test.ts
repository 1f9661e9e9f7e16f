// Token filters on ORT: WaveFilter's graph against the plain-TypeScript selector, and each
// baseline's defining behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FilterFactory, haarPyramid, pyramidSelect, readModelSpec } from '../../src/index.js';
import { levelCounts, resolveWaveOptions, spreadPriority } from '../../src/filter/wavefilter/index.js';
import { budgetTokens } from '../../src/filter/token-filter.js';
import type { SelectionRequest, TokenFilter } from '../../src/index.js';
import { Rng } from '../../src/rng.js';
import { DREAM_TINY } from '../helpers.js';

const spec = readModelSpec(DREAM_TINY); // GQA: 4 query heads, 2 KV heads, head dim 16, 2 layers
const { nLayers, nKvHeads: Hkv, nHeads: H, headDim: D } = spec;
const G = H / Hkv;

function gaussian(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
  return a;
}

function request(rng: Rng, P: number, G_: number, nq: number, window = 0): SelectionRequest {
  const L = P + G_;
  return {
    keys: Array.from({ length: nLayers }, () => gaussian(rng, Hkv * L * D)),
    values: Array.from({ length: nLayers }, () => gaussian(rng, Hkv * L * D)),
    canvasLength: L, promptLength: P,
    blockQueries: Array.from({ length: nLayers }, () => gaussian(rng, nq * H * D)),
    windowQueries: window ? Array.from({ length: nLayers }, () => gaussian(rng, window * H * D)) : null,
  };
}

/** Kept prompt positions of head h in layer l, sorted, padding dropped. */
function kept(tokens: BigInt64Array, T: number, h: number): number[] {
  return Array.from(tokens.subarray(h * T, (h + 1) * T), Number).filter((t) => t >= 0).sort((a, b) => a - b);
}

/** The reference selection for one head: the group's query heads stacked, keys of the region. */
function reference(req: SelectionRequest, l: number, h: number, nq: number, region: [number, number], props: number[], levels: number): number[] {
  const L = req.canvasLength;
  const q = new Float64Array(G * nq * D);
  const qs = (req.blockQueries as Float32Array[])[l];
  for (let g = 0; g < G; g++) for (let i = 0; i < nq; i++) for (let c = 0; c < D; c++) q[(g * nq + i) * D + c] = qs[(i * H + h * G + g) * D + c];
  const [rs, re] = region;
  const keys = req.keys[l].subarray((h * L + rs) * D, (h * L + re) * D);
  const sel = pyramidSelect(q, G * nq, haarPyramid(keys, re - rs, D, levels, 'orthonormal'), re - rs, D, { levels, proportions: props, norm: 'orthonormal' });
  const protectedRows = [...Array.from({ length: rs }, (_, i) => i), ...Array.from({ length: req.promptLength - re }, (_, i) => re + i)];
  return [...protectedRows, ...sel.map((t) => t + rs)].sort((a, b) => a - b);
}

test('the WaveFilter graph selects exactly what the TypeScript selector selects (GQA, odd lengths, reuse)', async () => {
  const factory = new FilterFactory(spec);
  const rng = new Rng(11);
  const cases: Array<{ P: number; wave: object; levels: number }> = [
    { P: 301, wave: { preset: 'faithful', proportions: [0.4, 0.4] }, levels: 2 }, // unaligned, no protection
    { P: 300, wave: { preset: 'faithful', proportions: [0.3, 0.5] }, levels: 2 }, // aligned, no protection
    { P: 517, wave: { preset: 'practical', proportions: [0.4, 0.4] }, levels: 2 }, // sinks + tail, aligned region
    { P: 203, wave: { preset: 'faithful', levels: 3, proportions: [0.5, 0.4, 0.3] }, levels: 3 },
    { P: 129, wave: { preset: 'practical', levels: 1, proportions: [0.3] }, levels: 1 },
  ];
  for (const c of cases) {
    const f = (await factory.create({ filter: 'wavefilter', wave: c.wave }, 0)) as TokenFilter & { proportionsFor(p: number): { region: [number, number]; proportions: number[] } };
    const nq = 8;
    const req = request(rng, c.P, 16, nq);
    const { region, proportions } = f.proportionsFor(c.P);
    for (const round of [0, 1]) {
      const sel = await f.select(req); // round 1 reuses the coarse sums when the region is aligned
      assert.ok(sel);
      for (let l = 0; l < nLayers; l++)
        for (let h = 0; h < Hkv; h++)
          assert.deepEqual(kept(sel.tokens[l], sel.promptRows[l], h), reference(req, l, h, nq, region, proportions, c.levels), `P=${c.P} ${JSON.stringify(c.wave)} layer ${l} head ${h} round ${round}`);
      // the compact rows are the kept prompt rows then every generation row
      const L = c.P + 16;
      const T = sel.promptRows[0];
      const tok = Number(sel.tokens[0][0]);
      assert.deepEqual(Array.from(sel.keys[0].subarray(0, D)), Array.from(req.keys[0].subarray(tok * D, (tok + 1) * D)));
      assert.deepEqual(Array.from(sel.values[0].subarray((T + 3) * D, (T + 4) * D)), Array.from(req.values[0].subarray((c.P + 3) * D, (c.P + 4) * D)));
      assert.equal(sel.keys[0].length, Hkv * (T + L - c.P) * D);
    }
  }
  await factory.dispose();
});

test('budget mode keeps about the budget, protected rows included', async () => {
  const factory = new FilterFactory(spec);
  const f = await factory.create({ filter: 'wavefilter', budget: 0.2 }, 0);
  const sel = await f!.select(request(new Rng(5), 1000, 8, 8));
  const n = kept(sel!.tokens[0], sel!.promptRows[0], 0).length;
  assert.ok(Math.abs(n - 200) <= 8, `kept ${n} of 1000 at budget 0.2`);
  assert.deepEqual(kept(sel!.tokens[1], sel!.promptRows[1], 1).slice(0, 4), [0, 1, 2, 3], 'practical preset keeps 4 sinks');
  assert.ok(kept(sel!.tokens[1], sel!.promptRows[1], 1).includes(999), 'and the prompt tail');
  await factory.dispose();
});

test('head-shared selection gives every KV head the same rows', async () => {
  const factory = new FilterFactory(spec);
  const f = await factory.create({ filter: 'wavefilter', wave: { headShared: true } }, 0);
  const sel = (await f!.select(request(new Rng(9), 400, 8, 8)))!;
  assert.deepEqual(kept(sel.tokens[0], sel.promptRows[0], 0), kept(sel.tokens[0], sel.promptRows[0], 1));
  await factory.dispose();
});

test('StreamingLLM keeps the sinks and the most recent prompt rows', async () => {
  const factory = new FilterFactory(spec);
  const sel = (await (await factory.create({ filter: 'streaming', budget: 50 }, 0))!.select(request(new Rng(1), 300, 8, 4)))!;
  assert.deepEqual(kept(sel.tokens[1], sel.promptRows[1], 1), [0, 1, 2, 3, ...Array.from({ length: 46 }, (_, i) => 254 + i)]);
  await factory.dispose();
});

/** A request whose prompt key `needle` (all heads, all layers) aligns with every query. */
/**
 * The token share's picks by hand: each stacked query row's softmax over the region's single rows,
 * summed over the query rows, the top `k` rows not in `taken`.
 */
function singleRows(req: SelectionRequest, l: number, h: number, nq: number, [rs, re]: [number, number], taken: ReadonlySet<number>, k: number, pool = 1): number[] {
  const L = req.canvasLength;
  const qs = (req.blockQueries as Float32Array[])[l];
  const w = new Float64Array(re - rs);
  for (let g = 0; g < G; g++)
    for (let i = 0; i < nq; i++) {
      const s = new Float64Array(re - rs);
      for (let r = 0; r < re - rs; r++) {
        let dot = 0;
        for (let c = 0; c < D; c++) dot += qs[(i * H + h * G + g) * D + c] * req.keys[l][(h * L + rs + r) * D + c];
        s[r] = dot / Math.sqrt(D);
      }
      const max = Math.max(...s);
      const e = s.map((x) => Math.exp(x - max));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((x, r) => (w[r] += x / z));
    }
  // max-pooled over `pool` rows centred on each (the region's edges clip the window)
  const half = pool >> 1;
  const p = w.map((_, r) => Math.max(...w.subarray(Math.max(0, r - half), Math.min(re - rs, r + half + 1))));
  // ties (common once pooled) go to the lower row, as ONNX TopK orders them
  return Array.from({ length: re - rs }, (_, r) => r + rs).filter((t) => !taken.has(t)).sort((a, b) => p[b - rs] - p[a - rs] || a - b).slice(0, k);
}

function needleRequest(rng: Rng, P: number, needle: number, strength: number, window = 0): SelectionRequest {
  const req = request(rng, P, 8, 8, window);
  const L = P + 8;
  const dir = gaussian(rng, D);
  for (let l = 0; l < nLayers; l++) {
    for (let h = 0; h < Hkv; h++) for (let c = 0; c < D; c++) req.keys[l][(h * L + needle) * D + c] = strength * dir[c];
    for (const qs of [req.blockQueries, req.windowQueries]) if (qs) for (let r = 0; r < qs[l].length / D; r++) for (let c = 0; c < D; c++) qs[l][r * D + c] += 2 * dir[c];
  }
  return req;
}

test('SnapKV keeps its observation window and pools around the peak', async () => {
  const factory = new FilterFactory(spec);
  const f = (await factory.create({ filter: 'snapkv', budget: 60 }, 0))!;
  assert.equal(f.windowQueries, 32);
  const sel = (await f.select(needleRequest(new Rng(2), 400, 150, 6, 32)))!;
  const k = kept(sel.tokens[0], sel.promptRows[0], 0);
  assert.equal(k.length, 60);
  for (let p = 368; p < 400; p++) assert.ok(k.includes(p), `window row ${p}`);
  for (let p = 147; p <= 153; p++) assert.ok(k.includes(p), `max-pool (kernel 7) keeps the needle's neighbour ${p}`);
  await factory.dispose();
});

test('Sparse-dLLM max-pools with width 3 around the highest mean q.k', async () => {
  const factory = new FilterFactory(spec);
  const sel = (await (await factory.create({ filter: 'sparse-dllm', budget: 30 }, 0))!.select(needleRequest(new Rng(4), 300, 100, 8)))!;
  const k = kept(sel.tokens[0], sel.promptRows[0], 0);
  assert.equal(k.length, 30);
  for (const p of [99, 100, 101]) assert.ok(k.includes(p), `row ${p}`);
  await factory.dispose();
});

test('H2O accumulates attention mass across selections and keeps a recent window', async () => {
  const factory = new FilterFactory(spec);
  const f = (await factory.create({ filter: 'h2o', budget: 40 }, 0))!;
  const rng = new Rng(8);
  const first = needleRequest(rng, 300, 50, 8);
  const a = (await f.select(first))!;
  assert.ok(kept(a.tokens[0], a.promptRows[0], 0).includes(50));
  for (let p = 280; p < 300; p++) assert.ok(kept(a.tokens[0], a.promptRows[0], 0).includes(p), 'recent half of the budget');
  // the second block's queries point away from row 50 (negated): only its accumulated mass keeps it
  const second = { ...first, blockQueries: (first.blockQueries as Float32Array[]).map((q) => q.map((x) => -x)) };
  const b = (await f.select(second))!;
  assert.ok(kept(b.tokens[0], b.promptRows[0], 0).includes(50), 'heavy hitter carried over');
  // without the carried scores the same second block drops it
  const fresh = (await (await factory.create({ filter: 'h2o', budget: 40 }, 0))!.select(second))!;
  assert.ok(!kept(fresh.tokens[0], fresh.promptRows[0], 0).includes(50), 'a fresh H2O on the second block alone drops row 50');
  await factory.dispose();
});

test('random is seeded, unique and inside the prompt', async () => {
  const factory = new FilterFactory(spec);
  const req = request(new Rng(3), 200, 8, 4);
  const one = (await (await factory.create({ filter: 'random', budget: 0.25 }, 7))!.select(req))!;
  const two = (await (await factory.create({ filter: 'random', budget: 0.25 }, 7))!.select(req))!;
  const other = (await (await factory.create({ filter: 'random', budget: 0.25 }, 8))!.select(req))!;
  const k = kept(one.tokens[0], one.promptRows[0], 0);
  assert.equal(new Set(k).size, 50);
  assert.ok(k.every((t) => t >= 0 && t < 200));
  assert.deepEqual(kept(two.tokens[0], two.promptRows[0], 0), k);
  assert.notDeepEqual(kept(other.tokens[0], other.promptRows[0], 0), k);
  await factory.dispose();
});

test('synthetic needle: WaveFilter keeps a planted key at m = 0.3 from 1K to 8K, at least as often as SnapKV at equal budget', async () => {
  const factory = new FilterFactory(spec);
  const rng = new Rng(2026);
  let wave = 0;
  let snap = 0;
  let trials = 0;
  for (const P of [1024, 2048, 4096, 8192]) {
    for (let t = 0; t < 3; t++) {
      const needle = 40 + Math.floor(rng.uniform() * (P - 200));
      const req = needleRequest(rng, P, needle, 3, 32);
      const wf = (await factory.create({ filter: 'wavefilter', wave: { preset: 'faithful', proportions: [0.3, 0.3] } }, 0))!;
      const ws = (await wf.select(req))!;
      const budget = kept(ws.tokens[0], ws.promptRows[0], 0).length;
      const sk = (await (await factory.create({ filter: 'snapkv', budget }, 0))!.select(req))!;
      for (let l = 0; l < nLayers; l++)
        for (let h = 0; h < Hkv; h++) {
          trials++;
          if (kept(ws.tokens[l], ws.promptRows[l], h).includes(needle)) wave++;
          if (kept(sk.tokens[l], sk.promptRows[l], h).includes(needle)) snap++;
        }
    }
  }
  assert.equal(wave, trials, `WaveFilter kept the needle in ${wave}/${trials}`);
  assert.ok(wave >= snap, `WaveFilter ${wave} vs SnapKV ${snap}`);
  await factory.dispose();
});

test('dense layers keep every prompt row while the others are filtered', async () => {
  const factory = new FilterFactory(spec);
  const f = (await factory.create({ filter: 'wavefilter', wave: { denseLayers: [1], proportions: [0.4, 0.4] } }, 0))!;
  for (const round of [0, 1]) {
    const sel = (await f.select(request(new Rng(13), 300, 8, 8)))!;
    assert.deepEqual(kept(sel.tokens[1], sel.promptRows[1], 1), Array.from({ length: 300 }, (_, i) => i), `round ${round}`);
    assert.ok(kept(sel.tokens[0], sel.promptRows[0], 0).length < 150);
  }
  await factory.dispose();
  await assert.rejects(new FilterFactory(spec).create({ filter: 'wavefilter', wave: { denseLayers: [5] } }, 0), /wf-dense-layers/);
});

test('WaveFilter question queries: the prompt window\'s rows vote beside the block\'s (the selector on the stacked rows; a span only the question points at)', async () => {
  const factory = new FilterFactory(spec);
  const P = 517;
  const nq = 8;
  const W = 16;
  const stack = (a: Float32Array, b: Float32Array): Float32Array => {
    const out = new Float32Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  const wave = { preset: 'practical' as const, proportions: [0.1, 0.5] };
  const withQ = await factory.create({ filter: 'wavefilter', wave: { ...wave, questionQueries: W } }, 0);
  const without = await factory.create({ filter: 'wavefilter', wave }, 0);
  assert.ok(withQ && without);
  assert.equal(withQ.windowQueries, W);
  assert.equal(withQ.program?.queries, 'both');
  assert.equal(without.windowQueries, 0);
  // random keys and queries: the selection is the reference selector's on [block rows; window rows]
  const req = request(new Rng(21), P, 16, nq, W);
  const { region, proportions } = (withQ as unknown as { proportionsFor(p: number): { region: [number, number]; proportions: number[] } }).proportionsFor(P);
  const stacked: SelectionRequest = { ...req, blockQueries: (req.blockQueries as Float32Array[]).map((b, l) => stack(b, (req.windowQueries as Float32Array[])[l])) };
  const sel = (await withQ.select(req))!;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++)
      assert.deepEqual(kept(sel.tokens[l], sel.promptRows[l], h), reference(stacked, l, h, nq + W, region, proportions, 2), `layer ${l} head ${h}`);
  // planted: the block's queries point at span A, the question's at span B (4 rows each, one
  // level-2 unit, inside the region); small random keys elsewhere
  const L = P + 16;
  const A = 100;
  const B = 300;
  const planted = request(new Rng(22), P, 16, nq, W);
  const dirA = gaussian(new Rng(23), D);
  // B's direction scores below every other row for A's queries: orthogonal to A, minus half of A
  const dirB = gaussian(new Rng(24), D);
  const dot = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i], 0);
  const proj = dot(dirB, dirA) / dot(dirA, dirA);
  for (let c = 0; c < D; c++) dirB[c] -= (proj + 0.5) * dirA[c];
  for (let l = 0; l < nLayers; l++) {
    const k = planted.keys[l];
    for (let i = 0; i < k.length; i++) k[i] *= 0.1;
    for (let h = 0; h < Hkv; h++)
      for (let r = 0; r < 4; r++)
        for (let c = 0; c < D; c++) {
          k[(h * L + A + r) * D + c] = 3 * dirA[c];
          k[(h * L + B + r) * D + c] = 3 * dirB[c];
        }
    const point = (q: Float32Array, dir: Float32Array) => { for (let i = 0; i < q.length; i++) q[i] = dir[i % D]; };
    point((planted.blockQueries as Float32Array[])[l], dirA);
    point((planted.windowQueries as Float32Array[])[l], dirB);
  }
  const a = (await without.select(planted))!;
  const b = (await withQ.select(planted))!;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++) {
      const alone = kept(a.tokens[l], a.promptRows[l], h);
      const both = kept(b.tokens[l], b.promptRows[l], h);
      assert.ok([A, A + 3].every((t) => alone.includes(t) && both.includes(t)), `span A kept either way (layer ${l} head ${h})`);
      assert.ok(!alone.includes(B), `the block's queries alone miss span B (layer ${l} head ${h})`);
      assert.ok([B, B + 1, B + 2, B + 3].every((t) => both.includes(t)), `the question's queries keep span B (layer ${l} head ${h})`);
    }
  assert.throws(() => resolveWaveOptions({ questionQueries: -1 }), /wf-question-queries/);
  await factory.dispose();
});

test('WaveFilter span levels: the budget goes to the coarse scales and kept units stay whole spans (reference selector, budget kept)', async () => {
  const factory = new FilterFactory(spec);
  const P = 1000;
  for (const [levels, spanLevels] of [[2, 1], [3, 2], [3, 1]] as const) {
    // the span knob alone: without practical's token share (tested below), the pyramid holds the whole budget
    const f = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { levels, spanLevels, tokenShare: 0 } }, 0);
    assert.ok(f);
    const { region, proportions } = (f as unknown as { proportionsFor(p: number): { region: [number, number]; proportions: number[] } }).proportionsFor(P);
    const [rs, re] = region;
    // scales 1..spanLevels keep every child; the others share T / R
    const shared = ((0.1 * P - (P - (re - rs))) / (re - rs)) ** (1 / (levels - spanLevels));
    proportions.forEach((m, i) => assert.ok(Math.abs(m - (i < spanLevels ? 1 : shared)) < 1e-12, `levels ${levels} span ${spanLevels}: m_${i + 1} = ${m}`));
    const req = request(new Rng(31 + levels + spanLevels), P, 8, 8);
    const sel = (await f.select(req))!;
    const span = 2 ** (spanLevels + 1);
    for (let l = 0; l < nLayers; l++)
      for (let h = 0; h < Hkv; h++) {
        const rows = kept(sel.tokens[l], sel.promptRows[l], h);
        assert.deepEqual(rows, reference(req, l, h, 8, region, proportions, levels), `reference, layer ${l} head ${h}`);
        // every kept region row's aligned span of 2^(N+1) rows is kept whole
        const inRegion = new Set(rows.filter((t) => t >= rs && t < re));
        for (const t of inRegion) {
          const first = rs + Math.floor((t - rs) / span) * span;
          for (let u = first; u < Math.min(first + span, re); u++) assert.ok(inRegion.has(u), `levels ${levels} span ${spanLevels}: row ${u} of the span at ${first} (layer ${l} head ${h})`);
        }
        assert.ok(Math.abs(rows.length - 0.1 * P) <= span * 2, `about the budget: ${rows.length}`);
      }
  }
  assert.throws(() => resolveWaveOptions({ levels: 2, spanLevels: 2 }), /wf-span-levels/);
  await factory.dispose();
});

test('WaveFilter token share: the pyramid at the rest of the budget plus the single rows with the most softmax mass it did not keep (reference by hand)', async () => {
  const factory = new FilterFactory(spec);
  const P = 700;
  const nq = 8;
  const f = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tokenShare: 0.5 } }, 0);
  assert.ok(f);
  const { region, proportions, tokenPicks } = (f as unknown as { proportionsFor(p: number): { region: [number, number]; proportions: number[]; tokenPicks: number } }).proportionsFor(P);
  const [rs, re] = region;
  const all = Math.round(0.1 * P) - (P - (re - rs));
  // the pyramid gets the rest; the rows its rounding up keeps beyond that come off the single rows
  const share = Math.round(0.5 * all);
  assert.ok(Math.abs(proportions[0] - ((all - share) / (re - rs)) ** 0.5) < 1e-12, 'the pyramid gets the rest');
  assert.equal(tokenPicks, share - Math.max(0, 2 * levelCounts(re - rs, proportions)[1] - (all - share)));
  const req = request(new Rng(41), P, 8, nq);
  const sel = (await f.select(req))!;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++) {
      const pyramid = reference(req, l, h, nq, region, proportions, 2);
      const singles = singleRows(req, l, h, nq, region, new Set(pyramid), tokenPicks);
      assert.deepEqual(kept(sel.tokens[l], sel.promptRows[l], h), [...pyramid, ...singles].sort((a, b) => a - b), `layer ${l} head ${h}`);
    }
  assert.throws(() => resolveWaveOptions({ tokenShare: 0.5 }), /wf-token-share/, 'a share needs a budget');
  assert.throws(() => resolveWaveOptions({ tokenShare: 1, budget: { fraction: 0.1 } }), /wf-token-share/);
  await factory.dispose();
});

test('WaveFilter token pool: the single rows\' scores max-pooled, so the picks come as runs around the peaks (reference by hand)', async () => {
  const factory = new FilterFactory(spec);
  const P = 2000;
  const nq = 8;
  const f = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tokenShare: 0.5, tokenPool: 5 } }, 0);
  assert.ok(f);
  const { region, proportions, tokenPicks } = (f as unknown as { proportionsFor(p: number): { region: [number, number]; proportions: number[]; tokenPicks: number } }).proportionsFor(P);
  // a planted key at row 300 every query points at: its pooled window (298-302) is the top of the picks
  const req = request(new Rng(43), P, 8, nq);
  const L = P + 8;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++) for (let c = 0; c < D; c++) req.keys[l][(h * L + 300) * D + c] = 0;
  for (let l = 0; l < nLayers; l++) {
    const qs = (req.blockQueries as Float32Array[])[l];
    for (let h = 0; h < Hkv; h++) for (let c = 0; c < D; c++) {
      let mean = 0;
      for (let i = 0; i < nq; i++) for (let g = 0; g < G; g++) mean += qs[(i * H + h * G + g) * D + c];
      req.keys[l][(h * L + 300) * D + c] = (40 * mean) / (nq * G);
    }
  }
  assert.ok(tokenPicks >= 40, `${tokenPicks} single rows`);
  const sel = (await f.select(req))!;
  let around = 0;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++) {
      const pyramid = reference(req, l, h, nq, region, proportions, 2);
      const singles = singleRows(req, l, h, nq, region, new Set(pyramid), tokenPicks, 5);
      const got = kept(sel.tokens[l], sel.promptRows[l], h);
      assert.deepEqual(got, [...pyramid, ...singles].sort((a, b) => a - b), `layer ${l} head ${h}`);
      // the planted row's neighbours are kept whole
      if ([298, 299, 300, 301, 302].every((t) => got.includes(t))) around++;
    }
  assert.equal(around, nLayers * Hkv, 'every head keeps the planted row with its two neighbours each side');
  // without pooling, the same request keeps other rows (the pooling is what changes the picks)
  const plain = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tokenShare: 0.5 } }, 0);
  const selPlain = (await plain!.select(req))!;
  assert.notDeepEqual(kept(selPlain.tokens[0], selPlain.promptRows[0], 0), kept(sel.tokens[0], sel.promptRows[0], 0));
  assert.throws(() => resolveWaveOptions({ tokenPool: 4, tokenShare: 0.25, budget: { fraction: 0.1 } }), /wf-token-pool/, 'odd');
  assert.throws(() => resolveWaveOptions({ tokenPool: 3, tokenShare: 0, budget: { fraction: 0.1 } }), /wf-token-pool/, 'needs a token share');
  await factory.dispose();
});

test('WaveFilter tail refresh: the rows a later block recomputes are the protected tail, only when on and filtering (hand-worked)', async () => {
  const factory = new FilterFactory(spec);
  const on = (await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tailRefresh: true } }, 0)) as TokenFilter;
  const off = (await factory.create({ filter: 'wavefilter', budget: 0.1 }, 0)) as TokenFilter;
  // P = 2000, budget 200: tail max(64, 100) = 100; region [4, 1900) is 1896 rows, a multiple of 4
  assert.equal(on.refreshTail?.(2000), 100);
  assert.equal(off.refreshTail?.(2000) ?? 0, 0);
  // a prompt too short to filter (the region under one level-2 unit): nothing is refreshed
  assert.equal(on.refreshTail?.(66), 0);
  assert.equal(on.refreshTailPast, 'kept');
  assert.throws(() => resolveWaveOptions({ tailRefresh: true, tailRefreshPast: 'some' as 'all' }), /wf-tail-refresh/);
  await factory.dispose();
});

test('WaveFilter tail share: the trailing rows kept grow to a share of the budget, the rest of the budget unchanged in kind (budget kept)', async () => {
  const factory = new FilterFactory(spec);
  const P = 2000; // budget 0.1: 200 rows; a tail share of 0.5 keeps the last 100 (practical's fixed tail is 64)
  const f = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tailShare: 0.5 } }, 0);
  assert.ok(f);
  const plan = (f as unknown as { proportionsFor(p: number): { region: [number, number] } }).proportionsFor(P);
  // sinks 4; the region [4, 1900) is 1896 rows, a multiple of 2^B = 4, so the tail is exactly 100 rows
  assert.deepEqual(plan.region, [4, 1900]);
  const req = request(new Rng(47), P, 8, 8);
  const sel = (await f.select(req))!;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++) {
      const rows = kept(sel.tokens[l], sel.promptRows[l], h);
      for (let t = 1900; t < P; t++) assert.ok(rows.includes(t), `tail row ${t} kept (layer ${l} head ${h})`);
      assert.ok(rows.length <= 200 && rows.length >= 196, `the budget, at most: ${rows.length} (layer ${l} head ${h})`);
    }
  // below practical's fixed tail, the share changes nothing; practical's own share is 0.5, faithful's 0
  assert.equal(resolveWaveOptions({ budget: { fraction: 0.1 } }).tailShare, 0.5);
  assert.equal(resolveWaveOptions({ preset: 'faithful', budget: { fraction: 0.1 } }).tailShare, 0);
  assert.equal(resolveWaveOptions({}).tailShare, 0, 'no budget, no share');
  const g = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tailShare: 0.2 } }, 0);
  assert.deepEqual((g as unknown as { proportionsFor(p: number): { region: [number, number] } }).proportionsFor(P).region, [4, 1936]);
  assert.throws(() => resolveWaveOptions({ tailShare: 0.5 }), /wf-tail-share/, 'a share needs a budget');
  assert.throws(() => resolveWaveOptions({ tailShare: 1, budget: { fraction: 0.1 } }), /wf-tail-share/);
  await factory.dispose();
});

test('WaveFilter spread priority: evenly spaced points first, then rows by distance to the nearest, ties to the lower row (hand-worked)', () => {
  // r = 10, k = 3: points floor(0.5 * 10/3) = 1, floor(1.5 * 10/3) = 5, floor(2.5 * 10/3) = 8;
  // distance 1: rows 0, 2, 4, 6, 7, 9; distance 2: row 3 (two from 1 and from 5)
  const order = (prio: Float32Array): number[] => Array.from(prio.keys()).sort((a, b) => prio[b] - prio[a]);
  assert.deepEqual(order(spreadPriority(10, 3)), [1, 5, 8, 0, 2, 4, 6, 7, 9, 3]);
  // one point: the middle row, then outwards, the lower row first
  assert.deepEqual(order(spreadPriority(6, 1)), [3, 2, 4, 1, 5, 0]);
  // as many points as rows: every row is a point
  assert.deepEqual(order(spreadPriority(4, 4)), [0, 1, 2, 3]);
});

test('WaveFilter sample share: beside the pyramid and the token picks, the free rows nearest evenly spaced points (reference selector, budget kept)', async () => {
  const factory = new FilterFactory(spec);
  const P = 2000; // a region budget of 132 rows: 33 token picks, 33 spread
  const nq = 8;
  const f = await factory.create({ filter: 'wavefilter', budget: 0.1, wave: { tokenShare: 0.25, sampleShare: 0.25 } }, 0);
  assert.ok(f);
  type Plan = { region: [number, number]; proportions: number[]; tokenPicks: number; samplePicks: number };
  const { region, proportions, tokenPicks, samplePicks } = (f as unknown as { proportionsFor(p: number): Plan }).proportionsFor(P);
  const [rs, re] = region;
  const all = Math.round(0.1 * P) - (P - (re - rs));
  const share = Math.round(0.25 * all);
  assert.ok(Math.abs(proportions[0] - ((all - 2 * share) / (re - rs)) ** 0.5) < 1e-12, 'the pyramid gets the rest');
  // what the pyramid's rounding up keeps beyond its part comes off the token picks first
  assert.equal(tokenPicks, share - Math.max(0, 2 * levelCounts(re - rs, proportions)[1] - (all - 2 * share)));
  assert.equal(samplePicks, share);
  const req = request(new Rng(43), P, 8, nq);
  const sel = (await f.select(req))!;
  // the points' order, independent of the graph: spreadPriority is checked by hand above
  const prio = spreadPriority(re - rs, samplePicks);
  const byPrio = Array.from({ length: re - rs }, (_, r) => r + rs).sort((a, b) => prio[b - rs] - prio[a - rs]);
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < Hkv; h++) {
      const pyramid = reference(req, l, h, nq, region, proportions, 2);
      const singles = singleRows(req, l, h, nq, region, new Set(pyramid), tokenPicks);
      const taken = new Set([...pyramid, ...singles]);
      const spread = byPrio.filter((t) => !taken.has(t)).slice(0, samplePicks);
      assert.equal(spread.length, samplePicks);
      // pyramid: the reference's rows, the protected ones included
      assert.deepEqual(kept(sel.tokens[l], sel.promptRows[l], h), [...pyramid, ...singles, ...spread].sort((a, b) => a - b), `layer ${l} head ${h}`);
    }
  assert.throws(() => resolveWaveOptions({ sampleShare: 0.5 }), /wf-sample-share/, 'a share needs a budget');
  assert.throws(() => resolveWaveOptions({ sampleShare: 0.5, tokenShare: 0.5, budget: { fraction: 0.1 } }), /wf-sample-share/, 'the shares leave the pyramid some');
  assert.throws(() => resolveWaveOptions({ sampleShare: -0.1, budget: { fraction: 0.1 } }), /wf-sample-share/);
  await factory.dispose();
});

test('WaveFilter practical keeps at most its budget: the single rows give back what the pyramid rounds up (prompts of 1K-20K, both budgets)', async () => {
  const factory = new FilterFactory(spec);
  type Plan = { region: [number, number]; proportions: number[]; tokenPicks: number; samplePicks: number };
  for (const budget of [0.1, 0.25]) {
    for (const wave of [{}, { tokenShare: 0.25, sampleShare: 0.25 }]) {
      const f = (await factory.create({ filter: 'wavefilter', budget, wave }, 0)) as unknown as { proportionsFor(p: number): Plan };
      let exact = 0;
      let n = 0;
      for (let P = 1000; P <= 20000; P += 97, n++) {
        const { region: [rs, re], proportions, tokenPicks, samplePicks } = f.proportionsFor(P);
        // protected rows (sinks, tail) + the pyramid's upper bound (2-row units at scale 1) + single and spread rows
        const kept = P - (re - rs) + 2 * levelCounts(re - rs, proportions)[1] + tokenPicks + samplePicks;
        const b = budgetTokens({ fraction: budget }, P);
        assert.ok(kept <= b, `P=${P} budget ${budget} ${JSON.stringify(wave)}: ${kept} rows > ${b}`);
        if (kept === b) exact++;
      }
      // before the give-back every one of these lengths kept 1-3 rows more than the budget; now nearly all use it exactly
      assert.ok(exact >= 0.9 * n, `the budget used: ${exact} of ${n}`);
    }
  }
  // 8K at budget 0.1, worked by hand: tail 412, sinks 4, region 7776 rows; all = 819 - 416 = 403, token share 101,
  // pyramid target 302, m = sqrt(302 / 7776): 384 units at scale 2, 152 at scale 1 = 304 rows, 2 over: 99 single rows
  const f = (await factory.create({ filter: 'wavefilter', budget: 0.1 }, 0)) as unknown as { proportionsFor(p: number): Plan };
  const plan = f.proportionsFor(8192);
  assert.deepEqual(plan.region, [4, 7780]);
  assert.deepEqual(levelCounts(7776, plan.proportions).slice(1), [152, 384]);
  assert.equal(plan.tokenPicks, 99);
  await factory.dispose();
});
