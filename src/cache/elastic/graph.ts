/**
 * One Elastic-Cache forward as one ONNX graph (arXiv 2510.14973; the official LLaDA code's
 * `generate_with_elastic_cache` with its modeling changes, described with citations in
 * ../shared/reference/elastic-tiny/ALGORITHM.md; the tests copy it beside the fixtures).
 *
 * Each layer keeps, for every position, its input hidden state (x_cache) and its q, k and v (after
 * RoPE). A step queries a few positions (the tracked tokens, the tokens decoded last step and the
 * window's masks). Layer by layer, an `If` on start_reset chooses:
 *   reuse   (l < start_reset): the query rows' x, q, k, v are written into the caches and the query
 *           rows attend to every cached row; then the drift test: the tracked tokens' attention
 *           before (old q . old K) and after (new q . updated K), cosine over heads, mean over all;
 *           below gamma, start_reset = l + 1: the next layers are recomputed.
 *   refresh (l >= start_reset): the whole sequence; at l == start_reset its input is the x cache with
 *           the query rows written in (stale rows elsewhere), above it the full output of layer l - 1.
 * Each layer also picks its tracked tokens: the track_num keys the window's mask queries attend to
 * most (summed over heads and rows), still-masked positions excluded.
 *
 * Inputs                                         Outputs
 *   query_ids, query_pos  int64 [Tq]               logits       f32 [W, V]  rows of the window positions
 *   row_pos               int64 [T]                start_reset_out int64 []  L = no refresh
 *   frozen                bool [T]  rows that keep their cached state (all false: the reference)
 *   n_track               int64 []  leading rows
 *   window_pos            int64 [W]                sims         f32 [L]  drift similarity (NaN: refreshed layer)
 *   logit_rows, logit_query int64 [W]: the rows     track        int64 [L, k]
 *     whose logits decode window position w, as a cache row and as an index in the query list
 *     (LLaDA: the window rows; Dream: each one's predecessor, as Dream's logits are shifted)
 *   masked                bool [T]
 *   start_reset           int64 []  -1 first step  x_cache_out.{l}, q_/k_/v_cache_out.{l}: a refreshed layer's
 *                                                    every row [T, ...], a reused layer's query rows [Tq, ...]
 *                                                    (the caller writes those into its caches)
 *   gamma f32 [], track_num int64 []
 *   x_cache.{l} f32 [T, d], q_cache.{l} f32 [T, H, D], k_cache.{l} / v_cache.{l} f32 [T, Hkv, D]
 *   (empty [0, ...] on the first step, which refreshes every layer)
 *
 * Positions are cache rows: query_pos, window_pos, masked and the tracked tokens index the caches'
 * rows, and row_pos gives each row's position in the sequence (RoPE's angle). Without a token filter
 * row r is position r; with one, the caches hold only the kept prompt rows and the generation rows
 * after the first forward (decode.ts), and row_pos keeps their original positions.
 *
 * A frozen row keeps the state of the forward that cached it: each layer's output for it is the
 * next layer's cached input instead of a recomputation over the current rows, so its x, q, k and v
 * never change (they are recomputed from the same input). With a token filter the kept prompt rows
 * are frozen by default: their state is that of the first forward, which saw the whole prompt,
 * while a recomputation would see only the kept rows (decode.ts, ElasticOptions.freezePrompt).
 *
 * Where the official code cannot run (GQA: its drift test multiplies n_heads queries by n_kv_heads
 * keys), K and V heads are repeated for their query groups, as its attention does.
 */
import { DT, GraphBuilder, encodeModel } from '../../model/onnx-builder.js';
import { type WeightRef, type WeightSource, plainLinear, plainMlp, plainRmsNorm, plainRope, weightRefs } from '../../model/graph.js';
import type { ModelSpec } from '../../model/spec.js';

export const ElasticNames = {
  queryIds: 'query_ids',
  queryPos: 'query_pos',
  rowPos: 'row_pos',
  frozen: 'frozen',
  nTrack: 'n_track',
  windowPos: 'window_pos',
  logitRows: 'logit_rows',
  logitQuery: 'logit_query',
  masked: 'masked',
  startReset: 'start_reset',
  gamma: 'gamma',
  trackNum: 'track_num',
  xCache: (l: number) => `x_cache.${l}`,
  qCache: (l: number) => `q_cache.${l}`,
  kCache: (l: number) => `k_cache.${l}`,
  vCache: (l: number) => `v_cache.${l}`,
  xOut: (l: number) => `x_cache_out.${l}`,
  qOut: (l: number) => `q_cache_out.${l}`,
  kOut: (l: number) => `k_cache_out.${l}`,
  vOut: (l: number) => `v_cache_out.${l}`,
  logits: 'logits',
  startResetOut: 'start_reset_out',
  sims: 'sims',
  track: 'track',
} as const;

/** The value names one Elastic-Cache step reads (graph inputs, or a Loop body's values: loop-graph.ts). */
export interface ElasticStepInputs {
  readonly queryIds: string;
  readonly queryPos: string;
  readonly rowPos: string;
  readonly frozen: string;
  readonly nTrack: string;
  readonly windowPos: string;
  readonly logitRows: string;
  readonly logitQuery: string;
  readonly masked: string;
  readonly startReset: string;
  readonly gamma: string;
  readonly trackNum: string;
  readonly caches: readonly ElasticLayerCache[];
}

/** One layer's caches: input hidden state, q, k and v per row. */
export interface ElasticLayerCache {
  readonly x: string;
  readonly q: string;
  readonly k: string;
  readonly v: string;
}

/** What one step computes: ElasticNames' outputs as values. */
export interface ElasticStepOutputs {
  /** f32 [W, V] */
  readonly logits: string;
  /** int64 [], L = no refresh */
  readonly reset: string;
  /** f32 [L] */
  readonly sims: string;
  /** int64 [L, k] */
  readonly track: string;
  /** a refreshed layer's every row; a reused layer's query rows, or (fullCaches) its caches with them written in */
  readonly caches: readonly ElasticLayerCache[];
}

/** Emits one Elastic-Cache step (the computation described at the top) into `g`. */
export function emitElasticStep(g: GraphBuilder, spec: ModelSpec, w: WeightRef, io: ElasticStepInputs, o: { readonly fullCaches?: boolean } = {}): ElasticStepOutputs {
  const { nLayers, nHeads: H, nKvHeads: Hkv, headDim: D, dModel: d } = spec;
  const G = H / Hkv;
  const I64 = DT.INT64;
  const F32 = DT.FLOAT;
  const c = (gb: GraphBuilder, v: readonly number[], dims?: number[]): string => gb.constI64(v, dims);
  const { queryIds, queryPos, rowPos, frozen, nTrack, windowPos, logitRows, logitQuery, masked, gamma, trackNum, caches } = io;

  const queryAngles = g.op('Gather', [rowPos, queryPos], { axis: 0 }); // the query rows' positions
  const anyFrozen = g.op('Greater', [g.op('ReduceSum', [g.op('Cast', [frozen], { to: I64 })], { keepdims: 0 }), c(g, [0], [])]);
  const frozenRows = g.op('Unsqueeze', [frozen, c(g, [1])]); // [T, 1]
  const frozenQuery = g.op('Unsqueeze', [g.op('Gather', [frozen, queryPos], { axis: 0 }), c(g, [1])]); // [Tq, 1]
  const scale = 1 / Math.sqrt(D);
  // The layer ops, as the reference computes them (the step executor's plain fp32 path, graph.ts).
  const rmsNorm = (b: GraphBuilder, x: string, wn: string): string => plainRmsNorm(b, spec, x, w(wn));
  const linear = (b: GraphBuilder, x: string, wn: string, bias?: string): string => plainLinear(b, w, x, wn, bias);
  /** RoPE at `pos` of x2d [n, heads * D] -> [n, heads, D] (rotate_half layout) */
  const rope = (b: GraphBuilder, x2d: string, pos: string, heads: number): string => plainRope(b, spec, pos)(x2d, heads);
  /** [n, Hkv, D] -> [H, n, D] (KV heads repeated for their query groups) */
  const headsFirst = (b: GraphBuilder, x: string, kv: boolean): string => {
    const t = b.op('Transpose', [x], { perm: [1, 0, 2] });
    if (!kv || G === 1) return t;
    return b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [t, c(b, [1])]), c(b, [1, G, 1, 1])]), c(b, [H, -1, D])]);
  };
  /** softmax(q k^T / sqrt(D)) for q [H, n, D], k [H, T, D]: [H, n, T] */
  const probs = (b: GraphBuilder, q: string, k: string): string =>
    b.op('Softmax', [b.op('FusedMatMul', [q, k], { transB: 1, alpha: { float: scale } }, { domain: 'com.microsoft' })], { axis: -1 });
  /** The layer's tracked tokens from the attention rows of the window's masks [H, W, T]. */
  const trackOf = (b: GraphBuilder, rows: string): string => {
    const weight = b.op('ReduceSum', [rows, c(b, [0, 1])], { keepdims: 0 }); // [T]
    const zeroed = b.op('Where', [masked, b.scalarF32(0), weight]);
    return b.opN('TopK', [zeroed, b.op('Unsqueeze', [trackNum, c(b, [0])])], 2, { axis: 0, largest: 1, sorted: 1 })[1];
  };
  /** Attention output and MLP on x [n, d] given the attention context att [n, H*D]. */
  const finish = (b: GraphBuilder, x: string, att: string, l: number): string => {
    const lw = spec.tensors.layers[l];
    const h = b.op('Add', [x, linear(b, att, lw.o)]);
    return b.op('Add', [h, plainMlp(b, w, lw, rmsNorm(b, h, lw.ffnNorm))]);
  };
  const qkv = (b: GraphBuilder, x: string, pos: string, l: number): { q: string; k: string; v: string } => {
    const lw = spec.tensors.layers[l];
    const a = rmsNorm(b, x, lw.attnNorm);
    return {
      q: rope(b, linear(b, a, lw.q, lw.qBias), pos, H),
      k: rope(b, linear(b, a, lw.k, lw.kBias), pos, Hkv),
      v: b.op('Reshape', [linear(b, a, lw.v, lw.vBias), c(b, [0, Hkv, D])]),
    };
  };
  /** context rows [n, H*D] of probabilities p [H, n, T] over values [T, Hkv, D] */
  const context = (b: GraphBuilder, p: string, v: string): string =>
    b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [p, headsFirst(b, v, true)])], { perm: [1, 0, 2] }), c(b, [-1, H * D])]);
  const scatterRows = (b: GraphBuilder, cache: string, rows: string): string => b.op('ScatterND', [cache, b.op('Unsqueeze', [queryPos, c(b, [1])]), rows]);

  let h = g.op('Gather', [w(spec.tensors.embed), queryIds], { axis: 0 }); // [Tq, d] (the first step: T rows)
  let reset = io.startReset;
  const sims: string[] = [];
  const cachesOut: ElasticLayerCache[] = [];
  const tracks: string[] = [];
  for (let l = 0; l < nLayers; l++) {
    const cache = caches[l];
    const lIdx = c(g, [l], []);
    const outs = (b: GraphBuilder, vals: string[], shapes: (number | string)[][]): void => {
      const types = [F32, F32, F32, F32, F32, I64, F32, I64];
      vals.forEach((v, i) => b.output(b.identity(v, `${b.prefix}out${i}`), types[i] as 1 | 7, shapes[i]));
    };
    // refresh: every row (the x cache with the query rows written in at l == start_reset)
    const rb = g.child(`E${l}r_`);
    {
      const x = rb.op('If', [rb.op('Equal', [lIdx, reset])], {
        then_branch: { graph: ((): ReturnType<GraphBuilder['graph']> => { const b = rb.child('s_'); b.output(b.identity(scatterRows(b, cache.x, h), `${b.prefix}x`), F32, ['T', d]); return { ...b.graph('switch'), input: [] }; })() },
        else_branch: { graph: ((): ReturnType<GraphBuilder['graph']> => { const b = rb.child('f_'); b.output(b.identity(h, `${b.prefix}x`), F32, ['T', d]); return { ...b.graph('full'), input: [] }; })() },
      });
      const { q, k, v } = qkv(rb, x, rowPos, l);
      // every row's context by ORT's flash attention (O(T) memory: the refresh is T x T), and the
      // attention probabilities only for the window's rows (the tracked-token choice reads them)
      const flat = (t: string): string => rb.op('Reshape', [t, c(rb, [1, -1, H * D])]);
      const expand = (t: string): string => (G === 1 ? t : rb.op('Reshape', [rb.op('Expand', [rb.op('Unsqueeze', [t, c(rb, [2])]), c(rb, [1, 1, G, 1])]), c(rb, [0, H, D])]));
      const ctx = rb.op('Reshape', [rb.op('MultiHeadAttention', [flat(q), flat(expand(k)), flat(expand(v))], { num_heads: H }, { domain: 'com.microsoft' }), c(rb, [-1, H * D])]);
      const pw = probs(rb, headsFirst(rb, rb.op('Gather', [q, windowPos], { axis: 0 }), false), headsFirst(rb, k, true)); // [H, W, T]
      let out = finish(rb, x, ctx, l);
      if (l + 1 < nLayers) {
        // frozen rows: the next layer's cached input (no caches on the first step: nothing frozen)
        const next = caches[l + 1] as { x: string };
        const fresh = out;
        out = rb.op('If', [anyFrozen], {
          then_branch: { graph: ((): ReturnType<GraphBuilder['graph']> => { const b = rb.child('z_'); b.output(b.identity(b.op('Where', [frozenRows, next.x, fresh]), `${b.prefix}h`), F32, ['T', d]); return { ...b.graph('frozen'), input: [] }; })() },
          else_branch: { graph: ((): ReturnType<GraphBuilder['graph']> => { const b = rb.child('n_'); b.output(b.identity(fresh, `${b.prefix}h`), F32, ['T', d]); return { ...b.graph('live'), input: [] }; })() },
        });
      }
      outs(rb, [out, x, q, k, v, reset, rb.scalarF32(Number.NaN), trackOf(rb, pw)], [['T', d], ['T', d], ['T', H, D], ['T', Hkv, D], ['T', Hkv, D], [], [], ['k']]);
    }
    // reuse: the query rows into the caches, attention over every cached row, the drift test
    const ub = g.child(`E${l}u_`);
    {
      const { q, k, v } = qkv(ub, h, queryAngles, l);
      const kAll = scatterRows(ub, cache.k, k);
      const vAll = scatterRows(ub, cache.v, v);
      const p = probs(ub, headsFirst(ub, q, false), headsFirst(ub, kAll, true)); // [H, Tq, T]
      const trackRows = ub.op('Slice', [ub.op('Unsqueeze', [queryPos, c(ub, [0])]), c(ub, [0]), ub.op('Unsqueeze', [nTrack, c(ub, [0])]), c(ub, [1])]); // [1, n]
      const pastQ = ub.op('Gather', [cache.q, ub.op('Squeeze', [trackRows, c(ub, [0])])], { axis: 0 }); // [n, H, D]
      const before = probs(ub, headsFirst(ub, pastQ, false), headsFirst(ub, cache.k, true)); // [H, n, T]
      const after = ub.op('Slice', [p, c(ub, [0]), ub.op('Unsqueeze', [nTrack, c(ub, [0])]), c(ub, [1])]); // [H, n, T]
      // cosine over the head axis per (tracked token, key), as torch's cosine_similarity (eps 1e-8 per norm)
      const norm = (x: string): string => ub.op('Max', [ub.op('Sqrt', [ub.op('ReduceSum', [ub.op('Mul', [x, x]), c(ub, [0])], { keepdims: 0 })]), ub.scalarF32(1e-8)]);
      const cos = ub.op('Div', [ub.op('ReduceSum', [ub.op('Mul', [before, after]), c(ub, [0])], { keepdims: 0 }), ub.op('Mul', [norm(before), norm(after)])]);
      const sim = ub.op('ReduceMean', [ub.op('Reshape', [cos, c(ub, [-1])])], { axes: [0], keepdims: 0 });
      const drifted = ub.op('Less', [sim, gamma]);
      const nextReset = ub.op('Where', [drifted, c(ub, [l + 1], []), reset]);
      const W = ub.op('Shape', [windowPos]);
      const windowRows = ub.op('Slice', [p, ub.op('Neg', [W]), c(ub, [2 ** 62]), c(ub, [1])]);
      // the caches' new rows only (the caller writes them in): no copy of every row out of the run
      let out = finish(ub, h, context(ub, p, vAll), l);
      // frozen query rows (tracked prompt tokens): the next layer's cached input
      if (l + 1 < nLayers) out = ub.op('Where', [frozenQuery, ub.op('Gather', [(caches[l + 1] as { x: string }).x, queryPos], { axis: 0 }), out]);
      // the caches' new rows (the step executor writes them in), or the updated caches (the loop
      // carries them; k and v are already written in above)
      const rowsOut = o.fullCaches ? [scatterRows(ub, cache.x, h), scatterRows(ub, cache.q, q), kAll, vAll] : [h, q, k, v];
      const n = o.fullCaches ? 'T' : 'Tq';
      outs(ub, [out, ...rowsOut, nextReset, sim, trackOf(ub, windowRows)], [['Tq', d], [n, d], [n, H, D], [n, Hkv, D], [n, Hkv, D], [], [], ['k']]);
    }
    const [hOut, xOut, qOut, kOut, vOut, rOut, sim, track] = g.opN('If', [g.op('GreaterOrEqual', [lIdx, reset])], 8, {
      then_branch: { graph: { ...rb.graph(`refresh${l}`), input: [] } },
      else_branch: { graph: { ...ub.graph(`reuse${l}`), input: [] } },
    });
    cachesOut.push({ x: xOut, q: qOut, k: kOut, v: vOut });
    h = hOut;
    reset = rOut;
    sims.push(g.op('Unsqueeze', [sim, c(g, [0])]));
    tracks.push(g.op('Unsqueeze', [track, c(g, [0])]));
  }
  // the rows whose logits decode the window: by cache row when the last layer ran every row (it
  // was refreshed: start_reset < L), else by index in the query list (the window itself for LLaDA;
  // for Dream, whose logits at a position predict the next one, each window position's predecessor)
  const full = g.op('Less', [reset, c(g, [nLayers], [])]);
  const rows = g.op('Where', [full, logitRows, logitQuery]);
  const hw = g.op('Gather', [h, rows], { axis: 0 });
  const logits = g.op('Gemm', [rmsNorm(g, hw, spec.tensors.finalNorm), w(spec.tensors.lmHead)], { transB: 1 });
  return { logits, reset, sims: g.op('Concat', sims, { axis: 0 }), track: g.op('Concat', tracks, { axis: 0 }), caches: cachesOut };
}

export function buildElasticGraph(spec: ModelSpec, weights: WeightSource): Uint8Array {
  const g = new GraphBuilder();
  const N = ElasticNames;
  const { nLayers, nHeads: H, nKvHeads: Hkv, headDim: D, dModel: d, vocabSize: V } = spec;
  const I64 = DT.INT64;
  const F32 = DT.FLOAT;
  const io: ElasticStepInputs = {
    queryIds: g.input(N.queryIds, I64, ['Tq']),
    queryPos: g.input(N.queryPos, I64, ['Tq']),
    rowPos: g.input(N.rowPos, I64, ['T']),
    frozen: g.input(N.frozen, DT.BOOL, ['T']),
    nTrack: g.input(N.nTrack, I64, []),
    windowPos: g.input(N.windowPos, I64, ['W']),
    logitRows: g.input(N.logitRows, I64, ['W']),
    logitQuery: g.input(N.logitQuery, I64, ['W']),
    masked: g.input(N.masked, DT.BOOL, ['T']),
    startReset: g.input(N.startReset, I64, []),
    gamma: g.input(N.gamma, F32, []),
    trackNum: g.input(N.trackNum, I64, []),
    caches: Array.from({ length: nLayers }, (_, l) => ({
      x: g.input(N.xCache(l), F32, ['Tc', d]),
      q: g.input(N.qCache(l), F32, ['Tc', H, D]),
      k: g.input(N.kCache(l), F32, ['Tc', Hkv, D]),
      v: g.input(N.vCache(l), F32, ['Tc', Hkv, D]),
    })),
  };
  const out = emitElasticStep(g, spec, weightRefs(g, weights), io);
  out.caches.forEach((lc, l) => {
    g.output(g.identity(lc.x, N.xOut(l)), F32, ['R', d]);
    g.output(g.identity(lc.q, N.qOut(l)), F32, ['R', H, D]);
    g.output(g.identity(lc.k, N.kOut(l)), F32, ['R', Hkv, D]);
    g.output(g.identity(lc.v, N.vOut(l)), F32, ['R', Hkv, D]);
  });
  g.output(g.identity(out.logits, N.logits), F32, ['W', V]);
  g.output(g.identity(out.reset, N.startResetOut), I64, []);
  g.output(g.identity(out.sims, N.sims), F32, [nLayers]);
  g.output(g.identity(out.track, N.track), I64, [nLayers, 'k']);
  return encodeModel(g.graph('elastic_step'));
}
