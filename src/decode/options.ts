/**
 * Generation options, their defaults and validation. Names follow the LLaDA / Dream / Fast-dLLM
 * code so users find the knobs they know.
 */
import { WavefilterError, invalidOption } from '../errors.js';
import { type CacheName, cacheHostNames, cacheHostPolicy } from '../cache/registry.js';
import type { DreamAlg } from './scoring.js';
import type { ModelSpec } from '../model/spec.js';

export interface GenerateOptions {
  /** Tokens to generate (the canvas is prompt + genLength). */
  readonly genLength?: number;
  /** Semi-autoregressive block length; defaults to 32 with a cache, genLength without. */
  readonly blockLength?: number;
  /** Total denoising steps over all blocks; defaults to genLength. */
  readonly steps?: number;
  /** Fast-dLLM parallel decoding: commit every candidate at or above this confidence. */
  readonly threshold?: number | null;
  /** Fast-dLLM factor rule (alternative to threshold). */
  readonly factor?: number | null;
  readonly temperature?: number;
  readonly topP?: number | null;
  readonly topK?: number | null;
  /** LLaDA: how candidates are ranked. */
  readonly remasking?: 'low_confidence' | 'random';
  /** Dream: the confidence used to rank candidates. */
  readonly alg?: DreamAlg;
  /** Dream: sample positions from softmax(confidence / algTemp) instead of top-k. */
  readonly algTemp?: number | null;
  /** Dream's eps for timesteps linspace(1, eps, steps + 1). */
  readonly eps?: number;
  /** LLaDA classifier-free guidance scale (no cache only). */
  readonly cfgScale?: number;
  readonly logitsEosInf?: boolean;
  readonly confidenceEosEotInf?: boolean;
  readonly cache?: CacheName;
  /**
   * When a cache host refreshes the prompt's K/V: 'every-block' (Fast-dLLM: a full forward at each
   * block start) or 'first-block' (after the first block only the generation rows are recomputed).
   */
  readonly promptRefresh?: 'every-block' | 'first-block';
  readonly seed?: number;
  /**
   * Where greedy confidences come from: 'auto' uses the graph's float64 row summaries when the
   * options allow (temperature 0, no filters), 'js' always scores full logits rows in JavaScript
   * (the plain reference path, kept for checking the fast one).
   */
  readonly scoring?: 'auto' | 'js';
  /** Allow a canvas longer than the model's trained context (e.g. with a scaled rope_theta). */
  readonly allowLongContext?: boolean;
  /**
   * 'block': one ONNX Runtime run per denoising block (the block program); 'step': one run per
   * forward, scored in JavaScript (the reference path, and the one that runs every option);
   * 'generation': one run for every block (the generation program: the first-block prompt refresh
   * on a cached host, the blocks' events after the run); 'auto' (default): on a CUDA device the
   * generation program where it applies and no signal can cancel the run, else the block program
   * when it supports the options, else the step loop. 'batch': the step loop, with its forwards
   * packed together with those of every other generation running with 'batch' on the same model
   * at the time (src/batch/: a server's concurrent requests; fp32).
   */
  readonly executor?: ExecutorChoice;
}

export const EXECUTORS = ['auto', 'step', 'block', 'generation', 'batch'] as const;
export type ExecutorChoice = (typeof EXECUTORS)[number];

export interface ResolvedOptions {
  readonly genLength: number;
  readonly blockLength: number;
  readonly steps: number;
  readonly threshold: number | null;
  readonly factor: number | null;
  readonly temperature: number;
  readonly topP: number | null;
  readonly topK: number | null;
  readonly remasking: 'low_confidence' | 'random';
  readonly alg: DreamAlg;
  readonly algTemp: number | null;
  readonly eps: number;
  readonly cfgScale: number;
  readonly logitsEosInf: boolean;
  readonly confidenceEosEotInf: boolean;
  readonly cache: CacheName;
  readonly promptRefresh: 'every-block' | 'first-block';
  readonly seed: number;
  readonly executor: ExecutorChoice;
}

function posInt(name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) invalidOption(name, 'a positive integer', v);
  return v as number;
}

function optNum(name: string, v: unknown, ok: (x: number) => boolean, expected: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) invalidOption(name, expected, v);
  return v;
}

/**
 * allowLongContext lets the canvas exceed the trained context (with a scaled rope_theta), but not
 * without bound: at most this many times the context, so a typo cannot size a huge canvas.
 */
export const LONG_CONTEXT_FACTOR = 16;

/** Fills defaults and rejects nonsense, naming the option. */
export function resolveOptions(spec: ModelSpec, promptLength: number, o: GenerateOptions): ResolvedOptions {
  const cache = o.cache ?? 'none';
  for (const k of ['logitsEosInf', 'confidenceEosEotInf'] as const) if (o[k] !== undefined && typeof o[k] !== 'boolean') invalidOption(k, 'a boolean', o[k]);
  if (o.scoring !== undefined && o.scoring !== 'auto' && o.scoring !== 'js') invalidOption('scoring', 'auto or js', o.scoring);
  if (typeof cache !== 'string' || !cacheHostNames().includes(cache)) invalidOption('cache', cacheHostNames().join(', '), cache);
  const cached = cacheHostPolicy(cache).cached;
  const executor = o.executor ?? 'auto';
  if (!(EXECUTORS as readonly string[]).includes(executor)) invalidOption('executor', EXECUTORS.join(', '), executor);
  const genLength = posInt('genLength', o.genLength ?? 32);
  const blockLength = posInt('blockLength', o.blockLength ?? (!cached ? genLength : Math.min(32, genLength)));
  if (genLength % blockLength !== 0) invalidOption('blockLength', `a divisor of genLength (${genLength})`, blockLength);
  const blocks = genLength / blockLength;
  const steps = posInt('steps', o.steps ?? genLength);
  if (steps > genLength) invalidOption('steps', `at most genLength (${genLength}): a step commits at least one token`, steps);
  if (steps % blocks !== 0) invalidOption('steps', `a multiple of the number of blocks (${blocks})`, steps);
  const threshold = optNum('threshold', o.threshold, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const factor = optNum('factor', o.factor, (x) => x > 0, 'a positive number');
  if (threshold !== null && factor !== null) invalidOption('factor', 'not together with threshold', factor);
  const temperature = optNum('temperature', o.temperature, (x) => x >= 0, 'a number >= 0') ?? 0;
  const topP = optNum('topP', o.topP, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const topK = o.topK === undefined || o.topK === null ? null : posInt('topK', o.topK);
  const remasking = o.remasking ?? 'low_confidence';
  if (remasking !== 'low_confidence' && remasking !== 'random') invalidOption('remasking', 'low_confidence or random', remasking);
  const alg = o.alg ?? 'entropy';
  if (!['origin', 'maskgit_plus', 'topk_margin', 'entropy'].includes(alg)) invalidOption('alg', 'origin, maskgit_plus, topk_margin or entropy', alg);
  const algTemp = optNum('algTemp', o.algTemp, (x) => x >= 0, 'a number >= 0');
  const eps = optNum('eps', o.eps, (x) => x > 0 && x < 1, 'a number in (0, 1)') ?? 1e-3;
  const cfgScale = optNum('cfgScale', o.cfgScale, (x) => x >= 0, 'a number >= 0') ?? 0;
  if (cfgScale > 0 && spec.family !== 'llada') invalidOption('cfgScale', '0 for Dream (Dream has no classifier-free guidance)', cfgScale);
  if (cfgScale > 0 && cached) invalidOption('cfgScale', `0 with cache ${cache} (guidance needs the unconditional canvas, which Fast-dLLM caches do not keep)`, cfgScale);
  if (spec.family === 'llada' && (topP !== null || topK !== null)) invalidOption(topP !== null ? 'topP' : 'topK', 'unset for LLaDA (its sampler is Gumbel-max over the full vocabulary)', topP ?? topK);
  if (spec.family === 'dream' && alg === 'origin' && (threshold !== null || factor !== null))
    invalidOption('alg', 'maskgit_plus, topk_margin or entropy with threshold/factor decoding', alg);
  const promptRefresh = o.promptRefresh ?? 'every-block';
  if (promptRefresh !== 'every-block' && promptRefresh !== 'first-block') invalidOption('promptRefresh', 'every-block or first-block', promptRefresh);
  if (promptRefresh === 'first-block' && !cached) invalidOption('promptRefresh', `every-block with cache ${cache} (there is no cache to keep)`, promptRefresh);
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed)) invalidOption('seed', 'an integer', seed);
  const total = promptLength + genLength;
  if (promptLength < 1) throw new WavefilterError('invalid_input', 'the prompt is empty: at least one token is needed', { tokens: promptLength });
  const hardLimit = LONG_CONTEXT_FACTOR * spec.maxSequenceLength;
  if (o.allowLongContext !== undefined && typeof o.allowLongContext !== 'boolean') invalidOption('allowLongContext', 'a boolean', o.allowLongContext);
  if (total > hardLimit)
    throw new WavefilterError('prompt_too_long', `prompt (${promptLength} tokens) + genLength (${genLength}) = ${total} exceeds ${LONG_CONTEXT_FACTOR}x the model's context of ${spec.maxSequenceLength}, the most even allowLongContext permits`, {
      tokens: promptLength, gen_length: genLength, limit: hardLimit,
    });
  if (total > spec.maxSequenceLength && !o.allowLongContext)
    throw new WavefilterError('prompt_too_long', `prompt (${promptLength} tokens) + genLength (${genLength}) = ${total} exceeds the model's context of ${spec.maxSequenceLength}; shorten the prompt or pass allowLongContext (--allow-long-context) with a scaled rope_theta`, {
      tokens: promptLength, gen_length: genLength, limit: spec.maxSequenceLength,
    });
  return {
    genLength, blockLength, steps, threshold, factor, temperature, topP, topK, remasking, alg, algTemp, eps, cfgScale,
    logitsEosInf: o.logitsEosInf ?? false, confidenceEosEotInf: o.confidenceEosEotInf ?? false, cache, promptRefresh, seed, executor,
  };
}
