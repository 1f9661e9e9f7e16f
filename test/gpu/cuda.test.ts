// GPU tests: ONNX Runtime's CUDA provider against the CPU and the reference outputs. They need a
// CUDA GPU and the provider libraries; `npm run test:gpu` (or the bundled run on the GPU machine,
// bench/gpu/README.md) sets WAVEFILTER_GPU=1. Everywhere else (CI) they are skipped, and say so.
//   - fp32 logits on CUDA within 1e-4 of the CPU's (TF32 off: LoadOptions.tf32 defaults to false);
//   - the 36 LLaDA / Fast-dLLM and 9 Dream reference cases token-exact on CUDA, on both executors;
//   - the 30 Elastic-Cache reference cases on llada-tiny, on both executors;
//   - a filtered 2K-token generation on the bundled model: same tokens and kept rows on both executors;
//   - the command line with --device cuda --dtype fp16 (the bundle's cli.mjs on the GPU machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/index.js';
import { BUNDLED_MODEL, DREAM_TINY, type DreamGenCase, FIXTURES, LLADA_TINY, type LladaGenCase, reference } from '../helpers.js';

const GPU = process.env.WAVEFILTER_GPU === '1';
const skip = GPU ? false : 'no GPU here: set WAVEFILTER_GPU=1 on a machine with a CUDA GPU and ORT\'s CUDA provider (npm run test:gpu)';
const DEVICE = (process.env.WAVEFILTER_DEVICE ?? 'cuda') as 'cuda';

for (const dir of [LLADA_TINY, DREAM_TINY, BUNDLED_MODEL])
  // 1e-4, scaled for logits beyond 10 in magnitude: measured 1.04e-4 absolute on llada-tiny, whose logits reach 41
  // (2.5e-6 relative: float32 accumulation order), 7.5e-5 on dream-tiny, 2.2e-5 on the bundled model
  test(`CUDA fp32 logits are within 1e-4 of the CPU's (scaled by the logits' magnitude / 10 above 10) (${dir.split('/').pop()})`, { skip }, async () => {
    const cpu = await loadModel(dir, { executor: 'step' });
    const gpu = await loadModel(dir, { device: DEVICE, executor: 'step' });
    const ids = Array.from({ length: 200 }, (_, i) => ((i * 7919 + 13) % (cpu.spec.vocabSize - 3)) + 1).map((x) => (x === cpu.spec.maskTokenId ? x + 1 : x));
    const a = await cpu.logits(ids);
    const b = await gpu.logits(ids);
    let max = 0;
    let scale = 1;
    for (let i = 0; i < a.length; i++)
      for (let j = 0; j < a[i].length; j++) {
        max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
        scale = Math.max(scale, Math.abs(a[i][j]));
      }
    console.log(`max |cuda - cpu| = ${max.toExponential(2)} at logits up to ${scale.toFixed(1)} (${dir.split('/').pop()})`);
    assert.ok(max < 1e-4 * Math.max(1, scale / 10), `max |diff| ${max} at logits up to ${scale}`);
    await cpu.dispose();
    await gpu.dispose();
  });

for (const executor of ['step', 'block'] as const) {
  test(`CUDA: all 36 LLaDA / Fast-dLLM reference cases token-exact (executor ${executor})`, { skip }, async () => {
    const m = await loadModel(LLADA_TINY, { device: DEVICE, executor });
    const cases = reference<LladaGenCase>(LLADA_TINY).generate;
    for (const c of cases) {
      const r = await m.generate({ inputIds: c.prompt_ids }, { genLength: c.gen_length, blockLength: c.block_length, steps: c.steps, threshold: c.threshold ?? null, cache: c.method, executor });
      const what = `${c.method} gen ${c.gen_length} block ${c.block_length} steps ${c.steps} threshold ${c.threshold ?? '-'}`;
      assert.deepEqual(r.outputIds, c.output_ids, what);
      assert.equal(r.nfe, c.nfe, `nfe: ${what}`);
    }
    await m.dispose();
  });
  test(`CUDA: all 9 Dream reference cases token-exact (executor ${executor})`, { skip }, async () => {
    const m = await loadModel(DREAM_TINY, { device: DEVICE, executor });
    for (const c of reference<DreamGenCase>(DREAM_TINY).generate) {
      const r = await m.generate({ inputIds: c.prompt_ids }, { genLength: c.gen_length, steps: c.steps, alg: c.alg, eps: c.eps, executor });
      assert.deepEqual(r.outputIds, c.output_ids, `${c.alg} gen ${c.gen_length} steps ${c.steps}`);
    }
    await m.dispose();
  });
  // Elastic-Cache (fp32): its step graph, or its ORT Loop program (NonZero, Unique, TopK inside the Loop)
  test(`CUDA: all 30 Elastic-Cache reference cases on llada-tiny token-exact with equal NFE and refreshes (executor ${executor})`, { skip }, async () => {
    const m = await loadModel(LLADA_TINY, { device: DEVICE });
    const ref = JSON.parse(readFileSync(join(FIXTURES, 'elastic-tiny', 'reference.json'), 'utf8')) as { generate: { prompt_ids: number[]; gen_length: number; window_length: number; threshold: number | null; tokens_per_iter: number; gamma: number; track_num: number; block_caching: boolean; eos_id: number; output_ids: number[]; nfe: number; refreshes: { step: number; from_layer: number }[] }[] };
    for (const [i, c] of ref.generate.entries()) {
      const r = await m.generateElastic({ inputIds: c.prompt_ids }, {
        genLength: c.gen_length, window: c.window_length, threshold: c.threshold, tokensPerIter: c.tokens_per_iter, gamma: c.gamma, trackNum: c.track_num, blockCaching: c.block_caching, eosId: c.eos_id, executor,
      });
      assert.equal(r.executor, executor);
      assert.deepEqual([r.outputIds, r.nfe, r.refreshes.map((x) => [x.step, x.fromLayer])], [c.output_ids, c.nfe, c.refreshes.map((x) => [x.step, x.from_layer])], `case ${i}`);
    }
    await m.dispose();
  });
}

test('CUDA: WaveFilter on the dual cache keeps the same rows and tokens on every executor (bundled model, 2K prompt)', { skip }, async () => {
  const m = await loadModel(BUNDLED_MODEL, { device: DEVICE, sessions: 2 });
  const p = Array.from({ length: 2048 }, (_, i) => ((i * 7919 + 17) % (m.spec.vocabSize - 3)) + 1).map((x) => (x === m.spec.maskTokenId ? x + 1 : x));
  for (const promptRefresh of ['first-block', 'every-block'] as const) {
    const kept: Record<string, string[]> = { step: [], block: [] };
    const run = (executor: 'step' | 'block') => m.generate({ inputIds: p }, {
      genLength: 64, blockLength: 32, steps: 64, cache: 'dual', filter: 'wavefilter', budget: 0.1, executor, promptRefresh,
      onKept: (e) => kept[executor].push(e.tokens.map((t) => t.join(',')).join('|')),
    });
    const a = await run('step');
    const b = await run('block');
    assert.deepEqual(b.outputIds, a.outputIds, promptRefresh);
    assert.deepEqual(kept.block, kept.step, promptRefresh);
    assert.equal(b.timings.ortRunsPerBlock, 1);
    if (promptRefresh === 'first-block') {
      // the generation program: both blocks in one run, the prompt's K/V never leaving the device
      const g = await m.generate({ inputIds: p }, { genLength: 64, blockLength: 32, steps: 64, cache: 'dual', filter: 'wavefilter', budget: 0.1, executor: 'generation', promptRefresh });
      assert.deepEqual(g.outputIds, a.outputIds, 'generation program');
      assert.equal(g.timings.ortRuns, 1);
    }
  }
  // unless told, a run nobody can cancel is one generation program with the filter's first-block refresh
  const d = await m.generate({ inputIds: p }, { genLength: 64, blockLength: 32, steps: 64, cache: 'dual', filter: 'wavefilter', budget: 0.1 });
  assert.equal(d.options.promptRefresh, 'first-block');
  assert.equal(d.timings.executor, 'generation');
  // a single block runs on the block program, which refreshes every block there (nothing to keep)
  const one = await m.generate({ inputIds: p }, { genLength: 32, blockLength: 32, steps: 32, cache: 'dual', filter: 'wavefilter', budget: 0.1 });
  assert.equal(one.options.promptRefresh, 'every-block');
  assert.equal(one.timings.executor, 'block');
  await m.dispose();
});

test('without the CUDA provider, device cuda is a typed device_unavailable; a bad device string is invalid_option', { skip: GPU ? 'a GPU is present' : false }, async () => {
  await assert.rejects(loadModel(LLADA_TINY, { device: 'cuda' }), (e: Error & { code?: string; details?: { device?: string } }) => e.code === 'device_unavailable' && e.details?.device === 'cuda:0' && /--device cpu/.test(e.message));
  for (const device of ['gpu', 'cuda:', 'cuda:x', 'cuda:1:2', 'CUDA'])
    await assert.rejects(loadModel(LLADA_TINY, { device: device as 'cuda' }), (e: Error & { code?: string }) => e.code === 'invalid_option' && /cpu, cuda or cuda:N/.test(e.message), device);
});

test('CUDA fp16: the reference cases on the block program agree with fp32 on most tokens (measured agreement printed)', { skip }, async () => {
  let same = 0;
  let total = 0;
  for (const [dir, cases] of [[LLADA_TINY, reference<LladaGenCase>(LLADA_TINY).generate], [DREAM_TINY, reference<DreamGenCase>(DREAM_TINY).generate]] as const) {
    const m = await loadModel(dir, { device: DEVICE, dtype: 'fp16' });
    for (const c of cases as readonly (LladaGenCase | DreamGenCase)[]) {
      const o = 'method' in c
        ? { genLength: c.gen_length, blockLength: c.block_length, steps: c.steps, threshold: c.threshold ?? null, cache: c.method }
        : { genLength: c.gen_length, steps: c.steps, alg: c.alg, eps: c.eps };
      const r = await m.generate({ inputIds: c.prompt_ids }, o);
      assert.equal(r.timings.executor, 'block');
      const gen = r.outputIds.slice(c.prompt_ids.length);
      const ref = c.output_ids.slice(c.prompt_ids.length);
      gen.forEach((t, i) => (same += t === ref[i] ? 1 : 0));
      total += ref.length;
    }
    await m.dispose();
  }
  console.log(`fp16 vs the fp32 reference: ${same} of ${total} generated tokens equal (${((100 * same) / total).toFixed(1)}%)`);
  // random-weight tiny models have near-ties that fp16 rounding flips; a broken fp16 graph agrees on almost none
  assert.ok(same / total > 0.5, `${same} of ${total}`);
});

// The command line on the GPU, as a user runs it: fp16 on the block program, a plain prompt, JSON out.
test('CUDA: wavefilter generate --device cuda --dtype fp16 answers from the command line (bundled model)', { skip }, () => {
  // from the TypeScript sources through tsx, or from the GPU bundle's cli.mjs beside this module
  const bundled = !import.meta.url.endsWith('.ts');
  const cli = bundled ? [fileURLToPath(new URL('./cli.mjs', import.meta.url))] : ['--import', 'tsx', fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))];
  const r = spawnSync(process.execPath, [...cli, 'generate', '--device', DEVICE, '--dtype', 'fp16', '--prompt', 'What is the capital of France?', '--gen-length', '32', '--block-length', '32', '--steps', '32', '--cache', 'dual', '--json'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { output_ids: number[]; generated_ids: number[]; nfe: number; timings: { executor: string } };
  assert.equal(out.generated_ids.length, 32);
  assert.ok(out.nfe >= 2 && out.nfe <= 32, `nfe ${out.nfe}`);
  assert.equal(out.timings.executor, 'block');
});
