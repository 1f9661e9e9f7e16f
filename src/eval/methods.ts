/**
 * The method grid every benchmark runs on identical prompts: one cache host, with no filter and
 * with each token filter at each budget (WaveFilter once per preset).
 */
import { z } from 'zod';
import { type CacheName, cacheHostNames } from '../cache/registry.js';
import { FILTER_NAMES, type FilterName } from '../filter/index.js';
import type { WavePreset } from '../filter/wavefilter/index.js';

export interface MethodSpec {
  readonly name: string;
  readonly cache: CacheName;
  readonly filter: FilterName;
  readonly budget: number | null;
  readonly preset: WavePreset | null;
}

/** A MethodSpec as results.json stores it (bench merge validates with this). */
export const methodSpecSchema = z.object({
  name: z.string().min(1).max(200),
  // any host registered when the results are read (built-ins and extensions)
  cache: z.string().refine((c) => cacheHostNames().includes(c), { message: 'not a registered cache host' }),
  filter: z.enum(FILTER_NAMES as unknown as [string, ...string[]]),
  budget: z.number().positive().finite().nullable(),
  preset: z.enum(['practical', 'faithful']).nullable(),
});

export function methodGrid(cache: CacheName, filters: readonly FilterName[], budgets: readonly number[], presets: readonly WavePreset[]): MethodSpec[] {
  const methods: MethodSpec[] = [];
  for (const filter of filters) {
    if (filter === 'none') methods.push({ name: cache, cache, filter, budget: null, preset: null });
    else
      for (const budget of budgets)
        for (const preset of filter === 'wavefilter' ? presets : [null])
          methods.push({ name: `${cache}+${filter}${preset ? `-${preset}` : ''}@${budget}`, cache, filter, budget, preset });
  }
  return methods;
}

/** Generation options of a method, as model.generate takes them. */
export function methodOptions(m: MethodSpec): { cache: CacheName; filter: FilterName; budget: number | null; wave?: { preset: WavePreset } } {
  return { cache: m.cache, filter: m.filter, budget: m.budget, ...(m.filter === 'wavefilter' && m.preset ? { wave: { preset: m.preset } } : {}) };
}
