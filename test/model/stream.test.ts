// model.stream(): the same generation as generate(), as typed events in order; leaving early aborts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type GenerationEvent, loadModel } from '../../src/index.js';
import { LLADA_TINY } from '../helpers.js';

for (const executor of ['step', 'block'] as const) {
  test(`stream yields every step, the text deltas and the result of generate() (${executor} executor)`, async () => {
    const m = await loadModel(LLADA_TINY);
    const opts = { genLength: 16, blockLength: 8, steps: 8, cache: 'dual' as const, executor };
    const ref = await m.generate('What is the special magic number?', opts);
    const events: GenerationEvent[] = [];
    for await (const e of m.stream('What is the special magic number?', opts)) events.push(e);
    const last = events.at(-1);
    assert.equal(last?.type, 'done');
    if (last?.type !== 'done') return;
    assert.deepEqual(last.result.outputIds, ref.outputIds);
    const steps = events.flatMap((e) => (e.type === 'step' ? [e.step] : []));
    assert.equal(steps.length, ref.nfe);
    assert.deepEqual(steps.map((s) => s.nfe), Array.from({ length: ref.nfe }, (_, i) => i + 1));
    // each step's canvas is its own copy: the last one is the final canvas, earlier ones hold fewer decided tokens
    assert.deepEqual(Array.from(steps[steps.length - 1].canvas), ref.outputIds);
    const decided = (c: Int32Array): number => c.filter((t) => t !== m.spec.maskTokenId).length;
    assert.ok(decided(steps[0].canvas) < decided(steps[steps.length - 1].canvas));
    const text = events.flatMap((e) => (e.type === 'text' ? [e.delta] : [])).join('');
    assert.equal(text, ref.text);
    await m.dispose();
  });
}

test('leaving the stream early aborts the generation; the model stays usable', async () => {
  const m = await loadModel(LLADA_TINY);
  let forwards = 0;
  let seen = 0;
  for await (const e of m.stream({ inputIds: [5, 6, 7] }, { genLength: 32, steps: 32, cache: 'dual', executor: 'step', onStep: () => forwards++ })) {
    if (e.type === 'step' && ++seen === 2) break;
  }
  const after = forwards;
  assert.ok(after < 32, `stopped after ${after} forwards`);
  const r = await m.generate({ inputIds: [5, 6, 7] }, { genLength: 8, steps: 8 });
  assert.equal(r.stopReason, 'done');
  assert.equal(forwards, after, 'the abandoned generation did not go on');
  await m.dispose();
});

test('a failing generation throws from the stream with its typed error', async () => {
  const m = await loadModel(LLADA_TINY);
  await assert.rejects(async () => {
    for await (const _ of m.stream({ inputIds: [5, 6, 7] }, { genLength: 8, blockLength: 3 })) void _;
  }, (e: Error & { code?: string }) => e.code === 'invalid_option');
  await m.dispose();
});
