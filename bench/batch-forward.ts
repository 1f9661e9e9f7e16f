/**
 * `npx tsx bench/batch-forward.ts [--checkpoint DIR] [--threads N]`: the in-process figures behind
 * reports/batching/README.md. (1) The plain forward's cost per row (model.logits over n rows) at 1
 * and 2 threads: where a forward stops gaining from more rows. (2) Packed forwards of the batch
 * executor against the same forwards one at a time: 8 cached steps (32 query rows, 150 cached
 * rows each), and 1 refresh (150 rows) with 7 steps in one pack against apart. Means of 5 runs after
 * one untimed run; synthetic ids and caches (the cost does not depend on their values).
 */
import { parseArgs } from 'node:util';
import { DiffusionModel } from '../src/index.js';
import type { ForwardRequest, PastKV } from '../src/model/runtime.js';
import { defaultModelDir } from '../src/cli/paths.js';

const { values } = parseArgs({ options: { checkpoint: { type: 'string' }, threads: { type: 'string', default: '2' } } });
const dir = values.checkpoint ?? defaultModelDir();
if (!dir) throw new Error('no bundled model found; give --checkpoint DIR');

async function time(f: () => Promise<unknown>): Promise<number> {
  await f();
  const t = performance.now();
  for (let i = 0; i < 5; i++) await f();
  return (performance.now() - t) / 5;
}

console.log('| rows | 1 thread, µs/row | 2 threads, µs/row |\n|---|---|---|');
const perRow: Record<number, number[]> = {};
for (const threads of [1, 2]) {
  const m = await DiffusionModel.load(dir, { threads });
  for (const n of [8, 32, 64, 256]) {
    const ids = Array.from({ length: n }, (_, i) => 10 + (i % 1000));
    (perRow[n] ??= []).push(((await time(() => m.logits(ids))) / n) * 1000);
  }
  await m.dispose();
}
for (const [n, [a, b]] of Object.entries(perRow)) console.log(`| ${n} | ${a.toFixed(0)} | ${b.toFixed(0)} |`);

const threads = Number(values.threads);
const m = await DiffusionModel.load(dir, { threads, sessions: 2 });
const { nLayers, nKvHeads: Hkv, headDim: D } = m.spec;
const past = (n: number): PastKV => ({
  keys: Array.from({ length: nLayers }, () => new Float32Array(Hkv * n * D).fill(0.01)),
  values: Array.from({ length: nLayers }, () => new Float32Array(Hkv * n * D).fill(0.01)),
  rows: Array<number>(nLayers).fill(n),
  bias: Array.from({ length: nLayers }, () => new Float32Array(Hkv * n)),
});
const request = (n: number, p: PastKV | null): ForwardRequest => ({
  inputIds: BigInt64Array.from({ length: n }, (_, i) => BigInt(10 + (i % 1000))),
  positions: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
  logitRows: BigInt64Array.from({ length: 32 }, (_, i) => BigInt(n - 32 + i)),
  past: p,
});
const pasts = Array.from({ length: 8 }, () => past(150));
const steps = pasts.map((p) => request(32, p));
const refresh = request(150, null);
const rows: string[] = [];
await m.withBatcher(async (b) => {
  // the batcher's own session, run directly: one pack per call
  const packed = (b as unknown as { packed: { run(p: { req: ForwardRequest; wantsLogits: boolean }[]): Promise<unknown> } }).packed;
  const pack = (reqs: ForwardRequest[]) => () => packed.run(reqs.map((req) => ({ req, wantsLogits: false })));
  const eight = await time(pack(steps));
  const oneStep = await time(pack(steps.slice(0, 1)));
  const mixed = await time(pack([refresh, ...steps.slice(1)]));
  const refreshAlone = await time(pack([refresh]));
  const sevenAlone = await time(pack(steps.slice(1)));
  rows.push(`| 8 cached steps | ${eight.toFixed(1)} ms in one pack | ${(8 * oneStep).toFixed(1)} ms as 8 packs of one (${oneStep.toFixed(1)} each) | ${((8 * oneStep) / eight).toFixed(2)}x |`);
  rows.push(`| 1 refresh + 7 cached steps | ${mixed.toFixed(1)} ms in one pack | ${(refreshAlone + sevenAlone).toFixed(1)} ms as a refresh pack and a step pack (${refreshAlone.toFixed(1)} + ${sevenAlone.toFixed(1)}) | ${((refreshAlone + sevenAlone) / mixed).toFixed(2)}x |`);
});
await m.dispose();
console.log(`\n${threads} threads, packed forwards:\n| forwards | together | apart | apart / together |\n|---|---|---|---|\n${rows.join('\n')}`);
