// 95% intervals of benchmark tables, against hand-worked values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleVariance, stratifiedMean, taskStats, wilson } from '../../src/eval/intervals.js';
import { type SampleResult, markdownTable, perMethod, summarize, taskGaps } from '../../src/eval/ruler/run.js';

const close = (a: number, b: number, tol = 1e-4): void => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('Wilson interval: hand-worked 20 of 20, 5 of 10 and 0 of 10', () => {
  // 20/20: centre (1 + z²/40) / (1 + z²/20) = 0.91944, half (z / 1.19207) * sqrt(z²/1600) = 0.08056
  const [lo20, hi20] = wilson(20, 20);
  close(lo20, 0.83887);
  assert.equal(hi20, 1);
  // 5/10: centre 0.5, half (z / 1.38415) * sqrt(0.025 + z²/400) = 0.26341
  const [lo5, hi5] = wilson(5, 10);
  close(lo5, 0.23659);
  close(hi5, 0.76341);
  const [lo0, hi0] = wilson(0, 10);
  assert.equal(lo0, 0);
  close(hi0, 0.27753);
  assert.throws(() => wilson(3, 2), RangeError);
  assert.throws(() => wilson(0, 0), RangeError);
});

test('stratified mean over tasks: each task its own variance over its prompts', () => {
  assert.equal(sampleVariance([1]), 0);
  close(sampleVariance([1, 0, 1, 0]), 1 / 3);
  // means 0.5 and 1 -> 0.75; half z * sqrt((1/3)/4 + 0/4) / 2 = 0.28290; the top clipped at 1
  const s = stratifiedMean([taskStats([1, 0, 1, 0]), taskStats([1, 1, 1, 1])]);
  close(s.mean, 0.75);
  close(s.lo, 0.4671);
  assert.equal(s.hi, 1);
  // all tasks without spread: the interval closes on the mean
  const flat = stratifiedMean([taskStats([1, 1]), taskStats([0, 0])]);
  assert.deepEqual([flat.lo, flat.mean, flat.hi], [0.5, 0.5, 0.5]);
});

test('RULER summaries carry the intervals: per task in rows and results.md, the mean in perMethod', () => {
  const row = (method: string, task: SampleResult['task'], index: number, score: number): SampleResult => ({
    method, task, length: 4096, index, prediction: '', references: ['x'], score, prompt_tokens: 10, generated_tokens: 2, nfe: 4, wall_ms: 100, input_hash: 'h',
  });
  const results = [
    ...[1, 0, 1, 0].map((s, i) => row('dual', 'niah_single_1', i, s)),
    ...[1, 1, 1, 1].map((s, i) => row('dual', 'niah_single_2', i, s)),
  ];
  const rows = summarize(results);
  const a = rows.find((r) => r.task === 'niah_single_1');
  assert.ok(a?.ci95);
  const [lo, hi] = wilson(2, 4);
  assert.deepEqual(a.ci95, [Math.round(lo * 10000) / 100, Math.round(hi * 10000) / 100]);
  const [m] = perMethod(rows);
  assert.equal(m.accuracy, 75);
  assert.deepEqual(m.ci95, [46.71, 100]);
  const md = markdownTable(rows);
  assert.match(md, /\| dual \| 4096 \| 4 \| 50\.00 \| 100\.00 \| 75\.00 \| 46\.7-100\.0 \|/);
  assert.match(md, /95% intervals per task/);
  // rows from summaries written before the intervals: no interval, no crash
  const old = rows.map(({ ci95: _c, score_variance: _v, ...r }) => r);
  assert.equal(perMethod(old)[0].ci95, undefined);
  assert.match(markdownTable(old), /\| 75\.00 \| - \|/);
});

test('a filtered method against its host: the paired difference of the means, with its interval (hand-worked)', () => {
  const row = (method: string, task: SampleResult['task'], index: number, score: number, ref = 'x'): SampleResult => ({
    method, task, length: 4096, index, prediction: '', references: [ref], score, prompt_tokens: 10, generated_tokens: 2, nfe: 4, wall_ms: 100, input_hash: 'h',
  });
  const f = 'dual+h2o@0.1';
  const results = [
    // task A: the filter loses prompt 0 and wins prompt 3 (differences -1, 0, 0, 1)
    ...[1, 1, 0, 0].map((s, i) => row('dual', 'niah_single_1', i, s)),
    ...[0, 1, 0, 1].map((s, i) => row(f, 'niah_single_1', i, s)),
    // task B: the same four answers (differences 0)
    ...[1, 0, 1, 1].map((s, i) => row('dual', 'niah_single_2', i, s)),
    ...[1, 0, 1, 1].map((s, i) => row(f, 'niah_single_2', i, s)),
  ];
  const rows = summarize(results);
  assert.equal(rows.find((r) => r.method === 'dual')?.vs_host, undefined, 'a host has no host');
  const a = rows.find((r) => r.method === f && r.task === 'niah_single_1');
  // mean 0, sample variance (1 + 0 + 0 + 1) / 3
  assert.deepEqual(a?.vs_host, { mean: 0, variance: 2 / 3, n: 4 });
  const m = perMethod(rows).find((x) => x.method === f);
  // over two tasks: 0 +- 1.96 * sqrt(2/3 / 4 + 0) / 2 = +-0.40008 (accuracy points: 40.01)
  const half = (1.959963984540054 * Math.sqrt(2 / 3 / 4)) / 2;
  assert.ok(m?.vs_host && Math.abs(m.vs_host.mean) < 1e-12 && Math.abs(m.vs_host.lo + 100 * half) < 1e-9 && Math.abs(m.vs_host.hi - 100 * half) < 1e-9);
  // the unpaired intervals of the two means are far wider than the paired one: the point of pairing
  const md = markdownTable(rows);
  assert.match(md, /mean - host \(95% CI, paired\)/);
  assert.match(md, new RegExp(`\\| ${f.replace(/[+.]/g, '\\$&')} \\| 4096 \\| 4 \\| 50\\.00 \\| 75\\.00 \\| 62\\.50 \\| [0-9.-]+ \\| 0\\.00 \\(-40\\.01 to \\+40\\.01\\) \\|`));
  assert.match(md, /\| dual \| 4096 \| 4 \| 50\.00 \| 75\.00 \| 62\.50 \| [0-9.-]+ \| - \|/);
  // prompts of another seed with the same index (other references) pair with nothing: no difference
  const other = summarize([...results, row('dual', 'niah_single_1', 0, 1, 'y'), row(f, 'niah_single_1', 4, 1, 'z')]);
  assert.equal(other.find((r) => r.method === f && r.task === 'niah_single_1')?.vs_host, undefined);
  assert.equal(perMethod(other).find((x) => x.method === f)?.vs_host, undefined);
});

test('WaveFilter against the best baseline at its host and budget: the paired difference (hand-worked)', () => {
  const row = (method: string, task: SampleResult['task'], index: number, score: number): SampleResult => ({
    method, task, length: 4096, index, prediction: '', references: ['x'], score, prompt_tokens: 10, generated_tokens: 2, nfe: 4, wall_ms: 100, input_hash: 'h',
  });
  const w = 'dual+wavefilter-practical@0.1';
  const rows4 = (method: string, a: number[], b: number[]): SampleResult[] => [
    ...a.map((s, i) => row(method, 'niah_single_1', i, s)),
    ...b.map((s, i) => row(method, 'niah_single_2', i, s)),
  ];
  const results = [
    ...rows4('dual', [1, 1, 1, 1], [1, 1, 1, 1]),
    ...rows4(w, [1, 1, 0, 0], [1, 1, 1, 1]),
    // the best baseline at 0.1 (mean 75): differences w - h2o are (0, 0, -1, 0) and (0, 0, 0, 0)
    ...rows4('dual+h2o@0.1', [1, 1, 1, 0], [1, 1, 1, 1]),
    // a weaker one (mean 50), and one at another budget that must not be paired (mean 100)
    ...rows4('dual+snapkv@0.1', [0, 0, 0, 0], [1, 1, 1, 1]),
    ...rows4('dual+snapkv@0.25', [1, 1, 1, 1], [1, 1, 1, 1]),
    // another host's filter at the same budget: not a baseline of a dual-cache method
    ...rows4('prefix+h2o@0.1', [1, 1, 1, 1], [1, 1, 1, 1]),
  ];
  const rows = summarize(results);
  const a = rows.find((r) => r.method === w && r.task === 'niah_single_1');
  assert.deepEqual(Object.keys(a?.vs_baselines ?? {}).sort(), ['dual+h2o@0.1', 'dual+snapkv@0.1']);
  // w - h2o on task A: mean -1/4, sample variance (3 * 1/16 + 9/16) / 3 = 1/4
  assert.deepEqual(a?.vs_baselines?.['dual+h2o@0.1'], { mean: -0.25, variance: 0.25, n: 4 });
  assert.equal(rows.find((r) => r.method === 'dual+h2o@0.1')?.vs_baselines, undefined, 'a baseline has no baselines');
  const m = perMethod(rows).find((x) => x.method === w);
  // over two tasks: -1/8 +- 1.96 * sqrt(1/4 / 4) / 2 = -12.5 +- 24.50 accuracy points
  const half = (1.959963984540054 * Math.sqrt(0.25 / 4)) / 2;
  assert.equal(m?.vs_best?.method, 'dual+h2o@0.1');
  close(m?.vs_best?.mean ?? NaN, -12.5, 1e-9);
  close(m?.vs_best?.lo ?? NaN, 100 * (-0.125 - half), 1e-9);
  close(m?.vs_best?.hi ?? NaN, 100 * (-0.125 + half), 1e-9);
  const md = markdownTable(rows);
  assert.match(md, /mean - best baseline \(95% CI, paired\)/);
  assert.match(md, /\| -12\.50 \(-37\.00 to \+12\.00\) vs dual\+h2o@0\.1 \|/);
  // per task: A is 25 below H2O (the best there), B ties H2O and SnapKV at 100 (the first by name)
  assert.deepEqual(taskGaps(rows), [{ method: w, length: 4096, tasks: [{ task: 'niah_single_1', baseline: 'dual+h2o@0.1', gap: -25 }, { task: 'niah_single_2', baseline: 'dual+h2o@0.1', gap: 0 }] }]);
  assert.match(md, /\| dual\+wavefilter-practical@0\.1 \| 4096 \| -25\.00: niah_single_1, dual\+h2o@0\.1 \| niah_single_1 -25\.00 \|/);
  // a table without baselines has no such column
  assert.doesNotMatch(markdownTable(summarize(rows4('dual', [1], [1]))), /best baseline/);
  assert.deepEqual(taskGaps(summarize([...rows4('dual', [1], [1]), ...rows4(w, [1], [1])])), []);
});
