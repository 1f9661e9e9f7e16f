/** The server's counters in Prometheus' text format (GET /metrics). */
import type { JobQueue } from './queue.js';
import type { BatcherStats } from '../batch/batcher.js';

export interface MetricsSnapshot {
  readonly generations: number;
  readonly nfe: number;
  readonly generationSeconds: number;
  /** Time in ONNX Runtime runs, summed over generations (batched: each member counts the packs it was in). */
  readonly ortSeconds: number;
  readonly cancels: number;
  /** The longest denoising step so far. */
  readonly stepMsMax: number;
  /** Per disconnect: milliseconds from the client leaving to its slot being free. */
  readonly cancelFreeMs: readonly number[];
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private generated = 0;
  private nfe = 0;
  private seconds = 0;
  private ortSeconds = 0;
  private generations = 0;
  private cancels = 0;
  private stepMsMax = 0;
  private readonly cancelFree: number[] = [];

  constructor(private readonly queue: JobQueue) {}

  request(route: string, status: number): void {
    const k = `route="${route.replace(/["\\\n]/g, '_')}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  generation(nfe: number, ms: number, ortMs: number): void {
    this.generations++;
    this.nfe += nfe;
    this.seconds += ms / 1000;
    this.ortSeconds += ortMs / 1000;
  }

  tokens(n: number): void {
    this.generated += n;
  }

  cancelled(): void {
    this.cancels++;
  }

  /** One denoising step took `ms`. */
  step(ms: number): void {
    if (ms > this.stepMsMax) this.stepMsMax = ms;
  }

  /** A client left and its slot was free `ms` later (the last 10,000 kept). */
  cancelFreed(ms: number): void {
    if (this.cancelFree.length >= 10_000) this.cancelFree.shift();
    this.cancelFree.push(ms);
  }

  /** The counters as numbers (the load test reads them). */
  snapshot(): MetricsSnapshot {
    return { generations: this.generations, nfe: this.nfe, generationSeconds: this.seconds, ortSeconds: this.ortSeconds, cancels: this.cancels, stepMsMax: this.stepMsMax, cancelFreeMs: [...this.cancelFree] };
  }

  /** `batch`: the model's batcher counters when the server batches (--slots N), else null. */
  text(batch: BatcherStats | null = null): string {
    const family = (name: string, type: 'counter' | 'gauge', help: string, samples: readonly string[]): string[] => [`# HELP wavefilter_${name} ${help}`, `# TYPE wavefilter_${name} ${type}`, ...samples];
    const one = (name: string, type: 'counter' | 'gauge', help: string, value: number | string): string[] => family(name, type, help, [`wavefilter_${name} ${value}`]);
    const lines = [
      ...family('requests_total', 'counter', 'HTTP requests by route and status.', [...this.requests].map(([k, v]) => `wavefilter_requests_total{${k}} ${v}`)),
      ...one('queue_depth', 'gauge', 'Requests waiting for a slot.', this.queue.depth),
      ...one('active_generations', 'gauge', 'Generations running now.', this.queue.active),
      ...one('generations_total', 'counter', 'Finished generations.', this.generations),
      ...one('generated_tokens_total', 'counter', 'Answer tokens (up to the first stop token).', this.generated),
      ...one('nfe_total', 'counter', 'Model forwards (network function evaluations).', this.nfe),
      ...one('generation_seconds_total', 'counter', 'Time spent generating.', this.seconds.toFixed(3)),
      ...one('ort_seconds_total', 'counter', 'Time in ONNX Runtime runs, summed over generations (with batching each generation counts the packed runs it was in, so this can exceed the wall time).', this.ortSeconds.toFixed(3)),
      ...one('cancelled_total', 'counter', 'Requests whose client disconnected before the answer.', this.cancels),
      ...one('resident_bytes', 'gauge', 'Resident memory of the server process.', process.memoryUsage().rss),
      ...(batch ? [
        ...one('batch_runs_total', 'counter', 'Packed forward runs (batching: several generations\' forwards in one ONNX Runtime run).', batch.packs),
        ...one('batch_forwards_total', 'counter', 'Forwards computed in packed runs (over batch_runs_total: the mean batch).', batch.forwards),
        ...one('batch_largest', 'gauge', 'Most forwards in one packed run so far.', batch.largestPack),
      ] : []),
    ];
    return `${lines.join('\n')}\n`;
  }

}
