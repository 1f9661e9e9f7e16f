/**
 * A token filter on Elastic-Cache: which prompt rows its caches keep after the first forward.
 *
 * Elastic-Cache recomputes layers l+1..L-1 over every cached row from the x cache of layer l, so a
 * row must exist in every layer for that refresh to compute it: the kept set is one set of prompt
 * positions for all layers and heads (a block host, which never recomputes from a middle layer,
 * lets each layer and KV head keep its own rows). The filter selects as it does on a block host
 * (per layer and KV head, from the first forward's keys and the window's queries, at its budget);
 * the shared set is then (ElasticKeptRows):
 *   'union' (default): every row some layer's head kept. Each head has its budget's rows, as on a
 *           block host; the set is larger than one head's budget (it depends on how much the heads
 *           agree).
 *   'top':  the budget's count of positions most (layer, head) selections kept, ties broken by how
 *           many layers kept them and then by the earlier position: the same row count for every
 *           filter, but a row only a few retrieval heads want loses to rows many heads agree on
 *           (RULER at 4K on the bundled model, WaveFilter practical at 0.1: 53.7 with 'top', 69.6
 *           with 'union', against 79.2 for Elastic-Cache alone; reports/ruler-elastic/README.md).
 * The tracked tokens the first forward chose (at most layers x track_num, the same for every
 * filter, since the first forward is) are kept on top: the drift test queries them at every step.
 *
 * The choice is made once, after the first forward: it is the only pass over the whole prompt
 * (later refreshes recompute the kept rows only), the same moment a block host's 'first-block'
 * refresh selects at. Schedules that re-select every step ('every-step', 'on-drift') select once
 * here. */
import ort from 'onnxruntime-node';
import { DT, GraphBuilder, encodeModel } from '../../model/onnx-builder.js';
import type { Selection } from '../../filter/token-filter.js';

/** How a filter's per-layer, per-head selections become one kept set (see above). */
export type ElasticKeptRows = 'union' | 'top';

/**
 * The kept prompt positions, ascending: every position some (layer, head) kept ('union'), or as
 * many as the filter's budget (the most rows one of its heads kept) of the positions most kept
 * across them ('top'); plus `must` (Elastic-Cache's tracked tokens).
 */
export function sharedPromptRows(sel: Pick<Selection, 'tokens' | 'promptRows'>, promptLength: number, kvHeads: number, must: readonly number[] = [], mode: ElasticKeptRows = 'union'): number[] {
  const votes = new Int32Array(promptLength);
  const layers = new Int32Array(promptLength);
  let budget = 0;
  sel.tokens.forEach((tok, l) => {
    const T = sel.promptRows[l] as number;
    const seen = new Uint8Array(promptLength);
    for (let h = 0; h < kvHeads; h++) {
      let kept = 0;
      for (let t = 0; t < T; t++) {
        const p = Number(tok[h * T + t]);
        if (p < 0 || p >= promptLength) continue;
        kept++;
        votes[p]++;
        if (!seen[p]) {
          seen[p] = 1;
          layers[p]++;
        }
      }
      budget = Math.max(budget, kept);
    }
  });
  const order = Array.from({ length: promptLength }, (_, p) => p).filter((p) => votes[p] > 0);
  order.sort((a, b) => votes[b] - votes[a] || layers[b] - layers[a] || a - b);
  const kept = new Set(mode === 'union' ? order : order.slice(0, budget));
  for (const p of must) if (Number.isInteger(p) && p >= 0 && p < promptLength) kept.add(p);
  return [...kept].sort((a, b) => a - b);
}

/** rows[r] of a [n, width] row-major array, in order: [rows.length, width]. */
export function gatherRows(data: Float32Array, width: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((p, r) => out.set(data.subarray(p * width, (p + 1) * width), r * width));
  return out;
}

/** Turns caches [T, heads, D] into [heads, T, D], the layout a SelectionRequest's keys and values take. */
export type HeadsFirst = (xs: readonly Float32Array[], T: number, heads: number, D: number) => Promise<Float32Array[]>;

/** HeadsFirst in JavaScript (for callers without the session below; slow at long prompts). */
export const headsFirstJs: HeadsFirst = async (xs, T, heads, D) => xs.map((x) => headsFirst(x, T, heads, D));

/**
 * HeadsFirst as one ORT run over every given cache (a Transpose each): the JavaScript loop is one
 * typed-array copy per (row, head), which at long prompts was a large part of a selection's cost.
 */
export async function headsFirstSession(n: number, threads?: number): Promise<{ run: HeadsFirst; release(): Promise<void> }> {
  const g = new GraphBuilder();
  for (let i = 0; i < n; i++) {
    g.op('Transpose', [g.input(`x.${i}`, DT.FLOAT, ['T', 'H', 'D'])], { perm: [1, 0, 2] }, { name: `y.${i}` });
    g.output(`y.${i}`, DT.FLOAT, ['H', 'T', 'D']);
  }
  const session = await ort.InferenceSession.create(encodeModel(g.graph('heads_first')), { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads } : {}) });
  return {
    run: async (xs, T, heads, D) => {
      if (xs.length !== n) throw new Error(`heads-first session: ${xs.length} inputs, built for ${n}`);
      const out = await session.run(Object.fromEntries(xs.map((x, i) => [`x.${i}`, new ort.Tensor('float32', x, [T, heads, D])])));
      return xs.map((_, i) => out[`y.${i}`]?.data as Float32Array);
    },
    release: () => session.release(),
  };
}

/** [T, heads, D] -> [heads, T, D] (the layout a SelectionRequest's keys and values take). */
export function headsFirst(data: Float32Array, T: number, heads: number, D: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < heads; h++) out.set(data.subarray((t * heads + h) * D, (t * heads + h + 1) * D), (h * T + t) * D);
  return out;
}
