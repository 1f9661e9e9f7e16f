// Lanes (src/lanes/): generations in worker threads, each lane with its own model. The independent
// truth is the engine on the main thread: the same prompts through model.generate give the same
// tokens, NFE and kept rows; a lane relays steps and aborts, reports errors with their codes, and a
// server with lanes answers as a one-slot server does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { loadModel, type GenerateOutput, WavefilterError } from '../../src/index.js';
import { LanePool } from '../../src/lanes/pool.js';
import { buildServer } from '../../src/server/app.js';
import { BUNDLED_MODEL } from '../helpers.js';

const FILLER = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ';
const needle = (k: string, n: number, reps: number): string =>
  `${FILLER.repeat(reps)}One of the special magic numbers for ${k} is: ${n}. ${FILLER.repeat(reps)}\nWhat is the special magic number for ${k} mentioned in the provided text? The special magic number for ${k} mentioned in the provided text is`;
const PROMPTS = [needle('apple', 4412, 6), needle('river', 9183, 1), needle('cobalt', 5501, 3)];

test('lanes give each generation the tokens, NFE and kept rows it gets on the main thread; steps, aborts and errors cross back', async () => {
  const model = await loadModel(BUNDLED_MODEL, { executor: 'step' });
  const pool = await LanePool.create(BUNDLED_MODEL, { lanes: 2, threadsPerLane: 1 });
  try {
    assert.equal(pool.size, 2);
    const opts = { genLength: 64, blockLength: 32, threshold: 0.9, cache: 'dual', chat: false, executor: 'step' } as const;
    const ids = PROMPTS.map((p) => model.encode(p, false));
    const alone: GenerateOutput[] = [];
    for (const p of PROMPTS) alone.push(await model.generate(p, opts));
    // three at once on two lanes: one waits for a free lane
    const steps = PROMPTS.map(() => 0);
    const together = await Promise.all(ids.map((inputIds, i) => pool.generate({ inputIds }, { ...opts, onStep: (e) => {
      steps[i]++;
      assert.equal(e.canvas.length, inputIds.length + 64);
    } })));
    together.forEach((r, i) => {
      assert.deepEqual(r.generatedIds, alone[i].generatedIds, `prompt ${i}`);
      assert.equal(r.nfe, alone[i].nfe, `prompt ${i} NFE`);
      assert.equal(steps[i], r.nfe, `prompt ${i}: a step event per forward`);
      assert.equal(r.text, alone[i].text);
    });
    assert.ok(together.filter((r, i) => (r.text ?? '').includes(/is: (\d+)/.exec(PROMPTS[i])?.[1] ?? '?')).length >= 2, 'the answers hold their needles');

    // a token filter's kept rows come back as events, equal to the main thread's
    const filtered = { ...opts, genLength: 32, filter: 'wavefilter', wave: { preset: 'practical' }, budget: 0.25 } as const;
    const keptHere: bigint[][] = [];
    const keptThere: bigint[][] = [];
    const f0 = await model.generate(PROMPTS[0], { ...filtered, onKept: (e) => keptHere.push(...e.tokens.map((t) => [...t])) });
    const f1 = await pool.generate({ inputIds: ids[0] }, { ...filtered, onKept: (e) => keptThere.push(...e.tokens.map((t) => [...t])) });
    assert.deepEqual(f1.generatedIds, f0.generatedIds);
    assert.ok(keptHere.length > 0);
    assert.deepEqual(keptThere, keptHere);

    // an abort before the lane starts: no forward, as on the main thread
    const fixed = { ...opts, threshold: null, steps: 64 } as const;
    const before = await model.generate(PROMPTS[0], { ...fixed, signal: AbortSignal.abort() });
    const early = await pool.generate({ inputIds: ids[0] }, { ...fixed, signal: AbortSignal.abort() });
    assert.equal(early.stopReason, 'aborted');
    assert.equal(early.nfe, before.nfe);
    // an abort at the second step stops the generation early (the lane reads the flag after each
    // forward; how many it ran meanwhile depends on the main thread's load); the lane then serves the next one
    const controller = new AbortController();
    let seen = 0;
    const cut = await pool.generate({ inputIds: ids[0] }, { ...fixed, signal: controller.signal, onStep: () => {
      if (++seen === 2) controller.abort();
    } });
    assert.equal(cut.stopReason, 'aborted');
    assert.ok(cut.nfe >= 2 && cut.nfe < 64, `${cut.nfe} forwards of 64 after an abort at the second`);
    const again = await pool.generate({ inputIds: ids[1] }, opts);
    assert.deepEqual(again.generatedIds, alone[1].generatedIds);

    // an invalid option is refused in the lane with the code the main thread gives
    const bad = { ...opts, genLength: 48 };
    const here = await model.generate(PROMPTS[1], bad).then(() => null, (e: unknown) => e);
    assert.ok(here instanceof WavefilterError);
    await assert.rejects(pool.generate({ inputIds: ids[1] }, bad), (e: unknown) => e instanceof WavefilterError && e.code === here.code && e.message === here.message);
  } finally {
    await pool.dispose();
    await model.dispose();
  }
  await assert.rejects(pool.generate({ inputIds: [1, 2, 3] }), /closed/);
});

test('a lane pool that cannot load its checkpoint fails with the loader\'s error; lanes must be a whole number from 1', async () => {
  await assert.rejects(LanePool.create('/nonexistent/checkpoint', { lanes: 1 }), (e: unknown) => e instanceof WavefilterError && e.code === 'file_not_found');
  await assert.rejects(LanePool.create(BUNDLED_MODEL, { lanes: 0 }), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option');
});

test('serve with lanes: requests sent together get the one-slot server\'s answers', async () => {
  const model = await loadModel(BUNDLED_MODEL, { threads: 1 });
  const pool = await LanePool.create(BUNDLED_MODEL, { lanes: 2, threadsPerLane: 1 });
  const apps = await Promise.all([{ slots: 1 }, { lanes: pool }].map(async (c) => {
    const app = await buildServer(model, { modelName: 'bundled', ...c });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return app;
  }));
  try {
    const ask = async (port: number, prompt: string): Promise<string> => {
      const r = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bundled', prompt, max_tokens: 16 }) });
      assert.equal(r.status, 200);
      return ((await r.json()) as { choices: { text: string }[] }).choices[0].text;
    };
    const [one, lanes] = await Promise.all(apps.map((a) => Promise.all(PROMPTS.map((p) => ask((a.server.address() as AddressInfo).port, p)))));
    assert.deepEqual(lanes, one);
    // a chat request with a prefill: the template is applied once, on the main thread
    const chat = async (port: number): Promise<string> => {
      const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bundled', max_tokens: 16,
        messages: [{ role: 'user', content: PROMPTS[1] }, { role: 'assistant', content: 'The special magic number for river mentioned in the provided text is' }] }) });
      assert.equal(r.status, 200);
      return ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content;
    };
    const chats = await Promise.all(apps.map((a) => chat((a.server.address() as AddressInfo).port)));
    assert.equal(chats[1], chats[0]);
    assert.ok(one.some((t, i) => t.includes(/is: (\d+)/.exec(PROMPTS[i])?.[1] ?? '?')), JSON.stringify(one));
    const health = (await (await fetch(`http://127.0.0.1:${(apps[1].server.address() as AddressInfo).port}/slots`)).json()) as { total: number };
    assert.equal(health.total, 2);
  } finally {
    for (const a of apps) await a.close();
    await pool.dispose();
    await model.dispose();
  }
});
