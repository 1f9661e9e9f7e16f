// Needle grid and its scorers: hand-worked scores and grid invariants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildNiahGrid } from '../../src/eval/niah/grid.js';
import { keywordScore, needleBenchScore, rouge1, rougeTokens } from '../../src/eval/niah/scorers.js';
import { loadWordSources } from '../../src/eval/ruler/sources.js';

test('ROUGE-1 F by hand: tokenisation, stemming of tokens longer than 3, clipped counts', () => {
  assert.deepEqual(rougeTokens('Eat a Sandwich, sitting in Dolores-Park!'), ['eat', 'a', 'sandwich', 'sit', 'in', 'dolor', 'park']);
  // reference 4 tokens, prediction 2 tokens, overlap 2: P = 1, R = 0.5, F = 2/3
  assert.equal(rouge1('the cat sat down', 'cat sat'), 2 / 3);
  // repeated prediction tokens count once per reference occurrence: overlap 1, P = 1/3, R = 1/2, F = 0.4
  assert.ok(Math.abs(rouge1('cat dog', 'cat cat cat') - 0.4) < 1e-12);
  assert.equal(rouge1('cat', ''), 0);
});

test('NeedleBench origin: 100 on a substring, else 20 x (1 - edit distance / max length) without whitespace', () => {
  assert.equal(needleBenchScore('it is 8855171.', '8855171'), 100);
  // "8855170" vs "8855171": distance 1 over 7
  assert.ok(Math.abs(needleBenchScore('88 55 170', '8855171') - 20 * (1 - 1 / 7)) < 1e-12);
  assert.equal(needleBenchScore('', 'abc'), 0);
  assert.equal(keywordScore('Sit in dolores park', 'Dolores Park'), 100);
  assert.equal(keywordScore('the park', 'Dolores Park'), 0);
});

test('grid prompts fit their length, hold the needle once, and place it at the requested depth', () => {
  const sentence = (i: number): string => `Sentence number ${i} talks about things of some length.`;
  const haystack = Array.from({ length: 2000 }, (_, i) => sentence(i)).join(' ');
  const count = (input: string, prefix: string): number => Math.ceil((input.length + prefix.length) / 4) + 12;
  const samples = buildNiahGrid({
    haystack, lengths: [512, 1024], depths: [0, 25, 50, 100], repeats: 2, needle: 'ruler', genTokens: 64, seed: 42, words: loadWordSources(),
    count, pieceTokens: (t) => Math.ceil(t.length / 4),
  });
  assert.equal(samples.length, 2 * 4 * 2);
  for (const s of samples) {
    assert.ok(s.promptTokens <= s.length - 64, `${s.promptTokens} > ${s.length - 64}`);
    assert.equal(s.input.split(s.needle.text).length, 2, 'needle exactly once');
    assert.ok(s.input.includes(s.needle.keyword));
    assert.ok(Math.abs(s.actualDepth - s.depth) <= 3, `depth ${s.depth}: reached ${s.actualDepth}`);
    const at = s.input.indexOf(s.needle.text);
    if (s.depth === 0) assert.ok(s.input.slice(0, at).split('Sentence number').length === 1, 'depth 0: before every haystack sentence');
    if (s.depth === 100) assert.ok(!s.input.slice(at).includes('Sentence number'), 'depth 100: after every haystack sentence');
  }
  // the two repeats differ in needle and haystack start
  const [a, b] = samples.filter((s) => s.length === 512 && s.depth === 50);
  assert.notEqual(a.needle.keyword, b.needle.keyword);
  assert.notEqual(a.input.slice(300, 400), b.input.slice(300, 400));
});
