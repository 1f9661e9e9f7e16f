/**
 * LongBench v1 / LongBench-E over a folder of the official JSONL files, for every method of a grid on
 * identical prompts (pred.py + eval.py of THUDM/LongBench, restated in docs §4):
 * template -> middle truncation to the model's input budget (its context minus the dataset's
 * generation length) -> chat template except for the raw datasets (few-shot, code) -> generation of
 * the dataset's max_gen tokens -> eval.py's scoring. One JSON line per record (resumable), then
 * results.json, results.md and charts.
 *
 * results.json: { benchmark: 'longbench', ...meta, scores: {method: {dataset: score}},
 *   buckets?: {method: {dataset: {'0-4k', '4-8k', '8k+'}}} (LongBench-E), averages: {method:
 *   {category_average, dataset_average}}, rows: [{method, task: dataset, accuracy, samples,
 *   tokens_per_s, runtime_s, generated_tokens, nfe}], peak_rss_mb }
 */
import type { DiffusionModel } from '../../engine.js';
import { WavefilterError } from '../../errors.js';
import { type MethodSpec, methodIdentity, runMethod } from '../methods.js';
import { z } from 'zod';
import { ResultsFile, type RunFields, inputHash, runFieldsSchema } from '../results-file.js';
import { modelIdentity } from '../ruler/run.js';
import type { SummaryRow } from '../ruler/run.js';
import { LONGBENCH_DATASETS, datasetScore, formatPrompt, lengthBucket, loadLongBench, longBenchAverages, scoreRecord, truncateMiddle } from './datasets.js';

/** One LongBench record's result (the RunFields are the generation's). */
export interface LongBenchResult extends RunFields {
  readonly method: string;
  readonly dataset: string;
  readonly id: string;
  readonly length: number;
  readonly prediction: string;
  readonly score: number;
}

const count = z.number().int().nonnegative();
const longBenchResultSchema = z.object({
  method: z.string().min(1).max(200), dataset: z.string(), id: z.string(), length: count, prediction: z.string(), score: z.number().min(0).max(1),
  ...runFieldsSchema,
}).strict() as unknown as z.ZodType<LongBenchResult>;

/** Every LongBench v1 dataset (the Chinese metrics segment with jieba). */
export function supportedDatasets(): string[] {
  return LONGBENCH_DATASETS.map((d) => d.name);
}

export async function runLongBench(model: DiffusionModel, o: {
  dataDir: string;
  datasets: readonly string[];
  e: boolean;
  limit: number | null;
  methods: readonly MethodSpec[];
  outDir: string;
  blockLength: number;
  threshold: number | null;
  onProgress?: (done: number, total: number, what: string) => void;
}): Promise<LongBenchResult[]> {
  const codec = model.codec;
  if (!codec) throw new WavefilterError('invalid_input', `${model.dir}: LongBench needs a tokenizer`, { file: model.dir });
  // every file is read and validated before any generation
  const data = o.datasets.map((name) => ({ name, ds: LONGBENCH_DATASETS.find((d) => d.name === name)!, records: loadLongBench(o.dataDir, name, o.e).slice(0, o.limit ?? undefined) }));
  const key = (r: { method: string; dataset: string; id: string }): string => `${r.method}|${r.dataset}|${r.id}`;
  const file = new ResultsFile<LongBenchResult>(o.outDir, key, longBenchResultSchema);
  const identity = modelIdentity(model);
  const stop = model.stopIds();
  const total = data.reduce((a, d) => a + d.records.length, 0) * o.methods.length;
  let progress = 0;
  const results: LongBenchResult[] = [];
  for (const { name, ds, records } of data) {
    const genLength = Math.ceil(ds.maxGen / o.blockLength) * o.blockLength;
    const budget = model.spec.maxSequenceLength - genLength;
    const prompts = records.map((r) => {
      const text = truncateMiddle(codec, formatPrompt(name, r), budget - 32);
      const ids = ds.raw ? codec.encodePrompt(text) : codec.hasChatTemplate ? codec.encodeChat([{ role: 'user', content: text }]) : codec.encodePrompt(text);
      // the template's own tokens can still overflow after truncation: trim the middle further
      return ids.length <= budget ? ids : [...ids.slice(0, Math.floor(budget / 2)), ...ids.slice(ids.length - Math.ceil(budget / 2))];
    });
    for (const m of o.methods)
      for (const [i, rec] of records.entries()) {
        const k = key({ method: m.name, dataset: name, id: rec._id });
        const hash = inputHash({ model: identity, method: methodIdentity(m), ids: prompts[i], genLength, blockLength: o.blockLength, threshold: o.threshold, answers: rec.answers, all_classes: rec.all_classes ?? null });
        const prev = file.get(k, hash);
        if (!prev) {
          const t0 = performance.now();
          const out = await runMethod(model, prompts[i], m, { genLength, blockLength: o.blockLength, threshold: o.threshold });
          const firstStop = out.generatedIds.findIndex((x) => stop.has(x));
          const kept = firstStop < 0 ? out.generatedIds : out.generatedIds.slice(0, firstStop);
          const prediction = codec.decode(kept.slice(0, ds.maxGen));
          const r: LongBenchResult = {
            method: m.name, dataset: name, id: rec._id, length: rec.length, prediction, score: scoreRecord(name, prediction, rec),
            prompt_tokens: prompts[i].length, generated_tokens: kept.length, nfe: out.nfe, wall_ms: performance.now() - t0, input_hash: hash,
          };
          file.append(r);
          results.push(r);
        } else results.push(prev);
        o.onProgress?.(++progress, total, `${m.name} ${name}`);
      }
  }
  return results;
}

export function summarizeLongBench(results: readonly LongBenchResult[], e: boolean): {
  scores: Record<string, Record<string, number>>;
  buckets?: Record<string, Record<string, Record<string, number>>>;
  averages: Record<string, { category_average: number | null; dataset_average: number | null }>;
  rows: SummaryRow[];
} {
  const scores: Record<string, Record<string, number>> = {};
  const buckets: Record<string, Record<string, Record<string, number>>> = {};
  const rows: SummaryRow[] = [];
  const groups = new Map<string, LongBenchResult[]>();
  for (const r of results) groups.set(`${r.method}|${r.dataset}`, [...(groups.get(`${r.method}|${r.dataset}`) ?? []), r]);
  for (const g of groups.values()) {
    const { method, dataset } = g[0];
    (scores[method] ??= {})[dataset] = datasetScore(g.map((r) => r.score));
    if (e) {
      const b: Record<string, number> = {};
      for (const bucket of ['0-4k', '4-8k', '8k+'] as const) {
        const rs = g.filter((r) => lengthBucket(r.length) === bucket);
        if (rs.length) b[bucket] = datasetScore(rs.map((r) => r.score));
      }
      (buckets[method] ??= {})[dataset] = b;
    }
    const ms = g.reduce((a, r) => a + r.wall_ms, 0);
    const gen = g.reduce((a, r) => a + r.generated_tokens, 0);
    rows.push({
      method, task: dataset, length: 0, accuracy: scores[method][dataset], samples: g.length,
      tokens_per_s: ms > 0 ? (gen * 1000) / ms : 0, runtime_s: ms / 1000, generated_tokens: gen, nfe: g.reduce((a, r) => a + r.nfe, 0),
    });
  }
  const averages = Object.fromEntries(Object.entries(scores).map(([m, s]) => {
    const a = longBenchAverages(s);
    return [m, { category_average: a.categoryAverage, dataset_average: a.datasetAverage }];
  }));
  return { scores, ...(e ? { buckets } : {}), averages, rows };
}

export function longBenchMarkdown(s: ReturnType<typeof summarizeLongBench>): string {
  const methods = Object.keys(s.scores);
  const datasets = [...new Set(methods.flatMap((m) => Object.keys(s.scores[m])))];
  const out = [`| method | ${datasets.join(' | ')} | category avg | dataset avg |`, `|---|${datasets.map(() => '---|').join('')}---|---|`];
  const f = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : x.toFixed(2));
  const n = (m: string, d: string): number | undefined => s.rows.find((r) => r.method === m && r.task === d)?.samples;
  for (const m of methods) out.push(`| ${m} | ${datasets.map((d) => (s.scores[m][d] === undefined ? '-' : `${f(s.scores[m][d])} (n=${n(m, d)})`)).join(' | ')} | ${f(s.averages[m].category_average)} | ${f(s.averages[m].dataset_average)} |`);
  return out.join('\n');
}
