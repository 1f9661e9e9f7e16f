/**
 * Which scored candidates a step commits: a fixed quota (LLaDA's schedule, Dream's 1 - s/t),
 * Fast-dLLM's confidence threshold, or Fast-dLLM's factor rule.
 */
import type { Rng } from '../rng.js';

export type TransferRule =
  | { readonly kind: 'quota'; readonly count: number }
  | { readonly kind: 'threshold'; readonly threshold: number }
  | { readonly kind: 'factor'; readonly factor: number }
  /** Dream's alg_temp: `count` draws without replacement from softmax(confidence / temperature). */
  | { readonly kind: 'sampled_quota'; readonly count: number; readonly temperature: number };

/** Indices (into `confidence`) ranked by confidence, highest first; ties keep the earlier position. */
function ranked(confidence: ArrayLike<number>): number[] {
  return Array.from({ length: confidence.length }, (_, i) => i).sort((a, b) => confidence[b] - confidence[a] || a - b);
}

/** Returns the candidate indices to commit. */
export function selectTransfers(confidence: ArrayLike<number>, rule: TransferRule, rng: Rng): number[] {
  const n = confidence.length;
  if (n === 0) return [];
  const order = ranked(confidence);
  switch (rule.kind) {
    case 'quota':
      return order.slice(0, Math.min(rule.count, n));
    case 'threshold':
      // the most confident always goes (progress); the rest only at or above the threshold
      return order.filter((c, r) => r === 0 || confidence[c] >= rule.threshold);
    case 'factor': {
      // accept the longest prefix with (j+1)(1 - c_j) <= f, j counted from 1 (Fast-dLLM's
      // get_transfer_index_dynamic, including its quirk: a first failure at the last candidate accepts all)
      let top = n - 1;
      for (let r = 0; r < n; r++) {
        const thresh = r === 0 ? -1 : 1 - rule.factor / (r + 2);
        if (confidence[order[r]] < thresh) {
          top = r;
          break;
        }
      }
      if (top === 0 || top === n - 1) top += 1;
      return order.slice(0, top);
    }
    case 'sampled_quota': {
      const k = Math.min(rule.count, n);
      const w = Array.from({ length: n }, (_, i) => confidence[i] / rule.temperature);
      const m = Math.max(...w);
      const p = w.map((x) => Math.exp(x - m));
      const out: number[] = [];
      for (let t = 0; t < k; t++) {
        const total = p.reduce((a, b) => a + b, 0);
        let u = rng.uniform() * total;
        let pick = -1;
        for (let i = 0; i < n; i++) {
          if (p[i] === 0) continue;
          pick = i;
          u -= p[i];
          if (u <= 0) break;
        }
        out.push(pick);
        p[pick] = 0;
      }
      return out;
    }
  }
}
