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
 * The batched variant (several requests in one forward, src/batch/; `fused` only for one request without a past) adds:
 *   slots          int64 [B, Tqm]  packed row of each request's padded query slot
 *   slot_bias      f32 [B, Tqm]    0 real slot, -inf padding
 *   row_slot       int64 [Tq]      each packed row's flat slot
 * and pasts per request, padded: past_key.{l} / past_value.{l} [B, Hkv, Tcm_l, D], past_bias.{l} [B, Hkv, Tcm_l].
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
import { DT, GraphBuilder, encodeModel, once } from './onnx-builder.js';
import type { LayerTensorNames, ModelSpec, WeightInfo } from './spec.js';
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
  slots: 'slots',
  slotBias: 'slot_bias',
  rowSlot: 'row_slot',
} as const;

/** Where each weight's bytes are: the safetensors file name (as linked beside the graph) and offsets. */
export interface WeightSource {
  info(name: string): WeightInfo;
  /** The file name the graph should reference for `file` (a link in the graph's folder). */
  location(file: string): string;
}

const ELEM: Record<string, 1 | 10 | 16> = { F32: DT.FLOAT, F16: DT.FLOAT16, BF16: DT.BFLOAT16 };

/**
 * Resolves a weight to the value that holds it in the compute type (an initializer, or its Cast, in
 * the outermost graph); `cat` joins several along their first axis (the packed Q|K|V projection),
 * also in the outermost graph, so ORT folds it once at session start like the Cast.
 */
export type WeightRef = ((name: string) => string) & { cat(names: readonly string[]): string };

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
  const one = (name: string): string => {
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
  const cat = (names: readonly string[]): string => {
    const key = `cat:${names.join('|')}`;
    let v = memo.get(key);
    if (!v) memo.set(key, (v = g.op('Concat', names.map(one), { axis: 0 })));
    return v;
  };
  return Object.assign(one, { cat });
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

/**
 * RoPE the plain ops way, as the reference computes it: tables from `positions` (int64 [Tq]) in
 * float32, freqs = pos * inv_freq, [freqs, freqs], then x cos + rotate_half(x) sin in the compute
 * type. Returns the rotation of x2d [Tq, heads * D] -> [Tq, heads, D] (half-split layout).
 */
export function plainRope(g: GraphBuilder, spec: ModelSpec, positions: string, ct: ComputeType = 'fp32'): (x2d: string, heads: number) => string {
  const D = spec.headDim;
  const toCt = (x: string): string => (ct === 'fp16' ? g.op('Cast', [x], { to: DT.FLOAT16 }) : x);
  const freqs = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [positions], { to: DT.FLOAT }), g.constI64([1])]), g.constF32(invFreqs(spec), [1, D / 2])]); // [Tq, D/2]
  const emb = g.op('Concat', [freqs, freqs], { axis: -1 }); // [Tq, D]
  const cos = toCt(g.op('Unsqueeze', [g.op('Cos', [emb]), g.constI64([1])])); // [Tq, 1, D]
  const sin = toCt(g.op('Unsqueeze', [g.op('Sin', [emb]), g.constI64([1])]));
  return (x2d, heads) => {
    // rotate_half pairs (i, i + D/2) (half-split layout of HF checkpoints)
    const x = g.op('Reshape', [x2d, g.constI64([0, heads, D])]);
    const [x1, x2] = g.opN('Split', [x], 2, { axis: -1 });
    const rot = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rot, sin])]);
  };
}

/**
 * RMSNorm the plain ops way, in fp32; with fp16 compute the normalised value goes back to fp16
 * before the weight, as the reference's RMSNorm does (x.float() ... .type_as(x) * weight).
 */
export function plainRmsNorm(g: GraphBuilder, spec: ModelSpec, xIn: string, weight: string, ct: ComputeType = 'fp32'): string {
  const half = ct === 'fp16';
  const x = half ? g.op('Cast', [xIn], { to: DT.FLOAT }) : xIn;
  const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalarF32(spec.rmsNormEps)])])]);
  const normed = g.op('Mul', [x, inv]);
  return g.op('Mul', [weight, half ? g.op('Cast', [normed], { to: DT.FLOAT16 }) : normed]);
}

/** x W^T (+ bias) for a weight of the checkpoint (the host graphs' plain fp32 projection). */
export function plainLinear(g: GraphBuilder, w: WeightRef, x: string, weight: string, bias?: string): string {
  return g.op('Gemm', bias ? [x, w(weight), w(bias)] : [x, w(weight)], { transB: 1 });
}

/** The SiLU-gated MLP of a layer on normed rows f: down(silu(gate f) * up f). */
export function plainMlp(g: GraphBuilder, w: WeightRef, lw: LayerTensorNames, f: string): string {
  const gate = plainLinear(g, w, f, lw.gate);
  return plainLinear(g, w, g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), plainLinear(g, w, f, lw.up)]), lw.down);
}

/** The values a forward reads: token ids and positions of the query rows, which rows to score, the past. */
export interface ForwardInputs {
  readonly ids: string; // int64 [Tq]
  readonly positions: string; // int64 [Tq]
  readonly logitRows: string; // int64 [Nl], rows of Tq
  /** Rows of Tq whose queries are returned; omit for none. */
  readonly queryRows?: string;
  /** Per layer: cached K/V [Hkv, Tc, D] (after RoPE) and the bias [Hkv, Tc] (0 attend, -inf ignore); with `batch`, [B, Hkv, Tcm, D] and [B, Hkv, Tcm]. */
  readonly past: (l: number) => PastRows;
  /** The present K/V (ForwardValues.keys / values) are needed (default true; a Loop step that never reads them says false). */
  readonly present?: boolean;
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
  /**
   * A batch of requests packed in one forward (src/batch/): the rows at `positions` are every
   * request's query rows side by side, and each layer's past (PastRows) is per request, padded:
   * key / value [B, Hkv, Tcm, D], bias [B, Hkv, Tcm]. The projections run over the packed rows;
   * attention runs per request on a padded view, so no request attends to (or pays for) another's
   * rows. `fused` may still be an input: true runs flash attention over the packed rows, valid
   * only for a batch of one request without a past (a long prompt's refresh, where the padded
   * view's T x T scores would not fit).
   */
  readonly batch?: BatchLayout;
}

/** Where each packed row sits in the per-request padded view of a batched forward. */
export interface BatchLayout {
  /** int64 [B, Tqm]: the packed row at each padded query slot (a padding slot repeats a row of its request). */
  readonly slots: string;
  /** f32 [B, Tqm]: 0 for a real slot, -inf for padding (as a key, padding is never attended). */
  readonly slotBias: string;
  /** int64 [Tq]: each packed row's flat slot b * Tqm + s (the attention output back in packed order). */
  readonly rowSlot: string;
}

/** A layer's cached rows as a forward reads them. */
export interface PastRows {
  readonly key: string;
  readonly value: string;
  readonly bias: string;
  /**
   * The same attendable set as [before | the query rows' fresh K/V | after] (ForwardStyle
   * cachedAttention 'replace'): the cached rows before and after the query window (whose own cached
   * rows are stale and masked by `bias`), [1, n, H*D] (BSNH, GQA heads expanded), and the bias
   * over the joined rows, [1, H, Tq, n] in the compute type, or null when every row is attended
   * (then ORT runs flash attention).
   */
  readonly around?: { readonly key: readonly [string, string]; readonly value: readonly [string, string]; readonly bias: string | null };
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
   * and runs ORT's MultiHeadAttention with the cache mask as attention bias; 'replace' (where the
   * past gives `around`) puts the fresh rows in place of the window's stale ones, [before | fresh |
   * after], and runs MultiHeadAttention without a bias, so ORT picks flash attention (3 nodes
   * instead of 17 per layer, for the GPU, where per-node cost bounds a cached step; it copies the
   * cache once per step, which the GPU's bandwidth pays for easily). Pasts without `around` (a
   * refresh's) take the explicit path.
   */
  readonly cachedAttention?: CachedAttention;
  /**
   * One projection for Q|K|V (weights joined once at session start), one RotaryEmbedding over Q|K,
   * and SiLU as ORT's QuickGelu(alpha 1): 9 fewer nodes per layer than the plain graph. Lean only.
   */
  readonly packed?: boolean;
}

export type CachedAttention = 'explicit' | 'mha' | 'replace';

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
  const posF = (): string => g.op('Cast', [io.positions], { to: DT.FLOAT });
  let rope: (x: string, heads: number) => string;
  /** lean only: RoPE over [1, Tq, n * D] (any number of heads n), same shape out */
  let rotary3d: ((x3d: string) => string) | null = null;
  let rmsNorm: (x: string, wn: string) => string;
  /** h + delta, normalised with weight wn: [normalised, sum] */
  let addNorm: (h: string, delta: string, wn: string) => [string, string];
  if (lean) {
    // Lean ops (the fp16 GPU path, where ORT's per-node cost, not arithmetic, bounds a cached step):
    // one fused kernel per norm, per residual add + norm and per rotation instead of 6-9 small
    // ones. SimplifiedLayerNormalization computes in fp32 and rounds once; RotaryEmbedding reads
    // cos/sin tables [max position + 1, D/2] (half-split layout, as rotate_half), built here once
    // per forward in float32 from the same inverse frequencies, then rounded to the compute type.
    const { cos: cosC, sin: sinC } = io.ropeTables ?? emitRopeTables(g, spec, g.op('Add', [g.op('ReduceMax', [posF()], { keepdims: 0 }), g.scalarF32(1)]), ct);
    const posIds = g.op('Unsqueeze', [io.positions, g.constI64([0])]); // [1, Tq]
    // the head size comes from the tables (2 x D/2), so one call rotates Q and K heads together
    const rot = (x3d: string): string => g.op('RotaryEmbedding', [x3d, posIds, cosC, sinC], { interleaved: 0 }, { domain: 'com.microsoft' });
    rotary3d = rot;
    rope = (x2d, heads) => g.op('Reshape', [rot(g.op('Unsqueeze', [x2d, g.constI64([0])])), g.constI64([-1, heads, D])]);
    rmsNorm = (x, wn) => g.op('SimplifiedLayerNormalization', [x, w(wn)], { axis: -1, epsilon: { float: spec.rmsNormEps }, stash_type: 1 });
    addNorm = (h, delta, wn) => {
      const [normed, , , sum] = g.opOut('SkipSimplifiedLayerNormalization', [h, delta, w(wn)], [true, false, false, true], { epsilon: { float: spec.rmsNormEps } }, 'com.microsoft');
      return [normed as string, sum as string];
    };
  } else {
    rope = plainRope(g, spec, io.positions, ct);
    rmsNorm = (x, wn) => plainRmsNorm(g, spec, x, w(wn), ct);
    addNorm = (h, delta, wn) => {
      const sum = g.op('Add', [h, delta]);
      return [rmsNorm(sum, wn), sum];
    };
  }
  // packed (ForwardStyle): the hidden state stays [1, Tq, d] and every projection is one
  // FusedMatMul against the [out, in] weight (no 2D/3D reshapes around the rotary and attention
  // kernels); otherwise [Tq, d] with Gemm
  const packed = lean && (style.packed ?? false) && rotary3d !== null;
  const mm = (x: string, wt: string): string => g.op('FusedMatMul', [x, wt], { transB: 1 }, { domain: 'com.microsoft' });
  const gemm = (x: string, wn: string, b?: string): string => g.op('Gemm', b ? [x, w(wn), w(b)] : [x, w(wn)], { transB: 1 });
  const linear = (x: string, wn: string, b?: string): string => {
    if (!packed) return gemm(x, wn, b);
    const y = mm(x, w(wn));
    return b ? g.op('Add', [y, w(b)]) : y;
  };
  /** an attention result [1, Tq, H*D] in the hidden state's layout */
  const fromMha = (b: GraphBuilder, x3: string): string => (packed ? x3 : b.op('Reshape', [x3, b.constI64([-1, H * D])]));
  /** an attention result [Tq, H*D] in the hidden state's layout */
  const from2d = (b: GraphBuilder, x2: string): string => (packed ? b.op('Reshape', [x2, b.constI64([1, -1, H * D])]) : x2);
  const attnDims = packed ? [1, 'Tq', H * D] : ['Tq', H * D];

  const shapeTqHkvD = (): string => g.constI64([0, Hkv, D]);
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
  /** [1, Tq, Hkv*D] -> [1, Tq, H*D], each KV head repeated for its G query heads */
  const expand3 = (b: GraphBuilder, x: string): string =>
    G === 1 ? x : b.op('Reshape', [b.op('Expand', [b.op('Reshape', [x, b.constI64([1, -1, Hkv, 1, D])]), b.constI64([1, 1, 1, G, 1])]), b.constI64([1, -1, H * D])]);

  /** Flash attention over the fresh rows (GQA heads expanded to H), from [1, Tq, n*D] views. */
  const fusedAttention = (b: GraphBuilder, q3: string, k3: string, v3: string): string =>
    fromMha(b, b.op('MultiHeadAttention', [q3, expand3(b, k3), expand3(b, v3)], { num_heads: H }, { domain: 'com.microsoft' }));
  // attention bias [1, H, Tq, Tc + Tq] of a past bias [Hkv, Tc] (fresh rows attended), once per value
  const mhaBiases = new Map<string, string>();
  const mhaBias = (b: GraphBuilder, bias: string, tq: string): string => {
    // memoised per builder: an If branch's values are not visible to another branch
    const memoKey = `${b.prefix}|${bias}`;
    let v = mhaBiases.get(memoKey);
    if (v) return v;
    const fresh = b.op('Expand', [b.scalarF32(0), b.op('Concat', [b.constI64([Hkv]), tq], { axis: 0 })]); // [Hkv, Tq]
    // a past bias is [Hkv, Tc] or [1, Tc] (one row shared by the heads)
    let rows = b.op('Concat', [b.op('Expand', [bias, b.constI64([Hkv, 1])]), fresh], { axis: 1 }); // [Hkv, T]
    if (G > 1) rows = b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [rows, b.constI64([1])]), b.constI64([1, G, 1])]), b.constI64([H, -1])]); // [H, T]
    const full = b.op('Expand', [b.op('Unsqueeze', [rows, b.constI64([1])]), b.op('Concat', [b.constI64([H]), tq, b.constI64([1])], { axis: 0 })]); // [H, Tq, T]
    v = toCt(b, b.op('Unsqueeze', [full, b.constI64([0])]));
    mhaBiases.set(memoKey, v);
    return v;
  };
  /** ORT's MultiHeadAttention over [cached rows | fresh rows] (BNSH keys, GQA heads expanded). */
  const mhaAttention = (b: GraphBuilder, q: string, kT: string, vT: string, past: PastRows): string => {
    const bnsh = (cached: string, fresh: string): string => {
      const all = b.op('Concat', [cached, fresh], { axis: 1 }); // [Hkv, T, D]
      const heads = G === 1 ? all : b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [all, b.constI64([1])]), b.constI64([1, G, 1, 1])]), b.constI64([H, -1, D])]);
      return b.op('Unsqueeze', [heads, b.constI64([0])]); // [1, H, T, D]
    };
    const tq = b.op('Shape', [q], { start: 0, end: 1 });
    return fromMha(b, b.op('MultiHeadAttention', [b.op('Reshape', [q, b.constI64([1, -1, H * D])]), bnsh(past.key, kT), bnsh(past.value, vT), '', '', mhaBias(b, past.bias, tq)], { num_heads: H }, { domain: 'com.microsoft' }));
  };
  /** Scores against the cached rows and the fresh rows, one softmax over both (never concatenating the cache). */
  const explicitAttention = (b: GraphBuilder, q: string, kT: string, vT: string, past: PastRows, pastBias: string): string => {
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
    return from2d(b, b.op('Reshape', [oT, b.constI64([-1, H * D])]));
  };
  const batch = io.batch;
  if (batch && (io.fused === true || cachedAttention !== 'explicit'))
    throw new WavefilterError('runtime_error', 'a batched forward attends explicitly (fused: only as a per-run choice, for a lone request without a past)');
  // batched: the padded slots' fresh-key bias [B, 1, 1, Tqm], once per forward
  const slotKeyBias = batch ? toCt(g, g.op('Unsqueeze', [batch.slotBias, g.constI64([1, 2])])) : '';
  /**
   * Explicit attention per request of a batch: queries and fresh keys gathered from the packed rows
   * into [B, Hkv, ., D] padded views, scored against the request's own padded past and fresh rows,
   * and the output gathered back to the packed rows.
   */
  const batchedAttention = (b: GraphBuilder, q: string, k: string, v: string, past: PastRows, layout: BatchLayout): string => {
    const padded = (x: string): string => b.op('Gather', [x, layout.slots], { axis: 0 }); // [B, Tqm, heads, D]
    // [B, Tqm, Hkv, G, D] -> [B, Hkv, G*Tqm, D]
    const qg = b.op('Reshape', [b.op('Transpose', [b.op('Reshape', [padded(q), b.constI64([0, 0, Hkv, G, D])])], { perm: [0, 2, 3, 1, 4] }), b.constI64([0, Hkv, -1, D])]);
    const kf = b.op('Transpose', [padded(k)], { perm: [0, 2, 1, 3] }); // [B, Hkv, Tqm, D]
    const vf = b.op('Transpose', [padded(v)], { perm: [0, 2, 1, 3] });
    const pastBias = toCt(b, b.op('Unsqueeze', [past.bias, b.constI64([2])])); // [B, Hkv, 1, Tcm]
    const sPast = b.op('Add', [b.op('FusedMatMul', [qg, past.key], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }), pastBias]); // [B, Hkv, G*Tqm, Tcm]
    const sNew = b.op('Add', [b.op('FusedMatMul', [qg, kf], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' }), slotKeyBias]); // [B, Hkv, G*Tqm, Tqm]
    const p = b.op('Softmax', [b.op('Concat', [sPast, sNew], { axis: 3 })], { axis: -1 });
    const tc = b.op('Shape', [past.bias], { start: 2 });
    const ax = b.constI64([3]);
    const pPast = b.op('Slice', [p, b.constI64([0]), tc, ax]);
    const pNew = b.op('Slice', [p, tc, b.constI64([2 ** 62]), ax]);
    const o = b.op('Add', [b.op('MatMul', [pPast, past.value]), b.op('MatMul', [pNew, vf])]); // [B, Hkv, G*Tqm, D]
    // [B, Hkv, G, Tqm, D] -> [B, Tqm, Hkv, G, D] -> [B*Tqm, H*D], then the packed rows
    const oT = b.op('Transpose', [b.op('Reshape', [o, b.constI64([0, Hkv, G, -1, D])])], { perm: [0, 3, 1, 2, 4] });
    return from2d(b, b.op('Gather', [b.op('Reshape', [oT, b.constI64([-1, H * D])]), layout.rowSlot], { axis: 0 }));
  };
  /** MultiHeadAttention over [before | fresh | after] (ForwardStyle 'replace'), keys [1, n, H*D]. */
  const replaceAttention = (b: GraphBuilder, q3: string, k3: string, v3: string, around: NonNullable<PastRows['around']>): string => {
    const kAll = b.op('Concat', [around.key[0], expand3(b, k3), around.key[1]], { axis: 1 });
    const vAll = b.op('Concat', [around.value[0], expand3(b, v3), around.value[1]], { axis: 1 });
    const inputs = around.bias ? [q3, kAll, vAll, '', '', around.bias] : [q3, kAll, vAll];
    return fromMha(b, b.op('MultiHeadAttention', inputs, { num_heads: H }, { domain: 'com.microsoft' }));
  };

  let h = g.op('Gather', [w(spec.tensors.embed), io.ids], { axis: 0 }); // [Tq, d]
  if (packed) h = g.op('Unsqueeze', [h, g.constI64([0])]); // [1, Tq, d]
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
    // q [Tq, H, D], k / v [Tq, Hkv, D] (after RoPE) and their [1, Tq, n*D] views; each built when used
    let q: () => string;
    let k: () => string;
    let v: () => string;
    let q3: () => string;
    let k3: () => string;
    let v3: () => string;
    const biases = [lw.qBias, lw.kBias, lw.vBias];
    if (packed && rotary3d && (biases.every((x) => x) || biases.every((x) => !x))) {
      // one projection for Q|K|V and one rotation for Q|K (RotaryEmbedding takes any head count)
      let qkv = mm(a, w.cat([lw.q, lw.k, lw.v])); // [1, Tq, (H + 2 Hkv) D]
      if (lw.qBias) qkv = g.op('Add', [qkv, w.cat(biases as string[])]);
      const [qk, vf] = g.opN('Split', [qkv, g.constI64([(H + Hkv) * D, Hkv * D])], 2, { axis: 2 });
      const [qr, kr] = g.opN('Split', [rotary3d(qk), g.constI64([H * D, Hkv * D])], 2, { axis: 2 });
      q3 = () => qr;
      k3 = () => kr;
      v3 = () => vf;
      q = once(() => g.op('Reshape', [qr, g.constI64([-1, H, D])]));
      k = once(() => g.op('Reshape', [kr, g.constI64([-1, Hkv, D])]));
      v = once(() => g.op('Reshape', [vf, g.constI64([-1, Hkv, D])]));
    } else {
      // (packed with only some of the Q/K/V biases: three projections, as the plain graph)
      const x = packed ? g.op('Squeeze', [a, g.constI64([0])]) : a;
      const qv = rope(gemm(x, lw.q, lw.qBias), H);
      const kv = rope(gemm(x, lw.k, lw.kBias), Hkv);
      const vv = g.op('Reshape', [gemm(x, lw.v, lw.vBias), shapeTqHkvD()]);
      q = () => qv;
      k = () => kv;
      v = () => vv;
      q3 = once(() => g.op('Reshape', [qv, g.constI64([1, -1, H * D])]));
      k3 = once(() => g.op('Reshape', [kv, g.constI64([1, -1, Hkv * D])]));
      v3 = once(() => g.op('Reshape', [vv, g.constI64([1, -1, Hkv * D])]));
    }
    const kT = once(() => g.op('Transpose', [k()], { perm: [1, 0, 2] }, { name: names.presentKey?.(l) })); // [Hkv, Tq, D]
    const vT = once(() => g.op('Transpose', [v()], { perm: [1, 0, 2] }, { name: names.presentValue?.(l) }));
    if (io.queryRows) queries.push(g.op('Gather', [q(), io.queryRows], { axis: 0 }, { name: names.query?.(l) }));
    if (io.present !== false) {
      keys.push(kT());
      values.push(vT());
    }
    const past = io.past(l);
    const cached = (b: GraphBuilder): string => {
      if (batch) return batchedAttention(b, q(), k(), v(), past, batch);
      if (cachedAttention === 'replace' && past.around) return replaceAttention(b, q3(), k3(), v3(), past.around);
      if (cachedAttention === 'mha') return mhaAttention(b, q(), kT(), vT(), past);
      return explicitAttention(b, q(), kT(), vT(), past, biasView(past.bias)); // bias [Hkv, 1, Tc]: broadcast over query rows
    };
    let attn: string;
    if (io.fused === true) attn = fusedAttention(g, q3(), k3(), v3());
    else if (io.fused === false) attn = cached(g);
    else {
      const fb = g.child(`L${l}f_`);
      fb.output(fusedAttention(fb, q3(), k3(), v3()), E, attnDims);
      const eb = g.child(`L${l}e_`);
      eb.output(cached(eb), E, attnDims);
      attn = g.op('If', [io.fused], {
        then_branch: { graph: { ...fb.graph(`${fb.prefix}fused`), input: [] } },
        else_branch: { graph: { ...eb.graph(`${eb.prefix}explicit`), input: [] } },
      });
    }
    pending = { delta: linear(attn, lw.o) };
    const f = normAfter(lw.ffnNorm);
    const gate = linear(f, lw.gate);
    const up = linear(f, lw.up);
    // SiLU(gate) * up (packed: SiLU as ORT's QuickGelu x * sigmoid(alpha x) with alpha 1, one kernel)
    const silu = packed ? g.op('QuickGelu', [gate], { alpha: { float: 1 } }, { domain: 'com.microsoft' }) : g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    const act = g.op('Mul', [silu, up]);
    pending = { delta: linear(act, lw.down) };
  });
  if (pending) h = g.op('Add', [h, (pending as { delta: string }).delta]);
  const hl = g.op('Gather', [packed ? g.op('Squeeze', [h, g.constI64([0])]) : h, io.logitRows], { axis: 0 }); // [Nl, d]
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
  const maskBias = new Float32Array(V);
  maskBias[spec.maskTokenId] = -Infinity;
  // The top two in float32: float32 -> float64 is exact and monotonic, so the ids, the values and
  // the tie order are those of the float64 row, at half the bytes per pass of ORT's radix TopK.
  const masked = g.op('Add', [logits, g.constF32(maskBias, [V])]);
  const [top32, topIds] = g.opN('TopK', [masked, g.constI64([2])], 2, { axis: -1, largest: 1, sorted: 1 });
  const topValues = g.op('Cast', [top32], { to: DT.DOUBLE });
  const l64 = g.op('Cast', [masked], { to: DT.DOUBLE });
  // log-sum-exp = max + log(sum exp(x - max)), the max being the top value; the row sums as a
  // float64 product with ones: ORT's CUDA ReduceLogSumExp over a 126K vocabulary in float64 took
  // 23 ms a row block on an H200 (a profile with CUDA_LAUNCH_BLOCKING=1), more than a whole step
  const max = g.op('Slice', [topValues, g.constI64([0]), g.constI64([1]), g.constI64([1])]); // [Nl, 1]
  const ones = g.constF64(new Float64Array(V).fill(1), [V, 1]);
  const lse = g.op('Add', [max, g.op('Log', [g.op('MatMul', [g.op('Exp', [g.op('Sub', [l64, max])]), ones])])]); // [Nl, 1]
  const logSumExp = g.op('Squeeze', [lse, g.constI64([-1])]);
  // a pass over the vocabulary that only Dream's entropy rule reads: emitted on first use
  let negEntropy: string | null = null;
  return {
    topValues, topIds, logSumExp,
    get negEntropy(): string {
      if (negEntropy === null) {
        const prob = g.op('Exp', [g.op('Sub', [l64, lse])]);
        const plogp = g.op('Mul', [prob, g.op('Log', [g.op('Add', [prob, g.scalarF64(1e-10)])])]);
        negEntropy = g.op('Squeeze', [g.op('MatMul', [plogp, ones]), g.constI64([-1])]);
      }
      return negEntropy;
    },
  };
}

/**
 * Builds the serialized forward graph (one forward per session.run: the step executor's graph).
 * `lean` swaps in ORT's fused norm and rotary kernels (the fp16 GPU path's ops; fp32 here, for tests).
 */
export function buildForwardGraph(spec: ModelSpec, weights: WeightSource, o: { lean?: boolean; packed?: boolean; batch?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder();
  const { nHeads: H, nKvHeads: Hkv, headDim: D, vocabSize: V } = spec;
  const N = GraphNames;
  // the batched variant (several requests per forward, src/batch/): pasts per request, padded
  const lead = o.batch ? ['B'] : [];
  const io: ForwardInputs = {
    ids: g.input(N.inputIds, DT.INT64, ['Tq']),
    positions: g.input(N.positions, DT.INT64, ['Tq']),
    logitRows: g.input(N.logitRows, DT.INT64, ['Nl']),
    queryRows: g.input(N.queryRows, DT.INT64, ['Nq']),
    fused: g.input(N.fused, DT.BOOL, []),
    batch: o.batch ? { slots: g.input(N.slots, DT.INT64, ['B', 'Tqm']), slotBias: g.input(N.slotBias, DT.FLOAT, ['B', 'Tqm']), rowSlot: g.input(N.rowSlot, DT.INT64, ['Tq']) } : undefined,
    past: (l) => ({
      key: g.input(N.pastKey(l), DT.FLOAT, [...lead, Hkv, `Tc${l}`, D]),
      value: g.input(N.pastValue(l), DT.FLOAT, [...lead, Hkv, `Tc${l}`, D]),
      bias: g.input(N.pastBias(l), DT.FLOAT, [...lead, Hkv, `Tc${l}`]),
    }),
  };
  const out = emitForward(g, weightRefs(g, weights), spec, io, { presentKey: N.presentKey, presentValue: N.presentValue, query: N.query, logits: N.logits }, { lean: o.lean ?? false, packed: o.packed ?? false });
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
