// Plainly asked needle questions (src/eval/ask/generate.ts): the planted fact is in the prompt, the
// question names its key, the eval split's unseen wordings never occur in the training split, the
// prompt fits its length, and a draw is a function of (seed, index).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AskKind, EVAL_ONLY_WORDS, KINDS, LAYOUTS, PREFILLS, QUESTION_FIRST_LAYOUTS, TEMPLATES, WIDE, WIDE_LAYOUTS, WIDE_PREFILLS, askCorrect, generateAsk, isQuestionFirst } from '../../src/eval/ask/generate.js';
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

test('wide training wordings: hundreds of them, none an eval wording or one common word away from one, none with the eval split\'s own words', () => {
  const words1 = (t: string): string[] => t.split(/\s+/);
  // word-level edit distance, enough to tell "the password of" from "the password for"
  const dist = (a: string[], b: string[]): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  let total = 0;
  for (const k of KINDS) {
    const wide = [...WIDE[k].statements, ...WIDE[k].questions];
    total += new Set(wide).size;
    for (const t of TEMPLATES[k].train.statements.concat(TEMPLATES[k].train.questions)) assert.ok(wide.includes(t), `base wording kept: ${t}`);
    for (const e of [...TEMPLATES[k].eval.statements, ...TEMPLATES[k].eval.questions])
      for (const t of wide)
        // one word apart only where that word is the eval wording's own (its "passcode" against our "number")
        assert.ok(t !== e && (dist(words1(t), words1(e)) > 1 || EVAL_ONLY_WORDS.some((w) => e.toLowerCase().includes(w.toLowerCase()))), `${JSON.stringify(t)} is within a word of the eval wording ${JSON.stringify(e)}`);
    for (const t of wide) for (const w of EVAL_ONLY_WORDS) assert.ok(!t.toLowerCase().includes(w.toLowerCase()), `${JSON.stringify(t)} uses the eval word ${w}`);
    for (const t of wide) assert.ok(t.includes('{key}') && (WIDE[k].statements.includes(t) ? t.includes('{value}') : !t.includes('{value}')), t);
  }
  assert.ok(total >= 800, `${total} wordings`);
  for (const l of [...WIDE_LAYOUTS, ...WIDE_PREFILLS]) {
    // the eval prefills the base training shares ('', 'Answer:') aside
    assert.ok(!LAYOUTS.eval.includes(l) && !PREFILLS.eval.filter((p) => !PREFILLS.train.includes(p)).includes(l), l);
    for (const w of EVAL_ONLY_WORDS) assert.ok(!l.includes(w), `${JSON.stringify(l)} uses the eval word ${w}`);
  }
  for (const l of LAYOUTS.eval)
    for (const t of WIDE_LAYOUTS) assert.ok(t !== l && (dist(words1(t), words1(l)) > 1 || EVAL_ONLY_WORDS.some((w) => l.includes(w))), `layout ${JSON.stringify(t)} near ${JSON.stringify(l)}`);
});

test('wide draws: training only, many distinct question sentences, the needle stated in a wide wording; off by default', () => {
  assert.throws(() => generateAsk({ maxSeq: 1024, samples: 1, seed: 1, split: 'eval', words, essay, count, wide: true }), /training split only/);
  const base = generateAsk({ maxSeq: 1024, samples: 10, seed: 1_000_321, split: 'train', words, essay, count });
  assert.deepEqual(generateAsk({ maxSeq: 1024, samples: 10, seed: 1_000_321, split: 'train', words, essay, count, wide: false }), base);
  const s = generateAsk({ maxSeq: 1024, samples: 120, seed: 1_000_321, split: 'train', words, essay, count, wide: true });
  const questions = new Set<string>();
  for (const x of s) {
    assert.equal(x.prompt.split(x.value).length - 1, 1, `value ${x.value} once`);
    assert.ok(x.prompt.split(x.key).length - 1 >= 2, `key ${x.key} in the needle and the question`);
    const needle = x.prompt.split(/(?<=[.!?])\s+|\n/).find((l) => l.includes(x.value)) as string;
    assert.ok(WIDE[x.kind].statements.some((t) => pattern(t).test(needle.trim())), `needle ${JSON.stringify(needle)} from a wide wording`);
    for (const w of EVAL_ONLY_WORDS) assert.ok(!x.prompt.includes(w) || essay.includes(w), `${w} in a wide prompt`);
    questions.add(x.prompt.split('\n').filter((l) => l.includes(x.key) && !l.includes(x.value)).join('|').replace(x.key, '{key}'));
  }
  assert.ok(questions.size >= 80, `${questions.size} distinct question lines of 120`);
});

test('free frames: training only, off by default, each needle, distractor and question drawn apart, the value after the key, none of the eval words', () => {
  assert.throws(() => generateAsk({ maxSeq: 1024, samples: 1, seed: 1, split: 'eval', words, essay, count, freeFrames: 0.5 }), /training split only/);
  assert.throws(() => generateAsk({ maxSeq: 1024, samples: 1, seed: 1, split: 'train', words, essay, count, freeFrames: 1.5 }), /freeFrames/);
  const base = generateAsk({ maxSeq: 1024, samples: 10, seed: 1_000_321, split: 'train', words, essay, count });
  assert.deepEqual(generateAsk({ maxSeq: 1024, samples: 10, seed: 1_000_321, split: 'train', words, essay, count, freeFrames: 0 }), base);
  const wordings = TEMPLATES;
  const fromWording = (kind: AskKind, line: string): boolean =>
    [...wordings[kind].train.statements, ...wordings[kind].train.questions].some((t) => pattern(t).test(line.trim()));
  let freeNeedles = 0;
  let freeQuestions = 0;
  const s = generateAsk({ maxSeq: 1024, samples: 120, seed: 1_000_777, split: 'train', words, essay, count, freeFrames: 0.5 });
  for (const x of s) {
    assert.equal(x.prompt.split(x.value).length - 1, 1, `value ${x.value} once`);
    const needle = x.prompt.split(/(?<=[.!?])\s+|\n/).find((l) => l.includes(x.value)) as string;
    if (!fromWording(x.kind, needle)) {
      freeNeedles++;
      // a free frame names the key (an account for a password) before the value
      const k = x.kind === 'password' ? `${x.key} account` : x.key;
      assert.ok(needle.includes(k) && needle.indexOf(k) < needle.indexOf(x.value), `${JSON.stringify(needle)}: ${k} before ${x.value}`);
    }
    // a question in a wording shows it somewhere in a line of the prompt (the layouts add words around it)
    const asked = x.prompt.split('\n').filter((l) => l.includes(x.key) && !l.includes(x.value));
    const unanchored = (t: string): RegExp => new RegExp(pattern(t).source.slice(1, -1));
    if (!asked.some((l) => wordings[x.kind].train.questions.some((t) => unanchored(t).test(l)))) freeQuestions++;
    // frames carry none of the eval split's own words (the key, value and corpus text aside)
    const frames = x.prompt.split(x.value).join(' ').split(x.key).join(' ');
    for (const e of EVAL_ONLY_WORDS) assert.ok(!frames.includes(e) || essay.includes(e), `${e} in ${JSON.stringify(needle)}`);
  }
  // half of each, drawn apart: both kinds of needle and of question occur (120 draws, 0.5 each)
  assert.ok(freeNeedles > 35 && freeNeedles < 85, `${freeNeedles} of 120 needles in free frames`);
  assert.ok(freeQuestions > 35 && freeQuestions < 85, `${freeQuestions} of 120 questions in free frames`);
});

test('question-first layouts: training only, off by default, the question before the document and nothing of it after, none of the eval words', () => {
  assert.throws(() => generateAsk({ maxSeq: 1024, samples: 1, seed: 1, split: 'eval', words, essay, count, questionFirst: 0.5 }), /training split only/);
  assert.throws(() => generateAsk({ maxSeq: 1024, samples: 1, seed: 1, split: 'train', words, essay, count, questionFirst: -0.1 }), /questionFirst/);
  const base = generateAsk({ maxSeq: 1024, samples: 10, seed: 1_000_321, split: 'train', words, essay, count });
  assert.deepEqual(generateAsk({ maxSeq: 1024, samples: 10, seed: 1_000_321, split: 'train', words, essay, count, questionFirst: 0 }), base);
  // the flag against the layouts themselves (hand-checked): the eval split has one question-first layout of three
  assert.deepEqual(LAYOUTS.eval.map(isQuestionFirst), [false, true, false]);
  assert.deepEqual(LAYOUTS.train.map(isQuestionFirst), [false, false, true, false, false, false, false, false]);
  assert.ok(QUESTION_FIRST_LAYOUTS.every(isQuestionFirst));
  for (const l of QUESTION_FIRST_LAYOUTS) for (const e of EVAL_ONLY_WORDS) assert.ok(!l.includes(e), `${e} in ${JSON.stringify(l)}`);
  // in the prompts: the flag says where the question stands (its key's last mention against the needle's value)
  const s = generateAsk({ maxSeq: 1024, samples: 120, seed: 1_000_777, split: 'train', words, essay, count, questionFirst: 0.6 });
  let first = 0;
  for (const x of s) {
    // the haystack's own sentences out first: a key may be one of their words
    const text = x.prompt.split('The cat sat on the mat.').join('').split('It was a sunny day, and the birds sang loudly.').join('');
    // the needle's sentence names the key before or after the value: the key's last mention is in
    // that sentence when the question came first, and after it (in the question) when last
    const lastKey = text.lastIndexOf(x.key);
    const needleEnd = text.indexOf('.', text.indexOf(x.value) + x.value.length);
    assert.equal(x.questionFirst, lastKey < needleEnd, `${x.index}: question first ${x.questionFirst}, key at ${lastKey}, the needle ends at ${needleEnd}`);
    if (x.questionFirst) first++;
  }
  // 0.6 replaced, and 1 of 8 of the rest drawn so: about 65% (120 draws)
  assert.ok(first > 62 && first < 95, `${first} of 120 question first`);
  const plain = generateAsk({ maxSeq: 1024, samples: 120, seed: 1_000_777, split: 'train', words, essay, count });
  const plainFirst = plain.filter((x) => x.questionFirst).length;
  assert.ok(plainFirst < 30, `${plainFirst} of 120 question first by default`);
});
