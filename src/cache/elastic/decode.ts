/**
 * Elastic-Cache's decoding loop (the official `generate_with_elastic_cache`, LLaDA path; see
 * graph.ts for the forward and ALGORITHM.md beside the reference fixtures for the citations): no
 * blocks and no step count. Each iteration queries the tracked tokens, the tokens decoded in the
 * last iteration and a window of the first still-masked positions, and decodes window positions by
 * confidence (threshold, or a fixed count per iteration); the first EOS decoded drops every masked
 * position after it. The loop ends when nothing is left to decode.
 *
 * Dream (GQA; beyond the official code, whose drift test cannot run grouped heads): its logits at a
 * position predict the next one, so a window position is decoded from its predecessor's row, which
 * each iteration adds to the queried rows when it is not there already; with a token filter the last
 * prompt row is always kept (it decodes the first generated position). Confidence is the softmax
 * probability of the argmax, as for LLaDA (Dream's maskgit_plus rule at temperature 0).
 *
 * Reference behaviours kept as they are (ALGORITHM.md, Quirks): a position whose argmax is the mask
 * id counts as decoded and keeps the mask id; positions dropped by the EOS cut-off stay masked in
 * the output; a drift at the last layer sets start_reset = L and recomputes nothing.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../../errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { timedRun } from '../../model/runtime.js';
import type { TokenFilter } from '../../filter/token-filter.js';
import { ElasticNames as N } from './graph.js';
import { type ElasticKeptRows, type HeadsFirst, gatherRows, headsFirstJs, sharedPromptRows } from './compact.js';

export interface ElasticOptions {
  readonly genLength: number;
  /** The first `window` still-masked positions are the decode candidates. */
  readonly window: number;
  /** Decode every candidate at or above this confidence (at least the best one); null: `tokensPerIter` a step. */
  readonly threshold: number | null;
  readonly tokensPerIter: number;
  /** Refresh the layers above one whose tracked tokens' attention similarity falls below gamma. */
  readonly gamma: number;
  /** Tracked (most attended) tokens per layer. */
  readonly trackNum: number;
  /** true: only the window's masks are queried; false: every mask is queried, the first `window` decoded. */
  readonly blockCaching: boolean;
  /** The first decoded EOS drops every masked position after it; null: no cut-off. */
  readonly eosId: number | null;
  /**
   * Prompt rows keep the first forward's state: refreshes and reuse steps recompute only the
   * generation rows (graph.ts, frozen rows). Default: on when a token filter cut the caches (the
   * first forward saw the whole prompt, a recomputation would see only the kept rows), else off
   * (the reference).
   */
  readonly freezePrompt?: boolean;
  /** With a filter: the union of its heads' rows (default) or the budget's most-kept rows (compact.ts). */
  readonly keptRows?: ElasticKeptRows;
}

/** After every iteration: what was decoded, and whether layers were refreshed. */
export interface ElasticStepEvent {
  readonly nfe: number;
  /** Positions decoded by this iteration. */
  readonly decoded: readonly number[];
  /** Generated positions no longer masked (decoded, or dropped by the EOS cut-off) */
  readonly done: number;
  readonly genLength: number;
  /** The first recomputed layer when a drift refreshed layers this iteration, else null. */
  readonly refreshFrom: number | null;
  /** A live view of the sequence: copy it if you keep it. */
  readonly canvas: Int32Array;
}

/** Hooks of one Elastic generation. */
export interface ElasticHooks {
  readonly signal?: AbortSignal;
  readonly onStep?: (e: ElasticStepEvent) => void;
  /** A token filter: after the first forward the caches keep only the prompt rows it selects (compact.ts). */
  readonly filter?: TokenFilter | null;
  /** The filter's K/V layout change (default: in JavaScript; ElasticProgram passes an ORT session's). */
  readonly headsFirst?: HeadsFirst;
}

/** What a token filter kept (ElasticResult.filter). */
export interface ElasticKept {
  /** Prompt positions the caches kept after the first forward, ascending. */
  readonly positions: readonly number[];
  /** Milliseconds the selection took (the filter's runs and the shared set). */
  readonly selectMs: number;
}

export interface ElasticRefresh {
  /** Forward index (0 is the first, full forward). */
  readonly step: number;
  /** Layers fromLayer..L-1 were recomputed over the whole sequence (the drift was at fromLayer - 1). */
  readonly fromLayer: number;
}

export interface ElasticResult {
  readonly outputIds: number[];
  readonly promptLength: number;
  readonly nfe: number;
  /** Computed layers over iterations x layers, as the official code counts it (the first forward counts L + 1). */
  readonly computedRatio: number;
  readonly refreshes: readonly ElasticRefresh[];
  /** Every (step, layer) whose drift similarity fell below gamma, last-layer ones included. */
  readonly driftTriggers: readonly { readonly step: number; readonly layer: number }[];
  /** Positions never decoded (the EOS cut-off), left as the mask id. */
  readonly masksLeft: number;
  /** The token filter's kept prompt rows, or null without a filter (or when its budget kept every row). */
  readonly filter: ElasticKept | null;
  readonly timings: { readonly totalMs: number; readonly ortMs: number; readonly tokensPerSecond: number };
}

const i64 = (xs: readonly number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(xs, BigInt), [xs.length]);
const scalarI64 = (x: number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.of(BigInt(x)), []);

/** Float64 softmax confidence of each row's argmax (the first maximal logit), as the reference scores it. */
function rowConfidences(logits: Float32Array, rows: number, V: number): { token: number[]; p: number[] } {
  const token: number[] = [];
  const p: number[] = [];
  for (let r = 0; r < rows; r++) {
    const off = r * V;
    let best = 0;
    for (let v = 1; v < V; v++) if ((logits[off + v] as number) > (logits[off + best] as number)) best = v;
    const max = logits[off + best] as number;
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp((logits[off + v] as number) - max);
    token.push(best);
    p.push(1 / sum);
  }
  return { token, p };
}

export function checkElasticOptions(o: ElasticOptions, spec: ModelSpec): void {
  const int = (v: number, min: number): boolean => Number.isSafeInteger(v) && v >= min;
  const bad = (option: string, expected: string, found: unknown): never => {
    throw new WavefilterError('invalid_option', `${option}: expected ${expected}, found ${JSON.stringify(found)}`, { option });
  };
  if (!int(o.genLength, 1)) bad('genLength', 'a positive integer', o.genLength);
  if (!int(o.window, 1)) bad('window', 'a positive integer', o.window);
  if (o.threshold !== null && !(o.threshold > 0 && o.threshold <= 1)) bad('threshold', 'a confidence in (0, 1]', o.threshold);
  if (!int(o.tokensPerIter, 1)) bad('tokensPerIter', 'a positive integer', o.tokensPerIter);
  if (!(Number.isFinite(o.gamma) && o.gamma >= -1 && o.gamma <= 1)) bad('gamma', 'a cosine similarity in [-1, 1]', o.gamma);
  if (!int(o.trackNum, 1)) bad('trackNum', 'a positive integer', o.trackNum);
  if (o.eosId !== null && !(int(o.eosId, 0) && o.eosId < spec.vocabSize)) bad('eosId', `a token id below ${spec.vocabSize}`, o.eosId);
}

/** Generates with Elastic-Cache on a session of buildElasticGraph. */
export async function generateElastic(session: ort.InferenceSession, spec: ModelSpec, promptIds: readonly number[], o: ElasticOptions, hooks: ElasticHooks = {}): Promise<ElasticResult> {
  const { signal } = hooks;
  checkElasticOptions(o, spec);
  const t0 = performance.now();
  const P = promptIds.length;
  const T = P + o.genLength;
  const L = spec.nLayers;
  const mask = spec.maskTokenId;
  const shift = spec.family === 'dream' ? 1 : 0; // Dream decodes position p from the logits of p - 1
  const x = Int32Array.from({ length: T }, (_, i) => (i < P ? (promptIds[i] as number) : mask));
  let masked = Array.from({ length: o.genLength }, (_, i) => P + i);
  let track: number[] = [];
  let newDecoded: number[] = [];
  // per layer: x, q, k, v for every position (row widths below); empty until the first forward
  const widths = [spec.dModel, spec.nHeads * spec.headDim, spec.nKvHeads * spec.headDim, spec.nKvHeads * spec.headDim];
  const dimsOf = (rows: number): number[][] => [[rows, spec.dModel], [rows, spec.nHeads, spec.headDim], [rows, spec.nKvHeads, spec.headDim], [rows, spec.nKvHeads, spec.headDim]];
  const inNames = [N.xCache, N.qCache, N.kCache, N.vCache];
  const outNames = [N.xOut, N.qOut, N.kOut, N.vOut];
  const caches: Float32Array[][] = Array.from({ length: L }, () => widths.map(() => new Float32Array(0)));
  // the caches' rows: every position until a token filter compacts them after the first forward
  let rows: number[] = Array.from({ length: T }, (_, p) => p);
  let rowOf: Int32Array = Int32Array.from(rows);
  let kept: ElasticKept | null = null;
  const refreshes: ElasticRefresh[] = [];
  const driftTriggers: { step: number; layer: number }[] = [];
  let nfe = 0;
  let ortMs = 0;
  let decodedEos = false;
  let numComputed = 0;
  let totalComputed = 0;
  for (let i = 0; ; i++) {
    if (signal?.aborted) throw new WavefilterError('aborted', 'generation aborted', {});
    const queried = o.blockCaching ? masked.slice(0, o.window) : masked;
    // Dream's logits at a position predict the next one: each window position is decoded from its
    // predecessor's row, which the query list must then hold (before the window, whose rows the
    // tracked-token choice reads as the last ones)
    const source = (p: number): number => p - shift;
    let query: number[];
    if (i === 0) query = Array.from({ length: T }, (_, p) => p);
    else {
      const head = [...track, ...newDecoded];
      const have = new Set([...head, ...queried]);
      const extra = shift ? [...new Set(queried.map(source).filter((p) => !have.has(p)))] : [];
      query = [...head, ...extra, ...queried];
    }
    const queryIndex = new Map<number, number>();
    query.forEach((p, r) => queryIndex.has(p) || queryIndex.set(p, r));
    const Tc = rows.length;
    const maskedFlags = new Uint8Array(Tc);
    for (const p of masked) maskedFlags[rowOf[p] as number] = 1;
    const row = (p: number): number => rowOf[p] as number;
    const frozenFlags = new Uint8Array(Tc);
    if (i > 0 && (o.freezePrompt ?? kept !== null)) rows.forEach((p, r) => (frozenFlags[r] = p < P ? 1 : 0));
    const feeds: Record<string, ort.Tensor> = {
      [N.queryIds]: i64(query.map((p) => x[p] as number)),
      [N.queryPos]: i64(query.map(row)),
      [N.rowPos]: i64(rows),
      [N.frozen]: new ort.Tensor('bool', frozenFlags, [Tc]),
      [N.nTrack]: scalarI64(i === 0 ? 0 : track.length),
      [N.windowPos]: i64(queried.map(row)),
      [N.logitRows]: i64(queried.map((p) => row(source(p)))),
      [N.logitQuery]: i64(queried.map((p) => queryIndex.get(source(p)) as number)),
      [N.masked]: new ort.Tensor('bool', maskedFlags, [Tc]),
      [N.startReset]: scalarI64(i === 0 ? -1 : L),
      [N.gamma]: new ort.Tensor('float32', Float32Array.of(o.gamma), []),
      [N.trackNum]: scalarI64(o.trackNum),
    };
    caches.forEach((layer, l) => {
      const n = i === 0 ? 0 : Tc;
      layer.forEach((data, c) => (feeds[(inNames[c] as (l: number) => string)(l)] = new ort.Tensor('float32', data, dimsOf(n)[c])));
    });
    const { out, ortMs: ms } = await timedRun(session, feeds, 'elastic step');
    ortMs += ms;
    const reset = Number((out[N.startResetOut] as ort.Tensor).data[0]);
    // a refreshed layer returns every row (the new cache); a reused one its query rows, written in here
    caches.forEach((layer, l) => {
      const refreshed = i === 0 || l >= reset;
      layer.forEach((data, c) => {
        const t = out[(outNames[c] as (l: number) => string)(l)] as ort.Tensor;
        const w = widths[c] as number;
        const got = t.data as Float32Array;
        if (refreshed) {
          if (got.length !== Tc * w) throw new WavefilterError('runtime_error', `elastic step: layer ${l} refreshed ${got.length / w} rows, expected ${Tc}`);
          layer[c] = got;
          return;
        }
        query.forEach((p, r) => data.set(got.subarray(r * w, (r + 1) * w), row(p) * w));
      });
    });
    if (i > 0 && reset < L) refreshes.push({ step: i, fromLayer: reset });
    const sims = (out[N.sims] as ort.Tensor).data as Float32Array;
    sims.forEach((s, l) => {
      if (s < Math.fround(o.gamma)) driftTriggers.push({ step: i, layer: l });
    });
    // the tracked tokens: every layer's, first occurrences in layer order
    track = [...new Set(Array.from((out[N.track] as ort.Tensor).data as BigInt64Array, (r) => rows[Number(r)] as number))];

    const candidates = queried.slice(0, o.window);
    const logits = (out[N.logits] as ort.Tensor).data as Float32Array;
    const { token, p } = rowConfidences(logits, candidates.length, spec.vocabSize);
    let keep: number[];
    if (o.threshold !== null) {
      const bar = Math.min(o.threshold, Math.max(...p));
      keep = candidates.map((_, r) => r).filter((r) => (p[r] as number) >= bar);
    } else {
      // the k most confident (ties: the earlier row, as a stable sort)
      keep = candidates.map((_, r) => r).sort((a, b) => (p[b] as number) - (p[a] as number) || a - b).slice(0, Math.min(o.tokensPerIter, candidates.length));
    }
    newDecoded = keep.map((r) => candidates[r] as number);
    keep.forEach((r) => (x[candidates[r] as number] = token[r] as number));
    const decodedSet = new Set(newDecoded);
    masked = masked.filter((q) => !decodedSet.has(q));
    nfe++;
    if (!decodedEos && o.eosId !== null) {
      const eos = keep.filter((r) => token[r] === o.eosId).map((r) => candidates[r] as number);
      if (eos.length) {
        const first = Math.min(...eos);
        decodedEos = true;
        masked = masked.filter((q) => q <= first);
      }
    }
    numComputed += L - (i === 0 ? -1 : reset);
    totalComputed += L;
    if (i === 0 && hooks.filter && masked.length > 0) {
      const c = await compactCaches(hooks.filter, spec, caches, P, T, masked.slice(0, o.window), track, hooks.headsFirst ?? headsFirstJs, o.keptRows ?? 'union');
      if (c) {
        rows = c.rows;
        rowOf = new Int32Array(T).fill(-1);
        rows.forEach((p, r) => (rowOf[p] = r));
        kept = c.kept;
      }
    }
    hooks.onStep?.({ nfe, decoded: newDecoded, done: o.genLength - masked.length, genLength: o.genLength, refreshFrom: i > 0 && reset < L ? reset : null, canvas: x });
    if (masked.length === 0) break;
  }
  return elasticResult(x, P, mask, t0, ortMs, { nfe, computedRatio: numComputed / totalComputed, refreshes, driftTriggers, filter: kept });
}

/** The result of a generation whose final sequence is `x` (both executors): masks left, and tokens/s up to the first mask. */
export function elasticResult(x: Int32Array, P: number, mask: number, t0: number, ortMs: number, r: Pick<ElasticResult, 'nfe' | 'computedRatio' | 'refreshes' | 'driftTriggers' | 'filter'>): ElasticResult {
  const totalMs = performance.now() - t0;
  const generated = Array.from(x.subarray(P));
  const settled = generated.findIndex((t) => t === mask);
  return {
    ...r, outputIds: Array.from(x), promptLength: P, masksLeft: generated.filter((t) => t === mask).length,
    timings: { totalMs, ortMs, tokensPerSecond: totalMs > 0 ? ((settled < 0 ? generated.length : settled) * 1000) / totalMs : 0 },
  };
}

/**
 * The filter's selection over the first forward's caches, and the caches cut to the shared kept
 * prompt rows plus every generation row (compact.ts); null when the filter keeps every row.
 * `track`: Elastic-Cache's tracked tokens, kept whatever the filter scores.
 */
export async function compactCaches(f: TokenFilter, spec: ModelSpec, caches: Float32Array[][], P: number, T: number, window: readonly number[], track: readonly number[], layout: HeadsFirst, mode: ElasticKeptRows): Promise<{ rows: number[]; kept: ElasticKept } | null> {
  const t0 = performance.now();
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = spec;
  const queriesAt = (q: Float32Array, at: readonly number[]): Float32Array => gatherRows(q, H * D, at);
  const kv = await layout([...caches.map((c) => c[2] as Float32Array), ...caches.map((c) => c[3] as Float32Array)], T, Hkv, D);
  const sel = await f.select({
    keys: kv.slice(0, caches.length),
    values: kv.slice(caches.length),
    canvasLength: T,
    promptLength: P,
    blockQueries: f.needsBlockQueries ? caches.map((c) => queriesAt(c[1] as Float32Array, window)) : null,
    windowQueries: f.windowQueries > 0 ? caches.map((c) => queriesAt(c[1] as Float32Array, Array.from({ length: Math.min(P, f.windowQueries) }, (_, j) => P - Math.min(P, f.windowQueries) + j))) : null,
  });
  if (!sel) return null;
  // the tracked tokens stay (the drift test queries them); on Dream the last prompt row too: it
  // decodes the first generated position (shifted logits)
  const prompt = sharedPromptRows(sel, P, Hkv, spec.family === 'dream' ? [...track, P - 1] : track, mode);
  if (prompt.length >= P) return null;
  const rows = [...prompt, ...Array.from({ length: T - P }, (_, j) => P + j)];
  const widths = [spec.dModel, H * D, Hkv * D, Hkv * D];
  for (const layer of caches) layer.forEach((data, c) => (layer[c] = gatherRows(data, widths[c] as number, rows)));
  return { rows, kept: { positions: prompt, selectMs: performance.now() - t0 } };
}
