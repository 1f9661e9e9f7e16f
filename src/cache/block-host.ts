/**
 * The Fast-dLLM family of cache hosts, with an optional token filter on top.
 *
 * Fast-dLLM (prefix / dual): a full forward at each block start refreshes K/V for every position;
 * cached steps recompute the block (dual) or the block and everything after it (prefix) and attend
 * to the refreshed rows. Rows a step recomputes are masked with a -inf bias instead of cut out, so
 * the cache is never copied per step.
 *
 * Options on top of that:
 *   promptRefresh 'first-block': after the first block, a block start recomputes only the generation
 *                 rows against the cached prompt (dLLM-Cache's long prompt-refresh interval). On long
 *                 prompts the full refresh dominates a block's cost; this removes it.
 *   filter        a TokenFilter picks the prompt rows that stay. After each block's first forward
 *                 (and before every cached step for 'every-step' filters) the filter gathers a compact
 *                 past [kept prompt rows | generation rows] once, in ORT; cached steps attend to it.
 */
import type { ForwardResult, PastKV } from '../model/runtime.js';
import type { ModelSpec } from '../model/spec.js';
import { type Selection, type TokenFilter, tailRows } from '../filter/token-filter.js';
import type { CacheHost, ForwardPlan, StepContext } from './host.js';
import { range } from './host.js';
import { type HostPolicy, checkedWindow } from './registry.js';

export interface BlockHostOptions {
  /** The host's policy: what cached steps recompute (dual: the block; prefix: the block and the suffix). */
  readonly policy: HostPolicy;
  readonly promptRefresh: 'every-block' | 'first-block';
  readonly filter: TokenFilter | null;
}

interface QueryLayout {
  /** Rows of the forward's query output that belong to the block, then to the prompt window. */
  readonly block: number;
  readonly window: number;
}

export class BlockCacheHost implements CacheHost {
  readonly name: string;
  readonly minForwardsPerBlock: number;
  readonly dreamFirstTokenFromRefresh: boolean;
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  private L = 0;
  private P = 0;
  private compact: Selection | null = null;
  private windowQueries: Float32Array[] | null = null;
  private lastBlockQueries: Float32Array[] | null = null;
  private layouts = new WeakMap<ForwardPlan, QueryLayout>();
  private biasCache: Float32Array[] = [];
  private pastMemo: { compact: Selection | null; keys: Float32Array[]; qlo: number; qhi: number; L: number; past: PastKV } | null = null;
  private selectMs = 0;
  /** on-drift schedule: the block queries' per-layer centroids at the last selection, and whether they moved. */
  private selectedCentroids: Float64Array[] | null = null;
  private drifted = false;
  private selections = 0;
  private selectRuns = 0;
  private keptRows = 0;
  private laterFrom: { P: number; from: number } | null = null;

  constructor(private readonly spec: ModelSpec, private readonly o: BlockHostOptions) {
    this.name = o.policy.name;
    this.minForwardsPerBlock = o.policy.minForwardsPerBlock;
    this.dreamFirstTokenFromRefresh = o.policy.dreamFirstTokenFromRefresh;
  }

  beginBlock(): void {}

  async plan(ctx: StepContext): Promise<ForwardPlan> {
    const { lo, hi, canvas, promptLength: P } = ctx;
    const L = canvas.length;
    const f = this.o.filter;
    if (ctx.stepInBlock === 0) {
      const full = this.keys.length === 0 || this.o.promptRefresh === 'every-block';
      const start = full ? 0 : this.laterRefreshFrom(P);
      const rows: number[] = [];
      if (f?.needsBlockQueries) for (let p = lo; p < hi; p++) rows.push(p - start);
      const window = full && f ? Math.min(f.windowQueries, P) : 0;
      for (let p = P - window; p < P; p++) rows.push(p);
      const plan: ForwardPlan = {
        positions: range(start, L), refresh: true, queryRows: rows.length ? Int32Array.from(rows) : undefined,
        past: full ? null : this.past(start, L, L, f?.refreshTailPast === 'all'),
      };
      this.layouts.set(plan, { block: f?.needsBlockQueries ? hi - lo : 0, window });
      return plan;
    }
    if (f && this.lastBlockQueries && (f.schedule === 'every-step' || (f.schedule === 'on-drift' && this.drifted))) await this.select(this.lastBlockQueries);
    const [qlo, qhi] = checkedWindow(this.o.policy, lo, hi, L);
    const every = (f?.schedule === 'every-step' || f?.schedule === 'on-drift') && f.needsBlockQueries;
    const plan: ForwardPlan = {
      positions: range(qlo, qhi), refresh: false, past: this.past(qlo, qhi, L),
      queryRows: every ? range(lo - qlo, hi - qlo) : undefined,
    };
    this.layouts.set(plan, { block: every ? hi - lo : 0, window: 0 });
    return plan;
  }

  /**
   * Where a later block's refresh starts: the generation rows, and the filter's refreshed tail if it
   * has one. Computed once per prompt length (the filter builds its controls to answer), not per block.
   */
  private laterRefreshFrom(P: number): number {
    if (this.laterFrom?.P !== P) this.laterFrom = { P, from: P - tailRows(this.o.filter, P) };
    return this.laterFrom.from;
  }

  /** The past for queries [qlo, qhi): every cached row except those the step recomputes. */
  private past(qlo: number, qhi: number, L: number, whole = false): PastKV {
    const { nLayers, nKvHeads: Hkv } = this.spec;
    const c = whole ? null : this.compact;
    // the cached steps of a block share their past: build the masks once per (cache, query range)
    const memo = this.pastMemo;
    if (memo && memo.compact === c && memo.keys === this.keys && memo.qlo === qlo && memo.qhi === qhi && memo.L === L) return memo.past;
    const rows: number[] = [];
    const bias: Float32Array[] = [];
    for (let l = 0; l < nLayers; l++) {
      const T = c ? c.promptRows[l] : 0;
      const tc = c ? T + (L - this.P) : L;
      let b = this.biasCache[l];
      if (!b || b.length !== Hkv * tc) b = this.biasCache[l] = new Float32Array(Hkv * tc);
      b.fill(0);
      for (let h = 0; h < Hkv; h++) {
        const row0 = h * tc;
        if (c) {
          const tok = c.tokens[l];
          // padding, and kept prompt rows a refresh recomputes (its query range starts inside the prompt)
          const recomputed = BigInt(qlo);
          for (let t = 0; t < T; t++) if (tok[h * T + t] < 0n || tok[h * T + t] >= recomputed) b[row0 + t] = -Infinity;
          // generation rows sit after the T prompt rows, in position order from P
          const from = Math.max(qlo, this.P);
          if (qhi > from) b.fill(-Infinity, row0 + T + from - this.P, row0 + T + qhi - this.P);
        } else {
          b.fill(-Infinity, row0 + qlo, row0 + qhi);
        }
      }
      rows.push(tc);
      bias.push(b);
    }
    const past = c ? { keys: c.keys, values: c.values, rows, bias } : { keys: this.keys, values: this.values, rows, bias };
    this.pastMemo = { compact: c, keys: this.keys, qlo, qhi, L, past };
    return past;
  }

  async absorb(plan: ForwardPlan, result: ForwardResult, ctx: StepContext): Promise<void> {
    const layout = this.layouts.get(plan) ?? { block: 0, window: 0 };
    const { headDim: D, nHeads: H, nKvHeads: Hkv } = this.spec;
    const split = (qs: Float32Array[], from: number, n: number): Float32Array[] => qs.map((q) => q.subarray(from * H * D, (from + n) * H * D));
    const blockQueries = layout.block ? split(result.queries, 0, layout.block) : null;
    if (!plan.refresh) {
      if (blockQueries) {
        this.lastBlockQueries = blockQueries;
        const f = this.o.filter;
        if (f?.schedule === 'on-drift' && this.selectedCentroids)
          this.drifted = meanCosine(centroids(blockQueries, layout.block), this.selectedCentroids) < (f.driftThreshold ?? 0.95);
      }
      return;
    }
    if (plan.positions[0] === 0) {
      this.keys = result.keys;
      this.values = result.values;
      this.L = plan.positions.length;
      this.P = ctx.promptLength;
      if (layout.window) this.windowQueries = split(result.queries, layout.block, layout.window);
    } else {
      // a later block's refresh: the recomputed rows [from, L) (the generation rows, and the
      // filter's refreshed tail) replace theirs in the stored cache
      const G = plan.positions.length;
      const from = plan.positions[0];
      for (let l = 0; l < this.keys.length; l++)
        for (let h = 0; h < Hkv; h++) {
          this.keys[l].set(result.keys[l].subarray(h * G * D, (h + 1) * G * D), (h * this.L + from) * D);
          this.values[l].set(result.values[l].subarray(h * G * D, (h + 1) * G * D), (h * this.L + from) * D);
        }
    }
    this.lastBlockQueries = blockQueries;
    if (this.o.filter) await this.select(blockQueries);
  }

  private async select(blockQueries: Float32Array[] | null): Promise<void> {
    const f = this.o.filter;
    if (!f) return;
    this.drifted = false;
    this.selectedCentroids = blockQueries && f.schedule === 'on-drift' ? centroids(blockQueries, blockQueries[0].length / (this.spec.nHeads * this.spec.headDim)) : null;
    const sel = await f.select({
      keys: this.keys, values: this.values, canvasLength: this.L, promptLength: this.P, blockQueries, windowQueries: this.windowQueries,
    });
    this.compact = sel;
    if (sel) {
      this.selectMs += sel.ms;
      this.selectRuns += sel.runs;
      this.selections++;
      let kept = 0;
      for (const t of sel.tokens) for (const x of t) if (x >= 0n) kept++;
      this.keptRows = kept / (sel.tokens.length * this.spec.nKvHeads);
    }
  }

  keptTokens(): readonly BigInt64Array[] | null {
    return this.compact ? this.compact.tokens : null;
  }

  heldBytes(): number {
    const sum = (a: Float32Array[]): number => a.reduce((s, x) => s + x.byteLength, 0);
    return sum(this.keys) + sum(this.values) + (this.compact ? sum(this.compact.keys) + sum(this.compact.values) : 0);
  }

  filterStats(): { selections: number; selectMs: number; selectRuns: number; keptPromptRows: number } {
    return { selections: this.selections, selectMs: this.selectMs, selectRuns: this.selectRuns, keptPromptRows: this.keptRows };
  }
}

/** Per layer, the mean of the nq query rows ([nq, H*D] each). */
function centroids(qs: readonly Float32Array[], nq: number): Float64Array[] {
  return qs.map((q) => {
    const w = q.length / nq;
    const c = new Float64Array(w);
    for (let i = 0; i < nq; i++) for (let j = 0; j < w; j++) c[j] += q[i * w + j];
    return c;
  });
}

/** Mean over layers of the cosine between two centroid sets. */
function meanCosine(a: readonly Float64Array[], b: readonly Float64Array[]): number {
  let total = 0;
  a.forEach((x, l) => {
    const y = b[l];
    let dot = 0;
    let nx = 0;
    let ny = 0;
    for (let j = 0; j < x.length; j++) {
      dot += x[j] * y[j];
      nx += x[j] * x[j];
      ny += y[j] * y[j];
    }
    total += dot / (Math.sqrt(nx * ny) || 1);
  });
  return total / a.length;
}
