/**
 * ModelSpec: one normalised description of a diffusion LM, whichever checkpoint family it came
 * from. The graph builder, the decoder and the caches read only this.
 *
 * Shape legend used across the code base:
 *   L  = layers, H = query heads, Hkv = key/value heads, G = H / Hkv (GQA group), D = head dim,
 *   d  = model width, F = FFN hidden size, V = vocabulary, T = positions, Tq = query rows, Tc = cached rows.
 */
export type ModelFamily = 'llada' | 'dream';

export interface LayerTensorNames {
  readonly attnNorm: string;
  readonly q: string;
  readonly k: string;
  readonly v: string;
  /** Present for Dream (QKV biases); absent for LLaDA. */
  readonly qBias?: string;
  readonly kBias?: string;
  readonly vBias?: string;
  readonly o: string;
  readonly ffnNorm: string;
  readonly gate: string;
  readonly up: string;
  readonly down: string;
}

export interface ModelSpec {
  readonly family: ModelFamily;
  readonly nLayers: number;
  readonly dModel: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly ffnHidden: number;
  readonly vocabSize: number;
  readonly ropeTheta: number;
  readonly rmsNormEps: number;
  /** The context the model was trained for; longer canvases are allowed only with an explicit override. */
  readonly maxSequenceLength: number;
  /** Dream predicts token j from output row j-1 (Qwen2 lineage); LLaDA reads row j. */
  readonly logitShift: boolean;
  readonly maskTokenId: number;
  readonly eosTokenId: number | null;
  /** End-of-turn id (LLaDA's <|eot_id|>) when the checkpoint has one. */
  readonly eotTokenId: number | null;
  readonly padTokenId: number | null;
  readonly tensors: {
    readonly embed: string;
    readonly finalNorm: string;
    readonly lmHead: string;
    readonly layers: readonly LayerTensorNames[];
  };
}

/** Bytes of cached K and V per token at `bytesPerValue` (2 for fp16/bf16, 4 for fp32). */
export function kvBytesPerToken(spec: ModelSpec, bytesPerValue: number): number {
  return 2 * spec.nLayers * spec.nKvHeads * spec.headDim * bytesPerValue;
}
