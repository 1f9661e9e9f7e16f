/** No cache: every step recomputes the whole canvas (LLaDA's and Fast-dLLM's `generate`). */
import type { CacheHost, ForwardPlan, StepContext } from './host.js';
import { range } from './host.js';
import type { HostPolicy } from './registry.js';

export class NoCacheHost implements CacheHost {
  readonly name: string;
  readonly minForwardsPerBlock: number;
  readonly dreamFirstTokenFromRefresh: boolean;
  constructor(policy: HostPolicy) {
    this.name = policy.name;
    this.minForwardsPerBlock = policy.minForwardsPerBlock;
    this.dreamFirstTokenFromRefresh = policy.dreamFirstTokenFromRefresh;
  }
  beginBlock(): void {}
  plan(ctx: StepContext): ForwardPlan {
    return { positions: range(0, ctx.canvas.length), past: null, refresh: true };
  }
  absorb(): void {}
  heldBytes(): number {
    return 0;
  }
}
