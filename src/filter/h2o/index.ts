/**
 * H2O-style heavy hitters (docs §2.2): each block's queries' attention mass over the prompt,
 * accumulated over the generation; the top rows plus a recent window of half the budget.
 */
import { scoredEntry } from '../scored.js';

export const h2o = scoredEntry({
  name: 'h2o', queries: 'block', windowQueries: 0,
  score: { name: 'h2o', kind: 'accumulated', poolKernel: 1, pool: 'max' },
  recent: (t) => Math.floor(t / 2),
}, 'H2O: accumulated attention mass plus a recent window');
