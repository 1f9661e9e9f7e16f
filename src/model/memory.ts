/**
 * What a generation needs in memory, estimated before anything is allocated, from the model's
 * shape alone (no session is built): the weights in the compute type, the K/V of the whole canvas
 * (the block program holds it for a block; the step loop holds it in JavaScript as well), and the
 * widest activations of the refresh forward. ORT's arena, the CUDA context and kernel workspaces
 * come on top and are not modelled; the estimate is therefore a lower bound, and a generation is
 * refused (`out_of_memory`) only when even the lower bound does not fit.
 *
 * Against measured peaks (reports/gpu/README.md): LLaDA-8B's shape in fp16 at a 4K prompt + 64,
 * estimate 17.5 GiB, measured 23.3 GiB of device memory; at 32K, 34.8 GiB against 48.3 GiB (ORT's
 * arena grows in large chunks; both before 'replace' attention, which holds a second K/V copy).
 */
import { WavefilterError } from '../errors.js';
import type { ModelSpec } from './spec.js';
import { kvBytesPerToken } from './spec.js';
import type { ComputeType } from './graph.js';

export interface MemoryRequest {
  readonly promptLength: number;
  readonly genLength: number;
  readonly blockLength: number;
  readonly dtype: ComputeType;
  readonly executor: 'step' | 'block';
  /**
   * The block program's steps attend with 'replace' attention (GraphTuning.cachedAttention, the
   * fp16 default): the cached rows around the query window are sliced once per block, a second
   * copy of the K/V held for the block's run.
   */
  readonly kvAround?: boolean;
}

export interface MemoryEstimate {
  readonly parameters: number;
  readonly weightsBytes: number;
  readonly kvBytes: number;
  readonly activationBytes: number;
  /** weights + K/V + activations: a lower bound */
  readonly totalBytes: number;
}

const BYTES: Record<ComputeType, number> = { fp32: 4, fp16: 2 };

export function parameterCount(spec: ModelSpec): number {
  const { nLayers, dModel: d, nHeads: H, nKvHeads: Hkv, headDim: D, ffnHidden: F, vocabSize: V } = spec;
  const perLayer = d * H * D + 2 * d * Hkv * D + H * D * d + 3 * d * F + 2 * d + (spec.tensors.layers[0]?.qBias ? H * D + 2 * Hkv * D : 0);
  return nLayers * perLayer + 2 * V * d + d;
}

export function estimateMemory(spec: ModelSpec, r: MemoryRequest): MemoryEstimate {
  const b = BYTES[r.dtype];
  const L = r.promptLength + r.genLength;
  const parameters = parameterCount(spec);
  const weightsBytes = parameters * b;
  // the refreshed K/V of the canvas; the step loop keeps a JavaScript copy beside ORT's, the block
  // program with 'replace' attention the rows around the window
  const kvBytes = kvBytesPerToken(spec, b) * L * (r.executor === 'step' || r.kvAround ? 2 : 1);
  // the refresh forward's widest layer: hidden + normed + q/k/v/attention out (6 d) and gate, up and
  // their product (3 F) per position, plus one block of logits in fp32 and float64 statistics
  const activationBytes = L * (6 * spec.dModel + 3 * spec.ffnHidden) * b + r.blockLength * spec.vocabSize * (4 + 8);
  return { parameters, weightsBytes, kvBytes, activationBytes, totalBytes: weightsBytes + kvBytes + activationBytes };
}

const GiB = 2 ** 30;
/** Bytes for people: GiB from 1 GiB up, MiB below. */
export const gib = (n: number): string => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

/** Refuses a generation whose lower-bound estimate does not fit in `availableBytes` of `where`. */
export function checkFits(e: MemoryEstimate, availableBytes: number | null, where: string): void {
  if (availableBytes === null || e.totalBytes <= availableBytes) return;
  throw new WavefilterError('out_of_memory',
    `this generation needs at least ${gib(e.totalBytes)} of ${where} memory (weights ${gib(e.weightsBytes)}, K/V ${gib(e.kvBytes)}, activations ${gib(e.activationBytes)}) and ${gib(availableBytes)} is available; shorten the prompt, use dtype fp16 on a GPU, or a larger device`,
    { needed_bytes: e.totalBytes, available_bytes: availableBytes, where });
}
