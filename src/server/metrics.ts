/** The server's counters in Prometheus' text format (GET /metrics). */
import type { JobQueue } from './queue.js';

export interface MetricsSnapshot {
  readonly generations: number;
  readonly nfe: number;
  readonly generationSeconds: number;
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
  private generations = 0;
  private cancels = 0;
  private stepMsMax = 0;
  private readonly cancelFree: number[] = [];

  constructor(private readonly queue: JobQueue) {}

  request(route: string, status: number): void {
    const k = `route="${route.replace(/["\\\n]/g, '_')}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  generation(nfe: number, ms: number): void {
    this.generations++;
    this.nfe += nfe;
    this.seconds += ms / 1000;
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
    return { generations: this.generations, nfe: this.nfe, generationSeconds: this.seconds, cancels: this.cancels, stepMsMax: this.stepMsMax, cancelFreeMs: [...this.cancelFree] };
  }

  text(): string {
    const m = process.memoryUsage();
    const lines = [
      '# HELP wavefilter_requests_total HTTP requests by route and status.',
      '# TYPE wavefilter_requests_total counter',
      ...[...this.requests].map(([k, v]) => `wavefilter_requests_total{${k}} ${v}`),
      '# HELP wavefilter_queue_depth Requests waiting for a slot.',
      '# TYPE wavefilter_queue_depth gauge',
      `wavefilter_queue_depth ${this.queue.depth}`,
      '# HELP wavefilter_active_generations Generations running now.',
      '# TYPE wavefilter_active_generations gauge',
      `wavefilter_active_generations ${this.queue.active}`,
      '# HELP wavefilter_generations_total Finished generations.',
      '# TYPE wavefilter_generations_total counter',
      `wavefilter_generations_total ${this.generations}`,
      '# HELP wavefilter_generated_tokens_total Answer tokens (up to the first stop token).',
      '# TYPE wavefilter_generated_tokens_total counter',
      `wavefilter_generated_tokens_total ${this.generated}`,
      '# HELP wavefilter_nfe_total Model forwards (network function evaluations).',
      '# TYPE wavefilter_nfe_total counter',
      `wavefilter_nfe_total ${this.nfe}`,
      '# HELP wavefilter_generation_seconds_total Time spent generating.',
      '# TYPE wavefilter_generation_seconds_total counter',
      `wavefilter_generation_seconds_total ${this.seconds.toFixed(3)}`,
      '# HELP wavefilter_cancelled_total Requests whose client disconnected before the answer.',
      '# TYPE wavefilter_cancelled_total counter',
      `wavefilter_cancelled_total ${this.cancels}`,
      '# HELP wavefilter_resident_bytes Resident memory of the server process.',
      '# TYPE wavefilter_resident_bytes gauge',
      `wavefilter_resident_bytes ${m.rss}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}
