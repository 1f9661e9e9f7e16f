/**
 * The forward pass of a LLaDA or Dream model as one ONNX graph, built from a ModelSpec.
 *
 * One graph serves every cache method. It computes the rows at `positions` (the queries of this
 * step), attends to them plus any cached K/V rows, and returns logits only for the requested rows.
 * Attention is bidirectional, so the cached rows are an unordered set: any subset is valid, which is
 * what lets a sparse token filter hand the graph fewer rows.
 *
 * Inputs                                    Outputs
 *   input_ids      int64 [Tq]                 logits            f32 [Nl, V]
 *   positions      int64 [Tq]                 present_key.{l}   f32 [Hkv, Tq, D]  (after RoPE)
 *   logit_rows     int64 [Nl]  (rows of Tq)   present_value.{l} f32 [Hkv, Tq, D]
 *   query_rows     int64 [Nq] (rows of Tq)   query.{l}         f32 [Nq, H, D]    (after RoPE; for token filters)
 *   past_key.{l}   f32 [Hkv, Tc_l, D] (after RoPE; Tc_l may differ by layer)
 *   past_value.{l} f32 [Hkv, Tc_l, D]
 *   past_bias.{l}  f32 [Hkv, Tc_l] 0 = attend, -inf = ignore (per KV head)  top_values   f64 [Nl, 2]  two largest logits
 *   fused          bool []   true: fused flash attention over the        top_ids      i64 [Nl, 2]  their ids (ties: lower id)
 *                            fresh rows only (requires Tc = 0)           log_sum_exp  f64 [Nl]
 *                                                                        neg_entropy  f64 [Nl]     sum p log(p + 1e-10)
 *
 * The last four summarise each logits row in float64 (the reference's confidence precision), mask
 * token excluded, so greedy decoding scores a row without a JS pass over the vocabulary.
 *
 * Why two attention paths: a cache refresh attends T x T (T up to 16K), where explicit scores would
 * need H*T*T floats (16 GiB at 16K); ORT's com.microsoft MultiHeadAttention runs flash attention
 * on CPU in O(T) memory (15.8x faster for one 4K layer: `npm run bench -- attention`). Cached steps attend a few query rows to many
 * cached rows: there the explicit path scores past and fresh rows separately and never
 * concatenates (copies) the cache.
 */
import { DT, GraphBuilder, encodeModel } from './onnx-builder.js';
import type { ModelSpec, WeightInfo } from './spec.js';
import { WavefilterError } from '../errors.js';

/** Every graph input and output name, from one place. */
export const GraphNames = {
  inputIds: 'input_ids',
  positions: 'positions',
  logitRows: 'logit_rows',
  queryRows: 'query_rows',
  query: (l: number) => `query.${l}`,
  pastBias: (l: number) => `past_bias.${l}`,
  fused: 'fused',
  pastKey: (l: number) => `past_key.${l}`,
  pastValue: (l: number) => `past_value.${l}`,
  logits: 'logits',
  presentKey: (l: number) => `present_key.${l}`,
  presentValue: (l: number) => `present_value.${l}`,
  topValues: 'top_values',
  topIds: 'top_ids',
  logSumExp: 'log_sum_exp',
  negEntropy: 'neg_entropy',
} as const;

/** Where each weight's bytes are: the safetensors file name (as linked beside the graph) and offsets. */
export interface WeightSource {
  info(name: string): WeightInfo;
  /** The file name the graph should reference for `file` (a link in the graph's folder). */
  location(file: string): string;
}

const ELEM: Record<string, 1 | 10 | 16> = { F32: DT.FLOAT, F16: DT.FLOAT16, BF16: DT.BFLOAT16 };

/** Resolves a weight to the value that holds it in the compute type (an initializer, or its Cast, in the outermost graph). */
export type WeightRef = (name: string) => string;

/**
 * The compute type of a graph: fp32 everywhere (the reference path, CPU and CUDA), or fp16 on a
 * GPU: weights converted once per run, matrix products and attention in fp16, RMSNorm, RoPE tables
 * and logits statistics in fp32 (as LLaDA's and Dream's own code keeps norms in fp32).
 */
export type ComputeType = 'fp32' | 'fp16';
export const ELEM_OF: Record<ComputeType, 1 | 10> = { fp32: DT.FLOAT, fp16: DT.FLOAT16 };

/**
 * A weight resolver over the outermost builder: each weight becomes one external initializer (and
 * one Cast for half-precision checkpoints, which ORT folds once at session start). Subgraphs (If
 * branches, Loop bodies) reference these values from the outer scope, so the weights exist once.
 */
export function weightRefs(g: GraphBuilder, weights: WeightSource, ct: ComputeType = 'fp32'): WeightRef {
  const to = ELEM_OF[ct];
  const memo = new Map<string, string>();
  return (name: string): string => {
    const hit = memo.get(name);
    if (hit) return hit;
    const t = weights.info(name);
    const elem = ELEM[t.dtype];
    if (elem === undefined)
      throw new WavefilterError('unsupported_dtype', `tensor ${name} in ${t.file} has dtype ${t.dtype}; expected F32, F16 or BF16`, { tensor: name, dtype: t.dtype });
    const raw = g.external(name, elem, t.shape, weights.location(t.file), t.fileOffset, t.byteLength);
    const v = elem === to ? raw : g.op('Cast', [raw], { to });
    memo.set(name, v);
    return v;
  };
}

/** cos / sin of position x inverse frequency, [rows, D/2], the compute type (RotaryEmbedding's caches). */
export interface RopeTables {
  readonly cos: string;
  readonly sin: string;
}

function invFreqs(spec: ModelSpec): number[] {
  const D = spec.headDim;
  return Array.from({ length: D / 2 }, (_, j) => Math.fround(1 / Math.fround(spec.ropeTheta ** Math.fround((2 * j) / D))));
}

/** RoPE tables for positions [0, rows) (rows: a float32 scalar), computed in float32 as the reference does, then cast to ct. */
export function emitRopeTables(g: GraphBuilder, spec: ModelSpec, rows: string, ct: ComputeType): RopeTables {
  const seq = g.op('Range', [g.scalarF32(0), rows, g.scalarF32(1)]);
  const table = g.op('Mul', [g.op('Unsqueeze', [seq, g.constI64([1])]), g.constF32(invFreqs(spec), [1, spec.headDim / 2])]); // [rows, D/2]
  const cast = (x: string): string => (ct === 'fp16' ? g.op('Cast', [x], { to: DT.FLOAT16 }) : x);
  return { cos: cast(g.op('Cos', [table])), sin: cast(g.op('Sin', [table])) };
}

/** The values a forward reads: token ids and positions of the query rows, which rows to score, the past. */
export interface ForwardInputs {
  readonly ids: string; // int64 [Tq]
  readonly positions: string; // int64 [Tq]
  readonly logitRows: string; // int64 [Nl], rows of Tq
  /** Rows of Tq whose queries are returned; omit for none. */
  readonly queryRows?: string;
  /** Per layer: cached K/V [Hkv, Tc, D] (after RoPE) and the bias [Hkv, Tc] (0 attend, -inf ignore). */
  readonly past: (l: number) => { readonly key: string; readonly value: string; readonly bias: string };
  /**
   * RoPE tables [rows, D/2] in the compute type (emitRopeTables) covering every position, for the
   * lean path; built per forward from the positions when absent (the block program builds them
   * once per run, so a Loop step has no host-side Range).
   */
  readonly ropeTables?: RopeTables;
  /**
   * bool []: true runs flash attention over the fresh rows only (requires Tc = 0); a boolean fixes
   * the choice in the graph (no If per layer: the block program's steps, whose host is known).
   */
  readonly fused: string | boolean;
}

/** Float64 summaries of each scored row (mask token excluded). */
export interface RowStatValues {
  readonly topValues: string; // f64 [Nl, 2]
  readonly topIds: string; // i64 [Nl, 2]
  readonly logSumExp: string; // f64 [Nl]
  readonly negEntropy: string; // f64 [Nl]
}

export interface ForwardValues {
  readonly logits: string; // f32 [Nl, V]
  /** Per layer [Hkv, Tq, D] */
  readonly keys: string[];
  readonly values: string[];
  /** Per layer [Nq, H, D]; empty without queryRows. */
  readonly queries: string[];
  readonly stats: RowStatValues;
}

/** How a forward is built: compute type, ORT's fused kernels, and the cached rows' attention. */
export interface ForwardStyle {
  readonly ct?: ComputeType;
  /** ORT's fused norm and rotary kernels (default: with fp16, the GPU path). */
  readonly lean?: boolean;
  /**
   * Attention of query rows to cached + fresh rows: 'explicit' scores the cache and the fresh rows
   * separately and never copies the cache (fewest bytes: the CPU path); 'mha' concatenates them
   * and runs ORT's MultiHeadAttention with the cache mask as attention bias (fewest nodes: about
   * 7 instead of 17 per layer, for the GPU, where per-node cost bounds a cached step).
   */
  readonly cachedAttention?: 'explicit' | 'mha';
}

/** Optional fixed names for a forward's values (graph outputs need them). */
export interface ForwardNames {
  readonly presentKey?: (l: number) => string;
  readonly presentValue?: (l: number) => string;
  readonly query?: (l: number) => string;
  readonly logits?: string;
}

/**
 * Emits one forward pass of the model into builder `g` (the main graph or a Loop body). Weights
 * come from `w` (outer scope); constants are local to `g`.
 */
export function emitForward(g: GraphBuilder, w: WeightRef, spec: ModelSpec, io: ForwardInputs, names: ForwardNames = {}, style: ForwardStyle = {}): ForwardValues {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = spec;
  const ct = style.ct ?? 'fp32';
  const lean = style.lean ?? ct === 'fp16';
  const cachedAttention = style.cachedAttention ?? 'explicit';
  const G = H / Hkv;
  const half = ct === 'fp16';
  const E = ELEM_OF[ct];
  /** fp32 -> the compute type (identity in fp32) */
  const toCt = (gb: GraphBuilder, x: string): string => (half ? gb.op('Cast', [x], { to: E }) : x);
  // RoPE tables, computed in float32 as the reference does: freqs = pos * inv_freq; [freqs, freqs].
  const invFreq = invFreqs(spec);
  const posF = g.op('Cast', [io.positions], { to: DT.FLOAT });
  let rope: (x: string, heads: number) => string;
  let rmsNorm: (x: string, wn: string) => string;
  /** h + delta, normalised with weight wn: [normalised, sum] */
  let addNorm: (h: string, delta: string, wn: string) => [string, string];
  if (lean) {
    // Lean ops (the fp16 GPU path, where ORT's per-node cost, not arithmetic, bounds a cached step):
    // one fused kernel per norm, per residual add + norm and per rotation instead of 6-9 small
    // ones. SimplifiedLayerNormalization computes in fp32 and rounds once; RotaryEmbedding reads
    // cos/sin tables [max position + 1, D/2] (half-split layout, as rotate_half), built here once
    // per forward in float32 from the same inverse frequencies, then rounded to the compute type.
    const { cos: cosC, sin: sinC } = io.ropeTables ?? emitRopeTables(g, spec, g.op('Add', [g.op('ReduceMax', [posF], { keepdims: 0 }), g.scalarF32(1)]), ct);
    const posIds = g.op('Unsqueeze', [io.positions, g.constI64([0])]); // [1, Tq]
    rope = (x2d, heads) => {
      const r = g.op('RotaryEmbedding', [g.op('Unsqueeze', [x2d, g.constI64([0])]), posIds, cosC, sinC], { interleaved: 0 }, { domain: 'com.microsoft' });
      return g.op('Reshape', [r, g.constI64([-1, heads, D])]);
    };
    rmsNorm = (x, wn) => g.op('SimplifiedLayerNormalization', [x, w(wn)], { axis: -1, epsilon: { float: spec.rmsNormEps }, stash_type: 1 });
    addNorm = (h, delta, wn) => {
      const [normed, , , sum] = g.opOut('SkipSimplifiedLayerNormalization', [h, delta, w(wn)], [true, false, false, true], { epsilon: { float: spec.rmsNormEps } }, 'com.microsoft');
      return [normed as string, sum as string];
    };
  } else {
    const freqs = g.op('Mul', [g.op('Unsqueeze', [posF, g.constI64([1])]), g.constF32(invFreq, [1, D / 2])]); // [Tq, D/2]
    const emb = g.op('Concat', [freqs, freqs], { axis: -1 }); // [Tq, D]
    const cos = toCt(g, g.op('Unsqueeze', [g.op('Cos', [emb]), g.constI64([1])])); // [Tq, 1, D]
    const sin = toCt(g, g.op('Unsqueeze', [g.op('Sin', [emb]), g.constI64([1])]));
    rope = (x2d, heads) => {
      // [Tq, heads, D]; rotate_half pairs (i, i + D/2) (half-split layout of HF checkpoints)
      const x = g.op('Reshape', [x2d, g.constI64([0, heads, D])]);
      const [x1, x2] = g.opN('Split', [x], 2, { axis: -1 });
      const rot = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
      return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rot, sin])]);
    };
    const eps = g.scalarF32(spec.rmsNormEps);
    rmsNorm = (xIn, wn) => {
      // in fp32; with fp16 compute the normalised value goes back to fp16 before the weight, as the
      // reference's RMSNorm does (x.float() ... .type_as(x) * weight)
      const x = half ? g.op('Cast', [xIn], { to: DT.FLOAT }) : xIn;
      const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
      const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, eps])])]);
      return g.op('Mul', [w(wn), toCt(g, g.op('Mul', [x, inv]))]);
    };
    addNorm = (h, delta, wn) => {
      const sum = g.op('Add', [h, delta]);
      return [rmsNorm(sum, wn), sum];
    };
  }
  const linear = (x: string, wn: string, b?: string): string => g.op('Gemm', b ? [x, w(wn), w(b)] : [x, w(wn)], { transB: 1 });

  const shapeTqHkvD = g.constI64([0, Hkv, D]);
  const scale = 1 / Math.sqrt(D);
  const keys: string[] = [];
  const values: string[] = [];
  const queries: string[] = [];
  // per-layer pasts often share one bias value (the dense cache): its [Hkv, 1, Tc] view once per value
  const biasViews = new Map<string, string>();
  const biasView = (bias: string): string => {
    let v = biasViews.get(bias);
    if (!v) biasViews.set(bias, (v = toCt(g, g.op('Unsqueeze', [bias, g.constI64([1])]))));
    return v;
  };

  /** Flash attention over the fresh rows (GQA heads expanded to H): [Tq, H*D]. */
  const fusedAttention = (b: GraphBuilder, q: string, k: string, v: string): string => {
    const expandKv = (x: string): string =>
      G === 1 ? x : b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [x, b.constI64([2])]), b.constI64([1, 1, G, 1])]), b.constI64([0, H, D])]);
    const flat3 = b.constI64([1, -1, H * D]);
    const mha = b.op('MultiHeadAttention', [b.op('Reshape', [q, flat3]), b.op('Reshape', [expandKv(k), flat3]), b.op('Reshape', [expandKv(v), flat3])], { num_heads: H }, { domain: 'com.microsoft' });
    return b.op('Reshape', [mha, b.constI64([-1, H * D])]);
  };
  // attention bias [1, H, Tq, Tc + Tq] of a past bias [Hkv, Tc] (fresh rows attended), once per value
  const mhaBiases = new Map<string, string>();
  const mhaBias = (b: GraphBuilder, bias: string, tq: string): string => {
    let v = mhaBiases.get(bias);
    if (v) return v;
    const fresh = b.op('Expand', [b.scalarF32(0), b.op('Concat', [b.constI64([Hkv]), tq], { axis: 0 })]); // [Hkv, Tq]
    // a past bias is [Hkv, Tc] or [1, Tc] (one row shared by the heads)
    let rows = b.op('Concat', [b.op('Expand', [bias, b.constI64([Hkv, 1])]), fresh], { axis: 1 }); // [Hkv, T]
    if (G > 1) rows = b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [rows, b.constI64([1])]), b.constI64([1, G, 1])]), b.constI64([H, -1])]); // [H, T]
    const full = b.op('Expand', [b.op('Unsqueeze', [rows, b.constI64([1])]), b.op('Concat', [b.constI64([H]), tq, b.constI64([1])], { axis: 0 })]); // [H, Tq, T]
    v = toCt(b, b.op('Unsqueeze', [full, b.constI64([0])]));
    mhaBiases.set(bias, v);
    return v;
  };
  /** ORT's MultiHeadAttention over [cached rows | fresh rows] (BNSH keys, GQA heads expanded): [Tq, H*D]. */
  const mhaAttention = (b: GraphBuilder, q: string, kT: string, vT: string, past: { key: string; value: string; bias: string }): string => {
    const bnsh = (cached: string, fresh: string): string => {
      const all = b.op('Concat', [cached, fresh], { axis: 1 }); // [Hkv, T, D]
      const heads = G === 1 ? all : b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [all, b.constI64([1])]), b.constI64([1, G, 1, 1])]), b.constI64([H, -1, D])]);
      return b.op('Unsqueeze', [heads, b.constI64([0])]); // [1, H, T, D]
    };
    const tq = b.op('Shape', [q], { start: 0, end: 1 });
    const out = b.op('MultiHeadAttention', [b.op('Reshape', [q, b.constI64([1, -1, H * D])]), bnsh(past.key, kT), bnsh(past.value, vT), '', '', mhaBias(b, past.bias, tq)], { num_heads: H }, { domain: 'com.microsoft' });
    return b.op('Reshape', [out, b.constI64([-1, H * D])]);
  };
  /** Scores against the cached rows and the fresh rows, one softmax over both (never concatenating the cache): [Tq, H*D]. */
  const explicitAttention = (b: GraphBuilder, q: string, kT: string, vT: string, past: { key: string; value: string }, pastBias: string): string => {
    const qg = b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [q, b.constI64([0, Hkv, G, D])])], { perm: [1, 2, 0, 3] }), b.constI64([Hkv, -1, D])]); // [Hkv, G*Tq, D]
    const sPast = b.op('Add', [b.op('FusedMatMul', [qg, past.key], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }), pastBias]); // [Hkv, G*Tq, Tc]
    const sNew = b.op('FusedMatMul', [qg, kT], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }); // [Hkv, G*Tq, Tq]
    const p = b.op('Softmax', [b.op('Concat', [sPast, sNew], { axis: 2 })], { axis: -1 });
    const tc = b.op('Shape', [pastBias], { start: 2 });
    const ax = b.constI64([2]);
    const pPast = b.op('Slice', [p, b.constI64([0]), tc, ax]);
    const pNew = b.op('Slice', [p, tc, b.constI64([2 ** 62]), ax]);
    const o = b.op('Add', [b.op('MatMul', [pPast, past.value]), b.op('MatMul', [pNew, vT])]); // [Hkv, G*Tq, D]
    const oT = b.op('Transpose', [b.op('Reshape', [o, b.constI64([Hkv, G, -1, D])])], { perm: [2, 0, 1, 3] }); // [Tq, Hkv, G, D]
    return b.op('Reshape', [oT, b.constI64([-1, H * D])]);
  };

  let h = g.op('Gather', [w(spec.tensors.embed), io.ids], { axis: 0 }); // [Tq, d]
  let pending: { delta: string } | null = null; // the last sublayer's output, added to h by the next norm
  const normAfter = (wn: string): string => {
    if (!pending) return rmsNorm(h, wn);
    const [normed, sum] = addNorm(h, pending.delta, wn);
    h = sum;
    pending = null;
    return normed;
  };
  spec.tensors.layers.forEach((lw, l) => {
    const a = normAfter(lw.attnNorm);
    const q = rope(linear(a, lw.q, lw.qBias), H); // [Tq, H, D]
    if (io.queryRows) queries.push(g.op('Gather', [q, io.queryRows], { axis: 0 }, { name: names.query?.(l) }));
    const k = rope(linear(a, lw.k, lw.kBias), Hkv); // [Tq, Hkv, D]
    const v = g.op('Reshape', [linear(a, lw.v, lw.vBias), shapeTqHkvD]);
    const kT = g.op('Transpose', [k], { perm: [1, 0, 2] }, { name: names.presentKey?.(l) }); // [Hkv, Tq, D]
    const vT = g.op('Transpose', [v], { perm: [1, 0, 2] }, { name: names.presentValue?.(l) });
    keys.push(kT);
    values.push(vT);
    const past = io.past(l);
    let attn: string;
    if (io.fused === true) attn = fusedAttention(g, q, k, v);
    else if (io.fused === false) attn = cachedAttention === 'mha' ? mhaAttention(g, q, kT, vT, past) : explicitAttention(g, q, kT, vT, past, biasView(past.bias));
    else {
      const pastBias = biasView(past.bias); // [Hkv, 1, Tc]: broadcast over query rows
      const fb = g.child(`L${l}f_`);
      fb.output(fusedAttention(fb, q, k, v), E, ['Tq', H * D]);
      const eb = g.child(`L${l}e_`);
      eb.output(explicitAttention(eb, q, kT, vT, past, pastBias), E, ['Tq', H * D]);
      attn = g.op('If', [io.fused], {
        then_branch: { graph: { ...fb.graph(`${fb.prefix}fused`), input: [] } },
        else_branch: { graph: { ...eb.graph(`${eb.prefix}explicit`), input: [] } },
      });
    }
    pending = { delta: linear(attn, lw.o) };
    const f = normAfter(lw.ffnNorm);
    const gate = linear(f, lw.gate);
    const up = linear(f, lw.up);
    // SiLU(gate) * up
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    pending = { delta: linear(act, lw.down) };
  });
  if (pending) h = g.op('Add', [h, (pending as { delta: string }).delta]);
  const hl = g.op('Gather', [h, io.logitRows], { axis: 0 }); // [Nl, d]
  const lm = g.op('Gemm', [rmsNorm(hl, spec.tensors.finalNorm), w(spec.tensors.lmHead)], { transB: 1 }, half ? {} : { name: names.logits });
  const logits = half ? g.op('Cast', [lm], { to: DT.FLOAT }, { name: names.logits }) : lm; // [Nl, V] f32
  return { logits, keys, values, queries, stats: emitRowStats(g, spec, logits) };
}

/**
 * Float64 summaries of logits rows: the two largest (ties: lower id), log-sum-exp and
 * sum p log(p + 1e-10), all with the mask token excluded (it is never a valid prediction;
 * decode/scoring.ts does the same), so greedy decoding scores a row without a pass over the vocabulary.
 */
export function emitRowStats(g: GraphBuilder, spec: ModelSpec, logits: string): RowStatValues {
  const V = spec.vocabSize;
  const maskBias = new Float64Array(V);
  maskBias[spec.maskTokenId] = -Infinity;
  const l64 = g.op('Add', [g.op('Cast', [logits], { to: DT.DOUBLE }), g.constF64(maskBias, [V])]);
  const [topValues, topIds] = g.opN('TopK', [l64, g.constI64([2])], 2, { axis: -1, largest: 1, sorted: 1 });
  const lse = g.op('ReduceLogSumExp', [l64], { axes: [-1], keepdims: 1 });
  const logSumExp = g.op('Squeeze', [lse, g.constI64([-1])]);
  const prob = g.op('Exp', [g.op('Sub', [l64, lse])]);
  const plogp = g.op('Mul', [prob, g.op('Log', [g.op('Add', [prob, g.scalarF64(1e-10)])])]);
  const negEntropy = g.op('ReduceSum', [plogp, g.constI64([-1])], { keepdims: 0 });
  return { topValues, topIds, logSumExp, negEntropy };
}

/**
 * Builds the serialized forward graph (one forward per session.run: the step executor's graph).
 * `lean` swaps in ORT's fused norm and rotary kernels (the fp16 GPU path's ops; fp32 here, for tests).
 */
export function buildForwardGraph(spec: ModelSpec, weights: WeightSource, o: { lean?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder();
  const { nHeads: H, nKvHeads: Hkv, headDim: D, vocabSize: V } = spec;
  const N = GraphNames;
  const io: ForwardInputs = {
    ids: g.input(N.inputIds, DT.INT64, ['Tq']),
    positions: g.input(N.positions, DT.INT64, ['Tq']),
    logitRows: g.input(N.logitRows, DT.INT64, ['Nl']),
    queryRows: g.input(N.queryRows, DT.INT64, ['Nq']),
    fused: g.input(N.fused, DT.BOOL, []),
    past: (l) => ({
      key: g.input(N.pastKey(l), DT.FLOAT, [Hkv, `Tc${l}`, D]),
      value: g.input(N.pastValue(l), DT.FLOAT, [Hkv, `Tc${l}`, D]),
      bias: g.input(N.pastBias(l), DT.FLOAT, [Hkv, `Tc${l}`]),
    }),
  };
  const out = emitForward(g, weightRefs(g, weights), spec, io, { presentKey: N.presentKey, presentValue: N.presentValue, query: N.query, logits: N.logits }, { lean: o.lean ?? false });
  for (let l = 0; l < spec.nLayers; l++) {
    g.output(N.query(l), DT.FLOAT, ['Nq', H, D]);
    g.output(N.presentKey(l), DT.FLOAT, [Hkv, 'Tq', D]);
    g.output(N.presentValue(l), DT.FLOAT, [Hkv, 'Tq', D]);
  }
  g.output(N.logits, DT.FLOAT, ['Nl', V]);
  g.identity(out.stats.topValues, N.topValues);
  g.identity(out.stats.topIds, N.topIds);
  g.identity(out.stats.logSumExp, N.logSumExp);
  g.identity(out.stats.negEntropy, N.negEntropy);
  g.output(N.topValues, DT.DOUBLE, ['Nl', 2]);
  g.output(N.topIds, DT.INT64, ['Nl', 2]);
  g.output(N.logSumExp, DT.DOUBLE, ['Nl']);
  g.output(N.negEntropy, DT.DOUBLE, ['Nl']);
  return encodeModel(g.graph('wavefilter_forward'));
}
