// Token filters on Elastic-Cache (src/cache/elastic/compact.ts): the shared kept set, worked by hand;
// a refresh over compacted caches against the standard forward over the kept tokens at their own
// positions (an independent graph); and the library call's defining behaviours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LLADA_TINY, REPO_ROOT } from '../helpers.js';
import { loadModel } from '../../src/index.js';
import { readModelSpec } from '../../src/checkpoint/config.js';
import { TensorStore } from '../../src/checkpoint/safetensors.js';
import { createModelSession, modelSessionOptions, releaseSession } from '../../src/model/runtime.js';
import { ElasticNames as N, buildElasticGraph } from '../../src/cache/elastic/graph.js';
import { gatherRows, headsFirst, headsFirstSession, sharedPromptRows } from '../../src/cache/elastic/compact.js';
import { methodGrid } from '../../src/eval/methods.js';

test('the shared kept set: union of the heads\' rows, or the budget\'s most kept (then most layers, then the earlier)', () => {
  // P = 8, 2 layers x 2 KV heads, 3 kept per head (-1 pads layer 1, head 1)
  const tokens = [BigInt64Array.from([0, 5, 7, 0, 2, 7].map(BigInt)), BigInt64Array.from([0, 3, 5, 3, 4, -1].map(BigInt))];
  assert.deepEqual(sharedPromptRows({ tokens, promptRows: [3, 3] }, 8, 2), [0, 2, 3, 4, 5, 7]);
  // votes: 0:3, 5:2, 7:2, 3:2, 2:1, 4:1; layers: 0:2, 5:2, 7:1, 3:1
  assert.deepEqual(sharedPromptRows({ tokens, promptRows: [3, 3] }, 8, 2, [], 'top'), [0, 3, 5]);
  // a tie on votes and layers goes to the earlier position: 3 (1 layer) loses to 5 (2 layers), 7 to 3
  assert.deepEqual(sharedPromptRows({ tokens: [BigInt64Array.from([6, 1].map(BigInt))], promptRows: [2] }, 8, 1, [], 'top'), [1, 6]);
});

test('layout helpers: [T, H, D] -> [H, T, D], and rows gathered in order', () => {
  const x = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i); // T 2, H 3, D 2
  assert.deepEqual(Array.from(headsFirst(x, 2, 3, 2)), [0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]);
  assert.deepEqual(Array.from(gatherRows(Float32Array.from([0, 1, 2, 3, 4, 5]), 2, [2, 0])), [4, 5, 0, 1]);
});

test('the ORT heads-first session gives the JavaScript layout', async () => {
  const s = await headsFirstSession(2);
  try {
    const a = Float32Array.from({ length: 5 * 3 * 4 }, (_, i) => i * 0.5);
    const b = Float32Array.from({ length: 5 * 3 * 4 }, (_, i) => -i);
    const [ya, yb] = await s.run([a, b], 5, 3, 4);
    assert.deepEqual(Array.from(ya as Float32Array), Array.from(headsFirst(a, 5, 3, 4)));
    assert.deepEqual(Array.from(yb as Float32Array), Array.from(headsFirst(b, 5, 3, 4)));
  } finally {
    await s.release();
  }
});

test('a refresh over compacted caches is the standard forward over the kept tokens at their own positions (llada-tiny)', async () => {
  const spec = readModelSpec(LLADA_TINY);
  const session = await createModelSession(TensorStore.open(LLADA_TINY), modelSessionOptions({}), (w) => buildElasticGraph(spec, w));
  const m = await loadModel(LLADA_TINY);
  try {
    const P = 24;
    const G = 8;
    const T = P + G;
    const ids = Array.from({ length: T }, (_, i) => (i < P ? (i * 37 + 5) % (spec.vocabSize - 2) : spec.maskTokenId));
    const i64 = (xs: readonly number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(xs, BigInt), [xs.length]);
    const scalar = (x: number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.of(BigInt(x)), []);
    const { nHeads: H, nKvHeads: Hkv, headDim: D, dModel: d, nLayers: L } = spec;
    const widths = [d, H * D, Hkv * D, Hkv * D];
    const dims = (n: number): number[][] => [[n, d], [n, H, D], [n, Hkv, D], [n, Hkv, D]];
    const run = (rows: number[], query: number[], window: number[], reset: number, caches: Float32Array[][], frozen = new Uint8Array(rows.length)): Promise<ort.InferenceSession.OnnxValueMapType> => {
      const feeds: Record<string, ort.Tensor> = {
        [N.frozen]: new ort.Tensor('bool', frozen, [rows.length]),
        [N.queryIds]: i64(query.map((r) => ids[rows[r] as number] as number)), [N.queryPos]: i64(query), [N.rowPos]: i64(rows), [N.nTrack]: scalar(0),
        [N.windowPos]: i64(window), [N.logitRows]: i64(window), [N.logitQuery]: i64(window.map((_, j) => query.length - window.length + j)), [N.masked]: new ort.Tensor('bool', Uint8Array.from(rows, (p) => (p >= P ? 1 : 0)), [rows.length]),
        [N.startReset]: scalar(reset), [N.gamma]: new ort.Tensor('float32', Float32Array.of(0.9), []), [N.trackNum]: scalar(1),
      };
      for (let l = 0; l < L; l++) [N.xCache, N.qCache, N.kCache, N.vCache].forEach((name, c) => (feeds[name(l)] = new ort.Tensor('float32', caches[l]?.[c] ?? new Float32Array(0), dims(caches[l] ? rows.length : 0)[c])));
      return session.run(feeds);
    };
    const all = Array.from({ length: T }, (_, p) => p);
    const first = await run(all, all, [P, P + 1], -1, []);
    const full: Float32Array[][] = Array.from({ length: L }, (_, l) => [N.xOut, N.qOut, N.kOut, N.vOut].map((n) => first[n(l)]?.data as Float32Array));
    // keep 10 scattered prompt rows and every generation row; refresh from layer 0 (start_reset 0)
    const kept = [0, 1, 4, 7, 9, 12, 15, 18, 22, 23];
    const rows = [...kept, ...Array.from({ length: G }, (_, j) => P + j)];
    const compact = full.map((layer) => layer.map((data, c) => gatherRows(data, widths[c] as number, rows)));
    const window = [kept.length, kept.length + 1, kept.length + 2];
    const out = await run(rows, window, window, 0, compact);
    const got = out[N.logits]?.data as Float32Array;
    const pos = BigInt64Array.from(rows, BigInt);
    const want = await m.withRuntime((rt) => rt.forward({ inputIds: BigInt64Array.from(rows, (p) => BigInt(ids[p] as number)), positions: pos, logitRows: BigInt64Array.from(window, BigInt), past: null }));
    assert.equal(got.length, want.logits.length);
    let max = 0;
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs((got[i] as number) - (want.logits[i] as number)));
    assert.ok(max < 1e-4, `max |elastic - forward| = ${max}`);
    // and the positions matter: the same rows at positions 0..n-1 give other logits
    const shifted = await m.withRuntime((rt) => rt.forward({ inputIds: BigInt64Array.from(rows, (p) => BigInt(ids[p] as number)), positions: BigInt64Array.from(rows, (_, i) => BigInt(i)), logitRows: BigInt64Array.from(window, BigInt), past: null }));
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs((got[i] as number) - (shifted.logits[i] as number)));
    assert.ok(diff > 1e-3, 'the kept rows keep their original RoPE positions');

    // frozen prompt rows: a refresh of every layer is the dual cache's step, the generation rows
    // attending to the first forward's prompt K/V (the standard forward with that K/V as its past)
    ids[P] = 7;
    ids[P + 3] = 11; // two decoded generation tokens, fed as query rows
    const gen = Array.from({ length: G }, (_, j) => P + j);
    const frozen = Uint8Array.from(all, (p) => (p < P ? 1 : 0));
    const fr = await run(all, gen, [P + 1, P + 2, P + 5], 0, full, frozen);
    const past = { keys: full.map((layer) => headsFirst(gatherRows(layer[2] as Float32Array, Hkv * D, all.slice(0, P)), P, Hkv, D)), values: full.map((layer) => headsFirst(gatherRows(layer[3] as Float32Array, Hkv * D, all.slice(0, P)), P, Hkv, D)), rows: full.map(() => P), bias: full.map(() => new Float32Array(Hkv * P)) };
    const dual = await m.withRuntime((rt) => rt.forward({ inputIds: BigInt64Array.from(gen, (p) => BigInt(ids[p] as number)), positions: BigInt64Array.from(gen, BigInt), logitRows: BigInt64Array.from([1, 2, 5], BigInt), past }));
    const gotF = fr[N.logits]?.data as Float32Array;
    let maxF = 0;
    for (let i = 0; i < gotF.length; i++) maxF = Math.max(maxF, Math.abs((gotF[i] as number) - (dual.logits[i] as number)));
    assert.ok(maxF < 1e-4, `frozen refresh vs dual-cache step: max |diff| = ${maxF}`);
    // and the prompt rows' caches come back as they went in (up to recomputation rounding)
    for (let l = 0; l < L; l++) {
      const k = fr[N.kOut(l)]?.data as Float32Array;
      let dk = 0;
      for (let i = 0; i < P * Hkv * D; i++) dk = Math.max(dk, Math.abs((k[i] as number) - ((full[l] as Float32Array[])[2] as Float32Array)[i] as number));
      assert.ok(dk < 1e-5, `layer ${l}: frozen prompt keys moved by ${dk}`);
    }
  } finally {
    await releaseSession(session);
    await m.dispose();
  }
});

test('generateElastic with a token filter: the budget\'s rows kept after the first forward, the first iteration unchanged', async () => {
  const m = await loadModel(LLADA_TINY);
  try {
    const prompt = { inputIds: Array.from({ length: 200 }, (_, i) => (i * 11 + 3) % 300) };
    const o = { genLength: 12, window: 4, tokensPerIter: 1, eosId: null } as const;
    const firsts: number[][] = [];
    const plain = await m.generateElastic(prompt, { ...o, onStep: (e) => void (e.nfe === 1 && firsts.push([...e.decoded])) });
    assert.equal(plain.filter, null);
    for (const filter of ['wavefilter', 'snapkv', 'h2o', 'streaming'] as const) {
      const r = await m.generateElastic(prompt, { ...o, filter, budget: 100, keptRows: 'top', onStep: (e) => void (e.nfe === 1 && firsts.push([...e.decoded])) });
      assert.ok(r.filter, filter);
      // the filter's own count per head (WaveFilter's scales round up a little: its block-host rows too)
      // (plus the first forward's tracked tokens: at most layers x track_num = 2 here)
      const n = r.filter.positions.length;
      assert.ok(n >= 100 && n <= (filter === 'wavefilter' ? 112 : 102), `${filter}: ${n} rows for a budget of 100`);
      assert.deepEqual([...r.filter.positions].sort((a, b) => a - b), r.filter.positions, `${filter}: ascending`);
      assert.ok(r.filter.positions.every((p) => Number.isInteger(p) && p >= 0 && p < 200), filter);
      assert.equal(r.outputIds.length, 212);
      assert.deepEqual(r.outputIds.slice(0, 200), prompt.inputIds, `${filter}: the prompt is returned whole`);
      assert.equal(r.masksLeft, 0, filter);
    }
    // the first forward sees the whole prompt: its decision is the same with every filter
    for (const f of firsts) assert.deepEqual(f, firsts[0]);
    // StreamingLLM keeps the sinks and the most recent rows: its set is known in advance
    const s = await m.generateElastic(prompt, { ...o, filter: "streaming", budget: 20, keptRows: 'top' });
    // the union covers every head's rows: at least one head's budget, at most the prompt
    const u = await m.generateElastic(prompt, { ...o, filter: 'snapkv', budget: 100 });
    assert.ok(u.filter && u.filter.positions.length >= 100 && u.filter.positions.length < 200, JSON.stringify(u.filter?.positions.length));
    assert.ok(s.filter?.positions.includes(199) && s.filter.positions.includes(0), JSON.stringify(s.filter?.positions));
    // a budget that keeps every row changes nothing
    const whole = await m.generateElastic(prompt, { ...o, filter: 'wavefilter', budget: 1 });
    assert.equal(whole.filter, null);
    assert.deepEqual(whole.outputIds, plain.outputIds);
    await assert.rejects(m.generateElastic(prompt, { ...o, filter: 'nope' as 'h2o' }), /filter: expected one of/);
  } finally {
    await m.dispose();
  }
});

test('the evaluation grid runs filters on Elastic-Cache (equal budgets across filters)', () => {
  const g = methodGrid('elastic', ['none', 'wavefilter', 'snapkv'], [0.1], ['practical']);
  assert.deepEqual(g.map((x) => x.name), ['elastic', 'elastic+wavefilter-practical@0.1', 'elastic+snapkv@0.1']);
});

test('the tracked tokens join the shared set on top of the budget (once; out-of-prompt ones ignored)', () => {
  const tokens = [BigInt64Array.from([0, 1, 2].map(BigInt))];
  assert.deepEqual(sharedPromptRows({ tokens, promptRows: [3] }, 8, 1, [6], 'top'), [0, 1, 2, 6]);
  assert.deepEqual(sharedPromptRows({ tokens, promptRows: [3] }, 8, 1, [6, 6, 9, 1], 'union'), [0, 1, 2, 6]);
});

test('generate --cache elastic --filter: the kept rows in --json; block-host-only filter flags refused', () => {
  const ids = Array.from({ length: 120 }, (_, i) => (i * 13 + 1) % 300).join(',');
  const cli = (...a: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'generate', '--model', LLADA_TINY, '--input-ids', ids, '--gen-length', '8', '--cache', 'elastic', ...a], { encoding: 'utf8' });
  const r = cli('--filter', 'streaming', '--budget', '30', '--kept-rows', 'top', '--json');
  assert.equal(r.status, 0, String(r.stderr));
  const out = JSON.parse(String(r.stdout)) as { kept_positions: number[]; timings: { kept_prompt_rows: number } };
  assert.ok(out.kept_positions.length >= 30 && out.kept_positions.length <= 32, JSON.stringify(out.kept_positions));
  assert.equal(out.timings.kept_prompt_rows, out.kept_positions.length);
  assert.ok(out.kept_positions.includes(119) && out.kept_positions.includes(0));
  const bad = cli('--filter', 'wavefilter', '--wf-schedule', 'every-step');
  assert.equal(bad.status, 2);
  assert.match(String(bad.stderr), /error \[invalid_option\]: --wf-schedule: not an Elastic-Cache option/);
});
