// PyWavelets parity: every case of pywt-wavedec.json (PyWavelets 1.1.1) within 1e-9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ExtensionMode, type WaveletName, wavedec, waverec } from '../../src/index.js';
import { FIXTURES } from '../helpers.js';

interface Case { wavelet: WaveletName; mode: ExtensionMode; level: number; x: number[]; coeffs: number[][]; reconstruction: number[] }
const data = JSON.parse(readFileSync(join(FIXTURES, 'wavelets', 'pywt-wavedec.json'), 'utf8')) as { cases: Case[] };

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('wavedec and waverec match PyWavelets on all 330 shared cases', () => {
  assert.equal(data.cases.length, 330);
  const failures: string[] = [];
  for (const c of data.cases) {
    const what = `${c.wavelet}/${c.mode}/N=${c.x.length}/level=${c.level}`;
    const coeffs = wavedec(c.x, c.wavelet, { mode: c.mode, level: c.level });
    if (coeffs.length !== c.coeffs.length || coeffs.some((a, i) => a.length !== c.coeffs[i].length || maxDiff(a, c.coeffs[i]) > 1e-9)) {
      failures.push(`wavedec ${what}`);
      continue;
    }
    const rec = waverec(coeffs, c.wavelet, { mode: c.mode }).subarray(0, c.x.length);
    if (rec.length !== c.reconstruction.length || maxDiff(rec, c.reconstruction) > 1e-9) failures.push(`waverec ${what}`);
  }
  assert.deepEqual(failures, []);
});

test('hand-worked Haar vectors (docs §4.7)', () => {
  const c = wavedec([1, 2, 3, 4, 5, 6, 7, 8], 'haar', { level: 2 });
  assert.ok(maxDiff(c[0], [5, 13]) < 1e-12);
  assert.ok(maxDiff(c[1], [-2, -2]) < 1e-12);
  const odd = wavedec([1, 2, 3, 4, 5, 6, 7], 'haar', { level: 2 });
  assert.ok(maxDiff(odd[0], [5, 12.5]) < 1e-12);
  assert.ok(maxDiff(waverec(odd, 'haar'), [1, 2, 3, 4, 5, 6, 7, 7]) < 1e-12);
  assert.equal(wavedec([1, 2, 3, 4, 5, 6, 7, 8], 'haar').length, 4, 'default level = dwt_max_level = 3');
});

test('unknown wavelets and modes are rejected by name', () => {
  assert.throws(() => wavedec([1, 2], 'db3' as WaveletName), /wavelet: expected one of haar/);
  assert.throws(() => wavedec([1, 2], 'haar', { mode: 'antisymmetric' as ExtensionMode }), /mode: expected one of/);
});
