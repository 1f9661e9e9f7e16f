/**
 * Attention-scored filters (SnapKV, H2O, Sparse-dLLM; docs §2): the shared machinery. Each filter's
 * folder holds its policy (ScoredPolicy: which queries vote, how scores are pooled and carried, how
 * many recent rows are kept); this file turns a policy into a TokenFilter and its graph. Each keeps
 * exactly `budget` prompt rows per KV head (recent rows included) and every generation row.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import { DT, GraphBuilder } from '../model/onnx-builder.js';
import type { ModelSpec } from '../model/spec.js';
import { type FilterSession, i64 } from './filter-session.js';
import { FilterNames as F, type EmittedSelection, type SelectionIO, groupQueries, standaloneGraph } from './selection-graph.js';
import type { FilterEntry } from './registry.js';
import { type Budget, type FilterProgram, type Selection, type SelectionRequest, type TokenFilter, budgetTokens } from './token-filter.js';

/** What an attention-scored filter is: its folder's whole definition. */
export interface ScoredPolicy {
  readonly name: string;
  /** 'window': the last `windowQueries` prompt positions vote (SnapKV); 'block': the block's queries. */
  readonly queries: 'window' | 'block';
  readonly windowQueries: number;
  readonly score: ScoreGraphOptions;
  /** Recent prompt rows always kept, of `t` kept rows for a prompt of `p` rows. */
  recent(t: number, p: number): number;
}

/** How scores are computed: softmax mass ('mass'), mass accumulated between selections ('accumulated', H2O) or mean q.k ('dot', Sparse-dLLM). */
export type ScoreKind = 'mass' | 'accumulated' | 'dot';

export interface ScoreGraphOptions {
  readonly kind: ScoreKind;
  /** graph name */
  readonly name: string;
  /** 1-D pooling over the score vector (kernel, 'max' or 'avg'); 1 = none. */
  readonly poolKernel: number;
  readonly pool: 'max' | 'avg';
}

/**
 * Attention-scored selection. Scores over the prompt keys [0, P):
 *   mass         column sums of softmax(Q K^T / sqrt(D)) of the voting queries (SnapKV)
 *   accumulated  the same mass added to an accumulator carried between selections (acc.{l} in, new_acc.{l} out; H2O)
 *   dot          mean over queries of q . k, no softmax (Sparse-dLLM)
 * then optional pooling, the top `keep` of [0, P - recent) and the `recent` last prompt rows.
 */
export function emitScoreSelection(g: GraphBuilder, spec: ModelSpec, o: ScoreGraphOptions, io: SelectionIO): EmittedSelection {
  const { nKvHeads: Hkv, headDim: D } = spec;
  const promptLen = io.promptLen;
  const keep = io.control(F.keep, DT.INT64, [1]);
  const recent = io.control(F.recent, DT.INT64, [1]);
  const ax1 = g.constI64([1]);
  const zero = g.constI64([0]);
  const scale = 1 / Math.sqrt(D);
  const tokens: string[] = [];
  const state: string[] = [];
  for (let l = 0; l < spec.nLayers; l++) {
    const q = groupQueries(g, io.query(l), spec);
    const kp = g.op('Slice', [io.key(l), zero, promptLen, ax1]); // [Hkv, P, D]
    const s = g.op('FusedMatMul', [q, kp], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }); // [Hkv, M, P]
    let score: string;
    if (o.kind === 'dot') score = g.op('ReduceMean', [s], { axes: [1], keepdims: 0 });
    else score = g.op('ReduceSum', [g.op('Softmax', [s], { axis: -1 }), g.constI64([1])], { keepdims: 0 });
    if (o.kind === 'accumulated') {
      const acc = io.control(F.acc(l), DT.FLOAT, [Hkv, 'P']);
      score = g.op('Add', [score, acc]);
      state.push(score);
    }
    if (o.poolKernel > 1) {
      const k = o.poolKernel;
      const x = g.op('Unsqueeze', [score, ax1]); // [Hkv, 1, P]
      const pooled = o.pool === 'max'
        ? g.op('MaxPool', [x], { kernel_shape: [k], pads: [k >> 1, k - 1 - (k >> 1)], strides: [1] })
        : g.op('AveragePool', [x], { kernel_shape: [k], pads: [k >> 1, k - 1 - (k >> 1)], strides: [1], count_include_pad: 0 });
      score = g.op('Squeeze', [pooled, ax1]);
    }
    const cut = g.op('Sub', [promptLen, recent]);
    const head = g.op('Slice', [score, zero, cut, ax1]);
    const [, top] = g.opN('TopK', [head, keep], 2, { axis: -1, largest: 1, sorted: 0 });
    const rec = g.op('Expand', [g.op('Unsqueeze', [g.op('Range', [g.op('Squeeze', [cut]), g.op('Squeeze', [promptLen]), g.constI64([1], [])]), zero]), g.op('Concat', [g.constI64([Hkv]), recent], { axis: 0 })]);
    tokens.push(g.op('Concat', [top, rec], { axis: 1 }));
  }
  return { tokens, state };
}

/** Standalone: scores, selection, compact K/V (and H2O's new accumulator). */
export function buildScoreGraph(spec: ModelSpec, o: ScoreGraphOptions): Uint8Array {
  return standaloneGraph(spec, `${o.name}_filter`, (g, io) => emitScoreSelection(g, spec, o, io), false, o.kind === 'accumulated' ? F.newAcc : undefined);
}

export class ScoredFilter implements TokenFilter {
  readonly schedule = 'once-per-block' as const;
  readonly needsBlockQueries: boolean;
  readonly windowQueries: number;
  private acc: Float32Array[] | null = null;
  readonly program: FilterProgram;
  readonly name: string;
  private readonly accumulates: boolean;
  constructor(private readonly policy: ScoredPolicy, private readonly spec: ModelSpec, private readonly session: () => Promise<FilterSession>, private readonly budget: Budget) {
    this.name = policy.name;
    this.needsBlockQueries = policy.queries === 'block';
    this.windowQueries = policy.queries === 'window' ? policy.windowQueries : 0;
    this.accumulates = policy.score.kind === 'accumulated';
    this.program = {
      queries: policy.queries,
      schedule: this.schedule,
      variant: (p) => (budgetTokens(budget, p) >= p ? null : `score:${policy.name}`),
      emit: (g, s, io) => emitScoreSelection(g, s, policy.score, io),
      feeds: (p) => this.controls(p),
      // only H2O's accumulator is carried between selections (the generation program refuses a filter that has it)
      ...(this.accumulates ? { absorbState: (state: Float32Array[]) => void (this.acc = state.map((a) => Float32Array.from(a))) } : {}),
    };
  }

  /** keep / recent counts and H2O's accumulator for a prompt of p tokens. */
  private controls(p: number): Record<string, ort.Tensor> {
    const t = budgetTokens(this.budget, p);
    const { nLayers, nKvHeads: Hkv } = this.spec;
    const recent = this.policy.recent(t, p);
    const extra: Record<string, ort.Tensor> = { [F.keep]: i64(t - recent), [F.recent]: i64(recent) };
    if (this.accumulates) {
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
    const q = this.policy.queries === 'window' ? req.windowQueries : req.blockQueries;
    if (!q) throw new WavefilterError('runtime_error', `${this.name} needs queries the cache host did not request`);
    return (await this.session()).run(req, q, q[0].length / (H * D), extra, (out) => {
      if (this.accumulates && this.acc) for (let l = 0; l < nLayers; l++) this.acc[l] = Float32Array.from(out[F.newAcc(l)].data as Float32Array);
    });
  }
  async dispose(): Promise<void> {}
}

/** A registry entry for a scored policy. */
export function scoredEntry(policy: ScoredPolicy, summary: string): FilterEntry {
  return {
    name: policy.name,
    summary,
    create: async (c) => new ScoredFilter(policy, c.spec, () => c.session(`score:${policy.name}`, () => buildScoreGraph(c.spec, policy.score)), c.budget),
  };
}
