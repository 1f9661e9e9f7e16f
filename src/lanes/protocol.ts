/** The messages between a LanePool (pool.ts) and its lane workers (lane-worker.ts). Plain, cloneable objects. */
import type { GenerateOutput, ModelGenerateOptions } from '../engine.js';
import type { KeptEvent, StepEvent } from '../decode/generate.js';

/** What a lane loads: the checkpoint and the serializable part of loadModel's options. */
export interface LaneInit {
  readonly dir: string;
  readonly threads: number;
  readonly ropeTheta?: number;
  readonly maxLength?: number;
}

/** A generation's options as they cross to a lane: no signal and no callbacks (those stay in the pool). */
export type LaneOptions = Omit<ModelGenerateOptions, 'signal' | 'onStep' | 'onKept' | 'onText'>;

export type ToLane =
  /**
   * `abort`: a shared flag the pool sets when the generation's signal aborts; the lane reads it after
   * every forward, so the stop does not wait for the lane's event loop to take a message.
   */
  | { readonly type: 'generate'; readonly id: number; readonly inputIds: readonly number[]; readonly opts: LaneOptions; readonly steps: boolean; readonly kept: boolean; readonly abort: Int32Array };

/** An error as it crosses back: a WavefilterError's code and details, or another error's name and message. */
export interface LaneError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly details?: Record<string, unknown>;
}

export type FromLane =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly error: LaneError }
  | { readonly type: 'step'; readonly id: number; readonly e: StepEvent }
  | { readonly type: 'kept'; readonly id: number; readonly e: KeptEvent }
  | { readonly type: 'done'; readonly id: number; readonly out: GenerateOutput }
  | { readonly type: 'error'; readonly id: number; readonly error: LaneError };
