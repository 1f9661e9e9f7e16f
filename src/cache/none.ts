/** No cache: every step recomputes the whole canvas (LLaDA's and Fast-dLLM's `generate`). */
import type { CacheHost, ForwardPlan, StepContext } from './host.js';
import { range } from './host.js';

export class NoCacheHost implements CacheHost {
  readonly name = 'none';
  readonly minForwardsPerBlock = 1;
  beginBlock(): void {}
  plan(ctx: StepContext): ForwardPlan {
    return { positions: range(0, ctx.canvas.length), past: null, refresh: true };
  }
  absorb(): void {}
  heldBytes(): number {
    return 0;
  }
}
