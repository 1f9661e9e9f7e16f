// The shared conformance suite: every cache host in the registry (the built-ins and a host
// registered from a fixture folder) x every token filter, on both executors. A host or filter added
// to a registry is in this suite without editing it. Checked for each pair:
// - the executors agree: same tokens, NFE, refreshes, selections, and the same kept prompt rows
//   per layer and KV head after every block (onKept);
// - invariants: the prompt is unchanged, nothing stays masked, one ORT run per block on the block
//   executor, each block runs at least the host's minimum forwards, kept rows never exceed the
//   prompt and a filter's kept rows are about its budget;
// - a filter at budget 1 (every prompt row kept) decodes exactly like the host alone;
// - batched (src/batch/): every configuration of the host run at once with executor 'batch', their
//   forwards packed together, gives each the step executor's tokens, NFE and kept rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type GenerateOutput, type ModelGenerateOptions, FILTER_NAMES, TOKEN_FILTERS, cacheHostNames, cacheHostPolicy, loadModel, registerCacheHost } from '../../src/index.js';
import { DREAM_TINY } from '../helpers.js';
import { defaultModelDir } from '../../src/cli/paths.js';
import { lookaheadHost } from '../fixtures/hosts/lookahead/index.js';
import { WaveFilter } from '../../src/filter/wavefilter/index.js';

registerCacheHost(lookaheadHost(2));

const MODELS = [['bundled LLaDA', defaultModelDir() as string, 300], ['tiny Dream', DREAM_TINY, 301]] as const;
const BLOCKS = 2;

test('the filter names are the registry: none plus one entry per filter folder', () => {
  assert.deepEqual([...FILTER_NAMES].sort(), ['none', ...TOKEN_FILTERS.map((f) => f.name)].sort());
});

function prompt(n: number, vocab: number, mask: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i * 7919 + 5 * 131 + 17) % (vocab - 3)) + 1).map((x) => (x === mask ? x + 1 : x));
}

for (const [name, dir, P] of MODELS)
  for (const host of cacheHostNames())
    test(`conformance: host ${host} x every filter, both executors (${name})`, async () => {
      const policy = cacheHostPolicy(host);
      const m = await loadModel(dir, { sessions: 4 });
      const p = prompt(P, m.spec.vocabSize, m.spec.maskTokenId);
      const filters = policy.acceptsFilter ? FILTER_NAMES : (['none'] as const);
      const alone: Record<string, GenerateOutput> = {};
      const byStep: { o: ModelGenerateOptions; r: GenerateOutput }[] = [];
      for (const filter of filters)
        for (const budget of filter === 'none' ? [null] : [0.1, 0.25, 1])
          for (const promptRefresh of policy.cached ? (['every-block', 'first-block'] as const) : (['every-block'] as const)) {
            const o: ModelGenerateOptions = { genLength: 8 * BLOCKS, blockLength: 8, steps: 8 * BLOCKS, cache: host, filter, budget, promptRefresh };
            const what = JSON.stringify(o);
            const kept: Record<string, string[]> = { step: [], block: [] };
            const run = (executor: 'step' | 'block') => m.generate({ inputIds: p }, {
              ...o, executor, onKept: (e) => kept[executor].push(`${e.block}:${e.tokens.map((t) => t.join(',')).join('|')}`),
            });
            const a = await run('step');
            const b = await run('block');
            byStep.push({ o, r: a });
            // the executors agree
            assert.deepEqual(b.outputIds, a.outputIds, what);
            assert.equal(b.nfe, a.nfe, `nfe ${what}`);
            assert.equal(b.timings.refreshes, a.timings.refreshes, `refreshes ${what}`);
            assert.equal(b.timings.selections, a.timings.selections, `selections ${what}`);
            assert.deepEqual(kept.block, kept.step, `kept rows ${what}`);
            assert.equal(b.timings.keptPromptRows, a.timings.keptPromptRows, `kept rows per head ${what}`);
            // invariants
            for (const r of [a, b]) {
              assert.deepEqual(r.outputIds.slice(0, P), p, `prompt unchanged ${what}`);
              assert.ok(!r.generatedIds.includes(m.spec.maskTokenId), `nothing masked ${what}`);
              assert.equal(r.stopReason, 'done');
              assert.ok(r.nfe >= BLOCKS * policy.minForwardsPerBlock, `minimum forwards ${what}`);
              if (r.timings.keptPromptRows !== null) {
                assert.ok(r.timings.keptPromptRows <= P, `kept <= prompt ${what}`);
                if (budget !== null && budget < 1) assert.ok(r.timings.keptPromptRows <= budget * P + 72, `about the budget ${what}: ${r.timings.keptPromptRows}`);
              }
            }
            assert.equal(b.timings.executor, 'block');
            assert.equal(b.timings.ortRunsPerBlock, 1, `one run per block ${what}`);
            if (filter === 'none') alone[promptRefresh] = a;
            else if (budget === 1) assert.deepEqual(a.outputIds, alone[promptRefresh].outputIds, `budget 1 = the host alone ${what}`);
          }
      const before = await m.withBatcher(async (bt) => bt.stats());
      const batched = await Promise.all(byStep.map(({ o }) => m.generate({ inputIds: p }, { ...o, executor: 'batch' })));
      const after = await m.withBatcher(async (bt) => bt.stats());
      batched.forEach((r, i) => {
        const { o, r: a } = byStep[i];
        assert.deepEqual(r.outputIds, a.outputIds, `batched ${JSON.stringify(o)}`);
        assert.equal(r.nfe, a.nfe, `batched nfe ${JSON.stringify(o)}`);
        assert.equal(r.timings.keptPromptRows, a.timings.keptPromptRows, `batched kept rows ${JSON.stringify(o)}`);
      });
      if (byStep.length > 1) assert.ok(after.packs - before.packs < after.forwards - before.forwards, 'the configurations\' forwards were packed together');
      await m.dispose();
    });

// The GPU path's graph (GraphTuning: ORT's fused norm / rotary kernels, one Q|K|V projection, the
// steps' attention fixed per host and the rule per kind, flash attention over [rows before | fresh
// window | rows after]) built in fp32 on the CPU, where it must give the standard block program's
// tokens and kept rows for every host x filter.
for (const [name, dir, P] of MODELS)
  test(`conformance: the GPU path's graph gives the standard program's tokens, every host x filter (${name})`, async () => {
    const standard = await loadModel(dir, { sessions: 8, executor: 'block' });
    const tuned = await loadModel(dir, { sessions: 8, executor: 'block', graph: { lean: true, packed: true, fixedStepAttention: true, fixedRule: true, cachedAttention: 'replace' } });
    const p = prompt(P, standard.spec.vocabSize, standard.spec.maskTokenId);
    for (const host of cacheHostNames()) {
      const policy = cacheHostPolicy(host);
      for (const filter of policy.acceptsFilter ? FILTER_NAMES : (['none'] as const))
        for (const promptRefresh of policy.cached ? (['every-block', 'first-block'] as const) : (['every-block'] as const)) {
          const o: ModelGenerateOptions = { genLength: 8 * BLOCKS, blockLength: 8, steps: 8 * BLOCKS, cache: host, filter, budget: filter === 'none' ? null : 0.1, promptRefresh };
          const kept: Record<string, string[]> = { standard: [], tuned: [] };
          const run = (m: typeof standard, k: string) => m.generate({ inputIds: p }, { ...o, onKept: (e) => kept[k]?.push(`${e.block}:${e.tokens.map((t) => t.join(',')).join('|')}`) });
          const a = await run(standard, 'standard');
          const b = await run(tuned, 'tuned');
          assert.deepEqual(b.outputIds, a.outputIds, JSON.stringify(o));
          assert.equal(b.nfe, a.nfe);
          assert.deepEqual(kept.tuned, kept.standard, `kept rows ${JSON.stringify(o)}`);
        }
    }
    await standard.dispose();
    await tuned.dispose();
  });

// WaveFilter's knobs that change the block program's graph: question queries (the prompt
// window's rows voting beside the block's; the step executor stacks them in JavaScript, the block
// program in its graph; the first-block refresh reuses the first block's window queries) and dense
// layers (a layer keeps every prompt row, so layers keep different row counts: once a crash of the
// block program, ORT reusing a buffer sized for another layer), the token share (single rows
// beside the pyramid's) and the sample share (rows spread evenly beside both). Same rows, same tokens, under
// either prompt refresh and with a selection before every cached step.
for (const [name, dir, P] of MODELS)
  test(`conformance: WaveFilter question queries, dense layers, token and sample shares, both executors (${name})`, async () => {
    const m = await loadModel(dir, { sessions: 4 });
    const p = prompt(P, m.spec.vocabSize, m.spec.maskTokenId);
    for (const knob of [{ questionQueries: 16 }, { denseLayers: [0] }, { tokenShare: 0.5 }, { tokenShare: 0.25, sampleShare: 0.25 }, { tokenShare: 0.25, tokenPool: 5 }, { tailRefresh: true }, { tailRefresh: true, tailRefreshPast: 'all' as const }])
      for (const schedule of ['once-per-block', 'every-step'] as const)
        for (const promptRefresh of ['every-block', 'first-block'] as const) {
          const o: ModelGenerateOptions = { genLength: 8 * BLOCKS, blockLength: 8, steps: 8 * BLOCKS, cache: 'dual', filter: 'wavefilter', budget: 0.1, promptRefresh, wave: { ...knob, schedule } };
          const kept: Record<string, string[]> = { step: [], block: [] };
          const run = (executor: 'step' | 'block') => m.generate({ inputIds: p }, {
            ...o, executor, onKept: (e) => kept[executor].push(`${e.block}:${e.tokens.map((t) => t.join(',')).join('|')}`),
          });
          const a = await run('step');
          const b = await run('block');
          const what = JSON.stringify(o);
          assert.deepEqual(b.outputIds, a.outputIds, what);
          assert.deepEqual(kept.block, kept.step, `kept rows ${what}`);
          assert.equal(b.timings.selections, a.timings.selections, `selections ${what}`);
          assert.equal(b.timings.ortRunsPerBlock, 1);
        }
    await m.dispose();
  });

// The refreshed tail (WaveFilter's tailRefresh): a later block's refresh recomputes the trailing
// prompt rows with the generation rows. A tail that covers the whole prompt recomputes every row
// against nothing stale, which is the every-block refresh: same tokens and kept rows, on the step
// executor, the block program and the generation program, whether the tail attends to the kept
// rows or to every prompt row (both masked whole then).
for (const [name, dir, P] of MODELS)
  test(`conformance: a refreshed tail covering the whole prompt is the every-block refresh, every executor (${name})`, async () => {
    const m = await loadModel(dir, { sessions: 4 });
    const p = prompt(P, m.spec.vocabSize, m.spec.maskTokenId);
    const base: ModelGenerateOptions = { genLength: 24, blockLength: 8, steps: 24, cache: 'dual', filter: 'wavefilter', budget: 0.1 };
    const keptOf = async (o: ModelGenerateOptions) => {
      const kept: string[] = [];
      const r = await m.generate({ inputIds: p }, { ...o, onKept: (e) => kept.push(`${e.block}:${e.tokens.map((t) => t.join(',')).join('|')}`) });
      return { ids: r.outputIds, kept, refreshes: r.timings.refreshes };
    };
    const truth = await keptOf({ ...base, promptRefresh: 'every-block', executor: 'step' });
    const proto = WaveFilter.prototype as unknown as { refreshTail(p: number): number };
    const own = proto.refreshTail;
    proto.refreshTail = (n: number) => n;
    try {
      for (const tailRefreshPast of ['kept', 'all'] as const)
        for (const executor of ['step', 'block', 'generation'] as const) {
          const got = await keptOf({ ...base, promptRefresh: 'first-block', executor, wave: { tailRefresh: true, tailRefreshPast } });
          assert.deepEqual(got.ids, truth.ids, `${executor} ${tailRefreshPast}`);
          assert.deepEqual(got.kept, executor === 'generation' ? truth.kept.slice(-1) : truth.kept, `kept rows ${executor} ${tailRefreshPast}`);
        }
    } finally {
      proto.refreshTail = own;
    }
    // and the real tail changes what a later block decodes from (the knob is not a no-op)
    const off = await keptOf({ ...base, promptRefresh: 'first-block', executor: 'block' });
    const on = await keptOf({ ...base, promptRefresh: 'first-block', executor: 'block', wave: { tailRefresh: true } });
    assert.ok(on.kept.some((k, i) => k !== off.kept[i]) || on.ids.some((t, i) => t !== off.ids[i]), 'the refreshed tail changes the later blocks');
    await m.dispose();
  });

// The generation program (every block in one run, the first-block prompt refresh): for every
// cached host x filter, on the standard graph and on the GPU path's, the block program's tokens,
// NFE, refreshes, selections and last kept rows; three blocks so its Loop over blocks runs twice;
// WaveFilter's every-step schedule and knobs, and sampling (the draws read across blocks). A
// filter whose state is carried between blocks on the host (H2O) is refused by name.
for (const [name, dir, P] of MODELS)
  test(`conformance: the generation program gives the block program's tokens, every cached host x filter (${name})`, async () => {
    const m = await loadModel(dir, { sessions: 8 });
    const tuned = await loadModel(dir, { sessions: 8, graph: { lean: true, packed: true, fixedStepAttention: true, fixedRule: true, cachedAttention: 'replace' } });
    const p = prompt(P, m.spec.vocabSize, m.spec.maskTokenId);
    const cases: ModelGenerateOptions[] = [];
    for (const host of cacheHostNames().filter((h) => cacheHostPolicy(h).cached))
      for (const filter of cacheHostPolicy(host).acceptsFilter ? FILTER_NAMES : (['none'] as const)) cases.push({ cache: host, filter, budget: filter === 'none' ? null : 0.1 });
    for (const wave of [{ schedule: 'every-step' as const }, { questionQueries: 16 }, { denseLayers: [0] }, { tokenShare: 0.5 }, { tokenShare: 0.25, sampleShare: 0.25 }, { tokenShare: 0.25, tokenPool: 5 }, { tailRefresh: true }, { tailRefresh: true, tailRefreshPast: 'all' as const }]) cases.push({ cache: 'dual', filter: 'wavefilter', budget: 0.1, wave });
    cases.push({ cache: 'dual', filter: 'wavefilter', budget: 0.1, temperature: 0.7, seed: 5 });
    for (const c of cases) {
      const o: ModelGenerateOptions = { genLength: 24, blockLength: 8, steps: 24, promptRefresh: 'first-block', ...c };
      const what = JSON.stringify(o);
      const kept: string[] = [];
      const onKept = (e: { block: number; tokens: readonly BigInt64Array[] }) => kept.push(`${e.block}:${e.tokens.map((t) => t.join(',')).join('|')}`);
      if (c.filter === 'h2o') {
        await assert.rejects(m.generate({ inputIds: p }, { ...o, executor: 'generation' }), /executor generation: .*filter h2o/, what);
        continue;
      }
      const a = await m.generate({ inputIds: p }, { ...o, executor: 'block', onKept });
      const lastKept = kept.at(-1);
      for (const model of [m, tuned]) {
        kept.length = 0;
        const b = await model.generate({ inputIds: p }, { ...o, executor: 'generation', onKept });
        assert.deepEqual(b.outputIds, a.outputIds, what);
        assert.equal(b.nfe, a.nfe, `nfe ${what}`);
        assert.equal(b.timings.refreshes, a.timings.refreshes, `refreshes ${what}`);
        assert.equal(b.timings.selections, a.timings.selections, `selections ${what}`);
        assert.equal(b.timings.keptPromptRows, a.timings.keptPromptRows, `kept rows per head ${what}`);
        assert.equal(b.timings.executor, 'generation');
        assert.equal(b.timings.ortRuns, 1, `one run ${what}`);
        assert.deepEqual(kept, lastKept === undefined ? [] : [lastKept], `last kept rows ${what}`);
      }
    }
    // what it cannot run is refused by name
    await assert.rejects(m.generate({ inputIds: p }, { genLength: 24, blockLength: 8, steps: 24, cache: 'dual', promptRefresh: 'every-block', executor: 'generation' }), /executor generation: the generation program does not support promptRefresh 'every-block'/);
    await assert.rejects(m.generate({ inputIds: p }, { genLength: 8, blockLength: 8, steps: 8, cache: 'dual', promptRefresh: 'first-block', executor: 'generation' }), /a single block/);
    await m.dispose();
    await tuned.dispose();
  });
