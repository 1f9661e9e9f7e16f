/**
 * The RULER runner: generates each (task, length) sample set once, runs every method of the grid on
 * the identical prompts, scores with RULER's metrics, and records per-sample results as JSON lines
 * as they finish (so a crash or Ctrl-C loses nothing and a rerun resumes), plus a summary.
 *
 * Results schema (results.json):
 *   { benchmark: 'ruler', model, seed, samples, lengths, tasks, created, source,
 *     methods: [{ name, cache, filter, budget, preset }],
 *     rows: [{ method, task, length, accuracy, samples, tokens_per_s, runtime_s, generated_tokens, nfe }],
 *     accuracy: { [method]: { [length]: { [task]: number, mean: number } } },
 *     peak_rss_mb }
 * results.jsonl has one object per (method, task, length, index): prediction, references, score,
 * prompt_tokens, generated_tokens, nfe, wall_ms, input_hash (sampleResultSchema; see results-file.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DiffusionModel } from '../../engine.js';
import { type MethodSpec, methodIdentity, runMethod } from '../methods.js';
import { z } from 'zod';
import { ResultsFile, type RunFields, inputHash, runFieldsSchema } from '../results-file.js';
import { WavefilterError } from '../../errors.js';
import { type RulerEnv, type RulerSample, generateRuler } from './generate.js';
import { matchAll, matchPart, postprocess } from './metrics.js';
import { RULER_TASKS, type RulerTaskName } from './tasks.js';
import { rulerPromptIds } from './prompt.js';
import { type TaskStats, Z95, sampleVariance, stratifiedMean, taskStats, wilson } from '../intervals.js';

export type { MethodSpec } from '../methods.js';

export interface RulerRunOptions {
  readonly tasks: readonly RulerTaskName[];
  readonly lengths: readonly number[];
  readonly samples: number;
  readonly methods: readonly MethodSpec[];
  readonly outDir: string;
  readonly blockLength: number;
  /** Fast-dLLM confidence threshold; null = one token per step. */
  readonly threshold: number | null;
  readonly env: Omit<RulerEnv, 'count'>;
  readonly onProgress?: (done: number, total: number, what: string) => void;
}

export interface SampleResult extends RunFields {
  readonly method: string;
  readonly task: RulerTaskName;
  readonly length: number;
  readonly index: number;
  readonly prediction: string;
  readonly references: readonly string[];
  readonly score: number;
}

const count = z.number().int().nonnegative();
/** One results.jsonl row as bench merge reads it (rows written before input_hash existed included). */
export const rulerRowSchema = z.object({
  method: z.string().min(1).max(200),
  task: z.enum(RULER_TASKS.map((t) => t.name) as [RulerTaskName, ...RulerTaskName[]]),
  length: z.number().int().positive(),
  index: count,
  prediction: z.string(),
  references: z.array(z.string()),
  score: z.number().min(0).max(1),
  ...runFieldsSchema,
  input_hash: runFieldsSchema.input_hash.optional(),
}).strict();
/** A row a resumed run trusts: it must carry its input hash. */
export const sampleResultSchema = rulerRowSchema.required({ input_hash: true }) as unknown as z.ZodType<SampleResult>;

/** The identity of a model for input hashes: its folder and everything the spec derives from config.json. */
export function modelIdentity(model: DiffusionModel): Record<string, unknown> {
  return { dir: model.dir, spec: model.spec };
}

export interface SummaryRow {
  readonly method: string;
  /** The task (RULER) or dataset (LongBench). */
  readonly task: string;
  readonly length: number;
  readonly accuracy: number;
  readonly samples: number;
  readonly tokens_per_s: number;
  readonly runtime_s: number;
  readonly generated_tokens: number;
  readonly nfe: number;
  /** The Wilson 95% interval of the accuracy, in accuracy's units (0-100); see eval/intervals.ts. */
  readonly ci95?: readonly [number, number];
  /** The sample variance of the per-prompt scores (in [0, 1]), which the mean's interval over tasks needs. */
  readonly score_variance?: number;
  /**
   * A filtered method against its host on the same prompts: the
   * mean and sample variance of the per-prompt score differences (in [-1, 1]) and their count;
   * present only where every prompt of the row has the host's score beside it.
   */
  readonly vs_host?: TaskStats;
  /**
   * A WaveFilter method against each baseline filter on the same host, budget and prompts: the
   * paired per-prompt differences (WaveFilter - baseline), keyed by the baseline's method name;
   * only baselines with a score for every prompt of the row.
   */
  readonly vs_baselines?: Record<string, TaskStats>;
}

/** The host of a method name ("dual+h2o@0.1" -> "dual"), and its filter with budget ("h2o@0.1"), or null for a host alone. */
function splitMethod(method: string): { host: string; filter: string | null; budget: string | null } {
  const plus = method.indexOf('+');
  if (plus < 0) return { host: method, filter: null, budget: null };
  const filter = method.slice(plus + 1);
  const at = filter.lastIndexOf('@');
  return { host: method.slice(0, plus), filter, budget: at < 0 ? null : filter.slice(at + 1) };
}

/** Whether a method is WaveFilter on some host (its filter part names wavefilter, any preset). */
const isWave = (method: string): boolean => splitMethod(method).filter?.startsWith('wavefilter') ?? false;

/** Whether `b` is a baseline filter of WaveFilter method `w`: another filter on the same host at the same budget. */
function isBaselineOf(b: string, w: string): boolean {
  const x = splitMethod(b);
  const y = splitMethod(w);
  return x.filter !== null && !isWave(b) && x.host === y.host && x.budget !== null && x.budget === y.budget;
}

/** The model's view of a RULER prompt: chat template (when present) around the input, then the answer prefix. */
export function promptIds(model: DiffusionModel, s: Pick<RulerSample, 'input' | 'answerPrefix'>): number[] {
  return rulerPromptIds(model.codec, s, model.dir);
}

const key = (r: { method: string; task: string; length: number; index: number }): string => `${r.method}|${r.task}|${r.length}|${r.index}`;

/**
 * A task's samples at one length, fitted so that the prompt plus the answer rounded up to whole
 * blocks fits, with their prompt ids (encoded once, shared by every method).
 */
export function rulerPrompts(model: DiffusionModel, task: RulerTaskName, length: number, samples: number, blockLength: number, env: Omit<RulerEnv, 'count'>): { samples: RulerSample[]; ids: number[][]; genLength: number } {
  const t = RULER_TASKS.find((x) => x.name === task);
  if (!t) throw new WavefilterError('invalid_option', `tasks: unknown RULER task ${task}`, { option: 'tasks' });
  const genLength = Math.ceil(t.genTokens / blockLength) * blockLength;
  const count = (input: string, answerPrefix: string): number => promptIds(model, { input, answerPrefix }).length + (genLength - t.genTokens);
  const made = generateRuler(task, length, samples, { ...env, count });
  return { samples: made, ids: made.map((s) => promptIds(model, s)), genLength };
}

/** Runs the grid; returns every sample result (resumed ones included). */
export async function runRuler(model: DiffusionModel, o: RulerRunOptions): Promise<SampleResult[]> {
  const file = new ResultsFile<SampleResult>(o.outDir, key, sampleResultSchema);
  const identity = modelIdentity(model);
  const total = o.tasks.length * o.lengths.length * o.samples * o.methods.length;
  const stop = model.stopIds();
  let progress = 0;
  const results: SampleResult[] = [];
  for (const length of o.lengths) {
    for (const task of o.tasks) {
      const { samples, ids, genLength } = rulerPrompts(model, task, length, o.samples, o.blockLength, o.env);
      for (const m of o.methods) {
        for (const [n, s] of samples.entries()) {
          const k = key({ method: m.name, task, length, index: s.index });
          const hash = inputHash({ model: identity, method: methodIdentity(m), ids: ids[n], genLength, blockLength: o.blockLength, threshold: o.threshold, references: s.outputs });
          const prev = file.get(k, hash);
          if (prev) {
            results.push(prev);
            o.onProgress?.(++progress, total, `${m.name} ${task} ${length}`);
            continue;
          }
          const t0 = performance.now();
          const out = await runMethod(model, ids[n], m, { genLength, blockLength: o.blockLength, threshold: o.threshold, allowLongContext: true });
          const wall = performance.now() - t0;
          const prediction = postprocess(out.text ?? '');
          const firstStop = out.generatedIds.findIndex((x) => stop.has(x));
          const r: SampleResult = {
            method: m.name, task, length, index: s.index, prediction, references: s.outputs,
            score: (s.metric === 'all' ? matchAll : matchPart)(prediction, s.outputs), prompt_tokens: ids[n].length,
            generated_tokens: firstStop < 0 ? out.generatedIds.length : firstStop, nfe: out.nfe, wall_ms: wall, input_hash: hash,
          };
          file.append(r);
          results.push(r);
          o.onProgress?.(++progress, total, `${m.name} ${task} ${length}`);
        }
      }
    }
  }
  return results;
}

/** Per (method, task, length): RULER accuracy (mean x 100, 2 decimals), throughput and runtime. */
export function summarize(results: readonly SampleResult[]): SummaryRow[] {
  const groups = new Map<string, SampleResult[]>();
  for (const r of results) {
    const k = `${r.method}|${r.task}|${r.length}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  // a prompt is its task, length, index and references (a merged table holds several seeds' index 0)
  const promptOf = (r: SampleResult): string => `${r.task}|${r.length}|${r.index}|${JSON.stringify(r.references)}`;
  const scoreOf = new Map<string, number>();
  for (const r of results) scoreOf.set(`${r.method}|${promptOf(r)}`, r.score);
  const methods = [...new Set(results.map((r) => r.method))];
  /** The paired differences of group g against method `other` on g's prompts, or undefined when one is missing. */
  const against = (g: readonly SampleResult[], other: string): TaskStats | undefined => {
    const theirs = g.map((r) => scoreOf.get(`${other}|${promptOf(r)}`));
    return theirs.every((x) => x !== undefined) ? taskStats(g.map((r, i) => r.score - (theirs[i] as number))) : undefined;
  };
  return [...groups.values()].map((g) => {
    const { host, filter } = splitMethod(g[0].method);
    const paired = filter !== null ? against(g, host) : undefined;
    const baselines: Record<string, TaskStats> = {};
    if (isWave(g[0].method))
      for (const b of methods.filter((b) => isBaselineOf(b, g[0].method))) {
        const d = against(g, b);
        if (d) baselines[b] = d;
      }
    const ms = g.reduce((a, r) => a + r.wall_ms, 0);
    const gen = g.reduce((a, r) => a + r.generated_tokens, 0);
    const scores = g.map((r) => r.score);
    const sum = scores.reduce((a, b) => a + b, 0);
    const [lo, hi] = wilson(sum, scores.length);
    return {
      method: g[0].method, task: g[0].task, length: g[0].length, samples: g.length,
      accuracy: Math.round((sum / scores.length) * 10000) / 100,
      tokens_per_s: ms > 0 ? (gen * 1000) / ms : 0, runtime_s: ms / 1000, generated_tokens: gen, nfe: g.reduce((a, r) => a + r.nfe, 0),
      ci95: [pct(lo), pct(hi)], score_variance: sampleVariance(scores),
      ...(paired ? { vs_host: paired } : {}),
      ...(Object.keys(baselines).length ? { vs_baselines: baselines } : {}),
    };
  });
}

const pct = (x: number): number => Math.round(x * 10000) / 100;
const interval = (ci: readonly [number, number] | undefined): string => (ci ? `${ci[0].toFixed(1)}-${ci[1].toFixed(1)}` : '-');

/**
 * A markdown table: one row per method and length, one column per task, then the mean with its 95%
 * interval, throughput, decode time, and the speed against the method's host (the same cache
 * without a filter, on the same prompts): host decode time / method decode time. Below it, when
 * the rows carry them, each task's 95% interval.
 */
export function markdownTable(rows: readonly SummaryRow[]): string {
  const tasks = [...new Set(rows.map((r) => r.task))];
  const totals = perMethod(rows);
  // each method's task cells, looked up once for both tables
  const cellsByMethod = totals.map((t) => tasks.map((task) => rows.find((r) => r.method === t.method && r.length === t.length && r.task === task)));
  const paired = totals.some((t) => t.vs_host);
  const vsBest = totals.some((t) => t.vs_best);
  const out = [
    `| method | length | samples per task | ${tasks.join(' | ')} | mean | mean 95% CI |${paired ? ' mean - host (95% CI, paired) |' : ''}${vsBest ? ' mean - best baseline (95% CI, paired) |' : ''} tokens/s | decode s | vs host |`,
    `|---|---|---|${tasks.map(() => '---|').join('')}---|---|${paired ? '---|' : ''}${vsBest ? '---|' : ''}---|---|---|`,
  ];
  for (const [ti, t] of totals.entries()) {
    const cells = cellsByMethod[ti];
    const acc = cells.map((c) => c?.accuracy);
    const ns = [...new Set(cells.filter((c) => c).map((c) => (c as SummaryRow).samples))].sort((a, b) => a - b);
    const n = ns.length === 1 ? String(ns[0]) : `${ns[0]}-${ns[ns.length - 1]}`;
    // only over the same prompts: a merged table may hold a method measured on fewer of them
    const h = totals.find((x) => x.method === splitMethod(t.method).host && x.length === t.length);
    const host = h && h.samples === t.samples ? h.runtime_s : 0;
    const vs = host > 0 && t.runtime_s > 0 ? `${(host / t.runtime_s).toFixed(2)}x` : '-';
    const d = t.vs_host ? ` ${signed(t.vs_host.mean)} (${signed(t.vs_host.lo)} to ${signed(t.vs_host.hi)}) |` : paired ? ' - |' : '';
    const b = t.vs_best ? ` ${signed(t.vs_best.mean)} (${signed(t.vs_best.lo)} to ${signed(t.vs_best.hi)}) vs ${t.vs_best.method} |` : vsBest ? ' - |' : '';
    out.push(`| ${t.method} | ${t.length} | ${n} | ${acc.map((a) => (a === undefined ? '-' : a.toFixed(2))).join(' | ')} | ${t.accuracy.toFixed(2)} | ${interval(t.ci95)} |${d}${b} ${t.tokens_per_s.toFixed(2)} | ${t.runtime_s.toFixed(1)} | ${vs} |`);
  }
  const gaps = taskGaps(rows);
  if (gaps.length) {
    out.push('', `WaveFilter against the best baseline on each task (the baseline filter with the highest accuracy on that task at the same host, budget and length; accuracy points, tasks more than ${TASK_GAP_BAR} below listed):`, '',
      `| method | length | largest gap: task, baseline | tasks more than ${TASK_GAP_BAR} below the best baseline |`, '|---|---|---|---|');
    for (const g of gaps) {
      const worst = g.tasks[0];
      const below = g.tasks.filter((t) => t.gap < -TASK_GAP_BAR);
      out.push(`| ${g.method} | ${g.length} | ${signed(worst.gap)}: ${worst.task}, ${worst.baseline} | ${below.length ? below.map((t) => `${t.task} ${signed(t.gap)}`).join(', ') : 'none'} |`);
    }
  }
  if (rows.some((r) => r.ci95)) {
    out.push('', '95% intervals per task (Wilson; accuracy points):', '', `| method | length | ${tasks.join(' | ')} |`, `|---|---|${tasks.map(() => '---|').join('')}`);
    for (const [ti, t] of totals.entries()) {
      const cells = cellsByMethod[ti];
      out.push(`| ${t.method} | ${t.length} | ${cells.map((c) => interval(c?.ci95)).join(' | ')} |`);
    }
  }
  return out.join('\n');
}

const signed = (x: number): string => `${x > 0 ? '+' : ''}${x.toFixed(2)}`;

/** Issue 14's per-task bar: WaveFilter no more than this many accuracy points below the best baseline on any task. */
export const TASK_GAP_BAR = 5;

/** One WaveFilter method at one length: each task's accuracy minus the best baseline's on it, the most negative first. */
export interface TaskGaps {
  readonly method: string;
  readonly length: number;
  readonly tasks: ReadonlyArray<{ readonly task: string; readonly baseline: string; readonly gap: number }>;
}

/**
 * Per WaveFilter method and length with baselines beside it: each task's accuracy minus the best
 * baseline's on that task (the baseline filter with the highest accuracy on it, at the same host,
 * budget and length; ties to the first by name), the most negative first.
 */
export function taskGaps(rows: readonly SummaryRow[]): TaskGaps[] {
  const out: TaskGaps[] = [];
  const seen = new Set<string>();
  for (const w of rows) {
    const id = `${w.method}|${w.length}`;
    if (!isWave(w.method) || seen.has(id)) continue;
    seen.add(id);
    const tasks: Array<TaskGaps['tasks'][number]> = [];
    for (const r of rows.filter((x) => x.method === w.method && x.length === w.length)) {
      const rivals = rows.filter((b) => b.length === r.length && b.task === r.task && isBaselineOf(b.method, r.method));
      if (!rivals.length) continue;
      const best = rivals.reduce((a, b) => (b.accuracy > a.accuracy || (b.accuracy === a.accuracy && b.method < a.method) ? b : a));
      tasks.push({ task: r.task, baseline: best.method, gap: r.accuracy - best.accuracy });
    }
    if (tasks.length) out.push({ method: w.method, length: w.length, tasks: tasks.sort((a, b) => a.gap - b.gap) });
  }
  return out;
}

/** The mean over tasks of paired per-prompt differences and its 95% interval, in accuracy points. */
function pairedPoints(tasks: readonly TaskStats[]): { mean: number; lo: number; hi: number } {
  const d = stratifiedMean(tasks, Z95, [-1, 1]);
  return { mean: 100 * d.mean, lo: 100 * d.lo, hi: 100 * d.hi };
}

/** One method at one length over its tasks (perMethod). */
export interface MethodTotal {
  readonly method: string;
  readonly length: number;
  readonly accuracy: number;
  readonly runtime_s: number;
  readonly tokens_per_s: number;
  readonly samples: number;
  readonly ci95?: [number, number];
  /** The mean minus the host's on the same prompts, with its paired 95% interval (accuracy points). */
  readonly vs_host?: { mean: number; lo: number; hi: number };
  /** WaveFilter: the mean minus the best baseline's at the same host and budget, on the same prompts (paired, 95%). */
  readonly vs_best?: { method: string; mean: number; lo: number; hi: number };
}

/**
 * Per (method, length), in first-seen order: mean accuracy over tasks, summed decode time, tokens/s,
 * samples, the mean's 95% interval, and for a filtered method whose every task row has its host's
 * scores on the same prompts, the mean's difference from the host's with its paired 95% interval
 * (accuracy points; stratifiedMean over the per-prompt differences); for a WaveFilter method, the
 * same against the baseline filter with the highest mean at its host and budget.
 */
export function perMethod(rows: readonly SummaryRow[]): MethodTotal[] {
  const keys = [...new Set(rows.map((r) => `${r.method}|${r.length}`))];
  const meanOver = (method: string, length: number, tasks: readonly string[]): number | undefined => {
    const acc = tasks.map((t) => rows.find((r) => r.method === method && r.length === length && r.task === t)?.accuracy);
    return acc.every((a) => a !== undefined) ? (acc as number[]).reduce((a, b) => a + b, 0) / acc.length : undefined;
  };
  return keys.map((k) => {
    const rs = rows.filter((r) => `${r.method}|${r.length}` === k);
    const runtime = rs.reduce((a, r) => a + r.runtime_s, 0);
    const gen = rs.reduce((a, r) => a + r.generated_tokens, 0);
    // the mean's interval needs every task's spread; rows from older summaries carry none
    const stats = rs.every((r) => r.score_variance !== undefined) ? stratifiedMean(rs.map((r) => ({ mean: r.accuracy / 100, variance: r.score_variance as number, n: r.samples }))) : undefined;
    const diff = rs.every((r) => r.vs_host) ? pairedPoints(rs.map((r) => r.vs_host as TaskStats)) : undefined;
    // the best baseline: the highest mean over the same tasks among those paired on every task row
    let best: MethodTotal['vs_best'];
    const paired = Object.keys(rs[0].vs_baselines ?? {}).filter((b) => rs.every((r) => r.vs_baselines?.[b]));
    const ranked = paired.map((b) => ({ b, mean: meanOver(b, rs[0].length, rs.map((r) => r.task)) ?? -Infinity })).sort((x, y) => y.mean - x.mean || (x.b < y.b ? -1 : 1));
    if (ranked.length) best = { method: ranked[0].b, ...pairedPoints(rs.map((r) => (r.vs_baselines as Record<string, TaskStats>)[ranked[0].b])) };
    return {
      ...(diff ? { vs_host: diff } : {}),
      ...(best ? { vs_best: best } : {}),
      method: rs[0].method, length: rs[0].length, samples: rs.reduce((a, r) => a + r.samples, 0),
      accuracy: rs.reduce((a, r) => a + r.accuracy, 0) / rs.length, runtime_s: runtime, tokens_per_s: runtime > 0 ? gen / runtime : 0,
      ...(stats ? { ci95: [pct(stats.lo), pct(stats.hi)] as [number, number] } : {}),
    };
  });
}

/** results.json: the run's metadata, one row per (method, task, length), accuracy[method][length][task | 'mean'], the mean's 95% interval mean_ci95[method][length]. */
export interface RulerSummary {
  readonly benchmark: 'ruler';
  readonly rows: SummaryRow[];
  readonly accuracy: Record<string, Record<string, Record<string, number>>>;
  readonly mean_ci95: Record<string, Record<string, [number, number]>>;
  readonly peak_rss_mb: number;
  readonly [meta: string]: unknown;
}

/** Writes results.json and results.md next to results.jsonl; returns the summary object. */
export function writeSummary(dir: string, meta: Record<string, unknown>, results: readonly SampleResult[]): RulerSummary {
  const rows = summarize(results);
  const accuracy: Record<string, Record<string, Record<string, number>>> = {};
  for (const r of rows) {
    const byLen = (accuracy[r.method] ??= {});
    const t = (byLen[String(r.length)] ??= {});
    t[r.task] = r.accuracy;
  }
  for (const byLen of Object.values(accuracy))
    for (const t of Object.values(byLen)) {
      const v = Object.values(t);
      t.mean = Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 100) / 100;
    }
  const mean_ci95: Record<string, Record<string, [number, number]>> = {};
  for (const t of perMethod(rows)) if (t.ci95) (mean_ci95[t.method] ??= {})[String(t.length)] = t.ci95;
  const summary: RulerSummary = { ...meta, benchmark: 'ruler', rows, accuracy, mean_ci95, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(dir, 'results.md'), `${markdownTable(rows)}\n`);
  return summary;
}
