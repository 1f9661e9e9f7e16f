/**
 * Merging RULER runs: rows of one method counted under another's name when both ran the same
 * algorithm (a row name from before a preset's default changed, and the preset's plain name after).
 */
import { WavefilterError } from '../../errors.js';
import { type MethodSpec, sameAlgorithm } from '../methods.js';
import type { SampleResult } from './run.js';

/**
 * `eval merge --same A=B`: method A's rows counted as B's (A leaves the method list). Refused,
 * naming both, unless A and B run the same algorithm (sameAlgorithm) and both are in the runs.
 */
export function mergeSameMethods(methods: Map<string, MethodSpec>, results: readonly SampleResult[], pairs: readonly string[]): SampleResult[] {
  const rename = new Map<string, string>();
  for (const pair of pairs) {
    const [a, b, ...rest] = pair.split('=');
    const bad = (why: string): never => {
      throw new WavefilterError('invalid_option', `--same ${JSON.stringify(pair)}: ${why}`, { option: 'same' });
    };
    if (!a || !b || rest.length) bad('expected A=B, two method names');
    const ma = methods.get(a);
    const mb = methods.get(b);
    if (!ma || !mb) bad(`${ma ? b : a} is not a method of these runs (they have: ${[...methods.keys()].join(', ')})`);
    if (!sameAlgorithm(ma as MethodSpec, mb as MethodSpec)) bad(`${a} and ${b} run different algorithms (host, filter, budget or a WaveFilter knob differs)`);
    rename.set(a, b);
  }
  for (const a of rename.keys()) methods.delete(a);
  return results.map((r) => (rename.has(r.method) ? { ...r, method: rename.get(r.method) as string } : r));
}

/**
 * Rows of the same work in more than one folder (the same method on the same prompt: equal input
 * hashes, as when budget sweeps reuse the host's rows) counted once; counting them twice would double
 * the host's samples and narrow its interval. Rows of other prompts (another seed) all stay.
 */
export function dedupeRows(results: readonly SampleResult[]): { rows: SampleResult[]; duplicates: number } {
  const seen = new Set<string>();
  const rows: SampleResult[] = [];
  for (const r of results) {
    // rows from before input hashes existed cannot be told apart: all stay
    if (!r.input_hash) {
      rows.push(r);
      continue;
    }
    const k = `${r.method}|${r.input_hash}`;
    if (seen.has(k)) continue;
    seen.add(k);
    rows.push(r);
  }
  return { rows, duplicates: results.length - rows.length };
}
