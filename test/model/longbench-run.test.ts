// The LongBench runner over a folder in the official JSONL layout (hand-written records): every
// method sees the same prompts, stored scores are eval.py's scores of the stored predictions, the
// averages follow from the dataset scores, a rerun resumes, and unknown or missing data is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WavefilterError, loadModel } from '../../src/index.js';
import { runLongBench, summarizeLongBench } from '../../src/eval/longbench/run.js';
import { datasetScore, loadLongBench, longBenchAverages, scoreRecord } from '../../src/eval/longbench/datasets.js';
import type { MethodSpec } from '../../src/eval/methods.js';
import { LLADA_TINY } from '../helpers.js';

const DATA = join(import.meta.dirname, '..', 'fixtures', 'longbench');

test('runs datasets for a method grid, scores with eval.py rules, resumes', async () => {
  const model = await loadModel(LLADA_TINY);
  const out = mkdtempSync(join(tmpdir(), 'wf-lb-'));
  const methods: MethodSpec[] = [
    { name: 'dual', cache: 'dual', filter: 'none', budget: null, preset: null },
    { name: 'dual+snapkv@0.5', cache: 'dual', filter: 'snapkv', budget: 0.5, preset: null },
  ];
  const opts = { dataDir: DATA, datasets: ['passage_count', 'qasper'], e: false, limit: null, methods, outDir: out, blockLength: 32, threshold: 0.9 };
  const results = await runLongBench(model, opts);
  assert.equal(results.length, 3 * 2);
  const recs = new Map([...loadLongBench(DATA, 'passage_count'), ...loadLongBench(DATA, 'qasper')].map((r) => [r._id, r]));
  for (const r of results) assert.equal(r.score, scoreRecord(r.dataset, r.prediction, recs.get(r.id)!));
  const byMethod = (m: string) => results.filter((r) => r.method === m).map((r) => `${r.id}:${r.prompt_tokens}`);
  assert.deepEqual(byMethod('dual'), byMethod('dual+snapkv@0.5'));
  const s = summarizeLongBench(results, false);
  assert.equal(s.scores.dual.qasper, datasetScore(results.filter((r) => r.method === 'dual' && r.dataset === 'qasper').map((r) => r.score)));
  assert.deepEqual(s.averages.dual, { category_average: longBenchAverages(s.scores.dual).categoryAverage, dataset_average: longBenchAverages(s.scores.dual).datasetAverage });
  const again = await runLongBench(model, opts);
  assert.deepEqual(again.map((r) => r.prediction), results.map((r) => r.prediction));
  assert.equal(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').length, 6, 'nothing ran twice');
  await model.dispose();
});

test('unknown datasets and missing files are refused before any generation', async () => {
  const model = await loadModel(LLADA_TINY);
  const base = { dataDir: DATA, e: false, limit: null, methods: [{ name: 'dual', cache: 'dual' as const, filter: 'none' as const, budget: null, preset: null }], outDir: mkdtempSync(join(tmpdir(), 'wf-lb-')), blockLength: 32, threshold: 0.9 };
  await assert.rejects(runLongBench(model, { ...base, datasets: ['no_such_set'] }), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option' && /unknown LongBench dataset/.test(e.message));
  await assert.rejects(runLongBench(model, { ...base, datasets: ['hotpotqa'] }), (e: unknown) => e instanceof WavefilterError && e.code === 'file_not_found' && /hotpotqa\.jsonl/.test(e.message));
  await model.dispose();
});
