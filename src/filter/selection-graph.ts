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
 * Each filter's selection is an `emit*` function (in its folder) that writes its ops into any
 * builder and returns the kept prompt positions per layer; `standaloneGraph` here wraps one as the
 * step executor's filter session, and the block program (program/block-graph.ts) emits the same
 * function inside the denoising run, so both executors keep the same rows. This file holds what
 * they share: names, the I/O contract, the compact gather.
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
  tokenK: 'k_tokens',
  sampleK: 'k_sample',
  samplePrio: 'sample_prio',
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
export function standaloneGraph(spec: ModelSpec, name: string, emit: (g: GraphBuilder, io: SelectionIO) => EmittedSelection, coarse = false, state?: (l: number) => string): Uint8Array {
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
    g.output(F.tokens(l), DT.INT64, [spec.nKvHeads, `T.${l}`]); // per layer: dense layers keep more rows
    if (state && sel.state[l]) {
      g.identity(sel.state[l], state(l));
      g.output(state(l), DT.FLOAT, [spec.nKvHeads, 'P']);
    }
  }
  return encodeModel(g.graph(name));
}

/** [Nq, H, D] queries -> [Hkv, G*Nq, D] (a KV head's group of query heads stacked as rows). */
export function groupQueries(g: GraphBuilder, query: string, spec: ModelSpec): string {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = spec;
  const G = H / Hkv;
  return g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [query, g.constI64([0, Hkv, G, D])])], { perm: [1, 2, 0, 3] }), g.constI64([Hkv, -1, D])]);
}
