/**
 * Tokenizer (`tokenizer.json`, via @huggingface/tokenizers) and chat template
 * (`tokenizer_config.json`, via @huggingface/jinja).
 *
 * Hazards measured in these dependencies shape this module:
 * - `Tokenizer.encode` turns special-token text inside a string into the special token, so a prompt
 *   containing "<|mdm_mask|>" would inject a mask id. Message contents have every added-token
 *   string replaced by a placeholder before the template renders; the placeholders are encoded as
 *   text, everything else as the Python reference does (render, then tokenize the whole string).
 * - jinja has no work limit (a 60-byte template ran 63 s, `range(10**9)` exhausts the heap) and a
 *   tokenizer.json ships its own pre-tokenizer regex (a catastrophic one pins the CPU). Both run in
 *   a worker thread with a heap limit and a deadline per request (sync-worker.ts), with Jinja2's
 *   sandbox cap on range(); the process survives whatever the files do.
 * - Characters are capped before tokenizing (the caller passes the cap; see engine.ts).
 */
import { join } from 'node:path';
import { WavefilterError, type ErrorCode } from '../errors.js';
import { MiB, readUserJson, regularFileSize } from '../files.js';
import { SyncWorker, SyncWorkerTimeout, siblingWorker } from './sync-worker.js';
import type { TextRequest, TextWorkerInit } from './text-worker.js';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface ChatOptions {
  readonly addGenerationPrompt?: boolean;
  /** Render budget in milliseconds (default 2000). */
  readonly timeoutMs?: number;
  /** Extra template variables (e.g. enable_thinking). */
  readonly variables?: Readonly<Record<string, string | number | boolean>>;
}

/** Longest rendered template we accept (a hostile template could build a huge string quickly). */
const MAX_RENDER_CHARS = 10_000_000;
/** tokenizer.json of a 150K-vocabulary model is about 7 MB; tokenizer_config.json is small. */
const MAX_TOKENIZER_BYTES = 64 * MiB;
const MAX_TOKENIZER_CONFIG_BYTES = 16 * MiB;
/** Heap of the text worker (the largest real tokenizers need well under this). */
const WORKER_HEAP_MB = 768;
/**
 * Tokenization deadline: a fixed allowance plus time per character. BPE on ordinary text runs at
 * 100K+ characters per second here; the cap before tokenizing bounds the input, so only a
 * pathological tokenizer (a catastrophic regex) meets this deadline.
 */
const TOKENIZE_BASE_MS = 5_000;
const TOKENIZE_MS_PER_CHAR = 0.05;
const DECODE_MS = 5_000;

// Private-use sentinels: message placeholders while the template renders.
const SENT_OPEN = '\u{F0000}';
const SENT_CLOSE = '\u{F0001}';

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

function workerUrl(): URL {
  return siblingWorker(import.meta.url, 'text-worker');
}

/** Time budget of tokenization (defaults: TOKENIZE_BASE_MS + TOKENIZE_MS_PER_CHAR per character). */
export interface TextLimits {
  readonly tokenizeBaseMs?: number;
  readonly tokenizeMsPerChar?: number;
}

/**
 * Validates the parsed tokenizer.json and tokenizer_config.json (structure, added tokens, chat
 * template shape) into what the worker builds the tokenizer from. Pure: no files, no worker.
 */
export function parseTokenizerFiles(json: unknown, config: unknown, file: string, cfgFile: string): { init: TextWorkerInit; template: string | null; addedStrings: string[] } {
  const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!obj(json) || !obj(json.model))
    throw new WavefilterError('invalid_tokenizer', `${file}: field model: expected an object describing the tokenizer model`, { file, field: 'model' });
  if (!obj(config)) throw new WavefilterError('invalid_tokenizer', `${cfgFile}: expected a JSON object`, { file: cfgFile });
  if (json.added_tokens !== undefined && json.added_tokens !== null && !Array.isArray(json.added_tokens))
    throw new WavefilterError('invalid_tokenizer', `${file}: field added_tokens: expected an array`, { file, field: 'added_tokens' });
  const specialIds: number[] = [];
  const addedStrings: string[] = [];
  for (const t of (json.added_tokens ?? []) as unknown[]) {
    const e = t as { id?: unknown; special?: unknown; content?: unknown } | null;
    if (!obj(e) || !Number.isSafeInteger(e.id) || (e.id as number) < 0 || typeof e.content !== 'string' || e.content.length === 0)
      throw new WavefilterError('invalid_tokenizer', `${file}: field added_tokens: each entry needs a non-negative integer id and a non-empty content string`, { file, field: 'added_tokens' });
    if (e.special !== false) specialIds.push(e.id as number);
    addedStrings.push(e.content);
  }
  let template: string | null = null;
  const ct = config.chat_template;
  if (typeof ct === 'string') template = ct;
  else if (Array.isArray(ct)) {
    const def = (ct as unknown[]).find((t) => obj(t) && t.name === 'default') as { template?: unknown } | undefined;
    template = typeof def?.template === 'string' ? def.template : null;
  } else if (ct !== undefined && ct !== null) {
    throw new WavefilterError('invalid_tokenizer', `${cfgFile}: field chat_template: expected a string or a list of {name, template}`, { file: cfgFile, field: 'chat_template' });
  }
  // Longest strings first, so that a placeholder covers the longest added token at a position.
  addedStrings.sort((a, b) => b.length - a.length);
  return { init: { tokenizer: json, config, specialIds, file }, template, addedStrings };
}

/** A worker running the text worker (for tools that drive it directly, e.g. the fuzz suite). */
export function createTextWorker(init: TextWorkerInit): SyncWorker {
  return new SyncWorker({ url: workerUrl(), init, maxOldGenerationSizeMb: WORKER_HEAP_MB, startupMs: 20_000 });
}

/** A checkpoint's tokenizer plus its chat template. */
export class TextCodec {
  readonly hasChatTemplate: boolean;
  private readonly template: string | null;
  private readonly config: Record<string, unknown>;
  /** Added-token strings (special or not): encode() would match them anywhere in a string. */
  private readonly addedStrings: readonly string[];
  private readonly addedFirst: ReadonlySet<string>;
  private readonly specialIds: ReadonlySet<number>;
  private readonly file: string;
  private readonly worker: SyncWorker;
  private readonly prefix: readonly number[];

  private readonly limits: Required<TextLimits>;

  private constructor(init: TextWorkerInit, template: string | null, addedStrings: string[], limits: TextLimits = {}) {
    this.limits = { tokenizeBaseMs: limits.tokenizeBaseMs ?? TOKENIZE_BASE_MS, tokenizeMsPerChar: limits.tokenizeMsPerChar ?? TOKENIZE_MS_PER_CHAR };
    this.config = init.config;
    this.template = template;
    this.hasChatTemplate = template !== null;
    this.specialIds = new Set(init.specialIds);
    this.addedStrings = addedStrings;
    this.addedFirst = new Set(addedStrings.map((a) => a[0]));
    this.file = init.file;
    this.worker = createTextWorker(init);
    // Builds the tokenizer in the worker (an error in tokenizer.json surfaces here, at load).
    this.prefix = this.call({ op: 'encodeTrusted', text: '', addSpecialTokens: true }, this.limits.tokenizeBaseMs, 'tokenizer_timeout') as number[];
  }

  /** Loads `tokenizer.json` (+ `tokenizer_config.json` when present); null when the folder has no tokenizer. */
  static load(dir: string, limits?: TextLimits): TextCodec | null {
    const file = join(dir, 'tokenizer.json');
    try {
      regularFileSize(file, 'tokenizer');
    } catch (e) {
      if (e instanceof WavefilterError && e.code === 'file_not_found') return null;
      throw e;
    }
    const json = readUserJson(file, { what: 'tokenizer', maxBytes: MAX_TOKENIZER_BYTES }, 'invalid_tokenizer');
    const cfgFile = join(dir, 'tokenizer_config.json');
    let config: unknown = {};
    let hasConfig = true;
    try {
      regularFileSize(cfgFile, 'tokenizer config');
    } catch (e) {
      if (!(e instanceof WavefilterError && e.code === 'file_not_found')) throw e;
      hasConfig = false;
    }
    if (hasConfig) config = readUserJson(cfgFile, { what: 'tokenizer config', maxBytes: MAX_TOKENIZER_CONFIG_BYTES }, 'invalid_tokenizer');
    const files = parseTokenizerFiles(json, config, file, cfgFile);
    return new TextCodec(files.init, files.template, files.addedStrings, limits);
  }

  private call(req: TextRequest, timeoutMs: number, timeoutCode: ErrorCode): unknown {
    let reply;
    try {
      reply = this.worker.call(req, timeoutMs);
    } catch (e) {
      if (!(e instanceof SyncWorkerTimeout)) throw e;
      const what = req.op === 'render' ? 'chat template did not finish rendering' : `${this.file}: tokenization did not finish`;
      throw new WavefilterError(timeoutCode, `${what} within ${timeoutMs} ms (or exceeded its ${WORKER_HEAP_MB} MB memory budget)`, { limit_ms: timeoutMs, file: this.file });
    }
    if (reply.ok) return reply.value;
    const code = (reply.error.code ?? 'invalid_tokenizer') as ErrorCode;
    const message = code === 'template_error' && !reply.error.message.startsWith('chat template') ? `chat template failed: ${reply.error.message}` : reply.error.message;
    throw new WavefilterError(code, message, { file: this.file });
  }

  private tokenizeMs(text: string): number {
    return this.limits.tokenizeBaseMs + text.length * this.limits.tokenizeMsPerChar;
  }

  /** Encodes untrusted text as text: special-token strings inside it stay ordinary characters. */
  encodeText(text: string): number[] {
    if (text.length === 0) return [];
    return this.call({ op: 'encodeText', text }, this.tokenizeMs(text), 'tokenizer_timeout') as number[];
  }

  /** Encodes trusted text (a rendered template): special-token strings become special tokens. */
  encodeTrusted(text: string, addSpecialTokens = false): number[] {
    return this.call({ op: 'encodeTrusted', text, addSpecialTokens }, this.tokenizeMs(text), 'tokenizer_timeout') as number[];
  }

  /** A raw prompt (no chat template): the tokenizer's own prefix (e.g. BOS) + the text encoded as text. */
  encodePrompt(text: string): number[] {
    return this.prefix.concat(this.encodeText(text));
  }

  /** Renders the chat template to a string within the render budget (Jinja2's range cap applies). */
  render(vars: Record<string, unknown>, timeoutMs = 2000): string {
    if (!this.template) throw new WavefilterError('template_error', `${this.file}: the tokenizer has no chat_template`, { file: this.file });
    return this.call({ op: 'render', source: this.template, vars, maxChars: MAX_RENDER_CHARS }, timeoutMs, 'template_timeout') as string;
  }

  /**
   * Renders the chat template and encodes it as the Python reference does (render with the real
   * contents, so filters like `trim` apply; then tokenize the whole string), except that an
   * added-token string inside a message is encoded as text. Checked: the special ids of the result
   * are exactly those the template produces on its own (a content that completes a special token
   * with the template's text around it would add one); where they are not, contents are encoded
   * separately from the template text, as whole messages.
   */
  encodeChat(messages: readonly ChatMessage[], opts: ChatOptions = {}): number[] {
    if (!this.template) throw new WavefilterError('template_error', `${this.file}: the tokenizer has no chat_template`, { file: this.file });
    messages.forEach((m, i) => {
      if (m === null || typeof m !== 'object' || typeof m.role !== 'string' || typeof m.content !== 'string')
        throw new WavefilterError('invalid_input', `message ${i}: expected {role: string, content: string}`, { index: i });
    });
    const vars = (msgs: ReadonlyArray<{ role: string; content: string }>): Record<string, unknown> => ({
      messages: msgs,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: tokenText(this.config.bos_token) ?? '',
      eos_token: tokenText(this.config.eos_token) ?? '',
      pad_token: tokenText(this.config.pad_token) ?? '',
      unk_token: tokenText(this.config.unk_token) ?? '',
      ...(opts.variables ?? {}),
    });
    const timeout = opts.timeoutMs ?? 2000;
    // 1. Skeleton: placeholders for whole contents; its special ids are the template's own.
    const skeleton = this.render(vars(messages.map((m, i) => ({ role: m.role, content: `${SENT_OPEN}m${i}${SENT_CLOSE}` }))), timeout);
    const skeletonIds = this.splitEncode(skeleton, (k) => (k.startsWith('m') ? this.encodeText(messages[Number(k.slice(1))].content) : null));
    // 2. Real contents with added-token strings (and our sentinels) replaced by placeholders.
    const table: string[] = [];
    const neutral = messages.map((m) => ({ role: m.role, content: this.neutralize(m.content, table) }));
    const rendered = this.render(vars(neutral), timeout);
    let ids: number[] | null = null;
    try {
      ids = this.splitEncode(rendered, (k) => (/^\d+$/.test(k) && Number(k) < table.length ? this.encodeText(table[Number(k)]) : null));
    } catch (e) {
      if (!(e instanceof WavefilterError && e.code === 'template_error')) throw e;
    }
    if (ids && sameSpecials(this.specialIds, ids, skeletonIds)) return ids;
    return skeletonIds;
  }

  /** Replaces every added-token string and sentinel character in `text` with a placeholder into `table`. */
  private neutralize(text: string, table: string[]): string {
    let out = '';
    let i = 0;
    outer: while (i < text.length) {
      if (this.addedFirst.has(text[i])) for (const s of this.addedStrings)
        if (text.startsWith(s, i)) {
          out += `${SENT_OPEN}${table.push(s) - 1}${SENT_CLOSE}`;
          i += s.length;
          continue outer;
        }
      const cp = text.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      if (ch === SENT_OPEN || ch === SENT_CLOSE) out += `${SENT_OPEN}${table.push(ch) - 1}${SENT_CLOSE}`;
      else out += ch;
      i += ch.length;
    }
    return out;
  }

  /** Encodes rendered text: trusted between placeholders, each placeholder by `fill` (null: a forged placeholder). */
  private splitEncode(rendered: string, fill: (key: string) => number[] | null): number[] {
    const ids: number[] = [];
    const append = (xs: readonly number[]): void => {
      for (const x of xs) ids.push(x);
    };
    const re = new RegExp(`${SENT_OPEN}([^${SENT_OPEN}${SENT_CLOSE}]*)${SENT_CLOSE}`, 'gu');
    let last = 0;
    for (const m of rendered.matchAll(re)) {
      const piece = rendered.slice(last, m.index);
      if (piece.includes(SENT_OPEN) || piece.includes(SENT_CLOSE)) stray(this.file);
      append(this.encodeTrusted(piece));
      const filled = fill(m[1]);
      if (!filled) stray(this.file);
      append(filled as number[]);
      last = (m.index ?? 0) + m[0].length;
    }
    const tail = rendered.slice(last);
    if (tail.includes(SENT_OPEN) || tail.includes(SENT_CLOSE)) stray(this.file);
    append(this.encodeTrusted(tail));
    return ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.call({ op: 'decode', ids: [...ids], skipSpecialTokens }, DECODE_MS, 'tokenizer_timeout') as string;
  }

  /** Stops the worker (it never keeps the process alive; this frees its memory early). */
  dispose(): void {
    this.worker.terminate();
  }
}

function stray(file: string): never {
  throw new WavefilterError('template_error', `${file}: the chat template altered or dropped message contents, so they cannot be encoded safely as text`, { file });
}

/** Whether two id lists hold the same special ids in the same order. */
function sameSpecials(special: ReadonlySet<number>, a: readonly number[], b: readonly number[]): boolean {
  const sa = a.filter((x) => special.has(x));
  const sb = b.filter((x) => special.has(x));
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

/**
 * Renders a jinja template within `timeoutMs` in a throwaway worker (heap-limited, Jinja2's range
 * cap); a template that runs longer is stopped with `template_timeout`.
 */
export function renderTemplate(source: string, vars: Record<string, unknown>, timeoutMs: number): string {
  const w = createTextWorker({ tokenizer: null, config: {}, specialIds: [], file: 'chat template' });
  try {
    let reply;
    try {
      reply = w.call({ op: 'render', source, vars, maxChars: MAX_RENDER_CHARS }, timeoutMs);
    } catch (e) {
      if (e instanceof SyncWorkerTimeout)
        throw new WavefilterError('template_timeout', `chat template did not finish rendering within ${timeoutMs} ms (or exceeded its ${WORKER_HEAP_MB} MB memory budget)`, { limit_ms: timeoutMs });
      throw e;
    }
    if (reply.ok) return reply.value as string;
    const msg = reply.error.message;
    throw new WavefilterError('template_error', msg.startsWith('chat template') ? msg : `chat template failed: ${msg}`);
  } finally {
    w.terminate();
  }
}
