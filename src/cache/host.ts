/**
 * CacheHost: the one interface every DLM cache method implements. The decoder loop asks the host
 * for a forward plan at each step (which positions are queries, which cached K/V rows they attend
 * to) and hands back the forward's outputs; it never knows which method it runs.
 */
import type { ForwardRequest, ForwardResult, PastKV } from '../model/runtime.js';

export interface BlockContext {
  /** The canvas (prompt + generation), token ids; the host must not modify it. */
  readonly canvas: Int32Array;
  readonly promptLength: number;
  /** Current block [lo, hi) in absolute positions. */
  readonly lo: number;
  readonly hi: number;
}

export interface StepContext extends BlockContext {
  /** Forward index inside the block: 0 is the first forward of the block. */
  readonly stepInBlock: number;
}

export interface ForwardPlan {
  /** Absolute positions computed this step (ascending); their tokens are fed as queries. */
  readonly positions: Int32Array;
  /** Cached rows to attend to, or null for a forward over `positions` alone. */
  readonly past: PastKV | null;
  /** True for a block's first forward, which (re)builds the cache; reported in timings and events. */
  readonly refresh: boolean;
  /** Rows of `positions` whose post-RoPE queries the host wants back (token filters). */
  readonly queryRows?: Int32Array;
}

export interface CacheHost {
  readonly name: string;
  /**
   * Forwards a block runs at least, even when its masks are gone earlier. Fast-dLLM v1's prefix and
   * dual loops run one cached step after the refresh before they test for completion (2); the
   * no-cache loop tests after every forward (1). Kept so NFE matches the official code.
   */
  readonly minForwardsPerBlock: number;
  /** Dream: the block's first forward commits position lo alone (see HostPolicy). Default false. */
  readonly dreamFirstTokenFromRefresh?: boolean;
  /** Called when a block starts. */
  beginBlock(ctx: BlockContext): void;
  /** The forward to run at this step. */
  plan(ctx: StepContext): ForwardPlan | Promise<ForwardPlan>;
  /** Receives the forward's outputs for the plan it made. */
  absorb(plan: ForwardPlan, result: ForwardResult, ctx: StepContext): void | Promise<void>;
  /**
   * A host whose caches hold more than K/V (dLLM-Cache: attention and FFN outputs) computes the
   * forward itself; the decoder then calls this instead of the model's forward graph.
   */
  forward?(req: ForwardRequest, plan: ForwardPlan, ctx: StepContext): Promise<ForwardResult>;
  /** Bytes of K/V the host holds now (for memory reports). */
  heldBytes(): number;
  /** The token filter's kept prompt rows in force (per layer [Hkv, T], -1 = padding), or null. */
  keptTokens?(): readonly BigInt64Array[] | null;
  /** Token-filter work so far, when the host has a filter. */
  filterStats?(): { selections: number; selectMs: number; selectRuns?: number; keptPromptRows: number };
}

export type { CacheName } from './registry.js';


export function range(lo: number, hi: number): Int32Array {
  const a = new Int32Array(hi - lo);
  for (let i = 0; i < a.length; i++) a[i] = lo + i;
  return a;
}
