/**
 * The worker behind TextCodec: builds the tokenizer from the checkpoint's tokenizer.json and renders
 * chat templates, inside a thread with a heap limit whose caller gives every request a deadline
 * (see sync-worker.ts). Requests and replies are plain objects.
 */
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Tokenizer } from '@huggingface/tokenizers';
import { Environment, Template } from '@huggingface/jinja';

export type TextRequest =
  | { readonly op: 'encodeText'; readonly text: string }
  | { readonly op: 'encodeTrusted'; readonly text: string; readonly addSpecialTokens: boolean }
  | { readonly op: 'decode'; readonly ids: readonly number[]; readonly skipSpecialTokens: boolean }
  | { readonly op: 'render'; readonly source: string; readonly vars: Record<string, unknown>; readonly maxChars: number }
  | { readonly op: 'ping' }
  | { readonly op: 'load'; readonly init: TextWorkerInit };

export interface TextWorkerInit {
  /** null: a worker that only renders templates */
  readonly tokenizer: Record<string, unknown> | null;
  readonly config: Record<string, unknown>;
  readonly specialIds: readonly number[];
  readonly file: string;
}

/** Jinja2's sandbox caps range() at this many items (jinja2/sandbox.py MAX_RANGE). */
export const MAX_RANGE = 100_000;

type Callable<I, O> = ((x: I, o?: unknown) => O) | null;

class Fail extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** range() as Python and Jinja2's sandbox define it, refusing more than MAX_RANGE items. */
function cappedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  for (const v of [start, stop, step]) if (!Number.isInteger(v)) throw new Error('range() arguments must be integers');
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (n > MAX_RANGE) throw new Error(`Range too big. The sandbox blocks ranges larger than MAX_RANGE (${MAX_RANGE}).`);
  return Array.from({ length: n }, (_, i) => start + i * step);
}

// jinja's globals cannot be overridden through render() ("Variable already declared"), so the
// global range is swapped for the capped one where the globals are declared. This patch lives in
// this worker only.
const declare = Environment.prototype.set;
Environment.prototype.set = function set(this: Environment, name: string, value: unknown) {
  return declare.call(this, name, name === 'range' && this.parent === undefined ? cappedRange : value);
};

const { port, flag, init } = workerData as { port: MessagePort; flag: Int32Array; init: TextWorkerInit };

let tok: Tokenizer | null = null;
let initError: { code: string; message: string } | null = null;
let file = '';
let special = new Set<number>();

/** Builds the tokenizer of a checkpoint (at start, and on a `load` request). */
function load(i: TextWorkerInit): void {
  tok = null;
  initError = null;
  file = i.file;
  special = new Set(i.specialIds);
  if (i.tokenizer === null) return;
  try {
    tok = new Tokenizer(i.tokenizer, i.config);
  } catch (e) {
    initError = { code: 'invalid_tokenizer', message: `${i.file}: could not build the tokenizer (${(e as Error)?.message ?? String(e)})` };
  }
}
load(init);

function encodeText(t: Tokenizer, text: string): number[] {
  if (text.length === 0) return [];
  const parts = t as unknown as { normalizer: Callable<string, string>; pre_tokenizer: Callable<string, string[]>; model: Callable<string[], string[]> };
  const norm = parts.normalizer ? parts.normalizer(text) : text;
  const pieces = parts.pre_tokenizer ? parts.pre_tokenizer(norm, { section_index: 0 }) : [norm];
  const tokens = parts.model ? parts.model(pieces) : pieces;
  const ids = new Array<number>(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const id = t.token_to_id(tokens[i]);
    if (id === undefined) throw new Fail('invalid_tokenizer', `${file}: the model produced token ${JSON.stringify(tokens[i])} that has no id`);
    if (special.has(id)) throw new Fail('invalid_tokenizer', `${file}: text encoded to special token id ${id}`);
    ids[i] = id;
  }
  return ids;
}

function handle(req: TextRequest): unknown {
  if (req.op === 'ping') return true;
  if (req.op === 'load') {
    load(req.init);
    if (initError) throw new Fail(initError.code, initError.message);
    return true;
  }
  if (req.op === 'render') {
    const out = new Template(req.source).render(req.vars) as unknown;
    if (typeof out !== 'string') throw new Fail('template_error', 'chat template did not render to a string');
    if (out.length > req.maxChars) throw new Fail('template_error', `chat template rendered ${out.length} characters, over the ${req.maxChars} limit`);
    return out;
  }
  if (!tok) throw new Fail(initError?.code ?? 'invalid_tokenizer', initError?.message ?? 'no tokenizer');
  if (req.op === 'encodeText') return encodeText(tok, req.text);
  if (req.op === 'encodeTrusted') return tok.encode(req.text, { add_special_tokens: req.addSpecialTokens }).ids;
  return req.ids.length === 0 ? '' : tok.decode([...req.ids], { skip_special_tokens: req.skipSpecialTokens });
}

port.on('message', (req: TextRequest) => {
  let reply;
  try {
    reply = { ok: true, value: handle(req) };
  } catch (e) {
    const code = e instanceof Fail ? e.code : req.op === 'render' ? 'template_error' : 'invalid_tokenizer';
    reply = { ok: false, error: { code, message: (e as Error)?.message ?? String(e) } };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
