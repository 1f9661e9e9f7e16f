import { WavefilterError } from '../errors.js';
import { DualCacheHost } from './dual.js';
import type { CacheHost, CacheName } from './host.js';
import { NoCacheHost } from './none.js';
import { PrefixCacheHost } from './prefix.js';

export const CACHE_NAMES: readonly CacheName[] = ['none', 'prefix', 'dual'];

/** A fresh host by name. */
export function createCacheHost(name: CacheName): CacheHost {
  switch (name) {
    case 'none':
      return new NoCacheHost();
    case 'prefix':
      return new PrefixCacheHost();
    case 'dual':
      return new DualCacheHost();
    default:
      throw new WavefilterError('invalid_option', `cache: expected one of ${CACHE_NAMES.join(', ')}, found ${JSON.stringify(name)}`, { option: 'cache' });
  }
}
export type { CacheHost, CacheName } from './host.js';
