// Parity: LLaDA + Fast-dLLM (none / prefix / dual, fixed schedule and thresholds) and Dream's
// _sample (maskgit_plus, topk_margin, entropy): token-exact output_ids, equal NFE for LLaDA, on
// both executors: the step loop (graph summaries or plain JS scoring) and the block program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/index.js';
import { DREAM_TINY, type DreamGenCase, LLADA_TINY, type LladaGenCase, reference } from '../helpers.js';

// step + 'auto' scores from the graph's float64 row summaries; step + 'js' is the plain full-row
// reference path; block runs each denoising block as one ONNX Runtime run.
const PATHS = [
  { executor: 'step', scoring: 'auto' },
  { executor: 'step', scoring: 'js' },
  { executor: 'block', scoring: 'auto' },
] as const;

for (const { executor, scoring } of PATHS)
test(`all 36 LLaDA / Fast-dLLM generate cases are token-exact with equal nfe (executor ${executor}, scoring ${scoring})`, async () => {
  const model = await loadModel(LLADA_TINY);
  const cases = reference<LladaGenCase>(LLADA_TINY).generate;
  assert.equal(cases.length, 36);
  for (const c of cases) {
    const r = await model.generate({ inputIds: c.prompt_ids }, {
      genLength: c.gen_length, blockLength: c.block_length, steps: c.steps, threshold: c.threshold ?? null, cache: c.method, temperature: 0, scoring, executor,
    });
    const what = `${c.method} gen ${c.gen_length} block ${c.block_length} steps ${c.steps} threshold ${c.threshold ?? '-'}`;
    assert.deepEqual(r.outputIds, c.output_ids, what);
    assert.equal(r.nfe, c.nfe, `nfe: ${what}`);
    assert.equal(r.timings.executor, executor);
    if (executor === 'block') assert.equal(r.timings.ortRunsPerBlock, 1, `one run per block: ${what}`);
    else assert.equal(r.timings.ortRuns, r.nfe, `one run per forward: ${what}`);
  }
  await model.dispose();
});

for (const { executor, scoring } of PATHS)
test(`all 9 Dream sampling cases are token-exact (executor ${executor}, scoring ${scoring})`, async () => {
  const model = await loadModel(DREAM_TINY);
  const cases = reference<DreamGenCase>(DREAM_TINY).generate;
  assert.equal(cases.length, 9);
  for (const c of cases) {
    const r = await model.generate({ inputIds: c.prompt_ids }, { genLength: c.gen_length, steps: c.steps, alg: c.alg, eps: c.eps, temperature: 0, scoring, executor });
    assert.deepEqual(r.outputIds, c.output_ids, `${c.alg} gen ${c.gen_length} steps ${c.steps}`);
    assert.equal(r.timings.executor, executor);
    if (executor === 'block') assert.equal(r.timings.ortRuns, 1, 'one block, one run');
  }
  await model.dispose();
});
