/**
 * Cache hosts by name: each host is a policy (what a block's steps recompute, what they attend to)
 * that both executors read (policy.ts). Each built-in host is one folder under hosts/; option
 * validation, the CLI's choices, the docs and the conformance suite read the names from here, so a
 * new host is its folder plus one line below (or `registerCacheHost` from outside the package).
 */
import { WavefilterError } from '../errors.js';

import type { HostPolicy } from './policy.js';
import { none } from './hosts/none/index.js';
import { prefix } from './hosts/prefix/index.js';
import { dual } from './hosts/dual/index.js';

export type { HostPolicy } from './policy.js';

/** The built-in hosts. */
export const BUILTIN_CACHE_HOSTS = [none, prefix, dual] as const;
export type CacheName = (typeof BUILTIN_CACHE_HOSTS)[number]['name'] | (string & {});

const hosts = new Map<string, HostPolicy>(BUILTIN_CACHE_HOSTS.map((h) => [h.name, h]));

/** Every registered host name, built-ins first. */
export function cacheHostNames(): string[] {
  return [...hosts.keys()];
}

/** The policy of a host, or `invalid_option` naming the known ones. */
export function cacheHostPolicy(name: string): HostPolicy {
  const h = hosts.get(name);
  if (!h) throw new WavefilterError('invalid_option', `cache: expected one of ${cacheHostNames().join(', ')}, found ${JSON.stringify(name)}`, { option: 'cache' });
  return h;
}

/** Adds a host (a policy both executors run). Names are unique. */
export function registerCacheHost(policy: HostPolicy): void {
  if (!/^[a-z][a-z0-9-]*$/.test(policy.name)) throw new WavefilterError('invalid_option', `cache host name ${JSON.stringify(policy.name)}: expected lowercase letters, digits and dashes`, { option: 'cache' });
  if (hosts.has(policy.name)) throw new WavefilterError('invalid_option', `cache host ${policy.name} is already registered`, { option: 'cache' });
  if (!Number.isSafeInteger(policy.minForwardsPerBlock) || policy.minForwardsPerBlock < 1)
    throw new WavefilterError('invalid_option', `cache host ${policy.name}: minForwardsPerBlock must be a positive integer`, { option: 'cache' });
  hosts.set(policy.name, policy);
}

/** The window a cached host's step recomputes, checked: it must hold the block and lie in the canvas. */
export function checkedWindow(policy: HostPolicy, lo: number, hi: number, L: number): readonly [number, number] {
  const [a, b] = policy.cached ? policy.stepWindow(lo, hi, L) : [0, L];
  if (!(Number.isSafeInteger(a) && Number.isSafeInteger(b) && a >= 0 && a <= lo && b >= hi && b <= L))
    throw new WavefilterError('runtime_error', `cache host ${policy.name}: step window [${a}, ${b}) does not contain block [${lo}, ${hi}) inside canvas [0, ${L})`);
  return [a, b];
}
