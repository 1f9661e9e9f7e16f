/** RULER post-processing, scorers and aggregations (NVIDIA/RULER scripts/eval; docs §2.1, §2.6). */

/** Strip, control characters (U+0000-U+001F) to newlines, strip again. */
export function postprocess(pred: string): string {
  return pred.trim().replace(/[\u0000-\u001f]/g, '\n').trim();
}

/** Fraction of references found (case-insensitive substring), for one sample. */
export function matchAll(pred: string, refs: readonly string[]): number {
  const p = pred.toLowerCase();
  return refs.length ? refs.filter((r) => p.includes(r.toLowerCase())).length / refs.length : 0;
}

/** 1 when any reference is found (case-insensitive substring), for one sample. */
export function matchPart(pred: string, refs: readonly string[]): number {
  const p = pred.toLowerCase();
  return refs.some((r) => p.includes(r.toLowerCase())) ? 1 : 0;
}

/** A task score: mean over samples x 100, rounded to 2 decimals (RULER's evaluate.py). */
export function taskScore(preds: readonly string[], refs: readonly (readonly string[])[], metric: 'all' | 'part'): number {
  if (preds.length === 0) return 0;
  const f = metric === 'all' ? matchAll : matchPart;
  const mean = preds.reduce((s, p, i) => s + f(postprocess(p), refs[i]), 0) / preds.length;
  return Math.round(mean * 100 * 100) / 100;
}

/** RULER's README averages over lengths: plain, and weighted 1..n rising (inc) or falling (dec) with length. */
export function lengthAverages(scores: readonly number[]): { avg: number; wAvgInc: number; wAvgDec: number } {
  const n = scores.length;
  const w = scores.map((_, i) => i + 1);
  const sum = w.reduce((a, b) => a + b, 0);
  return {
    avg: scores.reduce((a, b) => a + b, 0) / n,
    wAvgInc: scores.reduce((a, s, i) => a + s * w[i], 0) / sum,
    wAvgDec: scores.reduce((a, s, i) => a + s * w[n - 1 - i], 0) / sum,
  };
}

/** RULER's effective length: the longest length whose score exceeds the threshold (85.6, Llama-2-7B at 4K). */
export function effectiveLength(lengths: readonly number[], scores: readonly number[], threshold = 85.6): number | null {
  let best: number | null = null;
  lengths.forEach((l, i) => {
    if (scores[i] > threshold && (best === null || l > best)) best = l;
  });
  return best;
}
