/**
 * `npm run bench -- engine`: the cache hosts on both executors, side by side in one run, on the
 * realistic-shape random model. Every configuration runs in its own process (child.ts), so the
 * peak RSS column is that configuration's alone. Ratios: tokens/s against the no-cache host on the
 * same executor, and the block program against the step loop for the same host. The two executors
 * must produce the same tokens; the table says whether they did.
 */
import type { CacheName } from '../src/cache/host.js';
import type { ExecutorChoice } from '../src/decode/options.js';
import { type ChildResult, runChild } from './child.js';
import { type BenchShape, randomCheckpoint } from './random-model.js';

export interface EngineBenchOptions {
  readonly promptLengths: readonly number[];
  readonly methods: readonly CacheName[];
  readonly executors: readonly Exclude<ExecutorChoice, 'auto'>[];
  readonly genLength: number;
  readonly blockLength: number;
  readonly steps: number;
  readonly shape: BenchShape;
  readonly threads?: number;
}

export interface EngineRow {
  readonly prompt: number;
  readonly method: CacheName;
  readonly executor: 'step' | 'block';
  readonly totalS: number;
  readonly tokensPerS: number;
  /** against `none` on the same executor */
  readonly vsNone: number | null;
  /** block against step for the same host (on the block row) */
  readonly vsStep: number | null;
  readonly nfe: number;
  readonly ortRunsPerBlock: number;
  readonly blockMsMean: number;
  readonly jsShare: number;
  readonly peakRssMiB: number;
  readonly idsHash: string;
  /** block row: the step executor produced the same ids */
  readonly sameIdsAsStep: boolean | null;
}

export async function runEngineBench(o: EngineBenchOptions, log: (s: string) => void): Promise<EngineRow[]> {
  const dir = randomCheckpoint(o.shape);
  const rows: EngineRow[] = [];
  for (const prompt of o.promptLengths) {
    const results = new Map<string, ChildResult>();
    for (const method of o.methods) {
      for (const executor of o.executors) {
        log(`  prompt ${prompt}, ${method}, ${executor}... `);
        const r = await runChild({
          dir, load: { threads: o.threads, executor }, promptLength: prompt, vocab: o.shape.vocab,
          options: { genLength: o.genLength, blockLength: o.blockLength, steps: o.steps, cache: method, executor, allowLongContext: true },
        });
        results.set(`${method}|${executor}`, r);
        log(`${(r.timings.totalMs / 1000).toFixed(1)} s, ${r.peakRssMiB.toFixed(0)} MiB\n`);
      }
    }
    for (const method of o.methods) {
      for (const executor of o.executors) {
        const r = results.get(`${method}|${executor}`) as ChildResult;
        const none = results.get(`none|${executor}`);
        const step = executor === 'block' ? results.get(`${method}|step`) : undefined;
        const tps = r.timings.tokensPerSecond;
        rows.push({
          prompt, method, executor, totalS: r.timings.totalMs / 1000, tokensPerS: tps,
          vsNone: none && method !== 'none' ? tps / none.timings.tokensPerSecond : null,
          vsStep: step ? tps / step.timings.tokensPerSecond : null,
          nfe: r.nfe, ortRunsPerBlock: r.timings.ortRunsPerBlock, blockMsMean: r.timings.blockMsMean, jsShare: r.timings.jsShare,
          peakRssMiB: r.peakRssMiB, idsHash: r.idsHash, sameIdsAsStep: step ? step.idsHash === r.idsHash : null,
        });
      }
    }
  }
  return rows;
}

const x = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}x`);

export function engineTable(rows: readonly EngineRow[]): string {
  const out = [
    '| prompt | host | executor | total s | tokens/s | vs none | block vs step | same tokens | nfe | ORT runs/block | block ms | JS share | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    out.push(`| ${r.prompt} | ${r.method} | ${r.executor} | ${r.totalS.toFixed(1)} | ${r.tokensPerS.toFixed(2)} | ${x(r.vsNone)} | ${x(r.vsStep)} | ${r.sameIdsAsStep === null ? '-' : r.sameIdsAsStep ? 'yes' : 'NO'} | ${r.nfe} | ${r.ortRunsPerBlock.toFixed(1)} | ${r.blockMsMean.toFixed(0)} | ${(100 * r.jsShare).toFixed(1)}% | ${r.peakRssMiB.toFixed(0)} |`);
  return out.join('\n');
}
