/**
 * SnapKV (docs §2.3): the last W = 32 prompt positions' queries vote with their softmax over all
 * prompt keys (bidirectional: no causal mask), max-pooled with kernel 7; the top rows plus the
 * observation window are kept.
 */
import { scoredEntry } from '../scored.js';

export const SNAPKV_WINDOW = 32;
export const SNAPKV_POOL = 7;

export const snapkv = scoredEntry({
  name: 'snapkv', queries: 'window', windowQueries: SNAPKV_WINDOW,
  score: { name: 'snapkv', kind: 'mass', poolKernel: SNAPKV_POOL, pool: 'max' },
  recent: (t, p) => Math.min(SNAPKV_WINDOW, t - 1, p - 1),
}, 'SnapKV: observation-window votes, max-pooled');
