/**
 * `npm run bench -- attention`: why a cache refresh uses ORT's fused MultiHeadAttention. One layer's
 * attention over T rows (d_model 1024, 16 heads) as the fused op against explicit Q K^T / softmax / V.
 */
import ort from 'onnxruntime-node';
import { DT, GraphBuilder, encodeModel } from '../src/model/onnx-builder.js';

export async function runAttentionBench(T: number, log: (s: string) => void): Promise<{ fusedMs: number; explicitMs: number }> {
  const d = 1024;
  const H = 16;
  const build = (fused: boolean): Uint8Array => {
    const g = new GraphBuilder();
    const [q, k, v] = ['q', 'k', 'v'].map((n) => g.input(n, DT.FLOAT, [1, 'T', d]));
    let o: string;
    if (fused) o = g.op('MultiHeadAttention', [q, k, v], { num_heads: H }, { domain: 'com.microsoft' });
    else {
      const heads = (x: string, perm: number[]): string => g.op('Transpose', [g.op('Reshape', [x, g.constI64([1, -1, H, d / H])])], { perm });
      const s = g.op('FusedMatMul', [heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 1, 3])], { transB: 1, alpha: { float: 1 / Math.sqrt(d / H) } }, { domain: 'com.microsoft' });
      const a = g.op('MatMul', [g.op('Softmax', [s], { axis: -1 }), heads(v, [0, 2, 1, 3])]);
      o = g.op('Reshape', [g.op('Transpose', [a], { perm: [0, 2, 1, 3] }), g.constI64([1, -1, d])]);
    }
    g.identity(o, 'o');
    g.output('o', DT.FLOAT, [1, 'T', d]);
    return encodeModel(g.graph('attention'));
  };
  const feeds = Object.fromEntries(['q', 'k', 'v'].map((n) => [n, new ort.Tensor('float32', Float32Array.from({ length: T * d }, () => Math.random() - 0.5), [1, T, d])]));
  const time = async (fused: boolean): Promise<number> => {
    const s = await ort.InferenceSession.create(build(fused));
    await s.run(feeds);
    const t0 = performance.now();
    await s.run(feeds);
    const ms = performance.now() - t0;
    await s.release();
    log(`  ${fused ? 'fused MultiHeadAttention' : 'explicit scores'}: ${ms.toFixed(0)} ms\n`);
    return ms;
  };
  return { fusedMs: await time(true), explicitMs: await time(false) };
}
