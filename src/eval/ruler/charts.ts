/**
 * Charts of RULER results (results.json rows): accuracy against budget per method at each length,
 * the paired differences (each filter against its host, WaveFilter against the best baseline) with
 * their 95% intervals, and throughput against context length when a run (or a merge of runs) spans
 * several lengths.
 */
import { join } from 'node:path';
import { type ChartOutput, type IntervalRow, type Point, type ReferenceLine, intervalChart, lineChart, writeChart } from '../../report/charts.js';
import { type MethodSpec, type SummaryRow, perMethod } from './run.js';

/** A method's label without its budget ("dual+snapkv"), and its budget (null for the host). */
function family(m: MethodSpec): string {
  if (m.filter === 'none') return `${m.cache} (no filter)`;
  return `${m.cache}+${m.filter}${m.preset ? `-${m.preset}` : ''}`;
}

/** Writes accuracy-vs-budget-<length>.{svg,png}, paired-differences-<length>.{svg,png} where the rows pair, and for several lengths throughput-vs-length.{svg,png}. */
export async function writeRulerCharts(dir: string, methods: readonly MethodSpec[], rows: readonly SummaryRow[], out: ChartOutput = {}): Promise<string[]> {
  const written: string[] = [];
  const agg = perMethod(rows);
  const byName = new Map(methods.map((m) => [m.name, m]));
  const budgets = [...new Set(methods.map((m) => m.budget).filter((b): b is number => b !== null))].sort((a, b) => a - b);
  // fractions read as percentages; token counts as integers
  const fractions = budgets.every((b) => b <= 1);
  for (const length of [...new Set(agg.map((a) => a.length))].sort((a, b) => a - b)) {
    const data: Point[] = [];
    const references: ReferenceLine[] = [];
    const samples = new Set<number>();
    const here = agg.filter((x) => x.length === length);
    for (const a of here) {
      const m = byName.get(a.method);
      if (!m) continue;
      samples.add(a.samples);
      const accuracy = Math.round(a.accuracy * 100) / 100;
      // the host has no budget: a labelled horizontal line, not a series with invented budgets
      if (m.budget === null) references.push({ label: family(m), value: accuracy });
      else data.push({ method: family(m), budget: m.budget, accuracy });
    }
    if (budgets.length && (data.length || references.length))
      written.push(...(await writeChart(join(dir, length > 0 ? `accuracy-vs-budget-${length}` : 'accuracy-vs-budget'), lineChart({
        title: length > 0 ? `Mean accuracy at ${length} tokens` : 'Mean score',
        subtitle: `${countRange(samples)} samples per method (summed over tasks)`,
        data, x: 'budget', y: 'accuracy', series: 'method', xTitle: fractions ? 'kept prompt rows (budget, % of the prompt)' : 'kept prompt rows (budget, tokens)',
        yTitle: 'accuracy (%)', yDomain: [0, 100], xValues: budgets, xFormat: fractions ? '~%' : 'd', references,
      }), out)));
    // the paired differences with their intervals, where the rows carry them
    const pairs: IntervalRow[] = [
      ...here.flatMap((a) => (a.vs_host ? [{ label: `${a.method} - host`, group: 'a filter minus its host', ...a.vs_host }] : [])),
      ...here.flatMap((a) => (a.vs_best ? [{ label: `${a.method} - ${a.vs_best.method}`, group: 'WaveFilter minus the best baseline at its budget', mean: a.vs_best.mean, lo: a.vs_best.lo, hi: a.vs_best.hi }] : [])),
    ].map((r) => ({ ...r, mean: round2(r.mean), lo: round2(r.lo), hi: round2(r.hi) }));
    if (pairs.length)
      written.push(...(await writeChart(join(dir, length > 0 ? `paired-differences-${length}` : 'paired-differences'), intervalChart({
        title: length > 0 ? `Mean accuracy differences at ${length} tokens` : 'Mean score differences',
        subtitle: `paired over the same prompts, 95% intervals; ${countRange(here.map((a) => a.samples))} samples per method`,
        rows: pairs, xTitle: 'difference of the mean over tasks (accuracy points)',
      }), out)));
  }
  const lengths = new Set(agg.map((a) => a.length));
  if (lengths.size > 1) {
    const data: Point[] = agg.map((a) => ({ method: a.method, length: a.length, 'samples per minute': Math.round((a.samples / Math.max(a.runtime_s, 1e-9)) * 60 * 100) / 100 }));
    written.push(...(await writeChart(join(dir, 'throughput-vs-length'), lineChart({
      title: 'Decoding throughput against context length', data, x: 'length', y: 'samples per minute', series: 'method', xTitle: 'prompt length (tokens)', xLog: true, yLog: true,
    }), out)));
  }
  return written;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** "20", or "10-20" where the counts differ. */
function countRange(counts: Iterable<number>): string {
  const n = [...new Set(counts)].sort((a, b) => a - b);
  return n.length === 1 ? String(n[0]) : `${n[0]}-${n[n.length - 1]}`;
}
