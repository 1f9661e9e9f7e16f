// The margin at the transfer cut of Dream's entropy rule on the dream-tiny reference cases (CPU, full
// forwards, as Dream's no-cache loop): how close a case is to a tie that fp32 on another device can flip.
// Used for the GPU report (reports/gpu/README.md, fifth run). Run: npx tsx bench/dream-entropy-margin.ts
import { loadModel } from '../src/index.js';
import { reference, DREAM_TINY, type DreamGenCase } from '../test/helpers.js';
const m = await loadModel(DREAM_TINY);
const cases = reference<DreamGenCase>(DREAM_TINY).generate;
for (const c of cases.filter((c) => c.alg === 'entropy')) {
  const G = c.gen_length, V = m.spec.vocabSize, mask = m.spec.maskTokenId;
  const x = [...c.prompt_ids, ...Array<number>(G).fill(mask)];
  const ts = Array.from({ length: c.steps + 1 }, (_, i) => 1 - (i * (1 - c.eps)) / c.steps);
  let minGap = Infinity;
  for (let i = 0; i < c.steps; i++) {
    const lg = await m.logits(x);
    const masked = x.map((t, p) => (t === mask ? p : -1)).filter((p) => p >= 0);
    const s = ts[i + 1]!, t = ts[i]!;
    const n = i < c.steps - 1 ? Math.floor(masked.length * (1 - s / t)) : masked.length;
    const conf = masked.map((p) => {
      const row = lg[p - 1]!; let mx = -Infinity, arg = 0;
      for (let v = 0; v < V; v++) if (row[v]! > mx) { mx = row[v]!; arg = v; }
      let z = 0; for (let v = 0; v < V; v++) z += Math.exp(row[v]! - mx);
      let ent = 0; for (let v = 0; v < V; v++) { const pr = Math.exp(row[v]! - mx) / z; if (pr > 0) ent -= pr * Math.log(pr); }
      return { p, arg, c: -ent };
    }).sort((a, b) => b.c - a.c);
    if (n > 0 && n < conf.length) minGap = Math.min(minGap, conf[n - 1]!.c - conf[n]!.c);
    for (const q of conf.slice(0, n)) x[q.p] = q.arg;
  }
  console.log(`entropy gen ${G} steps ${c.steps}: same as reference ${x.join() === c.output_ids.join()}, smallest gap at the cut ${minGap.toExponential(2)}`);
}
await m.dispose();
