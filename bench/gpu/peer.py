"""The PyTorch peer for `npm run bench -- gpu`: LLaDA / Dream decoding with Fast-dLLM's three loops
(no cache, prefix cache, dual cache) timed on the same GPU as the engine.

Two implementations of the peer, chosen with --impl:

  official   the official code, fetched by the user (it is not part of this repository):
             `git clone https://github.com/NVlabs/Fast-dLLM` and pass --peer-dir to the checkout. The
             harness imports `llada/generate.py` (generate, generate_with_prefix_cache,
             generate_with_dual_cache) and `llada/model/modeling_llada.py` (LLaDAModelLM) from it and
             loads the checkpoint with from_pretrained. LLaDA only.
  reference  (default) this file's own PyTorch implementation of the same model code and the same
             three loops, written to follow the official code's operations and its host syncs (in-place
             K/V replacement found with nonzero(), RoPE over the whole cached K at every step, a float64
             softmax over the vocabulary for every scored row, topk with a tensor k, Python threshold
             loop). `--check DIR` proves it on the official code's outputs: the reference logits and
             every generate case of test/fixtures/llada-tiny (made with the official code) must match
             token for token with equal NFE; the Dream forward is checked on test/fixtures/dream-tiny.
             Used when the official code is not on the machine (the GPU machine has no network).

Weights are the checkpoint's (bench/gpu/make_checkpoint.py writes LLaDA-8B's and Dream-7B's shapes),
in bf16 by default as the official code runs them. Timing: one untimed block first (CUDA and cuBLAS
warm-up, as the engine's benchmark does), then one timed generation per row; peak memory is torch's
max_memory_reserved for that row plus the CUDA context.

  python3 bench/gpu/peer.py --checkpoint /tmp/llada-8b --prompt-lengths 4096,8192 --methods none,prefix,dual --json
  python3 bench/gpu/peer.py --check test/fixtures          # the reference implementation against the official outputs
"""
import argparse, glob, importlib, json, math, os, sys, time
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------
# the model: official interface (model(x, use_cache=, past_key_values=, replace_position=) -> .logits,
# .past_key_values; .device), so the official generate functions could drive it and ours drive theirs


class Out:
    def __init__(self, logits, past_key_values):
        self.logits = logits
        self.past_key_values = past_key_values


def read_config(d):
    c = json.load(open(os.path.join(d, 'config.json')))
    if str(c.get('model_type', '')).lower() == 'dream':
        return dict(family='dream', layers=c['num_hidden_layers'], d=c['hidden_size'], heads=c['num_attention_heads'],
                    kv=c.get('num_key_value_heads') or c['num_attention_heads'], eps=c.get('rms_norm_eps', 1e-6),
                    theta=c.get('rope_theta', 10000.0), mask=c['mask_token_id'], tie=bool(c.get('tie_word_embeddings', False)))
    return dict(family='llada', layers=c['n_layers'], d=c['d_model'], heads=c['n_heads'], kv=c.get('n_kv_heads') or c['n_heads'],
                eps=c.get('rms_norm_eps', 1e-5), theta=c.get('rope_theta', 10000.0), mask=c['mask_token_id'], tie=bool(c.get('weight_tying', False)))


def read_weights(d, dtype, device):
    from safetensors import safe_open
    out = {}
    for f in sorted(glob.glob(os.path.join(d, '*.safetensors'))):
        with safe_open(f, framework='pt', device=str(device)) as s:
            for k in s.keys():
                out[k] = s.get_tensor(k).to(dtype)
    return out


class PeerModel:
    def __init__(self, ckpt, dtype=torch.bfloat16, device='cuda'):
        self.cfg = c = read_config(ckpt)
        self.device = torch.device(device)
        self.dtype = dtype
        W = read_weights(ckpt, dtype, self.device)
        self.H, self.Hkv, self.D = c['heads'], c['kv'], c['d'] // c['heads']
        if c['family'] == 'llada':
            p = 'model.transformer'
            self.embed = W[f'{p}.wte.weight']
            self.layers = [dict(norm1=W[f'{p}.blocks.{i}.attn_norm.weight'], q=W[f'{p}.blocks.{i}.q_proj.weight'], k=W[f'{p}.blocks.{i}.k_proj.weight'],
                                v=W[f'{p}.blocks.{i}.v_proj.weight'], qb=None, kb=None, vb=None, o=W[f'{p}.blocks.{i}.attn_out.weight'],
                                norm2=W[f'{p}.blocks.{i}.ff_norm.weight'], gate=W[f'{p}.blocks.{i}.ff_proj.weight'], up=W[f'{p}.blocks.{i}.up_proj.weight'],
                                down=W[f'{p}.blocks.{i}.ff_out.weight']) for i in range(c['layers'])]
            self.final_norm = W[f'{p}.ln_f.weight']
            self.lm_head = self.embed if c['tie'] else W[f'{p}.ff_out.weight']
        else:
            self.embed = W['model.embed_tokens.weight']
            a = lambda i, n: W.get(f'model.layers.{i}.self_attn.{n}')
            self.layers = [dict(norm1=W[f'model.layers.{i}.input_layernorm.weight'], q=a(i, 'q_proj.weight'), k=a(i, 'k_proj.weight'), v=a(i, 'v_proj.weight'),
                                qb=a(i, 'q_proj.bias'), kb=a(i, 'k_proj.bias'), vb=a(i, 'v_proj.bias'), o=a(i, 'o_proj.weight'),
                                norm2=W[f'model.layers.{i}.post_attention_layernorm.weight'], gate=W[f'model.layers.{i}.mlp.gate_proj.weight'],
                                up=W[f'model.layers.{i}.mlp.up_proj.weight'], down=W[f'model.layers.{i}.mlp.down_proj.weight']) for i in range(c['layers'])]
            self.final_norm = W['model.norm.weight']
            self.lm_head = self.embed if c['tie'] else W['lm_head.weight']
        D = self.D
        self.inv_freq = 1.0 / (c['theta'] ** (torch.arange(0, D, 2, device=self.device, dtype=torch.float) / D))
        self.tables = None

    def rope_tables(self, n):
        # float32 tables as both models' code computes them; grown and kept like LLaDA's BufferCache
        if self.tables is None or self.tables[0].shape[0] < n:
            seq = torch.arange(max(n, 4096), device=self.device, dtype=torch.float)
            freqs = torch.outer(seq, self.inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            self.tables = (emb.cos(), emb.sin())
        return self.tables[0][:n], self.tables[1][:n]

    def rope(self, t, cos, sin):
        # LLaDA (rope_full_precision) rotates in float32; Dream (Qwen2) in the compute type
        x = t.float() if self.cfg['family'] == 'llada' else t
        cos, sin = (cos, sin) if self.cfg['family'] == 'llada' else (cos.to(t.dtype), sin.to(t.dtype))
        h = x.shape[-1] // 2
        rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
        return (x * cos + rot * sin).to(t.dtype)

    def rms(self, x, w):
        xf = x.to(torch.float32)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.cfg['eps'])
        return w * xf.to(x.dtype)

    @torch.no_grad()
    def __call__(self, x, use_cache=False, past_key_values=None, replace_position=None, raw=False):
        B, T = x.shape
        H, Hkv, D = self.H, self.Hkv, self.D
        h = F.embedding(x, self.embed)
        presents = [] if use_cache else None
        for l, w in enumerate(self.layers):
            a = self.rms(h, w['norm1'])
            q = F.linear(a, w['q'], w['qb']).view(B, T, H, D).transpose(1, 2)
            k = F.linear(a, w['k'], w['kb']).view(B, T, Hkv, D).transpose(1, 2)
            v = F.linear(a, w['v'], w['vb']).view(B, T, Hkv, D).transpose(1, 2)
            end = None
            if past_key_values is not None:
                pk, pv = past_key_values[l]
                if replace_position is None:  # prefix cache: the cached prefix, then the new rows
                    k = torch.cat((pk, k), dim=-2)
                    v = torch.cat((pv, v), dim=-2)
                else:  # dual cache: the new rows written into the cache in place
                    idx = replace_position.nonzero(as_tuple=True)[1]
                    pk[:, :, idx] = k
                    pv[:, :, idx] = v
                    k, v = pk, pv
                    end = int((idx.max() + 1).item())
            if use_cache:
                presents.append((k, v))  # before RoPE, as the official LLaDA code caches them
            n = k.shape[-2]
            cos, sin = self.rope_tables(n)
            qe = n if end is None else end
            q = self.rope(q, cos[qe - T:qe], sin[qe - T:qe])
            k = self.rope(k, cos, sin)
            if Hkv != H:
                k = k.repeat_interleave(H // Hkv, dim=1)
                v = v.repeat_interleave(H // Hkv, dim=1)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False)
            h = h + F.linear(o.transpose(1, 2).contiguous().view(B, T, H * D), w['o'])
            f = self.rms(h, w['norm2'])
            h = h + F.linear(F.silu(F.linear(f, w['gate'])) * F.linear(f, w['up']), w['down'])
        logits = F.linear(self.rms(h, self.final_norm), self.lm_head)
        if self.cfg['family'] == 'dream' and not raw:
            # Dream predicts position p from row p - 1 (the first row predicts itself)
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return Out(logits, presents)


# ---------------------------------------------------------------------------------------------------
# Fast-dLLM's decoding loops (temperature 0, low-confidence remasking; the fixed schedule or a threshold)


def num_transfer_tokens(mask_index, steps):
    mask_num = mask_index.sum(dim=1, keepdim=True)
    base, rem = mask_num // steps, mask_num % steps
    out = torch.zeros(mask_num.size(0), steps, device=mask_index.device, dtype=torch.int64) + base
    for i in range(mask_num.size(0)):
        out[i, : rem[i]] += 1
    return out


def transfer_index(logits, mask_index, x, k, threshold):
    x0 = torch.argmax(logits, dim=-1)
    p = F.softmax(logits.to(torch.float64), dim=-1)
    x0_p = torch.squeeze(torch.gather(p, dim=-1, index=torch.unsqueeze(x0, -1)), -1)
    x0 = torch.where(mask_index, x0, x)
    conf = torch.where(mask_index, x0_p, -math.inf)
    out = torch.zeros_like(x0, dtype=torch.bool)
    if threshold is not None:
        k = mask_index.sum(dim=1, keepdim=True)
    for j in range(conf.shape[0]):
        _, sel = torch.topk(conf[j], k=int(k[j]))
        out[j, sel] = True
        if threshold is not None:
            for i in range(1, int(k[j])):
                if conf[j, sel[i]] < threshold:
                    out[j, sel[i]] = False
    return x0, out


def _canvas(model, prompt, gen_length, mask_id):
    x = torch.full((prompt.shape[0], prompt.shape[1] + gen_length), mask_id, dtype=torch.long, device=model.device)
    x[:, : prompt.shape[1]] = prompt
    return x


@torch.no_grad()
def generate(model, prompt, steps=128, gen_length=128, block_length=128, temperature=0.0, remasking='low_confidence', mask_id=126336, threshold=None, factor=None):
    x = _canvas(model, prompt, gen_length, mask_id)
    blocks = gen_length // block_length
    spb = steps // blocks
    nfe = 0
    for b in range(blocks):
        s = prompt.shape[1] + b * block_length
        e = s + block_length
        ntt = num_transfer_tokens(x[:, s:e] == mask_id, spb)
        i = 0
        while True:
            nfe += 1
            mask_index = x == mask_id
            logits = model(x).logits
            mask_index[:, e:] = 0
            x0, t = transfer_index(logits, mask_index, x, None if threshold is not None else ntt[:, min(i, spb - 1)], threshold)
            x[t] = x0[t]
            i += 1
            if (x[:, s:e] == mask_id).sum() == 0:
                break
    return x, nfe


@torch.no_grad()
def generate_with_prefix_cache(model, prompt, steps=128, gen_length=128, block_length=128, temperature=0.0, remasking='low_confidence', mask_id=126336, threshold=None, factor=None):
    x = _canvas(model, prompt, gen_length, mask_id)
    blocks = gen_length // block_length
    spb = steps // blocks
    nfe = 0
    for b in range(blocks):
        s = prompt.shape[1] + b * block_length
        e = s + block_length
        ntt = num_transfer_tokens(x[:, s:e] == mask_id, spb)
        out = model(x, use_cache=True)
        mask_index = x == mask_id
        mask_index[:, e:] = 0
        x0, t = transfer_index(out.logits, mask_index, x, None if threshold is not None else ntt[:, 0], threshold)
        x[t] = x0[t]
        past = [tuple(kv[:, :, :s] for kv in layer) for layer in out.past_key_values]
        nfe += 1
        i = 1
        # the official cached loops run one cached step after the refresh before they test for
        # completion (the reference NFE counts it; the engine's hosts: minForwardsPerBlock 2)
        while True:
            nfe += 1
            mask_index = x[:, s:] == mask_id
            mask_index[:, block_length:] = 0
            logits = model(x[:, s:], past_key_values=past, use_cache=True).logits
            x0, t = transfer_index(logits, mask_index, x[:, s:], None if threshold is not None else ntt[:, min(i, spb - 1)], threshold)
            x[:, s:][t] = x0[t]
            i += 1
            if (x[:, s:e] == mask_id).sum() == 0:
                break
    return x, nfe


@torch.no_grad()
def generate_with_dual_cache(model, prompt, steps=128, gen_length=128, block_length=128, temperature=0.0, remasking='low_confidence', mask_id=126336, threshold=None, factor=None):
    x = _canvas(model, prompt, gen_length, mask_id)
    blocks = gen_length // block_length
    spb = steps // blocks
    nfe = 0
    for b in range(blocks):
        s = prompt.shape[1] + b * block_length
        e = s + block_length
        ntt = num_transfer_tokens(x[:, s:e] == mask_id, spb)
        out = model(x, use_cache=True)
        past = out.past_key_values
        mask_index = x == mask_id
        mask_index[:, e:] = 0
        x0, t = transfer_index(out.logits, mask_index, x, None if threshold is not None else ntt[:, 0], threshold)
        x[t] = x0[t]
        nfe += 1
        i = 1
        replace = torch.zeros_like(x, dtype=torch.bool)
        replace[:, s:e] = 1
        while True:  # one cached step before the completion test, as in the prefix loop
            nfe += 1
            mask_index = x[:, s:e] == mask_id
            logits = model(x[:, s:e], past_key_values=past, use_cache=True, replace_position=replace).logits
            x0, t = transfer_index(logits, mask_index, x[:, s:e], None if threshold is not None else ntt[:, min(i, spb - 1)], threshold)
            x[:, s:e][t] = x0[t]
            i += 1
            if (x[:, s:e] == mask_id).sum() == 0:
                break
    return x, nfe


REFERENCE_LOOPS = {'none': generate, 'prefix': generate_with_prefix_cache, 'dual': generate_with_dual_cache}


def official(peer_dir, ckpt, dtype):
    """The official Fast-dLLM LLaDA code from a checkout at peer_dir: its loops and its model class."""
    sys.path.insert(0, os.path.abspath(peer_dir))
    gen = importlib.import_module('llada.generate')
    from transformers import AutoConfig
    cls = gen.LLaDAModelLM
    cfg_cls = importlib.import_module('llada.model.configuration_llada').LLaDAConfig
    cfg = cfg_cls.from_pretrained(ckpt)
    # transformers 5 no longer defaults these on a custom config (the official generate reads them)
    for k, v in (('use_cache', False), ('output_attentions', False), ('output_hidden_states', False)):
        if not hasattr(cfg, k):
            setattr(cfg, k, v)
    model = cls.from_pretrained(ckpt, config=cfg, torch_dtype=dtype).to('cuda').eval()
    loops = {'none': gen.generate, 'prefix': gen.generate_with_prefix_cache, 'dual': gen.generate_with_dual_cache}
    return model, loops


# ---------------------------------------------------------------------------------------------------


def bench_prompt(length, vocab):
    # the engine's benchmark prompt (bench/child.ts benchPrompt)
    return [(i * 7919 + 13) % (vocab - 2) for i in range(length)]


def context_mib():
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2 ** 20 - torch.cuda.memory_reserved() / 2 ** 20


def run_bench(a):
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16, 'fp32': torch.float32}[a.dtype]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t0 = time.perf_counter()
    if a.impl == 'official':
        if not a.peer_dir:
            raise SystemExit('--impl official needs --peer-dir (a checkout of https://github.com/NVlabs/Fast-dLLM)')
        model, loops = official(a.peer_dir, a.checkpoint, dtype)
        cfg = read_config(a.checkpoint)
    else:
        model, loops = PeerModel(a.checkpoint, dtype), REFERENCE_LOOPS
        cfg = model.cfg
    torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    vocab = json.load(open(os.path.join(a.checkpoint, 'config.json'))).get('vocab_size')
    ctx = context_mib()
    rows = []
    for n in a.prompt_lengths:
        prompt = torch.tensor([bench_prompt(n, min(vocab, cfg['mask'] + 2))], device='cuda')  # ids below the mask id, as the engine's
        for m in a.methods:
            loop = loops[m]
            kw = dict(mask_id=cfg['mask'], threshold=a.threshold)
            blocks = a.gen_length // a.block_length
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            try:
                for _ in range(a.warmup_none if m == 'none' else a.warmup):
                    loop(model, prompt, steps=a.steps // blocks, gen_length=a.block_length, block_length=a.block_length, **kw)
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                x, nfe = loop(model, prompt, steps=a.steps, gen_length=a.gen_length, block_length=a.block_length, **kw)
                torch.cuda.synchronize()
            except torch.cuda.OutOfMemoryError:
                # one row that does not fit on the card is a result (the memory column's point), not the end of the run
                peak = torch.cuda.max_memory_reserved() / 2 ** 20 + ctx
                torch.cuda.empty_cache()
                rows.append(dict(prompt=n, method=m, error='out of memory', peakDeviceMiB=peak))
                print(f'  peer {a.impl}: prompt {n}, {m}: out of memory ({peak:.0f} MiB reserved with the context)', file=sys.stderr, flush=True)
                continue
            s = time.perf_counter() - t
            nfe = int(nfe)
            row = dict(prompt=n, method=m, totalS=s, tokensPerS=a.gen_length / s, nfe=nfe, msPerStep=1000 * s / max(1, nfe),
                       peakDeviceMiB=torch.cuda.max_memory_reserved() / 2 ** 20 + ctx, peakAllocatedMiB=torch.cuda.max_memory_allocated() / 2 ** 20)
            rows.append(row)
            print(f'  peer {a.impl}: prompt {n}, {m}: {s:.2f} s, {row["tokensPerS"]:.2f} tok/s, nfe {nfe}, {row["peakDeviceMiB"]:.0f} MiB', file=sys.stderr, flush=True)
            del x
    return dict(peer=a.impl, dtype=a.dtype, torch=torch.__version__, gpu=torch.cuda.get_device_name(0), loadS=load_s, contextMiB=ctx, rows=rows)


def run_check(fixtures):
    """The reference implementation against the official code's recorded outputs (fp32)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    report = {}
    for name in ('llada-tiny', 'dream-tiny'):
        d = os.path.join(fixtures, name)
        ref = json.load(open(os.path.join(d, 'reference.json')))
        model = PeerModel(d, torch.float32, dev)
        diff = 0.0
        for f in ref['forward']:
            ids = torch.tensor([f['input_ids']], device=dev)
            out = model(ids, raw=True).logits[0]  # the recorded logits are before Dream's shift
            want = torch.tensor(f['logits'], device=dev)
            diff = max(diff, float((out - want).abs().max()))
        cases = ok = 0
        if name == 'llada-tiny':
            for c in ref['generate']:
                if c.get('temperature', 0) != 0 or c.get('remasking', 'low_confidence') != 'low_confidence' or c.get('factor') is not None:
                    continue
                prompt = torch.tensor([c['prompt_ids']], device=dev)
                x, nfe = REFERENCE_LOOPS[c['method']](model, prompt, steps=c['steps'], gen_length=c['gen_length'], block_length=c['block_length'],
                                                      mask_id=ref['mask_token_id'], threshold=c.get('threshold'))
                cases += 1
                good = x[0].tolist() == c['output_ids'] and int(nfe) == c['nfe']
                ok += int(good)
                if not good:
                    got = x[0].tolist()
                    first = next((i for i, (u, v) in enumerate(zip(got, c['output_ids'])) if u != v), None)
                    print(f"  differs: {c['method']} steps {c['steps']} gen {c['gen_length']} block {c['block_length']} threshold {c.get('threshold')}: nfe {int(nfe)} (want {c['nfe']}), first different position {first} of {len(got)} (prompt {len(c['prompt_ids'])})", file=sys.stderr)
        report[name] = dict(maxLogitDiff=diff, cases=cases, tokenExact=ok)
        print(f'{name}: max |logit diff| {diff:.2e}' + (f', {ok} of {cases} generate cases token-exact with equal NFE' if cases else ''), file=sys.stderr)
    passed = report['llada-tiny']['tokenExact'] == report['llada-tiny']['cases'] > 0 and all(r['maxLogitDiff'] < 1e-3 for r in report.values())
    return dict(check=report, passed=passed, device=dev, torch=torch.__version__)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('--checkpoint', help='checkpoint folder (config.json + safetensors)')
    ap.add_argument('--impl', choices=['reference', 'official'], default='reference')
    ap.add_argument('--peer-dir', help='--impl official: a checkout of NVlabs/Fast-dLLM')
    ap.add_argument('--prompt-lengths', default='4096', type=lambda s: [int(x) for x in s.split(',')])
    ap.add_argument('--methods', default='none,prefix,dual', type=lambda s: s.split(','))
    ap.add_argument('--gen-length', type=int, default=64)
    ap.add_argument('--block-length', type=int, default=32)
    ap.add_argument('--steps', type=int, default=64)
    ap.add_argument('--threshold', type=float)
    ap.add_argument('--dtype', choices=['bf16', 'fp16', 'fp32'], default='bf16')
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--warmup-none', type=int, default=None, help='warm-up blocks before the no-cache rows (default: --warmup)')
    ap.add_argument('--check', metavar='FIXTURES', help='check the reference implementation against test/fixtures (llada-tiny, dream-tiny) and exit')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    if a.warmup_none is None:
        a.warmup_none = a.warmup
    if a.check:
        r = run_check(a.check)
        print(json.dumps(r, indent=2) if a.json else ('passed' if r['passed'] else 'FAILED'))
        sys.exit(0 if r['passed'] else 1)
    if not a.checkpoint:
        ap.error('--checkpoint is required')
    bad = [m for m in a.methods if m not in REFERENCE_LOOPS]
    if bad:
        ap.error(f'unknown method {bad[0]}; expected none, prefix or dual')
    r = run_bench(a)
    print(json.dumps(r, indent=2) if a.json else '\n'.join(f"{x['prompt']} {x['method']}: {x['error']}" if 'error' in x else f"{x['prompt']} {x['method']}: {x['tokensPerS']:.2f} tok/s, {x['msPerStep']:.1f} ms/step, {x['peakDeviceMiB']:.0f} MiB" for x in r['rows']))


if __name__ == '__main__':
    main()
