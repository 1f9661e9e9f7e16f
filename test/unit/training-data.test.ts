// The training-data generator (training/gen-tasks.ts): answer formats the RULER scorer accepts,
// seeds disjoint from evaluation's, and samples made by the benchmark's own generator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerText, callSeed, samples } from '../../training/gen-tasks.js';
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
