/**
 * A LLaDA-layout checkpoint with random weights at a realistic shape, written once to the OS temp
 * folder (keyed by its shape) for benchmarks. Weights are F16 with a small std so activations stay sane.
 */
import { existsSync, mkdirSync, openSync, writeSync, closeSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchShape {
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly ffn: number;
  readonly vocab: number;
  readonly maxSeq: number;
}

export const DEFAULT_SHAPE: BenchShape = { layers: 8, dModel: 1024, heads: 16, kvHeads: 16, ffn: 3072, vocab: 32768, maxSeq: 32768 };

function f16(x: number): number {
  // float -> half, round to nearest (values here are small and normal)
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (((u >>> 13) & 0x3ff) + ((u >>> 12) & 1) > 0x3ff ? 0x3ff : ((u >>> 13) & 0x3ff) + ((u >>> 12) & 1));
}

/** Returns the folder of a random checkpoint of `shape`, creating it when missing. */
export function randomCheckpoint(shape: BenchShape = DEFAULT_SHAPE, seed = 1): string {
  const key = `${shape.layers}l-${shape.dModel}d-${shape.heads}h-${shape.kvHeads}kv-${shape.ffn}f-${shape.vocab}v-s${seed}`;
  const dir = join(tmpdir(), `wavefilter-bench-${key}`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  mkdirSync(dir, { recursive: true });
  const { layers, dModel: d, heads: H, kvHeads: Hkv, ffn: F, vocab: V } = shape;
  const D = d / H;
  const p = 'model.transformer';
  const tensors: Array<[string, number[], number]> = [[`${p}.wte.weight`, [V, d], 1.0]];
  for (let i = 0; i < layers; i++) {
    const b = `${p}.blocks.${i}`;
    tensors.push([`${b}.attn_norm.weight`, [d], -1], [`${b}.q_proj.weight`, [H * D, d], 1 / Math.sqrt(d)], [`${b}.k_proj.weight`, [Hkv * D, d], 1 / Math.sqrt(d)],
      [`${b}.v_proj.weight`, [Hkv * D, d], 1 / Math.sqrt(d)], [`${b}.attn_out.weight`, [d, H * D], 0.5 / Math.sqrt(d)], [`${b}.ff_norm.weight`, [d], -1],
      [`${b}.ff_proj.weight`, [F, d], 1 / Math.sqrt(d)], [`${b}.up_proj.weight`, [F, d], 1 / Math.sqrt(d)], [`${b}.ff_out.weight`, [d, F], 0.5 / Math.sqrt(F)]);
  }
  tensors.push([`${p}.ln_f.weight`, [d], -1], [`${p}.ff_out.weight`, [V, d], 4 / Math.sqrt(d)]);
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, s] of tensors) {
    const n = s.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'F16', shape: s, data_offsets: [off, off + n] };
    off += n;
  }
  const hb = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  const tmp = join(dir, 'model.safetensors.partial');
  const fd = openSync(tmp, 'w');
  writeSync(fd, len);
  writeSync(fd, hb);
  let state = seed >>> 0;
  const rand = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  // a table of normal halves, sampled by index: fast enough for ~150M values
  const table = new Uint16Array(65536);
  for (let i = 0; i < table.length; i++) table[i] = 0;
  for (const [, s, std] of tensors) {
    const n = s.reduce((a, b) => a * b, 1);
    const buf = new Uint16Array(n);
    if (std < 0) buf.fill(f16(1));
    else {
      for (let i = 0; i < 4096; i++) table[i] = f16(std * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand()));
      for (let i = 0; i < n; i++) buf[i] = table[(rand() * 4096) | 0];
    }
    writeSync(fd, new Uint8Array(buf.buffer));
  }
  closeSync(fd);
  renameSync(tmp, join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    model_type: 'llada', d_model: d, n_heads: H, n_kv_heads: Hkv, n_layers: layers, mlp_hidden_size: F, vocab_size: V, embedding_size: V,
    max_sequence_length: shape.maxSeq, rope_theta: 500000, rms_norm_eps: 1e-5, mask_token_id: V - 1, eos_token_id: V - 2, block_type: 'llama',
  }));
  return dir;
}
