/** Runs a filter graph on ORT and unpacks its per-layer outputs. */
import ort from 'onnxruntime-node';
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import { FilterNames as F } from './selection-graph.js';
import type { Selection, SelectionRequest } from './token-filter.js';

export class FilterSession {
  private constructor(private readonly session: ort.InferenceSession, private readonly spec: ModelSpec) {}

  static async create(graph: Uint8Array, spec: ModelSpec, threads?: number): Promise<FilterSession> {
    try {
      const s = await ort.InferenceSession.create(graph, { graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads } : {}) });
      return new FilterSession(s, spec);
    } catch (e) {
      throw new WavefilterError('runtime_error', `could not create the filter session: ${(e as Error).message}`);
    }
  }

  /** Feeds the layer K/V (and queries when given) plus `extra` inputs; returns the compact selection. */
  async run(req: SelectionRequest, queries: readonly Float32Array[] | null, nq: number, extra: Record<string, ort.Tensor>, extraOut?: (out: ort.InferenceSession.OnnxValueMapType) => void): Promise<Selection> {
    const { selection } = await this.runRaw(req, queries, nq, extra, extraOut);
    return selection;
  }

  /** `run`, also returning the raw outputs. */
  async runRaw(req: SelectionRequest, queries: readonly Float32Array[] | null, nq: number, extra: Record<string, ort.Tensor>, extraOut?: (out: ort.InferenceSession.OnnxValueMapType) => void): Promise<{ selection: Selection; out: ort.InferenceSession.OnnxValueMapType }> {
    const { nLayers, nKvHeads: Hkv, headDim: D, nHeads: H } = this.spec;
    const L = req.canvasLength;
    const feeds: Record<string, ort.Tensor> = { [F.promptLen]: new ort.Tensor('int64', BigInt64Array.of(BigInt(req.promptLength)), [1]), ...extra };
    for (let l = 0; l < nLayers; l++) {
      feeds[F.key(l)] = new ort.Tensor('float32', req.keys[l], [Hkv, L, D]);
      feeds[F.value(l)] = new ort.Tensor('float32', req.values[l], [Hkv, L, D]);
      if (queries) feeds[F.query(l)] = new ort.Tensor('float32', queries[l], [nq, H, D]);
    }
    const t0 = performance.now();
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(feeds);
    } catch (e) {
      throw new WavefilterError('runtime_error', `token selection failed: ${(e as Error).message}`);
    }
    const ms = performance.now() - t0;
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    const tokens: BigInt64Array[] = [];
    const promptRows: number[] = [];
    for (let l = 0; l < nLayers; l++) {
      keys.push(out[F.ckey(l)].data as Float32Array);
      values.push(out[F.cvalue(l)].data as Float32Array);
      const t = out[F.tokens(l)];
      tokens.push(t.data as BigInt64Array);
      promptRows.push(Number(t.dims[1]));
    }
    extraOut?.(out);
    return { selection: { keys, values, tokens, promptRows, ms, runs: 1 }, out };
  }

  /** Runs the graph on arbitrary feeds (helper graphs such as WaveFilter's coarse sums). */
  async raw(feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    try {
      return await this.session.run(feeds);
    } catch (e) {
      throw new WavefilterError('runtime_error', `token selection failed: ${(e as Error).message}`);
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

export function i64(...v: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [v.length]);
}

export function f64(v: number): ort.Tensor {
  return new ort.Tensor('float64', Float64Array.of(v), [1]);
}
