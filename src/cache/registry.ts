/**
 * Cache hosts by name: each host is a policy (what a block's steps recompute, what they attend to)
 * that both executors read — the step executor builds its host object from it (cache/index.ts),
 * the block program takes its window and cache controls from it (decode/block-executor.ts). Option
 * validation, the CLI's choices and the docs read the names from here, so a new host is its
 * policy plus one line below (or `registerCacheHost` from outside the package).
 */
import { WavefilterError } from '../errors.js';

export interface HostPolicy {
  readonly name: string;
  /** One line for --help and the docs. */
  readonly summary: string;
  /**
   * Forwards a block runs at least, even when its masks are gone earlier. Fast-dLLM v1's prefix and
   * dual loops run one cached step after the refresh before they test for completion (2); the
   * no-cache loop tests after every forward (1). Kept so NFE matches the official code.
   */
  readonly minForwardsPerBlock: number;
  /** Steps after a block's first forward attend to the K/V it built; false: every step is a full forward. */
  readonly cached: boolean;
  /** For cached hosts: the positions [from, to) a step recomputes for block [lo, hi) of a canvas of length L (must contain the block). */
  stepWindow(lo: number, hi: number, L: number): readonly [number, number];
  /**
   * Dream: the block's first forward commits position lo alone. Fast-dLLM's Dream block loop does
   * this because in cached steps the shifted prediction for lo would come from a row outside the
   * query window.
   */
  readonly dreamFirstTokenFromRefresh: boolean;
  /** Whether a token filter can sit on this host (it needs cached prompt rows). */
  readonly acceptsFilter: boolean;
}

const none: HostPolicy = {
  name: 'none', summary: 'no cache: every step recomputes the whole canvas (LLaDA / Dream generate)',
  minForwardsPerBlock: 1, cached: false, stepWindow: (_lo, _hi, L) => [0, L], dreamFirstTokenFromRefresh: false, acceptsFilter: false,
};
const prefix: HostPolicy = {
  name: 'prefix', summary: 'Fast-dLLM prefix cache: steps recompute the block and everything after it',
  minForwardsPerBlock: 2, cached: true, stepWindow: (lo, _hi, L) => [lo, L], dreamFirstTokenFromRefresh: true, acceptsFilter: true,
};
const dual: HostPolicy = {
  name: 'dual', summary: 'Fast-dLLM dual cache: steps recompute the block only',
  minForwardsPerBlock: 2, cached: true, stepWindow: (lo, hi) => [lo, hi], dreamFirstTokenFromRefresh: true, acceptsFilter: true,
};

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
