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

/** The values a forward reads: token ids and positions of the query rows, which rows to score, the past. */
export interface ForwardInputs {
  readonly ids: string; // int64 [Tq]
  readonly positions: string; // int64 [Tq]
  readonly logitRows: string; // int64 [Nl], rows of Tq
  /** Rows of Tq whose queries are returned; omit for none. */
  readonly queryRows?: string;
  /** Per layer: cached K/V [Hkv, Tc, D] (after RoPE) and the bias [Hkv, Tc] (0 attend, -inf ignore). */
  readonly past: (l: number) => { readonly key: string; readonly value: string; readonly bias: string };
  /** bool []: true runs flash attention over the fresh rows only (requires Tc = 0). */
  readonly fused: string;
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
export function emitForward(g: GraphBuilder, w: WeightRef, spec: ModelSpec, io: ForwardInputs, names: ForwardNames = {}, ct: ComputeType = 'fp32'): ForwardValues {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = spec;
  const G = H / Hkv;
  const half = ct === 'fp16';
  const E = ELEM_OF[ct];
  /** fp32 -> the compute type (identity in fp32) */
  const toCt = (gb: GraphBuilder, x: string): string => (half ? gb.op('Cast', [x], { to: E }) : x);
  // RoPE tables, computed in float32 as the reference does: freqs = pos * inv_freq; [freqs, freqs].
  const invFreq = Array.from({ length: D / 2 }, (_, j) => Math.fround(1 / Math.fround(spec.ropeTheta ** Math.fround((2 * j) / D))));
  const posF = g.op('Cast', [io.positions], { to: DT.FLOAT });
  const freqs = g.op('Mul', [g.op('Unsqueeze', [posF, g.constI64([1])]), g.constF32(invFreq, [1, D / 2])]); // [Tq, D/2]
  const emb = g.op('Concat', [freqs, freqs], { axis: -1 }); // [Tq, D]
  const cos = toCt(g, g.op('Unsqueeze', [g.op('Cos', [emb]), g.constI64([1])])); // [Tq, 1, D]
  const sin = toCt(g, g.op('Unsqueeze', [g.op('Sin', [emb]), g.constI64([1])]));
  const rope = (x: string): string => {
    // x: [Tq, heads, D]; rotate_half pairs (i, i + D/2) (half-split layout of HF checkpoints)
    const [x1, x2] = g.opN('Split', [x], 2, { axis: -1 });
    const rot = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rot, sin])]);
  };
  const eps = g.scalarF32(spec.rmsNormEps);
  const rmsNorm = (xIn: string, wn: string): string => {
    // in fp32; with fp16 compute the normalised value goes back to fp16 before the weight, as the
    // reference's RMSNorm does (x.float() ... .type_as(x) * weight)
    const x = half ? g.op('Cast', [xIn], { to: DT.FLOAT }) : xIn;
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [w(wn), toCt(g, g.op('Mul', [x, inv]))]);
  };
  const linear = (x: string, wn: string, b?: string): string => g.op('Gemm', b ? [x, w(wn), w(b)] : [x, w(wn)], { transB: 1 });

  const shapeTqHD = g.constI64([0, H, D]);
  const shapeTqHkvD = g.constI64([0, Hkv, D]);
  const scale = 1 / Math.sqrt(D);
  const keys: string[] = [];
  const values: string[] = [];
  const queries: string[] = [];

  let h = g.op('Gather', [w(spec.tensors.embed), io.ids], { axis: 0 }); // [Tq, d]
  spec.tensors.layers.forEach((lw, l) => {
    const a = rmsNorm(h, lw.attnNorm);
    const q = rope(g.op('Reshape', [linear(a, lw.q, lw.qBias), shapeTqHD])); // [Tq, H, D]
    if (io.queryRows) queries.push(g.op('Gather', [q, io.queryRows], { axis: 0 }, { name: names.query?.(l) }));
    const k = rope(g.op('Reshape', [linear(a, lw.k, lw.kBias), shapeTqHkvD])); // [Tq, Hkv, D]
    const v = g.op('Reshape', [linear(a, lw.v, lw.vBias), shapeTqHkvD]);
    const kT = g.op('Transpose', [k], { perm: [1, 0, 2] }, { name: names.presentKey?.(l) }); // [Hkv, Tq, D]
    const vT = g.op('Transpose', [v], { perm: [1, 0, 2] }, { name: names.presentValue?.(l) });
    keys.push(kT);
    values.push(vT);
    const past = io.past(l);
    // [Hkv, 1, Tc]: broadcast over query rows
    const pastBias = toCt(g, g.op('Unsqueeze', [past.bias, g.constI64([1])]));

    // Fused branch: flash attention over the fresh rows (GQA heads expanded to H).
    const fb = g.child(`L${l}f_`);
    const expandKv = (x: string): string =>
      G === 1
        ? x
        : fb.op('Reshape', [fb.op('Expand', [fb.op('Unsqueeze', [x, fb.constI64([2])]), fb.constI64([1, 1, G, 1])]), fb.constI64([0, H, D])]);
    const flat3 = fb.constI64([1, -1, H * D]);
    const mha = fb.op('MultiHeadAttention', [fb.op('Reshape', [q, flat3]), fb.op('Reshape', [expandKv(k), flat3]), fb.op('Reshape', [expandKv(v), flat3])], { num_heads: H }, { domain: 'com.microsoft' });
    const fOut = fb.op('Reshape', [mha, fb.constI64([-1, H * D])]);
    fb.output(fOut, E, ['Tq', H * D]);

    // Explicit branch: scores against cached rows and fresh rows, one softmax over both.
    const eb = g.child(`L${l}e_`);
    const qg = eb.op('Reshape', [eb.op('Transpose', [eb.op('Reshape', [q, eb.constI64([0, Hkv, G, D])])], { perm: [1, 2, 0, 3] }), eb.constI64([Hkv, -1, D])]); // [Hkv, G*Tq, D]
    const sPast = eb.op('Add', [eb.op('FusedMatMul', [qg, past.key], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }), pastBias]); // [Hkv, G*Tq, Tc]
    const sNew = eb.op('FusedMatMul', [qg, kT], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }); // [Hkv, G*Tq, Tq]
    const p = eb.op('Softmax', [eb.op('Concat', [sPast, sNew], { axis: 2 })], { axis: -1 });
    const tc = eb.op('Shape', [pastBias], { start: 2 });
    const big = eb.constI64([2 ** 62]);
    const ax = eb.constI64([2]);
    const pPast = eb.op('Slice', [p, eb.constI64([0]), tc, ax]);
    const pNew = eb.op('Slice', [p, tc, big, ax]);
    const o = eb.op('Add', [eb.op('MatMul', [pPast, past.value]), eb.op('MatMul', [pNew, vT])]); // [Hkv, G*Tq, D]
    const oT = eb.op('Transpose', [eb.op('Reshape', [o, eb.constI64([Hkv, G, -1, D])])], { perm: [2, 0, 1, 3] }); // [Tq, Hkv, G, D]
    const eOut = eb.op('Reshape', [oT, eb.constI64([-1, H * D])]);
    eb.output(eOut, E, ['Tq', H * D]);

    const attn = g.op('If', [io.fused], {
      then_branch: { graph: { ...fb.graph(`${fb.prefix}fused`), input: [] } },
      else_branch: { graph: { ...eb.graph(`${eb.prefix}explicit`), input: [] } },
    });
    h = g.op('Add', [h, linear(attn, lw.o)]);
    const f = rmsNorm(h, lw.ffnNorm);
    const gate = linear(f, lw.gate);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), linear(f, lw.up)]);
    h = g.op('Add', [h, linear(act, lw.down)]);
  });
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

/** Builds the serialized forward graph (one forward per session.run: the step executor's graph). */
export function buildForwardGraph(spec: ModelSpec, weights: WeightSource): Uint8Array {
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
  const out = emitForward(g, weightRefs(g, weights), spec, io, { presentKey: N.presentKey, presentValue: N.presentValue, query: N.query, logits: N.logits });
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
