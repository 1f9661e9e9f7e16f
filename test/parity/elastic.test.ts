// Elastic-Cache against the official code's recorded runs (test/fixtures/elastic-tiny: 30 cases on
// the 2-layer llada-tiny and 15 on a 4-layer model whose refreshes start at layers 1, 2 and 3):
// the whole output sequence, NFE, the refresh schedule (step and first recomputed layer), every
// drift trigger and the computed ratio, on both executors; then the library call and the command
// line on one case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FIXTURES, LLADA_TINY, REPO_ROOT } from '../helpers.js';
import { loadModel } from '../../src/index.js';
import { readModelSpec } from '../../src/checkpoint/config.js';
import { TensorStore } from '../../src/checkpoint/safetensors.js';
import { ElasticProgram, type ElasticOptions, elasticLoopVariant } from '../../src/cache/elastic/index.js';

interface ElasticCase {
  prompt_ids: number[];
  gen_length: number;
  window_length: number;
  threshold: number | null;
  tokens_per_iter: number;
  gamma: number;
  track_num: number;
  block_caching: boolean;
  eos_id: number;
  output_ids: number[];
  nfe: number;
  computed_ratio: number;
  refreshes: { step: number; from_layer: number }[];
  drift_triggers: { step: number; layer: number }[];
}

const ELASTIC = join(FIXTURES, 'elastic-tiny');
const ref = JSON.parse(readFileSync(join(ELASTIC, 'reference.json'), 'utf8')) as { generate: ElasticCase[]; generate_4l: ElasticCase[] };

const optionsOf = (c: ElasticCase): ElasticOptions => ({
  genLength: c.gen_length, window: c.window_length, threshold: c.threshold, tokensPerIter: c.tokens_per_iter,
  gamma: c.gamma, trackNum: c.track_num, blockCaching: c.block_caching, eosId: c.eos_id,
});

// on both executors: the step graph once per iteration (decode.ts), and every iteration in one ORT
// Loop (loop-graph.ts, one session per variant: the decoding rule and block caching)
for (const executor of ['step', 'block'] as const)
  for (const [name, dir, cases] of [['llada-tiny, 2 layers', LLADA_TINY, ref.generate], ['model-4l, 4 layers', join(ELASTIC, 'model-4l'), ref.generate_4l]] as const)
    test(`Elastic-Cache: all ${cases.length} reference cases token-exact with equal NFE and refresh schedule (${name}, executor ${executor})`, async () => {
      const spec = readModelSpec(dir);
      const programs = new Map<string, ElasticProgram>();
      try {
        let i = 0;
        for (const c of cases) {
          const o = optionsOf(c);
          const kind = executor === 'step' ? 'step' : elasticLoopVariant(o);
          const key = JSON.stringify(kind);
          if (!programs.has(key)) programs.set(key, await ElasticProgram.create(spec, TensorStore.open(dir), {}, kind));
          const r = await (programs.get(key) as ElasticProgram).generate(c.prompt_ids, o);
          const what = `${name} case ${i++}`;
          assert.deepEqual(r.outputIds, c.output_ids, what);
          assert.equal(r.nfe, c.nfe, what);
          assert.deepEqual(r.refreshes.map((x) => [x.step, x.fromLayer]), c.refreshes.map((x) => [x.step, x.from_layer]), `${what}: refreshes`);
          assert.deepEqual(r.driftTriggers.map((x) => [x.step, x.layer]), c.drift_triggers.map((x) => [x.step, x.layer]), `${what}: drift triggers`);
          assert.ok(Math.abs(r.computedRatio - c.computed_ratio) < 1e-12, `${what}: computed ratio ${r.computedRatio} vs ${c.computed_ratio}`);
        }
        if (executor === 'block' && cases === ref.generate) assert.equal(programs.size, 4, 'every loop variant ran (threshold and count, with and without block caching)');
      } finally {
        for (const p of programs.values()) await p.dispose();
      }
    });

// The same algorithm through the library and the command line, as a user calls it.
test('Elastic-Cache through loadModel().generateElastic and `wavefilter generate --cache elastic --json`', async () => {
  const dir = join(ELASTIC, 'model-4l');
  const c = ref.generate_4l[1] as ElasticCase;
  assert.equal(c.threshold, null, 'the case decodes a fixed count per iteration');
  const m = await loadModel(dir);
  try {
    const events: { nfe: number; done: number; refreshFrom: number | null }[] = [];
    const r = await m.generateElastic({ inputIds: c.prompt_ids }, {
      genLength: c.gen_length, window: c.window_length, tokensPerIter: c.tokens_per_iter, gamma: c.gamma, trackNum: c.track_num, eosId: c.eos_id,
      onStep: (e) => events.push({ nfe: e.nfe, done: e.done, refreshFrom: e.refreshFrom }),
    });
    assert.deepEqual(r.outputIds, c.output_ids);
    // one event per forward, progress never backwards, the refreshes as reported
    assert.deepEqual(events.map((e) => e.nfe), Array.from({ length: c.nfe }, (_, i) => i + 1));
    assert.ok(events.every((e, i) => i === 0 || e.done >= (events[i - 1] as { done: number }).done));
    assert.equal(events.at(-1)?.done, c.gen_length);
    assert.deepEqual(events.filter((e) => e.refreshFrom !== null).map((e) => e.refreshFrom), c.refreshes.map((x) => x.from_layer));
    assert.equal(r.nfe, c.nfe);
    assert.deepEqual(r.generatedIds, c.output_ids.slice(c.prompt_ids.length));
    // the block program replays the same events once its one run returns (the canvas included)
    const eventsOf = async (executor: 'step' | 'block') => {
      const seen: unknown[] = [];
      const out = await m.generateElastic({ inputIds: c.prompt_ids }, {
        genLength: c.gen_length, window: c.window_length, tokensPerIter: c.tokens_per_iter, gamma: c.gamma, trackNum: c.track_num, eosId: c.eos_id, executor,
        onStep: (e) => seen.push({ ...e, canvas: [...e.canvas] }),
      });
      assert.equal(out.executor, executor);
      return { seen, out: { ...out, timings: null, executor: null } };
    };
    const [step, block] = [await eventsOf('step'), await eventsOf('block')];
    assert.equal(step.seen.length, c.nfe);
    assert.deepEqual(block.seen, step.seen);
    assert.deepEqual(block.out, step.out);
    // its options are its own: validated by name, and generate() points to it
    await assert.rejects(m.generateElastic({ inputIds: c.prompt_ids }, { blockLength: 8 } as never), (e: Error & { code?: string }) => e.code === 'invalid_option' && /blockLength/.test(e.message));
    await assert.rejects(m.generateElastic({ inputIds: c.prompt_ids }, { gamma: 2 }), (e: Error & { code?: string }) => e.code === 'invalid_option' && /gamma/.test(e.message));
    await assert.rejects(m.generateElastic({ inputIds: [] }), (e: Error & { code?: string }) => e.code === 'invalid_input' && /empty/.test(e.message));
    await assert.rejects(m.generateElastic({ inputIds: [1, m.spec.maskTokenId] }), (e: Error & { code?: string }) => e.code === 'invalid_input' && /mask/.test(e.message));
    await assert.rejects(m.generateElastic({ inputIds: [1, 2] }, { window: 0 }), (e: Error & { code?: string }) => e.code === 'invalid_option' && /window/.test(e.message));
    await assert.rejects(m.generate({ inputIds: c.prompt_ids }, { cache: 'elastic' }), (e: Error & { code?: string }) => e.code === 'invalid_option' && /generateElastic/.test(e.message));
  } finally {
    await m.dispose();
  }
  const cli = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'generate', '--model', dir, '--input-ids', c.prompt_ids.join(','), '--gen-length', String(c.gen_length),
    '--cache', 'elastic', '--window', String(c.window_length), '--tokens-per-iter', String(c.tokens_per_iter), '--gamma', String(c.gamma), '--track-num', String(c.track_num), '--eos-id', String(c.eos_id), '--json'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  const out = JSON.parse(cli.stdout) as { output_ids: number[]; nfe: number; refreshes: { step: number; from_layer: number }[]; timings: { refreshes: number; refresh_layers: number[] } };
  assert.deepEqual(out.output_ids, c.output_ids);
  assert.equal(out.nfe, c.nfe);
  assert.deepEqual(out.refreshes, c.refreshes.map((x) => ({ step: x.step, from_layer: x.from_layer })));
  assert.deepEqual(out.timings.refresh_layers, c.refreshes.map((x) => x.from_layer));
  const onBlock = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'generate', '--model', dir, '--input-ids', c.prompt_ids.join(','), '--gen-length', String(c.gen_length),
    '--cache', 'elastic', '--window', String(c.window_length), '--tokens-per-iter', String(c.tokens_per_iter), '--gamma', String(c.gamma), '--track-num', String(c.track_num), '--eos-id', String(c.eos_id), '--executor', 'block', '--json'], { encoding: 'utf8' });
  assert.equal(onBlock.status, 0, onBlock.stderr);
  const blockOut = JSON.parse(onBlock.stdout) as typeof out & { timings: { executor: string } };
  assert.deepEqual([blockOut.output_ids, blockOut.nfe, blockOut.refreshes, blockOut.timings.executor], [c.output_ids, c.nfe, out.refreshes, 'block']);
  // flags of one kind of decoding are refused with the other
  const mixed = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'generate', '--model', dir, '--input-ids', '1,2,3', '--cache', 'elastic', '--steps', '4'], { encoding: 'utf8' });
  assert.equal(mixed.status, 2);
  assert.match(mixed.stderr, /error \[invalid_option\]: --steps: not an Elastic-Cache option/);
});
