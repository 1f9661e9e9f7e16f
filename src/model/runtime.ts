/**
 * Runtime sessions: writes the forward graph beside links to the checkpoint's safetensors files
 * (so ORT reads the weights straight from them as external data) and runs it on an execution
 * provider. JavaScript only moves views in and out; every FLOP of the forward runs in ORT.
 */
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import { type ComputeType, GraphNames, type WeightSource, buildForwardGraph } from './graph.js';
import { type ModelSpec, type WeightStore, expectedShapes } from './spec.js';

export type ExecutionProvider = 'cpu' | 'cuda';

/** Where a model runs: the CPU, or a CUDA GPU (`cuda` is device 0, `cuda:N` device N). */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** A device string, or an `invalid_option` naming the accepted forms. */
export function parseDevice(v: unknown): { readonly provider: ExecutionProvider; readonly deviceId: number } {
  if (v === undefined || v === 'cpu') return { provider: 'cpu', deviceId: 0 };
  const m = typeof v === 'string' ? /^cuda(?::(\d{1,3}))?$/.exec(v) : null;
  if (!m) throw new WavefilterError('invalid_option', `device: expected cpu, cuda or cuda:N, found ${JSON.stringify(v)}`, { option: 'device' });
  return { provider: 'cuda', deviceId: m[1] === undefined ? 0 : Number(m[1]) };
}

export interface RuntimeOptions {
  readonly executionProvider?: ExecutionProvider;
  /** CUDA device index. */
  readonly deviceId?: number;
  /**
   * Allow TF32 matrix products on CUDA (ORT's CUDA provider uses them by default; fp32 results
   * then differ from the CPU's in the 3rd decimal). Default false: the engine sets
   * NVIDIA_TF32_OVERRIDE=0 before the first CUDA session (onnxruntime-node 1.29 passes no
   * provider options but the device id, and cuBLAS reads this variable process-wide at its first
   * handle), unless the variable is already set.
   */
  readonly tf32?: boolean;
  /** Compute type (model/graph.ts ComputeType); fp16 needs a CUDA device and runs the block program only. */
  readonly dtype?: ComputeType;
  /** ORT intra-op threads; defaults to ORT's choice (all cores). */
  readonly threads?: number;
}

/** Cached K/V rows handed to a forward: per layer one K and one V view, [Hkv, Tc_l, D], and a bias [Hkv, Tc_l]. */
export interface PastKV {
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
  /** Tc_l: rows of each layer's views. */
  readonly rows: readonly number[];
  /** Per layer [Hkv, Tc_l]: 0 to attend, -Infinity to ignore a row of a head (stale rows the step recomputes, padding). */
  readonly bias: readonly Float32Array[];
}

export interface ForwardRequest {
  readonly inputIds: BigInt64Array;
  readonly positions: BigInt64Array;
  /** Rows of the query set whose logits are wanted. */
  readonly logitRows: BigInt64Array;
  /** Rows of the query set whose post-RoPE queries are returned (for token filters); default none. */
  readonly queryRows?: BigInt64Array;
  readonly past: PastKV | null;
}

/** Float64 summaries of each requested logits row (see graph.ts). */
export interface RowStats {
  /** [Nl, 2] the two largest logits, descending. */
  readonly topValues: Float64Array;
  /** [Nl, 2] their token ids. */
  readonly topIds: BigInt64Array;
  /** [Nl] */
  readonly logSumExp: Float64Array;
  /** [Nl] sum of p log(p + 1e-10) */
  readonly negEntropy: Float64Array;
}

export interface ForwardResult {
  /** [Nl, V] */
  readonly logits: Float32Array;
  /** Null when the logits were changed after the graph (classifier-free guidance). */
  readonly stats: RowStats | null;
  /** Per layer [Hkv, Tq, D], after RoPE. */
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** Per layer [Nq, H, D] queries of `queryRows`, after RoPE. */
  readonly queries: Float32Array[];
  /** Milliseconds spent inside session.run. */
  readonly ortMs: number;
}

/** Validates every weight's presence, dtype and shape before any session is built. */
export function validateWeights(spec: ModelSpec, store: WeightStore): void {
  for (const [name, shape] of expectedShapes(spec)) {
    const t = store.info(name);
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16')
      throw new WavefilterError('unsupported_dtype', `tensor ${name} in ${t.file} has dtype ${t.dtype}; expected F32, F16 or BF16`, { tensor: name, dtype: t.dtype });
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))
      throw new WavefilterError('tensor_shape_mismatch', `tensor ${name} in ${t.file}: expected shape [${shape.join(', ')}], found [${t.shape.join(', ')}]`, {
        tensor: name, expected: shape, found: [...t.shape],
      });
  }
}

/** One session.run, timed, with ORT's failure as a `runtime_error` naming `what` ran. */
export async function timedRun(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, what: string, fetches?: readonly string[]): Promise<{ out: ort.InferenceSession.OnnxValueMapType; ortMs: number }> {
  const t0 = performance.now();
  try {
    // (fetches: only these outputs are copied out of the run)
    const out = fetches ? await session.run(feeds, [...fetches]) : await session.run(feeds);
    return { out, ortMs: performance.now() - t0 };
  } catch (e) {
    throw new WavefilterError('runtime_error', `${what} failed: ${(e as Error).message}`);
  }
}

/**
 * The error for a session that could not be created: a missing or unloadable CUDA provider (the
 * npm package ships the CPU provider only) becomes `device_unavailable` with how to install it.
 */
export function sessionError(e: unknown, opts: RuntimeOptions, what: string): WavefilterError {
  if (e instanceof WavefilterError) return e;
  const msg = (e as Error)?.message ?? String(e);
  if (opts.executionProvider === 'cuda' && /cuda|provider|libcu|cudnn|no CUDA-capable|device/i.test(msg))
    return new WavefilterError('device_unavailable', `device cuda:${opts.deviceId ?? 0}: ONNX Runtime's CUDA provider could not start (${msg.split('\n')[0]}). Install it with \`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install\` (or the CUDA 13 provider libraries beside the binding: README, GPU), or run on --device cpu`, { device: `cuda:${opts.deviceId ?? 0}` });
  return new WavefilterError('runtime_error', `could not create ${what}'s ONNX Runtime session: ${msg}`);
}

/** Session options for a model graph on an execution provider. */
export function modelSessionOptions(opts: RuntimeOptions): ort.InferenceSession.SessionOptions {
  const cuda = opts.executionProvider === 'cuda';
  // only 0 has a meaning to cuBLAS (it forbids TF32); leaving it unset keeps ORT's default (TF32 on)
  if (cuda && !opts.tf32 && process.env.NVIDIA_TF32_OVERRIDE === undefined) process.env.NVIDIA_TF32_OVERRIDE = '0';
  // WAVEFILTER_ORT_PROFILE=PREFIX: ORT's per-node profile (node, provider, time) written as
  // PREFIX_<date>.json when the session is released (performance work; see bench/gpu/README.md)
  const profile = process.env.WAVEFILTER_ORT_PROFILE;
  return {
    ...(profile ? { enableProfiling: true, profileFilePrefix: profile } : {}),
    executionProviders: [cuda ? { name: 'cuda', deviceId: opts.deviceId ?? 0 } : 'cpu'],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  };
}

const EMPTY = new Float32Array(0);
const NO_ROWS = new BigInt64Array(0);

/** One ORT session over the forward graph of a model. */
export class ModelRuntime {
  readonly spec: ModelSpec;
  private readonly session: ort.InferenceSession;
  private runCount = 0;
  /** session.run calls so far (timings report them per generation). */
  get runs(): number {
    return this.runCount;
  }
  private constructor(spec: ModelSpec, session: ort.InferenceSession) {
    this.spec = spec;
    this.session = session;
  }

  static async create(spec: ModelSpec, store: WeightStore, opts: RuntimeOptions = {}): Promise<ModelRuntime> {
    validateWeights(spec, store);
    if ((opts.dtype ?? 'fp32') !== 'fp32')
      throw new WavefilterError('invalid_option', `dtype ${opts.dtype}: the step executor and logits() run in fp32 only; use the block executor (executor block or auto) or dtype fp32`, { option: 'dtype' });
    const sessionOptions = modelSessionOptions(opts);
    try {
      const session = await createModelSession(store, sessionOptions, (w) => buildForwardGraph(spec, w));
      return new ModelRuntime(spec, session);
    } catch (e) {
      throw sessionError(e, opts, 'the forward');
    }
  }

  /** Runs one forward pass. */
  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { nLayers, nKvHeads: Hkv, headDim: D } = this.spec;
    const N = GraphNames;
    const tq = req.inputIds.length;
    // ORT's reductions mishandle a [0, V] input, so a step that needs no logits asks for row 0 and drops it.
    const noRows = req.logitRows.length === 0;
    const logitRows = noRows ? new BigInt64Array(1) : req.logitRows;
    const feeds: Record<string, ort.Tensor> = {
      [N.inputIds]: new ort.Tensor('int64', req.inputIds, [tq]),
      [N.positions]: new ort.Tensor('int64', req.positions, [tq]),
      [N.logitRows]: new ort.Tensor('int64', logitRows, [logitRows.length]),
      [N.fused]: new ort.Tensor('bool', Uint8Array.of(req.past === null ? 1 : 0), []),
    };
    const qrows = req.queryRows ?? NO_ROWS;
    feeds[N.queryRows] = new ort.Tensor('int64', qrows, [qrows.length]);
    for (let l = 0; l < nLayers; l++) {
      const tc = req.past?.rows[l] ?? 0;
      feeds[N.pastKey(l)] = new ort.Tensor('float32', req.past?.keys[l] ?? EMPTY, [Hkv, tc, D]);
      feeds[N.pastValue(l)] = new ort.Tensor('float32', req.past?.values[l] ?? EMPTY, [Hkv, tc, D]);
      feeds[N.pastBias(l)] = new ort.Tensor('float32', req.past?.bias[l] ?? EMPTY, [Hkv, tc]);
    }
    this.runCount++;
    const { out, ortMs } = await timedRun(this.session, feeds, 'forward');
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    const queries: Float32Array[] = [];
    for (let l = 0; l < nLayers; l++) {
      keys.push(out[N.presentKey(l)].data as Float32Array);
      values.push(out[N.presentValue(l)].data as Float32Array);
      queries.push(out[N.query(l)].data as Float32Array);
    }
    if (noRows) {
      const none: RowStats = { topValues: new Float64Array(0), topIds: new BigInt64Array(0), logSumExp: new Float64Array(0), negEntropy: new Float64Array(0) };
      return { logits: new Float32Array(0), stats: none, keys, values, queries, ortMs };
    }
    const stats: RowStats = {
      topValues: out[N.topValues].data as Float64Array, topIds: out[N.topIds].data as BigInt64Array,
      logSumExp: out[N.logSumExp].data as Float64Array, negEntropy: out[N.negEntropy].data as Float64Array,
    };
    return { logits: out[N.logits].data as Float32Array, stats, keys, values, queries, ortMs };
  }

  async dispose(): Promise<void> {
    await releaseSession(this.session);
  }
}

/** Releases a session (ending its profile first when WAVEFILTER_ORT_PROFILE asked for one). */
export async function releaseSession(session: ort.InferenceSession): Promise<void> {
  if (process.env.WAVEFILTER_ORT_PROFILE) session.endProfiling();
  await session.release();
}

/**
 * Where the graph file goes. ORT resolves external data relative to the graph file and refuses paths
 * that leave its folder (links are resolved first, so a symlink to a Hugging Face cache blob, or to
 * the checkpoint itself, is refused). The user's model folder is never written to: the graph goes
 * into a private folder (`wavefilter-session-<pid>-*`) beside hard links to the resolved weight
 * files, and the folder is removed as soon as the session holds the weights. Bases tried, in order:
 * $WAVEFILTER_TMPDIR, the OS temporary folder, ~/.cache/wavefilter (hard links need the same file
 * system as the weights); if none links, the weights are copied into the first base that works.
 * A run killed mid-load leaves its folder behind; the next load removes folders whose process is
 * gone.
 */
const SESSION_PREFIX = 'wavefilter-session-';

function sessionBases(): string[] {
  const env = process.env.WAVEFILTER_TMPDIR;
  const cache = process.env.XDG_CACHE_HOME ? join(process.env.XDG_CACHE_HOME, 'wavefilter') : join(homedir(), '.cache', 'wavefilter');
  return [...new Set([...(env ? [env] : []), tmpdir(), cache])];
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes session folders left by runs that were killed mid-load. */
export function sweepStaleSessionFolders(base: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^wavefilter-session-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    try {
      rmSync(join(base, name), { recursive: true, force: true });
      removed++;
    } catch {
      // another process may be sweeping too
    }
  }
  return removed;
}

/** A private folder holding the weight files under `base`, hard-linked (or copied when `copy`); null when linking is not possible there. */
function stageWeights(base: string, files: readonly string[], copy: boolean): { dir: string; names: Map<string, string> } | null {
  let dir: string;
  try {
    mkdirSync(base, { recursive: true });
    sweepStaleSessionFolders(base);
    dir = mkdtempSync(join(base, `${SESSION_PREFIX}${process.pid}-`));
  } catch {
    return null;
  }
  const names = new Map<string, string>();
  try {
    files.forEach((f, i) => {
      const name = `w${i}.safetensors`;
      const real = realpathSync(f);
      if (copy) copyFileSync(real, join(dir, name));
      else linkSync(real, join(dir, name));
      names.set(f, name);
    });
    return { dir, names };
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

/** An ORT session over a graph whose weights are the checkpoint's tensors (see the comment above on where the graph goes). */
export async function createModelSession(store: WeightStore, options: ort.InferenceSession.SessionOptions, build: (weights: WeightSource) => Uint8Array): Promise<ort.InferenceSession> {
  const bases = sessionBases();
  let stage: ReturnType<typeof stageWeights> = null;
  for (const copy of [false, true]) for (const base of bases) stage ??= stageWeights(base, store.files, copy);
  if (!stage)
    throw new WavefilterError('runtime_error', `no writable temporary folder for the session graph (tried ${bases.join(', ')}); set WAVEFILTER_TMPDIR to a writable folder, ideally on the same file system as the weights`, { file: bases.join(', ') });
  const { dir, names } = stage;
  try {
    const graphPath = join(dir, 'graph.onnx');
    writeFileSync(graphPath, build({ info: (n) => store.info(n), location: (f) => names.get(f) as string }));
    return await ort.InferenceSession.create(graphPath, options);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
