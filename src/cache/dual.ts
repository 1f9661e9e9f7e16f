/**
 * Fast-dLLM DualCache: refresh at each block start; cached steps recompute only the current block
 * and attend to the refreshed prefix and suffix rows.
 */
import type { BlockContext } from './host.js';
import { RefreshingHost } from './refreshing.js';

export class DualCacheHost extends RefreshingHost {
  readonly name = 'dual';
  protected queryRange(ctx: BlockContext): [number, number] {
    return [ctx.lo, ctx.hi];
  }
}
