// Plainly asked needle questions (src/eval/ask/generate.ts): the planted fact is in the prompt, the
// question names its key, the eval split's unseen wordings never occur in the training split, the
// prompt fits its length, and a draw is a function of (seed, index).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS, LAYOUTS, PREFILLS, TEMPLATES, askCorrect, generateAsk } from '../../src/eval/ask/generate.js';
import { loadWordSources } from '../../src/eval/ruler/sources.js';
import { answerText } from '../../training/gen-tasks.js';

const words = loadWordSources();
const essay = 'The cat sat on the mat. It was a sunny day, and the birds sang loudly. '.repeat(3000);
// about four characters a token, the chat template's few tokens aside
const count = (prompt: string, prefill: string): number => 12 + Math.ceil((prompt.length + prefill.length) / 4);

/** A template as a pattern: its {key} / {value} holes match anything. */
const pattern = (t: string): RegExp => new RegExp('^' + t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{(key|value)\\\}/g, '.+') + '$');

test('every prompt holds its value once in a fact and asks about that fact\'s key', () => {
  for (const split of ['train', 'eval'] as const) {
    const s = generateAsk({ maxSeq: 1024, samples: 40, seed: 1_000_123, split, words, essay, count });
    assert.equal(s.length, 40);
    for (const x of s) {
      assert.ok(x.length <= 1024 - 32, `${x.length} tokens`);
      assert.equal(count(x.prompt, x.prefill), x.length);
      assert.equal(x.prompt.split(x.value).length - 1, 1, `value ${x.value} once`);
      assert.equal(x.answer, x.prefill === '' ? x.value : ` ${x.value}`);
      assert.ok(KINDS.includes(x.kind));
      // the needle sentence: the one that holds the value; its key appears in the prompt's question too
      const needle = x.prompt.split(/(?<=[.!?])\s+|\n/).find((l) => l.includes(x.value)) as string;
      const tpl = [...TEMPLATES[x.kind].train.statements, ...TEMPLATES[x.kind].eval.statements].find((t) => pattern(t).test(needle.trim()));
      assert.ok(tpl, `needle ${JSON.stringify(needle)} from a template`);
      assert.ok(needle.includes(x.key), 'the needle states the key');
      assert.ok(x.prompt.split(x.key).length - 1 >= 2, `key ${x.key} in the needle and the question`);
      if (split === 'train') assert.equal(x.wording, 'seen');
    }
  }
});

test('documents fill the length they are drawn for (default), shorter ones only when asked', () => {
  const full = generateAsk({ maxSeq: 2048, samples: 12, seed: 5, split: 'eval', words, essay, count });
  for (const x of full) assert.ok(x.length >= 0.9 * (2048 - 32) && x.length <= 2048 - 32, `${x.length}`);
  const mixed = generateAsk({ maxSeq: 2048, samples: 30, seed: 5, split: 'train', words, essay, count, minFill: 0.25 });
  assert.ok(mixed.some((x) => x.length < 0.7 * (2048 - 32)), 'some shorter documents');
});

test('the eval split\'s unseen wordings are disjoint from the training wordings', () => {
  for (const k of KINDS) {
    const train = new Set([...TEMPLATES[k].train.statements, ...TEMPLATES[k].train.questions]);
    for (const t of [...TEMPLATES[k].eval.statements, ...TEMPLATES[k].eval.questions]) assert.ok(!train.has(t), t);
  }
  for (const l of LAYOUTS.eval) assert.ok(!LAYOUTS.train.includes(l), l);
  const unseen = generateAsk({ maxSeq: 1024, samples: 60, seed: 77, split: 'eval', words, essay, count }).filter((x) => x.wording === 'unseen');
  assert.ok(unseen.length >= 15 && unseen.length <= 45, `${unseen.length} unseen of 60`);
  for (const x of unseen) {
    const q = TEMPLATES[x.kind].train.questions.map(pattern);
    const lines = x.prompt.split('\n').map((l) => l.replace(/^(Question|According to the text above|Based on the document): /, '').trim());
    assert.ok(!lines.some((l) => q.some((p) => p.test(l))), 'no training question in an unseen prompt');
  }
});

test('a draw depends on (seed, index) only', () => {
  const a = generateAsk({ maxSeq: 1024, samples: 6, seed: 9, split: 'eval', words, essay, count });
  const b = generateAsk({ maxSeq: 1024, samples: 3, seed: 9, split: 'eval', words, essay, count });
  assert.deepEqual(b, a.slice(0, 3));
  const c = generateAsk({ maxSeq: 1024, samples: 3, seed: 10, split: 'eval', words, essay, count });
  assert.notDeepEqual(c.map((x) => x.value), b.map((x) => x.value));
});

test('scoring: the value anywhere in the answer, any case; the training answer text is the sample\'s', () => {
  assert.equal(askCorrect('The code is 4821937.', '4821937'), true);
  assert.equal(askCorrect('ivy-polyanthus-88', 'Ivy-Polyanthus-88'), true);
  assert.equal(askCorrect('482193', '4821937'), false);
  assert.equal(askCorrect('', '4821937'), false);
  assert.equal(answerText({ task: 'ask', outputs: ['42'], answer: ' 42' }), ' 42');
  assert.ok(PREFILLS.train.includes(''));
});

test('sameKind sets how many facts of the question\'s kind stand beside the needle; the default keeps the draws', () => {
  const d = generateAsk({ maxSeq: 2048, samples: 8, seed: 314, split: 'eval', words, essay, count });
  assert.deepEqual(generateAsk({ maxSeq: 2048, samples: 8, seed: 314, split: 'eval', words, essay, count, sameKind: [0, 5] }), d);
  // licence keys have a shape no other text has: count them
  const licences = (o: { sameKind?: readonly [number, number] }): number[] =>
    generateAsk({ maxSeq: 2048, samples: 60, seed: 1_000_777, split: 'train', words, essay, count, ...o }).filter((x) => x.kind === 'licence').map((x) => x.prompt.match(/\b[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\b/g)?.length ?? 0);
  const many = licences({ sameKind: [6, 7] });
  assert.ok(many.length >= 5 && many.every((n) => n >= 6), `needle + 6 distractors (a repeated key is skipped): ${many}`);
  const usual = licences({});
  assert.ok(usual.some((n) => n <= 3), `the default draws 0-4: ${usual}`);
  assert.throws(() => generateAsk({ maxSeq: 2048, samples: 1, seed: 1, split: 'train', words, essay, count, sameKind: [3, 3] }), /sameKind/);
});
