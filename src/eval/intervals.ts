/**
 * 95% confidence intervals for benchmark accuracy, so that a table of a few prompts per task says
 * how far its figures can be trusted.
 *
 * Per task: the Wilson score interval of the per-prompt scores' sum over the prompts. It is exact
 * for RULER's all-or-nothing tasks and, unlike the normal interval, stays informative at 0% and
 * 100% (20 of 20 gives 83.9-100). Partial-credit metrics (multivalue: the share of values found)
 * enter as fractional successes, an approximation written down here because it matters: it treats
 * a half-right answer as half a success.
 *
 * Over tasks: the mean of the task means, with the stratified normal interval (each task's own
 * sample variance over its prompts, the tasks independent): mean +- z * sqrt(sum s_t^2 / n_t) / T.
 * A task whose prompts all scored alike adds no variance there, which is why the per-task
 * intervals sit beside it.
 */

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/** The Wilson score interval for `successes` of `n` (successes may be fractional), as [lo, hi] in [0, 1]. */
export function wilson(successes: number, n: number, z = Z95): [number, number] {
  if (!(n > 0) || !(successes >= 0) || successes > n) throw new RangeError(`wilson: need 0 <= successes <= n and n > 0 (got ${successes} of ${n})`);
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return [Math.max(0, center - half), Math.min(1, center + half)];
}

/** A task's mean score (in [0, 1]), the sample variance of its per-prompt scores, and its prompt count. */
export interface TaskStats {
  readonly mean: number;
  readonly variance: number;
  readonly n: number;
}

/** The sample variance (n - 1) of scores; one prompt says nothing of its spread, so 0. */
export function sampleVariance(scores: readonly number[]): number {
  if (scores.length < 2) return 0;
  const m = scores.reduce((a, b) => a + b, 0) / scores.length;
  return scores.reduce((a, b) => a + (b - m) ** 2, 0) / (scores.length - 1);
}

/**
 * The mean of the tasks' means and its stratified normal interval, clipped to `range`: [0, 1] for
 * scores; [-1, 1] for paired differences (a method's per-prompt score minus its host's on the same
 * prompt), whose interval is the one for the difference of two methods' means: it is narrower than
 * the two methods' own intervals suggest, because most prompts score alike under both.
 */
export function stratifiedMean(tasks: readonly TaskStats[], z = Z95, range: readonly [number, number] = [0, 1]): { mean: number; lo: number; hi: number } {
  if (!tasks.length || tasks.some((t) => !(t.n > 0))) throw new RangeError('stratifiedMean: every task needs a score');
  const T = tasks.length;
  const mean = tasks.reduce((a, t) => a + t.mean, 0) / T;
  const half = (z * Math.sqrt(tasks.reduce((a, t) => a + t.variance / t.n, 0))) / T;
  return { mean, lo: Math.max(range[0], mean - half), hi: Math.min(range[1], mean + half) };
}

/** TaskStats from one task's per-prompt scores. */
export function taskStats(scores: readonly number[]): TaskStats {
  if (!scores.length) throw new RangeError('taskStats: no scores');
  return { mean: scores.reduce((a, b) => a + b, 0) / scores.length, variance: sampleVariance(scores), n: scores.length };
}
