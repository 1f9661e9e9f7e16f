/**
 * Strict parsers for command-line values: "12abc", "0x1", "1e999" and " 3" are errors naming the
 * flag, not numbers; every numeric flag has a range.
 */
import { type Device, parseDevice } from '../model/runtime.js';
import { availableParallelism } from 'node:os';
import { invalidOption } from '../errors.js';

const INT = /^-?\d{1,16}$/;
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$/;

export interface Range {
  readonly min?: number;
  readonly max?: number;
  /** min is excluded (e.g. a threshold in (0, 1]) */
  readonly minExclusive?: boolean;
}

function describe(kind: string, r: Range): string {
  const lo = r.min === undefined ? '' : `${r.minExclusive ? '>' : '>='} ${r.min}`;
  const hi = r.max === undefined ? '' : `<= ${r.max}`;
  return [kind, [lo, hi].filter((x) => x).join(' and ')].filter((x) => x).join(' ');
}

function inRange(v: number, r: Range): boolean {
  if (r.min !== undefined && (r.minExclusive ? v <= r.min : v < r.min)) return false;
  return r.max === undefined || v <= r.max;
}

export function parseInt10(flag: string, v: string, r: Range = {}): number {
  const n = Number(v);
  if (!INT.test(v) || !Number.isSafeInteger(n) || !inRange(n, r)) invalidOption(flag, describe('an integer', r), v);
  return n;
}

export function parseDecimal(flag: string, v: string, r: Range = {}): number {
  const n = Number(v);
  if (!DECIMAL.test(v) || !Number.isFinite(n) || !inRange(n, r)) invalidOption(flag, describe('a decimal number', r), v);
  return n;
}

export function intArg(flag: string, r: Range = {}) {
  return (v: string): number => parseInt10(flag, v, r);
}

export function numArg(flag: string, r: Range = {}) {
  return (v: string): number => parseDecimal(flag, v, r);
}

/** WaveFilter's token share (--wf-token-share): below 1, so the pyramid keeps a part of the budget. */
export const TOKEN_SHARE_RANGE: Range = { min: 0, max: 0.999 };

/** --threads: 1 to the number of cores ORT could use. */
export function threadsArg() {
  return intArg('--threads', { min: 1, max: availableParallelism() });
}

/** A budget: a fraction in (0, 1], or an integer token count above 1 (1.5 is neither). */
export function parseBudgetArg(flag: string, v: string): number {
  const n = parseDecimal(flag, v, { min: 0, minExclusive: true, max: 1 << 24 });
  if (n > 1 && !Number.isInteger(n)) invalidOption(flag, 'a fraction in (0, 1] or an integer token count above 1', v);
  return n;
}

export function idsArg(flag: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (parts.length === 0) invalidOption(flag, 'a comma-separated list of token ids', v);
    return parts.map((p) => parseInt10(flag, p, { min: 0 }));
  };
}

export function listArg(flag: string, r: Range = {}, integer = false) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (parts.length > 10_000) invalidOption(flag, 'at most 10,000 values', `${parts.length} values`);
    return parts.map((p) => (integer ? parseInt10(flag, p, r) : parseDecimal(flag, p, r)));
  };
}

/** Comma-separated names, each one of `choices`. */
export function namesArg(flag: string, v: string, choices: readonly string[]): string[] {
  const names = v.split(',').map((x) => x.trim()).filter((x) => x);
  if (names.length === 0) invalidOption(flag, `one or more of ${choices.join(', ')}`, v);
  for (const x of names) if (!choices.includes(x)) invalidOption(flag, `names from ${choices.join(', ')}`, x);
  return [...new Set(names)];
}

/** --device: cpu, cuda or cuda:N (checked by the engine's parseDevice, which names the forms). */
export function deviceArg() {
  return (v: string): Device => {
    parseDevice(v);
    return v as Device;
  };
}

export const DEVICE_HELP = 'where to run: cpu, cuda or cuda:N (ONNX Runtime\'s CUDA provider; see the README, GPU)';
