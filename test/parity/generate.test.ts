// Parity: LLaDA + Fast-dLLM (none / prefix / dual, fixed schedule and thresholds) and Dream's
// _sample (maskgit_plus, topk_margin, entropy): token-exact output_ids, equal NFE for LLaDA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/index.js';
import { DREAM_TINY, type DreamGenCase, LLADA_TINY, type LladaGenCase, reference } from '../helpers.js';

// 'auto' scores from the graph's float64 row summaries; 'js' is the plain full-row reference path.
for (const scoring of ['auto', 'js'] as const)
test(`all 36 LLaDA / Fast-dLLM generate cases are token-exact with equal nfe (scoring ${scoring})`, async () => {
  const model = await loadModel(LLADA_TINY);
  const cases = reference<LladaGenCase>(LLADA_TINY).generate;
  assert.equal(cases.length, 36);
  for (const c of cases) {
    const r = await model.generate({ inputIds: c.prompt_ids }, {
      genLength: c.gen_length, blockLength: c.block_length, steps: c.steps, threshold: c.threshold ?? null, cache: c.method, temperature: 0, scoring,
    });
    const what = `${c.method} gen ${c.gen_length} block ${c.block_length} steps ${c.steps} threshold ${c.threshold ?? '-'}`;
    assert.deepEqual(r.outputIds, c.output_ids, what);
    assert.equal(r.nfe, c.nfe, `nfe: ${what}`);
  }
  await model.dispose();
});

for (const scoring of ['auto', 'js'] as const)
test(`all 9 Dream sampling cases are token-exact (scoring ${scoring})`, async () => {
  const model = await loadModel(DREAM_TINY);
  const cases = reference<DreamGenCase>(DREAM_TINY).generate;
  assert.equal(cases.length, 9);
  for (const c of cases) {
    const r = await model.generate({ inputIds: c.prompt_ids }, { genLength: c.gen_length, steps: c.steps, alg: c.alg, eps: c.eps, temperature: 0, scoring });
    assert.deepEqual(r.outputIds, c.output_ids, `${c.alg} gen ${c.gen_length} steps ${c.steps}`);
  }
  await model.dispose();
});
