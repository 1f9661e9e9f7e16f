/**
 * Shared core of the Fast-dLLM hosts: a full forward at the start of each block refreshes K/V for
 * every position (kept as the forward returned them, [Hkv, L, D] per layer, no copy); cached steps
 * then attend to those rows, with the rows the step recomputes masked out by a -inf bias rather than
 * cut out, so the cache is never copied.
 */
import type { ForwardResult, PastKV } from '../model/runtime.js';
import type { BlockContext, CacheHost, ForwardPlan, StepContext } from './host.js';
import { range } from './host.js';

export abstract class RefreshingHost implements CacheHost {
  abstract readonly name: string;
  readonly minForwardsPerBlock: number = 2;
  protected keys: Float32Array[] = [];
  protected values: Float32Array[] = [];
  protected rows = 0;
  private bias: Float32Array = new Float32Array(0);

  /** The positions a cached step recomputes (its queries) for the current block. */
  protected abstract queryRange(ctx: BlockContext): [number, number];

  beginBlock(): void {}

  plan(ctx: StepContext): ForwardPlan {
    if (ctx.stepInBlock === 0) return { positions: range(0, ctx.canvas.length), past: null, refresh: true };
    const [qlo, qhi] = this.queryRange(ctx);
    return { positions: range(qlo, qhi), past: this.past(qlo, qhi), refresh: false };
  }

  /** The cached rows for queries [qlo, qhi): every refreshed row except those being recomputed. */
  protected past(qlo: number, qhi: number): PastKV {
    if (this.bias.length !== this.rows) this.bias = new Float32Array(this.rows);
    this.bias.fill(0);
    this.bias.fill(-Infinity, qlo, qhi);
    return { keys: this.keys, values: this.values, rows: this.rows, bias: this.bias };
  }

  absorb(plan: ForwardPlan, result: ForwardResult): void {
    if (!plan.refresh) return;
    this.keys = result.keys;
    this.values = result.values;
    this.rows = plan.positions.length;
  }

  heldBytes(): number {
    return this.keys.reduce((a, k) => a + k.byteLength, 0) + this.values.reduce((a, v) => a + v.byteLength, 0);
  }
}
