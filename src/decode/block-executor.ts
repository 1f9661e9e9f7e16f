/**
 * The block executor: one block program run (program/block-graph.ts) per denoising block. The
 * refresh, every denoising step and the decoding rule run inside ONNX Runtime; JavaScript feeds the
 * canvas and the rule's controls, then replays the per-step commits as StepEvents.
 *
 * It is the fast path beside the step executor (generate.ts), which stays the plain reference: the
 * same cache-host policy (cache/registry.ts) drives both, and the parity tests hold them to the same
 * tokens. What the block program does not cover (sampling with temperature > 0, LLaDA's random
 * remasking and EOS/EoT rules, Dream's origin transfer and top-p / top-k, classifier-free guidance,
 * token filters, JS scoring, custom hosts) runs on the step executor: `blockProgramGap` names the
 * first such option, so `executor: 'block'` can refuse it clearly and 'auto' can fall back.
 *
 * Events: a block's steps are only known when its run returns, so its StepEvents arrive together
 * after the run, each with the canvas as it was after that step and `ms` the block's time divided
 * evenly. Cancellation: a run cannot be stopped midway, so an abort frees the executor at the end
 * of the current block's run; the result is then cut back to the step at which the abort was seen
 * (for an abort from onStep, exactly what the step executor returns).
 *
 * The generation program (program/generation-program.ts, `generationProgramGap`) runs every block
 * in one run for the first-block prompt refresh on a cached host, so the first block's prompt K/V
 * never leave the device; its events arrive after the whole run, and an abort is seen only before
 * the run or while replaying, which is why engine.ts takes it by default only for runs without a
 * signal.
 */
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { BlockProgram, BlockRule, KeptKv, SelectionOutputs } from '../program/block-program.js';
import type { GenerationProgram } from '../program/generation-program.js';
import type { ProgramFilter, ProgramShape } from '../program/block-graph.js';
import type { FixedRule } from '../program/decide-graph.js';
import { checkHostOptions } from '../cache/index.js';
import { tailRows } from '../filter/token-filter.js';
import { type HostPolicy, checkedWindow } from '../cache/registry.js';
import type { GenerateHooks, GenerationResult } from './generate.js';
import { checkPromptIds, countMasks } from './generate.js';
import { type GenerateOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { dreamTimesteps, lladaTransferSchedule } from './schedule.js';
import { buildResult } from './result.js';
import { Rng } from '../rng.js';

const NO_DRAWS = new Float64Array(0);
import type { Lease } from '../model/session-cache.js';

/** The first option the block program cannot run, as `name (why)`, or null when it can run them all. */
export function blockProgramGap(spec: ModelSpec, o: ResolvedOptions, hooks: GenerateHooks, scoring: 'auto' | 'js' | undefined): string | null {
  if (hooks.host) return 'a custom cache host object (register a HostPolicy instead)';
  const f = hooks.filter;
  if (f && !f.program) return `filter ${f.name} (it has no block-program form)`;
  if (f?.program?.schedule === 'on-drift') return "the 'on-drift' selection schedule";
  if (scoring === 'js') return "scoring 'js' (the plain JavaScript scoring path is the step executor's)";
  if (spec.family === 'llada') {
    if (o.logitsEosInf) return 'logitsEosInf';
    if (o.confidenceEosEotInf) return 'confidenceEosEotInf';
  } else {
    if (o.algTemp) return 'algTemp';
  }
  return null;
}

/**
 * The seeded uniform stream of the random rules (LLaDA random remasking, Dream origin), read in the
 * step executor's order: a block takes what it may need from the front and gives back what it did
 * not read, so the next block continues where the step executor would.
 */
class DrawQueue {
  private buf: number[] = [];
  constructor(private readonly rng: Rng) {}
  take(n: number): Float64Array {
    while (this.buf.length < n) this.buf.push(this.rng.uniform());
    return Float64Array.from(this.buf.slice(0, n));
  }
  consume(n: number): void {
    this.buf.splice(0, n);
  }
}

/** Whether the rule reads uniform draws (sampling, LLaDA random remasking, Dream origin). */
function usesDraws(spec: ModelSpec, o: ResolvedOptions): boolean {
  if (o.temperature > 0) return true;
  return spec.family === 'llada' ? o.remasking === 'random' : o.alg === 'origin' && o.threshold === null && o.factor === null;
}

/** Whether tokens come from the sampling variant (temperature, Dream's top-p / top-k) rather than the argmax. */
function samples(spec: ModelSpec, o: ResolvedOptions): boolean {
  return o.temperature > 0 || (spec.family === 'dream' && ((o.topP !== null && o.topP < 1) || o.topK !== null));
}

/** The rule's controls for a block whose first forward sees `masks` masked positions. */
/** The rule and confidence kinds of the options (decide-graph.ts). */
export function ruleKindsOf(spec: ModelSpec, o: ResolvedOptions): FixedRule {
  const isDream = spec.family === 'dream';
  const origin = isDream && o.alg === 'origin' && o.threshold === null && o.factor === null;
  const rule = o.threshold !== null ? 'threshold' : o.factor !== null ? 'factor' : origin ? 'transfer' : 'quota';
  const confidence = !isDream ? (o.remasking === 'random' ? 'random' : 'probability') : o.alg === 'topk_margin' ? 'margin' : o.alg === 'entropy' ? 'negEntropy' : 'probability';
  return { rule, confidence };
}

function blockRule(spec: ModelSpec, o: ResolvedOptions, policy: HostPolicy, masks: number, S: number, maxSteps: number, draws: Float64Array): BlockRule {
  const isDream = spec.family === 'dream';
  const { rule: kind, confidence } = ruleKindsOf(spec, o);
  const quotaRatio = new Float32Array(maxSteps);
  const pTransfer = new Float64Array(maxSteps).fill(1);
  let quota: number[] = [];
  if (isDream) {
    // dreamQuota: floor(f32(masks * (1 - t[k+1]/t[k]))), every mask from step S-1 on; origin
    // transfers each candidate with that probability (1 from step S-1 on)
    const t = dreamTimesteps(S, o.eps);
    for (let k = 0; k < Math.min(S - 1, maxSteps); k++) quotaRatio[k] = pTransfer[k] = Math.fround(1 - Math.fround(t[k + 1] / t[k]));
  } else {
    // LLaDA's schedule; past it (a step could not commit its quota) one token a step
    const schedule = lladaTransferSchedule(masks, S);
    quota = Array.from({ length: maxSteps }, (_, k) => (k < S ? schedule[k] : 1));
  }
  return {
    confidence, kind, threshold: o.threshold ?? 0, factor: o.factor ?? 0, quota, quotaRatio,
    quotaFromRatio: isDream, quotaAllFrom: isDream ? S - 1 : maxSteps + 1, firstOnly: isDream && policy.dreamFirstTokenFromRefresh,
    pTransfer, draws,
  };
}

/** The steps' attention of a host's program: cached hosts attend to the refreshed K/V, the no-cache host runs full forwards. */
export function stepAttentionOf(policy: HostPolicy): 'explicit' | 'fused' {
  return policy.cached ? 'explicit' : 'fused';
}

/** The block program session for a filter (null: unfiltered); the engine caches one per variant. */
export type ProgramSource = (filter: ProgramFilter | null, shape: ProgramShape) => Promise<Lease<BlockProgram>>;
/** The generation program session (program/generation-program.ts), likewise. */
export type GenerationSource = (filter: ProgramFilter | null, shape: ProgramShape) => Promise<Lease<GenerationProgram>>;

/**
 * Why a generation cannot run as one generation program run, or null when it can: it needs the
 * first-block prompt refresh on a cached host, two or more blocks, and a filter without state
 * carried between blocks on the host (H2O's accumulator).
 */
export function generationProgramGap(spec: ModelSpec, o: ResolvedOptions, policy: HostPolicy, hooks: GenerateHooks, scoring: 'auto' | 'js' | undefined): string | null {
  const gap = blockProgramGap(spec, o, hooks, scoring);
  if (gap) return gap;
  if (!policy.cached) return `cache ${policy.name} (the generation program keeps a cache between blocks)`;
  if (o.promptRefresh !== 'first-block') return "promptRefresh 'every-block' (the generation program keeps the first block's prompt K/V)";
  if (o.genLength / o.blockLength < 2) return 'a single block (the block program runs it)';
  if (hooks.filter?.program?.absorbState) return `filter ${hooks.filter.name} (its state is carried between blocks on the host)`;
  return null;
}

/** Generates from prompt token ids with one block program run per block, or with `generation` one run for every block. */
export async function generateBlocks(programs: ProgramSource, spec: ModelSpec, policy: HostPolicy, promptIds: readonly number[], options: GenerateOptions = {}, hooks: GenerateHooks = {}, generation?: GenerationSource): Promise<GenerationResult> {
  const o = resolveOptions(spec, promptIds.length, options);
  const gap = generation ? generationProgramGap(spec, o, policy, hooks, options.scoring) : blockProgramGap(spec, o, hooks, options.scoring);
  if (gap) throw new WavefilterError('invalid_option', `executor ${generation ? 'generation' : 'block'}: the ${generation ? 'generation' : 'block'} program does not support ${gap}; use executor ${generation ? 'block' : 'step'} (--executor ${generation ? 'block' : 'step'})`, { option: 'executor' });
  checkPromptIds(spec, promptIds);
  const fp = hooks.filter?.program ?? null;
  checkHostOptions(policy, hooks.filter ?? null, o.promptRefresh);
  const variant = fp ? fp.variant(promptIds.length) : null;
  // a budget that keeps every prompt row runs the unfiltered program (the step executor's host keeps the dense cache then)
  const filter: ProgramFilter | null = fp && variant !== null ? { program: fp, variant, windowQueries: hooks.filter?.windowQueries ?? 0 } : null;
  const shape: ProgramShape = { cfg: o.cfgScale > 0, sample: samples(spec, o), stepAttention: stepAttentionOf(policy), decide: ruleKindsOf(spec, o) };
  if (generation) {
    const lease = await generation(filter, shape);
    try {
      return await runGeneration(lease.value, filter, spec, policy, promptIds, o, hooks);
    } finally {
      lease.release();
    }
  }
  const lease = await programs(filter, shape);
  try {
    return await runBlocks(lease.value, filter, spec, policy, promptIds, o, hooks);
  } finally {
    lease.release();
  }
}

/** A run's canvas, block layout and counters, shared by the block-by-block and the whole-generation runs. */
class BlockRun {
  readonly Lp: number;
  readonly L: number;
  readonly canvas: Int32Array;
  readonly blocks: number;
  readonly S: number;
  readonly B: number;
  readonly maxSteps: number;
  readonly draws: DrawQueue | null;
  readonly t0 = performance.now();
  nfe = 0;
  refreshes = 0;
  settled = 0;
  stopReason: 'done' | 'aborted' = 'done';
  blocksRun = 0;

  constructor(readonly spec: ModelSpec, readonly policy: HostPolicy, promptIds: readonly number[], readonly o: ResolvedOptions, readonly hooks: GenerateHooks) {
    this.Lp = promptIds.length;
    this.L = this.Lp + o.genLength;
    this.canvas = new Int32Array(this.L).fill(spec.maskTokenId);
    this.canvas.set(promptIds, 0);
    this.blocks = o.genLength / o.blockLength;
    this.S = o.steps / this.blocks;
    this.B = o.blockLength;
    // every rule commits at least one token a forward (Dream's quota: all by step S-1), plus the
    // extra forward a cached host runs before testing for completion
    this.maxSteps = Math.max(this.S, this.B) + policy.minForwardsPerBlock + 1;
    this.draws = usesDraws(spec, o) ? new DrawQueue(new Rng(o.seed)) : null;
  }

  /** Block b's bounds, query window and rule (its masks counted on the canvas as it is now). */
  block(b: number, draws: Float64Array): { lo: number; hi: number; window: readonly [number, number]; rule: BlockRule } {
    const lo = this.Lp + b * this.B;
    const hi = lo + this.B;
    const masks = countMasks(this.canvas, lo, hi, this.spec.maskTokenId);
    return { lo, hi, window: checkedWindow(this.policy, lo, hi, this.L), rule: blockRule(this.spec, this.o, this.policy, masks, this.S, this.maxSteps, draws) };
  }

  /**
   * Writes block b's result into the canvas and replays its steps as events, each with the canvas
   * after that step; false when an abort was seen (the canvas is then cut back to that step).
   */
  replay(b: number, out: BigInt64Array, commitStep: BigInt64Array, forwards: number, blockMs: number): boolean {
    const { canvas, hooks, o, Lp, B } = this;
    const mask = this.spec.maskTokenId;
    const lo = Lp + b * B;
    const hi = lo + B;
    this.blocksRun++;
    const before = canvas.slice(lo, hi);
    for (let p = lo; p < hi; p++) canvas[p] = Number(out[p]);
    if (countMasks(canvas, lo, hi, mask) > 0)
      throw new WavefilterError('runtime_error', `block ${b}: ${countMasks(canvas, lo, hi, mask)} positions still masked after ${forwards} forwards (the step budget)`);
    const ms = blockMs / forwards;
    const live = canvas.slice();
    live.set(before, lo);
    for (let k = 0; k < forwards; k++) {
      this.nfe++;
      const refresh = k === 0 || !this.policy.cached;
      if (refresh) this.refreshes++;
      const committed: number[] = [];
      for (let i = 0; i < B; i++)
        if (Number(commitStep[i]) === k) {
          live[lo + i] = canvas[lo + i];
          committed.push(lo + i);
        }
      while (this.settled < o.genLength && live[Lp + this.settled] !== mask) this.settled++;
      hooks.onStep?.({ block: b, blocks: this.blocks, stepInBlock: k, nfe: this.nfe, refresh, committed, settled: this.settled, genLength: o.genLength, canvas: live, ms });
      if (hooks.signal?.aborted && k < forwards - 1) {
        // the result is what was decided up to the step at which the abort was seen, as on the step executor
        canvas.set(live.subarray(lo, hi), lo);
        this.stopReason = 'aborted';
        return false;
      }
    }
    return true;
  }

  result(executor: 'block' | 'generation', ortMs: number, ortRuns: number, selections: number, keptPromptRows: number | null): GenerationResult {
    return buildResult({
      executor, canvas: this.canvas, promptLength: this.Lp, options: this.o, stopReason: this.stopReason, totalMs: performance.now() - this.t0, ortMs, ortRuns,
      blocksRun: this.blocksRun, nfe: this.nfe, settled: this.settled, refreshes: this.refreshes, perForward: null, selections, selectMs: 0, keptPromptRows,
    });
  }
}

async function runBlocks(program: BlockProgram, filter: ProgramFilter | null, spec: ModelSpec, policy: HostPolicy, promptIds: readonly number[], o: ResolvedOptions, hooks: GenerateHooks): Promise<GenerationResult> {
  const run = new BlockRun(spec, policy, promptIds, o, hooks);
  const { Lp, B, maxSteps, draws } = run;
  const runs0 = program.runs;
  let ortMs = 0;
  let kept: KeptKv | null = null;
  let lastSelection: SelectionOutputs | null = null;
  let windowQueries: Float32Array[] | null = null;
  let selections = 0;
  const firstBlockOnly = o.promptRefresh === 'first-block' && policy.cached;
  // where a later block's refresh starts: the generation rows, and a filter's refreshed tail
  const laterFrom = Lp - tailRows(hooks.filter ?? null, Lp);

  for (let b = 0; b < run.blocks; b++) {
    if (hooks.signal?.aborted) {
      run.stopReason = 'aborted';
      break;
    }
    const blockStart = performance.now();
    const past = firstBlockOnly ? kept : null;
    const blk = run.block(b, draws ? draws.take(3 * B * maxSteps) : NO_DRAWS);
    const res = await program.run({
      canvas: run.canvas, lo: blk.lo, hi: blk.hi, window: blk.window, refreshFrom: past ? laterFrom : 0, past,
      cached: policy.cached, keepKv: firstBlockOnly && kept === null, rule: blk.rule,
      maxSteps, minForwards: policy.minForwardsPerBlock,
      ...(o.cfgScale > 0 ? { cfg: { scale: o.cfgScale, promptLength: Lp } } : {}),
      ...(samples(spec, o) ? { sample: { temperature: o.temperature, topP: o.topP ?? 1, topK: o.topK ?? 0 } } : {}),
      ...(filter ? { selection: { promptLength: Lp, controls: filter.program.feeds(Lp), pastTokens: past ? lastSelection?.tokens ?? null : null, windowQueries: past ? windowQueries : null } } : {}),
    });
    draws?.consume(res.drawsUsed);
    if (res.kv) kept = res.kv;
    if (filter && res.selection) {
      lastSelection = res.selection;
      windowQueries = res.selection.windowQueries ?? windowQueries;
      if (res.selection.state.length) filter.program.absorbState?.(res.selection.state);
      selections += filter.program.schedule === 'every-step' ? res.forwards : 1;
    }
    const keptNow = lastSelection;
    ortMs += res.ortMs;
    const done = run.replay(b, res.canvas, res.commitStep, res.forwards, performance.now() - blockStart);
    if (!done) break;
    if (keptNow) hooks.onKept?.({ block: b, tokens: keptNow.tokens });
  }
  return run.result('block', ortMs, program.runs - runs0, selections, lastSelection ? lastSelection.keptPerHead : null);
}

/**
 * Every block in one generation program run (first-block refresh). The blocks' events arrive
 * together after the run, block by block as the block executor replays them; an abort is seen
 * before the run or while replaying (the result is then cut back to that step), never inside it.
 */
async function runGeneration(program: GenerationProgram, filter: ProgramFilter | null, spec: ModelSpec, policy: HostPolicy, promptIds: readonly number[], o: ResolvedOptions, hooks: GenerateHooks): Promise<GenerationResult> {
  const run = new BlockRun(spec, policy, promptIds, o, hooks);
  const { Lp, B, maxSteps, draws } = run;
  if (hooks.signal?.aborted) {
    run.stopReason = 'aborted';
    return run.result('generation', 0, 0, 0, null);
  }
  const runs0 = program.runs;
  const t0 = performance.now();
  // every block's draws in one stream: block b reads from where block b - 1 stopped
  const allDraws = draws ? draws.take(run.blocks * 3 * B * maxSteps) : NO_DRAWS;
  const blocks = Array.from({ length: run.blocks }, (_, b) => run.block(b, NO_DRAWS));
  const res = await program.run({
    canvas: run.canvas, blocks, promptLength: Lp, refreshFrom: Lp - tailRows(hooks.filter ?? null, Lp), cached: policy.cached, draws: allDraws, maxSteps, minForwards: policy.minForwardsPerBlock,
    ...(samples(spec, o) ? { sample: { temperature: o.temperature, topP: o.topP ?? 1, topK: o.topK ?? 0 } } : {}),
    ...(filter ? { selection: { promptLength: Lp, controls: filter.program.feeds(Lp) } } : {}),
  });
  draws?.consume(res.drawsUsed);
  const blockMs = (performance.now() - t0) / run.blocks;
  let selections = 0;
  for (let b = 0; b < run.blocks; b++) {
    const r = res.blocks[b];
    selections += filter ? (filter.program.schedule === 'every-step' ? r.forwards : 1) : 0;
    if (!run.replay(b, res.canvas, r.commitStep, r.forwards, blockMs)) break;
    if (b === run.blocks - 1 && res.keptTokens) hooks.onKept?.({ block: b, tokens: res.keptTokens });
  }
  return run.result('generation', res.ortMs, program.runs - runs0, selections, res.keptPerHead);
}
