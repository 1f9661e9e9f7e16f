/**
 * One dLLM-Cache forward as one ONNX graph (arXiv 2506.06295; maomaocun/dLLM-cache, as
 * ../shared/docs/dlm-decoding-and-caches.md section 4 describes it). Every layer keeps, for every
 * position, its K and V (after RoPE: positions never move here), its attention output (after the
 * output projection) and its FFN output. A layer recomputes only a set F of rows:
 *
 *   layer 0, or a prompt and a response refresh together: every row (the official hook refreshes
 *            layer 0 always);
 *   otherwise F = (the prompt rows if refresh_prompt) + (the response rows if refresh_gen, else
 *            the n_select response rows whose fresh V is least like their cached V: cosine over
 *            the row's whole V, lowest first; then every response row's V takes its fresh value,
 *            as the official adaptive update does).
 *
 * F's K and V are written into the caches first, then F's rows attend to every row and run the
 * FFN; their outputs replace the cached ones. Every row's next hidden state is its input plus its
 * (cached or fresh) attention and FFN outputs, so a token decoded since the last refresh still
 * reaches the layers above through the residual stream.
 *
 * Choices where the description is silent, written here: with a prompt-only refresh the response's
 * adaptive rows are selected and written before the prompt rows attend (one write, then one
 * attention for all of F); K is cached after RoPE (the official code caches it before RoPE and
 * rotates the full K each step: the same values up to rounding).
 *
 * Inputs                                   Outputs
 *   input_ids     int64 [T]                  logits       f32 [N, V]
 *   prompt_len    int64 []                   k_cache_out.{l}, v_cache_out.{l}, attn_cache_out.{l},
 *   refresh_prompt, refresh_gen bool []        ffn_cache_out.{l}: every row [T, ...]
 *   n_select      int64 []                   recomputed   int64 [L]  rows in F per layer
 *   logit_rows    int64 [N]
 *   k_cache.{l}, v_cache.{l} f32 [T, Hkv, D], attn_cache.{l}, ffn_cache.{l} f32 [T, d]
 *   (empty [0, ...] on the first forward, which must refresh both)
 */
import { DT, GraphBuilder, encodeModel } from '../../model/onnx-builder.js';
import { type WeightSource, plainLinear, plainMlp, plainRmsNorm, plainRope, weightRefs } from '../../model/graph.js';
import type { ModelSpec } from '../../model/spec.js';

export const DllmNames = {
  inputIds: 'input_ids',
  promptLen: 'prompt_len',
  refreshPrompt: 'refresh_prompt',
  refreshGen: 'refresh_gen',
  nSelect: 'n_select',
  logitRows: 'logit_rows',
  kCache: (l: number) => `k_cache.${l}`,
  vCache: (l: number) => `v_cache.${l}`,
  attnCache: (l: number) => `attn_cache.${l}`,
  ffnCache: (l: number) => `ffn_cache.${l}`,
  kOut: (l: number) => `k_cache_out.${l}`,
  vOut: (l: number) => `v_cache_out.${l}`,
  attnOut: (l: number) => `attn_cache_out.${l}`,
  ffnOut: (l: number) => `ffn_cache_out.${l}`,
  logits: 'logits',
  recomputed: 'recomputed',
} as const;

export function buildDllmGraph(spec: ModelSpec, weights: WeightSource): Uint8Array {
  const g = new GraphBuilder();
  const N = DllmNames;
  const { nLayers, nHeads: H, nKvHeads: Hkv, headDim: D, dModel: d, vocabSize: V } = spec;
  const G = H / Hkv;
  const w = weightRefs(g, weights);
  const I64 = DT.INT64;
  const F32 = DT.FLOAT;
  const c = (b: GraphBuilder, v: readonly number[], dims?: number[]): string => b.constI64(v, dims);

  const ids = g.input(N.inputIds, I64, ['T']);
  const P = g.input(N.promptLen, I64, []);
  const refreshPrompt = g.input(N.refreshPrompt, DT.BOOL, []);
  const refreshGen = g.input(N.refreshGen, DT.BOOL, []);
  const nSelect = g.input(N.nSelect, I64, []);
  const logitRows = g.input(N.logitRows, I64, ['N']);
  const caches = Array.from({ length: nLayers }, (_, l) => ({
    k: g.input(N.kCache(l), F32, ['Tc', Hkv, D]),
    v: g.input(N.vCache(l), F32, ['Tc', Hkv, D]),
    attn: g.input(N.attnCache(l), F32, ['Tc', d]),
    ffn: g.input(N.ffnCache(l), F32, ['Tc', d]),
  }));

  const T = g.op('Squeeze', [g.op('Shape', [ids]), c(g, [0])]); // []
  const all = g.op('Range', [c(g, [0], []), T, c(g, [1], [])]); // [T]
  const promptRows = g.op('Range', [c(g, [0], []), P, c(g, [1], [])]);
  const genRows = g.op('Range', [P, T, c(g, [1], [])]);
  const both = g.op('And', [refreshPrompt, refreshGen]);
  const rmsNorm = (b: GraphBuilder, x: string, wn: string): string => plainRmsNorm(b, spec, x, w(wn));
  const linear = (b: GraphBuilder, x: string, wn: string, bias?: string): string => plainLinear(b, w, x, wn, bias);
  const rows = (b: GraphBuilder, x: string, at: string): string => b.op('Gather', [x, at], { axis: 0 });
  const scatter = (b: GraphBuilder, cache: string, at: string, vals: string): string => b.op('ScatterND', [cache, b.op('Unsqueeze', [at, c(b, [1])]), vals]);
  /** An If with one output built by each branch function. */
  const choose = (b: GraphBuilder, cond: string, name: string, then: (x: GraphBuilder) => string, other: (x: GraphBuilder) => string, type: 1 | 7, dims: (number | string)[]): string => {
    const branch = (hint: string, f: (x: GraphBuilder) => string): ReturnType<GraphBuilder['graph']> => {
      const x = b.child(hint);
      x.output(x.identity(f(x), `${x.prefix}o`), type, dims);
      return { ...x.graph(hint), input: [] };
    };
    return b.op('If', [cond], { then_branch: { graph: branch(`${name}t_`, then) }, else_branch: { graph: branch(`${name}e_`, other) } });
  };

  let x = rows(g, w(spec.tensors.embed), ids); // [T, d]
  const recomputed: string[] = [];
  for (let l = 0; l < nLayers; l++) {
    const lw = spec.tensors.layers[l];
    const cache = caches[l];
    const a = rmsNorm(g, x, lw.attnNorm); // [T, d] (cheap beside the projections; the rows below gather from it)
    const vOf = (b: GraphBuilder, at: string): string => b.op('Reshape', [linear(b, rows(b, a, at), lw.v, lw.vBias), c(b, [0, Hkv, D])]);
    // F, and the V cache after the adaptive update (the response's fresh V where it applies)
    const [fRows, vBase] = l === 0 ? [all, cache.v] : g.opN('If', [both], 2, {
      then_branch: { graph: (() => { const b = g.child(`D${l}f_`); b.output(b.identity(all, `${b.prefix}f`), I64, ['F']); b.output(b.identity(b.op('Reshape', [b.constF32(new Float32Array(0), [0]), c(b, [0, Hkv, D])]), `${b.prefix}v`), F32, ['Tv', Hkv, D]); return { ...b.graph('full'), input: [] }; })() },
      else_branch: { graph: (() => {
        const b = g.child(`D${l}p_`);
        const head = choose(b, refreshPrompt, `D${l}h`, () => promptRows, (x2) => x2.op('Slice', [promptRows, c(x2, [0]), c(x2, [0])]), 7, ['p']);
        // the response rows: all of them, or the adaptive selection
        const tailAndV = b.opN('If', [refreshGen], 2, {
          then_branch: { graph: (() => { const t = b.child(`D${l}g_`); t.output(t.identity(genRows, `${t.prefix}f`), I64, ['g']); t.output(t.identity(cache.v, `${t.prefix}v`), F32, ['Tv', Hkv, D]); return { ...t.graph('gen'), input: [] }; })() },
          else_branch: { graph: (() => {
            const t = b.child(`D${l}s_`);
            const fresh = vOf(t, genRows); // [G, Hkv, D]
            const flat = (y: string): string => t.op('Reshape', [y, c(t, [0, Hkv * D])]);
            const old = flat(rows(t, cache.v, genRows));
            const nw = flat(fresh);
            const dot = t.op('ReduceSum', [t.op('Mul', [old, nw]), c(t, [1])], { keepdims: 0 });
            const norm = (y: string): string => t.op('Max', [t.op('Sqrt', [t.op('ReduceSum', [t.op('Mul', [y, y]), c(t, [1])], { keepdims: 0 })]), t.scalarF32(1e-8)]);
            const cos = t.op('Div', [dot, t.op('Mul', [norm(old), norm(nw)])]); // [G]
            const k = t.op('Unsqueeze', [t.op('Min', [nSelect, t.op('Squeeze', [t.op('Shape', [cos]), c(t, [0])])]), c(t, [0])]);
            const picked = t.opN('TopK', [cos, k], 2, { axis: 0, largest: 0, sorted: 1 })[1];
            t.output(t.identity(t.op('Add', [picked, P]), `${t.prefix}f`), I64, ['g']);
            t.output(t.identity(scatter(t, cache.v, genRows, fresh), `${t.prefix}v`), F32, ['Tv', Hkv, D]);
            return { ...t.graph('adaptive'), input: [] };
          })() },
        });
        b.output(b.identity(b.op('Concat', [head, tailAndV[0] as string], { axis: 0 }), `${b.prefix}f`), I64, ['F']);
        b.output(b.identity(tailAndV[1] as string, `${b.prefix}v`), F32, ['Tv', Hkv, D]);
        return { ...b.graph('partial'), input: [] };
      })() },
    });
    // F's q, k, v; the caches with F written in (every row when F is every row)
    const fa = rows(g, a, fRows);
    const rope = plainRope(g, spec, fRows);
    const q = rope(linear(g, fa, lw.q, lw.qBias), H); // [F, H, D]
    const k = rope(linear(g, fa, lw.k, lw.kBias), Hkv);
    const v = g.op('Reshape', [linear(g, fa, lw.v, lw.vBias), c(g, [0, Hkv, D])]);
    // (layer 0 is always every row: no If)
    const pick = (name: string, fresh: string, into: (b: GraphBuilder) => string, dims: (number | string)[]): string => (l === 0 ? fresh : choose(g, both, `D${l}${name}`, () => fresh, into, 1, dims));
    const kAll = pick('k', k, (b) => scatter(b, cache.k, fRows, k), ['T', Hkv, D]);
    const vAll = pick('v', v, (b) => scatter(b, vBase, fRows, v), ['T', Hkv, D]);
    // F's rows attend to every row (ORT's MultiHeadAttention; K/V heads repeated for their groups)
    const flat = (t: string): string => g.op('Reshape', [t, c(g, [1, -1, H * D])]);
    const expand = (t: string): string => (G === 1 ? t : g.op('Reshape', [g.op('Expand', [g.op('Unsqueeze', [t, c(g, [2])]), c(g, [1, 1, G, 1])]), c(g, [0, H, D])]));
    const ctx = g.op('Reshape', [g.op('MultiHeadAttention', [flat(q), flat(expand(kAll)), flat(expand(vAll))], { num_heads: H }, { domain: 'com.microsoft' }), c(g, [-1, H * D])]);
    const attnF = linear(g, ctx, lw.o);
    const h = g.op('Add', [rows(g, x, fRows), attnF]);
    const ffnF = plainMlp(g, w, lw, rmsNorm(g, h, lw.ffnNorm));
    const attnAll = pick('a', attnF, (b) => scatter(b, cache.attn, fRows, attnF), ['T', d]);
    const ffnAll = pick('m', ffnF, (b) => scatter(b, cache.ffn, fRows, ffnF), ['T', d]);
    g.identity(kAll, N.kOut(l));
    g.identity(vAll, N.vOut(l));
    g.identity(attnAll, N.attnOut(l));
    g.identity(ffnAll, N.ffnOut(l));
    g.output(N.kOut(l), F32, ['T', Hkv, D]);
    g.output(N.vOut(l), F32, ['T', Hkv, D]);
    g.output(N.attnOut(l), F32, ['T', d]);
    g.output(N.ffnOut(l), F32, ['T', d]);
    recomputed.push(g.op('Shape', [fRows]));
    x = g.op('Add', [g.op('Add', [x, attnAll]), ffnAll]);
  }
  g.op('Gemm', [rmsNorm(g, rows(g, x, logitRows), spec.tensors.finalNorm), w(spec.tensors.lmHead)], { transB: 1 }, { name: N.logits });
  g.output(N.logits, F32, ['N', V]);
  g.identity(g.op('Concat', recomputed, { axis: 0 }), N.recomputed);
  g.output(N.recomputed, I64, [nLayers]);
  return encodeModel(g.graph('dllm_cache_step'));
}
