/**
 * Config adapters: HF `config.json` of LLaDA (`model_type` "llada") and Dream (`model_type`
 * "Dream") into a ModelSpec, with the tensor names of docs/dlm-decoding-and-caches.md §2.
 */
import { join } from 'node:path';
import { WavefilterError } from '../errors.js';
import { MiB, readUserJson } from '../files.js';

/** config.json is a few kilobytes; huggingface.js reads at most 10 MB. */
const MAX_CONFIG_BYTES = 10 * MiB;
import type { LayerTensorNames, ModelSpec } from '../model/spec.js';

type Json = Record<string, unknown>;

function fail(file: string, field: string, expected: string, found: unknown): never {
  throw new WavefilterError('invalid_config', `${file}: field ${field}: expected ${expected}, found ${JSON.stringify(found)}`, {
    file, field, expected, found: JSON.stringify(found) ?? 'undefined',
  });
}

/**
 * Upper bounds far above any real checkpoint (LLaDA-8B: 32 layers, d_model 4096, vocab 126464), so
 * that a hostile config (`n_layers: 1e9`) is refused before anything is sized from it. The tensors
 * are then checked against the config's shapes before any session is built.
 */
const MAX_DIM: Readonly<Record<string, number>> = {
  layers: 1024, width: 1 << 17, heads: 4096, vocab: 1 << 24, context: 1 << 24,
};

function posInt(c: Json, file: string, key: string, fallback?: number, max: number = MAX_DIM.width): number {
  const v = c[key] ?? fallback;
  if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(file, key, 'a positive integer', c[key]);
  if ((v as number) > max) fail(file, key, `a positive integer up to ${max}`, c[key]);
  return v as number;
}

function posNum(c: Json, file: string, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(file, key, 'a positive number', c[key]);
  return v;
}

function optId(c: Json, file: string, key: string, vocab: number): number | null {
  const v = c[key];
  if (v === undefined || v === null) return null;
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) >= vocab) fail(file, key, `a token id in [0, ${vocab})`, v);
  return v as number;
}

function requireFalse(c: Json, file: string, key: string, why: string): void {
  if (c[key] === true) throw new WavefilterError('unsupported_model', `${file}: ${key}=true is not supported (${why})`, { file, field: key });
}

/** Reads and validates `config.json` in a checkpoint folder. */
export function readModelSpec(dir: string): ModelSpec {
  const file = join(dir, 'config.json');
  const c = readUserJson(file, { what: 'config.json (a checkpoint folder needs one)', maxBytes: MAX_CONFIG_BYTES }, 'invalid_config') as Json;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new WavefilterError('invalid_config', `${file}: not a JSON object`, { file });
  const type = c.model_type;
  if (type === 'llada') return lladaSpec(c, file);
  if (type === 'Dream' || type === 'dream') return dreamSpec(c, file);
  throw new WavefilterError('unsupported_model', `${file}: model_type ${JSON.stringify(type)} is not supported; expected "llada" or "Dream"`, {
    file, field: 'model_type', found: String(type),
  });
}

function lladaSpec(c: Json, file: string): ModelSpec {
  const d = posInt(c, file, 'd_model');
  const nHeads = posInt(c, file, 'n_heads', undefined, MAX_DIM.heads);
  const nKv = c.n_kv_heads === undefined || c.n_kv_heads === null ? nHeads : posInt(c, file, 'n_kv_heads', undefined, MAX_DIM.heads);
  const nLayers = posInt(c, file, 'n_layers', undefined, MAX_DIM.layers);
  if (d % nHeads !== 0) fail(file, 'd_model', `a multiple of n_heads (${nHeads})`, d);
  if (nHeads % nKv !== 0) fail(file, 'n_kv_heads', `a divisor of n_heads (${nHeads})`, nKv);
  const headDim = d / nHeads;
  if (headDim % 2 !== 0) fail(file, 'd_model / n_heads', 'an even head dimension for rotary embeddings', headDim);
  const ffn = c.mlp_hidden_size !== undefined && c.mlp_hidden_size !== null ? posInt(c, file, 'mlp_hidden_size') : posInt(c, file, 'mlp_ratio', undefined, 64) * d;
  const vocab = c.embedding_size !== undefined && c.embedding_size !== null ? posInt(c, file, 'embedding_size', undefined, MAX_DIM.vocab) : posInt(c, file, 'vocab_size', undefined, MAX_DIM.vocab);
  if (c.block_type !== undefined && c.block_type !== 'llama')
    throw new WavefilterError('unsupported_model', `${file}: block_type ${JSON.stringify(c.block_type)} is not supported; LLaDA-8B uses "llama"`, { file, field: 'block_type' });
  if (c.rope === false) throw new WavefilterError('unsupported_model', `${file}: rope=false is not supported`, { file, field: 'rope' });
  if (c.activation_type !== undefined && c.activation_type !== 'silu' && c.activation_type !== 'swiglu')
    throw new WavefilterError('unsupported_model', `${file}: activation_type ${JSON.stringify(c.activation_type)} is not supported; expected "silu"`, { file, field: 'activation_type' });
  if (c.layer_norm_type !== undefined && c.layer_norm_type !== 'rms')
    throw new WavefilterError('unsupported_model', `${file}: layer_norm_type ${JSON.stringify(c.layer_norm_type)} is not supported; expected "rms"`, { file, field: 'layer_norm_type' });
  requireFalse(c, file, 'include_bias', 'LLaDA-8B has no biases');
  requireFalse(c, file, 'include_qkv_bias', 'LLaDA-8B has no QKV biases');
  requireFalse(c, file, 'weight_tying', 'the LM head must be model.transformer.ff_out');
  requireFalse(c, file, 'attention_layer_norm', 'QK-norm is not implemented');
  requireFalse(c, file, 'alibi', 'ALiBi is not implemented');
  requireFalse(c, file, 'input_emb_norm', 'input embedding norm is not implemented');
  requireFalse(c, file, 'scale_logits', 'logit scaling is not implemented');
  const maskId = c.mask_token_id ?? 126336;
  if (!Number.isSafeInteger(maskId) || (maskId as number) < 0 || (maskId as number) >= vocab) fail(file, 'mask_token_id', `a token id in [0, ${vocab})`, maskId);
  const p = 'model.transformer';
  const layers: LayerTensorNames[] = [];
  for (let i = 0; i < nLayers; i++) {
    const b = `${p}.blocks.${i}`;
    layers.push({
      attnNorm: `${b}.attn_norm.weight`, q: `${b}.q_proj.weight`, k: `${b}.k_proj.weight`, v: `${b}.v_proj.weight`,
      o: `${b}.attn_out.weight`, ffnNorm: `${b}.ff_norm.weight`, gate: `${b}.ff_proj.weight`, up: `${b}.up_proj.weight`, down: `${b}.ff_out.weight`,
    });
  }
  const eos = optId(c, file, 'eos_token_id', vocab);
  return {
    family: 'llada', nLayers, dModel: d, nHeads, nKvHeads: nKv, headDim, ffnHidden: ffn, vocabSize: vocab,
    ropeTheta: posNum(c, file, 'rope_theta', 10000), rmsNormEps: posNum(c, file, 'rms_norm_eps', 1e-5),
    maxSequenceLength: posInt(c, file, 'max_sequence_length', 4096, MAX_DIM.context), logitShift: false, maskTokenId: maskId as number,
    eosTokenId: eos,
    // LLaDA-8B's <|eot_id|> is 126348 (generate.py); other checkpoints may name theirs.
    eotTokenId: optId(c, file, 'eot_token_id', vocab) ?? (vocab > 126348 && maskId === 126336 ? 126348 : null),
    padTokenId: optId(c, file, 'pad_token_id', vocab),
    tensors: { embed: `${p}.wte.weight`, finalNorm: `${p}.ln_f.weight`, lmHead: `${p}.ff_out.weight`, layers },
  };
}

function dreamSpec(c: Json, file: string): ModelSpec {
  const d = posInt(c, file, 'hidden_size');
  const nHeads = posInt(c, file, 'num_attention_heads', undefined, MAX_DIM.heads);
  const nKv = posInt(c, file, 'num_key_value_heads', nHeads, MAX_DIM.heads);
  const nLayers = posInt(c, file, 'num_hidden_layers', undefined, MAX_DIM.layers);
  if (d % nHeads !== 0) fail(file, 'hidden_size', `a multiple of num_attention_heads (${nHeads})`, d);
  if (nHeads % nKv !== 0) fail(file, 'num_key_value_heads', `a divisor of num_attention_heads (${nHeads})`, nKv);
  const headDim = d / nHeads;
  if (headDim % 2 !== 0) fail(file, 'hidden_size / num_attention_heads', 'an even head dimension', headDim);
  const vocab = posInt(c, file, 'vocab_size', undefined, MAX_DIM.vocab);
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu')
    throw new WavefilterError('unsupported_model', `${file}: hidden_act ${JSON.stringify(c.hidden_act)} is not supported; expected "silu"`, { file, field: 'hidden_act' });
  requireFalse(c, file, 'tie_word_embeddings', 'the LM head must be lm_head.weight');
  if (c.rope_scaling !== undefined && c.rope_scaling !== null)
    throw new WavefilterError('unsupported_model', `${file}: rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported (set rope_theta instead)`, { file, field: 'rope_scaling' });
  const maskId = c.mask_token_id ?? 151666;
  if (!Number.isSafeInteger(maskId) || (maskId as number) < 0 || (maskId as number) >= vocab) fail(file, 'mask_token_id', `a token id in [0, ${vocab})`, maskId);
  const layers: LayerTensorNames[] = [];
  for (let i = 0; i < nLayers; i++) {
    const b = `model.layers.${i}`;
    layers.push({
      attnNorm: `${b}.input_layernorm.weight`,
      q: `${b}.self_attn.q_proj.weight`, k: `${b}.self_attn.k_proj.weight`, v: `${b}.self_attn.v_proj.weight`,
      qBias: `${b}.self_attn.q_proj.bias`, kBias: `${b}.self_attn.k_proj.bias`, vBias: `${b}.self_attn.v_proj.bias`,
      o: `${b}.self_attn.o_proj.weight`, ffnNorm: `${b}.post_attention_layernorm.weight`,
      gate: `${b}.mlp.gate_proj.weight`, up: `${b}.mlp.up_proj.weight`, down: `${b}.mlp.down_proj.weight`,
    });
  }
  return {
    family: 'dream', nLayers, dModel: d, nHeads, nKvHeads: nKv, headDim, ffnHidden: posInt(c, file, 'intermediate_size'), vocabSize: vocab,
    ropeTheta: posNum(c, file, 'rope_theta', 1e6), rmsNormEps: posNum(c, file, 'rms_norm_eps', 1e-6),
    maxSequenceLength: posInt(c, file, 'max_position_embeddings', 2048, MAX_DIM.context), logitShift: true, maskTokenId: maskId as number,
    eosTokenId: optId(c, file, 'eos_token_id', vocab), eotTokenId: null, padTokenId: optId(c, file, 'pad_token_id', vocab),
    tensors: { embed: 'model.embed_tokens.weight', finalNorm: 'model.norm.weight', lmHead: 'lm_head.weight', layers },
  };
}

