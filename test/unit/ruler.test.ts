// RULER generator and metrics: templates as quoted by the spec, length fitting, references present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { type RulerEnv, type RulerSample, generateRuler, listQuery } from '../../src/eval/ruler/generate.js';
import { lengthAverages, matchAll, taskScore } from '../../src/eval/ruler/metrics.js';
import { loadSquad, loadWordSources } from '../../src/eval/ruler/sources.js';
import { TEMPLATES, fill, singleAnswerTemplate } from '../../src/eval/ruler/tasks.js';
import { TextCodec } from '../../src/index.js';
import { FIXTURES, LLADA_TINY } from '../helpers.js';

const words = loadWordSources();
const count = (input: string, prefix: string): number => `${input}${prefix}`.split(/\s+/).filter((w) => w).length;
const env: RulerEnv = {
  count, words, essay: readFileSync(join(FIXTURES, 'ruler', 'essay.txt'), 'utf8'), essayId: 'test fixture',
  qa: { squad: loadSquad(join(FIXTURES, 'ruler', 'squad-mini.json')) }, seed: 42,
};

function fits(s: RulerSample): void {
  assert.ok(s.length + s.genTokens <= s.maxSeq, `${s.task}: ${s.length} + ${s.genTokens} > ${s.maxSeq}`);
  assert.equal(s.length, count(s.input, s.answerPrefix));
}

test('single-answer rewrite of the NIAH template (spec §2.3)', () => {
  const t = fill(singleAnswerTemplate(TEMPLATES.niah, 'numbers'), { query: 'brave-otter', context: '...' });
  assert.equal(t, 'A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n...\nWhat is the special magic number for brave-otter mentioned in the provided text?');
  assert.equal(fill(singleAnswerTemplate(TEMPLATES.niahAnswer, 'numbers'), { query: 'x' }), ' The special magic number for x mentioned in the provided text is');
  assert.equal(listQuery(['a', 'b', 'c', 'd']), 'a, b, c, and d');
});

test('metrics: string_match_all partial credit, RULER length averages (spec §7 golden values)', () => {
  assert.equal(matchAll('the numbers are 1234567 and more', ['1234567', '7654321']), 0.5);
  assert.equal(taskScore(['x 1234567'], [['1234567', '7654321']], 'all'), 50);
  assert.equal(taskScore(['ORTWIN'], [['Ortwin', 'a keeper']], 'part'), 100);
  const a = lengthAverages([95.5, 93.8, 91.6, 87.4, 84.7, 77.0]);
  assert.equal(a.wAvgInc.toFixed(2), '85.38');
  assert.equal(a.wAvgDec.toFixed(2), '91.29');
});

test('every synthetic task fits its budget and hides its references in the prompt', () => {
  for (const task of ['niah_single_1', 'niah_single_2', 'niah_single_3', 'niah_multikey_1', 'niah_multikey_2', 'niah_multikey_3', 'niah_multivalue', 'niah_multiquery', 'vt', 'fwe'] as const) {
    const samples = generateRuler(task, 2048, 3, env);
    assert.equal(samples.length, 3);
    for (const s of samples) {
      fits(s);
      assert.ok(s.length > 0.8 * (s.maxSeq - s.genTokens), `${task} uses the budget (${s.length})`);
      for (const r of s.outputs) if (task !== 'fwe') assert.ok(s.input.includes(r), `${task}: reference ${r} in the prompt`);
    }
    assert.notEqual(samples[0].input, samples[1].input, `${task}: samples differ`);
    assert.deepEqual(generateRuler(task, 2048, 1, env)[0], samples[0], `${task}: seeded`);
  }
});

test('NIAH variants: keys, values and queries as configured', () => {
  const mk = generateRuler('niah_multikey_1', 2048, 1, env)[0];
  assert.equal((mk.input.match(/One of the special magic number for/g) ?? []).length, 0, 'plural type in the needle');
  assert.equal((mk.input.match(/One of the special magic numbers for/g) ?? []).length, 4, 'four needles, one queried');
  assert.equal(mk.outputs.length, 1);
  assert.match(mk.input, /What is the special magic number for [a-z]+-[a-z]+ mentioned/);
  const mv = generateRuler('niah_multivalue', 2048, 1, env)[0];
  assert.equal(mv.outputs.length, 4);
  assert.match(mv.answerPrefix, /^ The special magic numbers for [a-z-]+ mentioned in the provided text are$/);
  const mq = generateRuler('niah_multiquery', 2048, 1, env)[0];
  assert.equal(mq.outputs.length, 4);
  assert.match(mq.input, /for [a-z-]+, [a-z-]+, [a-z-]+, and [a-z-]+ mentioned/);
  const uu = generateRuler('niah_multikey_3', 2048, 1, env)[0];
  assert.match(uu.outputs[0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok((uu.input.match(/One of the special magic uuids for/g) ?? []).length > 20, 'a haystack made of distractor needles');
});

test('variable tracking: one chain of five names, in order', () => {
  const s = generateRuler('vt', 2048, 1, env)[0];
  assert.equal(s.outputs.length, 5);
  const value = s.input.match(/assigned the value (\d{5})/)?.[1];
  assert.ok(s.input.includes(`VAR ${s.outputs[0]} = ${value}`));
  for (let j = 1; j < 5; j++) assert.ok(s.input.indexOf(`VAR ${s.outputs[j]} = VAR ${s.outputs[j - 1]}`) > s.input.indexOf(`VAR ${s.outputs[j - 1]} =`));
  assert.match(s.answerPrefix, /5 variables are assigned the value \d{5}, they are: $/);
});

test('common and frequent words: the references really are the most frequent', () => {
  const c = generateRuler('cwe', 4096, 1, env)[0];
  fits(c);
  const main = c.input.slice(c.input.lastIndexOf('Below is a numbered list'));
  for (const w of c.outputs) assert.equal((main.match(new RegExp(`\\d+\\. ${w}(?= |\\n)`, 'g')) ?? []).length, 30, `${w} x30`);
  const f = generateRuler('fwe', 2048, 1, env)[0];
  const freq = new Map<string, number>();
  for (const w of f.input.split(/\s+/)) if (/^[a-z]{6}$/.test(w)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const top = [...freq].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([w]) => w);
  assert.deepEqual(new Set(top), new Set(f.outputs));
});

test('a sample that cannot fit even at the smallest haystack is drawn again; others are unchanged', () => {
  const before = generateRuler('cwe', 4096, 2, env);
  const w = before[1].outputs[0];
  // a tokenizer on which sample 1's most common word costs the whole window (as long words did on the
  // bundled model's tokenizer for the hold-out seed's cwe sample 1 at 4K)
  const heavy = (input: string, prefix: string): number => count(input, prefix) + ((input.match(new RegExp(`\\d+\\. ${w}(?= |\\n|$)`, 'g')) ?? []).length >= 30 ? 1e6 : 0);
  const after = generateRuler('cwe', 4096, 2, { ...env, count: heavy });
  assert.deepEqual(after[0], before[0], 'a sample that fitted is the same sample');
  assert.notDeepEqual(after[1].outputs, before[1].outputs);
  assert.ok(!after[1].outputs.includes(w));
  assert.ok(after[1].length + after[1].genTokens <= 4096);
  assert.equal(after[1].index, 1);
  // only sample 0's draw ever fits: a clear error after a bounded number of draws, not RULER's endless loop
  const keep = before[0].outputs[0];
  const never = (input: string, prefix: string): number => count(input, prefix) + ((input.match(new RegExp(`\\d+\\. ${keep}(?= |\\n|$)`, 'g')) ?? []).length >= 30 ? 0 : 1e6);
  assert.throws(() => generateRuler('cwe', 4096, 3, { ...env, count: never }), (e: Error) => /cwe sample 1: 32 draws at the smallest haystack all exceed/.test(e.message));
});

test('QA over a SQuAD-format file; a missing file is a clear error', () => {
  const s = generateRuler('qa_1', 512, 2, env);
  assert.deepEqual(s[0].outputs, ['Ortwin', 'a keeper named Ortwin']);
  assert.match(s[0].input, /Document 1:\n/);
  assert.ok(s[0].input.includes('Question: Who lit the harbour lamps?'));
  assert.throws(() => generateRuler('qa_2', 512, 1, env), /needs HotpotQA dev distractor/);
});

test('length fitting with a real tokenizer and chat template', () => {
  const codec = TextCodec.load(LLADA_TINY)!;
  const real = (input: string, prefix: string): number => codec.encodeChat([{ role: 'user', content: input }]).length + codec.encodeText(prefix).length;
  for (const task of ['niah_single_1', 'vt'] as const) {
    const [s] = generateRuler(task, 1024, 1, { ...env, count: real });
    assert.ok(s.length + s.genTokens <= 1024 && s.length > 0.85 * (1024 - s.genTokens), `${task}: ${s.length}`);
  }
});
