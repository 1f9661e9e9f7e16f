/**
 * `npx tsx bench/forward-lanes.ts [--rows 32] [--lane-rows 128,256] [--reps 20]`: the ceiling of any
 * CPU batching design on this machine (reports/batching/README.md). The plain forward (model.logits
 * over n rows) one request at a time, as the one-slot server runs it (one process, all cores' threads,
 * a cached step's 32 rows), against the best arrangement found for many rows at once: one process
 * per core, each one thread, each forwarding a large pack, all at the same time; and one large pack
 * on all threads (what src/batch/ does). Prints µs per row
 * and the ratio; the ratio bounds what packing can gain before any scheduling or JavaScript cost.
 */
import { execFileSync, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DiffusionModel } from '../src/index.js';
import { defaultModelDir } from '../src/cli/paths.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '32' }, 'lane-rows': { type: 'string', default: '128,256' }, reps: { type: 'string', default: '20' }, child: { type: 'string' }, threads: { type: 'string' } } });
const dir = defaultModelDir();
if (!dir) throw new Error('no bundled model found');

/** µs per row of `reps` forwards over n rows, after one untimed forward. */
async function perRow(threads: number, n: number, reps: number): Promise<number> {
  const m = await DiffusionModel.load(dir as string, { threads });
  const ids = Array.from({ length: n }, (_, i) => 10 + (i % 1000));
  await m.logits(ids);
  const t = performance.now();
  for (let i = 0; i < reps; i++) await m.logits(ids);
  const us = ((performance.now() - t) / reps / n) * 1000;
  await m.dispose();
  return us;
}

if (values.child) {
  process.stdout.write(String(await perRow(Number(values.threads), Number(values.child), Number(values.reps))));
} else {
  const cores = availableParallelism();
  const reps = Number(values.reps);
  const self = fileURLToPath(import.meta.url);
  const child = (threads: number, n: number, r: number) => ['--import', 'tsx', self, '--child', String(n), '--threads', String(threads), '--reps', String(r)];
  // one request at a time: a fresh process, like the others, so every figure pays the same start
  const one = Number(execFileSync(process.execPath, child(cores, Number(values.rows), reps * 4)).toString());
  console.log(`| arrangement | µs a row | rows a second, against one at a time |\n|---|---|---|`);
  console.log(`| one request at a time: ${values.rows} rows, ${cores} threads | ${one.toFixed(0)} | 1.00x |`);
  for (const n of values['lane-rows']!.split(',').map(Number)) {
    // one pack of n rows, all threads (the batch executor's arrangement)
    const pack = Number(execFileSync(process.execPath, child(cores, n, Math.max(2, Math.round((reps * 32) / n) * 4))).toString());
    console.log(`| one pack: ${n} rows, ${cores} threads | ${pack.toFixed(0)} | ${(one / pack).toFixed(2)}x |`);
    // one process per core, started together; each reports its own µs a row
    const lanes = await Promise.all(Array.from({ length: cores }, () => new Promise<number>((res, rej) => {
      let out = '';
      const p = spawn(process.execPath, child(1, n, Math.max(2, Math.round((reps * 32) / n) * 4)));
      p.stdout.on('data', (d) => (out += d));
      p.on('close', (code) => (code === 0 ? res(Number(out)) : rej(new Error(`lane exited ${code}`))));
    })));
    // the machine's throughput: rows a second summed over the lanes
    const rate = lanes.reduce((a, us) => a + 1e6 / us, 0);
    console.log(`| ${cores} lanes at once: ${n} rows each, 1 thread | ${(1e6 / rate).toFixed(0)} (per lane ${lanes.map((x) => x.toFixed(0)).join(', ')}) | ${(rate / (1e6 / one)).toFixed(2)}x |`);
  }
}
