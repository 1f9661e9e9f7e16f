// Schedules and transfer rules against hand-worked cases from the reference code's definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dreamQuota, dreamTimesteps, lladaTransferSchedule } from '../../src/decode/schedule.js';
import { selectTransfers } from '../../src/decode/transfer.js';
import { Rng } from '../../src/rng.js';

test("LLaDA schedule spreads the remainder over the first steps", () => {
  assert.deepEqual(lladaTransferSchedule(32, 8), [4, 4, 4, 4, 4, 4, 4, 4]);
  assert.deepEqual(lladaTransferSchedule(10, 4), [3, 3, 2, 2]);
  assert.deepEqual(lladaTransferSchedule(3, 5), [1, 1, 1, 0, 0]);
});

test('Dream timesteps and quotas', () => {
  const t = dreamTimesteps(4, 1e-3);
  assert.equal(t[0], 1);
  assert.equal(t[4], Math.fround(1e-3));
  // quota at step 0 of 4 with 16 masks: floor(16 * (1 - t1/t0)) = floor(16 * 0.24975) = 3
  assert.equal(dreamQuota(16, 0, 4, t), 3);
  assert.equal(dreamQuota(5, 3, 4, t), 5, 'the last step takes every mask');
});

const rng = new Rng(1);
test('quota takes the most confident, ties to the earlier position', () => {
  assert.deepEqual(selectTransfers([0.1, 0.9, 0.5, 0.9], { kind: 'quota', count: 2 }, rng), [1, 3]);
});

test('threshold keeps the best one always, others only at or above the threshold', () => {
  assert.deepEqual(selectTransfers([0.2, 0.3, 0.1], { kind: 'threshold', threshold: 0.9 }, rng), [1]);
  assert.deepEqual(selectTransfers([0.95, 0.3, 0.9], { kind: 'threshold', threshold: 0.9 }, rng), [0, 2]);
});

test("factor rule: (j+1)(1 - c_j) <= f, with Fast-dLLM's last-candidate quirk", () => {
  // sorted 0.99, 0.9, 0.5: thresholds -1, 1 - 1/3, 1 - 1/4 -> fails at j=2 (last) -> all accepted
  assert.deepEqual(selectTransfers([0.5, 0.99, 0.9], { kind: 'factor', factor: 1 }, rng).sort(), [0, 1, 2]);
  // sorted 0.99, 0.5, 0.4, 0.3: fails at j=1 -> only the first
  assert.deepEqual(selectTransfers([0.99, 0.5, 0.4, 0.3], { kind: 'factor', factor: 1 }, rng), [0]);
  // sorted 0.99, 0.97, 0.5, 0.4: fails at j=2 (not last) -> two
  assert.deepEqual(selectTransfers([0.99, 0.97, 0.5, 0.4], { kind: 'factor', factor: 1 }, rng), [0, 1]);
});

test('seeded draws repeat', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  for (let i = 0; i < 5; i++) assert.equal(a.uniform(), b.uniform());
  const u = new Rng(3).uniform();
  assert.ok(u > 0 && u < 1);
});
