// Sampling's statistics: draws follow softmax(logits / T) (LLaDA) and Dream's filtered
// distribution, checked by a chi-square bound over many seeded draws; one uniform per position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/rng.js';
import { sampleCategorical, scoreDream, scoreLlada } from '../../src/decode/scoring.js';

function softmax(l: number[], T: number): number[] {
  const m = Math.max(...l.map((x) => x / T));
  const e = l.map((x) => Math.exp(x / T - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Pearson chi-square of counts against probabilities (cells with expectation >= 5). */
function chiSquare(counts: number[], p: number[], n: number): { stat: number; dof: number } {
  let stat = 0;
  let dof = -1;
  p.forEach((pi, i) => {
    const e = pi * n;
    if (e >= 5) {
      stat += (counts[i] - e) ** 2 / e;
      dof++;
    } else assert.ok(counts[i] <= Math.max(25, 10 * e), `cell ${i}: ${counts[i]} draws, expected ${e}`);
  });
  return { stat, dof };
}

// the 0.999 quantile of chi-square is below dof + 4.5 sqrt(2 dof) + 12 for these dof
const bound = (dof: number): number => dof + 4.5 * Math.sqrt(2 * dof) + 12;

test('inverse-CDF draws: frequencies match the probabilities; the last bucket and zero-mass buckets behave', () => {
  const p = [0.5, 0, 0.25, 0.125, 0.125];
  const rng = new Rng(1);
  const counts = [0, 0, 0, 0, 0];
  const n = 40_000;
  for (let i = 0; i < n; i++) counts[sampleCategorical(p, rng.uniform())]++;
  assert.equal(counts[1], 0, 'a zero-probability bucket is never drawn');
  const { stat, dof } = chiSquare(counts, p, n);
  assert.ok(stat < bound(dof), `chi-square ${stat.toFixed(1)} on ${dof} dof`);
  assert.equal(sampleCategorical([0.3, 0.3, 0.3], 1 - 1e-17), 2, 'a draw past a sum that rounds below 1 lands in the last bucket');
  assert.equal(sampleCategorical([0.2, 0.8], 1e-12), 0);
});

test('LLaDA at temperature T samples softmax(logits / T) over all ids but the mask, with softmax(logits) as confidence', () => {
  const row = Float32Array.from([2, 1, 0.5, -1, 3, 0, 1.5, 0.2]);
  const mask = 4;
  const o = { temperature: 0.7, remasking: 'low_confidence' as const, logitsEosInf: false, confidenceEosEotInf: false, eosId: null, eotId: null, maskId: mask };
  const l = Array.from(row).map((x, j) => (j === mask ? -Infinity : x));
  const p = softmax(l, o.temperature);
  const q = softmax(l, 1);
  const rng = new Rng(7);
  const n = 30_000;
  const counts = new Array(row.length).fill(0);
  for (let i = 0; i < n; i++) {
    const s = scoreLlada(row, o, rng);
    counts[s.token]++;
    assert.ok(Math.abs(s.confidence - q[s.token]) < 1e-12);
  }
  assert.equal(counts[mask], 0);
  const { stat, dof } = chiSquare(counts, p, n);
  assert.ok(stat < bound(dof), `chi-square ${stat.toFixed(1)} on ${dof} dof`);
});

test('Dream with temperature, top-p and top-k samples the filtered distribution', () => {
  const row = Float32Array.from([3, 2.5, 2, 1, 0.5, 0, -1, 4]);
  const mask = 7;
  const o = { temperature: 0.8, topP: 0.8, topK: 4, alg: 'maskgit_plus' as const, maskId: mask };
  // by hand: ids by value 0 (3), 1 (2.5), 2 (2), 3 (1), ...; mask excluded
  const l = Array.from(row).map((x, j) => (j === mask ? -Infinity : x / o.temperature));
  const full = softmax(l, 1);
  const order = [0, 1, 2, 3, 4, 5, 6];
  let cum = 0;
  const keep = new Set<number>();
  for (const j of order) {
    keep.add(j);
    cum += full[j];
    if (cum > o.topP) break;
  }
  const kept = order.filter((j) => keep.has(j)).slice(0, o.topK);
  const p = softmax(l.map((x, j) => (kept.includes(j) ? x : -Infinity)), 1);
  const rng = new Rng(3);
  const n = 30_000;
  const counts = new Array(row.length).fill(0);
  for (let i = 0; i < n; i++) counts[scoreDream(row, o, rng).token]++;
  for (let j = 0; j < row.length; j++) if (!kept.includes(j)) assert.equal(counts[j], 0, `id ${j} is filtered out`);
  const { stat, dof } = chiSquare(counts, p, n);
  assert.ok(stat < bound(dof), `chi-square ${stat.toFixed(1)} on ${dof} dof`);
});
