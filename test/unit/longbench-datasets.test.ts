// LongBench v1 datasets: templates as published, loading with clear errors, middle truncation,
// scoring rules and both averaging conventions (docs/long-context-benchmarks.md §4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LONGBENCH_DATASETS, LONGBENCH_PROMPTS, formatPrompt, lengthBucket, loadLongBench, longBenchAverages, scoreRecord, truncateMiddle } from '../../src/eval/longbench/datasets.js';
import { TextCodec, WavefilterError } from '../../src/index.js';
import { LLADA_TINY } from '../helpers.js';

test('21 datasets with their published templates, quirks kept', () => {
  assert.equal(LONGBENCH_DATASETS.length, 21);
  assert.equal(Object.keys(LONGBENCH_PROMPTS).length, 21);
  assert.equal(LONGBENCH_DATASETS.filter((x) => x.e).length, 13, 'LongBench-E has 13 datasets');
  assert.match(LONGBENCH_PROMPTS.narrativeqa, /asconcisely/);
  assert.match(LONGBENCH_PROMPTS.qasper, /\n\n Answer the question based on the above article/);
  assert.equal(formatPrompt('lcc', { context: 'def f():\n', input: '' }), 'Please complete the code given below. \ndef f():\nNext line of code:\n');
  assert.equal(formatPrompt('hotpotqa', { context: 'Passage 1: $& x', input: 'Q?' }).includes('Passage 1: $& x'), true, 'no $-pattern substitution');
});

test('loading names the file, line and field of a bad record', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-lb-'));
  writeFileSync(join(dir, 'trec.jsonl'), `${JSON.stringify({ input: 'Question: x\nType:', context: 'c', answers: ['Location'], length: 10, all_classes: ['Location', 'Numeric'], _id: 'a' })}\n{"input": "y", "context": 3}\n`);
  assert.throws(() => loadLongBench(dir, 'trec'), (e: unknown) => e instanceof WavefilterError && /trec\.jsonl:2: field context: Invalid input: expected string, received number/.test(e.message));
  writeFileSync(join(dir, 'qasper_e.jsonl'), `${JSON.stringify({ input: 'q', context: 'c', answers: ['a'], length: 4500, all_classes: null, _id: 'b' })}\n`);
  assert.equal(loadLongBench(dir, 'qasper', true)[0].length, 4500);
  assert.throws(() => loadLongBench(dir, 'hotpotqa'), /LongBench file not found/);
  assert.throws(() => loadLongBench(dir, 'nosuch'), /unknown LongBench dataset/);
});

test('middle truncation keeps both ends within the budget', () => {
  const codec = TextCodec.load(LLADA_TINY)!;
  const prompt = `START ${'the river ran past the old mill '.repeat(40)} END`;
  const cut = truncateMiddle(codec, prompt, 40);
  assert.ok(cut.startsWith('START'));
  assert.ok(cut.endsWith('END'));
  assert.ok(Math.abs(codec.encodeText(cut).length - 40) <= 3, 'about max_length tokens after the decode round trip');
  assert.equal(truncateMiddle(codec, 'short', 40), 'short');
});

test('scoring: first-line rule, max over answers, unsupported Chinese metrics named', () => {
  assert.equal(scoreRecord('trec', '\nLocation\nNumeric', { answers: ['Location'], all_classes: ['Location', 'Numeric'] }), 1);
  assert.equal(scoreRecord('hotpotqa', 'Paris', { answers: ['London', 'paris'], all_classes: null }), 1);
  assert.equal(scoreRecord('passage_retrieval_zh', '段落27', { answers: ['段落27'], all_classes: null }), 1);
  assert.equal(scoreRecord('dureader', '', { answers: ['y'], all_classes: null }), 0);
});

test('averages: leaderboard category mean and the papers\' dataset mean; LongBench-E buckets', () => {
  // GPT-3.5-Turbo-16k English category scores 39.8/38.7/26.5/67.1/54.1/37.8 -> 44.0 (README)
  const byCat: Record<string, number> = { 'single-doc-qa': 39.8, 'multi-doc-qa': 38.7, summarization: 26.5, 'few-shot': 67.1, synthetic: 54.1, code: 37.8 };
  const scores = Object.fromEntries(LONGBENCH_DATASETS.filter((x) => x.lang !== 'zh').map((x) => [x.name, byCat[x.category]]));
  const a = longBenchAverages(scores);
  assert.equal(a.categoryAverage?.toFixed(1), '44.0');
  assert.equal(Object.keys(scores).length, 16);
  assert.deepEqual([lengthBucket(3999), lengthBucket(4000), lengthBucket(7999), lengthBucket(8000)], ['0-4k', '4-8k', '4-8k', '8k+']);
});
