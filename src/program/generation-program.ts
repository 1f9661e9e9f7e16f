/**
 * The generation program's ORT session (block-graph.ts buildGenerationGraph): every block of a
 * generation with the first-block prompt refresh in one session.run, so the prompt's K/V stay on
 * the device from the first block's refresh to the last step. Feeds the canvas and every block's
 * bounds and rule rows, and unpacks each block's commits and per-step confidences.
 */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import { type RuntimeOptions, createModelSession, modelSessionOptions, releaseSession, sessionError, timedRun, validateWeights } from '../model/runtime.js';
import type { ModelSpec, WeightStore } from '../model/spec.js';
import { BlockNames as N, GenerationNames as GN, type ProgramFilter, type ProgramShape, buildGenerationGraph } from './block-graph.js';
import { type BlockRequest, type BlockRule, checkProgramFits, i64, keptPerHead, ruleFeeds, ruleRows, runFeeds, selectionFeeds } from './block-program.js';

/** One block of a generation request. */
export interface GenerationBlock {
  readonly lo: number;
  readonly hi: number;
  /** Query window of the block's steps after the first. */
  readonly window: readonly [number, number];
  /** The block's rule; the kinds and scalars are block 0's (the same for every block), quota and ratios per block. */
  readonly rule: BlockRule;
}

export interface GenerationRequest extends Pick<BlockRequest, 'maxSteps' | 'minForwards' | 'cfg' | 'sample'> {
  readonly canvas: Int32Array;
  /** Two or more blocks, in order. */
  readonly blocks: readonly GenerationBlock[];
  /** P: the prompt's length. */
  readonly promptLength: number;
  /** The row later blocks' refreshes start from (default P; below it with a filter's refreshed tail). */
  readonly refreshFrom?: number;
  readonly cached: boolean;
  /** Uniform draws for every block, read in order (empty for the deterministic rules). */
  readonly draws: Float64Array;
  /** With a filter: its controls. */
  readonly selection?: { readonly promptLength: number; readonly controls: Record<string, ort.Tensor> };
}

export interface GenerationBlockResult {
  /** Per block position, the forward index that committed it, or -1. */
  readonly commitStep: BigInt64Array;
  /** [forwards, B] confidences per forward, -inf for non-candidates. */
  readonly stepConfidence: Float64Array;
  readonly forwards: number;
}

export interface GenerationRunResult {
  readonly canvas: BigInt64Array;
  readonly blocks: readonly GenerationBlockResult[];
  readonly drawsUsed: number;
  /** The last selection's kept prompt positions per layer [Hkv, T], and their mean count per head, or null unfiltered. */
  readonly keptTokens: BigInt64Array[] | null;
  readonly keptPerHead: number | null;
  readonly ortMs: number;
}

export class GenerationProgram {
  private runCount = 0;
  private constructor(readonly spec: ModelSpec, private readonly session: ort.InferenceSession, readonly filter: ProgramFilter | null, readonly shape: ProgramShape) {}

  get runs(): number {
    return this.runCount;
  }

  static async create(spec: ModelSpec, store: WeightStore, opts: RuntimeOptions = {}, filter: ProgramFilter | null = null, shape: ProgramShape = {}): Promise<GenerationProgram> {
    validateWeights(spec, store);
    if (filter?.program.absorbState) throw new WavefilterError('invalid_option', 'the generation program cannot carry a filter state between blocks (H2O); use executor block', { option: 'executor' });
    try {
      const full: ProgramShape = { ...shape, ct: opts.dtype ?? 'fp32' };
      return new GenerationProgram(spec, await createModelSession(store, modelSessionOptions(opts), (w) => buildGenerationGraph(spec, w, filter, full)), filter, full);
    } catch (e) {
      throw sessionError(e, opts, 'the generation program');
    }
  }

  async run(req: GenerationRequest): Promise<GenerationRunResult> {
    const nb = req.blocks.length;
    if (nb < 2) throw new WavefilterError('runtime_error', `the generation program runs two or more blocks; the request has ${nb}`);
    const rule = req.blocks[0].rule;
    checkProgramFits(this.shape, rule, req.cached);
    const L = req.canvas.length;
    const K = Math.max(req.maxSteps, 1);
    const col = (pick: (b: GenerationBlock) => number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(req.blocks, (b) => BigInt(pick(b))), [nb]);
    const feeds: Record<string, ort.Tensor> = {
      [N.canvas]: new ort.Tensor('int64', BigInt64Array.from(req.canvas, (x) => BigInt(x)), [L]),
      [GN.blockLoAll]: col((b) => b.lo),
      [GN.blockHiAll]: col((b) => b.hi),
      [GN.windowLoAll]: col((b) => b.window[0]),
      [GN.windowHiAll]: col((b) => b.window[1]),
      [N.refreshFrom]: i64(req.refreshFrom ?? req.promptLength),
      [N.cacheRows]: i64(req.cached ? L : 0),
      ...runFeeds(this.shape, req),
      ...ruleFeeds({ ...rule, draws: req.draws }, req.blocks.map((b) => ruleRows(b.rule, K)), K),
    };
    const f = this.filter;
    if (f && !req.selection) throw new WavefilterError('runtime_error', 'a filtered generation program needs its selection feeds');
    if (f && req.selection) Object.assign(feeds, selectionFeeds(req.selection));
    this.runCount++;
    const { out, ortMs } = await timedRun(this.session, feeds, 'generation program');
    const commit = out[GN.commitSteps].data as BigInt64Array;
    const conf = out[GN.stepConfidences].data as Float64Array;
    const forwards = out[GN.forwards].data as BigInt64Array;
    const B = Number(out[GN.commitSteps].dims[1]);
    const blocks = req.blocks.map((_, i) => {
      const n = Number(forwards[i]);
      return { commitStep: commit.subarray(i * B, (i + 1) * B), stepConfidence: conf.subarray(i * K * B, (i * K + n) * B), forwards: n };
    });
    const keptTokens = f ? Array.from({ length: this.spec.nLayers }, (_, l) => out[N.keptTokens(l)].data as BigInt64Array) : null;
    return {
      canvas: out[N.canvasOut].data as BigInt64Array, blocks, drawsUsed: Number((out[N.drawsUsed].data as BigInt64Array)[0]),
      keptTokens, keptPerHead: keptTokens ? keptPerHead(keptTokens, this.spec.nKvHeads) : null, ortMs,
    };
  }

  async dispose(): Promise<void> {
    await releaseSession(this.session);
  }
}
