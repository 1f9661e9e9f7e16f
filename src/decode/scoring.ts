/**
 * Per-position scoring: from one row of logits to a predicted token and a confidence, the way
 * LLaDA/Fast-dLLM (`get_transfer_index`) and Dream (`sample_tokens`) do it. Confidences and sampling
 * probabilities are computed in float64 as the reference does.
 */
import type { Rng } from '../rng.js';
import type { RowStats } from '../model/runtime.js';

export interface Scored {
  readonly token: number;
  readonly confidence: number;
}

export interface LladaScoring {
  readonly temperature: number;
  readonly remasking: 'low_confidence' | 'random';
  readonly logitsEosInf: boolean;
  readonly confidenceEosEotInf: boolean;
  readonly eosId: number | null;
  readonly eotId: number | null;
  /** The mask token is never a prediction: committing it would leave the position masked forever. */
  readonly maskId: number;
}

/** log-sum-exp of a row in float64, skipping masked-out ids. */
function logSumExp(row: ArrayLike<number>, skip: ReadonlySet<number>): number {
  let m = -Infinity;
  for (let j = 0; j < row.length; j++) if (row[j] > m && !skip.has(j)) m = row[j];
  let s = 0;
  for (let j = 0; j < row.length; j++) if (!skip.has(j)) s += Math.exp(row[j] - m);
  return m + Math.log(s);
}

const NONE = new Set<number>();

/**
 * Inverse-CDF draw from probabilities p with one uniform u: the first j whose running sum reaches
 * u times the total (scaling by the total makes a draw land even when the sum rounds below 1). The
 * block program's sampling (program/sample-graph.ts) is the same computation with CumSum.
 */
export function sampleCategorical(p: ArrayLike<number>, u: number): number {
  let total = 0;
  for (let j = 0; j < p.length; j++) total += p[j];
  const t = u * total;
  let c = 0;
  for (let j = 0; j < p.length; j++) {
    c += p[j];
    if (c >= t) return j;
  }
  return p.length - 1;
}

/**
 * LLaDA / Fast-dLLM: argmax at T = 0; at T > 0 a sample from softmax(logits / T), which is the
 * distribution of Fast-dLLM's Gumbel-max (argmax of exp(l) / (-log u)^T), drawn by inverse CDF with
 * one uniform per position instead of one per vocabulary entry (so the block program can read the
 * same draw). Confidence = softmax(logits)[token].
 */
export function scoreLlada(row: Float32Array, o: LladaScoring, rng: Rng): Scored {
  const banned = new Set([o.maskId]);
  if (o.logitsEosInf && o.eosId !== null) banned.add(o.eosId);
  let best = -1;
  let bestV = -Infinity;
  const T = o.temperature;
  if (T > 0) {
    const l = new Float64Array(row.length);
    for (let j = 0; j < row.length; j++) l[j] = banned.has(j) ? -Infinity : row[j] / T;
    const lse = logSumExp(l, NONE);
    const p = new Float64Array(row.length);
    for (let j = 0; j < row.length; j++) p[j] = Math.exp(l[j] - lse);
    best = sampleCategorical(p, rng.uniform());
  } else {
    for (let j = 0; j < row.length; j++) {
      if (banned.has(j)) continue;
      if (row[j] > bestV) {
        bestV = row[j];
        best = j;
      }
    }
  }
  if (best < 0) best = 0;
  if (o.remasking === 'random') return { token: best, confidence: rng.uniform() };
  // LLaDA's confidence_eos_eot_inf sets the EoT logit (and, at T = 0 where the noised logits are the
  // same tensor, the EOS logit) to -inf after the token is chosen: such positions get confidence 0
  // and the softmax of the others is renormalised without them.
  let skip = banned;
  if (o.confidenceEosEotInf) {
    skip = new Set(banned);
    if (o.eotId !== null) skip.add(o.eotId);
    if (T === 0 && o.eosId !== null) skip.add(o.eosId);
  }
  if (skip.has(best)) return { token: best, confidence: 0 };
  return { token: best, confidence: Math.exp(row[best] - logSumExp(row, skip)) };
}

export type DreamAlg = 'origin' | 'maskgit_plus' | 'topk_margin' | 'entropy';

export interface DreamScoring {
  readonly temperature: number;
  readonly topP: number | null;
  readonly topK: number | null;
  readonly alg: DreamAlg;
  /** Excluded from predictions, as for LLaDA. */
  readonly maskId: number;
}

/** Dream's sample_tokens: temperature, top-p, top-k, then softmax; confidence per `alg`. */
export function scoreDream(row: Float32Array, o: DreamScoring, rng: Rng): Scored {
  const V = row.length;
  const l = new Float64Array(V);
  for (let j = 0; j < V; j++) l[j] = o.temperature > 0 ? row[j] / o.temperature : row[j];
  l[o.maskId] = -Infinity;
  const FMIN = -3.4028234663852886e38; // torch.finfo(float32).min, as Dream's filters use
  if (o.topP !== null && o.topP < 1) {
    const order = Array.from({ length: V }, (_, j) => j).sort((a, b) => l[b] - l[a] || a - b);
    const lse = logSumExp(l, NONE);
    let cum = 0;
    let prevRemove = false;
    const remove = new Uint8Array(V);
    for (let r = 0; r < V; r++) {
      cum += Math.exp(l[order[r]] - lse);
      // shift right by one: the first token past the threshold is kept
      if (r > 0 && prevRemove) remove[order[r]] = 1;
      prevRemove = cum > o.topP;
    }
    for (let j = 0; j < V; j++) if (remove[j]) l[j] = FMIN;
  }
  if (o.topK !== null) {
    const k = Math.min(o.topK, V);
    const kth = Float64Array.from(l).sort().reverse()[k - 1];
    for (let j = 0; j < V; j++) if (l[j] < kth) l[j] = FMIN;
  }
  const lse = logSumExp(l, NONE);
  const p = new Float64Array(V);
  let top1 = -1;
  for (let j = 0; j < V; j++) {
    p[j] = Math.exp(l[j] - lse);
    if (top1 < 0 || p[j] > p[top1]) top1 = j;
  }
  let token = top1;
  let confidence = p[top1];
  if (o.temperature > 0) {
    token = sampleCategorical(p, rng.uniform());
    confidence = p[token];
  }
  if (o.alg === 'topk_margin') {
    let second = 0;
    for (let j = 0; j < V; j++) if (j !== top1 && p[j] > second) second = p[j];
    confidence = p[top1] - second;
  } else if (o.alg === 'entropy') {
    let s = 0;
    for (let j = 0; j < V; j++) s += p[j] * Math.log(p[j] + 1e-10);
    confidence = s;
  }
  return { token, confidence };
}

/** Greedy LLaDA scoring needs only the row's top logit and log-sum-exp. */
export function canScoreLladaFromStats(o: LladaScoring): boolean {
  return o.temperature === 0 && !o.logitsEosInf && !o.confidenceEosEotInf;
}

/** scoreLlada for row i from the graph's float64 summaries (same token and confidence). */
export function scoreLladaFromStats(s: RowStats, i: number, o: LladaScoring, rng: Rng): Scored {
  const token = Number(s.topIds[2 * i]);
  if (o.remasking === 'random') return { token, confidence: rng.uniform() };
  return { token, confidence: Math.exp(s.topValues[2 * i] - s.logSumExp[i]) };
}

/** Greedy Dream scoring without top-p/top-k needs only the summaries. */
export function canScoreDreamFromStats(o: DreamScoring): boolean {
  return o.temperature === 0 && (o.topP === null || o.topP >= 1) && o.topK === null;
}

/** scoreDream for row i from the graph's float64 summaries. */
export function scoreDreamFromStats(s: RowStats, i: number, o: DreamScoring): Scored {
  const token = Number(s.topIds[2 * i]);
  const p1 = Math.exp(s.topValues[2 * i] - s.logSumExp[i]);
  if (o.alg === 'topk_margin') return { token, confidence: p1 - Math.exp(s.topValues[2 * i + 1] - s.logSumExp[i]) };
  if (o.alg === 'entropy') return { token, confidence: s.negEntropy[i] };
  return { token, confidence: p1 };
}
