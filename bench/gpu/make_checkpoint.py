"""A random-weight checkpoint of a real model's shape, in Hugging Face layout (config.json +
sharded model.safetensors with its index), for speed and memory benchmarks on the GPU machine,
where writing 8B values from JavaScript would take hours. bf16 weights, as LLaDA-8B and Dream-7B
ship; small std so activations stay finite. Needs torch and safetensors (both on the GPU machine).

  python3 bench/gpu/make_checkpoint.py llada-8b /tmp/llada-8b
  python3 bench/gpu/make_checkpoint.py dream-7b /tmp/dream-7b
  python3 bench/gpu/make_checkpoint.py llada-8b /tmp/llada-2l --layers 2   # same widths, fewer layers
"""
import argparse, json, math, os
import torch
from safetensors.torch import save_file

SHAPES = {
    # LLaDA-8B-Instruct: 32 layers, d_model 4096, 32 heads (MHA), SwiGLU 12288, vocab 126464, mask 126336
    'llada-8b': dict(family='llada', layers=32, d=4096, heads=32, kv=32, ffn=12288, vocab=126464, mask=126336, eos=126081, rope=500000.0, ctx=4096),
    # the CPU benchmark's random model (bench/random-model.ts DEFAULT_SHAPE), for CPU-vs-GPU comparisons
    'bench-8l': dict(family='llada', layers=8, d=1024, heads=16, kv=16, ffn=3072, vocab=32768, mask=32767, eos=32766, rope=500000.0, ctx=32768),
    # Dream-v0-Instruct-7B: 28 layers, hidden 3584, 28 query / 4 KV heads, MLP 18944, vocab 152064, mask 151666
    'dream-7b': dict(family='dream', layers=28, d=3584, heads=28, kv=4, ffn=18944, vocab=152064, mask=151666, eos=151643, rope=1000000.0, ctx=131072),
}

def tensors(s):
    d, H, Hkv, F, V = s['d'], s['heads'], s['kv'], s['ffn'], s['vocab']
    D = d // H
    out = []
    if s['family'] == 'llada':
        p = 'model.transformer'
        out.append((f'{p}.wte.weight', [V, d], 1.0))
        for i in range(s['layers']):
            b = f'{p}.blocks.{i}'
            out += [(f'{b}.attn_norm.weight', [d], None), (f'{b}.q_proj.weight', [H * D, d], d ** -0.5), (f'{b}.k_proj.weight', [Hkv * D, d], d ** -0.5),
                    (f'{b}.v_proj.weight', [Hkv * D, d], d ** -0.5), (f'{b}.attn_out.weight', [d, H * D], 0.5 * d ** -0.5), (f'{b}.ff_norm.weight', [d], None),
                    (f'{b}.ff_proj.weight', [F, d], d ** -0.5), (f'{b}.up_proj.weight', [F, d], d ** -0.5), (f'{b}.ff_out.weight', [d, F], 0.5 * F ** -0.5)]
        out += [(f'{p}.ln_f.weight', [d], None), (f'{p}.ff_out.weight', [V, d], 4 * d ** -0.5)]
    else:
        out.append(('model.embed_tokens.weight', [V, d], 1.0))
        for i in range(s['layers']):
            b = f'model.layers.{i}'
            out += [(f'{b}.input_layernorm.weight', [d], None), (f'{b}.self_attn.q_proj.weight', [H * D, d], d ** -0.5), (f'{b}.self_attn.q_proj.bias', [H * D], 0.02),
                    (f'{b}.self_attn.k_proj.weight', [Hkv * D, d], d ** -0.5), (f'{b}.self_attn.k_proj.bias', [Hkv * D], 0.02),
                    (f'{b}.self_attn.v_proj.weight', [Hkv * D, d], d ** -0.5), (f'{b}.self_attn.v_proj.bias', [Hkv * D], 0.02),
                    (f'{b}.self_attn.o_proj.weight', [d, H * D], 0.5 * d ** -0.5), (f'{b}.post_attention_layernorm.weight', [d], None),
                    (f'{b}.mlp.gate_proj.weight', [F, d], d ** -0.5), (f'{b}.mlp.up_proj.weight', [F, d], d ** -0.5), (f'{b}.mlp.down_proj.weight', [d, F], 0.5 * F ** -0.5)]
        out += [('model.norm.weight', [d], None), ('lm_head.weight', [V, d], 4 * d ** -0.5)]
    return out

def config(s):
    if s['family'] == 'llada':
        return dict(model_type='llada', d_model=s['d'], n_heads=s['heads'], n_kv_heads=s['kv'], n_layers=s['layers'], mlp_hidden_size=s['ffn'],
                    vocab_size=s['vocab'], embedding_size=s['vocab'], max_sequence_length=s['ctx'], rope_theta=s['rope'], rms_norm_eps=1e-5,
                    mask_token_id=s['mask'], eos_token_id=s['eos'], block_type='llama', weight_tying=False)
    return dict(model_type='Dream', hidden_size=s['d'], num_attention_heads=s['heads'], num_key_value_heads=s['kv'], num_hidden_layers=s['layers'],
                intermediate_size=s['ffn'], vocab_size=s['vocab'], max_position_embeddings=s['ctx'], rope_theta=s['rope'], rms_norm_eps=1e-6,
                mask_token_id=s['mask'], eos_token_id=s['eos'], hidden_act='silu', tie_word_embeddings=False)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('shape', choices=sorted(SHAPES))
    ap.add_argument('out')
    ap.add_argument('--layers', type=int)
    ap.add_argument('--shard-gb', type=float, default=4.0)
    a = ap.parse_args()
    s = dict(SHAPES[a.shape])
    if a.layers: s['layers'] = a.layers
    os.makedirs(a.out, exist_ok=True)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    g = torch.Generator(device=dev).manual_seed(1)
    shard, size, n, index = {}, 0, 0, {}
    def flush():
        nonlocal shard, size, n
        if not shard: return
        name = f'model-{n:05d}.safetensors'
        save_file(shard, os.path.join(a.out, name))
        for k in shard: index[k] = name
        shard, size, n = {}, 0, n + 1
    for name, shape, std in tensors(s):
        t = torch.ones(shape, device=dev, dtype=torch.bfloat16) if std is None else (torch.randn(shape, device=dev, generator=g, dtype=torch.float32) * std).to(torch.bfloat16)
        shard[name] = t.cpu()
        size += t.numel() * 2
        if size >= a.shard_gb * 2 ** 30: flush()
    flush()
    # the shards' real names: model-00000-of-0000N.safetensors, as HF writes them
    total = n
    final = {}
    for i in range(total):
        old, new = f'model-{i:05d}.safetensors', f'model-{i + 1:05d}-of-{total:05d}.safetensors'
        os.rename(os.path.join(a.out, old), os.path.join(a.out, new))
        final[old] = new
    weight_map = {k: final[v] for k, v in index.items()}
    params = sum(math.prod(sh) for _, sh, _ in tensors(s))
    with open(os.path.join(a.out, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': params * 2}, 'weight_map': weight_map}, f)
    with open(os.path.join(a.out, 'config.json'), 'w') as f:
        json.dump(config(s), f)
    print(f'{a.shape}: {s["layers"]} layers, {params / 1e9:.2f}B parameters, {total} shards in {a.out}')

if __name__ == '__main__':
    main()
