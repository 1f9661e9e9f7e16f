// WaveFilter's selector: the precomputed-pyramid walk selects exactly what the literal recursion of
// Algorithm 1 selects, including prompt lengths that are not multiples of 2^B.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/rng.js';
import { haarPyramid, keepCount, literalSelect, pyramidSelect } from '../../src/filter/wavefilter/reference.js';

function gaussian(rng: Rng, n: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
  return a;
}

test('pyramid selection equals the literal recursion (B = 1..3, odd and even prompt lengths)', () => {
  const rng = new Rng(42);
  const d = 8;
  let trials = 0;
  for (const p of [5, 6, 7, 9, 13, 16, 30, 33, 64, 101, 127, 200, 257]) {
    for (const levels of [1, 2, 3]) {
      for (const props of [[0.4, 0.4, 0.4], [0.3, 0.6, 0.5], [1, 0.3, 0.7]]) {
        for (const norm of ['orthonormal', 'mean'] as const) {
          const keys = gaussian(rng, p * d);
          const m = 3;
          const q = gaussian(rng, m * d);
          const cfg = { levels, proportions: props.slice(0, levels), norm };
          const lit = literalSelect(q, m, keys, p, d, cfg);
          const pyr = pyramidSelect(q, m, haarPyramid(keys, p, d, levels, norm), p, d, cfg);
          assert.deepEqual(pyr, lit, `P=${p} B=${levels} m=${props} ${norm}`);
          trials++;
        }
      }
    }
  }
  assert.equal(trials, 13 * 3 * 3 * 2);
});

test('selector invariants: sorted, unique, inside the prompt; m = 1 keeps everything', () => {
  const rng = new Rng(3);
  const d = 4;
  const p = 37;
  const keys = gaussian(rng, p * d);
  const q = gaussian(rng, 2 * d);
  const all = pyramidSelect(q, 2, haarPyramid(keys, p, d, 2, 'orthonormal'), p, d, { levels: 2, proportions: [1, 1], norm: 'orthonormal' });
  assert.deepEqual(all, Array.from({ length: p }, (_, i) => i));
  const some = pyramidSelect(q, 2, haarPyramid(keys, p, d, 2, 'orthonormal'), p, d, { levels: 2, proportions: [0.4, 0.4], norm: 'orthonormal' });
  assert.ok(some.every((t, i) => t >= 0 && t < p && (i === 0 || t > some[i - 1])));
  assert.ok(some.length <= 2 * keepCount(0.4, 2 * keepCount(0.4, Math.ceil(p / 4))));
});

test('a hand-worked case: the block holding the key aligned with the query wins at every scale', () => {
  // P = 8, D = 2, B = 2: keys are zero except token 5 = (10, 0); the query is (1, 0).
  const keys = new Float64Array(16);
  keys[10] = 10;
  const q = [1, 0];
  const sel = literalSelect(q, 1, keys, 8, 2, { levels: 2, proportions: [0.5, 0.5], norm: 'orthonormal' });
  // scale 2: units {0-3}, {4-7} -> keep 1 of 2 -> {4..7}; scale 1: pairs {4,5}, {6,7} -> keep 1 -> {4, 5}
  assert.deepEqual(sel, [4, 5]);
});
