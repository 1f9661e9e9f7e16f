/** WaveFilter's selection as graph ops: the Haar pyramid scoring inside ORT (see index.ts for the policy). */
import { DT, GraphBuilder, encodeModel } from '../../model/onnx-builder.js';
import type { ModelSpec } from '../../model/spec.js';
import { FilterNames as F, type EmittedSelection, type SelectionIO, groupQueries, standaloneGraph } from '../selection-graph.js';

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
  /**
   * Token-level picks on top of the pyramid's (WaveFilterOptions.tokenShare): k_tokens more region
   * rows per head, the highest by the queries' softmax mass over single rows, among those the
   * pyramid did not keep.
   */
  readonly tokenLevel?: boolean;
  /** The token-level scores max-pooled over this many rows before the picks (odd; 1 or absent: none). */
  readonly tokenPool?: number;
  /**
   * Spread picks on top of those (WaveFilterOptions.sampleShare): k_sample more region rows per
   * head, the rows of highest `sample_prio` (the JS side ranks rows by their distance to evenly
   * spaced points of the region) among those neither the pyramid nor the token picks kept.
   */
  readonly sampleLevel?: boolean;
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

  const kTok = o.tokenLevel ? io.control(F.tokenK, DT.INT64, [1]) : '';
  const kSample = o.sampleLevel ? io.control(F.sampleK, DT.INT64, [1]) : '';
  // a dimension name of its own: a name shared with another input lets ORT's planner reuse buffers across sizes
  const samplePrio = o.sampleLevel ? io.control(F.samplePrio, DT.FLOAT, ['sample_rows']) : '';
  /** [Hkv, R] true at the region rows listed in `lists` ([Hkv, n] each, region-relative; R = none). */
  const markRows = (R: string, lists: readonly string[]): string => {
    // scatter 1 into [Hkv, R + 1]: the extra column takes the padding entries
    const zeros = g.op('Expand', [g.scalarF32(0), g.op('Concat', [g.constI64([Hkv]), g.op('Add', [R, g.constI64([1])])], { axis: 0 })]);
    const at = lists.length === 1 ? lists[0] : g.op('Concat', [...lists], { axis: 1 });
    const picked = g.op('ScatterElements', [zeros, at, g.op('Expand', [g.scalarF32(1), g.op('Shape', [at])])], { axis: 1 });
    return g.op('Greater', [g.op('Slice', [picked, g.constI64([0]), R, ax1]), zeroF]);
  };
  /** Region-relative rows of `picks` ([Hkv, n] prompt positions, -1 = padding), padding as R. */
  const relative = (picks: string, R: string): string =>
    g.op('Where', [g.op('Less', [picks, g.constI64([0])]), g.op('Expand', [R, g.op('Shape', [picks])]), g.op('Sub', [picks, rs])]);
  /** The highest of `score` ([Hkv, R]) where not `taken`, k per head, as prompt positions; none left = -1. */
  const pickFree = (score: string, taken: string, k: string): string => {
    const [top, idx] = g.opN('TopK', [g.op('Where', [taken, negInf, score]), k], 2, { axis: -1, largest: 1, sorted: 1 });
    return g.op('Where', [g.op('Equal', [top, negInf]), g.constI64([-1]), g.op('Add', [idx, rs])]);
  };

  /**
   * The picks beside the pyramid's (`children` where `valid`, region-relative): the token-level
   * picks (every region row scored alone, level 0: the rows themselves, the top k_tokens per head),
   * then the spread picks (the free rows nearest evenly spaced points of the region).
   */
  const extraPicks = (q: string, key: string, children: string, valid: string): string[] => {
    const out: string[] = [];
    const R = g.op('Sub', [re, rs]);
    const pyramidRows = g.op('Where', [valid, children, g.op('Expand', [R, g.op('Shape', [children])])]);
    const taken = [pyramidRows];
    if (o.tokenLevel) {
      const region = g.op('Slice', [key, rs, re, ax1]); // [Hkv, R, D]
      let score = weights(q, region, null, 0); // [Hkv, R]
      const k = o.tokenPool ?? 1;
      if (k > 1) score = g.op('Squeeze', [g.op('MaxPool', [g.op('Unsqueeze', [score, ax1])], { kernel_shape: [k], pads: [k >> 1, k >> 1], strides: [1] }), ax1]);
      const picks = pickFree(score, markRows(R, taken), kTok);
      out.push(picks);
      taken.push(relative(picks, R));
    }
    if (o.sampleLevel) {
      const prio = g.op('Expand', [g.op('Unsqueeze', [samplePrio, g.constI64([0])]), g.op('Concat', [g.constI64([Hkv]), R], { axis: 0 })]);
      out.push(pickFree(prio, markRows(R, taken), kSample));
    }
    return out;
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
        tokensOut.push(g.op('Concat', [protectRows, tokens, ...(o.tokenLevel || o.sampleLevel ? extraPicks(q, key, children, cValid) : [])], { axis: 1 }));
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
