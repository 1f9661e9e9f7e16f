import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { TokenFilter } from '../filter/token-filter.js';
import { BlockCacheHost } from './block-host.js';
import type { CacheHost, CacheName } from './host.js';
import { NoCacheHost } from './none.js';

export const CACHE_NAMES: readonly CacheName[] = ['none', 'prefix', 'dual'];
export type PromptRefresh = 'every-block' | 'first-block';

export interface HostOptions {
  readonly filter?: TokenFilter | null;
  /** Default: 'every-block' (Fast-dLLM). */
  readonly promptRefresh?: PromptRefresh;
}

/** A fresh host by name. */
export function createCacheHost(name: CacheName, spec: ModelSpec, o: HostOptions = {}): CacheHost {
  const filter = o.filter ?? null;
  const promptRefresh = o.promptRefresh ?? 'every-block';
  if (name === 'none') {
    if (filter) throw new WavefilterError('invalid_option', 'filter: needs a cache host (--cache prefix or dual); with --cache none there is no cache to filter', { option: 'filter' });
    if (promptRefresh !== 'every-block') throw new WavefilterError('invalid_option', 'promptRefresh: needs a cache host (--cache prefix or dual)', { option: 'prompt-refresh' });
    return new NoCacheHost();
  }
  if (name === 'prefix' || name === 'dual') return new BlockCacheHost(spec, { name, queries: name === 'dual' ? 'block' : 'suffix', promptRefresh, filter });
  throw new WavefilterError('invalid_option', `cache: expected one of ${CACHE_NAMES.join(', ')}, found ${JSON.stringify(name)}`, { option: 'cache' });
}
export type { CacheHost, CacheName } from './host.js';
