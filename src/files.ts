/**
 * Reading files a user names (weights, index, config, tokenizer, corpora, benchmark data, prompts).
 * Every such file is hostile until checked: it must be a regular file (a FIFO would block the open,
 * `/dev/zero` never ends, a directory is not data) of bounded size, and compressed input is
 * decompressed under a cap (a gzip bomb stops at the cap with a typed error).
 *
 * The open uses O_NONBLOCK so that a FIFO swapped in after the stat still cannot hang the process,
 * and the size comes from fstat on the open descriptor (no stat/open race on the size).
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { WavefilterError } from './errors.js';

export const MiB = 1024 * 1024;

/** What the caller calls the file in messages ("config", "tokenizer", "corpus", ...). */
export interface ReadLimits {
  readonly what: string;
  readonly maxBytes: number;
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Checks that `path` is an existing regular file and returns its size (bytes). */
export function regularFileSize(path: string, what: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new WavefilterError('file_not_found', `${path}: ${what} not found`, { file: path });
    throw new WavefilterError('file_unreadable', `${path}: cannot read the ${what} (${code ?? (e as Error).message})`, { file: path });
  }
  if (!st.isFile()) throw new WavefilterError('not_a_file', `${path}: the ${what} is ${kindOf(st)}, expected a regular file`, { file: path });
  return st.size;
}

/** Opens a user file for reading after checking it: a descriptor the caller must close, and its size. */
export function openUserFile(path: string, what: string): { fd: number; size: number } {
  regularFileSize(path, what);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new WavefilterError('file_unreadable', `${path}: cannot open the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new WavefilterError('not_a_file', `${path}: the ${what} is ${kindOf(st)}, expected a regular file`, { file: path });
  }
  return { fd, size: st.size };
}

/** Reads a whole user file of at most `maxBytes`. */
export function readUserFile(path: string, lim: ReadLimits): Buffer {
  const { fd, size } = openUserFile(path, lim.what);
  try {
    if (size > lim.maxBytes)
      throw new WavefilterError('file_too_large', `${path}: the ${lim.what} is ${size} bytes, over the ${lim.maxBytes}-byte limit`, { file: path, size, limit: lim.maxBytes });
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as UTF-8 text; invalid UTF-8 is an error naming the file (no silent U+FFFD). */
export function decodeUtf8(buf: Uint8Array, path: string, what: string): string {
  try {
    return UTF8.decode(buf);
  } catch {
    throw new WavefilterError('invalid_input', `${path}: the ${what} is not valid UTF-8 text`, { file: path });
  }
}

/** A user text file (UTF-8), size-capped. */
export function readUserText(path: string, lim: ReadLimits): string {
  return decodeUtf8(readUserFile(path, lim), path, lim.what);
}

/** A user JSON file, size-capped; a parse error names the file. */
export function readUserJson(path: string, lim: ReadLimits, code: 'invalid_config' | 'invalid_tokenizer' | 'invalid_input' | 'invalid_safetensors' = 'invalid_input'): unknown {
  const text = readUserText(path, lim);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new WavefilterError(code, `${path}: the ${lim.what} is not valid JSON (${(e as Error).message})`, { file: path });
  }
}

/**
 * A user text file that may be gzip-compressed (.gz, dictzip .dz): the compressed size is capped by
 * `maxBytes`, the decompressed size by `maxTextBytes`.
 */
export function readUserMaybeGzip(path: string, lim: ReadLimits & { readonly maxTextBytes: number }): string {
  const raw = readUserFile(path, lim);
  if (!(raw[0] === 0x1f && raw[1] === 0x8b)) {
    if (raw.length > lim.maxTextBytes)
      throw new WavefilterError('file_too_large', `${path}: the ${lim.what} is ${raw.length} bytes, over the ${lim.maxTextBytes}-byte limit`, { file: path, limit: lim.maxTextBytes });
    return decodeUtf8(raw, path, lim.what);
  }
  let out: Buffer;
  try {
    out = gunzipSync(raw, { maxOutputLength: lim.maxTextBytes });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE')
      throw new WavefilterError('file_too_large', `${path}: the ${lim.what} decompresses to more than ${lim.maxTextBytes} bytes`, { file: path, limit: lim.maxTextBytes });
    throw new WavefilterError('invalid_input', `${path}: the ${lim.what} is not valid gzip data (${(e as Error).message})`, { file: path });
  }
  return decodeUtf8(out, path, lim.what);
}
