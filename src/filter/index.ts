/**
 * Token filters by name, with their ORT sessions built once per model and configuration and
 * reused by every generation (filter state such as H2O's accumulator is per generation).
 */
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import { FilterSession } from './filter-session.js';
import { buildIndexGraph } from './graphs.js';
import { RandomFilter, ScoredFilter, StreamingFilter } from './baselines.js';
import type { Budget, TokenFilter } from './token-filter.js';
import { WaveFilter, type WaveFilterOptions, type WaveVariant, resolveWaveOptions } from './wavefilter.js';

export const FILTER_NAMES = ['none', 'wavefilter', 'snapkv', 'streaming', 'h2o', 'sparse-dllm', 'random'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

export interface FilterOptions {
  readonly filter?: FilterName;
  /** Kept prompt rows: a fraction of the prompt (<= 1) or a token count (> 1). Default 0.16 for baselines. */
  readonly budget?: number | null;
  readonly wave?: WaveFilterOptions;
}

/** A budget number: (0, 1] is a fraction of the prompt, larger is a token count. */
export function parseBudget(v: number | null | undefined): Budget | null {
  if (v === null || v === undefined) return null;
  if (!(Number.isFinite(v) && v > 0)) throw new WavefilterError('invalid_option', `budget: expected a fraction in (0, 1] or a token count > 1, found ${v}`, { option: 'budget' });
  if (v > 1 && !Number.isSafeInteger(v)) throw new WavefilterError('invalid_option', `budget: a value above 1 is a token count and must be an integer, found ${v}`, { option: 'budget' });
  return v <= 1 ? { fraction: v } : { tokens: v };
}

export class FilterFactory {
  private readonly sessions = new Map<string, Promise<FilterSession>>();
  constructor(private readonly spec: ModelSpec, private readonly threads?: number) {}

  private session(key: string, graph: () => Uint8Array): Promise<FilterSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = FilterSession.create(graph(), this.spec, this.threads);
      this.sessions.set(key, s);
    }
    return s;
  }

  /** A fresh filter for one generation, or null for `none`. */
  async create(o: FilterOptions, seed: number): Promise<TokenFilter | null> {
    const name = o.filter ?? 'none';
    if (!(FILTER_NAMES as readonly string[]).includes(name))
      throw new WavefilterError('invalid_option', `filter: expected one of ${FILTER_NAMES.join(', ')}, found ${JSON.stringify(name)}`, { option: 'filter' });
    if (name === 'none') {
      if (o.budget !== undefined && o.budget !== null) throw new WavefilterError('invalid_option', 'budget: given without a filter (pass --filter)', { option: 'budget' });
      if (Object.values(o.wave ?? {}).some((v) => v !== undefined && v !== null))
        throw new WavefilterError('invalid_option', 'wave options: given without --filter wavefilter', { option: 'wave' });
      return null;
    }
    const waveSet = Object.entries(o.wave ?? {}).filter(([, v]) => v !== undefined && v !== null).map(([k]) => k);
    if (name !== 'wavefilter' && waveSet.length)
      throw new WavefilterError('invalid_option', `wave options (${waveSet.join(', ')}) apply to --filter wavefilter only, not ${name}`, { option: 'wave' });
    const budget = parseBudget(o.budget) ?? { fraction: 0.16 };
    if (name === 'wavefilter') {
      const w = resolveWaveOptions({ ...o.wave, budget: parseBudget(o.budget) ?? o.wave?.budget ?? null });
      const key = `wave:${w.levels}:${w.norm}:${w.headShared}:${w.denseLayers.join('.')}`;
      const session = (variant: WaveVariant) => this.session(`${key}:${variant}`, () => WaveFilter.graph(this.spec, w, variant));
      // sessions are set up here, with the filter, not inside the first selection
      await Promise.all([session('coarse'), session('reuse')]);
      return new WaveFilter(this.spec, session, w);
    }
    if (name === 'streaming') return new StreamingFilter(this.spec, await this.session('index', () => buildIndexGraph(this.spec)), budget);
    if (name === 'random') return new RandomFilter(this.spec, await this.session('index', () => buildIndexGraph(this.spec)), budget, seed);
    return new ScoredFilter(name, this.spec, await this.session(`score:${name}`, () => ScoredFilter.graph(this.spec, name)), budget);
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).dispose();
    this.sessions.clear();
  }
}
export type { TokenFilter, Selection, SelectionRequest, Budget } from './token-filter.js';
export { WaveFilter, resolveWaveOptions } from './wavefilter.js';
export type { WaveFilterOptions, ResolvedWaveOptions, WavePreset } from './wavefilter.js';
