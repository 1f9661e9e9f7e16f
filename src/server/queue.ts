/**
 * A bounded job queue in front of the model: `slots` generations at a time, at most `maxQueued`
 * waiting; beyond that a request is refused at once (the server answers 503 with Retry-After) rather
 * than queued without end. A waiting job whose signal aborts (its client left) leaves the queue.
 */
export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`the queue is full (${waiting} waiting)`);
  }
}


export class JobQueue {
  private running = 0;
  /** Each waiting job's start: called with the slot handed over. */
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly slots: number, private readonly maxQueued: number) {}

  get depth(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  /** Runs `job` when a slot is free; QueueFullError when the queue is full, the signal's reason when it aborts first. */
  async run<T>(job: () => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) throw signal.reason;
    if (this.running < this.slots) this.running++;
    else {
      if (this.waiting.length >= this.maxQueued) throw new QueueFullError(this.waiting.length);
      // the slot is handed over by the job that frees it (running stays counted), so no newcomer can take it first
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const i = this.waiting.indexOf(w);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal.reason);
        };
        const w = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(w);
      });
    }
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
