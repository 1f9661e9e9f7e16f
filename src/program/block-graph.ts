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
 * With a token filter (its FilterProgram), the selection runs inside the same run: after the
 * refresh (from the refresh's block or prompt-window queries) and, for 'every-step' filters,
 * before each cached step (from the previous forward's block queries); the steps attend to the
 * compact past [kept prompt rows | generation rows] gathered in the graph. With the first-block
 * prompt refresh, a later block's refresh attends to the previous selection's kept rows
 * (past_tokens), as the step executor's host does.
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
 *   max_steps, min_forwards  int64 []               draws_used        int64 []    uniform draws the random rules read
 *   + the rule's controls (decide-graph.ts)
 *   cfg_scale f64 [], cfg_prompt_len int64 []  (the guidance variant, ProgramShape.cfg)
 *   temperature f64 [], top_p f64 [], top_k int64 []  (the sampling variant, ProgramShape.sample)
 * and with a filter:
 *   prompt_len          int64 [1]                    kept_tokens.{l}         int64 [Hkv, T]  the last selection (-1 = padding)
 *   past_tokens.{l}     int64 [Hkv, T'] previous     window_queries_out.{l}  f32 [W', H, D]  prompt-window queries this refresh computed
 *   window_queries.{l}  f32 [W', H, D]  kept ones    state.{l}               f32 the selection's carried state (H2O)
 *   + the filter's controls (filter/graphs.ts)
 */
import { DT, GraphBuilder, encodeModel } from '../model/onnx-builder.js';
import { type CachedAttention, type ComputeType, ELEM_OF, type ForwardInputs, type PastRows, type ForwardStyle, type ForwardValues, type RowStatValues, type WeightRef, type WeightSource, emitForward, emitRopeTables, emitRowStats, weightRefs } from '../model/graph.js';
import type { ModelSpec } from '../model/spec.js';
import { FilterNames, type SelectionIO, gatherCompact } from '../filter/selection-graph.js';
import { type FilterProgram, readsWindowQueries } from '../filter/token-filter.js';
import { type DecideState, type Decided, type FixedRule, type RuleInputs, declareRuleInputs, emitDecide } from './decide-graph.js';
import { type SampleInputs, declareSampleInputs } from './sample-graph.js';

export const BlockNames = {
  canvas: 'canvas',
  block: 'block',
  window: 'window',
  blockLo: 'block_lo',
  blockHi: 'block_hi',
  windowLo: 'window_lo',
  windowHi: 'window_hi',
  refreshFrom: 'refresh_from',
  cacheRows: 'cache_rows',
  kvOutRows: 'kv_out_rows',
  pastKey: (l: number) => `past_key.${l}`,
  pastValue: (l: number) => `past_value.${l}`,
  maxSteps: 'max_steps',
  minForwards: 'min_forwards',
  canvasOut: 'canvas_out',
  commitStep: 'commit_step',
  drawsUsed: 'draws_used',
  cfgScale: 'cfg_scale',
  cfgPromptLen: 'cfg_prompt_len',
  stepConfidence: 'step_confidence',
  presentKey: (l: number) => `present_key.${l}`,
  presentValue: (l: number) => `present_value.${l}`,
  promptLen: FilterNames.promptLen,
  pastTokens: (l: number) => `past_tokens.${l}`,
  windowQueries: (l: number) => `window_queries.${l}`,
  keptTokens: (l: number) => `kept_tokens.${l}`,
  windowQueriesOut: (l: number) => `window_queries_out.${l}`,
  state: (l: number) => `state.${l}`,
} as const;

/** A token filter inside the program: its policy, the graph variant, and how many prompt-window queries it reads. */
export interface ProgramFilter {
  readonly program: FilterProgram;
  readonly variant: string;
  readonly windowQueries: number;
}

/** Graph variants beyond the filter. */
export interface ProgramShape {
  /**
   * LLaDA's classifier-free guidance: every forward runs twice, on the canvas and on the canvas
   * with the prompt masked, and the rule reads un + (cfg_scale + 1)(cond - un), computed in float64
   * and rounded to float32 as the step executor does. Only without a cache (Fast-dLLM's caches do
   * not keep the unconditional canvas), so never with a filter.
   */
  readonly cfg?: boolean;
  /**
   * Sampling (temperature > 0, Dream's top-p / top-k): the rule draws each token from the block
   * rows' logits with a fed uniform (sample-graph.ts) instead of reading the argmax summaries.
   */
  readonly sample?: boolean;
  /** Compute type of the forwards (model/graph.ts); the past and present K/V are in it, queries for filters in fp32. */
  readonly ct?: ComputeType;
  /**
   * The steps' attention fixed in the graph: 'explicit' (a cached host) or 'fused' (no cache), so
   * the Loop body has no If per layer. Unset: chosen per run by cache_rows (one graph serves every
   * host; the engine fixes it only on the GPU, where a cached step is bound by per-node costs).
   */
  readonly stepAttention?: 'explicit' | 'fused';
  /** ORT's fused norm / rotary kernels in the forwards (emitForward's lean); default: with fp16. */
  readonly lean?: boolean;
  /** The cached rows' attention (ForwardStyle.cachedAttention); default explicit. */
  readonly cachedAttention?: CachedAttention;
  /** One Q|K|V projection and rotation, QuickGelu SiLU (ForwardStyle.packed); default: with lean. */
  readonly packed?: boolean;
  /**
   * The decoding rule fixed in the graph (decide-graph.ts FixedRule): only its ops, and none of the
   * draw bookkeeping for a deterministic rule. Unset: one graph serves every rule by its controls.
   */
  readonly decide?: FixedRule;
}

/** Builds the serialized block program of a model, with a token filter or without. */
/** What every block of a run shares: the model, the filter, and the run-wide inputs and weights. */
interface BlockContext {
  readonly spec: ModelSpec;
  readonly w: WeightRef;
  readonly style: ForwardStyle;
  readonly ct: ComputeType;
  readonly shape: ProgramShape;
  readonly filter: ProgramFilter | null;
  /** int64 [1] (with a filter) */
  readonly promptLen: string | null;
  readonly control: SelectionIO['control'];
  readonly cfgScale: string | null;
  readonly cfgPromptLen: string | null;
  readonly sampleIn: SampleInputs | null;
}

/** One block's inputs: values of the graph the block is emitted into, or of an enclosing one. */
interface BlockValues {
  readonly canvas: string;
  readonly block: string;
  readonly window: string;
  /** the bounds as int64 [1], read only as Slice bounds (host-side on CUDA: decide-graph.ts DecideState.loVec) */
  readonly loVec: string;
  readonly hiVec: string;
  readonly qloVec: string;
  readonly qhiVec: string;
  readonly refreshFrom: string;
  readonly cacheRows: string;
  readonly maxSteps: string;
  readonly minForwards: string;
  readonly rule: RuleInputs;
  /** int64 []: the block's first unread draw */
  readonly drawOffset: string;
  readonly pastK: readonly string[];
  readonly pastV: readonly string[];
  /** with a filter: the previous selection's kept rows per layer, and the prompt window's queries kept from an earlier block */
  readonly pastTokens: readonly string[];
  readonly savedWindowQ: readonly string[];
}

/** What one block computes. */
interface BlockEmitted {
  readonly canvas: string;
  readonly commitStep: string;
  /** f64 [N, B] */
  readonly confs: string;
  readonly drawOffset: string;
  /** [Hkv, L, D] per layer: the past's rows below refresh_from, then the refreshed rows */
  readonly fullK: readonly string[];
  readonly fullV: readonly string[];
  /** with a filter: the last selection's rows, the prompt-window queries this refresh computed, the selection's state */
  readonly kept: readonly string[];
  readonly windowQOut: readonly string[];
  readonly state: readonly string[];
}

/** The run-wide context of a program graph: weights, style, and the filter's and variants' inputs. */
function blockContext(g: GraphBuilder, spec: ModelSpec, weights: WeightSource, filter: ProgramFilter | null, shape: ProgramShape): BlockContext {
  const ct: ComputeType = shape.ct ?? 'fp32';
  const lean = shape.lean ?? ct === 'fp16';
  const style: ForwardStyle = { ct, lean, cachedAttention: shape.cachedAttention ?? 'explicit', packed: shape.packed ?? lean };
  const controls = new Map<string, string>();
  const control: SelectionIO['control'] = (name, elemType, dims) => {
    let v = controls.get(name);
    if (!v) controls.set(name, (v = g.input(name, elemType, dims)));
    return v;
  };
  return {
    spec, w: weightRefs(g, weights, ct), style, ct, shape, filter,
    promptLen: filter ? g.input(BlockNames.promptLen, DT.INT64, [1]) : null, control,
    cfgScale: shape.cfg ? g.input(BlockNames.cfgScale, DT.DOUBLE, []) : null,
    cfgPromptLen: shape.cfg ? g.input(BlockNames.cfgPromptLen, DT.INT64, []) : null,
    sampleIn: shape.sample ? declareSampleInputs(g) : null,
  };
}

/** Builds the serialized block program of a model, with a token filter or without. */
export function buildBlockGraph(spec: ModelSpec, weights: WeightSource, filter: ProgramFilter | null = null, shape: ProgramShape = {}): Uint8Array {
  const g = new GraphBuilder();
  const N = BlockNames;
  const { nLayers, nKvHeads: Hkv, headDim: D, nHeads: H } = spec;
  const I64 = DT.INT64;
  const layers = Array.from({ length: nLayers }, (_, l) => l);
  const c = blockContext(g, spec, weights, filter, shape);
  const KV = ELEM_OF[c.ct];
  const canvas = g.input(N.canvas, I64, ['L']);
  const values: BlockValues = {
    canvas,
    block: g.input(N.block, I64, [2]),
    loVec: g.input(N.blockLo, I64, [1]),
    hiVec: g.input(N.blockHi, I64, [1]),
    qloVec: g.input(N.windowLo, I64, [1]),
    qhiVec: g.input(N.windowHi, I64, [1]),
    window: g.input(N.window, I64, [2]),
    refreshFrom: g.input(N.refreshFrom, I64, []),
    cacheRows: g.input(N.cacheRows, I64, []),
    maxSteps: g.input(N.maxSteps, I64, []),
    minForwards: g.input(N.minForwards, I64, []),
    rule: declareRuleInputs(g),
    drawOffset: g.constI64([0], []),
    pastK: layers.map((l) => g.input(N.pastKey(l), KV, [Hkv, 'Tc', D])),
    pastV: layers.map((l) => g.input(N.pastValue(l), KV, [Hkv, 'Tc', D])),
    // kept-row counts differ per layer (dense layers keep every prompt row): one dim name per layer,
    // or ORT's memory planner takes equal names for equal sizes and reuses a buffer of the wrong size
    pastTokens: filter ? layers.map((l) => g.input(N.pastTokens(l), I64, [Hkv, `Tp.${l}`])) : [],
    savedWindowQ: filter && readsWindowQueries(filter.program) ? layers.map((l) => g.input(N.windowQueries(l), DT.FLOAT, ['Ws', H, D])) : [],
  };
  const kvOutRows = g.input(N.kvOutRows, I64, []);
  const out = emitBlock(g, c, values);
  const sliceRows = (x: string, to: string): string => g.op('Slice', [x, g.constI64([0]), g.op('Unsqueeze', [to, g.constI64([0])]), g.constI64([1])]);
  for (const l of layers) {
    g.identity(sliceRows(out.fullK[l], kvOutRows), N.presentKey(l));
    g.identity(sliceRows(out.fullV[l], kvOutRows), N.presentValue(l));
    g.output(N.presentKey(l), KV, [Hkv, 'kv_out_rows', D]);
    g.output(N.presentValue(l), KV, [Hkv, 'kv_out_rows', D]);
  }
  out.windowQOut.forEach((q, l) => {
    g.identity(q, N.windowQueriesOut(l));
    g.output(N.windowQueriesOut(l), DT.FLOAT, ['W', H, D]);
  });
  out.state.forEach((x, l) => {
    g.identity(x, N.state(l));
    g.output(N.state(l), DT.FLOAT, [Hkv, 'P']);
  });
  g.identity(out.canvas, N.canvasOut);
  g.identity(out.commitStep, N.commitStep);
  g.identity(out.confs, N.stepConfidence);
  g.identity(out.drawOffset, N.drawsUsed);
  g.output(N.drawsUsed, I64, []);
  g.output(N.canvasOut, I64, ['L']);
  g.output(N.commitStep, I64, ['B']);
  g.output(N.stepConfidence, DT.DOUBLE, ['N', 'B']);
  out.kept.forEach((t, l) => {
    g.identity(t, N.keptTokens(l));
    g.output(N.keptTokens(l), I64, [Hkv, `T.${l}`]);
  });
  return encodeModel(g.graph('wavefilter_block'));
}

/**
 * One block, emitted into `g` (the program's graph, or the generation program's Loop body): the
 * refresh, the selection, and the Loop over the denoising steps.
 */
function emitBlock(g: GraphBuilder, c: BlockContext, v: BlockValues): BlockEmitted {
  const { spec, w, style, ct, shape, filter: f, promptLen } = c;
  const { nLayers, nKvHeads: Hkv, headDim: D, nHeads: H } = spec;
  /** fp32 view of a compute-type value (the filters' selection graphs compute in fp32) */
  const f32 = (gb: GraphBuilder, x: string): string => (ct === 'fp32' ? x : gb.op('Cast', [x], { to: DT.FLOAT }));
  const I64 = DT.INT64;
  const layers = Array.from({ length: nLayers }, (_, l) => l);
  const { canvas, block, window, loVec, hiVec, qloVec, qhiVec, refreshFrom, cacheRows, maxSteps, minForwards, rule, pastK, pastV } = v;
  const { cfgScale, cfgPromptLen, sampleIn } = c;
  /** What the rule reads: the forward's summaries and logits, or with guidance the guided ones. */
  const guided = (gb: GraphBuilder, io: ForwardInputs, cond: ForwardValues): { stats: RowStatValues; logits: string } => {
    if (!cfgScale || !cfgPromptLen) return { stats: cond.stats, logits: cond.logits };
    const maskedIds = gb.op('Where', [gb.op('Less', [io.positions, cfgPromptLen]), gb.constI64([spec.maskTokenId], []), io.ids]);
    const { queryRows: _q, ...rest } = io;
    const un = emitForward(gb, w, spec, { ...rest, ids: maskedIds }, {}, style);
    const u64 = gb.op('Cast', [un.logits], { to: DT.DOUBLE });
    const c64 = gb.op('Cast', [cond.logits], { to: DT.DOUBLE });
    const guided = gb.op('Add', [u64, gb.op('Mul', [gb.op('Add', [cfgScale, gb.scalarF64(1)]), gb.op('Sub', [c64, u64])])]);
    const logits = gb.op('Cast', [guided], { to: DT.FLOAT });
    return { stats: emitRowStats(gb, spec, logits), logits };
  };
  const decide = (gb: GraphBuilder, io: ForwardInputs, fwd: ForwardValues, state: DecideState): Decided => {
    const x = guided(gb, io, fwd);
    return emitDecide(gb, spec, rule, x.stats, state, sampleIn ? { inputs: sampleIn, logits: x.logits } : undefined, shape.decide);
  };

  const zero = g.constI64([0], []);
  const one = g.constI64([1], []);
  const scalarAt = (x: string, i: number): string => g.op('Squeeze', [g.op('Slice', [x, g.constI64([i]), g.constI64([i + 1])]), g.constI64([0])]);
  const lo = scalarAt(block, 0);
  const hi = scalarAt(block, 1);
  const qlo = scalarAt(window, 0);
  const qhi = scalarAt(window, 1);
  const L = g.op('Squeeze', [g.op('Shape', [canvas]), g.constI64([0])]);
  // the lean path's RoPE tables for every canvas position, once per block (not a Range per step)
  const rope = style.lean ? { ropeTables: emitRopeTables(g, spec, g.op('Cast', [L], { to: DT.FLOAT }), ct) } : {};
  const vec = (x: string): string => g.op('Unsqueeze', [x, g.constI64([0])]);
  const slice1 = (x: string, from: string, to: string): string => g.op('Slice', [x, vec(from), vec(to)]);
  const sliceRows = (x: string, from: string, to: string): string => g.op('Slice', [x, vec(from), vec(to), g.constI64([1])]);
  // Dream predicts position p from row p - 1 (the first query row predicts itself)
  const shift = g.constI64([spec.family === 'dream' ? 1 : 0], []);
  const blockPos = g.op('Range', [lo, hi, one]); // [B]
  const B = g.op('Sub', [hi, lo]);
  const rowsFor = (from: string): string => g.op('Sub', [g.op('Max', [g.op('Sub', [blockPos, shift]), from]), from]);
  const NEG_INF = g.scalarF32(-Infinity);
  const ZERO_F = g.scalarF32(0);
  /** [1, n] attention bias over rows [0, n) + offset: -inf where masked(r). */
  const biasRow = (n: string, masked: (r: string) => string, offset = zero): string => {
    const r = g.op('Range', [offset, g.op('Add', [offset, n]), one]);
    return g.op('Unsqueeze', [g.op('Where', [masked(r), NEG_INF, ZERO_F]), g.constI64([0])]);
  };

  // 'replace' attention (ForwardStyle): the steps' pasts also come as the rows around the query
  // window, [1, n, H*D] with GQA heads expanded, sliced once per run (per step for every-step filters)
  const replace = style.cachedAttention === 'replace';
  const G = H / Hkv;
  const KV = ELEM_OF[ct];
  const ctOf = (gb: GraphBuilder, x: string): string => (ct === 'fp32' ? x : gb.op('Cast', [x], { to: KV }));
  const bsh = (gb: GraphBuilder, x: string): string => {
    const t = gb.op('Transpose', [x], { perm: [1, 0, 2] }); // [n, Hkv, D]
    const heads = G === 1 ? t : gb.op('Expand', [gb.op('Unsqueeze', [t, gb.constI64([2])]), gb.constI64([1, 1, G, 1])]); // [n, Hkv, G, D]
    return gb.op('Reshape', [heads, gb.constI64([1, -1, H * D])]);
  };
  const around = (gb: GraphBuilder, key: string, value: string, from: string, to: string, bias: string | null): NonNullable<PastRows['around']> => {
    const parts = (x: string): [string, string] => [
      bsh(gb, gb.op('Slice', [x, gb.constI64([0]), from, gb.constI64([1])])),
      bsh(gb, gb.op('Slice', [x, to, gb.constI64([2 ** 62]), gb.constI64([1])])),
    ];
    return { key: parts(key), value: parts(value), bias };
  };
  /** [Hkv, n] bias -> MultiHeadAttention's [1, H, Tq, n] in the compute type (Tq = the window's rows) */
  const mhaBias = (gb: GraphBuilder, rows: string): string => {
    const heads = G === 1 ? rows : gb.op('Reshape', [gb.op('Expand', [gb.op('Unsqueeze', [rows, gb.constI64([1])]), gb.constI64([1, G, 1])]), gb.constI64([H, -1])]);
    const tq = gb.op('Sub', [qhiVec, qloVec]);
    const full = gb.op('Expand', [gb.op('Unsqueeze', [heads, gb.constI64([1])]), gb.op('Concat', [gb.constI64([H]), tq, gb.constI64([1])], { axis: 0 })]);
    return ctOf(gb, gb.op('Unsqueeze', [full, gb.constI64([0])]));
  };

  // the filter's inputs
  const P = promptLen ? g.op('Squeeze', [promptLen, g.constI64([0])]) : null;
  const pastTokens = v.pastTokens;
  // 'both' (WaveFilter's question queries): the block's rows, then the prompt window's
  const windowQ = f ? readsWindowQueries(f.program) : false;
  const savedWindowQ = v.savedWindowQ;
  const blockQueries = f && (f.program.queries === 'block' || f.program.queries === 'both' || f.program.schedule === 'every-step');

  // 1. refresh over [refresh_from, L): rows below refresh_from come from the past (the prompt's
  //    K/V kept from an earlier block; with a filter, only the previous selection's kept rows);
  //    the past's rows at or above it are stale and masked.
  let refreshPast: (l: number) => { key: string; value: string; bias: string };
  let tc: string;
  // (a filter whose refreshed tail attends to every prompt row reads the past whole, as the host alone)
  if (f && P && promptLen && f.program.refreshPast !== 'all') {
    const cK = layers.map((l) => gatherCompact(g, pastK[l], pastTokens[l], promptLen));
    const cV = layers.map((l) => gatherCompact(g, pastV[l], pastTokens[l], promptLen));
    tc = g.op('Squeeze', [g.op('Shape', [cK[0]], { start: 1, end: 2 }), g.constI64([0])]);
    refreshPast = (l) => {
      const genRows = g.op('Shape', [g.op('Slice', [pastK[l], promptLen, g.constI64([2 ** 62]), g.constI64([1])])], { start: 1, end: 2 });
      const genBias = g.op('Expand', [NEG_INF, g.op('Concat', [g.constI64([Hkv]), genRows], { axis: 0 })]);
      // kept prompt rows at or after refresh_from (a filter's refreshed tail) are recomputed: masked
      const keptBias = g.op('Where', [g.op('Or', [g.op('Less', [pastTokens[l], zero]), g.op('GreaterOrEqual', [pastTokens[l], refreshFrom])]), NEG_INF, ZERO_F]);
      return { key: cK[l], value: cV[l], bias: g.op('Concat', [keptBias, genBias], { axis: 1 }) };
    };
  } else {
    tc = g.op('Squeeze', [g.op('Shape', [pastK[0]], { start: 1, end: 2 }), g.constI64([0])]);
    const bias = biasRow(tc, (r) => g.op('GreaterOrEqual', [r, refreshFrom]));
    refreshPast = (l) => ({ key: pastK[l], value: pastV[l], bias });
  }
  // query rows the selection reads: the block's, then the prompt window's (full refreshes only)
  const queryParts: string[] = [];
  if (blockQueries) queryParts.push(g.op('Sub', [blockPos, refreshFrom]));
  let nWin: string | null = null;
  if (f && P && windowQ) {
    const full = g.op('Cast', [g.op('Equal', [refreshFrom, zero])], { to: I64 });
    nWin = g.op('Mul', [g.op('Min', [g.constI64([f.windowQueries], []), P]), full]);
    queryParts.push(g.op('Sub', [g.op('Range', [g.op('Sub', [P, nWin]), P, one]), refreshFrom]));
  }
  const refreshIo: ForwardInputs = {
    ids: slice1(canvas, refreshFrom, L),
    positions: g.op('Range', [refreshFrom, L, one]),
    ...rope,
    logitRows: rowsFor(refreshFrom),
    fused: g.op('Equal', [tc, zero]),
    past: refreshPast,
    ...(queryParts.length ? { queryRows: queryParts.length === 1 ? queryParts[0] : g.op('Concat', queryParts, { axis: 0 }) } : {}),
  };
  const refresh = emitForward(g, w, spec, refreshIo, {}, style);
  const refreshQueries = refresh.queries.map((q) => f32(g, q));
  const fullK = refresh.keys.map((k, l) => g.op('Concat', [sliceRows(pastK[l], zero, refreshFrom), k], { axis: 1 })); // [Hkv, L, D]
  const fullV = refresh.values.map((x, l) => g.op('Concat', [sliceRows(pastV[l], zero, refreshFrom), x], { axis: 1 }));
  const noCommit = g.op('Expand', [g.constI64([-1], []), vec(B)]);
  const d0 = decide(g, refreshIo, refresh, { canvas, lo, hi, loVec, hiVec, step: zero, commitStep: noCommit, drawOffset: v.drawOffset, refresh: true });
  const cond0 = g.op('Or', [g.op('Greater', [d0.masksLeft, zero]), g.op('Less', [one, minForwards])]);

  // 2. the steps attend to the refreshed K/V with the window's rows masked; the no-cache host
  //    (cache_rows = 0) takes the fused branch, which never reads them (so no sliced copy is made)
  const stepFused = shape.stepAttention ? shape.stepAttention === 'fused' : g.op('Equal', [cacheRows, zero]);
  const stepPositions = g.op('Range', [qlo, qhi, one]);
  const stepRows = rowsFor(qlo);
  const inWindow = (r: string): string => g.op('And', [g.op('GreaterOrEqual', [r, qlo]), g.op('Less', [r, qhi])]);

  // the selection after the refresh, and the compact past it gives the steps
  let tokens0: string[] = [];
  let state: string[] = [];
  let windowQOut: string[] = [];
  let compactPast: ((gb: GraphBuilder, tokens: string[]) => (l: number) => { key: string; value: string; bias: string }) | null = null;
  const fullKf32Memo = new Map<number, string>();
  // (cast once in the block's graph, also for the every-step selection inside the Loop body)
  const fullKf32 = (l: number): string => {
    let x = fullKf32Memo.get(l);
    if (!x) fullKf32Memo.set(l, (x = f32(g, fullK[l])));
    return x;
  };
  const selectionIO = (queries: string[]): SelectionIO => ({
    key: (l) => fullKf32(l), query: (l) => queries[l], promptLen: promptLen as string, control: c.control,
  });
  let refreshBlockQ: string[] = [];
  // an every-step selection inside the Loop re-reads the window's queries (outer-scope values)
  let stepWindowQ: string[] = [];
  if (f && P && promptLen) {
    refreshBlockQ = blockQueries ? refreshQueries.map((q) => g.op('Slice', [q, g.constI64([0]), vec(B), g.constI64([0])])) : [];
    let queries = refreshBlockQ;
    let windowAll: string[] = [];
    if (windowQ) {
      windowQOut = refreshQueries.map((q) => g.op('Slice', [q, blockQueries ? vec(B) : g.constI64([0]), g.constI64([2 ** 62]), g.constI64([0])]));
      windowAll = windowQOut.map((q, l) => g.op('Concat', [q, savedWindowQ[l]], { axis: 0 }));
      queries = f.program.queries === 'both' ? windowAll.map((q, l) => g.op('Concat', [refreshBlockQ[l], q], { axis: 0 })) : windowAll;
    }
    stepWindowQ = f.program.queries === 'both' ? windowAll : [];
    const sel = f.program.emit(g, spec, selectionIO(queries), f.variant);
    tokens0 = sel.tokens;
    state = sel.state;
    // generation rows [P, L) follow the kept rows; those in the step's window are recomputed
    const genBias = g.op('Expand', [biasRow(g.op('Sub', [L, P]), inWindow, P), g.constI64([Hkv, 1])]);
    compactPast = (gb, tokens) => (l) => {
      const key = gatherCompact(gb, fullK[l], tokens[l], promptLen);
      const value = gatherCompact(gb, fullV[l], tokens[l], promptLen);
      const padBias = gb.op('Where', [gb.op('Less', [tokens[l], zero]), NEG_INF, ZERO_F]); // [Hkv, T]
      const past: PastRows = { key, value, bias: gb.op('Concat', [padBias, genBias], { axis: 1 }) };
      if (!replace) return past;
      // the compact rows are [kept T | generation rows P..L): the window starts at T + qlo - P
      const t = gb.op('Shape', [tokens[l]], { start: 1, end: 2 });
      const from = gb.op('Add', [gb.op('Sub', [qloVec, promptLen]), t]);
      const to = gb.op('Add', [gb.op('Sub', [qhiVec, promptLen]), t]);
      // only padding is masked once the window's rows are replaced: [pad | L - P attended rows]
      const rest = gb.op('Expand', [ZERO_F, gb.op('Concat', [gb.constI64([Hkv]), gb.op('Sub', [vec(L), promptLen])], { axis: 0 })]);
      return { ...past, around: around(gb, key, value, from, to, mhaBias(gb, gb.op('Concat', [padBias, rest], { axis: 1 }))) };
    };
  }
  const everyStep = f?.program.schedule === 'every-step';
  const densePast = (() => {
    const bias = biasRow(L, inWindow);
    return (l: number): PastRows => ({ key: fullK[l], value: fullV[l], bias, ...(replace ? { around: around(g, fullK[l], fullV[l], qloVec, qhiVec, null) } : {}) });
  })();
  const outerPast = compactPast && !everyStep ? compactPast(g, tokens0) : densePast;

  // the step body's names carry its builder's prefix: a generation program nests this Loop in another
  const b = g.child('S_');
  const n = (name: string): string => `${b.prefix}${name}`;
  const iter = b.input(n('iter'), I64, []);
  b.input(n('cond'), DT.BOOL, []);
  const canvasIn = b.input(n('canvas'), I64, ['L']);
  const commitIn = b.input(n('commit'), I64, ['B']);
  const confIn = b.input(n('conf'), DT.DOUBLE, ['N', 'B']);
  const drawIn = b.input(n('draw'), I64, []);
  const carriedQ = everyStep ? layers.map((l) => b.input(n(`q.${l}`), DT.FLOAT, ['B', H, D])) : [];
  // the last selection's rows, carried so the run can return them (the body re-selects, so it does not read them)
  if (everyStep) layers.forEach((l) => b.input(n(`tok.${l}`), I64, [Hkv, `T.${l}`]));
  const k = b.op('Add', [iter, b.constI64([1], [])]);
  let stepPast = outerPast;
  let stepTokens: string[] = [];
  if (everyStep && compactPast && f) {
    // re-select from the previous forward's block queries (and the window's, for 'both'), then attend to the new compact past
    const q = stepWindowQ.length ? carriedQ.map((x, l) => b.op('Concat', [x, stepWindowQ[l]], { axis: 0 })) : carriedQ;
    stepTokens = f.program.emit(b, spec, selectionIO(q), f.variant).tokens;
    stepPast = compactPast(b, stepTokens);
  }
  const stepIo: ForwardInputs = {
    ids: b.op('Slice', [canvasIn, qloVec, qhiVec]),
    ...rope,
    positions: stepPositions,
    logitRows: stepRows,
    fused: stepFused,
    past: stepPast,
    present: false,
    ...(everyStep ? { queryRows: b.op('Sub', [blockPos, qlo]) } : {}),
  };
  const step = emitForward(b, w, spec, stepIo, {}, style);
  const d = decide(b, stepIo, step, { canvas: canvasIn, lo, hi, loVec, hiVec, step: k, commitStep: commitIn, drawOffset: drawIn, refresh: false });
  const condOut = b.op('Or', [b.op('Greater', [d.masksLeft, b.constI64([0], [])]), b.op('Less', [b.op('Add', [k, b.constI64([1], [])]), minForwards])]);
  const confOut = b.op('Concat', [confIn, b.op('Unsqueeze', [d.confidence, b.constI64([0])])], { axis: 0 });
  b.output(b.identity(condOut, n('cond_out')), DT.BOOL, []);
  b.output(b.identity(d.canvas, n('canvas_out')), I64, ['L']);
  b.output(b.identity(d.commitStep, n('commit_out')), I64, ['B']);
  b.output(b.identity(confOut, n('conf_out')), DT.DOUBLE, ['N2', 'B']);
  b.output(b.identity(d.drawOffset, n('draw_out')), I64, []);
  step.queries.forEach((q, l) => b.output(b.identity(f32(b, q), n(`q_out.${l}`)), DT.FLOAT, ['B', H, D]));
  stepTokens.forEach((t, l) => b.output(b.identity(t, n(`tok_out.${l}`)), I64, [Hkv, `T.${l}`]));

  const loopInit = [g.op('Sub', [maxSteps, one]), cond0, d0.canvas, d0.commitStep, g.op('Unsqueeze', [d0.confidence, g.constI64([0])]), d0.drawOffset, ...(everyStep ? [...refreshBlockQ, ...tokens0] : [])];
  const loopOut = g.opN('Loop', loopInit, 4 + (everyStep ? 2 * nLayers : 0), { body: { graph: b.graph(n('step')) } });
  const [canvasOut, commitOut, confs, drawsUsed] = loopOut;
  return {
    canvas: canvasOut, commitStep: commitOut, confs, drawOffset: drawsUsed, fullK, fullV,
    kept: f ? (everyStep ? loopOut.slice(4 + nLayers) : tokens0) : [], windowQOut, state,
  };
}

export const GenerationNames = {
  blockLoAll: 'block_lo_all',
  blockHiAll: 'block_hi_all',
  windowLoAll: 'window_lo_all',
  windowHiAll: 'window_hi_all',
  commitSteps: 'commit_steps',
  stepConfidences: 'step_confidences',
  forwards: 'forwards',
} as const;

/**
 * The generation program: every block of a generation in one session.run, for the first-block
 * prompt refresh. Block 0 refreshes the whole canvas; a Loop over blocks 1..NB-1 runs the same block
 * emission with refresh_from = P, reading block 0's K/V as outer-scope values. So the prompt's K/V
 * never leave the device, where the block program (one run per block) has to return them to the
 * host after block 0 and feed them back at every later block: onnxruntime-node keeps no device
 * tensor between runs, and on a GPU that round trip costs about the refresh it saves
 * (model/refresh-cost.ts). The tokens are the block program's: the same emission, the same inputs
 * per block (the previous selection's rows carried, block 0's prompt-window queries read by every
 * later block). Filters that carry state between selections on the host (H2O) are not supported.
 *
 * Inputs: the block program's, except block / window / their [1] bounds (per block:
 * block_lo_all, block_hi_all, window_lo_all, window_hi_all, int64 [NB]), past_* / past_tokens /
 * window_queries / kv_out_rows (kept inside), and quota / quota_ratio / p_transfer, which are
 * [NB, K] (a row per block). refresh_from is P, read by blocks 1..NB-1. NB >= 2.
 * Outputs: canvas_out, draws_used, kept_tokens.{l} (the last selection), commit_steps [NB, B],
 * step_confidences [NB, K, B] (rows past a block's forwards are -inf), forwards [NB].
 */
export function buildGenerationGraph(spec: ModelSpec, weights: WeightSource, filter: ProgramFilter | null = null, shape: ProgramShape = {}): Uint8Array {
  if (filter?.program.absorbState) throw new Error('the generation program does not carry a filter state between blocks');
  const g = new GraphBuilder();
  const N = BlockNames;
  const GN = GenerationNames;
  const { nLayers, nKvHeads: Hkv, headDim: D, nHeads: H } = spec;
  const I64 = DT.INT64;
  const layers = Array.from({ length: nLayers }, (_, l) => l);
  const c = blockContext(g, spec, weights, filter, shape);
  const KV = ELEM_OF[c.ct];
  const canvas = g.input(N.canvas, I64, ['L']);
  const loAll = g.input(GN.blockLoAll, I64, ['NB']);
  const hiAll = g.input(GN.blockHiAll, I64, ['NB']);
  const qloAll = g.input(GN.windowLoAll, I64, ['NB']);
  const qhiAll = g.input(GN.windowHiAll, I64, ['NB']);
  const refreshFrom = g.input(N.refreshFrom, I64, []);
  const cacheRows = g.input(N.cacheRows, I64, []);
  const maxSteps = g.input(N.maxSteps, I64, []);
  const minForwards = g.input(N.minForwards, I64, []);
  const rules = declareRuleInputs(g, true);
  const windowQ = filter ? readsWindowQueries(filter.program) : false;

  /** Block b's values (b: int64 [], bVec: int64 [1]) in builder gb. */
  const blockValues = (gb: GraphBuilder, b: string, bVec: string, from: string, drawOffset: string, past: { k: readonly string[]; v: readonly string[]; tokens: readonly string[]; windowQ: readonly string[] }): BlockValues => {
    const next = gb.op('Add', [bVec, gb.constI64([1])]);
    const at = (all: string): string => gb.op('Slice', [all, bVec, next]); // [1]
    const loVec = at(loAll);
    const hiVec = at(hiAll);
    const qloVec = at(qloAll);
    const qhiVec = at(qhiAll);
    const row = (x: string): string => gb.op('Gather', [x, b], { axis: 0 });
    return {
      canvas, block: gb.op('Concat', [loVec, hiVec], { axis: 0 }), window: gb.op('Concat', [qloVec, qhiVec], { axis: 0 }),
      loVec, hiVec, qloVec, qhiVec, refreshFrom: from, cacheRows, maxSteps, minForwards,
      rule: { ...rules, quota: row(rules.quota), quotaRatio: row(rules.quotaRatio), pTransfer: row(rules.pTransfer) },
      drawOffset, pastK: past.k, pastV: past.v, pastTokens: past.tokens, savedWindowQ: past.windowQ,
    };
  };
  /** f64 [K, B]: a block's confidences with -inf rows after its forwards */
  const padConfs = (gb: GraphBuilder, confs: string): string => {
    const shapeOf = gb.op('Shape', [confs]);
    const rows = gb.op('Sub', [gb.op('Unsqueeze', [maxSteps, gb.constI64([0])]), gb.op('Slice', [shapeOf, gb.constI64([0]), gb.constI64([1])])]);
    const fill = gb.op('Expand', [gb.constF64([-Infinity], []), gb.op('Concat', [rows, gb.op('Slice', [shapeOf, gb.constI64([1]), gb.constI64([2])])], { axis: 0 })]);
    return gb.op('Concat', [confs, fill], { axis: 0 });
  };
  const forwardsOf = (gb: GraphBuilder, confs: string): string => gb.op('Squeeze', [gb.op('Shape', [confs], { start: 0, end: 1 }), gb.constI64([0])]);

  // block 0: the whole canvas, no past
  const zero = g.constI64([0], []);
  const emptyKv = g.op('Expand', [g.op('Cast', [g.scalarF32(0)], { to: KV }), g.constI64([Hkv, 0, D])]);
  const empty = {
    k: layers.map(() => emptyKv), v: layers.map(() => emptyKv),
    tokens: filter ? layers.map(() => g.op('Expand', [g.constI64([-1], []), g.constI64([Hkv, 0])])) : [],
    windowQ: windowQ ? layers.map(() => g.op('Expand', [g.scalarF32(0), g.constI64([0, H, D])])) : [],
  };
  const first = emitBlock(g, c, blockValues(g, zero, g.constI64([0]), zero, zero, empty));

  // blocks 1..NB-1: the Loop, block 0's K/V and window queries from the outer scope
  const body = g.child('G_');
  const bn = (name: string): string => `${body.prefix}${name}`;
  const iter = body.input(bn('iter'), I64, []);
  const condIn = body.input(bn('cond'), DT.BOOL, []);
  const canvasIn = body.input(bn('canvas'), I64, ['L']);
  const drawIn = body.input(bn('draw'), I64, []);
  const tokensIn = first.kept.map((_, l) => body.input(bn(`tok.${l}`), I64, [Hkv, `T.${l}`]));
  const bIdx = body.op('Add', [iter, body.constI64([1], [])]);
  const bv = blockValues(body, bIdx, body.op('Unsqueeze', [bIdx, body.constI64([0])]), refreshFrom, drawIn, { k: first.fullK, v: first.fullV, tokens: tokensIn, windowQ: first.windowQOut });
  const later = emitBlock(body, c, { ...bv, canvas: canvasIn });
  body.output(body.identity(condIn, bn('cond_out')), DT.BOOL, []);
  body.output(body.identity(later.canvas, bn('canvas_out')), I64, ['L']);
  body.output(body.identity(later.drawOffset, bn('draw_out')), I64, []);
  later.kept.forEach((t, l) => body.output(body.identity(t, bn(`tok_out.${l}`)), I64, [Hkv, `T.${l}`]));
  body.output(body.identity(later.commitStep, bn('commit_scan')), I64, ['B']);
  body.output(body.identity(padConfs(body, later.confs), bn('conf_scan')), DT.DOUBLE, ['K', 'B']);
  body.output(body.identity(forwardsOf(body, later.confs), bn('forwards_scan')), I64, []);

  const nb = g.op('Squeeze', [g.op('Shape', [loAll]), g.constI64([0])]);
  const nCarried = 2 + first.kept.length;
  const outs = g.opN('Loop', [g.op('Sub', [nb, g.constI64([1], [])]), '', first.canvas, first.drawOffset, ...first.kept], nCarried + 3, { body: { graph: body.graph(bn('block')) } });
  const [canvasOut, drawsUsed] = outs;
  const kept = outs.slice(2, nCarried);
  const [commitScan, confScan, forwardsScan] = outs.slice(nCarried);
  const lead = (x: string): string => g.op('Unsqueeze', [x, g.constI64([0])]);
  g.identity(canvasOut, N.canvasOut);
  g.identity(drawsUsed, N.drawsUsed);
  g.identity(g.op('Concat', [lead(first.commitStep), commitScan], { axis: 0 }), GN.commitSteps);
  g.identity(g.op('Concat', [lead(padConfs(g, first.confs)), confScan], { axis: 0 }), GN.stepConfidences);
  g.identity(g.op('Concat', [lead(forwardsOf(g, first.confs)), forwardsScan], { axis: 0 }), GN.forwards);
  g.output(N.canvasOut, I64, ['L']);
  g.output(N.drawsUsed, I64, []);
  g.output(GN.commitSteps, I64, ['NB', 'B']);
  g.output(GN.stepConfidences, DT.DOUBLE, ['NB', 'K', 'B']);
  g.output(GN.forwards, I64, ['NB']);
  kept.forEach((t, l) => {
    g.identity(t, N.keptTokens(l));
    g.output(N.keptTokens(l), I64, [Hkv, `T.${l}`]);
  });
  return encodeModel(g.graph('wavefilter_generation'));
}
