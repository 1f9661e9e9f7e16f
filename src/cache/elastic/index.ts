/**
 * Elastic-Cache (arXiv 2510.14973) as its own program: one ORT session of the layer-wise step
 * graph (graph.ts) and its decoding loop (decode.ts). It is not a block host of the registry: it
 * has no blocks, and each step decides per layer whether to recompute (registry.ts's hosts are
 * window policies the block program and the step loop share).
 */
import type ort from 'onnxruntime-node';
import type { ModelSpec, WeightStore } from '../../model/spec.js';
import { type RuntimeOptions, createModelSession, modelSessionOptions, releaseSession, sessionError } from '../../model/runtime.js';
import { buildElasticGraph } from './graph.js';
import { headsFirstSession } from './compact.js';
import { type ElasticHooks, type ElasticOptions, type ElasticResult, generateElastic } from './decode.js';

export type { ElasticHooks, ElasticOptions, ElasticRefresh, ElasticResult, ElasticStepEvent } from './decode.js';
export { checkElasticOptions } from './decode.js';

type Layout = Awaited<ReturnType<typeof headsFirstSession>>;

export class ElasticProgram {
  private layout: Promise<Layout> | null = null;
  private constructor(private readonly spec: ModelSpec, private readonly session: ort.InferenceSession, private readonly runtime: RuntimeOptions) {}

  static async create(spec: ModelSpec, store: WeightStore, runtime: RuntimeOptions): Promise<ElasticProgram> {
    try {
      return new ElasticProgram(spec, await createModelSession(store, modelSessionOptions(runtime), (w) => buildElasticGraph(spec, w)), runtime);
    } catch (e) {
      throw sessionError(e, runtime, 'the Elastic-Cache program');
    }
  }

  async generate(promptIds: readonly number[], o: ElasticOptions, hooks: ElasticHooks = {}): Promise<ElasticResult> {
    // a token filter reads the layers' K and V heads-first: one small session, built on first use
    if (hooks.filter && !hooks.headsFirst) {
      this.layout ??= headsFirstSession(2 * this.spec.nLayers, this.runtime.threads);
      const layout = await this.layout;
      hooks = { ...hooks, headsFirst: layout.run };
    }
    return generateElastic(this.session, this.spec, promptIds, o, hooks);
  }

  async dispose(): Promise<void> {
    await releaseSession(this.session);
    await (await this.layout?.catch(() => null))?.release();
  }
}
