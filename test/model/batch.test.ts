// Batching (src/batch/): generations running at the same time with executor 'batch' share packed
// forwards, and each must get exactly the tokens it gets alone. The independent truth is the
// unbatched engine: the block program (auto) and the step loop, on the bundled model, with short
// prompts, a long one (its refresh goes alone, with flash attention), three cache hosts, a token
// filter (per-layer pasts of different lengths), and a generation cancelled midway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, type DiffusionModel } from '../../src/index.js';
import { BUNDLED_MODEL } from '../helpers.js';

const FILLER = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
const needle = (k: string, n: number, reps: number): string =>
  `${FILLER.repeat(reps)}One of the special magic numbers for ${k} is: ${n}. ${FILLER.repeat(reps)}\nWhat is the special magic number for ${k} mentioned in the provided text? The special magic number for ${k} mentioned in the provided text is`;
// 20 filler repeats: a prompt of about 1K tokens, over the batcher's 512-row limit for a packed refresh
const PROMPTS = [needle('apple', 4412, 20), needle('river', 9183, 1), needle('cobalt', 5501, 3), needle('meadow', 7730, 0), needle('falcon', 2246, 2)];

async function batchStats(model: DiffusionModel) {
  return model.withBatcher(async (b) => b.stats());
}

test('batched generations give each request the tokens it gets alone (dual, prefix, none; short and long prompts)', async () => {
  const model = await loadModel(BUNDLED_MODEL, { sessions: 2 });
  let found = 0;
  // a pack with no new generation in it goes at once (an earlier scheduler asked for setTimeout(Infinity))
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    for (const cache of ['dual', 'prefix', 'none'] as const) {
      const opts = { genLength: 64, blockLength: 32, threshold: 0.9, cache, chat: false } as const;
      const alone: Awaited<ReturnType<DiffusionModel['generate']>>[] = [];
      for (const p of PROMPTS) alone.push(await model.generate(p, { ...opts, executor: 'auto' }));
      const before = await batchStats(model);
      const together = await Promise.all(PROMPTS.map((p) => model.generate(p, { ...opts, executor: 'batch' })));
      const after = await batchStats(model);
      together.forEach((r, i) => {
        assert.deepEqual(r.generatedIds, alone[i].generatedIds, `${cache}: prompt ${i} (${alone[i].promptLength} tokens)`);
        assert.equal(r.nfe, alone[i].nfe, `${cache}: prompt ${i} NFE`);
        assert.equal(r.timings.executor, 'step');
      });
      // batching happened: fewer packed runs than forwards, some with several requests
      assert.ok(after.packs - before.packs < after.forwards - before.forwards, `${cache}: ${after.packs - before.packs} packs for ${after.forwards - before.forwards} forwards`);
      assert.ok(after.largestPack >= 2);
      if (cache === 'dual') found = together.filter((r, i) => (r.text ?? '').includes(/is: (\d+)/.exec(PROMPTS[i])?.[1] ?? '?')).length;
    }
    // most answers are the needles (the truth the prompts carry): the comparison is not between empty outputs
    assert.ok(found >= 3, `${found} of ${PROMPTS.length} batched answers hold their needle`);
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), 'the batcher scheduled a timeout of Infinity');
  } finally {
    process.off('warning', onWarning);
    await model.dispose();
  }
});

test('a batched generation with a token filter (per-layer kept rows) matches the step loop; a cancelled one stops without disturbing the others', async () => {
  const model = await loadModel(BUNDLED_MODEL, { sessions: 2 });
  try {
    const filtered = { genLength: 32, blockLength: 32, threshold: 0.9, cache: 'dual', filter: 'wavefilter', wave: { preset: 'practical' }, budget: 0.25, chat: false } as const;
    const plain = { genLength: 64, blockLength: 32, threshold: null, steps: 64, cache: 'dual', chat: false } as const;
    const aloneF = await model.generate(PROMPTS[0], { ...filtered, executor: 'step' });
    const aloneP = await model.generate(PROMPTS[2], { ...plain, executor: 'step' });
    const ac = new AbortController();
    let steps = 0;
    const [f, p, cancelled] = await Promise.all([
      model.generate(PROMPTS[0], { ...filtered, executor: 'batch' }),
      model.generate(PROMPTS[2], { ...plain, executor: 'batch' }),
      model.generate(PROMPTS[3], { ...plain, executor: 'batch', signal: ac.signal, onStep: () => { if (++steps === 3) ac.abort(); } }),
    ]);
    assert.deepEqual(f.generatedIds, aloneF.generatedIds, 'filtered');
    assert.equal(f.timings.keptPromptRows, aloneF.timings.keptPromptRows);
    assert.deepEqual(p.generatedIds, aloneP.generatedIds, 'plain');
    assert.equal(cancelled.stopReason, 'aborted');
    assert.equal(cancelled.nfe, 3);
  } finally {
    await model.dispose();
  }
});

test('executor batch is refused where it cannot run (fp16, Elastic-Cache, dLLM-Cache); bad batch options are named', async () => {
  await assert.rejects(loadModel(BUNDLED_MODEL, { batch: { gatherMs: -1 } }), /batch\.gatherMs: expected a number in \[0, 10000\], found -1/);
  await assert.rejects(loadModel(BUNDLED_MODEL, { batch: { maxRows: 1.5 } }), /batch\.maxRows: expected an integer/);
  await assert.rejects(loadModel(BUNDLED_MODEL, { batch: { gather: 5 } as never }), /batch\.gather: unknown option \(did you mean gatherMs\?\)/);
  await assert.rejects(loadModel(BUNDLED_MODEL, { executor: 'batch', dtype: 'fp16', device: 'cuda' }), /dtype fp16: runs on the block executor only/);
  const model = await loadModel(BUNDLED_MODEL);
  try {
    await assert.rejects(model.generateElastic('x', { executor: 'batch' }), /executor batch: Elastic-Cache runs on its own programs/);
    await assert.rejects(model.generate('x', { cache: 'dllm-cache', executor: 'batch' } as never), /cache dllm-cache: runs on the step executor \(executor step or auto\), not batch/);
  } finally {
    await model.dispose();
  }
});
