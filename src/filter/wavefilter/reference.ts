/**
 * Plain-TypeScript references of WaveFilter's selector (paper Algorithm 1), for tests and for
 * checking the ORT fast path. Float64, one KV head at a time.
 *
 *   literalSelect: Algorithm 1 as written: at each scale b (B down to 1) take the Haar approximation
 *                  of the *gathered* keys mu_b at level b (pywt wavedec semantics), score, keep the
 *                  top m_b, expand each kept coefficient to its 2^b rows, composing indices through
 *                  mu_b (docs U13).
 *   pyramidSelect: one Haar pyramid of the whole prompt (built once per cache refresh), then the
 *                  same recursion walks parent -> children units. For Haar this selects exactly the
 *                  same tokens (tested), and is what the ORT graph computes.
 *
 * Shapes: keys [P][D] as a flat Float64Array/Float32Array (row-major), queries [M][D].
 */
import { wavedec } from './wavelets.js';

export type HaarNorm = 'orthonormal' | 'mean';

export interface SelectorConfig {
  /** Scales B >= 1. */
  readonly levels: number;
  /** m_b for b = 1..B (index 0 is m_1). */
  readonly proportions: readonly number[];
  readonly norm: HaarNorm;
}

/** k_b = max(1, ceil(m_b * n)) (docs U4). */
export function keepCount(m: number, n: number): number {
  return Math.max(1, Math.ceil(m * n - 1e-9));
}

/** Column sums of softmax(Q A^T / sqrt(D)) over the rows of Q: the perception weights (Eq. 7-8). */
export function perceptionWeights(q: ArrayLike<number>, m: number, a: ArrayLike<number>, u: number, d: number): Float64Array {
  const w = new Float64Array(u);
  const s = new Float64Array(u);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < m; i++) {
    let mx = -Infinity;
    for (let j = 0; j < u; j++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[i * d + c] * a[j * d + c];
      s[j] = dot * scale;
      if (s[j] > mx) mx = s[j];
    }
    let z = 0;
    for (let j = 0; j < u; j++) z += Math.exp(s[j] - mx);
    for (let j = 0; j < u; j++) w[j] += Math.exp(s[j] - mx) / z;
  }
  return w;
}

/** Indices of the k largest values, ties to the lower index. */
export function topK(w: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: w.length }, (_, i) => i).sort((x, y) => w[y] - w[x] || x - y).slice(0, k);
}

/** Level-b Haar approximation rows of `rows` key rows (pywt wavedec per channel, periodization). */
function haarApprox(keys: ArrayLike<number>, rows: readonly number[], d: number, b: number, norm: HaarNorm): { a: Float64Array; u: number } {
  let u = 0;
  let a = new Float64Array(0);
  for (let c = 0; c < d; c++) {
    const x = rows.map((r) => keys[r * d + c]);
    const coeffs = wavedec(x, 'haar', { mode: 'periodization', level: b })[0];
    if (c === 0) {
      u = coeffs.length;
      a = new Float64Array(u * d);
    }
    const f = norm === 'mean' ? 2 ** (-b / 2) : 1; // orthonormal level b = 2^(b/2) x mean
    for (let j = 0; j < u; j++) a[j * d + c] = coeffs[j] * f;
  }
  return { a, u };
}

/** Algorithm 1, literally: recursion on gathered sub-sequences. Returns sorted prompt indices. */
export function literalSelect(q: ArrayLike<number>, m: number, keys: ArrayLike<number>, p: number, d: number, cfg: SelectorConfig): number[] {
  let mu = Array.from({ length: p }, (_, i) => i);
  for (let b = cfg.levels; b >= 1; b--) {
    const { a, u } = haarApprox(keys, mu, d, b, cfg.norm);
    const w = perceptionWeights(q, m, a, u, d);
    const kept = topK(w, keepCount(cfg.proportions[b - 1], u));
    const span = 2 ** b;
    const next: number[] = [];
    for (const j of kept) for (let k = 0; k < span; k++) if (span * j + k < mu.length) next.push(mu[span * j + k]);
    mu = next.sort((x, y) => x - y);
  }
  return mu;
}

/** The Haar pyramid: level b rows (b = 1..B), each level pairing the previous (odd length: last row repeated). */
export function haarPyramid(keys: ArrayLike<number>, p: number, d: number, levels: number, norm: HaarNorm): Float64Array[] {
  const out: Float64Array[] = [];
  let prev: ArrayLike<number> = keys;
  let n = p;
  const f = norm === 'mean' ? 0.5 : Math.SQRT1_2;
  for (let b = 1; b <= levels; b++) {
    const u = Math.ceil(n / 2);
    const cur = new Float64Array(u * d);
    for (let j = 0; j < u; j++) {
      const r0 = 2 * j;
      const r1 = Math.min(2 * j + 1, n - 1);
      for (let c = 0; c < d; c++) cur[j * d + c] = (prev[r0 * d + c] + prev[r1 * d + c]) * f;
    }
    out.push(cur);
    prev = cur;
    n = u;
  }
  return out;
}

/** The same selection from a precomputed pyramid. Returns sorted prompt indices. */
export function pyramidSelect(q: ArrayLike<number>, m: number, pyramid: readonly Float64Array[], p: number, d: number, cfg: SelectorConfig): number[] {
  const rowsAt = (b: number): number => (b === 0 ? p : pyramid[b - 1].length / d);
  let units = Array.from({ length: rowsAt(cfg.levels) }, (_, j) => j);
  for (let b = cfg.levels; b >= 1; b--) {
    const level = pyramid[b - 1];
    const a = new Float64Array(units.length * d);
    units.forEach((j, i) => a.set(level.subarray(j * d, (j + 1) * d), i * d));
    const w = perceptionWeights(q, m, a, units.length, d);
    const kept = topK(w, keepCount(cfg.proportions[b - 1], units.length)).map((i) => units[i]);
    const below = rowsAt(b - 1);
    units = kept.flatMap((j) => [2 * j, 2 * j + 1]).filter((c) => c < below);
  }
  return units.sort((x, y) => x - y);
}
