// Hostile and broken safetensors files: each must fail with invalid_safetensors naming the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TensorStore, WavefilterError, readSafetensorsHeader } from '../../src/index.js';
import { LLADA_TINY } from '../helpers.js';

function file(header: unknown, dataBytes: number, rawHeader?: string, lengthField?: bigint): string {
  const dir = mkdtempSync(join(tmpdir(), 'wf-st-'));
  const h = Buffer.from(rawHeader ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(h.length));
  const path = join(dir, 'model.safetensors');
  writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
  return path;
}

function rejects(path: string, pattern: RegExp, code = 'invalid_safetensors'): void {
  assert.throws(() => readSafetensorsHeader(path), (e: unknown) => {
    assert.ok(e instanceof WavefilterError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    assert.ok(e.message.includes(path), 'the message names the file');
    return true;
  });
}

const ok = { a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };

test('a valid header parses with absolute file offsets', () => {
  const p = file(ok, 16);
  const t = readSafetensorsHeader(p).get('a');
  assert.ok(t);
  assert.deepEqual(t.shape, [2, 2]);
  assert.equal(t.fileOffset, 8 + Buffer.byteLength(JSON.stringify(ok)));
});

test('file shorter than the length field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-st-'));
  const p = join(dir, 'model.safetensors');
  writeFileSync(p, Buffer.from([1, 2, 3]));
  rejects(p, /shorter than the 8-byte header length/);
});

test('header length past the end of the file (truncated)', () => rejects(file(ok, 16, undefined, 1n << 20n), /exceeds the file's remaining .*\(R3\)/));
test('header length is a hostile 2^63', () => rejects(file(ok, 16, undefined, 1n << 63n), /exceeds/));
test('header is not JSON', () => rejects(file(null, 16, '{"a": [1, 2'), /not valid JSON/));
test('header is a JSON array', () => rejects(file([1, 2], 0), /not a JSON object/));
test('unknown dtype', () => rejects(file({ a: { dtype: 'Q4', shape: [4], data_offsets: [0, 4] } }, 4), /unknown dtype "Q4"/));
test('negative or fractional shape', () => rejects(file({ a: { dtype: 'F32', shape: [-1, 4], data_offsets: [0, 16] } }, 16), /shape must hold non-negative integers up to 2\^53-1, found -1 \(R5\)/));
test('shape does not match the byte span', () => rejects(file({ a: { dtype: 'F32', shape: [3, 3], data_offsets: [0, 16] } }, 16), /needs 36 bytes but data_offsets span 16/));
test('offsets past the data (truncated file)', () => rejects(file({ a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }, 8), /need 16 data bytes but the file holds 8 \(file truncated\?\) \(R11\)/));
test('offsets that end before they begin', () => rejects(file({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 16), /end before they begin/));
test('overlapping tensors', () =>
  rejects(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, 16), /overlap/));
test('malformed data_offsets', () => rejects(file({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets must be an array of 2 of non-negative integers \(R5\)/));
test('missing file', () => rejects('/nonexistent/model.safetensors', /safetensors file not found/, 'file_not_found'));

test('sharded index naming a file outside the folder is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-st-'));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
  assert.throws(() => TensorStore.open(dir), /must name a .safetensors file in the same folder/);
});

test('sharded index listing a tensor its shard lacks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-st-'));
  copyFileSync(join(LLADA_TINY, 'model.safetensors'), join(dir, 'model-00001-of-00001.safetensors'));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.transformer.nope': 'model-00001-of-00001.safetensors' } }));
  assert.throws(() => TensorStore.open(dir), (e: unknown) => e instanceof WavefilterError && e.code === 'missing_tensor' && /model\.transformer\.nope/.test(e.message));
});

test('a folder without weights', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-st-'));
  assert.throws(() => TensorStore.open(dir), (e: unknown) => e instanceof WavefilterError && e.code === 'file_not_found');
});

test('F16 and BF16 decode to the right floats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wf-st-'));
  const header = { h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] }, b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] } };
  const hb = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800; BF16: 1.0 = 0x3f80, -3.0 = 0xc040
  const data = Buffer.alloc(10);
  [0x3c00, 0xc000, 0x3800, 0x3f80, 0xc040].forEach((v, i) => data.writeUInt16LE(v, i * 2));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, hb, data]));
  const store = TensorStore.open(dir);
  assert.deepEqual(Array.from(store.readFloat32('h')), [1, -2, 0.5]);
  assert.deepEqual(Array.from(store.readFloat32('b')), [1, -3]);
});
