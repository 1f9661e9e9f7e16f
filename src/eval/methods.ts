/**
 * The method grid every benchmark runs on identical prompts: one cache host, with no filter and
 * with each token filter at each budget (WaveFilter once per preset).
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { type CacheName, cacheHostNames } from '../cache/registry.js';
import { WavefilterError } from '../errors.js';
import type { DiffusionModel } from '../engine.js';
import { FILTER_NAMES, type FilterName } from '../filter/index.js';
import { type WavePreset, resolveWaveOptions } from '../filter/wavefilter/index.js';
import { parseBudget } from '../filter/budget.js';

/**
 * A block cache host of the registry, Elastic-Cache (its own program: DiffusionModel.generateElastic)
 * or dLLM-Cache (a host with its own forward in the step loop: src/cache/dllm).
 */
export type MethodCache = CacheName | 'elastic' | 'dllm-cache';

export interface MethodSpec {
  readonly name: string;
  readonly cache: MethodCache;
  readonly filter: FilterName;
  readonly budget: number | null;
  readonly preset: WavePreset | null;
  /** WaveFilter's token share (WaveFilterOptions.tokenShare) where the grid sets it; absent: the preset's own. */
  readonly tokenShare?: number;
}

/** A MethodSpec as results.json stores it (bench merge validates with this). */
export const methodSpecSchema = z.object({
  name: z.string().min(1).max(200),
  // any host registered when the results are read (built-ins and extensions)
  cache: z.string().refine((c) => c === 'elastic' || c === 'dllm-cache' || cacheHostNames().includes(c), { message: 'not a registered cache host' }),
  filter: z.enum(FILTER_NAMES as unknown as [string, ...string[]]),
  budget: z.number().positive().finite().nullable(),
  preset: z.enum(['practical', 'faithful']).nullable(),
  tokenShare: z.number().min(0).lt(1).optional(),
});

/**
 * The grid: every filter at every budget, WaveFilter once per preset and token share (`tokenShares`:
 * null is the preset's own, a number sets WaveFilterOptions.tokenShare and names the row
 * `+share<X>`).
 */
export function methodGrid(cache: MethodCache, filters: readonly FilterName[], budgets: readonly number[], presets: readonly WavePreset[], tokenShares: readonly (number | null)[] = [null]): MethodSpec[] {
  const methods: MethodSpec[] = [];
  if (cache === 'dllm-cache' && filters.some((f) => f !== 'none'))
    throw new WavefilterError('invalid_option', 'cache dllm-cache: token filters run on the prefix and dual hosts and on Elastic-Cache (give --filter none)', { option: 'filter' });
  for (const filter of filters) {
    if (filter === 'none') methods.push({ name: cache, cache, filter, budget: null, preset: null });
    else
      for (const budget of budgets)
        for (const preset of filter === 'wavefilter' ? presets : [null])
          for (const share of filter === 'wavefilter' ? tokenShares : [null])
            methods.push({
              name: `${cache}+${filter}${preset ? `-${preset}` : ''}${share === null ? '' : `+share${share}`}@${budget}`, cache, filter, budget, preset,
              ...(share === null ? {} : { tokenShare: share }),
            });
  }
  return methods;
}

/**
 * What a results row's input hash records of its method: the spec, and for WaveFilter every knob
 * the preset resolves to, so that a change of a preset's defaults (practical's token share, 0.25
 * since the hold-out evaluation) makes a resumed run redo its rows instead of keeping rows of the
 * old algorithm under the same name.
 */
export function methodIdentity(m: MethodSpec): Record<string, unknown> {
  if (m.filter !== 'wavefilter') return { ...m };
  const f = filterOptions(m);
  const { tokenPool, tailRefresh, tailRefreshPast, ...wave } = resolveWaveOptions({ ...f.wave, budget: parseBudget(f.budget) });
  // knobs added later enter the identity only away from their no-op defaults, so the rows of work
  // done before they existed (the committed reports) stay resumable: they did that same work
  return { ...m, wave: { ...wave, ...(tokenPool === 1 ? {} : { tokenPool }), ...(tailRefresh ? { tailRefresh, tailRefreshPast } : {}) } };
}

/**
 * Whether two methods run the same algorithm whatever their names: the same host, filter and budget,
 * and for WaveFilter the same resolved knobs (a practical row named +share0.25 from before the preset
 * took the share, and a plain practical row from after).
 */
export function sameAlgorithm(a: MethodSpec, b: MethodSpec): boolean {
  const key = (m: MethodSpec): Record<string, unknown> => {
    const { name: _n, tokenShare: _t, preset, ...rest } = methodIdentity(m) as Record<string, unknown> & MethodSpec;
    // WaveFilter's preset and token share live in the resolved knobs
    return { ...rest, ...(m.filter === 'wavefilter' ? {} : { preset }) };
  };
  return isDeepStrictEqual(key(a), key(b));
}

/** A method's token filter options, as model.generate and model.generateElastic take them. */
export function filterOptions(m: MethodSpec): { filter: FilterName; budget: number | null; wave?: { preset: WavePreset; tokenShare?: number } } {
  return { filter: m.filter, budget: m.budget, ...(m.filter === 'wavefilter' && m.preset ? { wave: { preset: m.preset, ...(m.tokenShare === undefined ? {} : { tokenShare: m.tokenShare }) } } : {}) };
}

/** Generation options of a block-host method, as model.generate takes them. */
export function methodOptions(m: MethodSpec): { cache: CacheName; filter: FilterName; budget: number | null; wave?: { preset: WavePreset; tokenShare?: number } } {
  return { cache: m.cache as CacheName, ...filterOptions(m) };
}

/** What every benchmark decodes with, whatever the method. */
export interface MethodRun {
  readonly genLength: number;
  readonly blockLength: number;
  /** Fast-dLLM's threshold (Elastic-Cache's too); null: one token a step (Elastic: one per iteration). */
  readonly threshold: number | null;
  readonly allowLongContext?: boolean;
}

/**
 * One generation of a method: a block host (and dLLM-Cache, with its defaults: prompt interval 100,
 * answer interval 8, rho 0.25, the official long-context scripts') through model.generate (steps =
 * genLength), Elastic-Cache
 * through model.generateElastic with the official evaluation's window (16), gamma (0.9) and one
 * tracked token per layer (a filter there keeps one set of prompt rows for every layer after the
 * first forward: src/cache/elastic/compact.ts).
 */
export async function runMethod(model: DiffusionModel, ids: readonly number[], m: MethodSpec, r: MethodRun): Promise<{ text: string | null; generatedIds: number[]; nfe: number }> {
  if (m.cache === 'elastic')
    return model.generateElastic({ inputIds: ids }, { genLength: r.genLength, window: 16, ...(r.threshold === null ? { tokensPerIter: 1 } : { threshold: r.threshold }), ...filterOptions(m), allowLongContext: r.allowLongContext });
  return model.generate({ inputIds: ids }, { genLength: r.genLength, blockLength: r.blockLength, steps: r.genLength, threshold: r.threshold, ...methodOptions(m), allowLongContext: r.allowLongContext });
}
