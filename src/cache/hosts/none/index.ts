/** No cache: every step recomputes the whole canvas (LLaDA's and Dream's own generate). */
import type { HostPolicy } from '../../policy.js';

export const none = {
  name: 'none' as const, summary: 'no cache: every step recomputes the whole canvas (LLaDA / Dream generate)',
  minForwardsPerBlock: 1, cached: false, stepWindow: (_lo, _hi, L) => [0, L], dreamFirstTokenFromRefresh: false, acceptsFilter: false,
} satisfies HostPolicy;
