/**
 * Lanes: concurrent generations on the CPU, each in its own worker thread with its own model.
 *
 * Why threads: onnxruntime-node runs `session.run` synchronously on the calling thread (1.29,
 * dist/backend.js), so generations in one process never overlap, however many slots the server
 * has. Packing their forwards (src/batch/) is the answer on a GPU; on a CPU a small model's forward
 * cannot use many cores, and packed runs won 1.3-1.7x of ORT time on 16 cores but lost most of it to
 * the packing (reports/batching). A lane instead runs whole generations on a share of the cores
 * (`threads` ORT threads each), so N requests decode side by side and each gets the tokens it gets
 * alone (same graph, same step executor). The cost is memory: every lane holds its own weights.
 *
 * The pool hands a generation to an idle lane (or queues it until one is), relays its step and
 * kept events and its abort, and returns its output. Prompts cross as token ids: the caller
 * encodes them (one tokenizer, on the main thread).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { GenerateOutput, ModelGenerateOptions } from '../engine.js';
import { WavefilterError, type ErrorCode } from '../errors.js';
import { siblingWorker, workerEntry } from '../checkpoint/sync-worker.js';
import type { FromLane, LaneError, LaneInit, ToLane } from './protocol.js';

export interface LanePoolOptions {
  /** Worker threads, each with its own model (at least 1). */
  readonly lanes: number;
  /** ONNX Runtime threads per lane (default: the machine's cores divided among the lanes, at least 1). */
  readonly threadsPerLane?: number;
  readonly ropeTheta?: number;
  readonly maxLength?: number;
}

interface Job {
  readonly inputIds: readonly number[];
  readonly opts: ModelGenerateOptions;
  readonly resolve: (out: GenerateOutput) => void;
  readonly reject: (e: unknown) => void;
}

interface Lane {
  readonly worker: Worker;
  /** The generation it runs, with its id. */
  job: (Job & { readonly id: number; readonly onAbort: () => void }) | null;
  dead: boolean;
}

function rebuild(e: LaneError): Error {
  if (e.code) return new WavefilterError(e.code as ErrorCode, e.message, (e.details ?? {}) as never);
  const x = new Error(e.message);
  x.name = e.name;
  return x;
}

/** Frees a lane of its generation (however it ended) and stops relaying that generation's abort; returns it. */
function release(lane: Lane): Lane['job'] {
  const job = lane.job;
  job?.opts.signal?.removeEventListener('abort', job.onAbort);
  lane.job = null;
  return job;
}

export class LanePool {
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(private readonly lanes: Lane[], readonly threadsPerLane: number) {}

  /** Lanes still running. */
  get size(): number {
    return this.lanes.filter((l) => !l.dead).length;
  }

  /** Starts the lanes and waits until each has loaded its model (a lane that cannot load fails the pool). */
  static async create(dir: string, o: LanePoolOptions): Promise<LanePool> {
    if (!Number.isInteger(o.lanes) || o.lanes < 1) throw new WavefilterError('invalid_option', `lanes ${o.lanes}: expected a whole number from 1`, { option: 'lanes' });
    const threads = o.threadsPerLane ?? Math.max(1, Math.floor(availableParallelism() / o.lanes));
    const init: LaneInit = { dir, threads, ropeTheta: o.ropeTheta, maxLength: o.maxLength };
    const [entry, mode] = workerEntry(siblingWorker(import.meta.url, 'lane-worker'));
    const lanes: Lane[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < o.lanes; i++) {
      const worker = new Worker(entry, { ...mode, workerData: init });
      const lane: Lane = { worker, job: null, dead: false };
      lanes.push(lane);
      ready.push(new Promise<void>((resolve, reject) => {
        const first = (m: FromLane): void => {
          worker.off('message', first);
          if (m.type === 'ready') resolve();
          else if (m.type === 'failed') reject(rebuild(m.error));
        };
        worker.on('message', first);
        worker.once('error', reject);
      }));
    }
    const pool = new LanePool(lanes, threads);
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.dispose();
      throw e;
    }
    for (const lane of lanes) pool.watch(lane);
    return pool;
  }

  private watch(lane: Lane): void {
    lane.worker.on('message', (m: FromLane) => {
      const job = lane.job;
      if (!job || !('id' in m) || m.id !== job.id) return;
      if (m.type === 'step') job.opts.onStep?.(m.e);
      else if (m.type === 'kept') job.opts.onKept?.(m.e);
      else if (m.type === 'done' || m.type === 'error') {
        release(lane);
        if (m.type === 'done') job.resolve(m.out);
        else job.reject(rebuild(m.error));
        this.pump();
      }
    });
    // a lane that dies (out of memory, a crash in the runtime) fails its generation and leaves the pool
    const die = (e: unknown): void => {
      if (lane.dead) return;
      lane.dead = true;
      release(lane)?.reject(new WavefilterError('runtime_error', `a generation lane stopped: ${e instanceof Error ? e.message : String(e)}`, { what: 'lane' }));
      if (this.size === 0) for (const w of this.waiting.splice(0)) w.reject(new WavefilterError('runtime_error', 'no generation lane is left', { what: 'lane' }));
      else this.pump();
    };
    lane.worker.on('error', die);
    lane.worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
  }

  /**
   * One generation on the next idle lane: the options of DiffusionModel.generate, with its signal,
   * onStep and onKept served from here (onText is not: decode the settled ids from onStep).
   */
  generate(input: { readonly inputIds: readonly number[] }, opts: ModelGenerateOptions = {}): Promise<GenerateOutput> {
    if (this.closed) return Promise.reject(new WavefilterError('runtime_error', 'the lane pool is closed', { what: 'lane' }));
    if (this.size === 0) return Promise.reject(new WavefilterError('runtime_error', 'no generation lane is left', { what: 'lane' }));
    if (opts.onText) return Promise.reject(new WavefilterError('invalid_option', 'onText: not relayed from a lane (decode the settled ids of onStep)', { option: 'onText' }));
    return new Promise<GenerateOutput>((resolve, reject) => {
      this.waiting.push({ inputIds: input.inputIds, opts, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const lane of this.lanes) {
      if (lane.dead || lane.job) continue;
      const job = this.waiting.shift();
      if (!job) return;
      const id = this.nextId++;
      const { signal, onStep, onKept, onText: _, ...rest } = job.opts;
      const abort = new Int32Array(new SharedArrayBuffer(4));
      const onAbort = (): void => {
        Atomics.store(abort, 0, 1);
      };
      lane.job = { ...job, id, onAbort };
      // an abort that came while the job waited is flagged before the lane can read the flag: the
      // worker may take the message and check the flag before this thread's next line runs (it did
      // under load: one forward ran where the main thread runs none)
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      lane.worker.postMessage({ type: 'generate', id, inputIds: [...job.inputIds], opts: rest, steps: onStep !== undefined, kept: onKept !== undefined, abort } satisfies ToLane);
    }
  }

  async dispose(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new WavefilterError('runtime_error', 'the lane pool is closed', { what: 'lane' }));
    await Promise.all(this.lanes.map(async (l) => {
      l.dead = true;
      release(l)?.reject(new WavefilterError('runtime_error', 'the lane pool was closed during the generation', { what: 'lane' }));
      await l.worker.terminate();
    }));
  }
}
