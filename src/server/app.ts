/**
 * `wavefilter serve`: an OpenAI-compatible HTTP server for a diffusion LM (fastify). Conventions:
 * ../shared/docs/architecture-and-gpu-notes.md (serving) and hostile-inputs-and-limits.md (server).
 *
 * - POST /v1/chat/completions and /v1/completions, plain and streamed (SSE). A DLM fills tokens
 *   anywhere, so a stream sends only the settled left part of the answer, append-only: text that may
 *   start a stop string or ends in an incomplete UTF-8 sequence is held (stop-stream.ts).
 *   finish_reason is `stop` (EOS / end of turn, or a stop string) or `length` (max_tokens); a
 *   request over its time limit gets a 504 (or, once streaming, an error event).
 * - DLM knobs as the documented request extension `dlm` ({block_length, threshold, cache, filter,
 *   budget}); defaults: dual cache, threshold 0.9, blocks of 32. `dlm.events` asks for the denoising
 *   canvas per step and a filter's kept rows per block, as extra chunks (no choices, a `wavefilter`
 *   field) that standard clients skip.
 * - GET /v1/models, /health (no key needed), /metrics (Prometheus text), /slots (slots busy, requests queued);
 *   POST /tokenize and /detokenize (llama.cpp's server convention: text to the model's ids and back).
 * - Limits: body size, max_tokens, prompt tokens (the model's context), time per request; a bounded
 *   queue (503 with Retry-After when full); a client that disconnects cancels its generation, which
 *   stops within one denoising step and frees the slot.
 * - Safe defaults: binds 127.0.0.1; optional API key (Bearer); no CORS headers; the Host header must
 *   be one of the allowed names (DNS rebinding); chat templates only from the checkpoint.
 *
 * - GET /: a page (page.ts) with a streaming chat, the live denoising canvas and the kept rows.
 *
 * Batching: up to `slots` generations (default 1) run at the same time, each with its own step loop
 * (cache, rule, events, cancellation); their forwards are packed into one ONNX Runtime run
 * (src/batch/), so requests that arrive together are decoded together, and one that arrives later
 * joins at its next step. Each gets the tokens it would get alone. On two CPU cores the forwards
 * are compute-bound and packing gains little (16 cores: 1.04-1.17x end to end); on an H100, 8 short requests at once ran 1.60x the
 * one-slot throughput (reports/batching/). Hence one slot by default here, and 8 from
 * `wavefilter serve --device cuda` (src/cli/commands/serve.ts).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { DiffusionModel, ModelGenerateOptions, PromptInput } from '../engine.js';
import type { LanePool } from '../lanes/pool.js';
import type { KeptEvent } from '../decode/generate.js';
import { WavefilterError } from '../errors.js';
import { JobQueue, QueueFullError } from './queue.js';
import { StopStream } from './stop-stream.js';
import { type ChatRequest, type CompletionRequest, chatSchema, completionSchema, describeInvalid, detokenizeSchema, plainMessages, tokenizeSchema } from './schema.js';
import { Metrics, type MetricsSnapshot } from './metrics.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';

export interface ServeOptions {
  /** The name /v1/models lists and responses carry. */
  readonly modelName: string;
  /** Bearer key every /v1 and /metrics request must carry; null: none. */
  readonly apiKey?: string | null;
  /** Host header names accepted (besides localhost, 127.0.0.1 and [::1]). */
  readonly allowedHosts?: readonly string[];
  /** Generations at a time (default 1). */
  readonly slots?: number;
  /**
   * Generations running at the same time share packed forwards (executor 'batch', src/batch/;
   * default true): their outputs are those each would have alone. On two CPU cores it gains
   * little; on an H100, 1.4-1.75x (reports/batching/). False: each runs its own forwards
   * (executor 'step').
   */
  readonly batch?: boolean;
  /**
   * Generations run in these worker threads, one per lane, each with its own model (src/lanes/):
   * the CPU's way to decode requests side by side. Slots are then the lanes; batch is off.
   */
  readonly lanes?: LanePool;
  /** Requests waiting for a slot before 503 (default 16). */
  readonly maxQueue?: number;
  /** Largest max_tokens accepted (default 1024); the default max_tokens is 128. */
  readonly maxTokens?: number;
  /** Time a request may take, queue included, in ms (default 300000). */
  readonly timeoutMs?: number;
  /** Largest request body in bytes (default 4 MiB). */
  readonly bodyLimit?: number;
}

/** Paths without the API key: the health check and the page's static files (its API calls carry the key). */
const OPEN_PATHS = new Set(['/health', '/', '/app.js', '/app.css', '/favicon.ico']);
/** The page's policy: only its own script, style and API (no inline code, no other origin). */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface OpenAiError {
  readonly status: number;
  readonly message: string;
  readonly type: string;
  readonly code: string;
  readonly param: string | null;
}

const httpError = (status: number, message: string, code: string, param: string | null = null): OpenAiError => ({
  status, message, code, param, type: status >= 500 ? 'server_error' : status === 401 ? 'authentication_error' : 'invalid_request_error',
});

/** The HTTP form of an engine error. */
function fromEngine(e: unknown): OpenAiError {
  if (e instanceof WavefilterError) {
    const param = (e.details as { option?: string; field?: string }).option ?? (e.details as { field?: string }).field ?? null;
    if (e.code === 'prompt_too_long') return httpError(400, e.message, 'context_length_exceeded', 'messages');
    if (e.code === 'out_of_memory') return httpError(503, e.message, 'out_of_memory');
    if (['invalid_option', 'invalid_input', 'template_error', 'template_timeout', 'tokenizer_timeout'].includes(e.code)) return httpError(400, e.message, e.code, param);
    return httpError(500, e.message, e.code);
  }
  return httpError(500, 'internal error', 'internal_error');
}

function sendError(reply: FastifyReply, err: OpenAiError): FastifyReply {
  return reply.code(err.status).send({ error: { message: err.message, type: err.type, code: err.code, param: err.param } });
}

interface Outcome {
  readonly text: string;
  readonly finish: 'stop' | 'length';
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** The server, and its counters as numbers (for the load test). */
export type WavefilterServer = FastifyInstance & { readonly metricsSnapshot: () => MetricsSnapshot };

export async function buildServer(model: DiffusionModel, o: ServeOptions): Promise<WavefilterServer> {
  const maxTokens = o.maxTokens ?? 1024;
  const timeoutMs = o.timeoutMs ?? 300_000;
  const lanes = o.lanes ?? null;
  const slots = lanes ? lanes.size : o.slots ?? 1;
  // one generation at a time has nothing to pack with; a lane runs one at a time
  const executor = !lanes && (o.batch ?? true) && slots > 1 ? 'batch' : 'step';
  const queue = new JobQueue(slots, o.maxQueue ?? 16);
  const metrics = new Metrics(queue);
  const allowed = new Set(['localhost', '127.0.0.1', '[::1]', '::1', ...(o.allowedHosts ?? [])].map((h) => h.toLowerCase()));
  const key = o.apiKey ? Buffer.from(o.apiKey) : null;
  const app = Fastify({ bodyLimit: o.bodyLimit ?? 4 * 2 ** 20, logger: false });

  app.addHook('onRequest', async (req, reply) => {
    // DNS rebinding: a page on another name must not reach a server on loopback
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!allowed.has(host)) return sendError(reply, httpError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed (serve --allowed-host NAME)`, 'host_not_allowed'));
    if (key && !OPEN_PATHS.has(req.url.split('?')[0] ?? '')) {
      const got = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
      if (got.length !== key.length || !timingSafeEqual(got, key)) return sendError(reply, httpError(401, 'a valid API key is required (Authorization: Bearer KEY)', 'invalid_api_key'));
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.request(req.routeOptions.url ?? 'unknown', reply.statusCode);
  });
  app.setErrorHandler((e: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, httpError(413, `the request body is over ${o.bodyLimit ?? 4 * 2 ** 20} bytes`, 'body_too_large'));
    if (e.statusCode === 400 || e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return sendError(reply, httpError(e.statusCode === 415 ? 415 : 400, `the request body is not valid JSON: ${e.message}`, 'invalid_json'));
    return sendError(reply, fromEngine(e));
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, httpError(404, `no route ${req.method} ${req.url.split('?')[0]}`, 'not_found')));

  const page = (type: string, body: string) => async (_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> =>
    reply.type(type).header('content-security-policy', PAGE_CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(body);
  app.get('/', page('text/html; charset=utf-8', PAGE_HTML));
  app.get('/app.js', page('text/javascript; charset=utf-8', PAGE_JS));
  app.get('/app.css', page('text/css; charset=utf-8', PAGE_CSS));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send()); // (browsers ask for it)
  const pieceOf = new Map<number, string>();
  const piece = (t: number): string => {
    let p = pieceOf.get(t);
    if (p === undefined) {
      p = model.codec ? model.codec.decode([t]) : String(t);
      if (pieceOf.size < 200_000) pieceOf.set(t, p);
    }
    return p;
  };
  app.get('/health', async () => ({ status: 'ok', model: o.modelName, queue: queue.depth, active: queue.active }));
  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: o.modelName, object: 'model', created: 0, owned_by: 'wavefilter' }] }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(metrics.text(executor === 'batch' ? await model.withBatcher(async (b) => b.stats()) : null)));

  /** Decodes one request; onEmit gets what may be sent of the answer's settled text as it grows (streaming). */
  const generate = async (input: PromptInput, r: ChatRequest | CompletionRequest, want: number, chat: boolean, signal: AbortSignal, onEmit: ((s: string) => void) | null, onStart: () => void, onEvent: ((e: Record<string, unknown>) => void) | null): Promise<Outcome> => {
    const dlm = r.dlm ?? {};
    const block = Math.min(dlm.block_length ?? 32, want);
    const genLength = Math.ceil(want / block) * block; // whole blocks; the answer is cut at max_tokens
    const stops = r.stop == null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
    const stream = new StopStream(stops);
    const stopIds = model.stopIds();
    let promptLength = 0;
    let stoppedByString = false;
    let shown = '';
    const watchText = onEmit !== null || stops.length > 0;
    let settledSeen = -1;
    const controller = new AbortController();
    const both = AbortSignal.any([signal, controller.signal]);
    const answerIds = (canvas: Int32Array, upTo: number): number[] => Array.from(canvas.subarray(promptLength, promptLength + Math.min(upTo, want)));
    const events = new Set(onEvent ? dlm.events ?? [] : []);
    const t0 = performance.now();
    onStart();
    // a lane takes token ids: the prompt is encoded here, with the one tokenizer
    const run = lanes ? (opts: ModelGenerateOptions) => lanes.generate({ inputIds: model.encode(input, chat) }, opts) : (opts: ModelGenerateOptions) => model.generate(input, opts);
    const out = await run({
      chat, genLength, blockLength: block, steps: genLength, threshold: dlm.threshold === undefined ? 0.9 : dlm.threshold,
      cache: dlm.cache ?? 'dual', filter: dlm.filter ?? 'none', budget: dlm.budget ?? null,
      temperature: r.temperature ?? 0, seed: r.seed ?? 0, ...(model.spec.family === 'dream' && r.top_p !== undefined ? { topP: r.top_p } : {}),
      // the step loop (alone or batched) checks the signal between forwards (the block program
      // only between blocks, inside one ORT run): a client that leaves frees its slot within one step
      allowLongContext: false, signal: both, executor,
      ...(events.has('kept') ? {
        onKept: (e: KeptEvent) => onEvent?.({ type: 'kept', block: e.block, prompt_length: promptLength, layers: e.tokens.map((t) => [...new Set(Array.from(t, Number).filter((p) => p >= 0))].sort((a, b) => a - b)) }),
      } : {}),
      onStep: (e) => {
        metrics.step(e.ms);
        promptLength = e.canvas.length - e.genLength;
        if (events.has('canvas'))
          onEvent?.({
            type: 'step', nfe: e.nfe, block: e.block, step: e.stepInBlock, refresh: e.refresh, settled: Math.min(e.settled, want),
            committed: e.committed.map((p) => p - promptLength).filter((p) => p < want),
            canvas: Array.from(e.canvas.subarray(promptLength, promptLength + want), (t) => (t === model.spec.maskTokenId ? null : t)),
            pieces: Array.from(e.canvas.subarray(promptLength, promptLength + want), (t) => (t === model.spec.maskTokenId ? null : piece(t))),
          });
        // the settled text is decoded (a tokenizer round trip) only when something reads it, and
        // only when it grew: a plain request without stop strings reads nothing until the end
        if (!watchText || e.settled === settledSeen) return;
        settledSeen = e.settled;
        const text = model.decodeAnswer(answerIds(e.canvas, e.settled)) ?? '';
        if (!text.startsWith(shown)) return; // a partial UTF-8 sequence decoded differently: wait
        shown = text;
        const { emit, stopped } = stream.push(text);
        if (emit && onEmit) onEmit(emit);
        if (stopped) {
          stoppedByString = true;
          controller.abort();
        }
      },
    });
    metrics.generation(out.nfe, performance.now() - t0, out.timings.ortMs);
    promptLength = out.promptLength;
    const ids = out.generatedIds.slice(0, want);
    const end = ids.findIndex((t) => stopIds.has(t));
    const text = model.decodeAnswer(ids) ?? ids.join(',');
    const fin = stream.finish(text);
    if (fin.emit && onEmit) onEmit(fin.emit);
    const stopped = stoppedByString || fin.stopped;
    const full = stopped ? text.slice(0, stream.firstStop(text) ?? text.length) : text;
    const decided = ids.findIndex((t) => t === model.spec.maskTokenId); // (an aborted answer stops where it was settled)
    const completionTokens = end >= 0 ? end : decided >= 0 ? decided : ids.length;
    metrics.tokens(completionTokens);
    if (signal.aborted && !stopped) throw signal.reason;
    return { text: full, finish: stopped || end >= 0 ? 'stop' : 'length', promptTokens: out.promptLength, completionTokens };
  };

  /** The request body as `schema` takes it, or null once a 400 naming what is wrong was sent. */
  const body = <T>(schema: { safeParse(x: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } }, req: FastifyRequest, reply: FastifyReply): T | null => {
    const parsed = schema.safeParse(req.body);
    if (parsed.success) return parsed.data;
    const d = describeInvalid(req.body, parsed.error);
    sendError(reply, httpError(400, d.message, 'invalid_request', d.param));
    return null;
  };
  const handle = (kind: 'chat' | 'completion') => async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const r = kind === 'chat' ? body(chatSchema, req, reply) : body(completionSchema, req, reply);
    if (!r) return reply;
    // (checked before the request waits for a slot)
    const want = r.max_completion_tokens ?? r.max_tokens ?? 128;
    if (want > maxTokens) return sendError(reply, httpError(400, `max_tokens ${want} is over this server's limit of ${maxTokens}`, 'max_tokens_too_large', 'max_tokens'));
    if (r.top_p !== undefined && r.top_p < 1 && model.spec.family !== 'dream')
      return sendError(reply, httpError(400, `top_p ${r.top_p}: this model (${model.spec.family}) has no nucleus filter; leave top_p out or at 1`, 'unsupported_parameter', 'top_p'));
    if (r.model !== undefined && r.model !== o.modelName) return sendError(reply, httpError(404, `model ${JSON.stringify(r.model)} is not served here (this server serves ${o.modelName})`, 'model_not_found', 'model'));
    const input: PromptInput = kind === 'chat' ? plainMessages((r as ChatRequest).messages) : (r as CompletionRequest).prompt;
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    // a client that leaves (or the time limit) cancels the request, queued or running
    const gone = new AbortController();
    let leftAt: number | null = null;
    const leave = (): void => {
      if (reply.raw.writableFinished || gone.signal.aborted) return;
      leftAt = performance.now();
      metrics.cancelled();
      gone.abort(new Error('the client disconnected'));
    };
    // (the socket outlives the request on keep-alive: its listener goes when the response closes)
    const socket = req.raw.socket;
    socket.on('close', leave);
    reply.raw.once('close', () => {
      leave();
      socket.off('close', leave);
    });
    const signal = AbortSignal.any([gone.signal, AbortSignal.timeout(timeoutMs)]);
    const run = (onEmit: ((s: string) => void) | null, onStart: () => void = () => {}, onEvent: ((e: Record<string, unknown>) => void) | null = null): Promise<Outcome> =>
      queue.run(() => generate(input, r, want, kind === 'chat', signal, onEmit, onStart, onEvent), signal).finally(() => {
        // the slot is free once run settles: how long a client that left kept it
        if (leftAt !== null) metrics.cancelFreed(performance.now() - leftAt);
      });
    const usage = (x: Outcome): Record<string, number> => ({ prompt_tokens: x.promptTokens, completion_tokens: x.completionTokens, total_tokens: x.promptTokens + x.completionTokens });
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    if (!r.stream) {
      try {
        const x = await run(null);
        const choice = kind === 'chat' ? { index: 0, message: { role: 'assistant', content: x.text }, finish_reason: x.finish } : { index: 0, text: x.text, finish_reason: x.finish, logprobs: null };
        return reply.send({ id, object, created, model: o.modelName, choices: [choice], usage: usage(x) });
      } catch (e) {
        return failed(reply, e, signal);
      }
    }
    // streaming: the first slot decides the status; after the headers, errors travel as an event
    let open = false;
    const openStream = (): void => {
      if (open) return;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      reply.raw.flushHeaders();
      open = true;
      if (kind === 'chat') chunk({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null });
    };
    const chunk = (choice: Record<string, unknown> | null, extra: Record<string, unknown> = {}): void => {
      openStream();
      reply.raw.write(`data: ${JSON.stringify({ id, object: `${object}${kind === 'chat' ? '.chunk' : ''}`, created, model: o.modelName, choices: choice ? [choice] : [], ...extra })}\n\n`);
    };
    const delta = (content: string): Record<string, unknown> => (kind === 'chat' ? { index: 0, delta: { content }, finish_reason: null } : { index: 0, text: content, finish_reason: null, logprobs: null });
    try {
      // the headers (and a chat's role) go out when the request gets its slot; a full queue is still a 503
      const x = await run((s) => chunk(delta(s)), openStream, (e) => chunk(null, { wavefilter: e }));
      chunk(kind === 'chat' ? { index: 0, delta: {}, finish_reason: x.finish } : { index: 0, text: '', finish_reason: x.finish, logprobs: null });
      if (r.stream_options?.include_usage) chunk(null, { usage: usage(x) });
      reply.raw.end('data: [DONE]\n\n');
    } catch (e) {
      if (!open) return failed(reply, e, signal);
      const err = e && typeof e === 'object' && 'status' in e ? (e as OpenAiError) : fromEngine(e);
      if (!reply.raw.destroyed) reply.raw.end(`data: ${JSON.stringify({ error: { message: err.message, type: err.type, code: err.code, param: err.param } })}\n\n`);
    }
  };

  const failed = (reply: FastifyReply, e: unknown, signal: AbortSignal): FastifyReply => {
    if (e instanceof QueueFullError) return sendError(reply.header('retry-after', '1'), httpError(503, `the server is busy: ${e.message}; retry later`, 'queue_full'));
    if (e && typeof e === 'object' && 'status' in e && 'code' in e) return sendError(reply, e as OpenAiError);
    if (signal.aborted) return sendError(reply, httpError(504, 'the request took longer than the server allows, or its client left', 'timeout'));
    return sendError(reply, fromEngine(e));
  };

  // token ids and text (llama.cpp's server endpoints), and the slots (what the queue holds)
  const codec = (reply: FastifyReply): NonNullable<DiffusionModel['codec']> | null => {
    if (model.codec) return model.codec;
    sendError(reply, httpError(400, 'this model has no tokenizer (tokenizer.json): it takes token ids only', 'no_tokenizer'));
    return null;
  };
  app.post('/tokenize', async (req, reply) => {
    const r = body(tokenizeSchema, req, reply);
    const c = r && codec(reply);
    if (!r || !c) return reply;
    try {
      return { tokens: r.add_special ? c.encodePrompt(r.content) : c.encodeText(r.content) };
    } catch (e) {
      return sendError(reply, fromEngine(e));
    }
  });
  app.post('/detokenize', async (req, reply) => {
    const r = body(detokenizeSchema, req, reply);
    const c = r && codec(reply);
    if (!r || !c) return reply;
    const bad = r.tokens.findIndex((t) => t >= model.spec.vocabSize);
    if (bad >= 0) return sendError(reply, httpError(400, `tokens[${bad}] = ${r.tokens[bad]} is not a token id of this model (vocabulary ${model.spec.vocabSize})`, 'invalid_request', `tokens.${bad}`));
    try {
      return { content: c.decode(r.tokens, false) };
    } catch (e) {
      return sendError(reply, fromEngine(e));
    }
  });
  app.get('/slots', async () => ({ total: slots, processing: queue.active, queued: queue.depth, max_queued: o.maxQueue ?? 16 }));

  app.post('/v1/chat/completions', handle('chat'));
  app.post('/v1/completions', handle('completion'));
  app.decorate('metricsSnapshot', () => metrics.snapshot());
  return app as unknown as WavefilterServer;
}
