/** Strict parsers for command-line values: "12abc" is an error naming the flag, not 12. */
import { invalidOption } from '../errors.js';

export function intArg(flag: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) invalidOption(flag, 'an integer', v);
    return Number(v);
  };
}

export function numArg(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) invalidOption(flag, 'a number', v);
    return n;
  };
}

export function idsArg(flag: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (parts.length === 0) invalidOption(flag, 'a comma-separated list of token ids', v);
    return parts.map((p) => {
      if (!/^\d+$/.test(p)) invalidOption(flag, 'non-negative integer token ids', p);
      return Number(p);
    });
  };
}

export function listArg(flag: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    return parts.map((p) => {
      const n = Number(p);
      if (p === '' || !Number.isFinite(n)) invalidOption(flag, 'a comma-separated list of numbers', v);
      return n;
    });
  };
}
