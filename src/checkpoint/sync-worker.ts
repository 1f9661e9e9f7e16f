/**
 * A worker thread called synchronously, with a deadline and a heap limit: the caller blocks on an
 * Atomics.wait until the worker answers or the deadline passes, then the worker is terminated and
 * respawned on the next call. This is how work done for a user on hostile files (a chat template, a
 * tokenizer's pre-tokenizer regex) gets a limit without making every caller async: a runaway loop
 * or a catastrophic regex costs at most the deadline, and a heap blow-up kills the worker (its
 * `resourceLimits`), never the process.
 */
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';

export interface SyncWorkerOptions {
  /** The worker module (its `workerData` is `{ port, flag, init }`). */
  readonly url: URL;
  /** Sent to the worker as `workerData.init` when it starts. */
  readonly init: unknown;
  /** Heap limit of the worker (MB of old generation). */
  readonly maxOldGenerationSizeMb: number;
  /** Extra time the first call after a (re)start may take: the worker loads its modules. */
  readonly startupMs: number;
}

export type SyncReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: { readonly code?: string; readonly message: string; readonly details?: Record<string, unknown> } };

/** The outcome of a call that did not answer in time (or whose worker died). */
export class SyncWorkerTimeout extends Error {}

/** The worker module `name` beside the module at `base` (import.meta.url): .ts under tsx, .js compiled or bundled. */
export function siblingWorker(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * The Worker constructor arguments for a module URL. Compiled modules (.js) load directly; the
 * TypeScript sources (under tsx, in tests and `npm run wavefilter`) need tsx's loader registered
 * inside the worker, since Node 20 does not carry `--import` hooks into worker threads.
 */
export function workerEntry(url: URL): [string | URL, { eval?: boolean }] {
  if (!url.pathname.endsWith('.ts')) return [url, {}];
  const api = import.meta.resolve('tsx/esm/api');
  return [`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`, { eval: true }];
}

export class SyncWorker {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private flag: Int32Array | null = null;
  private fresh = false;

  constructor(private readonly opts: SyncWorkerOptions) {}

  private start(): void {
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const [entry, mode] = workerEntry(this.opts.url);
    const worker = new Worker(entry, {
      ...mode,
      workerData: { port: port2, flag, init: this.opts.init },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: this.opts.maxOldGenerationSizeMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 8 },
      stdout: false,
      stderr: false,
    });
    // The worker must never keep the process alive, and its death is reported through the next call.
    worker.unref();
    port1.unref();
    worker.on('error', () => {});
    this.worker = worker;
    this.port = port1;
    this.flag = flag;
    this.fresh = true;
  }

  /**
   * Sends one request and waits for the answer; throws SyncWorkerTimeout after `timeoutMs`. A
   * fresh worker first answers a ping within `startupMs` (module loading is not the request's time).
   */
  call(request: unknown, timeoutMs: number): SyncReply {
    if (!this.worker) this.start();
    if (this.fresh) {
      this.fresh = false;
      this.exchange({ op: 'ping' }, this.opts.startupMs);
    }
    return this.exchange(request, timeoutMs);
  }

  private exchange(request: unknown, timeoutMs: number): SyncReply {
    const port = this.port as MessagePort;
    const flag = this.flag as Int32Array;
    const deadline = performance.now() + timeoutMs;
    Atomics.store(flag, 0, 0);
    port.postMessage(request);
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(flag, 0, 0, left) === 'timed-out') {
        this.terminate();
        throw new SyncWorkerTimeout(`no answer within ${timeoutMs} ms`);
      }
      const msg = receiveMessageOnPort(port);
      if (msg) return msg.message as SyncReply;
      // woken without a message (should not happen): wait again within the same deadline
      Atomics.store(flag, 0, 0);
    }
  }

  terminate(): void {
    const w = this.worker;
    this.worker = null;
    this.port?.close();
    this.port = null;
    if (w) void w.terminate();
  }
}
