/**
 * Fast-dLLM's dual cache: a block's first forward refreshes the whole canvas; each later step
 * recomputes the block only and attends to the cached prefix and suffix.
 */
import type { HostPolicy } from '../../policy.js';

export const dual = {
  name: 'dual' as const, summary: 'Fast-dLLM dual cache: steps recompute the block only',
  minForwardsPerBlock: 2, cached: true, stepWindow: (lo, hi) => [lo, hi], dreamFirstTokenFromRefresh: true, acceptsFilter: true,
} satisfies HostPolicy;
