/**
 * One forward over several requests at once (model/graph.ts, the batched variant). The
 * projections, norms and logits run over every request's query rows side by side (packed: no
 * padding, so a request costs the rows it has); attention runs per request on a padded view
 * [B, Hkv, rows, D], against that request's own cache, so no request attends to another's rows or
 * pays for them beyond its padding. Each request keeps its own positions (RoPE), cache and bias,
 * so a batched forward computes for each request what its own forward would, up to float rounding.
 *
 * Why not one long packed sequence with a block-diagonal mask: its attention scores every row
 * against every request's rows, B times the work (the prototype of reports/batching-prototype
 * did that, and ran slower than one request at a time). Padding only the attention keeps the
 * waste to the difference in lengths.
 */
import ort from 'onnxruntime-node';
import { GraphNames as N, buildForwardGraph } from '../model/graph.js';
import { type ForwardRequest, type ForwardResult, type PastKV, type RowStats, type RuntimeOptions, createModelSession, modelSessionOptions, releaseSession, sessionError, timedRun, validateWeights } from '../model/runtime.js';
import type { ModelSpec, WeightStore } from '../model/spec.js';
import { WavefilterError } from '../errors.js';

/** One request of a pack: its forward, and whether it reads the logits rows (else only their float64 summaries). */
export interface PackedRequest {
  readonly req: ForwardRequest;
  readonly wantsLogits: boolean;
}

interface PackedPast {
  /** The members' pasts this pack was built from (identity: a host hands the same object while its cache is unchanged). */
  readonly from: readonly (PastKV | null)[];
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  readonly bias: Float32Array[];
  /** Tcm per layer */
  readonly rows: number[];
}

export class PackedForward {
  private runCount = 0;
  private last: PackedPast | null = null;

  private constructor(readonly spec: ModelSpec, private readonly session: ort.InferenceSession) {}

  /** session.run calls so far. */
  get runs(): number {
    return this.runCount;
  }

  static async create(spec: ModelSpec, store: WeightStore, opts: RuntimeOptions = {}): Promise<PackedForward> {
    validateWeights(spec, store);
    if ((opts.dtype ?? 'fp32') !== 'fp32')
      throw new WavefilterError('invalid_option', `dtype ${opts.dtype}: the batch executor runs in fp32 only (it packs the step executor's forwards); use dtype fp32`, { option: 'dtype' });
    try {
      return new PackedForward(spec, await createModelSession(store, modelSessionOptions(opts), (w) => buildForwardGraph(spec, w, { batch: true })));
    } catch (e) {
      throw sessionError(e, opts, 'the packed forward');
    }
  }

  /**
   * Runs the requests' forwards as one session.run; results in request order. `fused`: flash
   * attention, for a lone request without a past (a long refresh: the padded view would score T x T).
   */
  async run(pack: readonly PackedRequest[], fused = false): Promise<{ results: ForwardResult[]; ortMs: number }> {
    if (fused && (pack.length !== 1 || pack[0].req.past !== null)) throw new WavefilterError('runtime_error', 'a fused packed forward takes one request without a past');
    const { nLayers, nKvHeads: Hkv, headDim: D, nHeads: H, vocabSize: V } = this.spec;
    if (pack.length === 0) return { results: [], ortMs: 0 };
    const tqs = pack.map((p) => p.req.inputIds.length);
    const tq = tqs.reduce((a, b) => a + b, 0);
    const qOff = offsets(tqs);
    const ids = new BigInt64Array(tq);
    const pos = new BigInt64Array(tq);
    const nls = pack.map((p) => p.req.logitRows.length);
    const nqs = pack.map((p) => p.req.queryRows?.length ?? 0);
    const lOff = offsets(nls);
    const qrOff = offsets(nqs);
    const nl = lOff[pack.length];
    // ORT's reductions mishandle a [0, V] input (runtime.ts): a pack with no logits rows asks for row 0
    const logitRows = new BigInt64Array(Math.max(nl, 1));
    const queryRows = new BigInt64Array(qrOff[pack.length]);
    pack.forEach(({ req }, i) => {
      ids.set(req.inputIds, qOff[i]);
      pos.set(req.positions, qOff[i]);
      const shift = BigInt(qOff[i]);
      req.logitRows.forEach((r, j) => (logitRows[lOff[i] + j] = r + shift));
      req.queryRows?.forEach((r, j) => (queryRows[qrOff[i] + j] = r + shift));
    });
    // each request's padded query slots: its rows, then repeats of its first row, masked as keys
    const B = pack.length;
    const tqm = Math.max(...tqs);
    const slots = new BigInt64Array(B * tqm);
    const slotBias = new Float32Array(B * tqm);
    const rowSlot = new BigInt64Array(tq);
    for (let i = 0; i < B; i++) {
      for (let s = 0; s < tqm; s++) {
        slots[i * tqm + s] = BigInt(qOff[i] + (s < tqs[i] ? s : 0));
        if (s >= tqs[i]) slotBias[i * tqm + s] = -Infinity;
      }
      for (let s = 0; s < tqs[i]; s++) rowSlot[qOff[i] + s] = BigInt(i * tqm + s);
    }
    const past = this.packPast(pack.map((p) => p.req.past));
    const feeds: Record<string, ort.Tensor> = {
      [N.inputIds]: new ort.Tensor('int64', ids, [tq]),
      [N.positions]: new ort.Tensor('int64', pos, [tq]),
      [N.logitRows]: new ort.Tensor('int64', logitRows, [logitRows.length]),
      [N.queryRows]: new ort.Tensor('int64', queryRows, [queryRows.length]),
      [N.slots]: new ort.Tensor('int64', slots, [B, tqm]),
      [N.slotBias]: new ort.Tensor('float32', slotBias, [B, tqm]),
      [N.rowSlot]: new ort.Tensor('int64', rowSlot, [tq]),
      [N.fused]: new ort.Tensor('bool', Uint8Array.of(fused ? 1 : 0), []),
    };
    for (let l = 0; l < nLayers; l++) {
      const tc = past.rows[l];
      feeds[N.pastKey(l)] = new ort.Tensor('float32', past.keys[l], [B, Hkv, tc, D]);
      feeds[N.pastValue(l)] = new ort.Tensor('float32', past.values[l], [B, Hkv, tc, D]);
      feeds[N.pastBias(l)] = new ort.Tensor('float32', past.bias[l], [B, Hkv, tc]);
    }
    // the logits rows cross to JavaScript only when a member scores from them (a large vocabulary
    // makes them the biggest output); the float64 summaries always do
    const fetches: string[] = [N.topValues, N.topIds, N.logSumExp, N.negEntropy];
    if (pack.some((p) => p.wantsLogits)) fetches.push(N.logits);
    for (let l = 0; l < nLayers; l++) fetches.push(N.presentKey(l), N.presentValue(l), N.query(l));
    this.runCount++;
    const { out, ortMs } = await timedRun(this.session, feeds, 'packed forward', fetches);
    const logits = out[N.logits]?.data as Float32Array | undefined;
    const topValues = out[N.topValues].data as Float64Array;
    const topIds = out[N.topIds].data as BigInt64Array;
    const lse = out[N.logSumExp].data as Float64Array;
    const negEntropy = out[N.negEntropy].data as Float64Array;
    const presentK = Array.from({ length: nLayers }, (_, l) => out[N.presentKey(l)].data as Float32Array);
    const presentV = Array.from({ length: nLayers }, (_, l) => out[N.presentValue(l)].data as Float32Array);
    const queries = Array.from({ length: nLayers }, (_, l) => out[N.query(l)].data as Float32Array);
    const results = pack.map((p, i): ForwardResult => {
      const [a, b] = [lOff[i], lOff[i + 1]];
      const stats: RowStats = {
        topValues: topValues.subarray(2 * a, 2 * b), topIds: topIds.subarray(2 * a, 2 * b),
        logSumExp: lse.subarray(a, b), negEntropy: negEntropy.subarray(a, b),
      };
      const rows = (x: Float32Array[]): Float32Array[] => x.map((q) => q.subarray(qrOff[i] * H * D, qrOff[i + 1] * H * D));
      // a member's K/V [Hkv, tq_i, D] are a strided part of [Hkv, tq, D]: copied out only when its host reads them (a refresh)
      let k: Float32Array[] | null = null;
      let v: Float32Array[] | null = null;
      return {
        logits: p.wantsLogits && logits ? logits.subarray(a * V, b * V) : new Float32Array(0),
        stats,
        get keys() {
          return (k ??= presentK.map((x) => rowsOf(x, Hkv, tq, D, qOff[i], tqs[i])));
        },
        get values() {
          return (v ??= presentV.map((x) => rowsOf(x, Hkv, tq, D, qOff[i], tqs[i])));
        },
        queries: rows(queries),
        ortMs,
      };
    });
    return { results, ortMs };
  }

  /**
   * The members' pasts, per layer [B, Hkv, Tcm, D] with Tcm the longest (at least 1: a request
   * without a past, a refresh, has one padding row), padding rows' bias -inf. While every member
   * hands the same past object (a block's cached steps), the last one is reused.
   */
  private packPast(pasts: readonly (PastKV | null)[]): PackedPast {
    const last = this.last;
    if (last && last.from.length === pasts.length && last.from.every((p, i) => p === pasts[i])) return last;
    const { nLayers, nKvHeads: Hkv, headDim: D } = this.spec;
    const B = pasts.length;
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    const bias: Float32Array[] = [];
    const rows: number[] = [];
    for (let l = 0; l < nLayers; l++) {
      const tcm = Math.max(1, ...pasts.map((p) => p?.rows[l] ?? 0));
      const k = new Float32Array(B * Hkv * tcm * D);
      const v = new Float32Array(B * Hkv * tcm * D);
      const bs = new Float32Array(B * Hkv * tcm).fill(-Infinity);
      pasts.forEach((p, i) => {
        if (!p) return;
        const n = p.rows[l];
        for (let h = 0; h < Hkv; h++) {
          const at = (i * Hkv + h) * tcm;
          k.set(p.keys[l].subarray(h * n * D, (h + 1) * n * D), at * D);
          v.set(p.values[l].subarray(h * n * D, (h + 1) * n * D), at * D);
          bs.set(p.bias[l].subarray(h * n, (h + 1) * n), at);
        }
      });
      keys.push(k);
      values.push(v);
      bias.push(bs);
      rows.push(tcm);
    }
    this.last = { from: [...pasts], keys, values, bias, rows };
    return this.last;
  }

  async dispose(): Promise<void> {
    this.last = null;
    await releaseSession(this.session);
  }
}

/** [0, n0, n0 + n1, ...] */
function offsets(ns: readonly number[]): number[] {
  const o = [0];
  for (const n of ns) o.push(o[o.length - 1] + n);
  return o;
}

/** Rows [from, from + n) of each head of x [H, T, D], as a fresh [H, n, D]. */
function rowsOf(x: Float32Array, H: number, T: number, D: number, from: number, n: number): Float32Array {
  const y = new Float32Array(H * n * D);
  for (let h = 0; h < H; h++) y.set(x.subarray((h * T + from) * D, (h * T + from + n) * D), h * n * D);
  return y;
}
