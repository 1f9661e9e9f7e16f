// npm run bench -- ask: each plainly asked question goes through the real `wavefilter generate`
// command (a process per prompt), rows land in results.jsonl as they finish, a rerun resumes, and a
// folder holding another configuration's rows is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAsk } from '../../bench/ask.js';
import { defaultModelDir } from '../../src/cli/paths.js';

test('asks through wavefilter generate, resumes, refuses a folder of another configuration', async () => {
  const model = defaultModelDir();
  assert.ok(model, 'the bundled model');
  const dir = mkdtempSync(join(tmpdir(), 'wf-ask-'));
  const essay = join(dir, 'essay.txt');
  writeFileSync(essay, 'The river ran past the old mill. Nobody remembered who built it. '.repeat(400));
  const o = { model, lengths: [320], samples: 2, seed: 3, out: join(dir, 'out'), generateArgs: ['--gen-length', '8', '--steps', '8'], essayPath: essay };
  const rows = await runAsk(o, () => {});
  assert.equal(rows.length, 2);
  for (const r of rows) {
    assert.equal(typeof r.answer, 'string');
    // the score is the documented rule applied to what the command printed
    assert.equal(r.correct, r.answer.toLowerCase().includes(r.value.toLowerCase()));
    assert.ok(r.tokens <= 320 - 32 && r.tokens > 100, `${r.tokens} prompt tokens`);
  }
  const file = join(o.out, 'results.jsonl');
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
  const md = readFileSync(join(o.out, 'results.md'), 'utf8');
  assert.match(md, /\| all \| \d+% \(\d\/2; /);
  // a rerun resumes: no new rows, the same summary
  const again = await runAsk(o, () => assert.fail('nothing left to ask'));
  assert.deepEqual(again, rows);
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
  await assert.rejects(runAsk({ ...o, seed: 4 }, () => {}), /another configuration/);
});
