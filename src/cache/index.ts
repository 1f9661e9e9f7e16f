/** Step-executor host objects, built from the registered host policies (registry.ts). */
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { TokenFilter } from '../filter/token-filter.js';
import { BlockCacheHost } from './block-host.js';
import type { CacheHost } from './host.js';
import { NoCacheHost } from './none.js';
import { type HostPolicy, cacheHostPolicy } from './registry.js';

export type PromptRefresh = 'every-block' | 'first-block';

export interface HostOptions {
  readonly filter?: TokenFilter | null;
  /** Default: 'every-block' (Fast-dLLM). */
  readonly promptRefresh?: PromptRefresh;
}

/** Whether a host takes these options (both executors ask). */
export function checkHostOptions(policy: HostPolicy, filter: TokenFilter | null, promptRefresh: PromptRefresh): void {
  if (!policy.cached) {
    if (filter) throw new WavefilterError('invalid_option', `filter: needs a cache host (cache 'dual' or 'prefix', --cache dual|prefix); with cache ${policy.name} there is no cache to filter`, { option: 'filter' });
    if (promptRefresh !== 'every-block') throw new WavefilterError('invalid_option', "promptRefresh: needs a cache host (cache 'dual' or 'prefix', --cache dual|prefix)", { option: 'prompt-refresh' });
  }
  if (filter && !policy.acceptsFilter) throw new WavefilterError('invalid_option', `filter: cache host ${policy.name} does not take a token filter`, { option: 'filter' });
}

/** A fresh host by name, for the step executor. */
export function createCacheHost(name: string, spec: ModelSpec, o: HostOptions = {}): CacheHost {
  const policy = cacheHostPolicy(name);
  const filter = o.filter ?? null;
  const promptRefresh = o.promptRefresh ?? 'every-block';
  checkHostOptions(policy, filter, promptRefresh);
  return policy.cached ? new BlockCacheHost(spec, { policy, promptRefresh, filter }) : new NoCacheHost(policy);
}
export type { CacheHost, CacheName } from './host.js';
export { cacheHostNames, cacheHostPolicy, registerCacheHost } from './registry.js';
export type { HostPolicy } from './registry.js';
