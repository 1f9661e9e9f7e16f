/**
 * TokenFilter: which prompt rows survive into the sparse cache. A cache host calls `select` after
 * a refresh (and, for `every-step` filters, before each cached step); the filter returns the compact
 * past the host then attends to: kept prompt rows per KV head, followed by every generation row.
 */

import type ort from 'onnxruntime-node';
import type { GraphBuilder } from '../model/onnx-builder.js';
import type { ModelSpec } from '../model/spec.js';
import type { EmittedSelection, SelectionIO } from './selection-graph.js';

export type SelectionSchedule = 'once-per-block' | 'every-step' | 'on-drift';

/**
 * A filter's policy in the form the block program runs (program/block-graph.ts): the selection's
 * ops, emitted into the denoising run after the refresh (and, for 'every-step', before each cached
 * step), plus the small controls JavaScript feeds per run. The same emit functions build the step
 * executor's filter sessions, so both executors keep the same rows.
 */
export interface FilterProgram {
  /**
   * The queries the selection reads: the block's, the last prompt positions' (`windowQueries` of
   * them), both (the block's rows first), or none.
   */
  readonly queries: 'block' | 'window' | 'both' | 'none';
  /** When it selects ('on-drift' is step-executor only). */
  readonly schedule: SelectionSchedule;
  /** The graph variant at prompt length p (part of the program's session key), or null when the budget keeps every row. */
  variant(p: number): string | null;
  emit(g: GraphBuilder, spec: ModelSpec, io: SelectionIO, variant: string): EmittedSelection;
  /** Controls for one run at prompt length p (H2O: the accumulator carried from the previous selection). */
  feeds(p: number): Record<string, ort.Tensor>;
  /** Receives the selection's state outputs after a run; defined only by a filter whose emit returns state. */
  absorbState?(state: Float32Array[]): void;
  /** What a later block's refresh attends to below refresh_from (TokenFilter.refreshTailPast; default the kept rows). */
  readonly refreshPast?: 'kept' | 'all';
}

/** Whether a program's selection reads the prompt window's queries ('window' or 'both'). */
export function readsWindowQueries(p: FilterProgram): boolean {
  return p.queries === 'window' || p.queries === 'both';
}

export interface SelectionRequest {
  /** Refreshed K/V per layer, [Hkv, L, D] (prompt rows, then generation rows). */
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
  /** L */
  readonly canvasLength: number;
  /** P */
  readonly promptLength: number;
  /** Queries of the current block's positions per layer, [Nq, H, D], or null when none were computed. */
  readonly blockQueries: readonly Float32Array[] | null;
  /** Queries of the last `windowQueries` prompt positions per layer (observation-window filters). */
  readonly windowQueries: readonly Float32Array[] | null;
}

export interface Selection {
  /** Compact K/V per layer, [Hkv, T_l + G, D]: T_l kept prompt rows per head, then the G generation rows. */
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** T_l per layer (dense layers keep all P). */
  readonly promptRows: number[];
  /** Per layer [Hkv, T_l]: the prompt position of each kept row, -1 for padding (masked out). */
  readonly tokens: BigInt64Array[];
  readonly ms: number;
  /** ORT session.run calls the selection took. */
  readonly runs: number;
}

export interface TokenFilter {
  readonly name: string;
  /**
   * 'once-per-block': select after each block's first forward; 'every-step': before every cached
   * step too; 'on-drift': before a cached step whose block queries have drifted from those of the
   * last selection (mean cosine of the per-layer query centroids below `driftThreshold`).
   */
  readonly schedule: SelectionSchedule;
  /** For 'on-drift': re-select when the centroid cosine falls below this. */
  readonly driftThreshold?: number;
  /** Whether `select` needs the block's queries. */
  readonly needsBlockQueries: boolean;
  /** How many trailing prompt positions' queries `select` needs (0 for none). */
  readonly windowQueries: number;
  /** The compact past, or null to keep every prompt row (nothing to filter at this budget). */
  select(req: SelectionRequest): Promise<Selection | null>;
  /** The same policy for the block program; absent: the filter runs on the step executor only. */
  readonly program?: FilterProgram;
  /**
   * When the host should recompute the prompt's K/V if the user does not say (default
   * 'first-block': a filter's speed comes from not recomputing the whole prompt at every block).
   */
  readonly preferredRefresh?: 'every-block' | 'first-block';
  /**
   * With the first-block prompt refresh: how many trailing prompt rows (all kept, outside what the
   * filter chooses from) the host recomputes with the generation rows at each later block's
   * refresh (attending to what `refreshTailPast` says). Absent or 0: only the generation rows; the
   * prompt's K/V stay those of the first block.
   */
  refreshTail?(promptLength: number): number;
  /** What the refreshed tail attends to: the kept rows (default) or every prompt row (the first block's K/V). */
  readonly refreshTailPast?: 'kept' | 'all';
  dispose(): Promise<void>;
}

/** The trailing prompt rows a filter has the host recompute at a later block's refresh (0 without; at most P). */
export function tailRows(f: TokenFilter | null, P: number): number {
  const n = f?.refreshTail?.(P) ?? 0;
  return Math.max(0, Math.min(P, Math.floor(n)));
}

/** A budget: a fraction of the prompt (0 < x <= 1) or a token count (> 1). */
export type Budget = { readonly fraction: number } | { readonly tokens: number };

/** Kept prompt tokens for a prompt of length p, at least 1 and at most p. */
export function budgetTokens(budget: Budget, p: number): number {
  const t = 'fraction' in budget ? Math.round(budget.fraction * p) : budget.tokens;
  return Math.max(1, Math.min(p, Math.floor(t)));
}
