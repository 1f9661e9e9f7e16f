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

/** The weights a forward reads, as a checkpoint's tensor store presents them (checkpoint/safetensors.ts implements it). */
export interface WeightInfo {
  readonly name: string;
  /** safetensors dtype name: F32, F16 and BF16 are the ones a graph can read */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute path of the file that holds the bytes. */
  readonly file: string;
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface WeightStore {
  info(name: string): WeightInfo;
  /** Every file that holds weights (sessions stage links to these). */
  readonly files: readonly string[];
}

/** Expected shape of every tensor the graph reads, for validation before a session is built. */
export function expectedShapes(spec: ModelSpec): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { dModel: d, nHeads: H, nKvHeads: Hkv, headDim: D, ffnHidden: F, vocabSize: V } = spec;
  m.set(spec.tensors.embed, [V, d]);
  m.set(spec.tensors.finalNorm, [d]);
  m.set(spec.tensors.lmHead, [V, d]);
  for (const l of spec.tensors.layers) {
    m.set(l.attnNorm, [d]);
    m.set(l.q, [H * D, d]);
    m.set(l.k, [Hkv * D, d]);
    m.set(l.v, [Hkv * D, d]);
    if (l.qBias) m.set(l.qBias, [H * D]);
    if (l.kBias) m.set(l.kBias, [Hkv * D]);
    if (l.vBias) m.set(l.vBias, [Hkv * D]);
    m.set(l.o, [d, H * D]);
    m.set(l.ffnNorm, [d]);
    m.set(l.gate, [F, d]);
    m.set(l.up, [F, d]);
    m.set(l.down, [d, F]);
  }
  return m;
}
