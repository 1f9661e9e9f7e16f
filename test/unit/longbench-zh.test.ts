// The Chinese LongBench metrics against Python: jieba 0.42.1's segmentation and LongBench's qa_f1_zh,
// recorded by test/fixtures/make-jieba-golden.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jiebaCut, normalizeZhAnswer, qaF1Zh, rougeL, rougeZh } from '../../src/eval/longbench/metrics.js';
import { scoreRecord } from '../../src/eval/longbench/datasets.js';

const golden = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'jieba-golden.json'), 'utf8')) as {
  cuts: Array<{ text: string; tokens: string[] }>;
  qa_f1_zh: Array<{ prediction: string; gold: string; score: number }>;
};

test('segmentation equals Python jieba (accurate mode, HMM) on every golden sentence', () => {
  for (const c of golden.cuts) assert.deepEqual(jiebaCut(c.text), c.tokens, c.text);
});

test('qa_f1_zh equals LongBench computed in Python', () => {
  for (const p of golden.qa_f1_zh) assert.ok(Math.abs(qaF1Zh(p.prediction, p.gold) - p.score) < 1e-12, `${p.prediction} / ${p.gold}: ${qaF1Zh(p.prediction, p.gold)} vs ${p.score}`);
});

test('normalize_zh_answer and rouge_zh by hand', () => {
  // upstream's list has '》' but not '《', so the opening bracket survives
  assert.equal(normalizeZhAnswer('《红楼梦》 Is “Great”！'), '《红楼梦isgreat');
  // rouge_zh is the English rouge over space-joined jieba tokens
  assert.equal(rougeZh('我来到北京', '我来到北京清华大学'), rougeL('我 来到 北京', '我 来到 北京 清华大学'));
  assert.equal(scoreRecord('multifieldqa_zh', '曹雪芹', { answers: ['《红楼梦》的作者是曹雪芹。', '曹雪芹'], all_classes: null }), 1);
});
