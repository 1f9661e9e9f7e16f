/**
 * The headless core behind every surface (library, CLI, benchmarks): load a checkpoint folder,
 * encode prompts, generate with typed events, report timings. Surfaces stay thin over this.
 */
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { WavefilterError } from './errors.js';
import { LONE_SURROGATE } from './checkpoint/strict-json.js';
import { readModelSpec } from './checkpoint/config.js';
import { TensorStore } from './checkpoint/safetensors.js';
import { type ChatMessage, type ChatOptions, TextCodec } from './checkpoint/tokenizer.js';
import { type Device, ModelRuntime, type RuntimeOptions, parseDevice, validateWeights } from './model/runtime.js';
import { type Lease, SessionCache } from './model/session-cache.js';
import { type MemoryEstimate, checkFits, estimateMemory } from './model/memory.js';
import { cudaMemoryTotal } from './model/device-memory.js';
import { deviceRefreshCost } from './model/refresh-cost.js';
import type { CachedAttention } from './model/graph.js';
import { totalmem } from 'node:os';
import { BlockProgram } from './program/block-program.js';
import { GenerationProgram } from './program/generation-program.js';
import { type BatcherOptions, ForwardBatcher } from './batch/batcher.js';
import { PackedForward } from './batch/packed-forward.js';
import type { ProgramFilter, ProgramShape } from './program/block-graph.js';
import { blockProgramGap, generateBlocks, generationProgramGap, ruleKindsOf, stepAttentionOf } from './decode/block-executor.js';
import { cacheHostPolicy } from './cache/registry.js';
import { EXECUTORS, type ExecutorChoice, type ResolvedOptions, resolveOptions } from './decode/options.js';
import type { ModelSpec } from './model/spec.js';
import { type GenerateHooks, type GenerationResult, type KeptEvent, type StepEvent, checkPromptIds, generateIds, readsLogits } from './decode/generate.js';
import type { GenerateOptions } from './decode/options.js';
import { FilterFactory, type FilterOptions } from './filter/index.js';
import { type DllmCacheOptions, DllmCacheProgram, type DllmCacheStats, resolveDllmCacheOptions } from './cache/dllm/index.js';
import { type ElasticOptions, ElasticProgram, type ElasticResult, type ElasticStepEvent, checkElasticOptions, elasticLoopVariant, elasticProgramKey } from './cache/elastic/index.js';

export type LoadEvent =
  | { readonly status: 'initiate'; readonly dir: string }
  | { readonly status: 'checkpoint'; readonly files: number; readonly tensors: number; readonly bytes: number }
  | { readonly status: 'session'; readonly ms: number }
  | { readonly status: 'ready'; readonly ms: number };

export interface LoadOptions {
  /** Where to run: cpu (default), cuda or cuda:N (ONNX Runtime's CUDA provider must be installed). */
  readonly device?: Device;
  /** CUDA: allow TF32 matrix products (default false; see RuntimeOptions.tf32). */
  readonly tf32?: boolean;
  /**
   * Compute type: fp32 (default; CPU and CUDA) or fp16 (CUDA only: weights converted at load,
   * matrix products and attention in fp16, norms and logits statistics in fp32; block executor only).
   */
  readonly dtype?: 'fp32' | 'fp16';
  readonly threads?: number;
  readonly onProgress?: (e: LoadEvent) => void;
  /**
   * Context extension beyond the trained length: RoPE base to use instead of the config's (e.g.
   * NTK / LongLLaDA-style theta scaling) and the context limit to enforce instead of
   * `max_sequence_length`. Both change the model's behaviour; report them with any result.
   */
  readonly ropeTheta?: number;
  readonly maxLength?: number;
  /**
   * ORT sessions over the weights kept alive at once (default 1). Each holds its own copy of the
   * weights: the block program per filter variant and the step executor's forward are separate
   * sessions, so switching between them rebuilds one (seconds) unless this allows more.
   */
  readonly sessions?: number;
  /**
   * The executor generate() uses when its options do not name one (default auto: the block
   * program where it supports the options), and so the session built at load: the unfiltered block
   * program, or the step executor's forward for 'step'.
   */
  readonly executor?: ExecutorChoice;
  /**
   * Bytes a generation may use (default: the GPU's total memory, from nvidia-smi, or the host's).
   * A generation whose lower-bound estimate exceeds it is refused with `out_of_memory`.
   */
  readonly memoryLimit?: number;
  /** How the block program's graph is built (defaults by dtype; performance tuning, same tokens in fp32). */
  readonly graph?: GraphTuning;
  /** How executor 'batch' packs concurrent generations' forwards (src/batch/batcher.ts). */
  readonly batch?: BatcherOptions;
}

/**
 * Graph construction knobs of the block program. The defaults follow the dtype: fp32 (the CPU and
 * reference path) keeps the plain ops, the explicit cached attention and one graph for every host;
 * fp16 (the GPU path, where ORT's per-node cost bounds a cached step) uses the fused kernels, one
 * packed Q|K|V projection, fixes the steps' attention per host and the decoding rule per rule kind,
 * and attends with flash attention over [rows before | fresh window | rows after] ('replace').
 * Every combination gives the same tokens in fp32 (test/model/lean-graph.test.ts, the conformance
 * suite); measured on an H200 in reports/gpu/README.md.
 */
export interface GraphTuning {
  /** ORT's fused norm and rotary kernels (ForwardStyle.lean). */
  readonly lean?: boolean;
  /** One Q|K|V projection and rotation, QuickGelu SiLU (ForwardStyle.packed; needs lean). */
  readonly packed?: boolean;
  /** The steps' attention fixed per host in the graph (no If per layer; one session per host kind). */
  readonly fixedStepAttention?: boolean;
  /** The decoding rule fixed in the graph (only its ops per step; one session per rule kind). */
  readonly fixedRule?: boolean;
  /** The cached rows' attention (ForwardStyle.cachedAttention). */
  readonly cachedAttention?: CachedAttention;
}

/** What model.stream() yields, in order: steps (and kept rows, text deltas) as they happen, then done. */
export type GenerationEvent =
  | { readonly type: 'step'; readonly step: StepEvent }
  | { readonly type: 'kept'; readonly kept: KeptEvent }
  | { readonly type: 'text'; readonly delta: string }
  | { readonly type: 'done'; readonly result: GenerateOutput };

/** What to generate from: plain text, chat messages, or raw token ids (no template). */
export type PromptInput = string | readonly ChatMessage[] | { readonly inputIds: readonly number[] };

export interface ModelGenerateOptions extends GenerateOptions, FilterOptions {
  /** Apply the chat template to a string prompt (default: when the tokenizer has one). */
  readonly chat?: boolean;
  readonly chatOptions?: ChatOptions;
  readonly signal?: AbortSignal;
  /** Every forward: the full canvas, for visualisers. */
  readonly onStep?: (e: StepEvent) => void;
  /** After each block with a token filter: the prompt rows kept per layer and KV head. */
  readonly onKept?: (e: KeptEvent) => void;
  /** Text deltas of the settled left part of the answer only (a DLM fills tokens anywhere). */
  readonly onText?: (delta: string) => void;
  /** With cache 'dllm-cache': its refresh intervals and adaptive share (src/cache/dllm). */
  readonly dllmCache?: DllmCacheOptions;
}

/**
 * DiffusionModel.generateElastic's options (Elastic-Cache: no blocks, no step count). A token filter
 * (`filter`, `budget`, `wave`) cuts the caches to the prompt rows it keeps after the first forward
 * (src/cache/elastic/compact.ts).
 */
export interface ElasticGenerateOptions extends FilterOptions {
  readonly genLength?: number;
  /** The first `window` still-masked positions are the decode candidates (default 16). */
  readonly window?: number;
  /** Confidence threshold (default 0.9, the official default); null with tokensPerIter for a fixed count. */
  readonly threshold?: number | null;
  /** Tokens decoded per iteration when threshold is null (default 1). */
  readonly tokensPerIter?: number;
  /** Drift threshold on the tracked tokens' attention similarity (default 0.9). */
  readonly gamma?: number;
  /** Tracked tokens per layer (default 1). */
  readonly trackNum?: number;
  /** Query only the window's masks (default true); false queries every mask. */
  readonly blockCaching?: boolean;
  /** The first decoded EOS drops the masks after it (default: the model's eos_token_id; null: never). */
  readonly eosId?: number | null;
  readonly allowLongContext?: boolean;
  readonly chat?: boolean;
  readonly chatOptions?: ChatOptions;
  readonly signal?: AbortSignal;
  /** After every iteration (decoded positions, refreshes, the live sequence). */
  readonly onStep?: (e: ElasticStepEvent) => void;
  /** Prompt rows keep the first forward's state (default: when a filter cut the caches; src/cache/elastic/graph.ts). */
  readonly freezePrompt?: boolean;
  /** With a filter: 'union' of its heads' kept rows (default) or 'top', the budget's most-kept rows (src/cache/elastic/compact.ts). */
  readonly keptRows?: 'union' | 'top';
  /**
   * block: every iteration in one ORT run (two with a filter), the events replayed when it returns;
   * step: one run per iteration, each event as it happens; auto (default: the model's executor
   * choice): block on CUDA, step on the CPU (the faster there). Both give the same tokens, NFE,
   * refreshes and events (src/cache/elastic/loop-graph.ts).
   */
  readonly executor?: ExecutorChoice;
}

export interface ElasticOutput extends ElasticResult {
  readonly generatedIds: number[];
  readonly text: string | null;
  /** The executor that ran it. */
  readonly executor: 'step' | 'block';
}

export interface GenerateOutput extends GenerationResult {
  /** Generated ids (without the prompt). */
  readonly generatedIds: number[];
  /** Decoded answer, cut at the first EOS / end-of-turn, special tokens skipped; null without a tokenizer. */
  readonly text: string | null;
  /** With cache 'dllm-cache': its refreshes and the share of rows x layers it recomputed. */
  readonly dllmCache?: DllmCacheStats;
}

/** A loaded diffusion LM. */
export class DiffusionModel {
  readonly dir: string;
  readonly spec: ModelSpec;
  readonly codec: TextCodec | null;
  private readonly filters: FilterFactory;
  /** Sessions over the weights: 'forward' (step executor), 'batch' (its packed forward), 'block:<variant>' programs, 'elastic' (its step graph) and 'elastic-loop:<variant>'. */
  private readonly sessions: SessionCache<ModelRuntime | BlockProgram | GenerationProgram | ElasticProgram | DllmCacheProgram | ForwardBatcher>;

  private constructor(dir: string, spec: ModelSpec, codec: TextCodec | null, private readonly store: TensorStore, private readonly runtimeOptions: RuntimeOptions, sessions: number, private readonly defaultExecutor: ExecutorChoice, private readonly tuning: Required<GraphTuning>, private readonly memoryLimit?: number, private readonly batchOptions: BatcherOptions = {}) {
    this.dir = dir;
    this.spec = spec;
    this.codec = codec;
    this.filters = new FilterFactory(spec, runtimeOptions.threads);
    this.sessions = new SessionCache(sessions);
  }

  /**
   * The block program's session for a filter variant (null: unfiltered), built on first use and
   * held until the lease is released.
   */
  blockProgram(filter: ProgramFilter | null = null, requested: ProgramShape = {}): Promise<Lease<BlockProgram>> {
    const shape = this.tunedShape(requested);
    const key = `block:${programKey(filter, shape)}`;
    return this.sessions.acquire(key, () => BlockProgram.create(this.spec, this.store, this.runtimeOptions, filter, shape)) as Promise<Lease<BlockProgram>>;
  }

  /** The generation program's session (every block in one run; program/generation-program.ts), likewise. */
  generationProgram(filter: ProgramFilter | null = null, requested: ProgramShape = {}): Promise<Lease<GenerationProgram>> {
    const shape = this.tunedShape(requested);
    const key = `generation:${programKey(filter, shape)}`;
    return this.sessions.acquire(key, () => GenerationProgram.create(this.spec, this.store, this.runtimeOptions, filter, shape)) as Promise<Lease<GenerationProgram>>;
  }

  /**
   * The steps' attention is fixed per graph where per-node cost matters (GraphTuning; by default
   * fp16, the GPU path); otherwise one graph (one copy of the weights) serves every host.
   */
  private tunedShape(requested: ProgramShape): ProgramShape {
    const t = this.tuning;
    return {
      ...requested, stepAttention: t.fixedStepAttention ? requested.stepAttention : undefined, decide: t.fixedRule ? requested.decide : undefined,
      lean: t.lean, packed: t.packed, cachedAttention: t.cachedAttention,
    };
  }

  /**
   * Runs `f` with the model's forward batcher (src/batch/): generations inside it at the same time
   * share packed forwards. Built on first use, one per model.
   */
  async withBatcher<R>(f: (b: ForwardBatcher) => Promise<R>): Promise<R> {
    const lease = (await this.sessions.acquire('batch', async () => new ForwardBatcher(await PackedForward.create(this.spec, this.store, this.runtimeOptions), this.batchOptions))) as Lease<ForwardBatcher>;
    try {
      return await f(lease.value);
    } finally {
      lease.release();
    }
  }

  /** Runs `f` with the step executor's forward session (one ORT run per forward), built on first use. */
  async withRuntime<R>(f: (rt: ModelRuntime) => Promise<R>): Promise<R> {
    const lease = (await this.sessions.acquire('forward', () => ModelRuntime.create(this.spec, this.store, this.runtimeOptions))) as Lease<ModelRuntime>;
    try {
      return await f(lease.value);
    } finally {
      lease.release();
    }
  }

  /**
   * The memory a generation needs at least (model/memory.ts), for `inspect` and the check before
   * a generation: refused with `out_of_memory` when even that does not fit the device.
   */
  memoryEstimate(promptLength: number, genLength: number, blockLength: number, executor: 'step' | 'block' = 'block'): MemoryEstimate {
    return estimateMemory(this.spec, { promptLength, genLength, blockLength, dtype: this.runtimeOptions.dtype ?? 'fp32', executor, kvAround: executor === 'block' && this.tuning.cachedAttention === 'replace' });
  }

  /** Memory available to a generation: LoadOptions.memoryLimit, else the GPU's total, else the host's. */
  availableMemory(): { bytes: number | null; where: string } {
    if (this.memoryLimit !== undefined) return { bytes: this.memoryLimit, where: 'the memoryLimit of' };
    if (this.runtimeOptions.executionProvider === 'cuda') return { bytes: cudaMemoryTotal(this.runtimeOptions.deviceId ?? 0), where: `cuda:${this.runtimeOptions.deviceId ?? 0}` };
    return { bytes: totalmem(), where: 'host' };
  }

  /**
   * `cachePerToken`: bytes per position a host caches beyond K/V (Elastic-Cache's x and q, dLLM-Cache's
   * attention and FFN outputs, each held by ORT's outputs and the JavaScript copy the next run reads).
   */
  private checkMemory(promptLength: number, genLength: number, blockLength: number, executor: 'step' | 'block', cachePerToken = 0): void {
    const a = this.availableMemory();
    const e = this.memoryEstimate(promptLength, genLength, blockLength, executor);
    const extra = cachePerToken * (promptLength + genLength);
    checkFits({ ...e, kvBytes: e.kvBytes + extra, totalBytes: e.totalBytes + extra }, a.bytes, a.where);
  }

  /** Keys of the live weight sessions, least recently used first. */
  liveSessions(): string[] {
    return this.sessions.keys();
  }

  /**
   * Releases the weight sessions no generation is using: their copy of the weights and ORT's
   * memory arena go back to the device (or the heap); the next generation rebuilds its session
   * (seconds). For a process that idles between bursts of work, and for measuring one
   * configuration's own peak after another's. Returns how many sessions were released.
   */
  releaseSessions(): Promise<number> {
    return this.sessions.releaseIdle();
  }

  static async load(dir: string, opts: LoadOptions = {}): Promise<DiffusionModel> {
    const t0 = performance.now();
    if (typeof dir !== 'string' || dir.length === 0) throw new WavefilterError('invalid_input', `model folder: expected a path, found ${typeName(dir)} (loadModel(dir): a checkpoint folder, or bundledModelDir() for the bundled model)`, { field: 'dir' });
    checkLoadOptions(opts);
    if (!existsSync(dir)) throw new WavefilterError('file_not_found', `${dir}: model folder not found`, { file: dir });
    if (!statSync(dir).isDirectory()) throw new WavefilterError('not_a_file', `${dir}: expected a model folder, found a file`, { file: dir });
    opts.onProgress?.({ status: 'initiate', dir });
    const spec = extendContext(readModelSpec(dir), opts);
    const store = TensorStore.open(dir);
    const bytes = [...store.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
    opts.onProgress?.({ status: 'checkpoint', files: store.files.length, tensors: store.tensors.size, bytes });
    const codec = TextCodec.load(dir);
    const t1 = performance.now();
    const device = parseDevice(opts.device);
    const runtimeOptions: RuntimeOptions = { executionProvider: device.provider, deviceId: device.deviceId, tf32: opts.tf32 ?? false, dtype: opts.dtype ?? 'fp32', threads: opts.threads };
    validateWeights(spec, store);
    const model = new DiffusionModel(dir, spec, codec, store, runtimeOptions, opts.sessions ?? 1, opts.executor ?? 'auto', graphTuning(opts.dtype ?? 'fp32', opts.graph), opts.memoryLimit, opts.batch ?? {});
    // the session the default options run (no filter) is built now, so a broken checkpoint or
    // execution provider fails at load and the first generate is not slower
    try {
      if (opts.executor === 'step') await model.withRuntime(async () => {});
      else if (opts.executor === 'batch') await model.withBatcher(async () => {});
      // (the no-cache host's program: the default options' cache; with fixed step attention,
      // GraphTuning, a cached host's generate builds its own variant)
      else (await model.blockProgram(null, { stepAttention: stepAttentionOf(cacheHostPolicy('none')), decide: ruleKindsOf(spec, resolveOptions(spec, 1, {})) })).release();
    } catch (e) {
      await model.dispose();
      if (e instanceof WavefilterError) throw e;
      throw new WavefilterError('runtime_error', `could not create the ONNX Runtime session: ${(e as Error).message}`);
    }
    opts.onProgress?.({ status: 'session', ms: performance.now() - t1 });
    opts.onProgress?.({ status: 'ready', ms: performance.now() - t0 });
    return model;
  }

  private requireCodec(): TextCodec {
    if (!this.codec) throw new WavefilterError('invalid_input', `${this.dir}: no tokenizer.json, so text prompts are not possible; pass token ids instead`, { file: this.dir });
    return this.codec;
  }

  /**
   * Most characters a text prompt may have: MAX_CHARS_PER_TOKEN per token of context. Checked
   * before tokenizing, so a 1M-character prompt is refused at once instead of tokenized for seconds
   * and then refused; no real text averages more characters per token.
   */
  maxPromptChars(): number {
    return MAX_CHARS_PER_TOKEN * this.spec.maxSequenceLength;
  }

  /** Prompt token ids for an input. */
  encode(input: PromptInput, chat?: boolean, chatOptions?: ChatOptions): number[] {
    const kind = checkPromptInput(input);
    if (kind === 'ids') {
      const ids = (input as { inputIds: readonly number[] }).inputIds;
      return Array.from(ids);
    }
    const chars = kind === 'text' ? (input as string).length : (input as readonly ChatMessage[]).reduce((a, m) => a + m.content.length, 0);
    if (chars > this.maxPromptChars())
      throw new WavefilterError('prompt_too_long', `the prompt has ${chars} characters, over the ${this.maxPromptChars()} this model's context of ${this.spec.maxSequenceLength} tokens allows (${MAX_CHARS_PER_TOKEN} per token); shorten it`, {
        chars, limit_chars: this.maxPromptChars(), limit: this.spec.maxSequenceLength,
      });
    const codec = this.requireCodec();
    if (kind === 'text') {
      const useChat = chat ?? codec.hasChatTemplate;
      return useChat ? codec.encodeChat([{ role: 'user', content: input as string }], chatOptions) : codec.encodePrompt(input as string);
    }
    const messages = input as readonly ChatMessage[];
    const last = messages.at(-1);
    // A final assistant message is a prefill: the answer continues it. The turn is opened as the
    // template opens it for an answer (the generation prompt) and the text follows, encoded as text
    // (not "render it and cut after the content": templates that strip or close a message would
    // leave an end-of-turn behind). RULER's harness builds its answer prefix the same way.
    if (messages.length > 1 && last?.role === 'assistant')
      return codec.encodeChat(messages.slice(0, -1), { ...chatOptions, addGenerationPrompt: true }).concat(codec.encodeText(last.content));
    return codec.encodeChat(messages, chatOptions);
  }

  /** Ids that end an answer (EOS, end of turn). */
  stopIds(): Set<number> {
    const s = new Set<number>();
    if (this.spec.eosTokenId !== null) s.add(this.spec.eosTokenId);
    if (this.spec.eotTokenId !== null) s.add(this.spec.eotTokenId);
    return s;
  }

  /** The answer text of generated ids: up to the first stop id, special tokens skipped. */
  decodeAnswer(ids: readonly number[]): string | null {
    if (!this.codec) return null;
    const stop = this.stopIds();
    const end = ids.findIndex((id) => stop.has(id));
    return this.codec.decode(end < 0 ? ids : ids.slice(0, end));
  }

  /**
   * generate() as an async stream of typed events: every forward ('step', with a copy of the
   * canvas), the kept prompt rows after each filtered block ('kept'), text deltas of the settled
   * left part ('text'), then one 'done' with the result. Leaving the loop early (break, return,
   * a throw in the consumer) aborts the generation; errors are thrown from the iteration.
   */
  async *stream(input: PromptInput, opts: ModelGenerateOptions = {}): AsyncGenerator<GenerationEvent, void, undefined> {
    checkGenerateOptions(opts);
    const ac = new AbortController();
    const outer = opts.signal;
    const onAbort = (): void => ac.abort(outer?.reason);
    if (outer?.aborted) ac.abort(outer.reason);
    else outer?.addEventListener('abort', onAbort, { once: true });
    const queue: GenerationEvent[] = [];
    let wake: (() => void) | null = null;
    const push = (e: GenerationEvent): void => {
      queue.push(e);
      wake?.();
    };
    let finished = false;
    let failure: { error: unknown } | null = null;
    const run = this.generate(input, {
      ...opts,
      signal: ac.signal,
      onStep: (e) => {
        opts.onStep?.(e);
        push({ type: 'step', step: { ...e, canvas: e.canvas.slice() } });
      },
      onKept: (e) => {
        opts.onKept?.(e);
        push({ type: 'kept', kept: e });
      },
      onText: (d) => {
        opts.onText?.(d);
        push({ type: 'text', delta: d });
      },
    }).then(
      (result) => push({ type: 'done', result }),
      (error: unknown) => {
        failure = { error };
      },
    ).finally(() => {
      finished = true;
      wake?.();
    });
    try {
      for (;;) {
        const e = queue.shift();
        if (e) {
          yield e;
          if (e.type === 'done') return;
          continue;
        }
        if (finished) {
          if (failure) throw (failure as { error: unknown }).error;
          return;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      // the consumer left early: stop the generation and wait for it to let go of its session
      ac.abort();
      await run;
      outer?.removeEventListener('abort', onAbort);
    }
  }

  async generate(input: PromptInput, opts: ModelGenerateOptions = {}): Promise<GenerateOutput> {
    if ((opts as { cache?: unknown }).cache === 'elastic')
      throw new WavefilterError('invalid_option', 'cache elastic: run it with model.generateElastic (its options differ: window, gamma, trackNum, ...; CLI: generate --cache elastic)', { option: 'cache' });
    checkGenerateOptions(opts);
    const prompt = this.encode(input, opts.chat, opts.chatOptions);
    checkIds(prompt, this.spec.vocabSize, 'input id');
    let shown = '';
    const onStep = (e: StepEvent): void => {
      opts.onStep?.(e);
      if (opts.onText && this.codec) {
        const text = this.decodeAnswer(Array.from(e.canvas.subarray(prompt.length, prompt.length + e.settled))) ?? '';
        // Only append: the settled prefix never changes, but a partial UTF-8 sequence may decode differently later.
        if (text.startsWith(shown) && text.length > shown.length) {
          opts.onText(text.slice(shown.length));
          shown = text;
        }
      }
    };
    if ((opts as { cache?: unknown }).cache === 'dllm-cache') return this.generateDllmCache(prompt, opts, onStep);
    if (opts.dllmCache !== undefined) throw new WavefilterError('invalid_option', 'dllmCache: applies only with cache dllm-cache', { option: 'dllmCache' });
    const filter = await this.filters.create(opts, opts.seed ?? 0);
    const hooks: GenerateHooks = { signal: opts.signal, onStep, onKept: opts.onKept, filter };
    // unless told otherwise, a filtered cached host refreshes the prompt as the filter prefers. On a
    // GPU the first-block refresh keeps the prompt's K/V on the device only inside one run: a
    // generation nobody can cancel midway (no signal) runs as one generation program where it can,
    // and then costs nothing extra; a cancellable one (streaming) runs block by block, where the
    // K/V would cross to the host and back (onnxruntime-node keeps no device tensor between runs),
    // so it takes the first-block refresh only where that costs less than the refresh it saves
    // (refresh-cost.ts)
    const policy = cacheHostPolicy(opts.cache ?? 'none');
    const executor = opts.executor ?? this.defaultExecutor;
    const cuda = this.runtimeOptions.executionProvider === 'cuda';
    const preferred = filter && policy.cached ? filter.preferredRefresh ?? 'first-block' : 'every-block';
    const asFirstBlock = resolveOptions(this.spec, prompt.length, { ...opts, promptRefresh: preferred });
    const wholeRun = executor === 'generation' || (executor === 'auto' && cuda && !opts.signal && generationProgramGap(this.spec, asFirstBlock, policy, hooks, opts.scoring) === null);
    const promptRefresh = opts.promptRefresh ?? (preferred === 'first-block' && cuda && executor !== 'step' && executor !== 'batch' && !wholeRun
      ? refreshByCost(this.spec, prompt.length, asFirstBlock, this.runtimeOptions.dtype ?? 'fp32')
      : preferred);
    const options = { ...opts, promptRefresh };
    const resolved = resolveOptions(this.spec, prompt.length, options);
    const useGeneration = executor === 'generation' || (wholeRun && generationProgramGap(this.spec, resolved, policy, hooks, opts.scoring) === null);
    const useBlock = executor !== 'batch' && (useGeneration || executor === 'block' || (executor === 'auto' && blockProgramGap(this.spec, resolved, hooks, opts.scoring) === null));
    this.checkMemory(prompt.length, resolved.genLength, resolved.blockLength, useBlock ? 'block' : 'step');
    const r = executor === 'batch'
      ? await this.withBatcher((b) => generateIds(b.member(readsLogits(this.spec, resolved, opts.scoring)), prompt, options, hooks))
      : useBlock
        ? await generateBlocks((f, shape) => this.blockProgram(f, shape), this.spec, policy, prompt, options, hooks, useGeneration ? (f, shape) => this.generationProgram(f, shape) : undefined)
        : await this.withRuntime((rt) => generateIds(rt, prompt, options, hooks));
    const generatedIds = r.outputIds.slice(prompt.length);
    return { ...r, generatedIds, text: this.decodeAnswer(generatedIds) };
  }

  /**
   * Elastic-Cache (arXiv 2510.14973) as its official LLaDA code runs it: a sliding window of
   * masked positions, layer-wise refreshes on attention drift, the EOS cut-off (src/cache/elastic);
   * on Dream too (GQA, shifted logits: src/cache/elastic/decode.ts). fp32 only for now. With a token filter the caches keep the prompt rows it selects.
   */
  async generateElastic(input: PromptInput, opts: ElasticGenerateOptions = {}): Promise<ElasticOutput> {
    checkKeys(opts, ELASTIC_KEYS, 'options');
    if (this.runtimeOptions.dtype === 'fp16')
      throw new WavefilterError('invalid_option', 'cache elastic: runs in fp32 for now (load the model with dtype fp32)', { option: 'dtype' });
    const prompt = this.encode(input, opts.chat, opts.chatOptions);
    checkIds(prompt, this.spec.vocabSize, 'input id');
    if (prompt.length === 0) throw new WavefilterError('invalid_input', 'the prompt is empty: at least one token is needed', { tokens: 0 });
    checkPromptIds(this.spec, prompt);
    const tokensPerIter = opts.tokensPerIter ?? 1;
    const o: ElasticOptions = {
      genLength: opts.genLength ?? 32, window: opts.window ?? 16,
      // a fixed count per iteration unless a threshold is given with it
      threshold: opts.threshold === undefined ? (opts.tokensPerIter === undefined ? 0.9 : null) : opts.threshold,
      tokensPerIter, gamma: opts.gamma ?? 0.9, trackNum: opts.trackNum ?? 1, blockCaching: opts.blockCaching ?? true,
      eosId: opts.eosId === undefined ? this.spec.eosTokenId : opts.eosId,
      ...(opts.freezePrompt === undefined ? {} : { freezePrompt: opts.freezePrompt }),
      ...(opts.keptRows === undefined ? {} : { keptRows: opts.keptRows }),
    };
    if (opts.keptRows !== undefined && opts.keptRows !== 'union' && opts.keptRows !== 'top') throw new WavefilterError('invalid_option', `keptRows: expected union or top, found ${JSON.stringify(opts.keptRows)}`, { option: 'keptRows' });
    if (opts.freezePrompt !== undefined && typeof opts.freezePrompt !== 'boolean') throw new WavefilterError('invalid_option', `freezePrompt: expected a boolean, found ${typeName(opts.freezePrompt)}`, { option: 'freezePrompt' });
    checkElasticOptions(o, this.spec);
    if (opts.allowLongContext !== undefined && typeof opts.allowLongContext !== 'boolean') throw new WavefilterError('invalid_option', `allowLongContext: expected a boolean, found ${typeName(opts.allowLongContext)}`, { option: 'allowLongContext' });
    const total = prompt.length + o.genLength;
    if (total > this.spec.maxSequenceLength && !opts.allowLongContext)
      throw new WavefilterError('prompt_too_long', `prompt (${prompt.length} tokens) + genLength (${o.genLength}) = ${total} exceeds the model's context of ${this.spec.maxSequenceLength}; shorten the prompt or pass allowLongContext`, { tokens: prompt.length, gen_length: o.genLength, limit: this.spec.maxSequenceLength });
    this.checkMemory(prompt.length, o.genLength, o.window, 'step', 2 * 4 * this.spec.nLayers * (this.spec.dModel + this.spec.nHeads * this.spec.headDim));
    const filter = await this.filters.create(opts, 0);
    // (a model loaded for batching runs Elastic-Cache as auto would: it has no batched program)
    const choice = opts.executor ?? (this.defaultExecutor === 'batch' ? 'auto' : this.defaultExecutor);
    checkExecutor(choice);
    if (choice === 'batch')
      throw new WavefilterError('invalid_option', 'executor batch: Elastic-Cache runs on its own programs (executor step, block or auto), not batched', { option: 'executor' });
    // auto: on CUDA the block program (the step executor would copy every layer's caches to the
    // device each iteration; onnxruntime-node keeps no device tensor between runs); on the CPU the
    // step executor, which writes only the query rows between runs where the loop copies whole
    // caches (ScatterND): the block program ran at 0.79-0.90x its speed at 2K (README, Speed)
    const executor = choice === 'block' || choice === 'generation' || (choice === 'auto' && this.runtimeOptions.executionProvider === 'cuda') ? 'block' : 'step';
    const key = elasticProgramKey(executor, o);
    const lease = await this.sessions.acquire(key, () => ElasticProgram.create(this.spec, this.store, this.runtimeOptions, executor === 'step' ? 'step' : elasticLoopVariant(o)));
    try {
      const r = await (lease.value as ElasticProgram).generate(prompt, o, { signal: opts.signal, onStep: opts.onStep, filter });
      const generatedIds = r.outputIds.slice(prompt.length);
      return { ...r, generatedIds, text: this.decodeAnswer(generatedIds), executor };
    } finally {
      lease.release();
    }
  }

  /**
   * dLLM-Cache (src/cache/dllm): the step loop with a host that computes its own forward over
   * cached attention and FFN outputs. Not on the block program, and without token filters.
   */
  private async generateDllmCache(prompt: number[], opts: ModelGenerateOptions, onStep: (e: StepEvent) => void): Promise<GenerateOutput> {
    const cfg = resolveDllmCacheOptions(opts.dllmCache);
    if (opts.filter !== undefined && opts.filter !== 'none')
      throw new WavefilterError('invalid_option', 'cache dllm-cache: token filters run on the prefix and dual hosts and on Elastic-Cache, not on dLLM-Cache', { option: 'filter' });
    if (opts.executor === 'block' || opts.executor === 'generation' || opts.executor === 'batch')
      throw new WavefilterError('invalid_option', `cache dllm-cache: runs on the step executor (executor step or auto), not ${opts.executor}`, { option: 'executor' });
    if (this.runtimeOptions.dtype === 'fp16')
      throw new WavefilterError('invalid_option', 'cache dllm-cache: runs in fp32 for now (load the model with dtype fp32)', { option: 'dtype' });
    const options = { ...opts, cache: 'none', promptRefresh: 'every-block' as const, executor: 'step' as const };
    const resolved = resolveOptions(this.spec, prompt.length, options);
    this.checkMemory(prompt.length, resolved.genLength, resolved.blockLength, 'step', 2 * 4 * this.spec.nLayers * 2 * this.spec.dModel);
    const lease = await this.sessions.acquire('dllm-cache', () => DllmCacheProgram.create(this.spec, this.store, this.runtimeOptions));
    try {
      const host = (lease.value as DllmCacheProgram).host(cfg);
      const rt = {
        spec: this.spec,
        get runs(): number { return host.stats().forwards; },
        forward: (): never => { throw new WavefilterError('runtime_error', 'dllm-cache: the host computes every forward'); },
      };
      const r = await generateIds(rt, prompt, options, { signal: opts.signal, onStep, host });
      const generatedIds = r.outputIds.slice(prompt.length);
      return { ...r, options: { ...r.options, cache: 'dllm-cache' }, generatedIds, text: this.decodeAnswer(generatedIds), dllmCache: host.stats() };
    } finally {
      lease.release();
    }
  }

  /** Logits of every position of one bidirectional forward pass, [T][V] (raw, before Dream's shift). */
  async logits(inputIds: readonly number[]): Promise<Float32Array[]> {
    if (!Array.isArray(inputIds) && !ArrayBuffer.isView(inputIds)) throw new WavefilterError('invalid_input', `input ids: expected an array of token ids, found ${typeName(inputIds)}`, { field: 'inputIds' });
    const n = inputIds.length;
    if (n === 0) throw new WavefilterError('invalid_input', 'input ids are empty', { tokens: 0 });
    checkIds(inputIds, this.spec.vocabSize, 'input id');
    if (n > this.spec.maxSequenceLength)
      throw new WavefilterError('prompt_too_long', `${n} input ids exceed the model's context of ${this.spec.maxSequenceLength}`, { tokens: n, limit: this.spec.maxSequenceLength });
    const idx = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    const r = await this.withRuntime((rt) => rt.forward({ inputIds: BigInt64Array.from(inputIds, (x) => BigInt(x)), positions: idx, logitRows: idx, past: null }));
    const V = this.spec.vocabSize;
    return Array.from({ length: n }, (_, i) => r.logits.slice(i * V, (i + 1) * V));
  }

  async dispose(): Promise<void> {
    this.codec?.dispose();
    await this.filters.dispose();
    await this.sessions.dispose();
  }
}

/** See DiffusionModel.maxPromptChars. */
export const MAX_CHARS_PER_TOKEN = 32;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** What a PromptInput is, or an `invalid_input` naming what is wrong with it. */
function checkPromptInput(input: unknown): 'text' | 'messages' | 'ids' {
  if (typeof input === 'string') {
    if (LONE_SURROGATE.test(input))
      throw new WavefilterError('invalid_input', 'prompt: contains a lone UTF-16 surrogate (not valid Unicode text)', { field: 'prompt' });
    return 'text';
  }
  if (Array.isArray(input)) {
    input.forEach((m: unknown, i) => {
      const msg = m as { role?: unknown; content?: unknown } | null;
      if (msg === null || typeof msg !== 'object' || typeof msg.role !== 'string' || typeof msg.content !== 'string')
        throw new WavefilterError('invalid_input', `messages[${i}]: expected {role: string, content: string}, found ${typeName(m)}`, { field: `messages[${i}]` });
      for (const k of Object.keys(msg)) if (k !== 'role' && k !== 'content') throw new WavefilterError('invalid_input', `messages[${i}]: unknown field ${JSON.stringify(k)} (expected role and content)`, { field: `messages[${i}].${k}` });
    });
    if (input.length === 0) throw new WavefilterError('invalid_input', 'messages: the list is empty', { field: 'messages' });
    return 'messages';
  }
  if (input !== null && typeof input === 'object' && 'inputIds' in input) {
    const ids = (input as { inputIds: unknown }).inputIds;
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new WavefilterError('invalid_input', `inputIds: expected an array of token ids, found ${typeName(ids)}`, { field: 'inputIds' });
    for (const k of Object.keys(input)) if (k !== 'inputIds') throw new WavefilterError('invalid_input', `prompt: unknown field ${JSON.stringify(k)} (expected inputIds)`, { field: k });
    return 'ids';
  }
  throw new WavefilterError('invalid_input', `prompt: expected a string, a list of chat messages or {inputIds}, found ${typeName(input)}`, { field: 'prompt' });
}

function checkIds(ids: ArrayLike<unknown>, vocab: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isSafeInteger(id) || (id as number) < 0 || (id as number) >= vocab)
      throw new WavefilterError('invalid_input', `${what} ${i} is ${String(id)}; expected an id in [0, ${vocab})`, { index: i, found: String(id) });
  }
}

/** Every option key generate() knows; anything else is a misspelling the user should hear about. */
const GENERATE_KEYS = new Set([
  'genLength', 'blockLength', 'steps', 'threshold', 'factor', 'temperature', 'topP', 'topK', 'remasking', 'alg', 'algTemp', 'eps', 'cfgScale',
  'logitsEosInf', 'confidenceEosEotInf', 'cache', 'promptRefresh', 'seed', 'scoring', 'allowLongContext', 'executor',
  'filter', 'budget', 'wave', 'chat', 'chatOptions', 'signal', 'onStep', 'onText', 'onKept', 'dllmCache',
]);
const WAVE_KEYS = new Set(['preset', 'levels', 'proportions', 'budget', 'sinks', 'tail', 'tailShare', 'headShared', 'norm', 'schedule', 'driftThreshold', 'denseLayers', 'questionQueries', 'spanLevels', 'tokenShare', 'sampleShare', 'tokenPool', 'tailRefresh', 'tailRefreshPast']);
const CHAT_KEYS = new Set(['addGenerationPrompt', 'timeoutMs', 'variables']);

/** Levenshtein distance of two short strings (option names), for "did you mean". */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function checkKeys(obj: unknown, known: ReadonlySet<string>, where: string): void {
  if (obj === undefined) return;
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new WavefilterError('invalid_option', `${where}: expected an object of options, found ${typeName(obj)}`, { option: where });
  for (const k of Object.keys(obj)) {
    if (known.has(k)) continue;
    const norm = (x: string): string => x.toLowerCase().replace(/_/g, '');
    const near = [...known].find((x) => editDistance(norm(x), norm(k)) <= 2);
    throw new WavefilterError('invalid_option', `${where === 'options' ? '' : `${where}.`}${k}: unknown option${near ? ` (did you mean ${near}?)` : ''}`, { option: where === 'options' ? k : `${where}.${k}` });
  }
}

const LOAD_KEYS = new Set(['device', 'dtype', 'threads', 'onProgress', 'ropeTheta', 'maxLength', 'sessions', 'executor', 'tf32', 'memoryLimit', 'graph', 'batch']);
const BATCH_KEYS = new Set(['maxRows', 'maxMembers', 'aloneRows', 'gatherMs']);

/** LoadOptions.batch: known keys, each a number in its range (checkLoadOptions). */
function checkBatchOptions(b: unknown): void {
  if (b === undefined) return;
  checkKeys(b, BATCH_KEYS, 'batch');
  const o = b as Record<string, unknown>;
  const ranges: Record<string, [number, number]> = { maxRows: [1, 1 << 24], maxMembers: [1, 4096], aloneRows: [1, 1 << 24], gatherMs: [0, 10_000] };
  for (const [k, [lo, hi]] of Object.entries(ranges)) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (k !== 'gatherMs' && !Number.isInteger(v))))
      throw new WavefilterError('invalid_option', `batch.${k}: expected ${k === 'gatherMs' ? 'a number' : 'an integer'} in [${lo}, ${hi}], found ${JSON.stringify(v)}`, { option: `batch.${k}` });
  }
}
const ELASTIC_KEYS = new Set(['executor', 'filter', 'budget', 'wave', 'freezePrompt', 'keptRows', 'genLength', 'window', 'threshold', 'tokensPerIter', 'gamma', 'trackNum', 'blockCaching', 'eosId', 'allowLongContext', 'chat', 'chatOptions', 'signal', 'onStep']);
const GRAPH_KEYS = new Set(['lean', 'packed', 'fixedStepAttention', 'fixedRule', 'cachedAttention']);

function checkExecutor(v: unknown): void {
  if (!(EXECUTORS as readonly unknown[]).includes(v))
    throw new WavefilterError('invalid_option', `executor: expected one of ${EXECUTORS.join(', ')}, found ${JSON.stringify(v)}`, { option: 'executor' });
}

function checkLoadOptions(o: unknown): void {
  checkKeys(o, LOAD_KEYS, 'options');
  const opts = o as LoadOptions;
  checkBatchOptions(opts.batch);
  parseDevice(opts.device);
  if (opts.tf32 !== undefined && typeof opts.tf32 !== 'boolean') throw new WavefilterError('invalid_option', `tf32: expected a boolean, found ${typeName(opts.tf32)}`, { option: 'tf32' });
  if (opts.dtype !== undefined && opts.dtype !== 'fp32' && opts.dtype !== 'fp16') throw new WavefilterError('invalid_option', `dtype: expected fp32 or fp16, found ${JSON.stringify(opts.dtype)}`, { option: 'dtype' });
  if (opts.dtype === 'fp16' && parseDevice(opts.device).provider !== 'cuda')
    throw new WavefilterError('invalid_option', 'dtype fp16: needs a CUDA device (--device cuda); ONNX Runtime\'s CPU provider has no fp16 kernels for these ops', { option: 'dtype' });
  if (opts.dtype === 'fp16' && (opts.executor === 'step' || opts.executor === 'batch')) throw new WavefilterError('invalid_option', 'dtype fp16: runs on the block executor only (executor block or auto)', { option: 'dtype' });
  const cores = availableParallelism();
  if (opts.threads !== undefined && !(Number.isSafeInteger(opts.threads) && opts.threads >= 1 && opts.threads <= cores))
    throw new WavefilterError('invalid_option', `threads: expected an integer from 1 to ${cores} (this machine's cores), found ${String(opts.threads)}`, { option: 'threads' });
  if (opts.executor !== undefined) checkExecutor(opts.executor);
  if (opts.memoryLimit !== undefined && !(Number.isSafeInteger(opts.memoryLimit) && opts.memoryLimit > 0))
    throw new WavefilterError('invalid_option', `memoryLimit: expected a positive integer number of bytes, found ${String(opts.memoryLimit)}`, { option: 'memoryLimit' });
  if (opts.sessions !== undefined && !(Number.isSafeInteger(opts.sessions) && opts.sessions >= 1 && opts.sessions <= 64))
    throw new WavefilterError('invalid_option', `sessions: expected an integer from 1 to 64, found ${String(opts.sessions)}`, { option: 'sessions' });
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw new WavefilterError('invalid_option', 'onProgress: expected a function', { option: 'onProgress' });
  checkKeys(opts.graph, GRAPH_KEYS, 'graph');
  for (const k of ['lean', 'packed', 'fixedStepAttention', 'fixedRule'] as const)
    if (opts.graph?.[k] !== undefined && typeof opts.graph[k] !== 'boolean') throw new WavefilterError('invalid_option', `graph.${k}: expected a boolean, found ${typeName(opts.graph[k])}`, { option: `graph.${k}` });
  const ca = opts.graph?.cachedAttention;
  if (ca !== undefined && ca !== 'explicit' && ca !== 'mha' && ca !== 'replace')
    throw new WavefilterError('invalid_option', `graph.cachedAttention: expected explicit, mha or replace, found ${JSON.stringify(ca)}`, { option: 'graph.cachedAttention' });
}

/** The graph knobs in effect (GraphTuning's defaults by dtype). */
export function graphTuning(dtype: 'fp32' | 'fp16', t: GraphTuning = {}): Required<GraphTuning> {
  const gpu = dtype === 'fp16';
  const lean = t.lean ?? gpu;
  return { lean, packed: t.packed ?? (gpu && lean), fixedStepAttention: t.fixedStepAttention ?? gpu, fixedRule: t.fixedRule ?? gpu, cachedAttention: t.cachedAttention ?? (gpu ? 'replace' : 'explicit') };
}

function checkGenerateOptions(o: unknown): void {
  checkKeys(o, GENERATE_KEYS, 'options');
  const opts = o as ModelGenerateOptions;
  checkKeys(opts.wave, WAVE_KEYS, 'wave');
  checkKeys(opts.chatOptions, CHAT_KEYS, 'chatOptions');
  for (const k of ['onStep', 'onText', 'onKept'] as const)
    if (opts[k] !== undefined && typeof opts[k] !== 'function') throw new WavefilterError('invalid_option', `${k}: expected a function`, { option: k });
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw new WavefilterError('invalid_option', 'signal: expected an AbortSignal', { option: 'signal' });
  if (opts.chat !== undefined && typeof opts.chat !== 'boolean') throw new WavefilterError('invalid_option', `chat: expected a boolean, found ${typeName(opts.chat)}`, { option: 'chat' });
}

function extendContext(spec: ModelSpec, opts: LoadOptions): ModelSpec {
  const { ropeTheta, maxLength } = opts;
  if (ropeTheta !== undefined && !(Number.isFinite(ropeTheta) && ropeTheta > 0))
    throw new WavefilterError('invalid_option', `ropeTheta: expected a positive number, found ${ropeTheta}`, { option: 'ropeTheta' });
  if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength > 0 && maxLength <= 1 << 20))
    throw new WavefilterError('invalid_option', `maxLength: expected a positive integer, found ${maxLength}`, { option: 'maxLength' });
  if (ropeTheta === undefined && maxLength === undefined) return spec;
  return { ...spec, ropeTheta: ropeTheta ?? spec.ropeTheta, maxSequenceLength: maxLength ?? spec.maxSequenceLength };
}

/** Loads a model folder in Hugging Face layout. */
export function loadModel(dir: string, opts: LoadOptions = {}): Promise<DiffusionModel> {
  return DiffusionModel.load(dir, opts);
}

/** A program session's key: the graph depends on the filter variant, where and when the selection runs, and the shape. */
function programKey(filter: ProgramFilter | null, shape: ProgramShape): string {
  return `${filter ? `${filter.variant}|${filter.program.schedule}|${filter.program.queries}|${filter.windowQueries}${filter.program.refreshPast === 'all' ? '|refresh-all' : ''}` : ''}${shape.cfg ? '|cfg' : ''}${shape.sample ? '|sample' : ''}${shape.stepAttention ? `|${shape.stepAttention}` : ''}${shape.decide ? `|${shape.decide.rule}:${shape.decide.confidence}` : ''}`;
}

/** The GPU's prompt refresh for a filter that prefers the first-block one: by cost (model/refresh-cost.ts). */
function refreshByCost(spec: ModelSpec, promptLength: number, r: ResolvedOptions, dtype: 'fp32' | 'fp16'): 'every-block' | 'first-block' {
  return deviceRefreshCost(spec, promptLength, r.genLength, r.genLength / r.blockLength, dtype).choice;
}
