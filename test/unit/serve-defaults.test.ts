/** `wavefilter serve`'s slot count when --slots is not given: batching where it was measured to pay. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSlots } from '../../src/cli/commands/serve.js';

test('serve: one slot on the CPU (packing did not pay on 2 cores), 8 on a CUDA device (1.60x on an H100)', () => {
  assert.equal(defaultSlots(undefined), 1);
  assert.equal(defaultSlots('cpu'), 1);
  assert.equal(defaultSlots('cuda'), 8);
  assert.equal(defaultSlots('cuda:1'), 8);
});
