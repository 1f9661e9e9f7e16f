/**
 * Which prompt refresh a filtered cached host runs on a GPU when the generation is run block by
 * block, from the model's shape alone.
 *
 * Where nobody can cancel the generation midway, the engine runs every block in one generation
 * program run (program/generation-program.ts), where the first block's prompt K/V stay on the
 * device and the first-block refresh costs nothing extra: that is the GPU default (engine.ts), and
 * this trade does not arise. It arises for a cancellable run (streaming, the server), which runs
 * one block program per block so that an abort frees the device at the next block's end.
 *
 * A filter such as WaveFilter practical prefers the first-block refresh: after the first block, a
 * block start recomputes only the generation rows against the prompt's K/V kept from the first
 * (the CPU's default, and the configuration its accuracy figures were measured with). On a GPU that
 * K/V has to leave the device after the first block and come back at every later one, because
 * onnxruntime-node cannot keep a device tensor between runs (../docs or reports/gpu/README.md). So
 * the choice is a trade: the prompt's K/V crossing the host link once per block, against the full
 * forward over the prompt that the every-block refresh runs once per block.
 *
 * The forward's cost is its FLOPs (the projections and MLP, 2 x parameters per row, and attention,
 * 4 x layers x L^2 x H x D, which is quadratic in the prompt); the copy's is the prompt's K/V in
 * the compute type. Both grow with the prompt, so the shape decides: a GQA model (Dream-7B, 4 K/V
 * heads for 28 query heads) has seven times less K/V per FLOP than LLaDA-8B (32 K/V heads).
 *
 * The first-block refresh copies the K/V out once (after the first block) and in at every later
 * block; the every-block refresh runs the full forward at every later block. The rates are an
 * H200's as measured (reports/gpu/README.md, seventh run): LLaDA-8B's full forward at 32K in 1.92 s
 * for 1.0e15 FLOPs (about 530 TFLOP/s in fp16; Dream-7B's at 16K, 0.61 s, agrees), and Dream-7B's
 * 943 MB of K/V at 16K crossing at about 2.6 GB/s each way (pageable host memory, through
 * onnxruntime-node's output and input tensors: WaveFilter practical ran at 41.7 ms per step with the
 * first-block refresh against 40.0 with the every-block one). The first-block refresh is chosen
 * only where it wins by MARGIN, so a close call does not flip the wrong way on another machine.
 * On that H200 it never wins for LLaDA-8B or Dream-7B at gen 64 (the copy costs about the refresh
 * for Dream, several times it for LLaDA); it would for long generations on a GQA model, or on a
 * machine whose host link is faster.
 */
import type { ModelSpec } from './spec.js';
import type { ComputeType } from './graph.js';

/** fp16 tensor-core throughput of a full forward, FLOP/s (LLaDA-8B at 32K on an H200). */
export const FORWARD_FLOPS_PER_S = 5.3e14;
/** Bytes/s of a K/V past crossing between the device and host memory through onnxruntime-node, each way. */
export const COPY_BYTES_PER_S = 2.6e9;
/** How much cheaper the copies must be than the refreshes they replace. */
export const MARGIN = 2;

/** FLOPs of a full forward over `rows` positions (without the vocabulary projection, which runs on a block's rows only). */
export function forwardFlops(spec: ModelSpec, rows: number): number {
  const { nLayers, dModel: d, nHeads: H, nKvHeads: Hkv, headDim: D, ffnHidden: F } = spec;
  const perLayer = d * (H * D + 2 * Hkv * D) + H * D * d + 3 * d * F;
  return 2 * nLayers * perLayer * rows + 4 * nLayers * rows * rows * H * D;
}

/** Bytes of the canvas's K/V in the compute type (what a first-block refresh keeps between blocks). */
export function kvBytes(spec: ModelSpec, rows: number, dtype: ComputeType): number {
  return 2 * spec.nLayers * spec.nKvHeads * spec.headDim * rows * (dtype === 'fp16' ? 2 : 4);
}

export interface RefreshCost {
  /** the every-block refresh's full forwards after the first block, seconds */
  readonly refreshS: number;
  /** the first-block refresh's copies (out once, in at every later block), seconds */
  readonly copyS: number;
  readonly choice: 'every-block' | 'first-block';
}

/** The prompt refresh a filter that prefers the first-block one gets on a GPU (see the file's comment). */
export function deviceRefreshCost(spec: ModelSpec, promptLength: number, genLength: number, blocks: number, dtype: ComputeType): RefreshCost {
  const rows = promptLength + genLength;
  const refreshS = (blocks - 1) * forwardFlops(spec, rows) / FORWARD_FLOPS_PER_S;
  const copyS = blocks > 1 ? blocks * kvBytes(spec, rows, dtype) / COPY_BYTES_PER_S : 0;
  return { refreshS, copyS, choice: blocks > 1 && copyS * MARGIN < refreshS ? 'first-block' : 'every-block' };
}
