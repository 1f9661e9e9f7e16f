/**
 * WaveFilter as a TokenFilter (paper arXiv 2606.00724, Algorithm 1; docs/wavefilter-and-kv-selection.md).
 *
 * Choices where the paper is silent (docs §1.9), each a knob:
 *   U1 heads      per KV head; a GQA group's query heads vote together (their rows are stacked); `headShared` sums over heads
 *   U2 norm       orthonormal Haar (pywt), or `mean`
 *   U4 keep count max(1, ceil(m_b * candidates))
 *   U6 odd length the last row of an odd-length level is repeated (pywt's Haar rule)
 *   U8 schedule   faithful: every cached step; practical: once per block; or on query drift (docs §3.6 F3)
 *   U9 layers     all filtered; `denseLayers` keep every prompt row
 * Budget mode: a token budget (fraction or count, protected rows included) sets m_b = (T_region / R)^(1/B) for every scale.
 *
 * Known deviation of the `faithful` preset: the paper selects, at every step and layer, with that
 * step's own queries inside the forward. Here selection runs between forwards (one ORT call for all
 * layers), so an every-step selection uses the block queries of the previous forward of the block.
 */
import ort from 'onnxruntime-node';
import { WavefilterError, invalidOption } from '../../errors.js';
import type { ModelSpec } from '../../model/spec.js';
import { type FilterSession, f64, i64 } from '../filter-session.js';
import { buildCoarseGraph, buildWaveGraph, emitWaveSelection } from './graph.js';
import { FilterNames as F } from '../selection-graph.js';
import { keepCount } from './reference.js';
import type { FilterEntry } from '../registry.js';
import { parseBudget } from '../budget.js';
import { type Budget, type FilterProgram, type Selection, type SelectionRequest, type SelectionSchedule, type TokenFilter, budgetTokens } from '../token-filter.js';

export type WavePreset = 'faithful' | 'practical';
/**
 * Graph variants: odd-length regions need pywt's padding ('unaligned'); aligned ones take the
 * level-B sums ('reuse') that a small 'coarse' graph computes once while the prompt keys are
 * unchanged. One selection session serves every block, so ORT's memory arena warms up once.
 */
export type WaveVariant = 'unaligned' | 'coarse' | 'reuse';

export interface WaveFilterOptions {
  readonly preset?: WavePreset;
  /** Scales B (default 2). */
  readonly levels?: number;
  /** m_b for b = 1..B; default 0.4 each (about 16% of the region kept at B = 2). Ignored when `budget` is set. */
  readonly proportions?: readonly number[];
  readonly budget?: Budget | null;
  /** Leading prompt rows always kept (attention sinks). */
  readonly sinks?: number;
  /** Trailing prompt rows always kept (question, chat template). */
  readonly tail?: number;
  /**
   * Budget mode: the trailing rows kept are at least this share of the budget (default: 0.5 for
   * `practical` with a budget, else 0: `tail` alone), as H2O keeps a recent window of half its budget. The prompt's end read whole is what
   * the aggregate tasks need most (issue 14: RULER's fwe at 4K, a 200-row tail matched the host).
   */
  readonly tailShare?: number;
  readonly headShared?: boolean;
  readonly norm?: 'orthonormal' | 'mean';
  readonly schedule?: SelectionSchedule;
  /** 'on-drift' schedule: re-select when the block queries' centroid cosine to the last selection's falls below this (default 0.95). */
  readonly driftThreshold?: number;
  /** Layers that keep every prompt row (e.g. [0, 1], as Quest keeps its first layers dense). */
  readonly denseLayers?: readonly number[];
  /**
   * The last N prompt positions' queries vote beside the block's (default 0: the block's alone, as
   * in the paper). Prompts put the question last; its queries point at the span it asks about,
   * which a block of mask tokens' queries may not single out (issue 14: near-identical needles).
   */
  readonly questionQueries?: number;
  /**
   * Budget mode: scales 1..N keep every child of a kept unit (m_b = 1 for b <= N), so the units
   * kept at scale N + 1 stay whole, spans of 2^(N+1) rows, and the budget is spent at scales
   * above N (default 0: every scale takes the same share, m_b = (T / R)^(1/B), and the kept spans
   * are 2-row units). A needle's digits split across fine units are then kept together (issue 14).
   */
  readonly spanLevels?: number;
  /**
   * Budget mode: this share of the budget goes to single rows scored alone (the queries' softmax
   * mass per row, as H2O's first selection scores them) among the rows the pyramid did not keep;
   * the pyramid gets the rest (default: 0.25 for `practical` with a budget, else 0). Coarse scales find where to look; single rows keep
   * what a 2-row unit would split (issue 14: a needle kept with some of its digits missing).
   */
  readonly tokenShare?: number;
  /**
   * Budget mode: this share of the budget goes to rows spread evenly over the region (the free rows
   * nearest kS evenly spaced points), beside the pyramid's and the token picks (default 0). Where a
   * question asks about the whole prompt (RULER's cwe and fwe: the most frequent words), the
   * queries' top rows are a biased sample of it and an even one keeps its proportions (issue 14).
   */
  readonly sampleShare?: number;
  /**
   * With a token share: the single rows' scores are max-pooled over this many neighbouring rows
   * before the picks (odd, default 1: none), so a high-scoring row brings its neighbours, as SnapKV
   * pools its votes: a word of several rows is kept whole rather than as a fragment (issue 14).
   */
  readonly tokenPool?: number;
  /**
   * With the first-block prompt refresh: each later block's refresh recomputes the protected tail
   * (the prompt rows after the candidate region) with the generation rows, so that those rows see
   * the answer decoded so far, as the host's every-block refresh lets every prompt row see it
   * (default off). Why: over a four-block answer the first block's prompt K/V go stale, which is
   * most of what practical loses on RULER's cwe; the tail alone won back a fifth to a third of it
   * (reports/wf-variants.md, last section).
   */
  readonly tailRefresh?: boolean;
  /**
   * What the refreshed tail (and the generation rows refreshed with it) attend to: the kept rows
   * (default; the cached steps' past) or every prompt row, the first block's K/V whole (the refresh
   * then reads the full prompt once per block: its attention grows with the prompt, its other
   * work with the tail alone).
   */
  readonly tailRefreshPast?: 'kept' | 'all';
}

export interface ResolvedWaveOptions {
  readonly preset: WavePreset;
  readonly levels: number;
  readonly proportions: readonly number[] | null;
  readonly budget: Budget | null;
  readonly sinks: number;
  readonly tail: number;
  readonly tailShare: number;
  readonly headShared: boolean;
  readonly norm: 'orthonormal' | 'mean';
  readonly schedule: SelectionSchedule;
  readonly driftThreshold: number;
  readonly denseLayers: readonly number[];
  readonly questionQueries: number;
  readonly spanLevels: number;
  readonly tokenShare: number;
  readonly sampleShare: number;
  readonly tokenPool: number;
  readonly tailRefresh: boolean;
  readonly tailRefreshPast: 'kept' | 'all';
}

/** Fills a preset's defaults and validates. */
export function resolveWaveOptions(o: WaveFilterOptions = {}): ResolvedWaveOptions {
  const preset = o.preset ?? 'practical';
  if (preset !== 'faithful' && preset !== 'practical') invalidOption('wf-preset', 'faithful or practical', preset);
  const levels = o.levels ?? 2;
  if (!Number.isSafeInteger(levels) || levels < 1 || levels > 8) invalidOption('wf-levels', 'an integer in [1, 8]', levels);
  let proportions: number[] | null = null;
  if (!o.budget) {
    const p = o.proportions ?? Array(levels).fill(0.4);
    if (p.length === 1) proportions = Array(levels).fill(p[0]);
    else if (p.length === levels) proportions = [...p];
    else invalidOption('wf-proportions', `1 or ${levels} values (m_1..m_B)`, p.join(','));
    if (proportions.some((m) => !(m > 0 && m <= 1))) invalidOption('wf-proportions', 'values in (0, 1]', proportions.join(','));
  }
  const practical = preset === 'practical';
  /** A share of the budget (tail, token, spread): in [0, 1), and above 0 only with a budget to share. */
  const share = (flag: string, x: number): number => {
    if (!(x >= 0 && x < 1)) invalidOption(flag, 'a share in [0, 1)', x);
    if (x > 0 && !o.budget) invalidOption(flag, 'a budget (--budget) to share', x);
    return x;
  };
  const sinks = o.sinks ?? (practical ? 4 : 0);
  const tail = o.tail ?? (practical ? 64 : 0);
  if (!Number.isSafeInteger(sinks) || sinks < 0) invalidOption('wf-sinks', 'a non-negative integer', sinks);
  if (!Number.isSafeInteger(tail) || tail < 0) invalidOption('wf-tail', 'a non-negative integer', tail);
  // practical with a budget keeps at least half of it as the prompt's end, as H2O's recent window:
  // on development prompts at 4K (seed 42, 20 a task, reports/wf-variants.md) fwe went from 20.0 to
  // 31.7 and multivalue from 33.8 to 40.0 (the host's 31.7 and 40.0), the needle tasks unchanged
  const tailShare = share('wf-tail-share', o.tailShare ?? (practical && o.budget ? 0.5 : 0));
  const norm = o.norm ?? 'orthonormal';
  if (norm !== 'orthonormal' && norm !== 'mean') invalidOption('wf-norm', 'orthonormal or mean', norm);
  const schedule = o.schedule ?? (practical ? 'once-per-block' : 'every-step');
  if (!['once-per-block', 'every-step', 'on-drift'].includes(schedule)) invalidOption('wf-schedule', 'once-per-block, every-step or on-drift', schedule);
  const driftThreshold = o.driftThreshold ?? 0.95;
  if (!(driftThreshold > -1 && driftThreshold <= 1)) invalidOption('wf-drift', 'a cosine in (-1, 1]', driftThreshold);
  const denseLayers = [...new Set(o.denseLayers ?? [])].sort((a, b) => a - b);
  if (denseLayers.some((l) => !Number.isSafeInteger(l) || l < 0)) invalidOption('wf-dense-layers', 'non-negative layer indices', denseLayers.join(','));
  const questionQueries = o.questionQueries ?? 0;
  if (!Number.isSafeInteger(questionQueries) || questionQueries < 0) invalidOption('wf-question-queries', 'a non-negative integer', questionQueries);
  const spanLevels = o.spanLevels ?? 0;
  if (!Number.isSafeInteger(spanLevels) || spanLevels < 0 || spanLevels >= levels) invalidOption('wf-span-levels', `an integer in [0, ${levels - 1}] (below the scale count)`, spanLevels);
  // practical with a budget gives a quarter of it to single rows: on hold-out RULER prompts at 4K
  // (reports/ruler-holdout-4k) the mean over 11 tasks went from 63.1 to 68.0 (host 70.0, H2O 68.5),
  // multikey_2 / _3 from 70 / 60 to 90 / 100, at the same speed; 0.25 was chosen on development
  // seeds (reports/wf-variants.md) before the hold-out run
  const tokenShare = share('wf-token-share', o.tokenShare ?? (practical && o.budget ? 0.25 : 0));
  const sampleShare = share('wf-sample-share', o.sampleShare ?? 0);
  if (!(tokenShare + sampleShare < 1)) invalidOption('wf-sample-share', `a share below 1 - the token share (${tokenShare}), so the pyramid keeps a part of the budget`, sampleShare);
  const tailRefresh = o.tailRefresh ?? false;
  if (typeof tailRefresh !== 'boolean') invalidOption('wf-tail-refresh', 'true or false (tailRefresh)', tailRefresh);
  const tailRefreshPast = o.tailRefreshPast ?? 'kept';
  if (tailRefreshPast !== 'kept' && tailRefreshPast !== 'all') invalidOption('wf-tail-refresh', 'kept or all', tailRefreshPast);
  const tokenPool = o.tokenPool ?? 1;
  if (!(Number.isSafeInteger(tokenPool) && tokenPool >= 1 && tokenPool <= 63 && tokenPool % 2 === 1)) invalidOption('wf-token-pool', 'an odd integer in [1, 63]', tokenPool);
  if (tokenPool > 1 && tokenShare === 0) invalidOption('wf-token-pool', o.budget ? 'a token share (--wf-token-share) whose scores it pools' : 'a budget (--budget) and a token share whose scores it pools', tokenPool);
  return { preset, levels, proportions, budget: o.budget ?? null, sinks, tail, tailShare, headShared: o.headShared ?? false, norm, schedule, driftThreshold, denseLayers, questionQueries, spanLevels, tokenShare, sampleShare, tokenPool, tailRefresh, tailRefreshPast };
}

/** The per-scale keep counts (upper bounds) for a region of r rows. Index b = scale b. */
export function levelCounts(r: number, proportions: readonly number[]): number[] {
  const B = proportions.length;
  let n = r;
  for (let b = 1; b <= B; b++) n = Math.ceil(n / 2);
  const k: number[] = [];
  k[B] = Math.min(n, keepCount(proportions[B - 1], n));
  for (let b = B - 1; b >= 1; b--) k[b] = Math.min(2 * k[b + 1], keepCount(proportions[b - 1], 2 * k[b + 1]));
  return k;
}

export class WaveFilter implements TokenFilter {
  readonly name = 'wavefilter';
  readonly needsBlockQueries = true;
  /** the question's rows (WaveFilterOptions.questionQueries) */
  readonly windowQueries: number;
  /** the faithful preset keeps the host's every-block refresh, as the paper does */
  get preferredRefresh(): 'every-block' | 'first-block' {
    return this.options.preset === 'faithful' ? 'every-block' : 'first-block';
  }
  readonly schedule: SelectionSchedule;
  readonly driftThreshold: number;
  readonly options: ResolvedWaveOptions;

  /** Level-B sums from the last selection, reused while the prompt's keys are the same arrays and region. */
  private coarse: { keys: readonly Float32Array[]; region: string; tensors: Float32Array[]; units: number[] } | null = null;

  /** `session(variant)`: the graph for unaligned regions, or aligned ones building or reusing the level-B sums. */
  readonly program: FilterProgram;

  constructor(private readonly spec: ModelSpec, private readonly session: (variant: WaveVariant) => Promise<FilterSession>, options: ResolvedWaveOptions) {
    this.options = options;
    this.windowQueries = options.questionQueries;
    this.schedule = options.schedule;
    this.driftThreshold = options.driftThreshold;
    const bad = options.denseLayers.find((l) => l >= spec.nLayers);
    if (bad !== undefined) invalidOption('wf-dense-layers', `layer indices below ${spec.nLayers}`, bad);
    const o = options;
    const graphKey = waveGraphKey(o);
    this.program = {
      queries: options.questionQueries > 0 ? 'both' : 'block',
      schedule: o.schedule,
      refreshPast: o.tailRefresh ? o.tailRefreshPast : 'kept',
      // the aligned variant computes the level-B sums inside the run (the step executor's 'coarse' graph, same ops)
      variant: (p) => {
        const c = this.controls(p);
        return c === null ? null : `${graphKey}:${c.aligned ? 'aligned' : 'unaligned'}`;
      },
      emit: (g, s, io, variant) => emitWaveSelection(g, s, { levels: o.levels, norm: o.norm, headShared: o.headShared, aligned: variant.endsWith(':aligned'), denseLayers: o.denseLayers, tokenLevel: o.tokenShare > 0, tokenPool: o.tokenPool, sampleLevel: o.sampleShare > 0 }, io),
      feeds: (p) => this.controls(p)?.feeds ?? {},
    };
  }

  /** What the refreshed tail attends to (WaveFilterOptions.tailRefreshPast). */
  get refreshTailPast(): 'kept' | 'all' {
    return this.options.tailRefreshPast;
  }

  /** The protected tail when tailRefresh is on and something is filtered (see WaveFilterOptions.tailRefresh), else 0. */
  refreshTail(p: number): number {
    if (!this.options.tailRefresh) return 0;
    const c = this.controls(p);
    return c === null ? 0 : p - c.region[1];
  }

  /** The selection's controls at prompt length p, or null when nothing is filtered. */
  private controls(p: number): { feeds: Record<string, ort.Tensor>; aligned: boolean; region: [number, number] } | null {
    const { region, proportions, counts: k, tokenPicks, samplePicks } = this.proportionsFor(p);
    const [rs, re] = region;
    if (re - rs < 2 ** this.options.levels || proportions.every((m) => m >= 1)) return null;
    const protect: number[] = [];
    for (let i = 0; i < rs; i++) protect.push(i);
    for (let i = re; i < p; i++) protect.push(i);
    const feeds: Record<string, ort.Tensor> = { [F.regionStart]: i64(rs), [F.regionEnd]: i64(re), [F.protect]: i64(...protect), ...(this.options.tokenShare > 0 ? { [F.tokenK]: i64(tokenPicks) } : {}) };
    if (this.options.sampleShare > 0) {
      feeds[F.sampleK] = i64(samplePicks);
      feeds[F.samplePrio] = new ort.Tensor('float32', spreadPriority(re - rs, samplePicks), [re - rs]);
    }
    for (let b = 1; b <= this.options.levels; b++) {
      feeds[F.levelK(b)] = i64(k[b]);
      feeds[F.levelM(b)] = f64(proportions[b - 1]);
    }
    return { feeds, aligned: (re - rs) % 2 ** this.options.levels === 0, region };
  }

  static graph(spec: ModelSpec, o: ResolvedWaveOptions, variant: WaveVariant): Uint8Array {
    if (variant === 'coarse') return buildCoarseGraph(spec, o.levels);
    return buildWaveGraph(spec, {
      levels: o.levels, norm: o.norm, headShared: o.headShared, aligned: variant === 'reuse', denseLayers: o.denseLayers, tokenLevel: o.tokenShare > 0, tokenPool: o.tokenPool, sampleLevel: o.sampleShare > 0,
    });
  }

  /**
   * The candidate region and proportions for a prompt of length p (budget mode derives them). With a
   * protected tail, the region ends on a multiple of 2^B (at most 2^B - 1 more tail rows) so the
   * pyramid needs no odd-length padding; without one the region is the whole unprotected prompt.
   */
  proportionsFor(p: number): { region: [number, number]; proportions: number[]; counts: number[]; tokenPicks: number; samplePicks: number } {
    const o = this.options;
    const start = Math.min(o.sinks, p);
    const budget = o.budget ? budgetTokens(o.budget, p) : 0;
    const tail = budget && o.tailShare > 0 ? Math.max(o.tail, Math.round(o.tailShare * budget)) : o.tail;
    let end = Math.max(start, p - tail);
    if (tail > 0) end = start + Math.floor((end - start) / 2 ** o.levels) * 2 ** o.levels;
    const r = end - start;
    if (o.proportions) return { region: [start, end], proportions: [...o.proportions], counts: levelCounts(r, o.proportions), tokenPicks: 0, samplePicks: 0 };
    const all = budget - (p - r);
    // the token-level and spread shares first (together at most what the pyramid leaves of the region), the pyramid the rest
    const room = Math.max(r - 2 ** o.levels, 0);
    let tokenPicks = Math.min(Math.round(o.tokenShare * Math.max(all, 0)), room);
    let samplePicks = Math.min(Math.round(o.sampleShare * Math.max(all, 0)), room - tokenPicks);
    const target = all - tokenPicks - samplePicks;
    // the scales above spanLevels share the budget; the finest spanLevels keep every child
    const shared = o.levels - o.spanLevels;
    const m = Math.min(1, Math.max(target, 1) / Math.max(r, 1)) ** (1 / shared);
    const proportions = Array.from({ length: o.levels }, (_, i) => (i < o.spanLevels ? 1 : m));
    // every scale rounds its keep count up (U4), so the pyramid can keep a few rows more than its
    // target (821 rows against a budget of 819 at 8K before this): the single rows and the spread
    // rows give them back, so that with a share the budget is kept wherever the shares cover the
    // excess (from 1K-token prompts up at budgets 0.1 and 0.25, tested); without a share, the paper's rule
    const counts = levelCounts(r, proportions);
    let over = 2 * counts[1] - target;
    const give = (n: number): number => {
      const g = Math.min(n, Math.max(over, 0));
      over -= g;
      return n - g;
    };
    tokenPicks = give(tokenPicks);
    samplePicks = give(samplePicks);
    return { region: [start, end], proportions, counts, tokenPicks, samplePicks };
  }

  async select(req: SelectionRequest): Promise<Selection | null> {
    const p = req.promptLength;
    // nothing to filter: a region shorter than one coarse unit, or a budget that keeps everything
    const c0 = this.controls(p);
    if (c0 === null) return null;
    const extra = c0.feeds;
    const [rs, re] = c0.region;
    const block = req.blockQueries;
    if (!block) throw new WavefilterError('runtime_error', 'WaveFilter needs the block queries, which the cache host did not request');
    const question = this.windowQueries > 0 ? req.windowQueries : null;
    if (this.windowQueries > 0 && !question) throw new WavefilterError('runtime_error', 'WaveFilter questionQueries needs the prompt window\'s queries, which the cache host did not keep');
    // the block's rows, then the question's (the block program's order)
    const q = question ? block.map((b, l) => concatF32(b, question[l])) : block;
    const nq = q[0].length / (this.spec.nHeads * this.spec.headDim);
    if (!c0.aligned) return (await this.session('unaligned')).run(req, q, nq, extra);
    // The prompt's keys only change with a full refresh, which hands the host new arrays; generation
    // rows are updated in place but lie outside the region, so the level-B sums stay valid.
    const regionKey = `${rs}:${re}`;
    const { nKvHeads: Hkv, headDim: D, nLayers } = this.spec;
    let c = this.coarse;
    let coarseMs = 0;
    let coarseRuns = 0;
    if (!(c && c.region === regionKey && c.keys.length === req.keys.length && c.keys.every((k, l) => k === req.keys[l]))) {
      const session = await this.session('coarse');
      const t0 = performance.now();
      const feeds: Record<string, ort.Tensor> = { [F.regionStart]: i64(rs), [F.regionEnd]: i64(re) };
      req.keys.forEach((k, l) => (feeds[F.key(l)] = new ort.Tensor('float32', k, [Hkv, req.canvasLength, D])));
      const out = await session.raw(feeds);
      const tensors = Array.from({ length: nLayers }, (_, l) => out[F.coarseOut(l)].data as Float32Array);
      c = this.coarse = { keys: [...req.keys], region: regionKey, tensors, units: tensors.map((_, l) => Number(out[F.coarseOut(l)].dims[1])) };
      coarseMs = performance.now() - t0;
      coarseRuns = 1;
    }
    const cc = c;
    cc.tensors.forEach((t, l) => (extra[F.coarseIn(l)] = new ort.Tensor('float32', t, [Hkv, cc.units[l], D])));
    const sel = await (await this.session('reuse')).run(req, q, nq, extra);
    return { ...sel, ms: sel.ms + coarseMs, runs: sel.runs + coarseRuns };
  }

  async dispose(): Promise<void> {}
}

export const wavefilter: FilterEntry = {
  name: 'wavefilter',
  summary: 'WaveFilter: Haar pyramid of the prompt keys, skim coarse then focus fine',
  wave: true,
  create: async (c) => {
    const o = resolveWaveOptions({ ...c.options.wave, budget: parseBudget(c.options.budget) ?? c.options.wave?.budget ?? null });
    const key = waveGraphKey(o);
    const session = (variant: WaveVariant) => c.session(`${key}:${variant}`, () => WaveFilter.graph(c.spec, o, variant));
    // selection sessions are built on the step executor's first selection: the block program runs
    // the selection inside its own graph and never needs them
    return new WaveFilter(c.spec, session, o);
  },
};

function concatF32(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The selection graph's identity (everything that changes its ops; budgets and regions are feeds). */
function waveGraphKey(o: ResolvedWaveOptions): string {
  return `wave:${o.levels}:${o.norm}:${o.headShared}:${o.denseLayers.join('.')}${o.tokenShare > 0 ? `:tokens${o.tokenPool > 1 ? `.pool${o.tokenPool}` : ''}` : ''}${o.sampleShare > 0 ? ':sample' : ''}${o.tailRefresh && o.tailRefreshPast === 'all' ? ':refresh-all' : ''}`;
}

/**
 * The spread picks' priority over a region of r rows for k picks: the points floor((j + 1/2) r / k)
 * first, then rows by their distance to the nearest point (ties to the lower row), as -rank (exact
 * in float32 below 2^24 rows). The graph takes the k highest free rows: the points themselves, or
 * where another pick took a point, the free rows nearest it.
 */
export function spreadPriority(r: number, k: number): Float32Array {
  const key = `${r}:${k}`;
  const hit = spreadCache.get(key);
  if (hit) return hit;
  const dist = new Float64Array(r);
  const point = (j: number): number => Math.floor(((j + 0.5) * r) / k);
  // the points ascend, so the nearest to row i is the last at or below it or the next
  for (let i = 0, j = 0; i < r; i++) {
    while (j + 1 < k && point(j + 1) <= i) j++;
    dist[i] = k === 0 ? 0 : Math.min(Math.abs(i - point(j)), j + 1 < k ? point(j + 1) - i : Infinity);
  }
  const order = Array.from({ length: r }, (_, i) => i).sort((a, b) => dist[a] - dist[b] || a - b);
  const prio = new Float32Array(r);
  order.forEach((i, rank) => (prio[i] = -rank));
  if (spreadCache.size > 16) spreadCache.clear();
  spreadCache.set(key, prio);
  return prio;
}
const spreadCache = new Map<string, Float32Array>();
