/**
 * Elastic-Cache (arXiv 2510.14973) as its own program, on either executor: the step executor runs
 * the layer-wise step graph (graph.ts) once per iteration from decode.ts's loop; the block
 * executor runs every iteration inside one ORT Loop (loop-graph.ts, driven by loop.ts). It is not
 * a block host of the registry: it has no blocks, and each step decides per layer whether to
 * recompute (registry.ts's hosts are window policies the block program and the step loop share).
 */
import type ort from 'onnxruntime-node';
import type { ModelSpec, WeightStore } from '../../model/spec.js';
import { type RuntimeOptions, createModelSession, modelSessionOptions, releaseSession, sessionError } from '../../model/runtime.js';
import { buildElasticGraph } from './graph.js';
import { type ElasticLoopVariant, buildElasticLoopGraph } from './loop-graph.js';
import { headsFirstSession } from './compact.js';
import { type ElasticHooks, type ElasticOptions, type ElasticResult, generateElastic } from './decode.js';
import { elasticLoopVariant, generateElasticLoop } from './loop.js';

export type { ElasticHooks, ElasticOptions, ElasticRefresh, ElasticResult, ElasticStepEvent } from './decode.js';
export type { ElasticLoopVariant } from './loop-graph.js';
export { checkElasticOptions } from './decode.js';
export { elasticLoopVariant } from './loop.js';

type Layout = Awaited<ReturnType<typeof headsFirstSession>>;

/** Which program a session runs: the step graph, or one variant of the loop graph. */
export type ElasticProgramKind = 'step' | ElasticLoopVariant;

/** The session key of the program `o` needs on an executor (one session per key). */
export const elasticProgramKey = (executor: 'step' | 'block', o: ElasticOptions): string =>
  executor === 'step' ? 'elastic' : `elastic-loop:${elasticLoopVariant(o).rule}:${o.blockCaching ? 'window' : 'all'}`;

export class ElasticProgram {
  private layout: Promise<Layout> | null = null;
  private constructor(private readonly spec: ModelSpec, private readonly session: ort.InferenceSession, private readonly runtime: RuntimeOptions, readonly kind: ElasticProgramKind) {}

  static async create(spec: ModelSpec, store: WeightStore, runtime: RuntimeOptions, kind: ElasticProgramKind = 'step'): Promise<ElasticProgram> {
    try {
      const build = kind === 'step' ? (w: Parameters<typeof buildElasticGraph>[1]) => buildElasticGraph(spec, w) : (w: Parameters<typeof buildElasticGraph>[1]) => buildElasticLoopGraph(spec, w, kind);
      return new ElasticProgram(spec, await createModelSession(store, modelSessionOptions(runtime), build), runtime, kind);
    } catch (e) {
      throw sessionError(e, runtime, kind === 'step' ? 'the Elastic-Cache program' : 'the Elastic-Cache loop program');
    }
  }

  async generate(promptIds: readonly number[], o: ElasticOptions, hooks: ElasticHooks = {}): Promise<ElasticResult> {
    // a token filter reads the layers' K and V heads-first: one small session, built on first use
    if (hooks.filter && !hooks.headsFirst) {
      this.layout ??= headsFirstSession(2 * this.spec.nLayers, this.runtime.threads);
      const layout = await this.layout;
      hooks = { ...hooks, headsFirst: layout.run };
    }
    if (this.kind === 'step') return generateElastic(this.session, this.spec, promptIds, o, hooks);
    const want = elasticLoopVariant(o);
    if (want.rule !== this.kind.rule || want.blockCaching !== this.kind.blockCaching)
      throw new Error(`elastic loop program built for ${JSON.stringify(this.kind)}, asked for ${JSON.stringify(want)}`);
    return generateElasticLoop(this.session, this.spec, promptIds, o, hooks);
  }

  async dispose(): Promise<void> {
    await releaseSession(this.session);
    await (await this.layout?.catch(() => null))?.release();
  }
}
