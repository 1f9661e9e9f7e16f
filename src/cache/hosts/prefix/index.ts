/**
 * Fast-dLLM's prefix cache: a block's first forward refreshes the whole canvas; each later step
 * recomputes the block and everything after it and attends to the cached prefix.
 */
import type { HostPolicy } from '../../policy.js';

export const prefix = {
  name: 'prefix' as const, summary: 'Fast-dLLM prefix cache: steps recompute the block and everything after it',
  minForwardsPerBlock: 2, cached: true, stepWindow: (lo, _hi, L) => [lo, L], dreamFirstTokenFromRefresh: true, acceptsFilter: true,
} satisfies HostPolicy;
