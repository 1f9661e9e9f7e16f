/**
 * A validating, lazy safetensors reader. The header is parsed and checked in full (length, JSON,
 * dtypes, shapes against byte sizes, offsets in bounds and non-overlapping); tensor bytes stay on
 * disk until asked for, so an 8B checkpoint never sits whole in the JS heap. The ONNX graph points
 * at the same bytes through external data (see model/graph-file.ts), using `fileOffset` below.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WavefilterError } from '../errors.js';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'U16' | 'U32' | 'U64' | 'F8_E4M3' | 'F8_E5M2';

const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1,
};

/** Largest header we accept: real headers are kilobytes to a few megabytes. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

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

function bad(file: string, message: string, details: Record<string, string | number> = {}): never {
  throw new WavefilterError('invalid_safetensors', `${file}: ${message}`, { file, ...details });
}

function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** Parses and validates the header of one safetensors file. */
export function readSafetensorsHeader(file: string): Map<string, TensorInfo> {
  if (!existsSync(file)) throw new WavefilterError('file_not_found', `${file}: no such file`, { file });
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < 8) bad(file, `file is ${size} bytes, shorter than the 8-byte header length`, { size });
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(size - 8)) bad(file, `header length ${headerLen} exceeds the file's remaining ${size - 8} bytes`, { header_length: Number(headerLen), size });
    if (headerLen > BigInt(MAX_HEADER_BYTES)) bad(file, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    const n = Number(headerLen);
    if (n < 2) bad(file, `header length ${n} is too short for a JSON object`);
    const headerBuf = Buffer.alloc(n);
    readSync(fd, headerBuf, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (e) {
      bad(file, `header is not valid JSON (${(e as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) bad(file, 'header is not a JSON object');
    const dataStart = 8 + n;
    const dataLen = size - dataStart;
    const out = new Map<string, TensorInfo>();
    const spans: Array<[number, number, string]> = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad(file, '__metadata__ is not an object');
        continue;
      }
      if (raw === null || typeof raw !== 'object') bad(file, `tensor ${name}: entry is not an object`, { tensor: name });
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!isDType(e.dtype)) bad(file, `tensor ${name}: unknown dtype ${JSON.stringify(e.dtype)}`, { tensor: name });
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
        bad(file, `tensor ${name}: shape must be an array of non-negative integers, found ${JSON.stringify(e.shape)}`, { tensor: name });
      const offs = e.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0))
        bad(file, `tensor ${name}: data_offsets must be two non-negative integers, found ${JSON.stringify(offs)}`, { tensor: name });
      const [begin, end] = offs as [number, number];
      if (end < begin) bad(file, `tensor ${name}: data_offsets [${begin}, ${end}] end before they begin`, { tensor: name });
      if (end > dataLen) bad(file, `tensor ${name}: data_offsets end ${end} is past the ${dataLen} data bytes (file truncated?)`, { tensor: name, end, data_bytes: dataLen });
      const shape = e.shape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      const expected = count * DTYPE_BYTES[e.dtype];
      if (!Number.isSafeInteger(expected) || expected !== end - begin)
        bad(file, `tensor ${name}: shape [${shape.join(', ')}] of ${e.dtype} needs ${expected} bytes but data_offsets span ${end - begin}`, {
          tensor: name, expected, found: end - begin,
        });
      spans.push([begin, end, name]);
      out.set(name, { name, dtype: e.dtype, shape, file, fileOffset: dataStart + begin, byteLength: end - begin });
    }
    spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let i = 1; i < spans.length; i++) {
      const [pb, pe, pn] = spans[i - 1];
      const [b, , nm] = spans[i];
      if (b < pe && pe > pb) bad(file, `tensors ${pn} and ${nm} overlap (bytes ${b}..${pe})`, { tensor: nm });
    }
    return out;
  } finally {
    closeSync(fd);
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
    if (existsSync(index)) return TensorStore.openSharded(index);
    if (existsSync(single)) return new TensorStore(readSafetensorsHeader(single), [single]);
    throw new WavefilterError('file_not_found', `${dir}: neither model.safetensors nor model.safetensors.index.json found`, { file: dir });
  }

  private static openSharded(index: string): TensorStore {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(index, 'utf8'));
    } catch (e) {
      throw new WavefilterError('invalid_safetensors', `${index}: not valid JSON (${(e as Error).message})`, { file: index });
    }
    const map = (parsed as { weight_map?: unknown })?.weight_map;
    if (map === null || typeof map !== 'object' || Array.isArray(map))
      throw new WavefilterError('invalid_safetensors', `${index}: field weight_map must be an object of tensor name -> file`, { file: index, field: 'weight_map' });
    const dir = dirname(index);
    const byFile = new Map<string, string[]>();
    for (const [name, f] of Object.entries(map as Record<string, unknown>)) {
      if (typeof f !== 'string' || f.includes('/') || f.includes('\\') || f === '..' || !f.endsWith('.safetensors'))
        throw new WavefilterError('invalid_safetensors', `${index}: weight_map[${name}] must name a .safetensors file in the same folder, found ${JSON.stringify(f)}`, { file: index, tensor: name });
      const list = byFile.get(f) ?? [];
      list.push(name);
      byFile.set(f, list);
    }
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
    const fd = openSync(t.file, 'r');
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
