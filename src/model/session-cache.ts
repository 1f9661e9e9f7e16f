/**
 * The ORT sessions that hold a model's weights (the step executor's forward, one block program per
 * filter variant), built on first use and kept up to a limit. Each session holds its own copy of
 * the weights (ORT folds the F16/BF16 -> fp32 casts into fp32 initializers per session, and
 * onnxruntime-node cannot share initializers between sessions), so two live sessions double the
 * resident weights: measured with `npm run bench -- engine` (peak RSS of the block executor was
 * twice the step executor's while the forward session was built at load as well). Beyond the limit
 * the least recently used idle session is released; a session in use is never released under a
 * running generation (the limit is then exceeded until it ends).
 */
export interface Disposable {
  dispose(): Promise<void>;
}

interface Entry<T extends Disposable> {
  readonly value: Promise<T>;
  users: number;
  lastUsed: number;
}

export interface Lease<T> {
  readonly value: T;
  release(): void;
}

export class SessionCache<T extends Disposable> {
  private readonly entries = new Map<string, Entry<T>>();
  private clock = 0;

  /** @param limit sessions kept alive at once (>= 1) */
  constructor(private readonly limit: number) {}

  /** The session under `key` (built with `build` when absent), held until `release()`. */
  async acquire(key: string, build: () => Promise<T>): Promise<Lease<T>> {
    let e = this.entries.get(key);
    if (!e) {
      // room first: an idle session beyond the limit goes before the new one is built, so two
      // copies of the weights are not resident at once (a GPU's memory, a peak RSS)
      await this.evict(1);
      e = this.entries.get(key); // (built meanwhile by another caller?)
    }
    if (!e) {
      const value = build();
      e = { value, users: 0, lastUsed: 0 };
      this.entries.set(key, e);
      // a failed build is not kept: the next call retries
      value.catch(() => {
        if (this.entries.get(key) === e) this.entries.delete(key);
      });
    }
    e.users++;
    e.lastUsed = ++this.clock;
    const entry = e;
    let value: T;
    try {
      value = await entry.value;
    } catch (err) {
      entry.users--;
      throw err;
    }
    await this.evict();
    let released = false;
    return {
      value,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        entry.lastUsed = ++this.clock;
        void this.evict();
      },
    };
  }

  /** Keys of the live sessions, least recently used first (for tests and `inspect`). */
  keys(): string[] {
    return [...this.entries.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed).map(([k]) => k);
  }

  /** Releases least recently used idle sessions until `room` more fit under the limit (or none is idle). */
  private async evict(room = 0): Promise<void> {
    while (this.entries.size + room > this.limit) {
      const idle = [...this.entries.entries()].filter(([, e]) => e.users === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (!idle) return;
      this.entries.delete(idle[0]);
      await (await idle[1].value.catch(() => null))?.dispose();
    }
  }

  /** Releases every idle session (one in use stays); returns how many went. */
  async releaseIdle(): Promise<number> {
    const idle = [...this.entries.entries()].filter(([, e]) => e.users === 0);
    for (const [k] of idle) this.entries.delete(k);
    for (const [, e] of idle) await (await e.value.catch(() => null))?.dispose();
    return idle.length;
  }

  async dispose(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) await (await e.value.catch(() => null))?.dispose();
  }
}
