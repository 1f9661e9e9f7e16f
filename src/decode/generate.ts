/**
 * The generation loop: blocks, steps, scoring, transfer, cache host, events. It knows nothing of
 * any particular cache method (CacheHost) and does no model-width arithmetic beyond scoring the
 * logits rows the graph returned for the current block's masked positions.
 */
import { WavefilterError } from '../errors.js';
import { createCacheHost } from '../cache/index.js';
import type { CacheHost, ForwardPlan, StepContext } from '../cache/host.js';
import type { ForwardRequest, ForwardResult, ModelRuntime } from '../model/runtime.js';
import { buildResult } from './result.js';
import type { TokenFilter } from '../filter/token-filter.js';
import type { ModelSpec } from '../model/spec.js';
import { Rng } from '../rng.js';
import { dreamQuota, dreamTimesteps, lladaTransferSchedule } from './schedule.js';
import {
  type DreamScoring, type LladaScoring, type Scored, canScoreDreamFromStats, canScoreLladaFromStats, scoreDream, scoreDreamFromStats, scoreLlada, scoreLladaFromStats,
} from './scoring.js';
import { type TransferRule, selectTransfers } from './transfer.js';
import { type GenerateOptions, type ResolvedOptions, resolveOptions } from './options.js';

/** Emitted after every forward. `canvas` is a live view: copy it if you keep it. */
export interface StepEvent {
  readonly block: number;
  readonly blocks: number;
  readonly stepInBlock: number;
  readonly nfe: number;
  readonly refresh: boolean;
  /** Positions committed by this step. */
  readonly committed: readonly number[];
  /** How many generated tokens, from the left, are decided (the stable prefix a text stream may show). */
  readonly settled: number;
  readonly genLength: number;
  readonly canvas: Int32Array;
  readonly ms: number;
}

/** The prompt rows a token filter kept, at the end of a block (its last selection). */
export interface KeptEvent {
  readonly block: number;
  /** Per layer [Hkv, T] prompt positions, -1 = padding; a live view: copy it if you keep it. */
  readonly tokens: readonly BigInt64Array[];
}

export interface GenerateHooks {
  readonly signal?: AbortSignal;
  readonly onStep?: (e: StepEvent) => void;
  /** After each block with a filter selection in force (for visualisers and parity checks). */
  readonly onKept?: (e: KeptEvent) => void;
  /** A cache host to use instead of the one named by `options.cache`. */
  readonly host?: CacheHost;
  /** A token filter for the cache host (a fresh one per generation). */
  readonly filter?: TokenFilter | null;
}

export interface Timings {
  /** Which executor ran: 'step' (one ORT run per forward) or 'block' (one block program run per block). */
  readonly executor: 'step' | 'block' | 'generation';
  readonly totalMs: number;
  /** Time inside ONNX Runtime's session.run. */
  readonly ortMs: number;
  /** session.run calls: forwards, token-filter selections, block programs. */
  readonly ortRuns: number;
  readonly ortRunsPerBlock: number;
  /** Mean wall time of a denoising block. */
  readonly blockMsMean: number;
  /** Full forwards (a cached host's block start; every forward without a cache). */
  readonly refreshes: number;
  /** Per-forward times; null for the block executor, which times whole blocks. */
  readonly refreshMsMean: number | null;
  readonly cachedSteps: number;
  readonly cachedStepMsMean: number | null;
  /** Of cachedStepMsMean, the part inside ORT. */
  readonly cachedStepOrtMsMean: number | null;
  /** Generated tokens per second over the whole call. */
  readonly tokensPerSecond: number;
  /** Share of the loop's time spent outside ORT (scoring, bookkeeping, tensor wrapping). */
  readonly jsShare: number;
  /** Token filter: selections run, time inside them (ORT), mean prompt rows kept per KV head. */
  readonly selections: number;
  readonly selectMs: number;
  readonly keptPromptRows: number | null;
}

export interface GenerationResult {
  /** The whole final canvas: prompt + generated ids. */
  readonly outputIds: number[];
  readonly promptLength: number;
  readonly nfe: number;
  readonly stopReason: 'done' | 'aborted';
  readonly timings: Timings;
  readonly options: ResolvedOptions;
}

/** Prompt ids must be in the vocabulary and may not contain the mask token. */
export function checkPromptIds(spec: ModelSpec, promptIds: readonly number[]): void {
  promptIds.forEach((id, i) => {
    if (!Number.isSafeInteger(id) || id < 0 || id >= spec.vocabSize)
      throw new WavefilterError('invalid_input', `prompt token ${i} is ${id}; expected an id in [0, ${spec.vocabSize})`, { index: i, found: String(id) });
    if (id === spec.maskTokenId)
      throw new WavefilterError('invalid_input', `prompt token ${i} is the mask id ${id}; prompts may not contain mask tokens`, { index: i, found: id });
  });
}

/**
 * The step executor: one ORT forward per denoising step, scored and committed in JavaScript. It is
 * the plain reference path beside the block executor (block-executor.ts) and runs every option.
 */
/** What the step loop needs of a runtime (a host with its own forward passes a stand-in). */
export type StepRuntime = Pick<ModelRuntime, 'spec' | 'runs' | 'forward'>;

export async function generateIds(rt: StepRuntime, promptIds: readonly number[], options: GenerateOptions = {}, hooks: GenerateHooks = {}): Promise<GenerationResult> {
  const spec = rt.spec;
  const o = resolveOptions(spec, promptIds.length, options);
  checkPromptIds(spec, promptIds);
  const runs0 = rt.runs;
  let blocksRun = 0;
  const Lp = promptIds.length;
  const L = Lp + o.genLength;
  const canvas = new Int32Array(L).fill(spec.maskTokenId);
  canvas.set(promptIds, 0);
  const host = hooks.host ?? createCacheHost(o.cache, spec, { filter: hooks.filter ?? null, promptRefresh: o.promptRefresh });
  if (host.forward && o.cfgScale !== 0)
    throw new WavefilterError('invalid_option', `cfgScale: cache ${host.name} computes its own forward and has no classifier-free guidance pass (cfgScale 0)`, { option: 'cfgScale' });
  const rng = new Rng(o.seed);
  const blocks = o.genLength / o.blockLength;
  const S = o.steps / blocks;
  const isDream = spec.family === 'dream';
  const t0 = performance.now();
  let ortMs = 0;
  let nfe = 0;
  let refreshes = 0;
  let refreshMs = 0;
  let cachedMs = 0;
  let cachedOrtMs = 0;
  let settled = 0;
  let stopReason: 'done' | 'aborted' = 'done';

  const { dream: dreamScoring, llada: lladaScoring } = scoringOptions(spec, o);
  const useStats = scoresFromStats(spec, o, options.scoring);
  const V = spec.vocabSize;
  const score = (r: ForwardResult, i: number): Scored => {
    if (useStats && r.stats)
      return isDream ? scoreDreamFromStats(r.stats, i, dreamScoring) : scoreLladaFromStats(r.stats, i, lladaScoring, rng);
    const row = r.logits.subarray(i * V, (i + 1) * V);
    return isDream ? scoreDream(row, dreamScoring, rng) : scoreLlada(row, lladaScoring, rng);
  };

  outer: for (let b = 0; b < blocks; b++) {
    const lo = Lp + b * o.blockLength;
    const hi = lo + o.blockLength;
    host.beginBlock({ canvas, promptLength: Lp, lo, hi });
    blocksRun++;
    const schedule = lladaTransferSchedule(countMasks(canvas, lo, hi, spec.maskTokenId), S);
    const timesteps = dreamTimesteps(S, o.eps);
    for (let k = 0; ; k++) {
      const masks = countMasks(canvas, lo, hi, spec.maskTokenId);
      if (masks === 0 && k >= host.minForwardsPerBlock) break;
      if (hooks.signal?.aborted) {
        stopReason = 'aborted';
        break outer;
      }
      const stepStart = performance.now();
      const ctx: StepContext = { canvas, promptLength: Lp, lo, hi, stepInBlock: k };
      const plan = await host.plan(ctx);
      const candidates: number[] = [];
      for (let p = lo; p < hi; p++) if (canvas[p] === spec.maskTokenId) candidates.push(p);
      // Fast-dLLM's Dream block loop commits the block's first token from the refresh: in cached
      // steps the shifted prediction for `lo` would come from a row outside the query window.
      const dreamFirst = isDream && host.dreamFirstTokenFromRefresh === true && plan.refresh && canvas[lo] === spec.maskTokenId;
      const rows = candidates.map((p) => logitRow(plan, p, isDream));
      const result = await runForward(rt, plan, canvas, rows, o, spec.maskTokenId, Lp, host.forward ? (req) => (host.forward as NonNullable<CacheHost['forward']>)(req, plan, ctx) : null);
      ortMs += result.ortMs;
      await host.absorb(plan, result, ctx);
      nfe++;
      const scored = candidates.map((_, i) => score(result, i));
      const commit: number[] = [];
      if (dreamFirst) {
        commit.push(candidates.indexOf(lo));
      } else if (isDream && o.alg === 'origin' && o.threshold === null && o.factor === null) {
        const pTransfer = k < S - 1 ? Math.fround(1 - Math.fround(timesteps[k + 1] / timesteps[k])) : 1;
        candidates.forEach((_, i) => {
          if (rng.uniform() < pTransfer) commit.push(i);
        });
      } else {
        const rule: TransferRule =
          o.threshold !== null ? { kind: 'threshold', threshold: o.threshold }
          : o.factor !== null ? { kind: 'factor', factor: o.factor }
          : isDream
            ? o.algTemp ? { kind: 'sampled_quota', count: dreamQuota(masks, k, S, timesteps), temperature: o.algTemp }
              : { kind: 'quota', count: dreamQuota(masks, k, S, timesteps) }
            // past the schedule (only if a step could not commit its quota) keep going one token a step
            : { kind: 'quota', count: k < S ? schedule[k] : 1 };
        commit.push(...selectTransfers(scored.map((s) => s.confidence), rule, rng));
      }
      const committed = commit.map((i) => {
        canvas[candidates[i]] = scored[i].token;
        return candidates[i];
      });
      while (settled < o.genLength && canvas[Lp + settled] !== spec.maskTokenId) settled++;
      const ms = performance.now() - stepStart;
      if (plan.refresh) {
        refreshes++;
        refreshMs += ms;
      } else {
        cachedMs += ms;
        cachedOrtMs += result.ortMs;
      }
      hooks.onStep?.({ block: b, blocks, stepInBlock: k, nfe, refresh: plan.refresh, committed, settled, genLength: o.genLength, canvas, ms });
    }
    const kept = host.keptTokens?.() ?? null;
    if (kept && stopReason === 'done') hooks.onKept?.({ block: b, tokens: kept });
  }
  const fs = host.filterStats?.() ?? null;
  return buildResult({
    executor: 'step', canvas, promptLength: Lp, options: o, stopReason, totalMs: performance.now() - t0, ortMs, ortRuns: rt.runs - runs0 + (fs?.selectRuns ?? 0),
    blocksRun, nfe, settled, refreshes, perForward: { refreshMs, cachedMs, cachedOrtMs },
    selections: fs?.selections ?? 0, selectMs: fs?.selectMs ?? 0, keptPromptRows: fs && fs.selections ? fs.keptPromptRows : null,
  });
}

/** The scoring options of each family, from the resolved options. */
function scoringOptions(spec: ModelSpec, o: ResolvedOptions): { dream: DreamScoring; llada: LladaScoring } {
  return {
    dream: { temperature: o.temperature, topP: o.topP, topK: o.topK, alg: o.alg, maskId: spec.maskTokenId },
    llada: {
      temperature: o.temperature, remasking: o.remasking, logitsEosInf: o.logitsEosInf, confidenceEosEotInf: o.confidenceEosEotInf,
      eosId: spec.eosTokenId, eotId: spec.eotTokenId, maskId: spec.maskTokenId,
    },
  };
}

/** Whether the step loop scores rows from the forward's float64 summaries (greedy rules) rather than the logits rows. */
export function scoresFromStats(spec: ModelSpec, o: ResolvedOptions, scoring: GenerateOptions['scoring']): boolean {
  if (scoring === 'js') return false;
  const s = scoringOptions(spec, o);
  return spec.family === 'dream' ? canScoreDreamFromStats(s.dream) : canScoreLladaFromStats(s.llada);
}

/** Whether the step loop reads the logits rows of its forwards (scoring from them, or guidance combining them). */
export function readsLogits(spec: ModelSpec, o: ResolvedOptions, scoring: GenerateOptions['scoring']): boolean {
  return o.cfgScale !== 0 || !scoresFromStats(spec, o, scoring);
}

export function countMasks(canvas: Int32Array, lo: number, hi: number, mask: number): number {
  let n = 0;
  for (let p = lo; p < hi; p++) if (canvas[p] === mask) n++;
  return n;
}

/**
 * The query row whose logits predict position `p`. LLaDA reads row p. Dream reads row p-1 (its
 * one-position shift); the first query row predicts itself, as in Dream's `cat(logits[:, :1], logits[:, :-1])`.
 */
function logitRow(plan: ForwardPlan, p: number, shift: boolean): number {
  const first = plan.positions[0];
  const last = plan.positions[plan.positions.length - 1];
  if (last - first + 1 !== plan.positions.length)
    throw new WavefilterError('runtime_error', 'cache host returned non-contiguous query positions, which the decoder does not map yet');
  const target = shift ? Math.max(p - 1, first) : p;
  if (target < first || target > last)
    throw new WavefilterError('runtime_error', `cache host ${plan.refresh ? 'refresh' : 'step'} does not compute position ${target}, which the decoder needs`);
  return target - first;
}

async function runForward(rt: StepRuntime, plan: ForwardPlan, canvas: Int32Array, rows: number[], o: ResolvedOptions, maskId: number, Lp: number, own: ((req: ForwardRequest) => Promise<ForwardResult>) | null): Promise<ForwardResult> {
  const ids = new BigInt64Array(plan.positions.length);
  const pos = new BigInt64Array(plan.positions.length);
  plan.positions.forEach((p, i) => {
    ids[i] = BigInt(canvas[p]);
    pos[i] = BigInt(p);
  });
  const logitRows = BigInt64Array.from(rows, (r) => BigInt(r));
  const queryRows = plan.queryRows ? BigInt64Array.from(plan.queryRows, (r) => BigInt(r)) : undefined;
  if (own) return own({ inputIds: ids, positions: pos, logitRows, queryRows, past: plan.past });
  const cond = await rt.forward({ inputIds: ids, positions: pos, logitRows, queryRows, past: plan.past });
  if (o.cfgScale === 0) return cond;
  // LLaDA's unsupervised classifier-free guidance: the same canvas with the prompt masked.
  const uids = ids.slice();
  plan.positions.forEach((p, i) => {
    if (p < Lp) uids[i] = BigInt(maskId);
  });
  const un = await rt.forward({ inputIds: uids, positions: pos, logitRows, past: plan.past });
  const logits = new Float32Array(cond.logits.length);
  const s = o.cfgScale + 1;
  for (let i = 0; i < logits.length; i++) logits[i] = un.logits[i] + s * (cond.logits[i] - un.logits[i]);
  return { ...cond, logits, stats: null, ortMs: cond.ortMs + un.ortMs };
}
