/**
 * The block program: one ONNX graph that runs a whole denoising block in one session.run.
 *
 * Why: onnxruntime-node cannot keep a tensor on a CUDA device between two runs (its device
 * outputs bind to WebGPU memory only), so a per-step executor copies the whole K/V in and out of
 * the device at every step. Inside one run the K/V are ordinary values: the refresh builds them, a
 * Loop over the denoising steps reads them as loop-invariant outer-scope values, and only token ids
 * and per-step statistics cross the boundary. On CPU the same graph removes the per-step JS
 * round trip (feeds, K/V outputs, scoring) of the step executor.
 *
 * What one run does, for block [lo, hi) of canvas [0, L):
 *   1. refresh: a forward over positions [refresh_from, L) attending to the K/V of an earlier block
 *      (past_*, rows < refresh_from) — or over the whole canvas with flash attention when
 *      refresh_from = 0 — then the decoding rule commits the step-0 tokens;
 *   2. Loop: each iteration is one denoising step, a forward over the query window
 *      [window[0], window[1]) attending to the refreshed K/V with the window's own rows masked
 *      (cache_rows = L), or a full forward without cache (cache_rows = 0, the no-cache host), then
 *      the decoding rule; the loop stops when the block has no mask left (after at least
 *      min_forwards forwards) or after max_steps forwards.
 * These are exactly the step executor's forwards (same graph code, emitForward), so both executors
 * give the same tokens.
 *
 * The decoding rule (decide-graph.ts) is chosen by small control inputs, so one graph (one session)
 * serves every greedy rule: LLaDA's fixed schedule, Dream's 1 - s/t quota, Fast-dLLM's threshold and
 * factor rules, and Dream's maskgit_plus / topk_margin / entropy confidences.
 *
 * Inputs                                           Outputs
 *   canvas          int64 [L]                        canvas_out        int64 [L]
 *   block           int64 [2]  lo, hi                commit_step       int64 [B]   step that committed each block position, -1 none
 *   window          int64 [2]  cached-step queries   step_confidence   f64 [N, B]  per forward, -inf for non-candidates (N = forwards)
 *   refresh_from    int64 []                         present_key.{l}   f32 [Hkv, kv_out_rows, D]  the refreshed K/V (for a later block)
 *   cache_rows      int64 []   L or 0                present_value.{l}
 *   kv_out_rows     int64 []   0 or L
 *   past_key.{l}    f32 [Hkv, Tc, D]  Tc = 0 or L
 *   past_value.{l}  f32 [Hkv, Tc, D]
 *   max_steps, min_forwards  int64 []
 *   + the rule's controls (decide-graph.ts)
 */
import { DT, GraphBuilder, encodeModel } from '../model/onnx-builder.js';
import { type ForwardInputs, type WeightSource, emitForward, weightRefs } from '../model/graph.js';
import type { ModelSpec } from '../model/spec.js';
import { type RuleInputs, declareRuleInputs, emitDecide } from './decide-graph.js';

export const BlockNames = {
  canvas: 'canvas',
  block: 'block',
  window: 'window',
  refreshFrom: 'refresh_from',
  cacheRows: 'cache_rows',
  kvOutRows: 'kv_out_rows',
  pastKey: (l: number) => `past_key.${l}`,
  pastValue: (l: number) => `past_value.${l}`,
  maxSteps: 'max_steps',
  minForwards: 'min_forwards',
  canvasOut: 'canvas_out',
  commitStep: 'commit_step',
  stepConfidence: 'step_confidence',
  presentKey: (l: number) => `present_key.${l}`,
  presentValue: (l: number) => `present_value.${l}`,
} as const;

/** Builds the serialized block program of a model. */
export function buildBlockGraph(spec: ModelSpec, weights: WeightSource): Uint8Array {
  const g = new GraphBuilder();
  const N = BlockNames;
  const { nLayers, nKvHeads: Hkv, headDim: D } = spec;
  const w = weightRefs(g, weights);
  const I64 = DT.INT64;

  const canvas = g.input(N.canvas, I64, ['L']);
  const block = g.input(N.block, I64, [2]);
  const window = g.input(N.window, I64, [2]);
  const refreshFrom = g.input(N.refreshFrom, I64, []);
  const cacheRows = g.input(N.cacheRows, I64, []);
  const kvOutRows = g.input(N.kvOutRows, I64, []);
  const maxSteps = g.input(N.maxSteps, I64, []);
  const minForwards = g.input(N.minForwards, I64, []);
  const rule: RuleInputs = declareRuleInputs(g);
  const pastK = Array.from({ length: nLayers }, (_, l) => g.input(N.pastKey(l), DT.FLOAT, [Hkv, 'Tc', D]));
  const pastV = Array.from({ length: nLayers }, (_, l) => g.input(N.pastValue(l), DT.FLOAT, [Hkv, 'Tc', D]));

  const zero = g.constI64([0], []);
  const one = g.constI64([1], []);
  const scalarAt = (v: string, i: number): string => g.op('Squeeze', [g.op('Slice', [v, g.constI64([i]), g.constI64([i + 1])]), g.constI64([0])]);
  const lo = scalarAt(block, 0);
  const hi = scalarAt(block, 1);
  const qlo = scalarAt(window, 0);
  const qhi = scalarAt(window, 1);
  const L = g.op('Squeeze', [g.op('Shape', [canvas]), g.constI64([0])]);
  const vec = (s: string): string => g.op('Unsqueeze', [s, g.constI64([0])]);
  const slice1 = (x: string, from: string, to: string): string => g.op('Slice', [x, vec(from), vec(to)]);
  const sliceRows = (x: string, from: string, to: string): string => g.op('Slice', [x, vec(from), vec(to), g.constI64([1])]);
  // Dream predicts position p from row p - 1 (the first query row predicts itself)
  const shift = g.constI64([spec.family === 'dream' ? 1 : 0], []);
  const blockPos = g.op('Range', [lo, hi, one]); // [B]
  const rowsFor = (from: string): string => g.op('Sub', [g.op('Max', [g.op('Sub', [blockPos, shift]), from]), from]);
  const NEG_INF = g.scalarF32(-Infinity);
  const ZERO_F = g.scalarF32(0);
  /** [1, n] attention bias over rows [0, n): -inf where masked(r). */
  const biasRow = (n: string, masked: (r: string) => string): string => {
    const r = g.op('Range', [zero, n, one]);
    return g.op('Unsqueeze', [g.op('Where', [masked(r), NEG_INF, ZERO_F]), g.constI64([0])]);
  };

  // 1. refresh over [refresh_from, L): rows below refresh_from come from the past (the prompt's
  //    K/V kept from an earlier block); the past's rows at or above it are stale and masked.
  const tc = g.op('Squeeze', [g.op('Shape', [pastK[0]], { start: 1, end: 2 }), g.constI64([0])]);
  const refreshBias = biasRow(tc, (r) => g.op('GreaterOrEqual', [r, refreshFrom]));
  const refreshIo: ForwardInputs = {
    ids: slice1(canvas, refreshFrom, L),
    positions: g.op('Range', [refreshFrom, L, one]),
    logitRows: rowsFor(refreshFrom),
    fused: g.op('Equal', [tc, zero]),
    past: (l) => ({ key: pastK[l], value: pastV[l], bias: refreshBias }),
  };
  const refresh = emitForward(g, w, spec, refreshIo);
  const fullK = refresh.keys.map((k, l) => g.op('Concat', [sliceRows(pastK[l], zero, refreshFrom), k], { axis: 1 })); // [Hkv, L, D]
  const fullV = refresh.values.map((v, l) => g.op('Concat', [sliceRows(pastV[l], zero, refreshFrom), v], { axis: 1 }));
  for (let l = 0; l < nLayers; l++) {
    g.identity(sliceRows(fullK[l], zero, kvOutRows), N.presentKey(l));
    g.identity(sliceRows(fullV[l], zero, kvOutRows), N.presentValue(l));
    g.output(N.presentKey(l), DT.FLOAT, [Hkv, 'kv_out_rows', D]);
    g.output(N.presentValue(l), DT.FLOAT, [Hkv, 'kv_out_rows', D]);
  }
  const B = g.op('Sub', [hi, lo]);
  const noCommit = g.op('Expand', [g.constI64([-1], []), vec(B)]);
  const d0 = emitDecide(g, spec, rule, refresh.stats, { canvas, lo, hi, step: zero, commitStep: noCommit, refresh: true });
  const cond0 = g.op('Or', [g.op('Greater', [d0.masksLeft, zero]), g.op('Less', [one, minForwards])]);

  // 2. the steps: the K/V the loop attends to (none for the no-cache host) and its mask
  const cacheK = fullK.map((k) => sliceRows(k, zero, cacheRows));
  const cacheV = fullV.map((v) => sliceRows(v, zero, cacheRows));
  const stepBias = biasRow(cacheRows, (r) => g.op('And', [g.op('GreaterOrEqual', [r, qlo]), g.op('Less', [r, qhi])]));
  const stepFused = g.op('Equal', [cacheRows, zero]);
  const stepPositions = g.op('Range', [qlo, qhi, one]);
  const stepRows = rowsFor(qlo);

  const b = g.child('S_');
  const iter = b.input('S_iter', I64, []);
  b.input('S_cond', DT.BOOL, []);
  const canvasIn = b.input('S_canvas', I64, ['L']);
  const commitIn = b.input('S_commit', I64, ['B']);
  const confIn = b.input('S_conf', DT.DOUBLE, ['N', 'B']);
  const k = b.op('Add', [iter, b.constI64([1], [])]);
  const step = emitForward(b, w, spec, {
    ids: b.op('Slice', [canvasIn, b.op('Unsqueeze', [qlo, b.constI64([0])]), b.op('Unsqueeze', [qhi, b.constI64([0])])]),
    positions: stepPositions,
    logitRows: stepRows,
    fused: stepFused,
    past: (l) => ({ key: cacheK[l], value: cacheV[l], bias: stepBias }),
  });
  const d = emitDecide(b, spec, rule, step.stats, { canvas: canvasIn, lo, hi, step: k, commitStep: commitIn, refresh: false });
  const condOut = b.op('Or', [b.op('Greater', [d.masksLeft, b.constI64([0], [])]), b.op('Less', [b.op('Add', [k, b.constI64([1], [])]), minForwards])]);
  const confOut = b.op('Concat', [confIn, b.op('Unsqueeze', [d.confidence, b.constI64([0])])], { axis: 0 });
  b.output(b.identity(condOut, 'S_cond_out'), DT.BOOL, []);
  b.output(b.identity(d.canvas, 'S_canvas_out'), I64, ['L']);
  b.output(b.identity(d.commitStep, 'S_commit_out'), I64, ['B']);
  b.output(b.identity(confOut, 'S_conf_out'), DT.DOUBLE, ['N2', 'B']);

  const [canvasOut, commitOut, confs] = g.opN('Loop', [g.op('Sub', [maxSteps, one]), cond0, d0.canvas, d0.commitStep, g.op('Unsqueeze', [d0.confidence, g.constI64([0])])], 3, {
    body: { graph: b.graph('S_step') },
  });
  g.identity(canvasOut, N.canvasOut);
  g.identity(commitOut, N.commitStep);
  g.identity(confs, N.stepConfidence);
  g.output(N.canvasOut, I64, ['L']);
  g.output(N.commitStep, I64, ['B']);
  g.output(N.stepConfidence, DT.DOUBLE, ['N', 'B']);
  return encodeModel(g.graph('wavefilter_block'));
}
