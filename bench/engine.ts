/**
 * `npm run bench -- engine`: the cache hosts on both executors, side by side in one run, on the
 * realistic-shape random model. Every configuration runs in its own process (child.ts), so the
 * peak RSS column is that configuration's alone. Ratios: tokens/s against the no-cache host on the
 * same executor, and the block program against the step loop for the same host. The two executors
 * must produce the same tokens; the table says whether they did.
 */
import type { CacheName } from '../src/cache/host.js';
import { cacheHostNames } from '../src/cache/registry.js';
import type { FilterOptions, GenerateOptions, GraphTuning } from '../src/index.js';
import { WAVE_METHODS } from './wavefilter.js';
import type { ExecutorChoice } from '../src/decode/options.js';
import type { PromptRefresh } from '../src/cache/index.js';
import { type ChildConfig, type ChildResult, InProcessRunner, runChild } from './child.js';
import { type BenchShape, randomCheckpoint } from './random-model.js';
import type { Device } from '../src/model/runtime.js';

/**
 * A benchmark method: a cache host (`none`, `prefix`, `dual`, or `elastic` for Elastic-Cache) or a
 * host with a token filter, `host+filter` where filter is a key of the wavefilter benchmark's
 * methods (`dual+wf-practical`, `elastic+snapkv`, ...) at EngineBenchOptions.budget.
 */
export type EngineMethod = string;

/** The hosts a method may name: the registry's block hosts and Elastic-Cache. */
export const engineHosts = (): string[] => [...cacheHostNames(), 'elastic'];

export function parseEngineMethod(m: EngineMethod, hosts: readonly string[]): { cache: CacheName; filter: string | null; promptRefresh: PromptRefresh | null } {
  // `@every-block` / `@first-block` after a filtered method forces its prompt refresh
  const [spec, refresh, ...more] = m.split('@');
  const [host, filter, ...rest] = (spec ?? '').split('+');
  if (!host || !hosts.includes(host) || rest.length || more.length) throw new Error(`unknown method ${m}; expected a cache host (${hosts.join(', ')}) or host+filter[@every-block|@first-block]`);
  if (filter !== undefined) {
    const f = WAVE_METHODS[filter];
    if (!f || f.filter === 'none') throw new Error(`unknown filter ${filter} in ${m}; expected one of ${Object.keys(WAVE_METHODS).filter((k) => WAVE_METHODS[k]?.filter !== 'none').join(', ')}`);
  }
  if (refresh !== undefined && (filter === undefined || (refresh !== 'every-block' && refresh !== 'first-block')))
    throw new Error(`unknown method ${m}: @every-block or @first-block follows a host+filter method`);
  return { cache: host as CacheName, filter: filter ?? null, promptRefresh: (refresh as PromptRefresh | undefined) ?? null };
}

/** The generate options a method adds (filter, its budget and prompt refresh). */
function methodOptions(m: EngineMethod, budget: number): Pick<GenerateOptions & FilterOptions, 'cache' | 'filter' | 'promptRefresh' | 'budget' | 'wave'> {
  const parsed = parseEngineMethod(m, engineHosts());
  const filter = parsed.filter;
  // (Elastic-Cache is no block host: the child runs it through generateElastic, ChildConfig.elastic)
  const cache = parsed.cache === ('elastic' as CacheName) ? undefined : parsed.cache;
  const f = filter ? WAVE_METHODS[filter] : undefined;
  if (!f) return cache ? { cache } : {};
  // unless the method names one, the prompt refresh is the engine's default for the filter (on a
  // GPU chosen by cost: DiffusionModel.generate, model/refresh-cost.ts), reported per row
  return { cache, filter: f.filter, budget, ...(f.preset ? { wave: { preset: f.preset } } : {}), ...(parsed.promptRefresh ? { promptRefresh: parsed.promptRefresh } : {}) };
}

export interface EngineBenchOptions {
  readonly promptLengths: readonly number[];
  readonly methods: readonly EngineMethod[];
  /** kept prompt rows of the filtered methods (fraction or count) */
  readonly budget?: number;
  /** requested executors; a row names the one that ran (auto on a GPU: the generation program where it applies) */
  readonly executors: readonly ExecutorChoice[];
  readonly genLength: number;
  readonly blockLength: number;
  readonly steps: number;
  readonly shape: BenchShape;
  /** An existing checkpoint instead of the random one of `shape` (e.g. one of LLaDA-8B's shape made by bench/gpu/make_checkpoint.py). */
  readonly checkpoint?: { readonly dir: string; readonly vocab: number };
  readonly threads?: number;
  readonly device?: Device;
  readonly dtype?: 'fp32' | 'fp16';
  /** The block program's graph knobs (default: by dtype). */
  readonly graph?: GraphTuning;
  readonly threshold?: number | null;
  /**
   * Run every configuration in this process on one loaded model (an 8B checkpoint takes minutes to
   * load): faster. On a GPU each row's session is rebuilt after the previous row's is released
   * (DiffusionModel.releaseSessions), so device memory stays per row; peak RSS is the running maximum.
   */
  readonly inProcess?: boolean;
  /** Untimed one-block generations before each timed row (ChildConfig.warmup). */
  readonly warmup?: number;
  /** Warm-up generations before the no-cache rows (default: warmup). */
  readonly warmupNone?: number;
}

export interface EngineRow {
  readonly prompt: number;
  readonly method: EngineMethod;
  /** the executor that ran */
  readonly executor: 'step' | 'block' | 'generation';
  /** when the host recomputed the prompt's K/V */
  readonly promptRefresh: 'every-block' | 'first-block';
  readonly totalS: number;
  readonly tokensPerS: number;
  /** kept prompt rows per KV head (filtered methods), null for the dense hosts */
  readonly keptPromptRows: number | null;
  /** against `none` on the same executor */
  readonly vsNone: number | null;
  /** block against step for the same host (on the block row) */
  readonly vsStep: number | null;
  readonly nfe: number;
  /** wall time per denoising forward */
  readonly msPerStep: number;
  readonly ortRunsPerBlock: number;
  readonly blockMsMean: number;
  readonly jsShare: number;
  readonly peakRssMiB: number;
  /** peak device memory over the run (CUDA), null on the CPU */
  readonly peakDeviceMiB: number | null;
  readonly idsHash: string;
  /** block row: the step executor produced the same ids */
  readonly sameIdsAsStep: boolean | null;
}

/** A configuration that failed (its error), kept so one bad row does not lose the others. */
export interface FailedRow {
  readonly prompt: number;
  readonly method: string;
  readonly executor: string;
  readonly error: string;
}

export async function runEngineBench(o: EngineBenchOptions, log: (s: string) => void, failed: FailedRow[] = []): Promise<EngineRow[]> {
  const dir = o.checkpoint?.dir ?? randomCheckpoint(o.shape);
  const vocab = o.checkpoint?.vocab ?? o.shape.vocab;
  const rows: EngineRow[] = [];
  const inProcess = new InProcessRunner();
  for (const prompt of o.promptLengths) {
    const results = new Map<string, ChildResult & { peakDeviceMiB: number | null }>();
    for (const method of o.methods) {
      for (const executor of o.executors) {
        log(`  prompt ${prompt}, ${method}, ${executor}... `);
        const cfg: ChildConfig = {
          dir, load: { threads: o.threads, executor, device: o.device, dtype: o.dtype, ...(o.graph ? { graph: o.graph } : {}) }, promptLength: prompt, vocab, warmup: method === 'none' ? (o.warmupNone ?? o.warmup ?? 0) : (o.warmup ?? 0), elastic: method.split('+')[0] === 'elastic',
          options: { genLength: o.genLength, blockLength: o.blockLength, steps: o.steps, ...methodOptions(method, o.budget ?? 0.1), executor, allowLongContext: true, threshold: o.threshold ?? null },
        };
        let r: ChildResult & { peakDeviceMiB: number | null };
        try {
          r = o.inProcess ? await inProcess.run(cfg) : await runChild(cfg);
        } catch (e) {
          // (a GPU run's 32K Dream row once stopped a whole file: the other rows' results stay)
          const error = e instanceof Error ? e.message : String(e);
          failed.push({ prompt, method, executor, error });
          log(`failed: ${error}\n`);
          continue;
        }
        results.set(`${method}|${executor}`, r);
        log(`${(r.timings.totalMs / 1000).toFixed(1)} s, ${r.peakRssMiB.toFixed(0)} MiB${r.peakDeviceMiB === null ? '' : `, device ${r.peakDeviceMiB.toFixed(0)} MiB`}\n`);
      }
    }
    for (const method of o.methods) {
      for (const executor of o.executors) {
        const r = results.get(`${method}|${executor}`);
        if (!r) continue;
        const none = results.get(`none|${executor}`);
        const step = executor === 'block' ? results.get(`${method}|step`) : undefined;
        const tps = r.timings.tokensPerSecond;
        rows.push({
          prompt, method, executor: r.timings.executor, promptRefresh: r.promptRefresh, keptPromptRows: r.timings.keptPromptRows ?? null, totalS: r.timings.totalMs / 1000, tokensPerS: tps,
          vsNone: none && method !== 'none' ? tps / none.timings.tokensPerSecond : null,
          vsStep: step ? tps / step.timings.tokensPerSecond : null,
          nfe: r.nfe, msPerStep: r.timings.totalMs / Math.max(1, r.nfe), ortRunsPerBlock: r.timings.ortRunsPerBlock, blockMsMean: r.timings.blockMsMean, jsShare: r.timings.jsShare,
          peakRssMiB: r.peakRssMiB, peakDeviceMiB: r.peakDeviceMiB, idsHash: r.idsHash, sameIdsAsStep: step ? step.idsHash === r.idsHash : null,
        });
      }
    }
  }
  await inProcess.dispose();
  return rows;
}

const x = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}x`);

export function engineTable(rows: readonly EngineRow[]): string {
  const out = [
    '| prompt | method | executor | kept prompt rows | total s | tokens/s | vs none | block vs step | same tokens | nfe | ms/step | ORT runs/block | JS share | peak RSS MiB | peak device MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    out.push(`| ${r.prompt} | ${r.method} | ${r.executor} | ${r.keptPromptRows == null ? 'all' : r.keptPromptRows.toFixed(0)} | ${r.totalS.toFixed(1)} | ${r.tokensPerS.toFixed(2)} | ${x(r.vsNone)} | ${x(r.vsStep)} | ${r.sameIdsAsStep === null ? '-' : r.sameIdsAsStep ? 'yes' : 'NO'} | ${r.nfe} | ${(r.msPerStep ?? NaN).toFixed(1)} | ${r.ortRunsPerBlock.toFixed(1)} | ${(100 * r.jsShare).toFixed(1)}% | ${r.peakRssMiB.toFixed(0)} | ${r.peakDeviceMiB?.toFixed(0) ?? '-'} |`);
  return out.join('\n');
}
