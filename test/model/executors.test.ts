// The block executor (one ONNX Runtime run per denoising block) against the step executor (one run
// per forward, scored in JavaScript), on the bundled model and on tiny Dream (GQA, shifted logits):
// same tokens and the same NFE for every cache host, decoding rule and prompt-refresh mode; a new
// host is one policy that both run; options the block program does not cover are named. Every host
// x filter pair is in the shared conformance suite (test/conformance/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type GenerateOptions, WavefilterError, cacheHostNames, loadModel, registerCacheHost } from '../../src/index.js';
import { DREAM_TINY, LLADA_TINY } from '../helpers.js';
import { defaultModelDir } from '../../src/cli/paths.js';
import { lookaheadHost } from '../fixtures/hosts/lookahead/index.js';

const BUNDLED = defaultModelDir() as string;

function prompt(n: number, vocab: number, mask: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i * 7919 + salt * 131 + 17) % (vocab - 3)) + 1).map((x) => (x === mask ? x + 1 : x));
}

const RULES: GenerateOptions[] = [{}, { threshold: 0.9 }, { threshold: 0.2 }, { factor: 1 }, { factor: 4 }];

for (const [name, dir, algs] of [['bundled LLaDA', BUNDLED, [undefined]], ['tiny Dream', DREAM_TINY, ['entropy', 'maskgit_plus', 'topk_margin']]] as const)
  test(`block and step executors agree token for token (${name}: hosts x rules x prompt refresh)`, async () => {
    const m = await loadModel(dir);
    const p = prompt(name === 'tiny Dream' ? 40 : 300, m.spec.vocabSize, m.spec.maskTokenId, 1);
    let n = 0;
    for (const cache of ['none', 'prefix', 'dual'] as const)
      for (const rule of RULES)
        for (const promptRefresh of cache === 'none' ? (['every-block'] as const) : (['every-block', 'first-block'] as const))
          for (const alg of algs) {
            const o: GenerateOptions = { genLength: 24, blockLength: 8, steps: 12, cache, promptRefresh, ...rule, ...(alg ? { alg } : {}) };
            const a = await m.generate({ inputIds: p }, { ...o, executor: 'step' });
            const b = await m.generate({ inputIds: p }, { ...o, executor: 'block' });
            const what = JSON.stringify(o);
            assert.deepEqual(b.outputIds, a.outputIds, what);
            assert.equal(b.nfe, a.nfe, `nfe ${what}`);
            assert.equal(b.timings.ortRuns, 3, `one run per block: ${what}`);
            assert.equal(a.timings.ortRuns, a.nfe, `one run per forward: ${what}`);
            assert.equal(b.timings.refreshes, a.timings.refreshes, `refreshes ${what}`);
            n++;
          }
    assert.ok(n >= 25);
    await m.dispose();
  });

test('the block executor replays every step as an event, with the same commits as the step loop', async () => {
  const m = await loadModel(BUNDLED);
  const p = prompt(200, m.spec.vocabSize, m.spec.maskTokenId, 2);
  const events: Record<string, { committed: number[]; settled: number; masked: number; refresh: boolean }[]> = { step: [], block: [] };
  for (const executor of ['step', 'block'] as const)
    await m.generate({ inputIds: p }, {
      genLength: 16, blockLength: 8, steps: 8, cache: 'dual', threshold: 0.5, executor,
      onStep: (e) => events[executor].push({ committed: [...e.committed].sort((x, y) => x - y), settled: e.settled, masked: e.canvas.filter((t) => t === m.spec.maskTokenId).length, refresh: e.refresh }),
    });
  assert.deepEqual(events.block, events.step);
  await m.dispose();
});

test('a new cache host is one policy: registered once, run by both executors, between dual and prefix', async () => {
  registerCacheHost(lookaheadHost(0));
  registerCacheHost(lookaheadHost(4));
  registerCacheHost(lookaheadHost(1000));
  assert.ok(cacheHostNames().includes('lookahead-4'));
  assert.throws(() => registerCacheHost(lookaheadHost(4)), (e: unknown) => e instanceof WavefilterError && /already registered/.test(e.message));
  const m = await loadModel(BUNDLED);
  const p = prompt(160, m.spec.vocabSize, m.spec.maskTokenId, 3);
  const o: GenerateOptions = { genLength: 24, blockLength: 8, steps: 24 };
  const run = async (cache: string, executor: 'step' | 'block') => (await m.generate({ inputIds: p }, { ...o, cache, executor })).outputIds;
  for (const executor of ['step', 'block'] as const) {
    // n = 0 recomputes exactly the block (dual); n past the canvas recomputes block + suffix (prefix)
    assert.deepEqual(await run('lookahead-0', executor), await run('dual', executor), `lookahead-0 = dual (${executor})`);
    assert.deepEqual(await run('lookahead-1000', executor), await run('prefix', executor), `lookahead-1000 = prefix (${executor})`);
  }
  assert.deepEqual(await run('lookahead-4', 'block'), await run('lookahead-4', 'step'));
  await assert.rejects(m.generate({ inputIds: p }, { ...o, cache: 'lookahead-x' }), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option' && /lookahead-4/.test(e.message));
  await m.dispose();
});

test("executor 'block' names the option it cannot run; 'auto' falls back to the step loop", async () => {
  const m = await loadModel(BUNDLED);
  const p = prompt(50, m.spec.vocabSize, m.spec.maskTokenId, 4);
  const cases: [GenerateOptions & { filter?: 'wavefilter'; wave?: { schedule: 'on-drift' } }, RegExp][] = [
    [{ confidenceEosEotInf: true }, /confidenceEosEotInf/],
    [{ logitsEosInf: true }, /logitsEosInf/],
    [{ cache: 'dual', filter: 'wavefilter', wave: { schedule: 'on-drift' } }, /on-drift/],
    [{ scoring: 'js' }, /scoring 'js'/],
  ];
  for (const [o, why] of cases) {
    await assert.rejects(m.generate({ inputIds: p }, { genLength: 8, ...o, executor: 'block' }), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option' && why.test(e.message), JSON.stringify(o));
    const r = await m.generate({ inputIds: p }, { genLength: 8, ...o });
    assert.equal(r.timings.executor, 'step', JSON.stringify(o));
  }
  assert.equal((await m.generate({ inputIds: p }, { genLength: 8 })).timings.executor, 'block', 'the default where supported');
  await assert.rejects(m.generate({ inputIds: p }, { genLength: 8, executor: 'fast' as never }), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option' && /auto, step, block/.test(e.message));
  await m.dispose();
});

test('the random rules read the same seeded draws on both executors (sampling, LLaDA random remasking, Dream origin)', async () => {
  for (const [dir, o] of [
    [BUNDLED, { remasking: 'random' }],
    [BUNDLED, { remasking: 'random', threshold: 0.5 }],
    [BUNDLED, { temperature: 0.8 }],
    [BUNDLED, { temperature: 1.5, remasking: 'random' }],
    // (hot enough that the bundled model, which answers this random-token prompt with end-of-text, still varies)
    [BUNDLED, { temperature: 1.5, threshold: 0.5 }],
    [DREAM_TINY, { alg: 'origin' }],
    [DREAM_TINY, { alg: 'origin', temperature: 0.4 }],
    [DREAM_TINY, { temperature: 0.6, topP: 0.9 }],
    [DREAM_TINY, { temperature: 0.6, topK: 20, alg: 'entropy' }],
    [DREAM_TINY, { temperature: 1, topP: 0.95, topK: 50, alg: 'topk_margin', threshold: 0.1 }],
    [DREAM_TINY, { topP: 0.5 }],
    [DREAM_TINY, { topK: 3, alg: 'topk_margin' }],
  ] as [string, GenerateOptions][]) {
    const m = await loadModel(dir, { sessions: 3 });
    const p = prompt(60, m.spec.vocabSize, m.spec.maskTokenId, 6);
    const seen = new Set<string>();
    for (const cache of ['none', 'prefix', 'dual'] as const)
      for (const seed of [0, 1, 2]) {
        const opts: GenerateOptions = { genLength: 24, blockLength: 8, steps: 12, cache, seed, ...o };
        const a = await m.generate({ inputIds: p }, { ...opts, executor: 'step' });
        const b = await m.generate({ inputIds: p }, { ...opts, executor: 'block' });
        const what = JSON.stringify(opts);
        assert.equal(b.timings.executor, 'block', what);
        assert.deepEqual(b.outputIds, a.outputIds, what);
        assert.equal(b.nfe, a.nfe, `nfe ${what}`);
        seen.add(a.generatedIds.join(','));
      }
    // the seed matters: a rule that ignored its draws would give one answer for every seed
    if (o.temperature || o.remasking || o.alg === 'origin') assert.ok(seen.size > 1, `different seeds, different answers (${JSON.stringify(o)})`);
    await m.dispose();
  }
});

test('classifier-free guidance runs in the block program (both forwards in the graph) with the step loop\'s tokens', async () => {
  const m = await loadModel(LLADA_TINY, { sessions: 2 }); // random weights: guidance visibly changes the answer
  const p = prompt(80, m.spec.vocabSize, m.spec.maskTokenId, 7);
  const answers = new Set<string>();
  for (const cfgScale of [0.5, 2])
    for (const o of [{}, { threshold: 0.7 }] as GenerateOptions[]) {
      const opts: GenerateOptions = { genLength: 16, blockLength: 8, steps: 8, cfgScale, ...o };
      const a = await m.generate({ inputIds: p }, { ...opts, executor: 'step' });
      const b = await m.generate({ inputIds: p }, { ...opts, executor: 'block' });
      assert.equal(b.timings.executor, 'block');
      assert.equal(b.timings.ortRunsPerBlock, 1);
      assert.deepEqual(b.outputIds, a.outputIds, JSON.stringify(opts));
      assert.equal(b.nfe, a.nfe);
      answers.add(a.generatedIds.join(','));
    }
  answers.add((await m.generate({ inputIds: p }, { genLength: 16, blockLength: 8, steps: 8 })).generatedIds.join(','));
  assert.ok(answers.size > 1, 'guidance changes the answer (so the test can fail)');
  await m.dispose();
});
