/**
 * Token filters by name: each filter is one folder (streaming/, random/, snapkv/, h2o/,
 * sparse-dllm/, wavefilter/) exporting a FilterEntry, and this list. The CLI's choices, option
 * validation, the evaluation grids and the conformance suite read the names from here.
 * FilterFactory builds a fresh filter per generation over selection sessions built once per model
 * and configuration (filter state such as H2O's accumulator is per generation).
 */
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import { FilterSession } from './filter-session.js';
import type { Budget, TokenFilter } from './token-filter.js';
import type { WaveFilterOptions } from './wavefilter/index.js';
import { parseBudget } from './budget.js';
import { streaming } from './streaming/index.js';
import { random } from './random/index.js';
import { snapkv } from './snapkv/index.js';
import { h2o } from './h2o/index.js';
import { sparseDllm } from './sparse-dllm/index.js';
import { wavefilter } from './wavefilter/index.js';

export interface FilterOptions {
  readonly filter?: FilterName;
  /** Kept prompt rows: a fraction of the prompt (<= 1) or a token count (> 1). Default 0.16 for baselines. */
  readonly budget?: number | null;
  readonly wave?: WaveFilterOptions;
}

/** What a filter's create() gets. */
export interface FilterContext {
  readonly spec: ModelSpec;
  /** The parsed budget (0.16 of the prompt when not given). */
  readonly budget: Budget;
  readonly options: FilterOptions;
  readonly seed: number;
  /**
   * A selection session built once per key and reused by every generation. Filters call it on
   * their first standalone selection (the step executor), not at create(): the block program runs
   * the selection in its own graph and never needs these sessions.
   */
  session(key: string, graph: () => Uint8Array): Promise<FilterSession>;
}

/** One token filter: its name, one line for --help, and how to build it for a generation. */
export interface FilterEntry {
  readonly name: string;
  readonly summary: string;
  /** Takes the `wave` options (WaveFilter's knobs). */
  readonly wave?: boolean;
  create(c: FilterContext): Promise<TokenFilter>;
}

/** The filters, in the order the docs and grids list them. */
export const TOKEN_FILTERS = [wavefilter, snapkv, streaming, h2o, sparseDllm, random] as const;
export const FILTER_NAMES = ['none', 'wavefilter', 'snapkv', 'streaming', 'h2o', 'sparse-dllm', 'random'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

const BY_NAME = new Map<string, FilterEntry>(TOKEN_FILTERS.map((f) => [f.name, f]));

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
    if (!BY_NAME.get(name)?.wave && waveSet.length)
      throw new WavefilterError('invalid_option', `wave options (${waveSet.join(', ')}) apply to --filter wavefilter only, not ${name}`, { option: 'wave' });
    const entry = BY_NAME.get(name) as FilterEntry;
    return entry.create({ spec: this.spec, budget: parseBudget(o.budget) ?? { fraction: 0.16 }, options: o, seed, session: (k, g) => this.session(k, g) });
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).dispose();
    this.sessions.clear();
  }
}
