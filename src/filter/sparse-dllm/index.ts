/** Sparse-dLLM (docs §2.8): mean over the block's queries of q.k, max-pooled with width 3; the top rows. */
import { scoredEntry } from '../scored.js';

export const SPARSE_DLLM_POOL = 3;

export const sparseDllm = scoredEntry({
  name: 'sparse-dllm', queries: 'block', windowQueries: 0,
  score: { name: 'sparse-dllm', kind: 'dot', poolKernel: SPARSE_DLLM_POOL, pool: 'max' },
  recent: () => 0,
}, 'Sparse-dLLM: mean q.k of the block, max-pooled');
