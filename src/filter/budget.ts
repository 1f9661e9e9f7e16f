/** Budgets as users give them: a number, (0, 1] a fraction of the prompt, larger a token count. */
import { WavefilterError } from '../errors.js';
import type { Budget } from './token-filter.js';

/** A budget number: (0, 1] is a fraction of the prompt, larger is a token count. */
export function parseBudget(v: number | null | undefined): Budget | null {
  if (v === null || v === undefined) return null;
  if (!(Number.isFinite(v) && v > 0)) throw new WavefilterError('invalid_option', `budget: expected a fraction in (0, 1] or a token count > 1, found ${v}`, { option: 'budget' });
  if (v > 1 && !Number.isSafeInteger(v)) throw new WavefilterError('invalid_option', `budget: a value above 1 is a token count and must be an integer, found ${v}`, { option: 'budget' });
  return v <= 1 ? { fraction: v } : { tokens: v };
}
