/**
 * TokenFilter: which prompt rows survive into the sparse cache. A cache host calls `select` after
 * a refresh (and, for `every-step` filters, before each cached step); the filter returns the compact
 * past the host then attends to: kept prompt rows per KV head, followed by every generation row.
 */

export type SelectionSchedule = 'once-per-block' | 'every-step' | 'on-drift';

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
  dispose(): Promise<void>;
}

/** A budget: a fraction of the prompt (0 < x <= 1) or a token count (> 1). */
export type Budget = { readonly fraction: number } | { readonly tokens: number };

/** Kept prompt tokens for a prompt of length p, at least 1 and at most p. */
export function budgetTokens(budget: Budget, p: number): number {
  const t = 'fraction' in budget ? Math.round(budget.fraction * p) : budget.tokens;
  return Math.max(1, Math.min(p, Math.floor(t)));
}
