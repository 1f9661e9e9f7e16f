/** Step-executor host objects, built from the registered host policies (registry.ts). */
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { TokenFilter } from '../filter/token-filter.js';
import { BlockCacheHost } from './block-host.js';
import type { CacheHost } from './host.js';
import { NoCacheHost } from './none.js';
import { cacheHostPolicy } from './registry.js';

export type PromptRefresh = 'every-block' | 'first-block';

export interface HostOptions {
  readonly filter?: TokenFilter | null;
  /** Default: 'every-block' (Fast-dLLM). */
  readonly promptRefresh?: PromptRefresh;
}

/** A fresh host by name. */
export function createCacheHost(name: string, spec: ModelSpec, o: HostOptions = {}): CacheHost {
  const policy = cacheHostPolicy(name);
  const filter = o.filter ?? null;
  const promptRefresh = o.promptRefresh ?? 'every-block';
  if (!policy.cached) {
    if (filter) throw new WavefilterError('invalid_option', `filter: needs a cache host (--cache prefix or dual); with --cache ${name} there is no cache to filter`, { option: 'filter' });
    if (promptRefresh !== 'every-block') throw new WavefilterError('invalid_option', 'promptRefresh: needs a cache host (--cache prefix or dual)', { option: 'prompt-refresh' });
    return new NoCacheHost(policy);
  }
  if (filter && !policy.acceptsFilter) throw new WavefilterError('invalid_option', `filter: cache host ${name} does not take a token filter`, { option: 'filter' });
  return new BlockCacheHost(spec, { policy, promptRefresh, filter });
}
export type { CacheHost, CacheName } from './host.js';
export { cacheHostNames, cacheHostPolicy, registerCacheHost, type HostPolicy } from './registry.js';
