/**
 * The block program's ORT session: feeds one block's canvas and controls, runs the whole block in
 * one session.run, and unpacks the committed ids and per-step statistics.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import type { TensorStore } from '../checkpoint/safetensors.js';
import { type RuntimeOptions, createModelSession, modelSessionOptions, validateWeights } from '../model/runtime.js';
import type { ModelSpec } from '../model/spec.js';
import { BlockNames as N, buildBlockGraph } from './block-graph.js';
import { CONFIDENCE_KIND, RULE_KIND, RuleNames as R } from './decide-graph.js';

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
}

/** K/V kept from an earlier block's refresh, [Hkv, L, D] per layer. */
export interface KeptKv {
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
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
}

export interface BlockResult {
  /** The canvas after the block, as int64. */
  readonly canvas: BigInt64Array;
  /** Per block position, the forward index that committed it, or -1. */
  readonly commitStep: BigInt64Array;
  /** [forwards, B] confidences per forward, -inf for non-candidates. */
  readonly stepConfidence: Float64Array;
  readonly forwards: number;
  readonly kv: KeptKv | null;
  readonly ortMs: number;
}

const i64 = (v: number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), []);
const EMPTY = new Float32Array(0);

export class BlockProgram {
  private runCount = 0;
  private constructor(readonly spec: ModelSpec, private readonly session: ort.InferenceSession) {}

  /** session.run calls so far. */
  get runs(): number {
    return this.runCount;
  }

  static async create(spec: ModelSpec, store: TensorStore, opts: RuntimeOptions = {}): Promise<BlockProgram> {
    validateWeights(spec, store);
    try {
      return new BlockProgram(spec, await createModelSession(store, modelSessionOptions(opts), (w) => buildBlockGraph(spec, w)));
    } catch (e) {
      if (e instanceof WavefilterError) throw e;
      throw new WavefilterError('runtime_error', `could not create the block program's ONNX Runtime session: ${(e as Error).message}`);
    }
  }

  async run(req: BlockRequest): Promise<BlockResult> {
    const { nLayers, nKvHeads: Hkv, headDim: D } = this.spec;
    const L = req.canvas.length;
    const r = req.rule;
    const K = Math.max(req.maxSteps, 1);
    const quota = new BigInt64Array(K);
    for (let k = 0; k < K; k++) quota[k] = BigInt(r.quota[k] ?? 1);
    const ratio = new Float32Array(K);
    ratio.set(r.quotaRatio.subarray(0, K));
    const feeds: Record<string, ort.Tensor> = {
      [N.canvas]: new ort.Tensor('int64', BigInt64Array.from(req.canvas, (x) => BigInt(x)), [L]),
      [N.block]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.lo), BigInt(req.hi)), [2]),
      [N.window]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.window[0]), BigInt(req.window[1])), [2]),
      [N.refreshFrom]: i64(req.refreshFrom),
      [N.cacheRows]: i64(req.cached ? L : 0),
      [N.kvOutRows]: i64(req.keepKv ? L : 0),
      [N.maxSteps]: i64(req.maxSteps),
      [N.minForwards]: i64(req.minForwards),
      [R.confidence]: i64(CONFIDENCE_KIND[r.confidence]),
      [R.rule]: i64(RULE_KIND[r.kind]),
      [R.threshold]: new ort.Tensor('float64', Float64Array.of(r.threshold), []),
      [R.factor]: new ort.Tensor('float64', Float64Array.of(r.factor), []),
      [R.quota]: new ort.Tensor('int64', quota, [K]),
      [R.quotaRatio]: new ort.Tensor('float32', ratio, [K]),
      [R.quotaFromRatio]: new ort.Tensor('bool', Uint8Array.of(r.quotaFromRatio ? 1 : 0), []),
      [R.quotaAllFrom]: i64(r.quotaAllFrom),
      [R.firstOnly]: new ort.Tensor('bool', Uint8Array.of(r.firstOnly ? 1 : 0), []),
    };
    const tc = req.past?.rows ?? 0;
    for (let l = 0; l < nLayers; l++) {
      feeds[N.pastKey(l)] = new ort.Tensor('float32', req.past?.keys[l] ?? EMPTY, [Hkv, tc, D]);
      feeds[N.pastValue(l)] = new ort.Tensor('float32', req.past?.values[l] ?? EMPTY, [Hkv, tc, D]);
    }
    const t0 = performance.now();
    let out: ort.InferenceSession.OnnxValueMapType;
    this.runCount++;
    try {
      out = await this.session.run(feeds);
    } catch (e) {
      throw new WavefilterError('runtime_error', `block program failed: ${(e as Error).message}`);
    }
    const ortMs = performance.now() - t0;
    const conf = out[N.stepConfidence];
    const kv = req.keepKv
      ? {
          keys: Array.from({ length: nLayers }, (_, l) => out[N.presentKey(l)].data as Float32Array),
          values: Array.from({ length: nLayers }, (_, l) => out[N.presentValue(l)].data as Float32Array),
          rows: L,
        }
      : null;
    return {
      canvas: out[N.canvasOut].data as BigInt64Array, commitStep: out[N.commitStep].data as BigInt64Array,
      stepConfidence: conf.data as Float64Array, forwards: Number(conf.dims[0]), kv, ortMs,
    };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
