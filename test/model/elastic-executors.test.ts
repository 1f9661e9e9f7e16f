// Elastic-Cache on the block program (src/cache/elastic/loop-graph.ts: every iteration inside one
// ORT Loop) against the step executor (one run per iteration, JavaScript in between), where no
// official outputs exist: Dream (GQA, shifted logits), every token filter (the caches cut after the
// first forward, a second run for the rest), the frozen prompt rows, queries over every mask, the
// EOS cut-off and frequent refreshes. Everything must be equal: tokens, NFE, refreshes, drift
// triggers, computed ratio, kept rows and each iteration's event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUNDLED_MODEL, DREAM_TINY, LLADA_TINY } from '../helpers.js';
import { type DiffusionModel, type ElasticGenerateOptions, loadModel } from '../../src/index.js';
import { FILTER_NAMES } from '../../src/filter/registry.js';

async function both(m: DiffusionModel, prompt: number[], o: ElasticGenerateOptions, what: string): Promise<{ nfe: number; refreshes: number; kept: number | null }> {
  const run = async (executor: 'step' | 'block') => {
    const events: unknown[] = [];
    const r = await m.generateElastic({ inputIds: prompt }, { ...o, executor, onStep: (e) => events.push({ ...e, canvas: [...e.canvas] }) });
    assert.equal(r.executor, executor);
    const { timings: _t, executor: _e, filter, ...rest } = r;
    return { rest, kept: filter?.positions ?? null, events };
  };
  const step = await run('step');
  const block = await run('block');
  assert.deepEqual(block.rest, step.rest, `${what}: result`);
  assert.deepEqual(block.kept, step.kept, `${what}: kept rows`);
  assert.deepEqual(block.events, step.events, `${what}: events`);
  return { nfe: step.rest.nfe, refreshes: step.rest.refreshes.length, kept: step.kept?.length ?? null };
}

const ids = (n: number, vocab: number, seed: number): number[] => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729) % (vocab - 8)));

test('Elastic-Cache block program = step executor: llada-tiny, without and with every token filter, both rules, frozen prompt, all masks queried', async () => {
  const m = await loadModel(LLADA_TINY);
  try {
    const prompt = ids(40, 380, 1);
    let refreshes = 0;
    for (const o of [
      { genLength: 24, window: 8, threshold: 0.05, gamma: 0.99 },
      { genLength: 24, window: 6, tokensPerIter: 2, gamma: 0.99, blockCaching: false },
      { genLength: 16, window: 8, tokensPerIter: 1, gamma: 0.999, trackNum: 3, freezePrompt: true },
      { genLength: 16, window: 8, threshold: 0.05, gamma: 0.95, eosId: 325 },
    ] as ElasticGenerateOptions[]) {
      refreshes += (await both(m, prompt, o, JSON.stringify(o))).refreshes;
      for (const filter of FILTER_NAMES.filter((f) => f !== 'none'))
        for (const keptRows of ['union', 'top'] as const) {
          const r = await both(m, prompt, { ...o, filter, budget: 0.3, keptRows }, `${filter} ${keptRows} ${JSON.stringify(o)}`);
          assert.ok(r.kept === null || r.kept < prompt.length);
        }
    }
    assert.ok(refreshes > 0, 'refreshes were exercised');
  } finally {
    await m.dispose();
  }
});

test('Elastic-Cache block program = step executor: Dream (grouped K/V heads, shifted logits), with and without a filter', async () => {
  const m = await loadModel(DREAM_TINY);
  try {
    const prompt = ids(48, m.spec.maskTokenId, 2);
    for (const o of [
      { genLength: 16, window: 8, tokensPerIter: 1, gamma: 0.99, eosId: null },
      { genLength: 16, window: 4, threshold: 0.02, gamma: 0.99, eosId: null, blockCaching: false },
      { genLength: 16, window: 8, tokensPerIter: 2, gamma: 0.9, filter: 'snapkv', budget: 0.1, eosId: null },
      { genLength: 16, window: 8, threshold: 0.02, gamma: 0.99, filter: 'wavefilter', budget: 0.25, eosId: null },
    ] as ElasticGenerateOptions[])
      await both(m, prompt, o, JSON.stringify(o));
    // every filter (the last prompt row decodes the first generated position: kept whatever it scores)
    const cut: string[] = [];
    for (const filter of FILTER_NAMES.filter((f) => f !== 'none')) {
      const r = await both(m, prompt, { genLength: 16, window: 8, tokensPerIter: 1, gamma: 0.99, filter, budget: 0.1, eosId: null }, filter);
      if (r.kept !== null && r.kept < prompt.length) cut.push(filter);
    }
    // (the union over layers and heads may keep every row of a 48-token prompt)
    assert.ok(cut.length >= 3, `filters that cut the caches: ${cut.join(', ')}`);
  } finally {
    await m.dispose();
  }
});

test('Elastic-Cache block program = step executor: the bundled model on a 600-token prompt, WaveFilter and H2O at 0.1', async () => {
  const m = await loadModel(BUNDLED_MODEL);
  try {
    const prompt = ids(600, 2000, 3);
    for (const filter of ['none', 'wavefilter', 'h2o'] as const) {
      const r = await both(m, prompt, { genLength: 32, window: 16, threshold: 0.9, eosId: null, ...(filter === 'none' ? {} : { filter, budget: 0.1 }) }, filter);
      assert.ok(r.nfe > 1);
    }
  } finally {
    await m.dispose();
  }
});
