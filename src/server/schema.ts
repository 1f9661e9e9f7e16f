/**
 * The request bodies the server accepts, validated with zod: the OpenAI fields a diffusion LM can
 * honour, the DLM knobs under one documented extension object (`dlm`), and a 400 that names every
 * field it cannot honour (tools, logprobs, ...) or does not know, rather than ignoring it.
 */
import { z } from 'zod';

/** Fields of the OpenAI API this server cannot honour: named in the 400 (user-expectations.md). */
const UNSUPPORTED = ['tools', 'tool_choice', 'functions', 'function_call', 'response_format', 'logprobs', 'top_logprobs', 'logit_bias', 'presence_penalty', 'frequency_penalty', 'audio', 'modalities', 'prediction', 'parallel_tool_calls', 'best_of', 'echo', 'suffix'] as const;

/** DLM decoding knobs (a request extension; absent fields take the server's defaults). */
export const dlmSchema = z.strictObject({
  block_length: z.number().int().min(1).max(4096).optional(),
  /** Fast-dLLM's confidence threshold in (0, 1]; null: one token per step. */
  threshold: z.number().gt(0).max(1).nullable().optional(),
  cache: z.enum(['none', 'prefix', 'dual']).optional(),
  filter: z.enum(['none', 'wavefilter', 'snapkv', 'h2o', 'streaming', 'sparse-dllm', 'random']).optional(),
  budget: z.number().gt(0).max(1_000_000).optional(),
  /**
   * Streamed extras, off unless asked for: 'canvas' (every denoising step: the answer's tokens, null
   * where still masked, and the positions just committed) and 'kept' (a token filter's kept prompt
   * rows per layer, after each block). They travel in chunks with no choices, under `wavefilter`.
   */
  events: z.array(z.enum(['canvas', 'kept'])).max(2).optional(),
});
export type DlmKnobs = z.infer<typeof dlmSchema>;

const stop = z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(4)]).optional();
const common = {
  model: z.string().max(256).optional(),
  max_tokens: z.number().int().min(1).optional(),
  max_completion_tokens: z.number().int().min(1).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  stream: z.boolean().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  stop: stop.nullable(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  n: z.literal(1).optional(),
  user: z.string().max(256).optional(),
  dlm: dlmSchema.optional(),
};

const message = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.union([z.string(), z.array(z.strictObject({ type: z.literal('text'), text: z.string() }))]),
  name: z.string().max(64).optional(),
});

export const chatSchema = z.strictObject({ ...common, messages: z.array(message).min(1).max(256) });
export const completionSchema = z.strictObject({ ...common, prompt: z.string() });
export type ChatRequest = z.infer<typeof chatSchema>;
export type CompletionRequest = z.infer<typeof completionSchema>;

/** The request's problem in one sentence, naming fields (unsupported ones first). */
export function describeInvalid(body: unknown, error: z.ZodError): { message: string; param: string | null } {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const bad = UNSUPPORTED.filter((k) => k in body);
    if (bad.length) return { message: `not supported by a diffusion LM server: ${bad.join(', ')}`, param: bad[0] as string };
  }
  const first = error.issues[0];
  const path = first?.path.join('.') ?? '';
  if (first?.code === 'unrecognized_keys') {
    const keys = (first as { keys: string[] }).keys;
    const where = path ? `${path}.` : '';
    return { message: `unknown field${keys.length > 1 ? 's' : ''}: ${keys.map((k) => where + k).join(', ')}`, param: where + (keys[0] ?? '') };
  }
  return { message: `${path || 'body'}: ${first?.message ?? 'invalid request'}`, param: path || null };
}

/** Message contents as plain strings (text parts joined). */
export function plainMessages(messages: ChatRequest['messages']): { role: string; content: string }[] {
  return messages.map((m) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('') }));
}

/** POST /tokenize (llama.cpp's server convention): text to the model's token ids. */
export const tokenizeSchema = z.strictObject({
  content: z.string(),
  /** true: as a raw prompt (the tokenizer's special prefix, e.g. BOS); false (default): the text alone. */
  add_special: z.boolean().optional(),
});

/** POST /detokenize: token ids to text (special tokens kept, so it shows what the ids are). */
export const detokenizeSchema = z.strictObject({
  tokens: z.array(z.number().int().min(0)).max(1_000_000),
});
