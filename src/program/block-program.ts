/**
 * The block program's ORT session: feeds one block's canvas and controls, runs the whole block in
 * one session.run, and unpacks the committed ids and per-step statistics.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import { type RuntimeOptions, createModelSession, modelSessionOptions, releaseSession, sessionError, timedRun, validateWeights } from '../model/runtime.js';
import type { ModelSpec, WeightStore } from '../model/spec.js';
import { BlockNames as N, type ProgramFilter, type ProgramShape, buildBlockGraph } from './block-graph.js';
import { CONFIDENCE_KIND, RULE_KIND, RuleNames as R } from './decide-graph.js';
import { SampleNames as S } from './sample-graph.js';
import { readsWindowQueries } from '../filter/token-filter.js';

/** The decoding rule's controls (decide-graph.ts). */
export interface BlockRule {
  readonly confidence: keyof typeof CONFIDENCE_KIND;
  readonly kind: keyof typeof RULE_KIND;
  readonly threshold: number;
  readonly factor: number;
  /** Per forward index k: LLaDA's quota (ignored when quotaFromRatio). */
  readonly quota: readonly number[];
  /** Per forward index k: Dream's 1 - s/t in float32. */
  readonly quotaRatio: Float32Array;
  readonly quotaFromRatio: boolean;
  /** From this forward index on, the quota is every remaining mask. */
  readonly quotaAllFrom: number;
  /** The block's first forward commits position lo alone (Dream with a cache). */
  readonly firstOnly: boolean;
  /** Per forward index k: Dream origin's transfer probability (rule 'transfer'). */
  readonly pTransfer: Float64Array;
  /** Uniform draws for the random rules, read in order (empty for the deterministic ones). */
  readonly draws: Float64Array;
}

/** K/V kept from an earlier block's refresh, [Hkv, L, D] per layer, in the compute type (fp16 as raw halves). */
export interface KeptKv {
  readonly keys: readonly (Float32Array | Uint16Array)[];
  readonly values: readonly (Float32Array | Uint16Array)[];
  readonly rows: number;
}

export interface BlockRequest {
  readonly canvas: Int32Array;
  readonly lo: number;
  readonly hi: number;
  /** Query window of the steps after the first. */
  readonly window: readonly [number, number];
  /** First position the refresh recomputes; rows below come from `past`. */
  readonly refreshFrom: number;
  readonly past: KeptKv | null;
  /** Steps attend to the refreshed K/V (false: every step is a full forward). */
  readonly cached: boolean;
  /** Return the refreshed K/V (to serve a later block's `past`). */
  readonly keepKv: boolean;
  readonly rule: BlockRule;
  readonly maxSteps: number;
  readonly minForwards: number;
  /** With a filter program: its inputs for this run. */
  readonly selection?: SelectionFeeds;
  /** The guidance variant's inputs. */
  readonly cfg?: { readonly scale: number; readonly promptLength: number };
  /** The sampling variant's inputs (top_p 1 and top_k 0 are off). */
  readonly sample?: { readonly temperature: number; readonly topP: number; readonly topK: number };
}

/** A filtered run's inputs: the prompt length, the filter's controls, and what earlier runs kept. */
export interface SelectionFeeds {
  readonly promptLength: number;
  readonly controls: Record<string, ort.Tensor>;
  /** The previous selection's kept rows per layer [Hkv, T] (first-block refresh), or null. */
  readonly pastTokens: readonly BigInt64Array[] | null;
  /** Prompt-window queries kept from the first block (SnapKV with the first-block refresh), or null. */
  readonly windowQueries: readonly Float32Array[] | null;
}

/** A filtered run's selection outputs. */
export interface SelectionOutputs {
  /** The last selection's kept prompt positions per layer [Hkv, T], -1 = padding. */
  readonly tokens: BigInt64Array[];
  readonly keptPerHead: number;
  /** Prompt-window queries this run computed, or null. */
  readonly windowQueries: Float32Array[] | null;
  readonly state: Float32Array[];
}

export interface BlockResult {
  /** The canvas after the block, as int64. */
  readonly canvas: BigInt64Array;
  /** Per block position, the forward index that committed it, or -1. */
  readonly commitStep: BigInt64Array;
  /** [forwards, B] confidences per forward, -inf for non-candidates. */
  readonly stepConfidence: Float64Array;
  readonly forwards: number;
  /** How many of the rule's draws the block read. */
  readonly drawsUsed: number;
  readonly kv: KeptKv | null;
  readonly selection: SelectionOutputs | null;
  readonly ortMs: number;
}

export const i64 = (v: number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), []);
const EMPTY = new Float32Array(0);
const EMPTY_HALF = new Uint16Array(0);
const NO_IDS = new BigInt64Array(0);

/** A block's rule rows padded to K forwards: LLaDA's quota (1 past its schedule), Dream's ratio, origin's transfer probability (1 past S). */
export interface RuleRows {
  readonly quota: BigInt64Array;
  readonly ratio: Float32Array;
  readonly pTransfer: Float64Array;
}

export function ruleRows(r: BlockRule, K: number): RuleRows {
  const quota = new BigInt64Array(K);
  for (let k = 0; k < K; k++) quota[k] = BigInt(r.quota[k] ?? 1);
  const ratio = new Float32Array(K);
  ratio.set(r.quotaRatio.subarray(0, K));
  const pTransfer = new Float64Array(K).fill(1);
  pTransfer.set(r.pTransfer.subarray(0, K));
  return { quota, ratio, pTransfer };
}

/**
 * The rule's feeds: its kinds and scalars from `r`, the per-forward rows stacked (one row: [K], as
 * the block program reads them; several: [NB, K], a row per block, as the generation program does).
 */
export function ruleFeeds(r: BlockRule, rows: readonly RuleRows[], K: number): Record<string, ort.Tensor> {
  const dims = rows.length === 1 ? [K] : [rows.length, K];
  const quota = new BigInt64Array(rows.length * K);
  const ratio = new Float32Array(rows.length * K);
  const pTransfer = new Float64Array(rows.length * K);
  rows.forEach((x, i) => {
    quota.set(x.quota, i * K);
    ratio.set(x.ratio, i * K);
    pTransfer.set(x.pTransfer, i * K);
  });
  return {
    [R.confidence]: i64(CONFIDENCE_KIND[r.confidence]),
    [R.rule]: i64(RULE_KIND[r.kind]),
    [R.threshold]: new ort.Tensor('float64', Float64Array.of(r.threshold), []),
    [R.factor]: new ort.Tensor('float64', Float64Array.of(r.factor), []),
    [R.quota]: new ort.Tensor('int64', quota, dims),
    [R.quotaRatio]: new ort.Tensor('float32', ratio, dims),
    [R.quotaFromRatio]: new ort.Tensor('bool', Uint8Array.of(r.quotaFromRatio ? 1 : 0), []),
    [R.quotaAllFrom]: i64(r.quotaAllFrom),
    [R.firstOnly]: new ort.Tensor('bool', Uint8Array.of(r.firstOnly ? 1 : 0), []),
    [R.draws]: new ort.Tensor('float64', r.draws, [r.draws.length]),
    [R.pTransfer]: new ort.Tensor('float64', pTransfer, dims),
  };
}

/** The step budget and the guidance and sampling variants' feeds (shared by the block and generation programs). */
export function runFeeds(shape: ProgramShape, req: Pick<BlockRequest, 'maxSteps' | 'minForwards' | 'cfg' | 'sample'>): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = { [N.maxSteps]: i64(req.maxSteps), [N.minForwards]: i64(req.minForwards) };
  if (shape.cfg) {
    if (!req.cfg) throw new WavefilterError('runtime_error', 'the guidance block program needs its scale and prompt length');
    feeds[N.cfgScale] = new ort.Tensor('float64', Float64Array.of(req.cfg.scale), []);
    feeds[N.cfgPromptLen] = i64(req.cfg.promptLength);
  }
  if (shape.sample) {
    if (!req.sample) throw new WavefilterError('runtime_error', 'the sampling block program needs its temperature');
    feeds[S.temperature] = new ort.Tensor('float64', Float64Array.of(req.sample.temperature), []);
    feeds[S.topP] = new ort.Tensor('float64', Float64Array.of(req.sample.topP), []);
    feeds[S.topK] = i64(req.sample.topK);
  }
  return feeds;
}

/** A filtered run's controls and prompt length. */
export function selectionFeeds(s: Pick<SelectionFeeds, 'promptLength' | 'controls'>): Record<string, ort.Tensor> {
  return { ...s.controls, [N.promptLen]: new ort.Tensor('int64', BigInt64Array.of(BigInt(s.promptLength)), [1]) };
}

/** Refuses a request that a program fixed to a rule or a step attention cannot run. */
export function checkProgramFits(shape: ProgramShape, rule: BlockRule, cached: boolean): void {
  const d = shape.decide;
  if (d && (d.rule !== rule.kind || d.confidence !== rule.confidence))
    throw new WavefilterError('runtime_error', `this program decodes with rule ${d.rule} / ${d.confidence} confidence; the request is for ${rule.kind} / ${rule.confidence}`);
  if (shape.stepAttention && (shape.stepAttention === 'explicit') !== cached)
    throw new WavefilterError('runtime_error', `this program's steps attend ${shape.stepAttention === 'explicit' ? 'to a cache' : 'without a cache'}; the request is for a ${cached ? 'cached' : 'no-cache'} host`);
}

/** How many prompt rows a selection keeps, per layer and KV head on average. */
export function keptPerHead(tokens: readonly BigInt64Array[], Hkv: number): number {
  let kept = 0;
  for (const t of tokens) for (const x of t) if (x >= 0n) kept++;
  return kept / (tokens.length * Hkv);
}

export class BlockProgram {

  private runCount = 0;
  private constructor(readonly spec: ModelSpec, private readonly session: ort.InferenceSession, readonly filter: ProgramFilter | null, readonly shape: ProgramShape) {}

  /** session.run calls so far. */
  get runs(): number {
    return this.runCount;
  }

  /** A session over the block program of `spec`, with `filter`'s selection inside (null: unfiltered). */
  static async create(spec: ModelSpec, store: WeightStore, opts: RuntimeOptions = {}, filter: ProgramFilter | null = null, shape: ProgramShape = {}): Promise<BlockProgram> {
    validateWeights(spec, store);
    try {
      const full: ProgramShape = { ...shape, ct: opts.dtype ?? 'fp32' };
      return new BlockProgram(spec, await createModelSession(store, modelSessionOptions(opts), (w) => buildBlockGraph(spec, w, filter, full)), filter, full);
    } catch (e) {
      throw sessionError(e, opts, 'the block program');
    }
  }

  async run(req: BlockRequest): Promise<BlockResult> {
    const { nLayers, nKvHeads: Hkv, headDim: D } = this.spec;
    checkProgramFits(this.shape, req.rule, req.cached);
    const L = req.canvas.length;
    const r = req.rule;
    const K = Math.max(req.maxSteps, 1);
    const feeds: Record<string, ort.Tensor> = {
      [N.canvas]: new ort.Tensor('int64', BigInt64Array.from(req.canvas, (x) => BigInt(x)), [L]),
      [N.block]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.lo), BigInt(req.hi)), [2]),
      [N.window]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.window[0]), BigInt(req.window[1])), [2]),
      [N.blockLo]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.lo)), [1]),
      [N.blockHi]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.hi)), [1]),
      [N.windowLo]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.window[0])), [1]),
      [N.windowHi]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.window[1])), [1]),
      [N.refreshFrom]: i64(req.refreshFrom),
      [N.cacheRows]: i64(req.cached ? L : 0),
      [N.kvOutRows]: i64(req.keepKv ? L : 0),
      ...runFeeds(this.shape, req),
      ...ruleFeeds(r, [ruleRows(r, K)], K),
    };
    const tc = req.past?.rows ?? 0;
    const half = this.shape.ct === 'fp16';
    const kvType = half ? 'float16' : 'float32';
    const none = half ? EMPTY_HALF : EMPTY;
    for (let l = 0; l < nLayers; l++) {
      feeds[N.pastKey(l)] = new ort.Tensor(kvType, req.past?.keys[l] ?? none, [Hkv, tc, D]);
      feeds[N.pastValue(l)] = new ort.Tensor(kvType, req.past?.values[l] ?? none, [Hkv, tc, D]);
    }
    const f = this.filter;
    const s = req.selection;
    if (f && !s) throw new WavefilterError('runtime_error', 'a filtered block program needs its selection feeds');
    if (f && s) {
      Object.assign(feeds, selectionFeeds(s));
      const { nHeads: H } = this.spec;
      for (let l = 0; l < nLayers; l++) {
        const t = s.pastTokens?.[l] ?? NO_IDS;
        feeds[N.pastTokens(l)] = new ort.Tensor('int64', t, [Hkv, t.length / Hkv]);
        if (readsWindowQueries(f.program)) {
          const q = s.windowQueries?.[l] ?? EMPTY;
          feeds[N.windowQueries(l)] = new ort.Tensor('float32', q, [q.length / (H * D), H, D]);
        }
      }
    }
    this.runCount++;
    const { out, ortMs } = await timedRun(this.session, feeds, 'block program');
    const conf = out[N.stepConfidence];
    const kv = req.keepKv
      ? {
          keys: Array.from({ length: nLayers }, (_, l) => out[N.presentKey(l)].data as Float32Array | Uint16Array),
          values: Array.from({ length: nLayers }, (_, l) => out[N.presentValue(l)].data as Float32Array | Uint16Array),
          rows: L,
        }
      : null;
    let selection: SelectionOutputs | null = null;
    if (f) {
      const tokens = Array.from({ length: nLayers }, (_, l) => out[N.keptTokens(l)].data as BigInt64Array);
      const win = readsWindowQueries(f.program) ? Array.from({ length: nLayers }, (_, l) => out[N.windowQueriesOut(l)].data as Float32Array) : null;
      const state = Array.from({ length: nLayers }, (_, l) => out[N.state(l)]?.data as Float32Array | undefined).filter((x): x is Float32Array => x !== undefined);
      selection = { tokens, keptPerHead: keptPerHead(tokens, Hkv), windowQueries: win && win[0].length > 0 ? win : null, state };
    }
    return {
      canvas: out[N.canvasOut].data as BigInt64Array, commitStep: out[N.commitStep].data as BigInt64Array,
      stepConfidence: conf.data as Float64Array, forwards: Number(conf.dims[0]), drawsUsed: Number((out[N.drawsUsed].data as BigInt64Array)[0]), kv, selection, ortMs,
    };
  }

  async dispose(): Promise<void> {
    await releaseSession(this.session);
  }
}
