/**
 * Discrete wavelet transforms with PyWavelets semantics (`pywt.wavedec` / `pywt.waverec`), for the
 * wavelets and extension modes WaveFilter's docs discuss. One-dimensional signals in float64; the
 * Haar pyramid over key matrices that WaveFilter uses at run time is in haar-pyramid.ts (it runs in
 * ORT), and is tested against this module.
 *
 * Conventions (docs/wavefilter-and-kv-selection.md §4): analysis output o is the full convolution
 * of the extended signal with the filter sampled at i = 2o + 1 (periodization: i = F/2 + 2o over the
 * signal padded to even length by repeating its last sample); coefficients come back coarsest first.
 */
import { WavefilterError } from '../../errors.js';

export type WaveletName = 'haar' | 'db2' | 'db4' | 'sym4' | 'coif1' | 'bior2.2';
export type ExtensionMode = 'periodization' | 'symmetric' | 'zero' | 'reflect' | 'periodic' | 'smooth';

export interface FilterBank {
  readonly dec_lo: readonly number[];
  readonly dec_hi: readonly number[];
  readonly rec_lo: readonly number[];
  readonly rec_hi: readonly number[];
}

/** PyWavelets 1.1.1 filter banks. */
export const FILTERS: Readonly<Record<WaveletName, FilterBank>> = {
  'haar': {
    dec_lo: [0.7071067811865476, 0.7071067811865476],
    dec_hi: [-0.7071067811865476, 0.7071067811865476],
    rec_lo: [0.7071067811865476, 0.7071067811865476],
    rec_hi: [0.7071067811865476, -0.7071067811865476],
  },
  'db2': {
    dec_lo: [-0.12940952255126037, 0.2241438680420134, 0.8365163037378079, 0.48296291314453416],
    dec_hi: [-0.48296291314453416, 0.8365163037378079, -0.2241438680420134, -0.12940952255126037],
    rec_lo: [0.48296291314453416, 0.8365163037378079, 0.2241438680420134, -0.12940952255126037],
    rec_hi: [-0.12940952255126037, -0.2241438680420134, 0.8365163037378079, -0.48296291314453416],
  },
  'db4': {
    dec_lo: [-0.010597401785069032, 0.0328830116668852, 0.030841381835560764, -0.18703481171909309, -0.027983769416859854, 0.6308807679298589, 0.7148465705529157, 0.2303778133088965],
    dec_hi: [-0.2303778133088965, 0.7148465705529157, -0.6308807679298589, -0.027983769416859854, 0.18703481171909309, 0.030841381835560764, -0.0328830116668852, -0.010597401785069032],
    rec_lo: [0.2303778133088965, 0.7148465705529157, 0.6308807679298589, -0.027983769416859854, -0.18703481171909309, 0.030841381835560764, 0.0328830116668852, -0.010597401785069032],
    rec_hi: [-0.010597401785069032, -0.0328830116668852, 0.030841381835560764, 0.18703481171909309, -0.027983769416859854, -0.6308807679298589, 0.7148465705529157, -0.2303778133088965],
  },
  'sym4': {
    dec_lo: [-0.07576571478927333, -0.02963552764599851, 0.49761866763201545, 0.8037387518059161, 0.29785779560527736, -0.09921954357684722, -0.012603967262037833, 0.0322231006040427],
    dec_hi: [-0.0322231006040427, -0.012603967262037833, 0.09921954357684722, 0.29785779560527736, -0.8037387518059161, 0.49761866763201545, 0.02963552764599851, -0.07576571478927333],
    rec_lo: [0.0322231006040427, -0.012603967262037833, -0.09921954357684722, 0.29785779560527736, 0.8037387518059161, 0.49761866763201545, -0.02963552764599851, -0.07576571478927333],
    rec_hi: [-0.07576571478927333, 0.02963552764599851, 0.49761866763201545, -0.8037387518059161, 0.29785779560527736, 0.09921954357684722, -0.012603967262037833, -0.0322231006040427],
  },
  'coif1': {
    dec_lo: [-0.015655728135791993, -0.07273261951252645, 0.3848648468648578, 0.8525720202116004, 0.3378976624574818, -0.07273261951252645],
    dec_hi: [0.07273261951252645, 0.3378976624574818, -0.8525720202116004, 0.3848648468648578, 0.07273261951252645, -0.015655728135791993],
    rec_lo: [-0.07273261951252645, 0.3378976624574818, 0.8525720202116004, 0.3848648468648578, -0.07273261951252645, -0.015655728135791993],
    rec_hi: [-0.015655728135791993, 0.07273261951252645, 0.3848648468648578, -0.8525720202116004, 0.3378976624574818, 0.07273261951252645],
  },
  'bior2.2': {
    dec_lo: [0.0, -0.1767766952966369, 0.3535533905932738, 1.0606601717798212, 0.3535533905932738, -0.1767766952966369],
    dec_hi: [-0.0, 0.3535533905932738, -0.7071067811865476, 0.3535533905932738, -0.0, 0.0],
    rec_lo: [0.0, 0.3535533905932738, 0.7071067811865476, 0.3535533905932738, 0.0, 0.0],
    rec_hi: [0.0, 0.1767766952966369, 0.3535533905932738, -1.0606601717798212, 0.3535533905932738, 0.1767766952966369],
  },
};

export const WAVELETS = Object.keys(FILTERS) as WaveletName[];
export const MODES: readonly ExtensionMode[] = ['periodization', 'symmetric', 'zero', 'reflect', 'periodic', 'smooth'];

function bank(w: string): FilterBank {
  const f = (FILTERS as Record<string, FilterBank>)[w];
  if (!f) throw new WavefilterError('invalid_option', `wavelet: expected one of ${WAVELETS.join(', ')}, found ${JSON.stringify(w)}`, { option: 'wavelet' });
  return f;
}

function checkMode(m: string): ExtensionMode {
  if (!(MODES as readonly string[]).includes(m)) throw new WavefilterError('invalid_option', `mode: expected one of ${MODES.join(', ')}, found ${JSON.stringify(m)}`, { option: 'mode' });
  return m as ExtensionMode;
}

/** The sample at index k of x extended by `mode` (k may be outside [0, N)). */
function extended(x: ArrayLike<number>, k: number, mode: Exclude<ExtensionMode, 'periodization'>): number {
  const N = x.length;
  if (k >= 0 && k < N) return x[k];
  const mod = (a: number, p: number): number => ((a % p) + p) % p;
  switch (mode) {
    case 'zero':
      return 0;
    case 'symmetric': {
      const r = mod(k, 2 * N);
      return r < N ? x[r] : x[2 * N - 1 - r];
    }
    case 'reflect': {
      if (N === 1) return x[0];
      const r = mod(k, 2 * N - 2);
      return r < N ? x[r] : x[2 * N - 2 - r];
    }
    case 'periodic':
      return x[mod(k, N)];
    case 'smooth':
      if (N === 1) return x[0];
      return k < 0 ? x[0] + (x[0] - x[1]) * -k : x[N - 1] + (x[N - 1] - x[N - 2]) * (k - (N - 1));
  }
}

/** Length of one level's coefficients. */
export function dwtCoeffLength(n: number, filterLength: number, mode: ExtensionMode): number {
  return mode === 'periodization' ? Math.ceil(n / 2) : Math.floor((n + filterLength - 1) / 2);
}

/** pywt.dwt_max_level: floor(log2(N / (F - 1))), 0 when N < F - 1. */
export function dwtMaxLevel(n: number, filterLength: number): number {
  if (n < filterLength - 1) return 0;
  return Math.floor(Math.log2(n / (filterLength - 1)));
}

/** One analysis level: [cA, cD]. */
export function dwt(x: ArrayLike<number>, wavelet: WaveletName, mode: ExtensionMode = 'symmetric'): [Float64Array, Float64Array] {
  const f = bank(wavelet);
  checkMode(mode);
  const F = f.dec_lo.length;
  const N = x.length;
  if (N < 1) throw new WavefilterError('invalid_input', 'dwt: the signal is empty', { length: 0 });
  if (mode === 'periodization') {
    const M = N % 2 ? N + 1 : N;
    const xp = (k: number): number => {
      const r = ((k % M) + M) % M;
      return r < N ? x[r] : x[N - 1];
    };
    const L = M / 2;
    const cA = new Float64Array(L);
    const cD = new Float64Array(L);
    for (let o = 0; o < L; o++) {
      const i = F / 2 + 2 * o;
      let a = 0;
      let d = 0;
      for (let j = 0; j < F; j++) {
        const v = xp(i - j);
        a += f.dec_lo[j] * v;
        d += f.dec_hi[j] * v;
      }
      cA[o] = a;
      cD[o] = d;
    }
    return [cA, cD];
  }
  const L = Math.floor((N + F - 1) / 2);
  const cA = new Float64Array(L);
  const cD = new Float64Array(L);
  for (let o = 0; o < L; o++) {
    const i = 2 * o + 1;
    let a = 0;
    let d = 0;
    for (let j = 0; j < F; j++) {
      const v = extended(x, i - j, mode);
      a += f.dec_lo[j] * v;
      d += f.dec_hi[j] * v;
    }
    cA[o] = a;
    cD[o] = d;
  }
  return [cA, cD];
}

/** One synthesis level from cA and cD of equal length. */
export function idwt(cA: ArrayLike<number>, cD: ArrayLike<number>, wavelet: WaveletName, mode: ExtensionMode = 'symmetric'): Float64Array {
  const f = bank(wavelet);
  checkMode(mode);
  if (cA.length !== cD.length) throw new WavefilterError('invalid_input', `idwt: cA has ${cA.length} coefficients but cD has ${cD.length}`, { expected: cA.length, found: cD.length });
  const F = f.rec_lo.length;
  const L = cA.length;
  if (mode === 'periodization') {
    const M = 2 * L;
    const x = new Float64Array(M);
    for (let o = 0; o < L; o++) {
      for (let j = 0; j < F; j++) {
        const k = (((F / 2 + 2 * o - j) % M) + M) % M;
        x[k] += f.rec_lo[F - 1 - j] * cA[o] + f.rec_hi[F - 1 - j] * cD[o];
      }
    }
    return x;
  }
  // upsample (zeros between), full convolution with the reconstruction filters, keep the valid middle
  const outLen = 2 * L - F + 2;
  if (outLen < 1) throw new WavefilterError('invalid_input', `idwt: ${L} coefficients are too few for ${wavelet}`, { length: L });
  const x = new Float64Array(outLen);
  for (let n = 0; n < outLen; n++) {
    const t = n + F - 2; // index into the full convolution
    let s = 0;
    for (let j = 0; j < F; j++) {
      const u = t - j; // index into the upsampled signal (length 2L - 1)
      if (u < 0 || u > 2 * L - 2 || u % 2) continue;
      s += f.rec_lo[j] * cA[u / 2] + f.rec_hi[j] * cD[u / 2];
    }
    x[n] = s;
  }
  return x;
}

export interface WavedecOptions {
  readonly mode?: ExtensionMode;
  /** Decomposition levels; default pywt.dwt_max_level. */
  readonly level?: number;
}

/** pywt.wavedec: [cA_n, cD_n, ..., cD_1]. */
export function wavedec(signal: ArrayLike<number>, wavelet: WaveletName, opts: WavedecOptions = {}): Float64Array[] {
  const f = bank(wavelet);
  const mode = checkMode(opts.mode ?? 'symmetric');
  const level = opts.level ?? dwtMaxLevel(signal.length, f.dec_lo.length);
  if (!Number.isSafeInteger(level) || level < 0) throw new WavefilterError('invalid_option', `level: expected a non-negative integer, found ${level}`, { option: 'level' });
  let a: ArrayLike<number> = signal;
  const details: Float64Array[] = [];
  for (let l = 0; l < level; l++) {
    const [cA, cD] = dwt(a, wavelet, mode);
    details.unshift(cD);
    a = cA;
  }
  return [Float64Array.from(a), ...details];
}

/** pywt.waverec: inverse of wavedec (may be one sample longer than the original for odd lengths). */
export function waverec(coeffs: readonly ArrayLike<number>[], wavelet: WaveletName, opts: { mode?: ExtensionMode } = {}): Float64Array {
  const mode = checkMode(opts.mode ?? 'symmetric');
  if (coeffs.length < 1) throw new WavefilterError('invalid_input', 'waverec: no coefficients', {});
  let a: ArrayLike<number> = coeffs[0];
  for (let i = 1; i < coeffs.length; i++) {
    const d = coeffs[i];
    if (a.length === d.length + 1) a = Array.prototype.slice.call(a, 0, d.length) as number[];
    else if (a.length !== d.length)
      throw new WavefilterError('invalid_input', `waverec: coefficient arrays ${i - 1} and ${i} have lengths ${a.length} and ${d.length}`, { expected: d.length, found: a.length });
    a = idwt(a, d, wavelet, mode);
  }
  return Float64Array.from(a);
}
