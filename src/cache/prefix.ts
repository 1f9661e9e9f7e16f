/**
 * Fast-dLLM PrefixCache: refresh at each block start; cached steps recompute the block and every
 * later (masked) position, attending to the prefix rows [0, lo) from the refresh.
 */
import type { BlockContext } from './host.js';
import { RefreshingHost } from './refreshing.js';

export class PrefixCacheHost extends RefreshingHost {
  readonly name = 'prefix';
  protected queryRange(ctx: BlockContext): [number, number] {
    return [ctx.lo, ctx.canvas.length];
  }
}
