/**
 * A strict JSON reader for safetensors headers, where `JSON.parse` differs from the reference
 * reader (serde_json) in ways an attacker can use (../shared/docs/hostile-inputs-and-limits.md §1.3):
 * it keeps the last of duplicate keys, rounds integers above 2^53, reads `16.0` and `1e1` as
 * integers, accepts lone surrogates and any nesting depth. This parser keeps numbers as their
 * source text (the caller decides what an integer is), reports duplicate keys, bounds nesting and
 * rejects strings that are not well-formed Unicode. Grammar: RFC 8259, whitespace around values.
 */

export type JsonNode =
  | { readonly kind: 'object'; readonly entries: ReadonlyMap<string, JsonNode>; readonly order: readonly string[] }
  | { readonly kind: 'array'; readonly items: readonly JsonNode[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly raw: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'null' };

export class StrictJsonError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at character ${offset}`);
  }
}

export interface StrictJsonOptions {
  /** Deepest nesting of objects and arrays (huggingface.js uses 64; serde_json stops at 128). */
  readonly maxDepth: number;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WS = /[ \t\n\r]*/y;
/** A UTF-16 surrogate without its pair (not Unicode text). */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Parses `text` strictly; throws StrictJsonError naming the rule and the offset. */
export function parseStrictJson(text: string, opts: StrictJsonOptions): JsonNode {
  let i = 0;
  const ws = (): void => {
    WS.lastIndex = i;
    WS.exec(text);
    i = WS.lastIndex;
  };
  const fail = (msg: string): never => {
    throw new StrictJsonError(msg, i);
  };
  const str = (): string => {
    // i at the opening quote
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        break;
      }
      if (c < 0x20) fail('control character in a string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const m: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
          if (e === undefined || !(e in m)) fail('bad escape');
          out += m[e as string];
          i += 2;
        }
        start = i;
        continue;
      }
      i++;
    }
    if (LONE_SURROGATE.test(out)) fail('lone surrogate in a string');
    return out;
  };
  const value = (depth: number): JsonNode => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= opts.maxDepth) fail(`nesting deeper than ${opts.maxDepth}`);
      i++;
      ws();
      if (c === '[') {
        const items: JsonNode[] = [];
        if (text[i] === ']') {
          i++;
          return { kind: 'array', items };
        }
        for (;;) {
          items.push(value(depth + 1));
          ws();
          if (text[i] === ',') {
            i++;
            continue;
          }
          if (text[i] === ']') {
            i++;
            return { kind: 'array', items };
          }
          fail('expected , or ]');
        }
      }
      const entries = new Map<string, JsonNode>();
      const order: string[] = [];
      if (text[i] === '}') {
        i++;
        return { kind: 'object', entries, order };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const at = i;
        const key = str();
        if (entries.has(key)) throw new StrictJsonError(`duplicate key ${JSON.stringify(key)}`, at);
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        entries.set(key, value(depth + 1));
        order.push(key);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { kind: 'object', entries, order };
        }
        fail('expected , or }');
      }
    }
    if (c === '"') return { kind: 'string', value: str() };
    if (text.startsWith('true', i)) {
      i += 4;
      return { kind: 'bool', value: true };
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return { kind: 'bool', value: false };
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return { kind: 'null' };
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m || m[0].length === 0) fail('unexpected character');
    i += (m as RegExpExecArray)[0].length;
    return { kind: 'number', raw: (m as RegExpExecArray)[0] };
  };
  const root = value(0);
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return root;
}

/** The non-negative integer a number node spells, when it is one within 2^53 - 1 (`16.0`, `1e1`, `-0` are not). */
export function safeUint(node: JsonNode): number | null {
  if (node.kind !== 'number' || !/^(0|[1-9]\d*)$/.test(node.raw)) return null;
  const n = Number(node.raw);
  return Number.isSafeInteger(n) ? n : null;
}
