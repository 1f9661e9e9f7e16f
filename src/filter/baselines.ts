/**
 * Baseline token filters, compared with WaveFilter at equal kept-token counts (docs §2). Each
 * keeps exactly `budget` prompt rows per KV head (protected rows included) and every generation row.
 *
 *   streaming    StreamingLLM: the first `sinks` rows and the most recent rows of the prompt (§2.1)
 *   snapkv       SnapKV: votes of the last W prompt positions' queries (softmax over all prompt keys;
 *                bidirectional, so no causal mask), max-pooled (kernel 7), top rows + the window (§2.3)
 *   h2o          H2O-style heavy hitters: attention mass of each block's queries, accumulated over the
 *                generation, top rows + a recent window of half the budget (§2.2, 10% heavy / 10% recent)
 *   sparse-dllm  Sparse-dLLM: mean over the block's queries of q.k, max-pooled (width 3), top rows (§2.8)
 *   random       a seeded uniform sample of prompt rows, per layer and head
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import { Rng } from '../rng.js';
import { FilterSession, i64 } from './filter-session.js';
import { FilterNames as F, type ScoreGraphOptions, type ScoreKind, buildScoreGraph, emitIndexSelection, emitScoreSelection } from './graphs.js';
import { type Budget, type FilterProgram, type Selection, type SelectionRequest, type TokenFilter, budgetTokens } from './token-filter.js';

export const SNAPKV_WINDOW = 32;
export const SNAPKV_POOL = 7;
export const SPARSE_DLLM_POOL = 3;

export class StreamingFilter implements TokenFilter {
  readonly name = 'streaming';
  readonly schedule = 'once-per-block' as const;
  readonly needsBlockQueries = false;
  readonly windowQueries = 0;
  readonly program: FilterProgram;
  constructor(private readonly spec: ModelSpec, private readonly session: FilterSession, private readonly budget: Budget, private readonly sinks = 4) {
    this.program = indexProgram((p) => (budgetTokens(budget, p) >= p ? null : this.indices(p)));
  }

  /** The kept rows' indices per layer for a prompt of p tokens (fewer than p kept). */
  private indices(p: number): Record<string, ort.Tensor> {
    const t = budgetTokens(this.budget, p);
    const s = Math.min(this.sinks, t);
    const rows: number[] = [];
    for (let i = 0; i < s; i++) rows.push(i);
    for (let i = p - (t - s); i < p; i++) rows.push(i);
    const idx = BigInt64Array.from({ length: this.spec.nKvHeads * t }, (_, i) => BigInt(rows[i % t]));
    const extra: Record<string, ort.Tensor> = {};
    for (let l = 0; l < this.spec.nLayers; l++) extra[F.indices(l)] = new ort.Tensor('int64', idx, [this.spec.nKvHeads, t]);
    return extra;
  }

  async select(req: SelectionRequest): Promise<Selection | null> {
    const p = req.promptLength;
    if (budgetTokens(this.budget, p) >= p) return null;
    return this.session.run(req, null, 0, this.indices(p));
  }
  async dispose(): Promise<void> {}
}

export class RandomFilter implements TokenFilter {
  readonly name = 'random';
  readonly schedule = 'once-per-block' as const;
  readonly needsBlockQueries = false;
  readonly windowQueries = 0;
  private readonly rng: Rng;
  private cached: { p: number; t: number; extra: Record<string, ort.Tensor> } | null = null;
  readonly program: FilterProgram;
  constructor(private readonly spec: ModelSpec, private readonly session: FilterSession, private readonly budget: Budget, seed: number) {
    this.rng = new Rng(seed ^ 0x5eed);
    this.program = indexProgram((p) => (budgetTokens(budget, p) >= p ? null : this.indices(p)));
  }

  async select(req: SelectionRequest): Promise<Selection | null> {
    const p = req.promptLength;
    if (budgetTokens(this.budget, p) >= p) return null;
    return this.session.run(req, null, 0, this.indices(p));
  }

  /** The seeded draw for a prompt of p tokens. */
  private indices(p: number): Record<string, ort.Tensor> {
    const t = budgetTokens(this.budget, p);
    // one draw per generation: the same rows for every block, like any prompt-only filter
    if (!this.cached || this.cached.p !== p || this.cached.t !== t) {
      const { nLayers, nKvHeads: Hkv } = this.spec;
      const extra: Record<string, ort.Tensor> = {};
      for (let l = 0; l < nLayers; l++) {
        const idx = new BigInt64Array(Hkv * t);
        for (let h = 0; h < Hkv; h++) {
          const pool = Array.from({ length: p }, (_, i) => i);
          for (let i = 0; i < t; i++) {
            const j = i + Math.floor(this.rng.uniform() * (p - i));
            [pool[i], pool[j]] = [pool[j], pool[i]];
            idx[h * t + i] = BigInt(pool[i]);
          }
        }
        extra[F.indices(l)] = new ort.Tensor('int64', idx, [Hkv, t]);
      }
      this.cached = { p, t, extra };
    }
    return this.cached.extra;
  }
  async dispose(): Promise<void> {}
}

export class ScoredFilter implements TokenFilter {
  readonly schedule = 'once-per-block' as const;
  readonly needsBlockQueries: boolean;
  readonly windowQueries: number;
  private acc: Float32Array[] | null = null;
  readonly program: FilterProgram;
  constructor(readonly name: ScoreKind, private readonly spec: ModelSpec, private readonly session: FilterSession, private readonly budget: Budget) {
    this.needsBlockQueries = name !== 'snapkv';
    this.windowQueries = name === 'snapkv' ? SNAPKV_WINDOW : 0;
    const options = ScoredFilter.options(name);
    this.program = {
      queries: name === 'snapkv' ? 'window' : 'block',
      schedule: this.schedule,
      variant: (p) => (budgetTokens(budget, p) >= p ? null : `score:${name}`),
      emit: (g, s, io) => emitScoreSelection(g, s, options, io),
      feeds: (p) => this.controls(p),
      absorbState: (state) => {
        if (name === 'h2o') this.acc = state.map((a) => Float32Array.from(a));
      },
    };
  }

  private static options(kind: ScoreKind): ScoreGraphOptions {
    if (kind === 'snapkv') return { kind, poolKernel: SNAPKV_POOL, pool: 'max' };
    if (kind === 'sparse-dllm') return { kind, poolKernel: SPARSE_DLLM_POOL, pool: 'max' };
    return { kind, poolKernel: 1, pool: 'max' };
  }

  static graph(spec: ModelSpec, kind: ScoreKind): Uint8Array {
    return buildScoreGraph(spec, ScoredFilter.options(kind));
  }

  /** keep / recent counts and H2O's accumulator for a prompt of p tokens. */
  private controls(p: number): Record<string, ort.Tensor> {
    const t = budgetTokens(this.budget, p);
    const { nLayers, nKvHeads: Hkv } = this.spec;
    let recent = 0;
    if (this.name === 'snapkv') recent = Math.min(SNAPKV_WINDOW, t - 1, p - 1);
    else if (this.name === 'h2o') recent = Math.floor(t / 2);
    const extra: Record<string, ort.Tensor> = { [F.keep]: i64(t - recent), [F.recent]: i64(recent) };
    if (this.name === 'h2o') {
      if (!this.acc || this.acc[0].length !== Hkv * p) this.acc = Array.from({ length: nLayers }, () => new Float32Array(Hkv * p));
      for (let l = 0; l < nLayers; l++) extra[F.acc(l)] = new ort.Tensor('float32', this.acc[l], [Hkv, p]);
    }
    return extra;
  }

  async select(req: SelectionRequest): Promise<Selection | null> {
    const p = req.promptLength;
    const t = budgetTokens(this.budget, p);
    if (t >= p) return null;
    const { nLayers, nHeads: H, headDim: D } = this.spec;
    const extra = this.controls(p);
    const q = this.name === 'snapkv' ? req.windowQueries : req.blockQueries;
    if (!q) throw new WavefilterError('runtime_error', `${this.name} needs queries the cache host did not request`);
    return this.session.run(req, q, q[0].length / (H * D), extra, (out) => {
      if (this.name === 'h2o' && this.acc) for (let l = 0; l < nLayers; l++) this.acc[l] = Float32Array.from(out[F.newAcc(l)].data as Float32Array);
    });
  }
  async dispose(): Promise<void> {}
}


/** The program of a filter whose indices JavaScript computes (`indices(p)`: null keeps every row). */
function indexProgram(indices: (p: number) => Record<string, ort.Tensor> | null): FilterProgram {
  return {
    queries: 'none',
    schedule: 'once-per-block',
    variant: (p) => (indices(p) === null ? null : 'index'),
    emit: (_g, s, io) => emitIndexSelection(s, io),
    feeds: (p) => indices(p) ?? {},
  };
}
