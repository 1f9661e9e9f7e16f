// The command line: JSON results on stdout, errors on stderr with a non-zero exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DREAM_TINY, type DreamGenCase, LLADA_TINY, type LladaGenCase, reference } from '../helpers.js';

const CLI = join(import.meta.dirname ?? '', '..', '..', 'src', 'cli', 'main.ts');
function run(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
}

test('generate --json reproduces a Fast-dLLM dual-cache reference case', () => {
  const c = reference<LladaGenCase>(LLADA_TINY).generate.find((g) => g.method === 'dual' && g.threshold === 0.9 && g.block_length === 8)!;
  const r = run('generate', '--model', LLADA_TINY, '--input-ids', c.prompt_ids.join(','), '--gen-length', String(c.gen_length),
    '--block-length', String(c.block_length), '--steps', String(c.steps), '--threshold', '0.9', '--cache', 'dual', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { output_ids: number[]; nfe: number; timings: { total_ms: number } };
  assert.deepEqual(out.output_ids, c.output_ids);
  assert.equal(out.nfe, c.nfe);
  assert.ok(out.timings.total_ms > 0);
});

test('generate --json reproduces a Dream reference case', () => {
  const c = reference<DreamGenCase>(DREAM_TINY).generate[2];
  const r = run('generate', '--model', DREAM_TINY, '--input-ids', c.prompt_ids.join(','), '--gen-length', String(c.gen_length),
    '--steps', String(c.steps), '--alg', c.alg, '--temperature', '0', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { output_ids: number[] }).output_ids, c.output_ids);
});

test('logits --json prints one row per input position', () => {
  const c = reference(LLADA_TINY).forward[0];
  const r = run('logits', '--model', LLADA_TINY, '--input-ids', c.input_ids.join(','), '--json');
  assert.equal(r.status, 0, r.stderr);
  const rows = (JSON.parse(r.stdout) as { logits: number[][] }).logits;
  assert.equal(rows.length, c.input_ids.length);
  assert.ok(Math.abs(rows[0][0] - c.logits[0][0]) < 5e-4);
});

test('errors go to stderr with a code and a non-zero exit', () => {
  const bad = run('generate', '--model', LLADA_TINY, '--input-ids', '1,2', '--gen-length', '12abc');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--gen-length: expected an integer, found "12abc"/);
  assert.equal(bad.stdout, '');
  const missing = run('generate', '--model', '/nonexistent', '--input-ids', '1,2');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /file_not_found/);
  const help = run('generate', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--cache <method>/);
});
