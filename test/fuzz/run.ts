// npm run fuzz [-- RUNS]: every fuzz target with 10^6 cases (or RUNS), seeds printed for replay.
import fc from 'fast-check';
import { configProperty, optionsProperty, rowsProperty, safetensorsProperty, templateProperty, tokenizerProperty } from './targets.js';

const runs = Number(process.argv[2] ?? process.env.FUZZ_RUNS ?? 1_000_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
console.log(`fuzz: ${runs} cases per target, seed ${seed}`);
const tok = tokenizerProperty();
const tpl = templateProperty();
const targets: Array<[string, fc.IProperty<never>]> = [
  ['safetensors header', safetensorsProperty() as never], ['config.json', configProperty() as never], ['tokenizer files', tok.property as never],
  ['chat template', tpl.property as never], ['CLI values and options', optionsProperty() as never], ['benchmark rows', rowsProperty() as never],
];
let failed = 0;
for (const [name, p] of targets) {
  const t0 = performance.now();
  const r = await fc.check(p, { numRuns: runs, seed });
  console.log(`${r.failed ? 'FAIL' : 'ok  '} ${name}: ${r.numRuns} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s${r.failed ? `\n${fc.defaultReportMessage(r)}` : ''}`);
  if (r.failed) failed++;
}
tok.close();
tpl.close();
process.exit(failed ? 1 : 0);
