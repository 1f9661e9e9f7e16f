// The RULER runner: identical prompts for every method, per-sample results on disk as they finish,
// a rerun resumes (a line cut by a crash runs again), and the summary follows the documented schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/index.js';
import { type MethodSpec, rulerPrompts, runRuler, writeSummary } from '../../src/eval/ruler/run.js';
import { postprocess } from '../../src/eval/ruler/metrics.js';
import { loadWordSources } from '../../src/eval/ruler/sources.js';
import { LLADA_TINY } from '../helpers.js';
import { gridMethods } from '../../src/cli/grid-options.js';
import { methodIdentity, methodOptions } from '../../src/eval/methods.js';

test('runs a method grid, resumes, and summarises', async () => {
  const model = await loadModel(LLADA_TINY);
  const dir = mkdtempSync(join(tmpdir(), 'wf-ruler-'));
  const methods: MethodSpec[] = [
    { name: 'dual', cache: 'dual', filter: 'none', budget: null, preset: null },
    { name: 'dual+wavefilter-practical@0.3', cache: 'dual', filter: 'wavefilter', budget: 0.3, preset: 'practical' },
  ];
  const opts = { tasks: ['niah_single_1', 'vt'] as const, lengths: [512], samples: 2, methods, outDir: dir, blockLength: 32, threshold: 0.9, env: { words: loadWordSources(), seed: 7 } };
  const first = await runRuler(model, { ...opts, tasks: [...opts.tasks] });
  assert.equal(first.length, 8);
  const file = join(dir, 'results.jsonl');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 8);
  // identical prompts across methods
  const tokens = (m: string) => first.filter((r) => r.method === m).map((r) => `${r.task}:${r.index}:${r.prompt_tokens}`);
  assert.deepEqual(tokens('dual'), tokens('dual+wavefilter-practical@0.3'));
  assert.ok(first.every((r) => r.prompt_tokens + 128 <= 512 || r.task === 'vt'));
  // a crash mid-write: the last line is cut; the rerun redoes only that sample
  writeFileSync(file, `${lines.slice(0, 7).join('\n')}\n${lines[7].slice(0, 20)}`);
  const second = await runRuler(model, { ...opts, tasks: [...opts.tasks] });
  assert.equal(second.length, 8);
  const after = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(after.length, 8, 'the cut line is dropped and only that sample is redone');
  assert.deepEqual(after.slice(0, 7), lines.slice(0, 7));
  assert.ok(after.every((l) => JSON.parse(l)));
  assert.deepEqual(second.map((r) => r.prediction), first.map((r) => r.prediction), 'deterministic: same predictions on rerun');
  const summary = writeSummary(dir, { model: LLADA_TINY }, second) as { rows: Array<{ accuracy: number; samples: number }>; accuracy: Record<string, Record<string, Record<string, number>>> };
  assert.equal(summary.rows.length, 4);
  assert.ok(summary.rows.every((r) => r.samples === 2 && r.accuracy >= 0 && r.accuracy <= 100));
  assert.ok('mean' in summary.accuracy.dual['512']);
  assert.match(readFileSync(join(dir, 'results.md'), 'utf8'), /\| dual \| 512 \|/);
  await model.dispose();
});

test('Elastic-Cache in the harness: the same prompts as the block hosts, decoded by generateElastic (window 16)', async () => {
  const model = await loadModel(LLADA_TINY);
  const dir = mkdtempSync(join(tmpdir(), 'wf-ruler-elastic-'));
  const env = { words: loadWordSources(), seed: 11 };
  const methods: MethodSpec[] = [
    { name: 'dual', cache: 'dual', filter: 'none', budget: null, preset: null },
    { name: 'elastic', cache: 'elastic', filter: 'none', budget: null, preset: null },
  ];
  const results = await runRuler(model, { tasks: ['niah_single_1'], lengths: [512], samples: 2, methods, outDir: dir, blockLength: 32, threshold: 0.9, env });
  const elastic = results.filter((r) => r.method === 'elastic');
  assert.equal(elastic.length, 2);
  assert.deepEqual(elastic.map((r) => r.prompt_tokens), results.filter((r) => r.method === 'dual').map((r) => r.prompt_tokens));
  const { ids, genLength } = rulerPrompts(model, 'niah_single_1', 512, 2, 32, env);
  for (const [i, r] of elastic.entries()) {
    const direct = await model.generateElastic({ inputIds: ids[i] }, { genLength, window: 16, threshold: 0.9, allowLongContext: true });
    assert.equal(r.nfe, direct.nfe);
    assert.equal(r.prediction, postprocess(direct.text ?? ''));
  }
  await model.dispose();
});

test('--wf-token-share adds WaveFilter rows with that share (named +share<X>), which generate receives; misuse is refused', () => {
  const flags = { cache: 'dual' as const, filter: 'none,wavefilter,h2o', budget: '0.1', wfPreset: 'practical', blockLength: 32, progress: false };
  const ms = gridMethods({ ...flags, wfTokenShare: '0,0.25' });
  assert.deepEqual(ms.map((m) => m.name), ['dual', 'dual+wavefilter-practical+share0@0.1', 'dual+wavefilter-practical+share0.25@0.1', 'dual+h2o@0.1']);
  assert.deepEqual(methodOptions(ms[2] as MethodSpec).wave, { preset: 'practical', tokenShare: 0.25 });
  assert.equal(methodOptions(ms[3] as MethodSpec).wave, undefined);
  // without the flag the rows are the presets' own, named as before
  assert.deepEqual(gridMethods(flags).map((m) => m.name), ['dual', 'dual+wavefilter-practical@0.1', 'dual+h2o@0.1']);
  assert.throws(() => gridMethods({ ...flags, wfTokenShare: '1' }), /--wf-token-share: expected a decimal number >= 0 and <= 0.999, found "1"/);
  assert.throws(() => gridMethods({ ...flags, wfTokenShare: 'x' }), /--wf-token-share/);
  assert.throws(() => gridMethods({ ...flags, wfTokenShare: '0.9995' }), /--wf-token-share/); // the range generate --wf-token-share takes
  assert.throws(() => gridMethods({ ...flags, filter: 'h2o', wfTokenShare: '0.25' }), /applies to --filter wavefilter/);
});

test('a results row hashes its method with the knobs its preset resolves to: a changed default redoes the row', () => {
  const flags = { cache: 'dual' as const, filter: 'wavefilter', budget: '0.1', wfPreset: 'practical,faithful', blockLength: 32, progress: false };
  const [practical, faithful] = gridMethods(flags);
  const [share0, share25] = gridMethods({ ...flags, wfPreset: 'practical', wfTokenShare: '0,0.25' });
  const wave = (m: MethodSpec): Record<string, unknown> => methodIdentity(m).wave as Record<string, unknown>;
  // practical with a budget takes a quarter of it for single rows (the hold-out choice); faithful none
  assert.equal(wave(practical).tokenShare, 0.25);
  assert.equal(wave(faithful).tokenShare, 0);
  assert.deepEqual(wave(share25), wave(practical));
  assert.notDeepEqual(wave(share0), wave(practical));
  assert.deepEqual(methodIdentity(gridMethods({ ...flags, filter: 'h2o' })[0]), { name: 'dual+h2o@0.1', cache: 'dual', filter: 'h2o', budget: 0.1, preset: null });
});
