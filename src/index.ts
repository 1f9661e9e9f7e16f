/** wavefilter: diffusion language models on ONNX Runtime, with DLM KV caches. */
export { loadModel, DiffusionModel } from './engine.js';
export type { LoadOptions, LoadEvent, PromptInput, ModelGenerateOptions, GenerateOutput } from './engine.js';
export type { GenerateOptions, ResolvedOptions } from './decode/options.js';
export type { StepEvent, GenerationResult, Timings, GenerateHooks } from './decode/generate.js';
export { generateIds } from './decode/generate.js';
export { WavefilterError } from './errors.js';
export type { ErrorCode } from './errors.js';
export type { ModelSpec, ModelFamily } from './model/spec.js';
export { readModelSpec } from './checkpoint/config.js';
export { TensorStore, readSafetensorsHeader } from './checkpoint/safetensors.js';
export type { TensorInfo, DType } from './checkpoint/safetensors.js';
export { TextCodec, renderTemplate } from './checkpoint/tokenizer.js';
export type { ChatMessage, ChatOptions } from './checkpoint/tokenizer.js';
export { ModelRuntime } from './model/runtime.js';
export type { PastKV, ForwardRequest, ForwardResult, RuntimeOptions, ExecutionProvider } from './model/runtime.js';
export { createCacheHost, CACHE_NAMES } from './cache/index.js';
export type { CacheHost, CacheName, ForwardPlan, StepContext, BlockContext } from './cache/host.js';
