// The fuzz suite at CI size: 10^4 generated cases per input type, every outcome a typed error or a
// value, no case over 1 s (test/fuzz/targets.ts; `npm run fuzz` runs 10^6).
import { test } from 'node:test';
import fc from 'fast-check';
import { configProperty, optionsProperty, rowsProperty, safetensorsProperty, templateProperty, tokenizerProperty } from '../fuzz/targets.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const opts = { numRuns: RUNS, seed: 20261201 };

test(`fuzz: safetensors headers (${RUNS} cases)`, () => fc.assert(safetensorsProperty(), opts));
test(`fuzz: config.json (${RUNS} cases)`, () => fc.assert(configProperty(), opts));
test(`fuzz: command-line values and generation options (${RUNS} cases)`, () => fc.assert(optionsProperty(), opts));
test(`fuzz: benchmark result rows (${RUNS} cases)`, () => fc.assert(rowsProperty(), opts));
test(`fuzz: tokenizer files (${RUNS} cases)`, () => {
  const t = tokenizerProperty();
  try {
    fc.assert(t.property, opts);
  } finally {
    t.close();
  }
});
test(`fuzz: chat templates (${RUNS} cases)`, () => {
  const t = templateProperty();
  try {
    fc.assert(t.property, opts);
  } finally {
    t.close();
  }
});
