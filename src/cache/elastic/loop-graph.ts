/**
 * Elastic-Cache on the block program: every iteration of the decoding loop (decode.ts) inside one
 * ONNX `Loop`, so a generation is one ORT run (two with a token filter: the first forward, then the
 * rest after the filter cut the caches in JavaScript). The body is the step graph (graph.ts,
 * emitElasticStep) plus what decode.ts does in JavaScript between steps, in the same order:
 *
 *   query     iteration 0: every row; later: the tracked rows, the rows decoded last iteration,
 *             (Dream) the window positions' predecessors not already there, then the window
 *   decide    float64 softmax probability of each candidate's argmax (the first maximal logit);
 *             threshold: every candidate at or above min(threshold, best); else the k most
 *             confident (TopK: ties to the lower index, as decode.ts's stable sort)
 *   EOS       the first decoded EOS (once) drops every masked row after it
 *   track     every layer's tracked rows, first occurrences in layer order (Unique, unsorted)
 *   caches    a refreshed layer's rows replace its caches; a reused layer's query rows are written in
 *             (inside the step: emitElasticStep's fullCaches)
 *
 * Everything is in cache rows (decode.ts: row r holds position row_pos[r]; rows ascend with
 * positions, the generation rows last and contiguous), so a Dream window position's predecessor is
 * the row before it, and the EOS cut-off compares rows.
 *
 * Inputs                                              Outputs
 *   ids int64 [Tc]       tokens of the cached rows       ids_out, masked_out, eos_done_out, track_out,
 *   masked bool [Tc]     rows still to decode              new_decoded_out, the caches (x_cache_out.{l}, ...)
 *   eos_done bool []     an EOS was decoded already      resets  int64 [N]      start_reset per iteration (L: none)
 *   track int64 [nt], new_decoded int64 [nd]             sims    f32 [N, L]     drift similarity (NaN: refreshed)
 *   row_pos int64 [Tc], frozen bool [Tc] (from iteration 1 on)     decoded int64 [N, window]  rows decoded, -1 padded
 *   first_iter int64 []  0: start with the full forward  masked_left int64 [N]  rows still masked after it
 *   max_iters int64 []   gamma f32 [], track_num int64 [], window int64 [], eos_id int64 [] (-1: none)
 *   threshold f64 [] (the threshold variant) or tokens_per_iter int64 [] (the fixed-count variant)
 *   x_cache.{l} f32 [Tc, d], q_cache.{l} f32 [Tc, H, D], k_cache.{l}, v_cache.{l} f32 [Tc, Hkv, D]
 *     ([0, ...] when first_iter is 0: the first forward fills them)
 */
import { DT, GraphBuilder, encodeModel } from '../../model/onnx-builder.js';
import { type WeightSource, weightRefs } from '../../model/graph.js';
import type { ModelSpec } from '../../model/spec.js';
import { ElasticNames, type ElasticLayerCache, emitElasticStep } from './graph.js';

/** The graph variants: the decoding rule and whether only the window's masks are queried. */
export interface ElasticLoopVariant {
  readonly rule: 'threshold' | 'count';
  readonly blockCaching: boolean;
}

export const ElasticLoopNames = {
  ...ElasticNames,
  ids: 'ids',
  eosDone: 'eos_done',
  trackIn: 'track_in',
  newDecoded: 'new_decoded',
  firstIter: 'first_iter',
  maxIters: 'max_iters',
  window: 'window',
  eosId: 'eos_id',
  threshold: 'threshold',
  tokensPerIter: 'tokens_per_iter',
  idsOut: 'ids_out',
  maskedOut: 'masked_out',
  eosDoneOut: 'eos_done_out',
  trackOut: 'track_out',
  newDecodedOut: 'new_decoded_out',
  resets: 'resets',
  simsOut: 'sims_per_iter',
  decoded: 'decoded',
  maskedLeft: 'masked_left',
} as const;

export function buildElasticLoopGraph(spec: ModelSpec, weights: WeightSource, variant: ElasticLoopVariant): Uint8Array {
  const g = new GraphBuilder();
  const N = ElasticLoopNames;
  const { nLayers: L, nHeads: H, nKvHeads: Hkv, headDim: D, dModel: d } = spec;
  const shift = spec.family === 'dream' ? 1 : 0;
  const I64 = DT.INT64;
  const F32 = DT.FLOAT;
  const BOOL = DT.BOOL;
  const w = weightRefs(g, weights);

  const ids0 = g.input(N.ids, I64, ['Tc']);
  const masked0 = g.input(N.masked, BOOL, ['Tc']);
  const eosDone0 = g.input(N.eosDone, BOOL, []);
  const track0 = g.input(N.trackIn, I64, ['nt']);
  const newDecoded0 = g.input(N.newDecoded, I64, ['nd']);
  const rowPos = g.input(N.rowPos, I64, ['Tc']);
  const frozenIn = g.input(N.frozen, BOOL, ['Tc']);
  const firstIter = g.input(N.firstIter, I64, []);
  const maxIters = g.input(N.maxIters, I64, []);
  const gamma = g.input(N.gamma, F32, []);
  const trackNum = g.input(N.trackNum, I64, []);
  const window = g.input(N.window, I64, []);
  const eosId = g.input(N.eosId, I64, []);
  const ruleArg = variant.rule === 'threshold' ? g.input(N.threshold, DT.DOUBLE, []) : g.input(N.tokensPerIter, I64, []);
  const caches0 = Array.from({ length: L }, (_, l) => [
    g.input(N.xCache(l), F32, ['Tc0', d]),
    g.input(N.qCache(l), F32, ['Tc0', H, D]),
    g.input(N.kCache(l), F32, ['Tc0', Hkv, D]),
    g.input(N.vCache(l), F32, ['Tc0', Hkv, D]),
  ]);

  const b = g.child('B_');
  const c = (v: readonly number[], dims?: number[]): string => b.constI64(v, dims);
  const iter = b.input('B_iter', I64, []);
  b.input('B_cond', BOOL, []);
  const ids = b.input('B_ids', I64, ['Tc']);
  const masked = b.input('B_masked', BOOL, ['Tc']);
  const eosDone = b.input('B_eos_done', BOOL, []);
  const track = b.input('B_track', I64, ['nt']);
  const newDecoded = b.input('B_new_decoded', I64, ['nd']);
  const caches: ElasticLayerCache[] = Array.from({ length: L }, (_, l) => ({
    x: b.input(`B_x.${l}`, F32, ['Tc0', d]),
    q: b.input(`B_q.${l}`, F32, ['Tc0', H, D]),
    k: b.input(`B_k.${l}`, F32, ['Tc0', Hkv, D]),
    v: b.input(`B_v.${l}`, F32, ['Tc0', Hkv, D]),
  }));

  const i = b.op('Add', [iter, firstIter]); // the iteration in decode.ts's numbering (0: the first forward)
  const isFirst = b.op('Equal', [i, c([0], [])]);
  const Tc = b.op('Shape', [ids]); // [1]
  const rowIdx = b.op('Range', [c([0], []), b.op('Squeeze', [Tc, c([0])]), c([1], [])]);
  const maskedRows = b.op('Reshape', [b.op('NonZero', [masked]), c([-1])]); // ascending
  const queried = variant.blockCaching ? b.op('Slice', [maskedRows, c([0]), b.op('Unsqueeze', [window, c([0])])]) : maskedRows;
  const sources = shift ? b.op('Sub', [queried, c([shift], [])]) : queried;
  // the query list: every row on the first forward; later the tracked rows, the rows decoded last
  // time, (Dream) the predecessors not already queried, then the window
  const head = b.op('Concat', [track, newDecoded], { axis: 0 });
  const member = (xs: string, set: string): string =>
    b.op('Greater', [b.op('ReduceSum', [b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [xs, c([1])]), b.op('Unsqueeze', [set, c([0])])])], { to: I64 }), c([1])], { keepdims: 0 }), c([0], [])]);
  const later = shift
    ? b.op('Concat', [head, b.op('Compress', [sources, b.op('Not', [b.op('Or', [b.op('Gather', [masked, sources], { axis: 0 }), member(sources, head)])])], { axis: 0 }), queried], { axis: 0 })
    : b.op('Concat', [head, queried], { axis: 0 });
  const queryList = ((): string => {
    const tb = b.child('first_');
    tb.output(tb.identity(rowIdx, `${tb.prefix}q`), I64, ['Tq']);
    const eb = b.child('later_');
    eb.output(eb.identity(later, `${eb.prefix}q`), I64, ['Tq']);
    return b.op('If', [isFirst], { then_branch: { graph: { ...tb.graph('all_rows'), input: [] } }, else_branch: { graph: { ...eb.graph('query_rows'), input: [] } } });
  })();
  // each window position's logits row as an index in the query list (its first occurrence)
  const hit = b.op('Cast', [b.op('Equal', [b.op('Unsqueeze', [sources, c([1])]), b.op('Unsqueeze', [queryList, c([0])])])], { to: F32 });
  const logitQuery = b.op('ArgMax', [hit], { axis: 1, keepdims: 0, select_last_index: 0 });
  const step = emitElasticStep(b, spec, w, {
    queryIds: b.op('Gather', [ids, queryList], { axis: 0 }),
    queryPos: queryList,
    rowPos,
    frozen: b.op('And', [frozenIn, b.op('Not', [isFirst])]),
    nTrack: b.op('Squeeze', [b.op('Shape', [track]), c([0])]),
    windowPos: queried,
    logitRows: sources,
    logitQuery,
    masked,
    startReset: b.op('Where', [isFirst, c([-1], []), c([L], [])]),
    gamma,
    trackNum,
    caches,
  }, { fullCaches: true });

  // decide: the first `window` queried rows are the candidates
  const winVec = b.op('Unsqueeze', [window, c([0])]);
  const candRows = b.op('Slice', [queried, c([0]), winVec]);
  const candLogits = b.op('Slice', [step.logits, c([0]), winVec, c([0])]);
  const token = b.op('ArgMax', [candLogits], { axis: 1, keepdims: 0, select_last_index: 0 });
  const l64 = b.op('Cast', [candLogits], { to: DT.DOUBLE });
  const shifted = b.op('Sub', [l64, b.op('ReduceMax', [l64], { axes: [1], keepdims: 1 })]);
  const p = b.op('Reciprocal', [b.op('ReduceSum', [b.op('Exp', [shifted]), c([1])], { keepdims: 0 })]);
  let keep: string;
  if (variant.rule === 'threshold') {
    const bar = b.op('Min', [ruleArg, b.op('ReduceMax', [p], { axes: [0], keepdims: 0 })]);
    keep = b.op('Reshape', [b.op('NonZero', [b.op('GreaterOrEqual', [p, bar])]), c([-1])]);
  } else {
    const k = b.op('Min', [b.op('Unsqueeze', [ruleArg, c([0])]), b.op('Shape', [p])]);
    keep = b.opN('TopK', [p, k], 2, { axis: 0, largest: 1, sorted: 1 })[1] as string;
  }
  const decRows = b.op('Gather', [candRows, keep], { axis: 0 });
  const decTok = b.op('Gather', [token, keep], { axis: 0 });
  const at = b.op('Unsqueeze', [decRows, c([1])]);
  const idsOut = b.op('ScatterND', [ids, at, decTok]);
  const unmasked = b.op('ScatterND', [masked, at, b.op('Expand', [b.op('Cast', [c([0], [])], { to: BOOL }), b.op('Shape', [decRows])])]);
  // the first EOS decoded (once) drops every masked row after it
  const isEos = b.op('Equal', [decTok, eosId]);
  const hasEos = b.op('And', [b.op('Not', [eosDone]), b.op('Greater', [b.op('ReduceSum', [b.op('Cast', [isEos], { to: I64 }), c([0])], { keepdims: 0 }), c([0], [])])]);
  const firstEos = b.op('ReduceMin', [b.op('Concat', [b.op('Compress', [decRows, isEos], { axis: 0 }), c([2 ** 62])], { axis: 0 })], { axes: [0], keepdims: 0 });
  const maskedOut = b.op('And', [unmasked, b.op('Or', [b.op('Not', [hasEos]), b.op('LessOrEqual', [rowIdx, firstEos])])]);
  const eosDoneOut = b.op('Or', [eosDone, hasEos]);
  const trackOut = b.opN('Unique', [b.op('Reshape', [step.track, c([-1])])], 1, { sorted: 0 })[0] as string;
  const left = b.op('ReduceSum', [b.op('Cast', [maskedOut], { to: I64 }), c([0])], { keepdims: 0 });
  const condOut = b.op('Greater', [left, c([0], [])]);
  // the caches: each layer's, updated by the step (a refreshed layer's rows, or a reused one's with its query rows written in)
  const cachesOut = step.caches.map((lc) => [lc.x, lc.q, lc.k, lc.v]);
  const padded = b.op('Slice', [b.op('Concat', [decRows, b.op('Expand', [c([-1], []), winVec])], { axis: 0 }), c([0]), winVec]);

  b.output(b.identity(condOut, 'B_cond_out'), BOOL, []);
  b.output(b.identity(idsOut, 'B_ids_out'), I64, ['Tc']);
  b.output(b.identity(maskedOut, 'B_masked_out'), BOOL, ['Tc']);
  b.output(b.identity(eosDoneOut, 'B_eos_done_out'), BOOL, []);
  b.output(b.identity(trackOut, 'B_track_out'), I64, ['nt2']);
  b.output(b.identity(decRows, 'B_new_decoded_out'), I64, ['nd2']);
  // (the step's values themselves: an Identity would copy every layer's caches once more per iteration)
  cachesOut.forEach((cs) => cs.forEach((v, j) => b.output(v, F32, j === 0 ? ['R', d] : j === 1 ? ['R', H, D] : ['R', Hkv, D])));
  // scan outputs, one row per iteration
  b.output(b.identity(step.reset, 'B_reset'), I64, []);
  b.output(b.identity(step.sims, 'B_sims'), F32, [L]);
  b.output(b.identity(padded, 'B_decoded'), I64, ['W']);
  b.output(b.identity(left, 'B_left'), I64, []);

  const cond0 = g.op('Greater', [g.op('ReduceSum', [g.op('Cast', [masked0], { to: I64 }), g.constI64([0])], { keepdims: 0 }), g.constI64([0], [])]);
  const outs = g.opN('Loop', [maxIters, cond0, ids0, masked0, eosDone0, track0, newDecoded0, ...caches0.flat()], 5 + 4 * L + 4, { body: { graph: b.graph('elastic_iteration') } });
  const named = [N.idsOut, N.maskedOut, N.eosDoneOut, N.trackOut, N.newDecodedOut];
  const types = [I64, BOOL, BOOL, I64, I64];
  named.forEach((n, j) => g.output(g.identity(outs[j] as string, n), types[j] as 7 | 9, j < 2 ? ['Tc'] : j === 2 ? [] : ['n']));
  for (let l = 0; l < L; l++) {
    const at = (j: number): string => outs[5 + 4 * l + j] as string;
    g.output(g.identity(at(0), N.xOut(l)), F32, ['Tc', d]);
    g.output(g.identity(at(1), N.qOut(l)), F32, ['Tc', H, D]);
    g.output(g.identity(at(2), N.kOut(l)), F32, ['Tc', Hkv, D]);
    g.output(g.identity(at(3), N.vOut(l)), F32, ['Tc', Hkv, D]);
  }
  const scan = outs.slice(5 + 4 * L);
  g.output(g.identity(scan[0] as string, N.resets), I64, ['N']);
  g.output(g.identity(scan[1] as string, N.simsOut), F32, ['N', L]);
  g.output(g.identity(scan[2] as string, N.decoded), I64, ['N', 'W']);
  g.output(g.identity(scan[3] as string, N.maskedLeft), I64, ['N']);
  return encodeModel(g.graph('elastic_loop'));
}
