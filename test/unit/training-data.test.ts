// The training-data generator (training/gen-tasks.ts): answer formats the RULER scorer accepts,
// seeds disjoint from evaluation's, and samples made by the benchmark's own generator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FAMILIES, TRAIN_TASKS, answerText, callSeed, samples } from '../../training/gen-tasks.js';
import { RULER_TASKS } from '../../src/eval/ruler/tasks.js';
import { matchAll, postprocess } from '../../src/eval/ruler/metrics.js';
import { loadWordSources } from '../../src/eval/ruler/sources.js';

test('answer texts score 1 under the RULER metric for every task family', () => {
  const cases = [
    { task: 'niah_single_1', outputs: ['1234567'], text: ' 1234567.' },
    { task: 'niah_multikey_1', outputs: ['11', '22', '33'], text: ' 11, 22, and 33.' },
    { task: 'vt', outputs: ['ABCDE', 'FGHIJ'], text: 'ABCDE, FGHIJ' },
    { task: 'cwe', outputs: ['apple', 'pear'], text: ' 1. apple 2. pear' },
    { task: 'fwe', outputs: ['aaa', 'bbb', 'ccc'], text: ' aaa bbb ccc' },
    { task: 'qa_1', outputs: ['Paris'], text: ' Paris' },
  ] as const;
  for (const c of cases) {
    const text = answerText({ task: c.task, outputs: c.outputs });
    assert.equal(text, c.text);
    assert.equal(matchAll(postprocess(text), c.outputs), 1, c.task);
  }
});

test('training seeds are never the evaluation seed range', () => {
  for (let s = 1_000_000; s < 1_000_050; s++)
    for (let c = 0; c < 50; c++) {
      const x = callSeed(s, c);
      assert.ok(x >= 1_000_000 && Number.isInteger(x), String(x));
    }
  assert.notEqual(callSeed(1_000_000, 0), callSeed(1_000_000, 1));
});

test('samples come from the RULER generator with fresh keys per call', () => {
  const corpora = [{ id: 'pd', text: 'The cat sat on the mat. '.repeat(4000) }];
  const it = samples({ corpora, words: loadWordSources(), length: 512, seed: 1_000_000, perCall: 2, count: (i, p) => Math.ceil((i.length + p.length) / 4) });
  const seen = new Set<string>();
  for (let i = 0; i < 24; i++) {
    const s = it.next().value;
    assert.ok(s && s.input.length > 0 && s.outputs.length > 0);
    seen.add(s.outputs.join('|'));
  }
  assert.ok(seen.size >= 20, `distinct answers: ${seen.size}`);
});

test('the generator keeps writing plainly asked questions at the shortest training length (256 tokens)', async () => {
  // run 7 (7 Dec) lost its 256-token workers: a question with its distractor facts did not fit, and
  // the uncaught error ended the process. Now such a call is drawn again.
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const corpus = mkdtempSync(join(tmpdir(), 'wf-corpus-'));
  writeFileSync(join(corpus, 'pd.txt'), 'The cat sat on the mat. A dog ran in the park. Rain fell on the hills. '.repeat(3000));
  const only = ['niah_single_1', 'niah_single_2', 'niah_single_3', 'niah_multikey_1', 'niah_multikey_2', 'niah_multikey_3', 'niah_multivalue', 'niah_multiquery', 'vt', 'cwe', 'fwe', 'qa_synth'].map((t) => `${t}=0`);
  const p = spawn(process.execPath, ['--import', 'tsx', 'training/gen-tasks.ts', '--tokenizer', 'models/llada-ruler-12m', '--corpus', corpus, '--length', '256', '--seed', '1000003'], {
    env: { ...process.env, WF_TASK_WEIGHTS: [...only, 'ask=1'].join(',') }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buf = Buffer.alloc(0);
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const frames = await new Promise<number[]>((resolve, reject) => {
    const tasks: number[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${tasks.length} frames in 60 s; stderr: ${stderr.slice(0, 500)}`)), 60_000);
    p.stdout.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 16) {
        const n = 16 + 2 * (buf.readInt32LE(8) + buf.readInt32LE(12));
        if (buf.length < n) break;
        tasks.push(buf.readInt32LE(0));
        buf = buf.subarray(n);
      }
      if (tasks.length >= 40) {
        clearTimeout(timer);
        resolve(tasks);
      }
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (tasks.length < 40) reject(new Error(`the generator exited (${code}) after ${tasks.length} frames: ${stderr.slice(0, 500)}`));
    });
  });
  p.kill();
  assert.ok(frames.every((t) => t === frames[0]), 'every frame is the ask family');
});

test('the trainer\'s family names (training/evalset.py TASK_NAMES) follow the generator\'s family indices', () => {
  const py = readFileSync(new URL('../../training/evalset.py', import.meta.url), 'utf8');
  const m = /^TASK_NAMES = (\[.*\])$/m.exec(py);
  assert.ok(m, 'TASK_NAMES in evalset.py');
  assert.deepEqual(JSON.parse(m[1]), FAMILIES);
  assert.deepEqual(FAMILIES.slice(0, RULER_TASKS.length), RULER_TASKS.map((t) => t.name));
  for (const t of TRAIN_TASKS) assert.ok(JSON.parse(m[1]).includes(t.name), t.name);
  assert.equal(TRAIN_TASKS.find((t) => t.name === 'ask_unseen')?.weight, 0, 'the unseen questions are never trained by default');
});
