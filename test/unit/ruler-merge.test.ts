// eval merge --same: rows of one method counted as another's only when both run the same algorithm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gridMethods } from '../../src/cli/grid-options.js';
import type { MethodSpec } from '../../src/eval/methods.js';
import { mergeSameMethods } from '../../src/eval/ruler/merge.js';
import type { SampleResult } from '../../src/eval/ruler/run.js';

const flags = { cache: 'dual' as const, filter: 'wavefilter', budget: '0.1', wfPreset: 'practical', blockLength: 32, progress: false };
const row = (method: string, index: number): SampleResult => ({
  method, task: 'niah_single_1', length: 4096, index, prediction: '', references: ['x'], score: 1, prompt_tokens: 10, generated_tokens: 2, nfe: 4, wall_ms: 100, input_hash: 'h',
});

test('--same: a practical row named +share0.25 (before the preset took the share) joins plain practical', () => {
  const [share0, share25] = gridMethods({ ...flags, wfTokenShare: '0,0.25' });
  const [practical] = gridMethods(flags);
  const [h2o] = gridMethods({ ...flags, filter: 'h2o' });
  const all = (): Map<string, MethodSpec> => new Map([share0, share25, practical, h2o].map((m) => [m.name, m]));
  const methods = all();
  const merged = mergeSameMethods(methods, [row(share25.name, 0), row(practical.name, 0), row(share0.name, 0)], [`${share25.name}=${practical.name}`]);
  assert.deepEqual(merged.map((r) => r.method), [practical.name, practical.name, share0.name]);
  assert.deepEqual([...methods.keys()], [share0.name, practical.name, h2o.name]);
  // a different algorithm under the preset's name, another filter, a name not in the runs, a bad pair
  assert.throws(() => mergeSameMethods(all(), [], [`${share0.name}=${practical.name}`]), /run different algorithms/);
  assert.throws(() => mergeSameMethods(all(), [], [`${h2o.name}=${practical.name}`]), /run different algorithms/);
  assert.throws(() => mergeSameMethods(all(), [], [`dual+snapkv@0.1=${practical.name}`]), /dual\+snapkv@0.1 is not a method of these runs/);
  assert.throws(() => mergeSameMethods(all(), [], [practical.name]), /expected A=B/);
});
