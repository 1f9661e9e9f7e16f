/**
 * Elastic-Cache on the block program (loop-graph.ts): one ORT run for a whole generation, or two
 * with a token filter (the first forward; the filter cuts the caches in JavaScript, compact.ts;
 * then every other iteration). Same options, result and events as decode.ts's step loop, which the
 * tests hold it to token for token; the events are replayed from the run's per-iteration outputs
 * once it returns (nothing crosses to JavaScript inside a run), and an abort takes effect between
 * runs.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../../errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { timedRun } from '../../model/runtime.js';
import { ElasticLoopNames as N, type ElasticLoopVariant } from './loop-graph.js';
import { type ElasticHooks, type ElasticKept, type ElasticOptions, type ElasticRefresh, type ElasticResult, checkElasticOptions, compactCaches, elasticResult } from './decode.js';
import { headsFirstJs } from './compact.js';

const i64 = (xs: ArrayLike<number>): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(Array.from(xs), BigInt), [xs.length]);
const scalarI64 = (x: number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.of(BigInt(x)), []);
const bool = (xs: Uint8Array): ort.Tensor => new ort.Tensor('bool', xs, [xs.length]);
const nums = (t: ort.Tensor | undefined): number[] => Array.from(t?.data as BigInt64Array, Number);

export const elasticLoopVariant = (o: ElasticOptions): ElasticLoopVariant => ({ rule: o.threshold !== null ? 'threshold' : 'count', blockCaching: o.blockCaching });

/** One iteration as the run reports it. */
interface Iteration {
  readonly reset: number;
  readonly sims: Float32Array;
  /** cache rows decoded */
  readonly decoded: number[];
  readonly left: number;
}

/** Generates with Elastic-Cache on a session of buildElasticLoopGraph(spec, w, elasticLoopVariant(o)). */
export async function generateElasticLoop(session: ort.InferenceSession, spec: ModelSpec, promptIds: readonly number[], o: ElasticOptions, hooks: ElasticHooks = {}): Promise<ElasticResult> {
  checkElasticOptions(o, spec);
  const aborted = (): void => {
    if (hooks.signal?.aborted) throw new WavefilterError('aborted', 'generation aborted', {});
  };
  aborted();
  const t0 = performance.now();
  const P = promptIds.length;
  const G = o.genLength;
  const T = P + G;
  const L = spec.nLayers;
  const { dModel: d, nHeads: H, nKvHeads: Hkv, headDim: D } = spec;
  const x = Int32Array.from({ length: T }, (_, i) => (i < P ? (promptIds[i] as number) : spec.maskTokenId));
  const widths = [d, H * D, Hkv * D, Hkv * D];
  const dims = (rows: number): number[][] => [[rows, d], [rows, H, D], [rows, Hkv, D], [rows, Hkv, D]];
  const cacheIn = [N.xCache, N.qCache, N.kCache, N.vCache];
  const cacheOut = [N.xOut, N.qOut, N.kOut, N.vOut];
  const fixed: Record<string, ort.Tensor> = {
    [N.gamma]: new ort.Tensor('float32', Float32Array.of(o.gamma), []),
    [N.trackNum]: scalarI64(o.trackNum),
    [N.window]: scalarI64(o.window),
    [N.eosId]: scalarI64(o.eosId ?? -1),
    ...(o.threshold !== null ? { [N.threshold]: new ort.Tensor('float64', Float64Array.of(o.threshold), []) } : { [N.tokensPerIter]: scalarI64(o.tokensPerIter) }),
  };
  const scans = [N.resets, N.simsOut, N.decoded, N.maskedLeft];
  let ortMs = 0;
  const iterations: Iteration[] = [];
  const collect = (out: ort.InferenceSession.OnnxValueMapType): void => {
    const resets = nums(out[N.resets]);
    const sims = out[N.simsOut]?.data as Float32Array;
    const decoded = nums(out[N.decoded]);
    const left = nums(out[N.maskedLeft]);
    const W = resets.length ? decoded.length / resets.length : 0;
    resets.forEach((reset, k) =>
      iterations.push({ reset, sims: sims.subarray(k * L, (k + 1) * L), decoded: decoded.slice(k * W, (k + 1) * W).filter((r) => r >= 0), left: left[k] as number }));
  };

  // the first run: every iteration (no filter), or the first forward alone (a filter cuts the caches after it)
  const everyRow = Array.from({ length: T }, (_, p) => p);
  let rows = everyRow;
  const freezeAll = (on: boolean): Uint8Array => Uint8Array.from(rows, (p) => (on && p < P ? 1 : 0));
  const state = (caches: Float32Array[][], masked: Uint8Array, eosDone: boolean, track: number[], newDecoded: number[], firstIter: number, frozen: Uint8Array): Record<string, ort.Tensor> => {
    const feeds: Record<string, ort.Tensor> = {
      ...fixed,
      [N.ids]: i64(Array.from(rows, (p) => x[p] as number)),
      [N.masked]: bool(masked),
      [N.eosDone]: new ort.Tensor('bool', Uint8Array.of(eosDone ? 1 : 0), []),
      [N.trackIn]: i64(track),
      [N.newDecoded]: i64(newDecoded),
      [N.rowPos]: i64(rows),
      [N.frozen]: bool(frozen),
      [N.firstIter]: scalarI64(firstIter),
      [N.maxIters]: scalarI64(G),
    };
    caches.forEach((layer, l) => layer.forEach((data, c) => (feeds[(cacheIn[c] as (l: number) => string)(l)] = new ort.Tensor('float32', data, dims(data.length / (widths[c] as number))[c]))));
    return feeds;
  };
  const empty = Array.from({ length: L }, () => widths.map(() => new Float32Array(0)));
  const initialMasked = Uint8Array.from(rows, (p) => (p >= P ? 1 : 0));
  const writeIds = (out: ort.InferenceSession.OnnxValueMapType): void => nums(out[N.idsOut]).forEach((t, r) => (x[rows[r] as number] = t));
  let kept: ElasticKept | null = null;
  if (!hooks.filter) {
    const feeds = state(empty, initialMasked, false, [], [], 0, freezeAll(o.freezePrompt ?? false));
    const { out, ortMs: ms } = await timedRun(session, feeds, 'elastic loop', [N.idsOut, ...scans]);
    ortMs += ms;
    writeIds(out);
    collect(out);
  } else {
    const first = state(empty, initialMasked, false, [], [], 0, freezeAll(false));
    first[N.maxIters] = scalarI64(1);
    const all = [N.idsOut, N.maskedOut, N.eosDoneOut, N.trackOut, N.newDecodedOut, ...scans, ...Array.from({ length: L }, (_, l) => cacheOut.map((n) => n(l))).flat()];
    const r1 = await timedRun(session, first, 'elastic first forward', all);
    ortMs += r1.ortMs;
    const out = r1.out;
    writeIds(out);
    collect(out);
    const maskedFlags = out[N.maskedOut]?.data as Uint8Array;
    const caches = Array.from({ length: L }, (_, l) => cacheOut.map((n) => out[n(l)]?.data as Float32Array));
    const masked = rows.filter((_, r) => maskedFlags[r]);
    const track = nums(out[N.trackOut]);
    const newDecoded = nums(out[N.newDecodedOut]);
    const eosDone = Boolean((out[N.eosDoneOut]?.data as Uint8Array)[0]);
    if (masked.length > 0) {
      aborted();
      const c = await compactCaches(hooks.filter, spec, caches, P, T, masked.slice(0, o.window), track, hooks.headsFirst ?? headsFirstJs, o.keptRows ?? 'union');
      const before = rows;
      if (c) {
        rows = c.rows;
        kept = c.kept;
      }
      const rowOf = new Map(rows.map((p, r) => [p, r]));
      const toRows = (ps: number[]): number[] => ps.map((p) => rowOf.get(before[p] as number) as number);
      const stillMasked = new Set(masked);
      const flags = Uint8Array.from(rows, (p) => (stillMasked.has(p) ? 1 : 0));
      const feeds = state(caches, flags, eosDone, toRows(track), toRows(newDecoded), 1, freezeAll(o.freezePrompt ?? kept !== null));
      feeds[N.maxIters] = scalarI64(G - 1);
      const r2 = await timedRun(session, feeds, 'elastic loop', [N.idsOut, ...scans]);
      ortMs += r2.ortMs;
      writeIds(r2.out);
      collect(r2.out);
    }
  }
  const lastLeft = iterations.at(-1)?.left ?? 0;
  if (lastLeft > 0) throw new WavefilterError('runtime_error', `elastic loop: ${lastLeft} positions still masked after ${iterations.length} iterations (at most ${G})`);

  // the result and the events, from the per-iteration outputs (decode.ts's bookkeeping)
  const refreshes: ElasticRefresh[] = [];
  const driftTriggers: { step: number; layer: number }[] = [];
  let numComputed = 0;
  const canvas = Int32Array.from(x).fill(spec.maskTokenId, P);
  iterations.forEach((it, k) => {
    if (k > 0 && it.reset < L) refreshes.push({ step: k, fromLayer: it.reset });
    it.sims.forEach((s, l) => {
      if (s < Math.fround(o.gamma)) driftTriggers.push({ step: k, layer: l });
    });
    numComputed += L - (k === 0 ? -1 : it.reset);
    if (!hooks.onStep) return;
    // (the first forward's rows are every position; a filter's cut changes them after it)
    const at = k === 0 ? everyRow : rows;
    const decoded = it.decoded.map((r) => at[r] as number);
    for (const p of decoded) canvas[p] = x[p] as number;
    hooks.onStep({ nfe: k + 1, decoded, done: G - it.left, genLength: G, refreshFrom: k > 0 && it.reset < L ? it.reset : null, canvas });
  });
  return elasticResult(x, P, spec.maskTokenId, t0, ortMs, { nfe: iterations.length, computedRatio: numComputed / (L * iterations.length), refreshes, driftTriggers, filter: kept });
}
