// eval merge --same: rows of one method counted as another's only when both run the same algorithm.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { gridMethods } from '../../src/cli/grid-options.js';
import type { MethodSpec } from '../../src/eval/methods.js';
import { dedupeRows, mergeSameMethods } from '../../src/eval/ruler/merge.js';
import { REPO_ROOT } from '../helpers.js';
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

test('eval merge without the PNG renderer: the results, the SVG chart and one warning naming the package, exit 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-merge-'));
  try {
    const [practical] = gridMethods(flags);
    const host = { name: 'dual', cache: 'dual', filter: 'none', budget: null, preset: null };
    for (const [sub, m] of [['a', host], ['b', practical]] as const) {
      mkdirSync(join(dir, sub));
      writeFileSync(join(dir, sub, 'results.json'), JSON.stringify({ methods: [m] }));
      writeFileSync(join(dir, sub, 'results.jsonl'), [0, 1].map((i) => JSON.stringify({ ...row(m.name, i), input_hash: String(i).repeat(64) })).join('\n') + '\n');
    }
    // a resolve hook that makes @resvg/resvg-js missing, as on a machine where its native build is absent
    const hook = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent("export async function resolve(s, c, next) { if (s === '@resvg/resvg-js') { const e = new Error(\\"Cannot find package '@resvg/resvg-js'\\"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; } return next(s, c); }"));`)}`;
    const out = join(dir, 'merged');
    const twice = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'eval', 'merge', '--from', `${join(dir, 'a')},${join(dir, 'a')},${join(dir, 'b')}`, '--out', join(dir, 'twice'), '--json'], { encoding: 'utf8' });
    assert.equal(twice.status, 0, twice.stderr);
    assert.match(twice.stderr, /2 rows in more than one folder \(the same method on the same prompt\) counted once/);
    assert.equal((JSON.parse(twice.stdout) as { rows: Array<{ method: string; samples: number }> }).rows.find((x) => x.method === 'dual')?.samples, 2);
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', hook, join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'eval', 'merge', '--from', `${join(dir, 'a')},${join(dir, 'b')}`, '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: SVG charts only: PNG charts needs the optional package @resvg\/resvg-js, which is not installed: npm install @resvg\/resvg-js/);
    assert.equal(r.stderr.match(/warning:/g)?.length, 1, 'one warning, before the work');
    assert.ok(existsSync(join(out, 'results.json')) && existsSync(join(out, 'results.md')));
    assert.match(readFileSync(join(out, 'accuracy-vs-budget-4096.svg'), 'utf8'), /^<svg/);
    assert.ok(!existsSync(join(out, 'accuracy-vs-budget-4096.png')));
    assert.match(r.stdout, /dual\+wavefilter-practical@0.1/);
    // a merged report has no rows of its own: merging it again names its sources and writes nothing
    const again = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'eval', 'merge', '--from', out, '--out', join(dir, 'again')], { encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, new RegExp(`a merged report \\(eval merge\\) holds no rows of its own; merge its sources instead: --from ${join(dir, 'a')},${join(dir, 'b')}`));
    assert.ok(!existsSync(join(dir, 'again')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('merge counts a row found in two folders once (the host reused by budget sweeps), keeps other prompts and rows without a hash', () => {
  const h = (c: string): string => c.repeat(64);
  const a = { ...row('dual', 0), input_hash: h('a') };
  const b = { ...row('dual', 0), input_hash: h('b') }; // index 0 of another seed: another prompt
  const p = { ...row('dual+h2o@0.1', 0), input_hash: h('a') }; // another method on prompt a
  const old = { ...row('dual', 1), input_hash: undefined as unknown as string };
  const { rows, duplicates } = dedupeRows([a, b, p, { ...a }, old, { ...old }, { ...b }]);
  assert.equal(duplicates, 2);
  assert.deepEqual(rows.map((r) => `${r.method}/${r.input_hash ?? '-'}`.slice(0, 16)), ['dual/aaaaaaaaaaa', 'dual/bbbbbbbbbbb', 'dual+h2o@0.1/aaa', 'dual/-', 'dual/-']);
});
