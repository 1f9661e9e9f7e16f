/**
 * Runs a needle grid for every method on identical prompts. Like the RULER runner: one JSON line per
 * finished prompt in results.jsonl (a crash loses nothing, a rerun resumes), then results.json
 * (schema below), results.md (a length x depth table per method) and heatmaps (PNG and SVG).
 *
 * results.json: { benchmark: 'niah', ...meta, scorer, cells: [{method, length, depth, score, n}],
 *   methods: [{method, score, tokens_per_s, runtime_s, generated_tokens}], peak_rss_mb }
 * Scores are on 0-100 with the chosen scorer (every scorer's value is in results.jsonl).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiffusionModel } from '../../engine.js';
import { type ChartOutput, heatmap, type Point, writeChart } from '../../report/charts.js';
import { type MethodSpec, methodIdentity, runMethod } from '../methods.js';
import { z } from 'zod';
import { ResultsFile, type RunFields, inputHash, runFieldsSchema } from '../results-file.js';
import { modelIdentity } from '../ruler/run.js';
import { postprocess } from '../ruler/metrics.js';
import { rulerPromptIds } from '../ruler/prompt.js';
import type { NiahSample } from './grid.js';
import { NIAH_SCORERS, type NiahScorer, scoreNeedle } from './scorers.js';

export interface NiahResult extends RunFields {
  readonly method: string;
  readonly length: number;
  readonly depth: number;
  readonly repeat: number;
  readonly prediction: string;
  readonly keyword: string;
  readonly scores: Readonly<Record<NiahScorer, number>>;
}

const count = z.number().int().nonnegative();
const niahResultSchema = z.object({
  method: z.string().min(1).max(200), length: z.number().int().positive(), depth: z.number().min(0).max(100), repeat: count,
  prediction: z.string(), keyword: z.string(),
  scores: z.object(Object.fromEntries(NIAH_SCORERS.map((s) => [s, z.number().min(0).max(10)]))).strict(),
  ...runFieldsSchema,
}).strict() as unknown as z.ZodType<NiahResult>;

const key = (r: { method: string; length: number; depth: number; repeat: number }): string => `${r.method}|${r.length}|${r.depth}|${r.repeat}`;

export async function runNiah(model: DiffusionModel, o: {
  samples: readonly NiahSample[];
  methods: readonly MethodSpec[];
  outDir: string;
  genLength: number;
  blockLength: number;
  threshold: number | null;
  onProgress?: (done: number, total: number, what: string) => void;
}): Promise<NiahResult[]> {
  const file = new ResultsFile<NiahResult>(o.outDir, key, niahResultSchema);
  const identity = modelIdentity(model);
  const stop = model.stopIds();
  const ids = o.samples.map((s) => rulerPromptIds(model.codec, s, model.dir));
  const total = o.samples.length * o.methods.length;
  const results: NiahResult[] = [];
  let progress = 0;
  for (const m of o.methods)
    for (const [i, s] of o.samples.entries()) {
      const k = key({ method: m.name, ...s });
      const hash = inputHash({ model: identity, method: methodIdentity(m), ids: ids[i], genLength: o.genLength, blockLength: o.blockLength, threshold: o.threshold, needle: s.needle });
      const prev = file.get(k, hash);
      if (!prev) {
        const t0 = performance.now();
        const out = await runMethod(model, ids[i], m, { genLength: o.genLength, blockLength: o.blockLength, threshold: o.threshold, allowLongContext: true });
        const prediction = postprocess(out.text ?? '');
        const firstStop = out.generatedIds.findIndex((x) => stop.has(x));
        const scores = Object.fromEntries(NIAH_SCORERS.map((sc) => [sc, Math.round(scoreNeedle(sc, prediction, s.needle) * 100) / 100])) as Record<NiahScorer, number>;
        const r: NiahResult = {
          method: m.name, length: s.length, depth: s.depth, repeat: s.repeat, prediction, keyword: s.needle.keyword, scores,
          prompt_tokens: ids[i].length, generated_tokens: firstStop < 0 ? out.generatedIds.length : firstStop, nfe: out.nfe, wall_ms: performance.now() - t0, input_hash: hash,
        };
        file.append(r);
        results.push(r);
      } else results.push(prev);
      o.onProgress?.(++progress, total, `${m.name} ${s.length} @${s.depth}%`);
    }
  return results;
}

export async function writeNiahSummary(dir: string, meta: Record<string, unknown>, scorer: NiahScorer, results: readonly NiahResult[], charts: ChartOutput | null = {}): Promise<Record<string, unknown>> {
  const cellMap = new Map<string, NiahResult[]>();
  for (const r of results) {
    const k = `${r.method}|${r.length}|${r.depth}`;
    cellMap.set(k, [...(cellMap.get(k) ?? []), r]);
  }
  const mean = (rs: readonly NiahResult[]): number => Math.round((rs.reduce((a, r) => a + r.scores[scorer], 0) / Math.max(1, rs.length)) * 100) / 100;
  const cells = [...cellMap.values()].map((rs) => ({ method: rs[0].method, length: rs[0].length, depth: rs[0].depth, score: mean(rs), n: rs.length }));
  const methodNames = [...new Set(results.map((r) => r.method))];
  const methods = methodNames.map((name) => {
    const rs = results.filter((r) => r.method === name);
    const ms = rs.reduce((a, r) => a + r.wall_ms, 0);
    const gen = rs.reduce((a, r) => a + r.generated_tokens, 0);
    return { method: name, score: mean(rs), prompts: rs.length, tokens_per_s: ms > 0 ? (gen * 1000) / ms : 0, runtime_s: ms / 1000, generated_tokens: gen };
  });
  const summary = { benchmark: 'niah', ...meta, scorer, cells, methods, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const lengths = [...new Set(cells.map((c) => c.length))].sort((a, b) => a - b);
  const depths = [...new Set(cells.map((c) => c.depth))].sort((a, b) => a - b);
  const md: string[] = [`Scorer: ${scorer} (0-100). Overall per method:`, '', '| method | prompts | score | tokens/s | decode s |', '|---|---|---|---|---|'];
  for (const m of methods) md.push(`| ${m.method} | ${m.prompts} | ${m.score.toFixed(2)} | ${m.tokens_per_s.toFixed(2)} | ${m.runtime_s.toFixed(1)} |`);
  const perCell = [...new Set(cells.map((c) => c.n))].sort((a, b) => a - b);
  for (const name of methodNames) {
    md.push('', `${name}: rows are context lengths, columns needle depths (%); ${perCell.join('-')} prompt(s) per cell`, '', `| length | ${depths.join(' | ')} |`, `|---|${depths.map(() => '---|').join('')}`);
    for (const L of lengths) md.push(`| ${L} | ${depths.map((d) => cells.find((c) => c.method === name && c.length === L && c.depth === d)?.score.toFixed(0) ?? '-').join(' | ')} |`);
  }
  writeFileSync(join(dir, 'results.md'), `${md.join('\n')}\n`);
  const data: Point[] = cells.map((c) => ({ method: c.method, 'context length': c.length, 'depth %': c.depth, score: c.score }));
  // charts null: none drawn (the CLI found no renderer and said so)
  if (charts) await writeChart(join(dir, 'niah-heatmap'), heatmap({ title: `Needle in a haystack (${scorer})`, data, x: 'depth %', y: 'context length', value: 'score', facet: methodNames.length > 1 ? 'method' : undefined }), charts);
  return summary;
}
