/**
 * The headless core behind every surface (library, CLI, benchmarks): load a checkpoint folder,
 * encode prompts, generate with typed events, report timings. Surfaces stay thin over this.
 */
import { existsSync, statSync } from 'node:fs';
import { WavefilterError } from './errors.js';
import { readModelSpec } from './checkpoint/config.js';
import { TensorStore } from './checkpoint/safetensors.js';
import { type ChatMessage, type ChatOptions, TextCodec } from './checkpoint/tokenizer.js';
import { type ExecutionProvider, ModelRuntime } from './model/runtime.js';
import type { ModelSpec } from './model/spec.js';
import { type GenerateHooks, type GenerationResult, type StepEvent, generateIds } from './decode/generate.js';
import type { GenerateOptions } from './decode/options.js';
import { FilterFactory, type FilterOptions, WaveFilter } from './filter/index.js';

export type LoadEvent =
  | { readonly status: 'initiate'; readonly dir: string }
  | { readonly status: 'checkpoint'; readonly files: number; readonly tensors: number; readonly bytes: number }
  | { readonly status: 'session'; readonly ms: number }
  | { readonly status: 'ready'; readonly ms: number };

export interface LoadOptions {
  readonly device?: ExecutionProvider;
  readonly dtype?: 'fp32';
  readonly threads?: number;
  readonly onProgress?: (e: LoadEvent) => void;
  /**
   * Context extension beyond the trained length: RoPE base to use instead of the config's (e.g.
   * NTK / LongLLaDA-style theta scaling) and the context limit to enforce instead of
   * `max_sequence_length`. Both change the model's behaviour; report them with any result.
   */
  readonly ropeTheta?: number;
  readonly maxLength?: number;
}

/** What to generate from: plain text, chat messages, or raw token ids (no template). */
export type PromptInput = string | readonly ChatMessage[] | { readonly inputIds: readonly number[] };

export interface ModelGenerateOptions extends GenerateOptions, FilterOptions {
  /** Apply the chat template to a string prompt (default: when the tokenizer has one). */
  readonly chat?: boolean;
  readonly chatOptions?: ChatOptions;
  readonly signal?: AbortSignal;
  /** Every forward: the full canvas, for visualisers. */
  readonly onStep?: (e: StepEvent) => void;
  /** Text deltas of the settled left part of the answer only (a DLM fills tokens anywhere). */
  readonly onText?: (delta: string) => void;
}

export interface GenerateOutput extends GenerationResult {
  /** Generated ids (without the prompt). */
  readonly generatedIds: number[];
  /** Decoded answer, cut at the first EOS / end-of-turn, special tokens skipped; null without a tokenizer. */
  readonly text: string | null;
}

/** A loaded diffusion LM. */
export class DiffusionModel {
  readonly dir: string;
  readonly spec: ModelSpec;
  readonly codec: TextCodec | null;
  readonly runtime: ModelRuntime;
  private readonly filters: FilterFactory;

  private constructor(dir: string, spec: ModelSpec, codec: TextCodec | null, runtime: ModelRuntime, threads?: number) {
    this.dir = dir;
    this.spec = spec;
    this.codec = codec;
    this.runtime = runtime;
    this.filters = new FilterFactory(spec, threads);
  }

  static async load(dir: string, opts: LoadOptions = {}): Promise<DiffusionModel> {
    const t0 = performance.now();
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new WavefilterError('file_not_found', `${dir}: model folder not found`, { file: dir });
    opts.onProgress?.({ status: 'initiate', dir });
    const spec = extendContext(readModelSpec(dir), opts);
    const store = TensorStore.open(dir);
    const bytes = [...store.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
    opts.onProgress?.({ status: 'checkpoint', files: store.files.length, tensors: store.tensors.size, bytes });
    const codec = TextCodec.load(dir);
    const t1 = performance.now();
    const runtime = await ModelRuntime.create(spec, store, { executionProvider: opts.device ?? 'cpu', dtype: opts.dtype ?? 'fp32', threads: opts.threads });
    opts.onProgress?.({ status: 'session', ms: performance.now() - t1 });
    opts.onProgress?.({ status: 'ready', ms: performance.now() - t0 });
    return new DiffusionModel(dir, spec, codec, runtime, opts.threads);
  }

  private requireCodec(): TextCodec {
    if (!this.codec) throw new WavefilterError('invalid_input', `${this.dir}: no tokenizer.json, so text prompts are not possible; pass token ids instead`, { file: this.dir });
    return this.codec;
  }

  /** Prompt token ids for an input. */
  encode(input: PromptInput, chat?: boolean, chatOptions?: ChatOptions): number[] {
    if (typeof input === 'object' && 'inputIds' in input) return [...input.inputIds];
    const codec = this.requireCodec();
    if (typeof input === 'string') {
      const useChat = chat ?? codec.hasChatTemplate;
      return useChat ? codec.encodeChat([{ role: 'user', content: input }], chatOptions) : codec.encodePrompt(input);
    }
    return codec.encodeChat(input as readonly ChatMessage[], chatOptions);
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

  async generate(input: PromptInput, opts: ModelGenerateOptions = {}): Promise<GenerateOutput> {
    const prompt = this.encode(input, opts.chat, opts.chatOptions);
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
    const filter = await this.filters.create(opts, opts.seed ?? 0);
    const hooks: GenerateHooks = { signal: opts.signal, onStep, filter };
    // A filter's speed comes from not recomputing the whole prompt at every block: unless told
    // otherwise, filtered generation refreshes the prompt once (WaveFilter's faithful preset keeps
    // the host's every-block refresh, as the paper does).
    const faithful = filter instanceof WaveFilter && filter.options.preset === 'faithful';
    const cached = (opts.cache ?? 'none') !== 'none';
    const promptRefresh = opts.promptRefresh ?? (filter && !faithful && cached ? 'first-block' : 'every-block');
    const r = await generateIds(this.runtime, prompt, { ...opts, promptRefresh }, hooks);
    const generatedIds = r.outputIds.slice(prompt.length);
    return { ...r, generatedIds, text: this.decodeAnswer(generatedIds) };
  }

  /** Logits of every position of one bidirectional forward pass, [T][V] (raw, before Dream's shift). */
  async logits(inputIds: readonly number[]): Promise<Float32Array[]> {
    const n = inputIds.length;
    if (n === 0) throw new WavefilterError('invalid_input', 'input ids are empty', { tokens: 0 });
    inputIds.forEach((id, i) => {
      if (!Number.isSafeInteger(id) || id < 0 || id >= this.spec.vocabSize)
        throw new WavefilterError('invalid_input', `input id ${i} is ${id}; expected an id in [0, ${this.spec.vocabSize})`, { index: i, found: String(id) });
    });
    if (n > this.spec.maxSequenceLength)
      throw new WavefilterError('prompt_too_long', `${n} input ids exceed the model's context of ${this.spec.maxSequenceLength}`, { tokens: n, limit: this.spec.maxSequenceLength });
    const idx = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
    const r = await this.runtime.forward({ inputIds: BigInt64Array.from(inputIds, (x) => BigInt(x)), positions: idx, logitRows: idx, past: null });
    const V = this.spec.vocabSize;
    return Array.from({ length: n }, (_, i) => r.logits.slice(i * V, (i + 1) * V));
  }

  async dispose(): Promise<void> {
    await this.filters.dispose();
    await this.runtime.dispose();
  }
}

function extendContext(spec: ModelSpec, opts: LoadOptions): ModelSpec {
  const { ropeTheta, maxLength } = opts;
  if (ropeTheta !== undefined && !(Number.isFinite(ropeTheta) && ropeTheta > 0))
    throw new WavefilterError('invalid_option', `ropeTheta: expected a positive number, found ${ropeTheta}`, { option: 'ropeTheta' });
  if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength > 0))
    throw new WavefilterError('invalid_option', `maxLength: expected a positive integer, found ${maxLength}`, { option: 'maxLength' });
  if (ropeTheta === undefined && maxLength === undefined) return spec;
  return { ...spec, ropeTheta: ropeTheta ?? spec.ropeTheta, maxSequenceLength: maxLength ?? spec.maxSequenceLength };
}

/** Loads a model folder in Hugging Face layout. */
export function loadModel(dir: string, opts: LoadOptions = {}): Promise<DiffusionModel> {
  return DiffusionModel.load(dir, opts);
}
