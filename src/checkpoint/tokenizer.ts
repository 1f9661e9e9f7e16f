/**
 * Tokenizer (`tokenizer.json`, via @huggingface/tokenizers) and chat template
 * (`tokenizer_config.json`, via @huggingface/jinja).
 *
 * Two hazards measured in these dependencies shape this module:
 * - `Tokenizer.encode` turns special-token text inside a string into the special token, so a prompt
 *   containing "<|mdm_mask|>" would inject a mask id. User text is therefore encoded *as text*
 *   (normalizer, pre-tokenizer and model only), and only template text is parsed for special tokens.
 * - jinja has no work limit (a 60-byte template ran 63 s), so templates render inside a vm context
 *   whose timeout interrupts the render.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { WavefilterError } from '../errors.js';

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

// Private-use sentinels stand in for message contents while the template renders.
const SENT_OPEN = '\u{F0000}';
const SENT_CLOSE = '\u{F0001}';

type Callable<I, O> = ((x: I, o?: unknown) => O) | null;

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/** A checkpoint's tokenizer plus its chat template. */
export class TextCodec {
  readonly hasChatTemplate: boolean;
  private readonly tok: Tokenizer;
  private readonly template: string | null;
  private readonly config: Record<string, unknown>;
  private readonly specialIds: Set<number>;
  private readonly file: string;

  private constructor(tok: Tokenizer, config: Record<string, unknown>, template: string | null, specialIds: Set<number>, file: string) {
    this.tok = tok;
    this.config = config;
    this.template = template;
    this.hasChatTemplate = template !== null;
    this.specialIds = specialIds;
    this.file = file;
  }

  /** Loads `tokenizer.json` (+ `tokenizer_config.json` when present); null when the folder has no tokenizer. */
  static load(dir: string): TextCodec | null {
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) return null;
    const cfgFile = join(dir, 'tokenizer_config.json');
    let json: Record<string, unknown>;
    let config: Record<string, unknown> = {};
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new WavefilterError('invalid_tokenizer', `${file}: not valid JSON (${(e as Error).message})`, { file });
    }
    if (existsSync(cfgFile)) {
      try {
        config = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
      } catch (e) {
        throw new WavefilterError('invalid_tokenizer', `${cfgFile}: not valid JSON (${(e as Error).message})`, { file: cfgFile });
      }
    }
    if (json === null || typeof json !== 'object' || typeof json.model !== 'object' || json.model === null)
      throw new WavefilterError('invalid_tokenizer', `${file}: field model: expected an object describing the tokenizer model`, { file, field: 'model' });
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(json, config);
    } catch (e) {
      throw new WavefilterError('invalid_tokenizer', `${file}: could not build the tokenizer (${(e as Error).message})`, { file });
    }
    const specialIds = new Set<number>();
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id?: unknown; special?: unknown }>) : [];
    for (const t of added) if (typeof t.id === 'number' && t.special !== false) specialIds.add(t.id);
    let template: string | null = null;
    const ct = config.chat_template;
    if (typeof ct === 'string') template = ct;
    else if (Array.isArray(ct)) {
      const def = (ct as Array<{ name?: string; template?: string }>).find((t) => t.name === 'default');
      template = def?.template ?? null;
    }
    return new TextCodec(tok, config, template, specialIds, file);
  }

  /** Encodes untrusted text as text: special-token strings inside it stay ordinary characters. */
  encodeText(text: string): number[] {
    if (text.length === 0) return [];
    const t = this.tok as unknown as { normalizer: Callable<string, string>; pre_tokenizer: Callable<string, string[]>; model: Callable<string[], string[]> };
    const norm = t.normalizer ? t.normalizer(text) : text;
    const pieces = t.pre_tokenizer ? t.pre_tokenizer(norm, { section_index: 0 }) : [norm];
    const tokens = t.model ? t.model(pieces) : pieces;
    return tokens.map((s) => {
      const id = this.tok.token_to_id(s);
      if (id === undefined) throw new WavefilterError('invalid_tokenizer', `${this.file}: the model produced token ${JSON.stringify(s)} that has no id`, { file: this.file });
      if (this.specialIds.has(id)) throw new WavefilterError('invalid_tokenizer', `${this.file}: text encoded to special token id ${id}`, { file: this.file });
      return id;
    });
  }

  /** Encodes trusted text (a rendered template): special-token strings become special tokens. */
  encodeTrusted(text: string, addSpecialTokens = false): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Ids a plain prompt gets around it (e.g. BOS), as the tokenizer's post-processor adds them. */
  private specialPrefix(): number[] {
    return this.tok.encode('', { add_special_tokens: true }).ids;
  }

  /** A raw prompt (no chat template): the tokenizer's own prefix (e.g. BOS) + the text encoded as text. */
  encodePrompt(text: string): number[] {
    return [...this.specialPrefix(), ...this.encodeText(text)];
  }

  /** Renders the chat template and encodes it; message contents are encoded as text. */
  encodeChat(messages: readonly ChatMessage[], opts: ChatOptions = {}): number[] {
    if (!this.template) throw new WavefilterError('template_error', `${this.file}: the tokenizer has no chat_template`, { file: this.file });
    messages.forEach((m, i) => {
      if (typeof m.role !== 'string' || typeof m.content !== 'string')
        throw new WavefilterError('invalid_input', `message ${i}: expected {role: string, content: string}`, { index: i });
    });
    const contents = messages.map((m) => m.content);
    const masked = messages.map((m, i) => ({ role: m.role, content: `${SENT_OPEN}${i}${SENT_CLOSE}` }));
    const vars: Record<string, unknown> = {
      messages: masked,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: tokenText(this.config.bos_token) ?? '',
      eos_token: tokenText(this.config.eos_token) ?? '',
      pad_token: tokenText(this.config.pad_token) ?? '',
      unk_token: tokenText(this.config.unk_token) ?? '',
      ...(opts.variables ?? {}),
    };
    const rendered = renderTemplate(this.template, vars, opts.timeoutMs ?? 2000);
    const ids: number[] = [];
    const re = new RegExp(`${SENT_OPEN}(\\d+)${SENT_CLOSE}`, 'gu');
    let last = 0;
    const seen = new Set<number>();
    let stray = false;
    const trusted = (piece: string): number[] => {
      if (piece.includes(SENT_OPEN) || piece.includes(SENT_CLOSE)) stray = true;
      return this.encodeTrusted(piece);
    };
    for (const m of rendered.matchAll(re)) {
      ids.push(...trusted(rendered.slice(last, m.index)));
      const i = Number(m[1]);
      seen.add(i);
      ids.push(...this.encodeText(contents[i]));
      last = (m.index ?? 0) + m[0].length;
    }
    ids.push(...trusted(rendered.slice(last)));
    if (stray || seen.size !== messages.length)
      throw new WavefilterError('template_error', `${this.file}: the chat template altered or dropped message contents, so they cannot be encoded safely as text`, { file: this.file });
    return ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }
}

/** Renders a jinja template within `timeoutMs`; a template that runs longer is stopped with `template_timeout`. */
export function renderTemplate(source: string, vars: Record<string, unknown>, timeoutMs: number): string {
  let out: unknown;
  try {
    out = vm.runInNewContext('render()', { render: () => new Template(source).render(vars) }, { timeout: timeoutMs });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')
      throw new WavefilterError('template_timeout', `chat template did not finish rendering within ${timeoutMs} ms`, { limit_ms: timeoutMs });
    throw new WavefilterError('template_error', `chat template failed: ${err.message ?? String(e)}`);
  }
  if (typeof out !== 'string') throw new WavefilterError('template_error', 'chat template did not render to a string');
  if (out.length > MAX_RENDER_CHARS) throw new WavefilterError('template_error', `chat template rendered ${out.length} characters, over the ${MAX_RENDER_CHARS} limit`);
  return out;
}
