/**
 * A validating, lazy safetensors reader with the reference crate's rules (safetensors/src/tensor.rs,
 * rules R1-R12 in ../shared/docs/hostile-inputs-and-limits.md §1.1), in its check order, plus the
 * stricter rules §1.3 proposes where JavaScript would otherwise read a file differently:
 *
 *   R1  file >= 8 bytes; the first 8 are the header length n (u64 LE)
 *   R2  n <= 100,000,000
 *   R3  8 + n <= file length
 *   R4  the header is valid UTF-8 (a fatal decoder; a BOM is kept, so it fails R5 as in Rust)
 *   R5  the header is one JSON object {"__metadata__"?: {str: str} | null, name: {dtype, shape, data_offsets}};
 *       unknown fields inside an entry are ignored, whitespace around the object is allowed
 *   R6  dtype is one of the reference's (case-sensitive)
 *   R7  sorted by data_offsets, the tensors tile [0, end): first at 0, no gaps, no overlaps
 *   R8  element count x bits does not overflow
 *   R9  sub-byte dtypes fill whole bytes
 *   R10 end - begin == bytes of shape x dtype
 *   R11 8 + n + last end == file length (no trailing bytes: no polyglot files, no short data)
 *   R12 shape [] is a scalar; a 0 dimension is an empty tensor at [k, k]
 *   Stricter: duplicate keys rejected (the crate keeps the last one), numbers in shape/offsets must be
 *   integer tokens within 2^53 - 1 (`16.0`, `1e1`, 2^53 + 1 rejected), lone surrogates and nesting
 *   deeper than 64 rejected.
 *
 * Tensor bytes stay on disk until asked for, so an 8B checkpoint never sits whole in the JS heap;
 * the ONNX graph points at the same bytes through external data (`fileOffset` below).
 */
import { closeSync, readSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WavefilterError } from '../errors.js';
import { MiB, openUserFile, readUserJson, regularFileSize } from '../files.js';
import { type JsonNode, StrictJsonError, parseStrictJson, safeUint } from './strict-json.js';

/** The reference's dtypes and their sizes in bits. */
const DTYPE_BITS = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
} as const;

export type DType = keyof typeof DTYPE_BITS;

/** R2: the reference's largest header. */
const MAX_HEADER_BYTES = 100_000_000;
/** Nesting limit of the header JSON (huggingface.js: 64). */
const MAX_DEPTH = 64;
/** A sharded index is a small JSON map (huggingface.js stream-parses up to 250 MB). */
const MAX_INDEX_BYTES = 64 * MiB;
/** More shards than this is not a checkpoint (huggingface.js: 10,000). */
const MAX_SHARDS = 10_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute path of the file that holds the bytes. */
  readonly file: string;
  /** Byte offset of the first element inside `file` (8 + header length + data_offsets[0]). */
  readonly fileOffset: number;
  readonly byteLength: number;
}

function bad(file: string, rule: string, message: string, details: Record<string, string | number> = {}): never {
  throw new WavefilterError('invalid_safetensors', `${file}: ${message} (${rule})`, { file, rule, ...details });
}

function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BITS, s);
}

const HEADER_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses and validates the header of one safetensors file. */
export function readSafetensorsHeader(file: string): Map<string, TensorInfo> {
  const { fd, size } = openUserFile(file, 'safetensors file');
  try {
    if (size < 8) bad(file, 'R1', `file is ${size} bytes, shorter than the 8-byte header length`, { size });
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) bad(file, 'R2', `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`, { header_length: String(headerLen) });
    if (headerLen > BigInt(size - 8)) bad(file, 'R3', `header length ${headerLen} exceeds the file's remaining ${size - 8} bytes (file truncated?)`, { header_length: Number(headerLen), size });
    const n = Number(headerLen);
    const headerBuf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, headerBuf, got, n - got, 8 + got);
      if (r === 0) break;
      got += r;
    }
    if (got !== n) bad(file, 'R3', `header length ${n} but only ${got} bytes could be read`);
    let text: string;
    try {
      text = HEADER_DECODER.decode(headerBuf);
    } catch {
      bad(file, 'R4', 'header is not valid UTF-8');
    }
    let root: JsonNode;
    try {
      root = parseStrictJson(text, { maxDepth: MAX_DEPTH });
    } catch (e) {
      if (e instanceof StrictJsonError) bad(file, 'R5', `header is not valid JSON (${e.message})`);
      throw e;
    }
    if (root.kind !== 'object') bad(file, 'R5', 'header is not a JSON object');
    return tensorTable(file, root, 8 + n, size);
  } finally {
    closeSync(fd);
  }
}

function dims(file: string, name: string, field: string, node: JsonNode | undefined, count?: number): number[] {
  if (node === undefined) bad(file, 'R5', `tensor ${JSON.stringify(name)}: field ${field} is missing`, { tensor: name, field });
  if (node.kind !== 'array' || (count !== undefined && node.items.length !== count))
    bad(file, 'R5', `tensor ${JSON.stringify(name)}: ${field} must be ${count === undefined ? 'an array' : `an array of ${count}`} of non-negative integers`, { tensor: name, field });
  return node.items.map((d) => {
    const v = safeUint(d);
    if (v === null) bad(file, 'R5', `tensor ${JSON.stringify(name)}: ${field} must hold non-negative integers up to 2^53-1, found ${d.kind === 'number' ? d.raw : d.kind}`, { tensor: name, field });
    return v;
  });
}

function tensorTable(file: string, root: Extract<JsonNode, { kind: 'object' }>, dataStart: number, size: number): Map<string, TensorInfo> {
  const entries: Array<{ name: string; dtype: DType; shape: number[]; begin: number; end: number }> = [];
  for (const name of root.order) {
    const raw = root.entries.get(name) as JsonNode;
    if (name === '__metadata__') {
      if (raw.kind === 'null') continue;
      if (raw.kind !== 'object') bad(file, 'R5', '__metadata__ is not an object of strings');
      for (const [k, v] of raw.entries) if (v.kind !== 'string') bad(file, 'R5', `__metadata__[${JSON.stringify(k)}] is not a string`, { field: k });
      continue;
    }
    if (raw.kind !== 'object') bad(file, 'R5', `tensor ${JSON.stringify(name)}: entry is not an object`, { tensor: name });
    const dt = raw.entries.get('dtype');
    if (dt === undefined) bad(file, 'R5', `tensor ${JSON.stringify(name)}: field dtype is missing`, { tensor: name });
    if (dt.kind !== 'string' || !isDType(dt.value)) bad(file, 'R6', `tensor ${JSON.stringify(name)}: unknown dtype ${dt.kind === 'string' ? JSON.stringify(dt.value) : dt.kind}`, { tensor: name });
    const shape = dims(file, name, 'shape', raw.entries.get('shape'));
    const [begin, end] = dims(file, name, 'data_offsets', raw.entries.get('data_offsets'), 2);
    entries.push({ name, dtype: dt.value, shape, begin, end });
  }
  // R7: the sorted spans tile [0, end).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.end < e.begin) bad(file, 'R7', `tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] end before they begin`, { tensor: e.name });
    if (e.begin !== at)
      bad(file, 'R7', `tensor ${JSON.stringify(e.name)}: data_offsets begin at ${e.begin} where ${at} was expected (${e.begin > at ? 'a gap' : 'an overlap'}; tensors must tile the data from byte 0)`, { tensor: e.name, begin: e.begin, expected: at });
    at = e.end;
  }
  const out = new Map<string, TensorInfo>();
  for (const e of entries) {
    // R8-R10 (BigInt: no overflow, whatever the shape)
    const bits = e.shape.reduce((a, d) => a * BigInt(d), 1n) * BigInt(DTYPE_BITS[e.dtype]);
    if (bits % 8n !== 0n) bad(file, 'R9', `tensor ${JSON.stringify(e.name)}: ${e.dtype} of shape [${e.shape.join(', ')}] does not fill whole bytes`, { tensor: e.name });
    const expected = bits / 8n;
    if (expected !== BigInt(e.end - e.begin))
      bad(file, 'R10', `tensor ${JSON.stringify(e.name)}: shape [${e.shape.join(', ')}] of ${e.dtype} needs ${expected} bytes but data_offsets span ${e.end - e.begin}`, {
        tensor: e.name, expected: String(expected), found: e.end - e.begin,
      });
    out.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, file, fileOffset: dataStart + e.begin, byteLength: e.end - e.begin });
  }
  // R11
  if (dataStart + at !== size)
    bad(file, 'R11', at + dataStart > size
      ? `the tensors need ${at} data bytes but the file holds ${size - dataStart} (file truncated?)`
      : `${size - dataStart - at} bytes after the last tensor (the file is not fully covered by its header)`, { data_bytes: size - dataStart, end: at });
  return out;
}

function exists(path: string): boolean {
  try {
    regularFileSize(path, 'file');
    return true;
  } catch (e) {
    if (e instanceof WavefilterError && e.code === 'file_not_found') return false;
    throw e;
  }
}

/** All tensors of a checkpoint folder: `model.safetensors`, or the shards named by `model.safetensors.index.json`. */
export class TensorStore {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly files: readonly string[];

  private constructor(tensors: Map<string, TensorInfo>, files: string[]) {
    this.tensors = tensors;
    this.files = files;
  }

  /** Opens a checkpoint folder (headers only). */
  static open(dir: string): TensorStore {
    const index = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    if (exists(index)) return TensorStore.openSharded(index);
    if (exists(single)) return new TensorStore(readSafetensorsHeader(single), [single]);
    const pickles = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'model.pth', 'model.ckpt'].filter((f) => exists(join(dir, f)));
    if (pickles.length)
      throw new WavefilterError('unsupported_model', `${dir}: only pickle weights (${pickles.join(', ')}); pickle files can run code when loaded and are never read here: convert them to safetensors`, { file: dir });
    throw new WavefilterError('file_not_found', `${dir}: neither model.safetensors nor model.safetensors.index.json found`, { file: dir });
  }

  private static openSharded(index: string): TensorStore {
    const parsed = readUserJson(index, { what: 'sharded index', maxBytes: MAX_INDEX_BYTES }, 'invalid_safetensors');
    const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
    if (map === null || typeof map !== 'object' || Array.isArray(map))
      throw new WavefilterError('invalid_safetensors', `${index}: field weight_map must be an object of tensor name -> file`, { file: index, field: 'weight_map' });
    const dir = dirname(index);
    const byFile = new Map<string, string[]>();
    for (const [name, f] of Object.entries(map as Record<string, unknown>)) {
      // Shard names are plain file names in the index's folder: no paths, no URLs, no hidden files.
      if (typeof f !== 'string' || !/^[^/\\:\0]+\.safetensors$/.test(f) || f.startsWith('.'))
        throw new WavefilterError('invalid_safetensors', `${index}: weight_map[${JSON.stringify(name)}] must name a .safetensors file in the same folder, found ${JSON.stringify(f)}`, { file: index, tensor: name });
      const list = byFile.get(f) ?? [];
      list.push(name);
      byFile.set(f, list);
      if (byFile.size > MAX_SHARDS) throw new WavefilterError('invalid_safetensors', `${index}: more than ${MAX_SHARDS} shard files`, { file: index, limit: MAX_SHARDS });
    }
    if (byFile.size === 0) throw new WavefilterError('invalid_safetensors', `${index}: weight_map names no tensors`, { file: index, field: 'weight_map' });
    const tensors = new Map<string, TensorInfo>();
    const files: string[] = [];
    for (const [f, names] of byFile) {
      const path = join(dir, f);
      const header = readSafetensorsHeader(path);
      files.push(path);
      for (const name of names) {
        const info = header.get(name);
        if (!info) throw new WavefilterError('missing_tensor', `${path}: tensor ${name} listed in ${basename(index)} is not in the file`, { file: path, tensor: name });
        tensors.set(name, info);
      }
    }
    return new TensorStore(tensors, files);
  }

  /** Metadata of one tensor, or a `missing_tensor` error naming it. */
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new WavefilterError('missing_tensor', `tensor ${name} not found in ${this.files.map((f) => basename(f)).join(', ')}`, { tensor: name });
    return t;
  }

  /** Reads one tensor from disk and converts it to float32 (F32, F16 and BF16 only). */
  readFloat32(name: string): Float32Array {
    const t = this.info(name);
    const buf = Buffer.alloc(t.byteLength);
    const { fd } = openUserFile(t.file, 'safetensors file');
    try {
      readSync(fd, buf, 0, t.byteLength, t.fileOffset);
    } finally {
      closeSync(fd);
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (t.dtype === 'F32') {
      for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
    } else if (t.dtype === 'F16') {
      for (let i = 0; i < n; i++) out[i] = halfToFloat(buf.readUInt16LE(i * 2));
    } else if (t.dtype === 'BF16') {
      const u = new Uint32Array(1);
      const f = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) {
        u[0] = buf.readUInt16LE(i * 2) << 16;
        out[i] = f[0];
      }
    } else {
      throw new WavefilterError('unsupported_dtype', `tensor ${name} in ${t.file} has dtype ${t.dtype}; expected F32, F16 or BF16`, { tensor: name, dtype: t.dtype });
    }
    return out;
  }
}

/** IEEE 754 half to float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
