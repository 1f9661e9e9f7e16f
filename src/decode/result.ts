/**
 * One place that turns an executor's counters into a GenerationResult, so the step loop and the
 * block program report the same fields computed the same way.
 */
import type { ResolvedOptions } from './options.js';
import type { GenerationResult } from './generate.js';

export interface RunCounters {
  readonly executor: 'step' | 'block' | 'generation';
  readonly canvas: Int32Array;
  readonly promptLength: number;
  readonly options: ResolvedOptions;
  readonly stopReason: 'done' | 'aborted';
  readonly totalMs: number;
  /** time inside session.run, forwards and block programs */
  readonly ortMs: number;
  readonly ortRuns: number;
  readonly blocksRun: number;
  readonly nfe: number;
  /** generated positions settled from the left (tokens/s counts these) */
  readonly settled: number;
  readonly refreshes: number;
  /** Per-forward sums; null where the executor times whole blocks. */
  readonly perForward: { readonly refreshMs: number; readonly cachedMs: number; readonly cachedOrtMs: number } | null;
  readonly selections: number;
  /** time in the filter's own selection runs (the block program's selection is inside ortMs) */
  readonly selectMs: number;
  readonly keptPromptRows: number | null;
}

const mean = (sum: number, n: number): number => (n ? sum / n : 0);

export function buildResult(c: RunCounters): GenerationResult {
  const cachedSteps = c.nfe - c.refreshes;
  const f = c.perForward;
  return {
    outputIds: Array.from(c.canvas),
    promptLength: c.promptLength,
    nfe: c.nfe,
    stopReason: c.stopReason,
    options: c.options,
    timings: {
      executor: c.executor,
      totalMs: c.totalMs,
      ortMs: c.ortMs,
      ortRuns: c.ortRuns,
      ortRunsPerBlock: mean(c.ortRuns, c.blocksRun),
      blockMsMean: mean(c.totalMs, c.blocksRun),
      refreshes: c.refreshes,
      refreshMsMean: f ? mean(f.refreshMs, c.refreshes) : null,
      cachedSteps,
      cachedStepMsMean: f ? mean(f.cachedMs, cachedSteps) : null,
      cachedStepOrtMsMean: f ? mean(f.cachedOrtMs, cachedSteps) : null,
      tokensPerSecond: c.totalMs > 0 ? (c.settled * 1000) / c.totalMs : 0,
      jsShare: c.totalMs > 0 ? Math.max(0, c.totalMs - c.ortMs - c.selectMs) / c.totalMs : 0,
      selections: c.selections,
      selectMs: c.selectMs,
      keptPromptRows: c.keptPromptRows,
    },
  };
}
