/**
 * dLLM-Cache (arXiv 2506.06295) as a cache host: the prompt's layer features are refreshed every
 * `promptInterval` forwards, the response's every `genInterval`, and between response refreshes
 * each layer recomputes the `transferRatio` share of response rows whose value vectors changed
 * most (graph.ts). It runs inside the step executor's decoding loop (LLaDA's and Dream's rules,
 * blocks, NFE, events) as a CacheHost that computes its own forward: its caches hold attention and
 * FFN outputs as well as K and V, which the shared forward graph has no inputs for.
 *
 * The step counter counts forwards over the whole generation (not per block), and a refresh fires
 * when (step - 1) % interval == 0, as the official code counts; its first forward therefore
 * refreshes both parts and is a full forward.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../../errors.js';
import type { ModelSpec, WeightStore } from '../../model/spec.js';
import { type ForwardRequest, type ForwardResult, type RuntimeOptions, createModelSession, modelSessionOptions, releaseSession, sessionError, timedRun } from '../../model/runtime.js';
import { type CacheHost, type ForwardPlan, type StepContext, range } from '../host.js';
import { DllmNames as N, buildDllmGraph } from './graph.js';

/** dLLM-Cache's knobs (`dLLMCacheConfig`). */
export interface DllmCacheOptions {
  /** Forwards between prompt refreshes (Kp; default 100, the official long-context scripts'). */
  readonly promptInterval?: number;
  /** Forwards between response refreshes (Kr; default 8, the LongBench-HotpotQA script's). */
  readonly genInterval?: number;
  /** Share of response rows recomputed between response refreshes (rho; default 0.25). */
  readonly transferRatio?: number;
}

export const DLLM_CACHE_DEFAULTS = { promptInterval: 100, genInterval: 8, transferRatio: 0.25 } as const;

export function resolveDllmCacheOptions(o: unknown): Required<DllmCacheOptions> {
  if (o === undefined) return { ...DLLM_CACHE_DEFAULTS };
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new WavefilterError('invalid_option', `dllmCache: expected an object of promptInterval, genInterval, transferRatio, found ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`, { option: 'dllmCache' });
  const known = new Set(['promptInterval', 'genInterval', 'transferRatio']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new WavefilterError('invalid_option', `dllmCache: unknown option ${JSON.stringify(k)} (known: ${[...known].join(', ')})`, { option: `dllmCache.${k}` });
  // an undefined field takes its default (the CLI passes every flag, given or not)
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as DllmCacheOptions;
  const r = { ...DLLM_CACHE_DEFAULTS, ...given };
  const interval = (name: 'promptInterval' | 'genInterval'): void => {
    const v = r[name];
    if (!(Number.isSafeInteger(v) && v >= 1)) throw new WavefilterError('invalid_option', `dllmCache.${name}: expected a positive integer, found ${JSON.stringify(v)}`, { option: `dllmCache.${name}` });
  };
  interval('promptInterval');
  interval('genInterval');
  if (!(typeof r.transferRatio === 'number' && r.transferRatio >= 0 && r.transferRatio <= 1))
    throw new WavefilterError('invalid_option', `dllmCache.transferRatio: expected a share in [0, 1], found ${JSON.stringify(r.transferRatio)}`, { option: 'dllmCache.transferRatio' });
  return r;
}

/** The dLLM-Cache forward's session (one per loaded model, reused across generations). */
export class DllmCacheProgram {
  private constructor(readonly spec: ModelSpec, readonly session: ort.InferenceSession) {}

  static async create(spec: ModelSpec, store: WeightStore, runtime: RuntimeOptions): Promise<DllmCacheProgram> {
    try {
      return new DllmCacheProgram(spec, await createModelSession(store, modelSessionOptions(runtime), (w) => buildDllmGraph(spec, w)));
    } catch (e) {
      throw sessionError(e, runtime, 'the dLLM-Cache forward');
    }
  }

  /** A host for one generation (its caches and step counter start empty). */
  host(o: Required<DllmCacheOptions>): DllmCacheHost {
    return new DllmCacheHost(this, o);
  }

  async dispose(): Promise<void> {
    await releaseSession(this.session);
  }
}

/** What a dLLM-Cache generation recomputed (DllmCacheHost.stats). */
export interface DllmCacheStats {
  readonly forwards: number;
  readonly promptRefreshes: number;
  readonly genRefreshes: number;
  /** Rows recomputed over rows x layers, over every forward (1 without a cache). */
  readonly computedRatio: number;
}

export class DllmCacheHost implements CacheHost {
  readonly name = 'dllm-cache';
  readonly minForwardsPerBlock = 1;
  private step = 0;
  private caches: Float32Array[][] = [];
  private promptRefreshes = 0;
  private genRefreshes = 0;
  private rowsComputed = 0;
  private rowsTotal = 0;

  constructor(private readonly program: DllmCacheProgram, private readonly o: Required<DllmCacheOptions>) {}

  beginBlock(): void {}

  /** Whether the next forward refreshes the prompt and the response. */
  private next(): { prompt: boolean; gen: boolean } {
    return { prompt: this.step % this.o.promptInterval === 0, gen: this.step % this.o.genInterval === 0 };
  }

  plan(ctx: StepContext): ForwardPlan {
    const r = this.next();
    return { positions: range(0, ctx.canvas.length), past: null, refresh: r.prompt && r.gen };
  }

  absorb(): void {}

  async forward(req: ForwardRequest, plan: ForwardPlan, ctx: StepContext): Promise<ForwardResult> {
    const spec = this.program.spec;
    const { nLayers: L, nKvHeads: Hkv, headDim: D, dModel: d } = spec;
    const T = plan.positions.length;
    const P = ctx.promptLength;
    const r = this.next();
    const first = this.caches.length === 0;
    if (first && !(r.prompt && r.gen)) throw new WavefilterError('runtime_error', 'dllm-cache: the first forward must refresh both parts');
    const rows = first ? 0 : T;
    const f32 = (data: Float32Array, dims: number[]): ort.Tensor => new ort.Tensor('float32', data, dims);
    const feeds: Record<string, ort.Tensor> = {
      [N.inputIds]: new ort.Tensor('int64', req.inputIds, [T]),
      [N.promptLen]: new ort.Tensor('int64', BigInt64Array.of(BigInt(P)), []),
      [N.refreshPrompt]: new ort.Tensor('bool', Uint8Array.of(r.prompt ? 1 : 0), []),
      [N.refreshGen]: new ort.Tensor('bool', Uint8Array.of(r.gen ? 1 : 0), []),
      [N.nSelect]: new ort.Tensor('int64', BigInt64Array.of(BigInt(Math.floor((T - P) * this.o.transferRatio))), []),
      [N.logitRows]: new ort.Tensor('int64', req.logitRows.length ? req.logitRows : new BigInt64Array(1), [Math.max(1, req.logitRows.length)]),
    };
    for (let l = 0; l < L; l++) {
      const c = this.caches[l];
      feeds[N.kCache(l)] = f32(c?.[0] ?? new Float32Array(0), [rows, Hkv, D]);
      feeds[N.vCache(l)] = f32(c?.[1] ?? new Float32Array(0), [rows, Hkv, D]);
      feeds[N.attnCache(l)] = f32(c?.[2] ?? new Float32Array(0), [rows, d]);
      feeds[N.ffnCache(l)] = f32(c?.[3] ?? new Float32Array(0), [rows, d]);
    }
    const { out, ortMs } = await timedRun(this.program.session, feeds, 'dllm-cache forward');
    this.caches = Array.from({ length: L }, (_, l) => [N.kOut(l), N.vOut(l), N.attnOut(l), N.ffnOut(l)].map((n) => (out[n] as ort.Tensor).data as Float32Array));
    for (const v of (out[N.recomputed] as ort.Tensor).data as BigInt64Array) this.rowsComputed += Number(v);
    this.rowsTotal += L * T;
    if (r.prompt) this.promptRefreshes++;
    if (r.gen) this.genRefreshes++;
    this.step++;
    const logits = (out[N.logits] as ort.Tensor).data as Float32Array;
    return { logits: req.logitRows.length ? logits : new Float32Array(0), stats: null, keys: [], values: [], queries: [], ortMs };
  }

  heldBytes(): number {
    return this.caches.reduce((s, layer) => s + layer.reduce((t, a) => t + a.byteLength, 0), 0);
  }

  stats(): DllmCacheStats {
    return { forwards: this.step, promptRefreshes: this.promptRefreshes, genRefreshes: this.genRefreshes, computedRatio: this.rowsTotal ? this.rowsComputed / this.rowsTotal : 1 };
  }
}
