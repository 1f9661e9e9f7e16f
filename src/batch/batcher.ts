/**
 * Continuous batching for the step executor: every generation that runs with executor 'batch'
 * gets a member runtime from one ForwardBatcher; their forwards, asked for at about the same
 * time, go to ONNX Runtime together as one packed forward (packed-forward.ts).
 *
 * Each generation keeps its own step loop (decode/generate.ts): its own canvas, cache host, rule,
 * events and cancellation, so batching changes no decision a generation makes, only how its
 * forwards are computed. Requests join and leave at any step: one that arrives while others are
 * mid-block does its refresh in the same pack as their cached steps, and one that finishes or is
 * cancelled simply stops asking.
 *
 * When a pack goes: the first request of a pack waits for the current macrotask to end
 * (setImmediate), by which time every generation whose JavaScript between two forwards has run
 * (scoring, committing, its host's next plan: promise continuations, no I/O) has asked too. While
 * a pack runs, new requests wait for the next one. A pack holds at most `maxRows` rows (query +
 * cached, summed over members; the packed attention's scores grow with the product of the two),
 * and at most `maxMembers` requests; the rest wait for the next pack, oldest first. A long refresh
 * (`aloneRows`) goes in a pack of its own.
 */
import type { ForwardRequest, ForwardResult } from '../model/runtime.js';
import type { ModelSpec } from '../model/spec.js';
import type { StepRuntime } from '../decode/generate.js';
import type { PackedForward } from './packed-forward.js';

export interface BatcherOptions {
  /** Query plus cached rows of one pack, summed over its requests (default 4096: a pack is rebuilt, its pasts copied, whenever a member joins, leaves or refreshes). */
  readonly maxRows?: number;
  /** Requests in one pack (default 16). */
  readonly maxMembers?: number;
  /**
   * A refresh (a forward without a past) over more query rows than this runs alone, with flash
   * attention (default 512): batched, its attention would score T x T rows, and beyond a few
   * hundred rows a forward already keeps the cores busy on its own.
   */
  readonly aloneRows?: number;
  /**
   * A generation's first forward waits up to this many milliseconds for others arriving with it
   * (counted from the oldest waiting one, so a stream of arrivals cannot hold a pack back; default
   * 0: none).
   */
  readonly gatherMs?: number;
}

/** What the batcher has done, for metrics and benchmarks. */
export interface BatcherStats {
  /** Packed forwards run. */
  readonly packs: number;
  /** Forwards they computed (sum of pack sizes). */
  readonly forwards: number;
  /** Largest pack so far. */
  readonly largestPack: number;
  /** Time inside ONNX Runtime, ms. */
  readonly ortMs: number;
  /** Time in packed forwards, ms: ONNX Runtime and the packing of inputs and caches around it. */
  readonly packMs: number;
}

interface Pending {
  readonly req: ForwardRequest;
  readonly wantsLogits: boolean;
  readonly resolve: (r: ForwardResult) => void;
  readonly reject: (e: unknown) => void;
  /** When a generation's first forward arrived (null for its later ones). */
  readonly arrived: number | null;
}

/** A member's runtime: the step loop's view of the batcher (spec, forwards taken part in, forward). */
export interface MemberRuntime extends StepRuntime {
  readonly runs: number;
}

export class ForwardBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private running = false;
  private packs = 0;
  private forwards = 0;
  private largestPack = 0;
  private ortMs = 0;
  private packMs = 0;
  private readonly maxRows: number;
  private readonly maxMembers: number;
  private readonly aloneRows: number;
  private readonly gatherMs: number;

  constructor(private readonly packed: PackedForward, o: BatcherOptions = {}) {
    this.maxRows = o.maxRows ?? 4096;
    this.maxMembers = o.maxMembers ?? 16;
    this.aloneRows = o.aloneRows ?? 512;
    this.gatherMs = o.gatherMs ?? 0;
  }

  get spec(): ModelSpec {
    return this.packed.spec;
  }

  stats(): BatcherStats {
    return { packs: this.packs, forwards: this.forwards, largestPack: this.largestPack, ortMs: this.ortMs, packMs: this.packMs };
  }

  /**
   * A runtime for one generation. `wantsLogits`: its scoring reads the logits rows (else their
   * float64 summaries suffice: greedy decoding's rules).
   */
  member(wantsLogits: boolean): MemberRuntime {
    let runs = 0;
    const spec = this.packed.spec;
    return {
      spec,
      get runs() {
        return runs;
      },
      forward: (req: ForwardRequest) => {
        const first = runs++ === 0;
        return new Promise<ForwardResult>((resolve, reject) => {
          this.pending.push({ req, wantsLogits, resolve, reject, arrived: first ? performance.now() : null });
          this.schedule();
        });
      },
    };
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.pending.length === 0) return;
    this.scheduled = true;
    // a new generation waits up to gatherMs for others arriving with it (requests sent together
    // reach a server a few milliseconds apart): one pack of their refreshes instead of several
    let oldest = Infinity;
    for (const p of this.pending) if (p.arrived !== null && p.arrived < oldest) oldest = p.arrived;
    // (no new generation waiting: oldest stays Infinity, and the pack goes at once)
    const wait = oldest === Infinity ? 0 : oldest + this.gatherMs - performance.now();
    const go = (): void => {
      this.scheduled = false;
      void this.runPack();
    };
    if (wait > 0) setTimeout(go, wait);
    else setImmediate(go);
  }

  /** Rows a request brings to a pack: its query rows and its cached rows (the largest layer's). */
  private static rowsOf(req: ForwardRequest): number {
    return req.inputIds.length + (req.past ? Math.max(...req.past.rows) : 0);
  }

  private async runPack(): Promise<void> {
    this.running = true;
    const take: Pending[] = [];
    let fused = false;
    let rows = 0;
    // refreshes (no past, the whole canvas as queries) and cached steps (a block's rows) go in
    // separate packs: attention runs on a view padded to the pack's longest query set, so a
    // refresh among steps would pad every step to the refresh's length (bench/batch-forward.ts: 1
    // refresh + 7 steps in one pack 91 ms, as two packs 23 + 46 ms). The oldest request's kind goes first.
    const refresh = this.pending[0]?.req.past === null;
    for (let i = 0; i < this.pending.length && take.length < this.maxMembers; ) {
      const p = this.pending[i];
      if ((p.req.past === null) !== refresh) {
        i++;
        continue;
      }
      if (p.req.past === null && p.req.inputIds.length > this.aloneRows) {
        // a long refresh goes alone, with flash attention (the padded view would score T x T)
        if (take.length === 0) {
          take.push(...this.pending.splice(i, 1));
          fused = true;
          break;
        }
        i++;
        continue;
      }
      const n = ForwardBatcher.rowsOf(p.req);
      // (a request larger than maxRows still goes, alone)
      if (take.length && rows + n > this.maxRows) break;
      rows += n;
      take.push(...this.pending.splice(i, 1));
    }
    const t0 = performance.now();
    try {
      const { results, ortMs } = await this.packed.run(take.map((p) => ({ req: p.req, wantsLogits: p.wantsLogits })), fused);
      this.packs++;
      this.forwards += take.length;
      this.largestPack = Math.max(this.largestPack, take.length);
      this.ortMs += ortMs;
      this.packMs += performance.now() - t0;
      take.forEach((p, i) => p.resolve(results[i]));
    } catch (e) {
      for (const p of take) p.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  async dispose(): Promise<void> {
    await this.packed.dispose();
  }
}
