/**
 * ONNX graphs that turn a refreshed K/V cache into a compact, sparse one: each token filter scores
 * the prompt rows (or takes given indices), keeps a fixed number per KV head, and gathers the kept
 * prompt rows plus every generation row into new [Hkv, T + G, D] tensors, all inside ORT, once per
 * selection. One graph covers all layers so a selection is one session call.
 *
 * Inputs (per layer l)                         Outputs (per layer l)
 *   key.{l}, value.{l}  f32 [Hkv, L, D]          ckey.{l}, cvalue.{l}  f32 [Hkv, T + G, D]
 *   query.{l}           f32 [Nq, H, D] (scored)  tokens.{l}            i64 [Hkv, T]  prompt positions, -1 = padding
 *   prompt_len          i64 [1]  (P; G = L - P)
 *
 * Each selection is an `emit*` function that writes its ops into any builder and returns the kept
 * prompt positions per layer; the standalone graphs here (the step executor's filter sessions) and
 * the block program (program/block-graph.ts, selection inside the denoising run) both use them, so
 * both executors keep the same rows.
 */
import { DT, GraphBuilder, encodeModel } from '../model/onnx-builder.js';
import type { ModelSpec } from '../model/spec.js';

export const FilterNames = {
  key: (l: number) => `key.${l}`,
  value: (l: number) => `value.${l}`,
  query: (l: number) => `query.${l}`,
  indices: (l: number) => `indices.${l}`,
  acc: (l: number) => `acc.${l}`,
  newAcc: (l: number) => `new_acc.${l}`,
  ckey: (l: number) => `ckey.${l}`,
  cvalue: (l: number) => `cvalue.${l}`,
  tokens: (l: number) => `tokens.${l}`,
  promptLen: 'prompt_len',
  regionStart: 'region_start',
  regionEnd: 'region_end',
  protect: 'protect',
  keep: 'keep',
  recent: 'recent',
  levelK: (b: number) => `k.${b}`,
  coarseIn: (l: number) => `coarse.${l}`,
  coarseOut: (l: number) => `coarse_out.${l}`,
  levelM: (b: number) => `m.${b}`,
} as const;

const F = FilterNames;

/**
 * Where a selection reads its data: per layer keys [Hkv, L, D] and queries [Nq, H, D], the prompt
 * length, and its control inputs (declared once in the outermost graph, whatever builder the
 * selection is emitted into).
 */
export interface SelectionIO {
  key(l: number): string;
  query(l: number): string;
  readonly promptLen: string; // int64 [1]
  control(name: string, elemType: 1 | 7 | 9 | 11, dims: readonly (number | string)[]): string;
  /** WaveFilter's level-B sums per layer when they come from outside; omitted: computed in the graph. */
  coarse?(l: number): string;
}

/** A selection's result: per layer the kept prompt positions [Hkv, T] (-1 = padding), and any state to carry (H2O's accumulator). */
export interface EmittedSelection {
  readonly tokens: string[];
  readonly state: string[];
}

/** The compact K or V: kept prompt rows (idx [Hkv, T], -1 = padding, gathered as row 0) then every generation row. */
export function gatherCompact(g: GraphBuilder, src: string, idx: string, promptLen: string): string {
  const safe = g.op('Unsqueeze', [g.op('Max', [idx, g.constI64([0])]), g.constI64([-1])]); // [Hkv, T, 1]
  const kept = g.op('GatherND', [src, safe], { batch_dims: 1 }); // [Hkv, T, D]
  const gen = g.op('Slice', [src, promptLen, g.constI64([2 ** 62]), g.constI64([1])]);
  return g.op('Concat', [kept, gen], { axis: 1 });
}

/** A standalone selection graph's inputs (the step executor's filter sessions). */
function standaloneIO(g: GraphBuilder, spec: ModelSpec, coarse = false): SelectionIO & { value(l: number): string } {
  const { nKvHeads: Hkv, headDim: D, nHeads: H } = spec;
  const memo = new Map<string, string>();
  const once = (name: string, make: () => string): string => {
    let v = memo.get(name);
    if (!v) memo.set(name, (v = make()));
    return v;
  };
  return {
    key: (l) => once(F.key(l), () => g.input(F.key(l), DT.FLOAT, [Hkv, 'L', D])),
    value: (l) => once(F.value(l), () => g.input(F.value(l), DT.FLOAT, [Hkv, 'L', D])),
    query: (l) => once(F.query(l), () => g.input(F.query(l), DT.FLOAT, ['Nq', H, D])),
    promptLen: g.input(F.promptLen, DT.INT64, [1]),
    control: (name, elemType, dims) => once(name, () => g.input(name, elemType, dims)),
    ...(coarse ? { coarse: (l: number) => once(F.coarseIn(l), () => g.input(F.coarseIn(l), DT.FLOAT, [Hkv, 'U', D])) } : {}),
  };
}

/** Wraps an emitted selection as a standalone graph: compact K/V and tokens per layer as outputs. */
function standaloneGraph(spec: ModelSpec, name: string, emit: (g: GraphBuilder, io: SelectionIO) => EmittedSelection, coarse = false, state?: (l: number) => string): Uint8Array {
  const g = new GraphBuilder();
  const io = standaloneIO(g, spec, coarse);
  // inputs in layer order first (key, value), as the sessions have always declared them
  for (let l = 0; l < spec.nLayers; l++) {
    io.key(l);
    io.value(l);
  }
  const sel = emit(g, io);
  for (let l = 0; l < spec.nLayers; l++) {
    for (const [src, out] of [[io.key(l), F.ckey(l)], [io.value(l), F.cvalue(l)]] as const) {
      g.identity(gatherCompact(g, src, sel.tokens[l], io.promptLen), out);
      g.output(out, DT.FLOAT, [spec.nKvHeads, 'Tc', spec.headDim]);
    }
    g.identity(sel.tokens[l], F.tokens(l));
    g.output(F.tokens(l), DT.INT64, [spec.nKvHeads, 'T']);
    if (state && sel.state[l]) {
      g.identity(sel.state[l], state(l));
      g.output(state(l), DT.FLOAT, [spec.nKvHeads, 'P']);
    }
  }
  return encodeModel(g.graph(name));
}

/** [Nq, H, D] queries -> [Hkv, G*Nq, D] (a KV head's group of query heads stacked as rows). */
function groupQueries(g: GraphBuilder, query: string, spec: ModelSpec): string {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = spec;
  const G = H / Hkv;
  return g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [query, g.constI64([0, Hkv, G, D])])], { perm: [1, 2, 0, 3] }), g.constI64([Hkv, -1, D])]);
}

/** A filter whose indices come from JavaScript (StreamingLLM, random): the indices are controls. */
export function emitIndexSelection(spec: ModelSpec, io: SelectionIO): EmittedSelection {
  return { tokens: Array.from({ length: spec.nLayers }, (_, l) => io.control(F.indices(l), DT.INT64, [spec.nKvHeads, 'T'])), state: [] };
}

/** Standalone: gather only. */
export function buildIndexGraph(spec: ModelSpec): Uint8Array {
  return standaloneGraph(spec, 'index_filter', (_g, io) => emitIndexSelection(spec, io));
}

export type ScoreKind = 'snapkv' | 'h2o' | 'sparse-dllm';

export interface ScoreGraphOptions {
  readonly kind: ScoreKind;
  /** 1-D pooling over the score vector (kernel, 'max' or 'avg'); 1 = none. */
  readonly poolKernel: number;
  readonly pool: 'max' | 'avg';
}

/**
 * Attention-scored filters. Scores over the prompt keys [0, P):
 *   snapkv      column sums of softmax(Q K^T / sqrt(D)) of the observation-window queries
 *   h2o         the same mass added to an accumulator carried between selections (acc.{l} in, new_acc.{l} out)
 *   sparse-dllm mean over queries of q . k (no softmax)
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
    if (o.kind === 'sparse-dllm') score = g.op('ReduceMean', [s], { axes: [1], keepdims: 0 });
    else score = g.op('ReduceSum', [g.op('Softmax', [s], { axis: -1 }), g.constI64([1])], { keepdims: 0 });
    if (o.kind === 'h2o') {
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
  return standaloneGraph(spec, `${o.kind}_filter`, (g, io) => emitScoreSelection(g, spec, o, io), false, o.kind === 'h2o' ? F.newAcc : undefined);
}

export interface WaveGraphOptions {
  readonly levels: number;
  /**
   * The region length is a multiple of 2^levels (the caller guarantees it): no odd-length padding,
   * and the level-B sums come in as coarse.{l} (from buildCoarseGraph, reused across selections).
   */
  readonly aligned: boolean;
  readonly norm: 'orthonormal' | 'mean';
  /** One selection for all KV heads of a layer (scores summed over heads). */
  readonly headShared: boolean;
  /** Layers that keep every prompt row. */
  readonly denseLayers?: readonly number[];
}

/**
 * Sums of `span` consecutive rows: x viewed as [..., n, span * D] times `span` stacked D x D
 * identities. A GEMM reads the rows once; ORT's ReduceSum over a middle axis was 5-10x slower here.
 */
function spanSum(g: GraphBuilder, x: string, span: number, d: number, lead: readonly number[]): string {
  const eye = new Float32Array(span * d * d);
  for (let s = 0; s < span; s++) for (let i = 0; i < d; i++) eye[(s * d + i) * d + i] = 1;
  return g.op('MatMul', [g.op('Reshape', [x, g.constI64([...lead, -1, span * d])]), g.constF32(eye, [span * d, d])]);
}

/**
 * The level-B Haar sums (unscaled) of the candidate region of every layer's prompt keys, for an
 * aligned region: [Hkv, R / 2^B, D] per layer. Run once while the prompt's keys are unchanged.
 */
export function buildCoarseGraph(spec: ModelSpec, levels: number): Uint8Array {
  const g = new GraphBuilder();
  const { nKvHeads: Hkv, headDim: D } = spec;
  const rs = g.input(F.regionStart, DT.INT64, [1]);
  const re = g.input(F.regionEnd, DT.INT64, [1]);
  for (let l = 0; l < spec.nLayers; l++) {
    const key = g.input(F.key(l), DT.FLOAT, [Hkv, 'L', D]);
    g.identity(emitCoarse(g, spec, levels, key, rs, re), F.coarseOut(l));
    g.output(F.coarseOut(l), DT.FLOAT, [Hkv, 'U', D]);
  }
  return encodeModel(g.graph('wavefilter_coarse'));
}

/** The level-B sums of one layer's aligned region [rs, re) of `key`: [Hkv, R / 2^B, D]. */
function emitCoarse(g: GraphBuilder, spec: ModelSpec, levels: number, key: string, rs: string, re: string): string {
  const region = g.op('Slice', [key, rs, re, g.constI64([1])]); // [Hkv, R, D]
  return spanSum(g, region, 2 ** levels, spec.headDim, [spec.nKvHeads]);
}

/**
 * WaveFilter (paper Algorithm 1 on a Haar pyramid; see wavefilter-reference.ts for the plain version
 * it is tested against). The candidate region [region_start, region_end) of the prompt is pyramided
 * (odd lengths repeat the last row, as pywt's Haar does); scale B scores every unit with the
 * perception weights; each finer scale scores the children of the kept units; per head the keep
 * count is max(1, ceil(m_b * valid candidates)) (k.{b} is the upper bound that fixes shapes).
 * Protected rows (sinks, prompt tail) are prepended as given.
 */
export function buildWaveGraph(spec: ModelSpec, o: WaveGraphOptions): Uint8Array {
  return standaloneGraph(spec, 'wavefilter', (g, io) => emitWaveSelection(g, spec, o, io), o.aligned);
}

/** WaveFilter's selection (see buildWaveGraph), emitted into `g`. */
export function emitWaveSelection(g: GraphBuilder, spec: ModelSpec, o: WaveGraphOptions, io: SelectionIO): EmittedSelection {
  const { nKvHeads: Hkv, headDim: D } = spec;
  const B = o.levels;
  const promptLen = io.promptLen;
  const rs = io.control(F.regionStart, DT.INT64, [1]);
  const re = io.control(F.regionEnd, DT.INT64, [1]);
  const protect = io.control(F.protect, DT.INT64, ['Np']);
  const kIn: string[] = [];
  const mIn: string[] = [];
  for (let b = 1; b <= B; b++) {
    kIn[b] = io.control(F.levelK(b), DT.INT64, [1]);
    mIn[b] = io.control(F.levelM(b), DT.DOUBLE, [1]);
  }
  const tokensOut: string[] = [];
  const ax1 = g.constI64([1]);
  const ax2 = g.constI64([2]);
  const scale = 1 / Math.sqrt(D);
  // level-b Haar approximation = f^b x (sum of the unit's 2^b rows); f = 1/sqrt(2) orthonormal (pywt), 1/2 mean
  const fAt = (b: number): number => (o.norm === 'mean' ? 0.5 : Math.SQRT1_2) ** b;
  const negInf = g.scalarF32(-Infinity);
  const zeroF = g.scalarF32(0);
  const protectRows = g.op('Expand', [g.op('Unsqueeze', [protect, g.constI64([0])]), g.op('Concat', [g.constI64([Hkv]), g.op('Shape', [protect])], { axis: 0 })]);

  /** Per head, marks the first max(1, ceil(m * count(valid))) of `sortedValid`'s columns. */
  const keepFirst = (valid: string, m: string, k: string): string => {
    const n = g.op('Cast', [g.op('ReduceSum', [g.op('Cast', [valid], { to: DT.INT64 }), ax1], { keepdims: 1 })], { to: DT.DOUBLE }); // [Hkv, 1]
    const want = g.op('Max', [g.op('Ceil', [g.op('Sub', [g.op('Mul', [n, m]), g.scalarF64(1e-9)])]), g.scalarF64(1)]);
    const rank = g.op('Cast', [g.op('Range', [g.constI64([0], []), g.op('Squeeze', [k]), g.constI64([1], [])])], { to: DT.DOUBLE }); // [k]
    return g.op('Less', [g.op('Unsqueeze', [rank, g.constI64([0])]), want]); // [Hkv, k]
  };
  /** Perception weights of the units `a` ([Hkv, U, D], unscaled Haar sums) for the queries: column sums of the softmax. */
  const weights = (q: string, a: string, valid: string | null, level: number): string => {
    // the Haar normalisation f^b is folded into the score scale
    let s = g.op('FusedMatMul', [q, a], { transB: 1, alpha: { float: scale * fAt(level) } }, { domain: 'com.microsoft' }); // [Hkv, M, U]
    if (valid) s = g.op('Add', [s, g.op('Unsqueeze', [g.op('Where', [valid, zeroF, negInf]), ax1])]);
    // column sums over the query rows as a MatMul with ones: ORT's ReduceSum over a middle axis is ~10x slower here
    const ones = g.op('Expand', [g.scalarF32(1), g.op('Concat', [g.constI64([1, 1]), g.op('Shape', [s], { start: 1, end: 2 })], { axis: 0 })]);
    let w = g.op('Squeeze', [g.op('MatMul', [ones, g.op('Softmax', [s], { axis: -1 })]), ax1]); // [Hkv, U]
    if (o.headShared) w = g.op('Expand', [g.op('ReduceSum', [w, g.constI64([0])], { keepdims: 1 }), g.op('Shape', [w])]);
    return w;
  };

  for (let l = 0; l < spec.nLayers; l++) {
    const key = io.key(l);
    if (o.denseLayers?.includes(l)) {
      const all = g.op('Range', [g.constI64([0], []), g.op('Squeeze', [promptLen]), g.constI64([1], [])]);
      tokensOut.push(g.op('Expand', [g.op('Unsqueeze', [all, g.constI64([0])]), g.op('Concat', [g.constI64([Hkv]), promptLen], { axis: 0 })]));
      // dense layers still declare the inputs every layer has (the sessions' feeds are uniform)
      if (o.aligned) io.coarse?.(l);
      io.query(l);
      continue;
    }
    const q = groupQueries(g, io.query(l), spec);
    // unitRows(b, units): the level-b Haar sums (unscaled) of `units` ([Hkv, n] unit ids)
    let levelB: string;
    let unitRows: (b: number, units: string) => string;
    if (o.aligned) {
      // every level-b unit is 2^b whole rows: the level-B sums come precomputed (reused while the
      // prompt's keys are unchanged), finer levels only for the candidates, summed from their raw
      // rows (docs §3.7's cheaper variant; same values)
      levelB = io.coarse ? io.coarse(l) : emitCoarse(g, spec, B, key, rs, re);
      unitRows = (b, units) => {
        const span = 2 ** b;
        const offs = g.constI64(Array.from({ length: span }, (_, i) => i), [1, 1, span]);
        const rows = g.op('Add', [g.op('Add', [g.op('Unsqueeze', [g.op('Mul', [units, g.constI64([span])]), ax2]), offs]), rs]); // [Hkv, n, span]
        const raw = g.op('GatherND', [key, g.op('Unsqueeze', [rows, g.constI64([-1])])], { batch_dims: 1 }); // [Hkv, n, span, D]
        return span === 1 ? g.op('Squeeze', [raw, ax2]) : spanSum(g, raw, span, D, [Hkv]);
      };
    } else {
      const region = g.op('Slice', [key, rs, re, ax1]); // [Hkv, R, D]
      // odd lengths: pywt's Haar rule repeats the last row at every level, so build the full pyramid
      const pyr: string[] = [region];
      for (let b = 1; b <= B; b++) {
        const prev = pyr[b - 1];
        const odd = g.op('Mod', [g.op('Shape', [prev], { start: 1, end: 2 }), g.constI64([2])]);
        const even = g.op('Pad', [prev, g.op('Concat', [g.constI64([0, 0, 0, 0]), odd, g.constI64([0])], { axis: 0 })], { mode: 'edge' });
        // levels are kept unscaled here too; scale f^b is applied in `weights`, f per level compounds
        pyr[b] = g.op('ReduceSum', [g.op('Reshape', [even, g.constI64([Hkv, -1, 2, D])]), ax2], { keepdims: 0 });
      }
      levelB = pyr[B];
      unitRows = (b, units) => g.op('GatherND', [pyr[b], g.op('Unsqueeze', [units, g.constI64([-1])])], { batch_dims: 1 });
    }
    const unitsAt = (b: number): string => {
      // number of level-b units: ceil(R / 2^b) (chained ceil of halves = one ceil)
      const span = g.constI64([2 ** b]);
      const r = g.op('Sub', [re, rs]);
      return g.op('Div', [g.op('Add', [r, g.op('Sub', [span, g.constI64([1])])]), span]);
    };
    const wB = weights(q, levelB, null, B);
    const [, topB] = g.opN('TopK', [wB, kIn[B]], 2, { axis: -1, largest: 1, sorted: 1 });
    let units = topB;
    let valid = keepFirst(g.op('Expand', [g.op('Less', [g.constI64([0]), unitsAt(B)]), g.op('Shape', [wB])]), mIn[B], kIn[B]);
    for (let b = B - 1; b >= 0; b--) {
      const first = g.op('Mul', [units, g.constI64([2])]);
      const children = g.op('Concat', [first, g.op('Add', [first, g.constI64([1])])], { axis: 1 }); // [Hkv, 2k]
      const rowsBelow = unitsAt(b);
      const cValid = g.op('And', [g.op('Concat', [valid, valid], { axis: 1 }), g.op('Less', [children, rowsBelow])]);
      if (b === 0) {
        const tokens = g.op('Where', [cValid, g.op('Add', [children, rs]), g.constI64([-1])]);
        tokensOut.push(g.op('Concat', [protectRows, tokens], { axis: 1 }));
        break;
      }
      const safe = g.op('Min', [children, g.op('Sub', [rowsBelow, g.constI64([1])])]);
      const w = weights(q, unitRows(b, safe), cValid, b);
      const [, pick] = g.opN('TopK', [w, kIn[b]], 2, { axis: -1, largest: 1, sorted: 1 });
      units = g.op('GatherElements', [children, pick], { axis: 1 });
      valid = g.op('And', [g.op('GatherElements', [cValid, pick], { axis: 1 }), keepFirst(cValid, mIn[b], kIn[b])]);
    }
  }
  return { tokens: tokensOut, state: [] };
}
