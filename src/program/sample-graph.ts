/**
 * Sampling inside the block program: the graph twin of decode/scoring.ts's sampling paths
 * (`scoreLlada` at T > 0, `scoreDream` with temperature, top-p and top-k), computed in float64 from
 * the block rows' float32 logits. The noise is not drawn here: each position reads one uniform `u`
 * the caller fed (decide-graph.ts), drawn from the seeded stream the step executor reads, so both
 * executors sample the same tokens (up to last-bit differences of exp and sums, which move a draw
 * only when it falls within ~1e-15 of a bucket edge).
 *
 *   LLaDA:  p = softmax(l / T) over non-mask ids; token = inverse CDF of p at u.
 *   Dream:  l = l / T (T > 0); top-p keeps the smallest sorted prefix whose mass exceeds top_p (the
 *           first token past it is kept; others get float32's min, as Dream's filter does); top-k
 *           keeps values >= the k-th; p = softmax(l); token = inverse CDF at u (argmax at T = 0).
 */
import { DT, type GraphBuilder } from '../model/onnx-builder.js';
import type { ModelSpec } from '../model/spec.js';

export const SampleNames = {
  temperature: 'temperature',
  topP: 'top_p',
  topK: 'top_k',
} as const;

export interface SampleInputs {
  readonly temperature: string; // f64 []
  readonly topP: string; // f64 [] (1: off)
  readonly topK: string; // int64 [] (0: off)
}

export function declareSampleInputs(g: GraphBuilder): SampleInputs {
  return {
    temperature: g.input(SampleNames.temperature, DT.DOUBLE, []),
    topP: g.input(SampleNames.topP, DT.DOUBLE, []),
    topK: g.input(SampleNames.topK, DT.INT64, []),
  };
}

export interface Sampled {
  readonly token: string; // int64 [B]
  /** f64 [B, V] the distribution the token was drawn from (Dream's confidences read it) */
  readonly probs: string;
  /** f64 [B] probs at the token */
  readonly pToken: string;
}

const FLOAT32_MIN = -3.4028234663852886e38;

/**
 * Token per row from `logits` (f32 [B, V]) and one uniform per row `u` (f64 [B]); `logitsMax` (f64
 * [B, 1]) is each row's maximum over the non-mask ids (the row statistics' top value).
 */
export function emitSample(g: GraphBuilder, spec: ModelSpec, s: SampleInputs, logits: string, u: string, logitsMax: string): Sampled {
  const V = spec.vocabSize;
  const maskBias = new Float64Array(V);
  maskBias[spec.maskTokenId] = -Infinity;
  const raw = g.op('Add', [g.op('Cast', [logits], { to: DT.DOUBLE }), g.constF64(maskBias, [V])]);
  const hot = g.op('Greater', [s.temperature, g.scalarF64(0)]);
  const scale = (x: string): string => g.op('Where', [hot, g.op('Div', [x, g.op('Max', [s.temperature, g.scalarF64(Number.MIN_VALUE)])]), x]);
  let l = scale(raw);
  // The row maximum of l: the caller's row maximum of the mask-biased logits (the row statistics'
  // top value), scaled as l is (dividing by T > 0 keeps the order); Dream's top-p and top-k filters
  // always keep it. The log-sum-exp below is max + log(sum exp(l - max)) with the sum as a float64
  // product with ones: ORT's CUDA float64 ReduceLogSumExp over a 126K vocabulary took 23 ms on an
  // H200 (model/graph.ts, emitRowStats).
  const rowMax = scale(logitsMax); // [B, 1]
  let ones: string | null = null;
  const logSumExp = (x: string): string => {
    ones ??= g.constF64(new Float64Array(V).fill(1), [V, 1]);
    return g.op('Add', [rowMax, g.op('Log', [g.op('MatMul', [g.op('Exp', [g.op('Sub', [x, rowMax])]), ones])])]);
  };
  const fmin = (): string => g.scalarF64(FLOAT32_MIN); // (Dream's filters only: no unused initializer for LLaDA)
  const Vt = g.constI64([V]);
  if (spec.family === 'dream') {
    // top-p over the sorted row: remove rank r > 0 when the mass of ranks < r already exceeds top_p
    const [sv, si] = g.opN('TopK', [l, Vt], 2, { axis: -1, largest: 1, sorted: 1 });
    const lse = logSumExp(l);
    const cum = g.op('CumSum', [g.op('Exp', [g.op('Sub', [sv, lse])]), g.constI64([-1], [])]);
    const over = g.op('Greater', [cum, s.topP]);
    const Bdim = g.op('Shape', [l], { start: 0, end: 1 });
    const prevOver = g.op('Concat', [g.op('Expand', [g.op('Cast', [g.constI64([0], [1, 1])], { to: DT.BOOL }), g.op('Concat', [Bdim, g.constI64([1])], { axis: 0 })]),
      g.op('Slice', [over, g.constI64([0]), g.constI64([V - 1]), g.constI64([-1])])], { axis: -1 });
    const on = g.op('Less', [s.topP, g.scalarF64(1)]);
    const filtered = g.op('Where', [g.op('And', [prevOver, on]), fmin(), sv]);
    l = g.op('ScatterElements', [l, si, filtered], { axis: -1 });
    // top-k: values below the k-th largest
    const k = g.op('Min', [g.op('Max', [s.topK, g.constI64([1], [])]), g.constI64([V], [])]);
    const kth = g.op('Gather', [g.opN('TopK', [l, g.op('Unsqueeze', [k, g.constI64([0])])], 2, { axis: -1, largest: 1, sorted: 1 })[0], g.op('Sub', [k, g.constI64([1], [])])], { axis: -1 });
    const below = g.op('And', [g.op('Less', [l, g.op('Unsqueeze', [kth, g.constI64([-1])])]), g.op('Greater', [s.topK, g.constI64([0], [])])]);
    l = g.op('Where', [below, fmin(), l]);
  }
  const probs = g.op('Exp', [g.op('Sub', [l, logSumExp(l)])]);
  const cdf = g.op('CumSum', [probs, g.constI64([-1], [])]);
  const total = g.op('Slice', [cdf, g.constI64([V - 1]), g.constI64([V]), g.constI64([-1])]); // [B, 1]
  const t = g.op('Mul', [g.op('Unsqueeze', [u, g.constI64([-1])]), total]);
  const drawn = g.op('Min', [g.op('ReduceSum', [g.op('Cast', [g.op('Less', [cdf, t])], { to: DT.INT64 }), g.constI64([-1])], { keepdims: 0 }), g.constI64([V - 1], [])]);
  const argmax = g.op('Squeeze', [g.op('ArgMax', [probs], { axis: -1, keepdims: 1, select_last_index: 0 }), g.constI64([-1])]);
  const token = g.op('Where', [hot, drawn, argmax]);
  const pToken = g.op('Squeeze', [g.op('GatherElements', [probs, g.op('Unsqueeze', [token, g.constI64([-1])])], { axis: -1 }), g.constI64([-1])]);
  return { token, probs, pToken };
}
