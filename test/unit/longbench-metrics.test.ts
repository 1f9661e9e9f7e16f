// LongBench metrics against the hand-checked values of docs/long-context-benchmarks.md §4.6-§7.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classificationScore, codeSimScore, countScore, fuzzRatio, normalizeAnswer, qaF1, retrievalScore, rougeL, sequenceRatio } from '../../src/eval/longbench/metrics.js';

test('qa_f1 normalises articles and punctuation', () => {
  assert.equal(normalizeAnswer('The  Eiffel Tower.'), 'eiffel tower');
  assert.equal(qaF1('The Eiffel Tower.', 'eiffel tower'), 1);
  assert.equal(qaF1('paris france', 'paris'), 2 / 3);
  assert.equal(qaF1('london', 'paris'), 0);
});

test('ROUGE-L with pltrdy/rouge 1.0.1 semantics', () => {
  assert.equal(rougeL('the cat sat on the mat. the dog', 'the cat is on the mat').toFixed(4), '0.7273');
  assert.ok(Math.abs(rougeL('a a a b', 'a b b b') - 1) < 1e-6, 'unique-word (exclusive) counting');
  assert.equal(rougeL('', 'anything'), 0, 'an empty hypothesis scores 0');
  const words = (n: number): string => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
  assert.ok(Math.abs(rougeL(words(400), words(400)) - 1) < 1e-6, '400-word sentences are fine');
  assert.equal(rougeL(words(1200), words(1200)), 0, 'the Python back-trace overflows at 1,200 words');
  assert.ok(Math.abs(rougeL(words(1200), words(1200), 'clean') - 1) < 1e-6);
});

test('classification keeps the upstream skip when pruning matches', () => {
  // matches: ["a", "ab", "abc"] for prediction "abc", gold "abc": pruning "a" skips "ab"
  assert.equal(classificationScore('abc', 'abc', ['a', 'ab', 'abc'], 'longbench-py'), 1 / 2);
  assert.equal(classificationScore('abc', 'abc', ['a', 'ab', 'abc'], 'clean'), 1);
  assert.equal(classificationScore('location', 'entity', ['location', 'entity']), 0);
});

test('retrieval and count scores', () => {
  assert.equal(retrievalScore('Paragraph 3, not Paragraph 4', 'Paragraph 3'), 0.5);
  assert.equal(retrievalScore('no numbers', 'Paragraph 3'), 0);
  assert.equal(countScore('There are 12 unique paragraphs', '12'), 1);
});

test('code similarity is fuzzywuzzy ratio on difflib', () => {
  assert.equal(fuzzRatio('this is a test', 'this is a test!'), 97); // fuzzywuzzy README
  assert.equal(sequenceRatio('abcd', 'bcde'), 0.75); // difflib docs
  assert.equal(codeSimScore('\n```python\nreturn x + 1\n```', 'return x + 1'), 1);
  assert.equal(codeSimScore('# comment only', 'x'), 0);
});

test('sequenceRatio equals CPython difflib on random strings, autojunk lengths included', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { FIXTURES } = await import('../helpers.js');
  const data = JSON.parse(readFileSync(join(FIXTURES, 'longbench', 'difflib-ratio.json'), 'utf8')) as { cases: Array<{ a: string; b: string; ratio: number }> };
  assert.equal(data.cases.length, 27);
  for (const c of data.cases) assert.ok(Math.abs(sequenceRatio(c.a, c.b) - c.ratio) < 1e-12, `len ${c.a.length}/${c.b.length}: ${sequenceRatio(c.a, c.b)} vs ${c.ratio}`);
});
