// Parity: one bidirectional forward against the official modeling code (reference.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/index.js';
import { DREAM_TINY, LLADA_TINY, reference } from '../helpers.js';

for (const dir of [LLADA_TINY, DREAM_TINY]) {
  test(`logits match the reference within 5e-4: ${dir.split('/').pop()}`, async (t) => {
    const model = await loadModel(dir);
    const ref = reference(dir);
    assert.ok(ref.forward.length >= 2);
    let worst = 0;
    for (const c of ref.forward) {
      const rows = await model.logits(c.input_ids);
      assert.equal(rows.length, c.input_ids.length);
      let max = 0;
      rows.forEach((row, i) => row.forEach((v, j) => (max = Math.max(max, Math.abs(v - c.logits[i][j])))));
      assert.ok(max < 5e-4, `max |diff| ${max} for ${c.input_ids.length} tokens`);
      worst = Math.max(worst, max);
    }
    t.diagnostic(`max |logit diff| ${worst.toExponential(2)}`);
    await model.dispose();
  });
}
