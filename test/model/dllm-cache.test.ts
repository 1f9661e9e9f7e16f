// dLLM-Cache (src/cache/dllm): no recorded outputs of the official code, so truths it must meet:
// - refreshing both parts every forward is the no-cache loop: the official LLaDA and Dream outputs;
// - never refreshing after the first forward with every answer row recomputed (rho 1) is a prefix
//   cache whose prefix is the prompt: Fast-dLLM's prefix host with one block and a first-block refresh;
// - the rows it recomputes, counted by hand from the intervals and rho;
// - the adaptive rows are those whose fresh V is least like the cached V (read off the graph's caches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DREAM_TINY, type DreamGenCase, LLADA_TINY, type LladaGenCase, REPO_ROOT, reference } from '../helpers.js';
import { WavefilterError, loadModel } from '../../src/index.js';
import { readModelSpec } from '../../src/checkpoint/config.js';
import { TensorStore } from '../../src/checkpoint/safetensors.js';
import { createModelSession, modelSessionOptions, releaseSession } from '../../src/model/runtime.js';
import { DllmNames as N, buildDllmGraph } from '../../src/cache/dllm/graph.js';

const EVERY = { promptInterval: 1, genInterval: 1, transferRatio: 0.25 };
const NEVER = { promptInterval: 100000, genInterval: 100000 };

test('dLLM-Cache refreshing every forward is the no-cache loop: the official outputs (the LLaDA cases without a cache, the 9 Dream cases)', async () => {
  const llada = await loadModel(LLADA_TINY);
  try {
    const cases = reference<LladaGenCase & { method: string }>(LLADA_TINY).generate.filter((c) => c.method === 'none');
    assert.ok(cases.length >= 4);
    for (const c of cases) {
      const r = await llada.generate({ inputIds: c.prompt_ids }, { genLength: c.gen_length, blockLength: c.block_length, steps: c.steps, threshold: c.threshold ?? null, cache: 'dllm-cache', dllmCache: EVERY });
      assert.deepEqual(r.outputIds, c.output_ids, `gen ${c.gen_length} block ${c.block_length} steps ${c.steps}`);
      assert.equal(r.nfe, c.nfe);
      assert.equal(r.dllmCache?.computedRatio, 1);
    }
  } finally {
    await llada.dispose();
  }
  const dream = await loadModel(DREAM_TINY);
  try {
    for (const c of reference<DreamGenCase>(DREAM_TINY).generate) {
      const r = await dream.generate({ inputIds: c.prompt_ids }, { genLength: c.gen_length, steps: c.steps, alg: c.alg, eps: c.eps, temperature: 0, cache: 'dllm-cache', dllmCache: EVERY });
      assert.deepEqual(r.outputIds, c.output_ids, `${c.alg} gen ${c.gen_length} steps ${c.steps}`);
    }
  } finally {
    await dream.dispose();
  }
});

// (LLaDA: Fast-dLLM's Dream prefix loop commits the block's first token from the refresh alone)
test('dLLM-Cache without refreshes after the first forward and rho 1 is the prefix cache over the prompt (LLaDA, one block, first-block refresh)', async () => {
  for (const dir of [LLADA_TINY]) {
    const m = await loadModel(dir);
    try {
      for (const c of reference<{ prompt_ids: number[] }>(dir).generate.slice(0, 3)) {
        const o = { genLength: 16, blockLength: 16, steps: 16 };
        const prefix = await m.generate({ inputIds: c.prompt_ids }, { ...o, cache: 'prefix', promptRefresh: 'first-block', executor: 'step' });
        const d = await m.generate({ inputIds: c.prompt_ids }, { ...o, cache: 'dllm-cache', dllmCache: { ...NEVER, transferRatio: 1 } });
        assert.deepEqual(d.outputIds, prefix.outputIds, `${dir}: prompt of ${c.prompt_ids.length}`);
        assert.equal(d.nfe, prefix.nfe);
        assert.equal(d.dllmCache?.promptRefreshes, 1);
      }
    } finally {
      await m.dispose();
    }
  }
});

test('the rows dLLM-Cache recomputes, counted by hand from the intervals and rho', async () => {
  const m = await loadModel(LLADA_TINY);
  try {
    const L = m.spec.nLayers;
    const prompt = [5, 17, 33, 90, 120, 7, 8, 9, 11, 12];
    const P = prompt.length;
    const G = 24;
    const T = P + G;
    for (const [Kp, Kr, rho] of [[5, 3, 0.25], [4, 2, 0], [7, 5, 1]] as const) {
      const r = await m.generate({ inputIds: prompt }, { genLength: G, blockLength: 8, steps: 24, cache: 'dllm-cache', dllmCache: { promptInterval: Kp, genInterval: Kr, transferRatio: rho } });
      let rows = 0;
      for (let i = 0; i < r.nfe; i++) {
        const rp = i % Kp === 0;
        const rg = i % Kr === 0;
        // layer 0 always every row; above it the prompt when refreshed, and all or floor(G * rho) answer rows
        rows += rp && rg ? L * T : T + (L - 1) * ((rp ? P : 0) + (rg ? G : Math.floor(G * rho)));
      }
      assert.equal(r.nfe, 24);
      assert.equal(r.dllmCache?.computedRatio, rows / (r.nfe * L * T), `Kp ${Kp}, Kr ${Kr}, rho ${rho}`);
      assert.equal(r.dllmCache?.promptRefreshes, Math.ceil(24 / Kp));
      assert.equal(r.dllmCache?.genRefreshes, Math.ceil(24 / Kr));
    }
  } finally {
    await m.dispose();
  }
});

test('between refreshes a layer recomputes the answer rows whose fresh V is least like the cached V, and takes every answer row\'s fresh V', async () => {
  const spec = readModelSpec(LLADA_TINY);
  const session = await createModelSession(TensorStore.open(LLADA_TINY), modelSessionOptions({}), (w) => buildDllmGraph(spec, w));
  try {
    const { nLayers: L, nKvHeads: Hkv, headDim: D, dModel: d } = spec;
    const P = 12;
    const G = 12;
    const T = P + G;
    const mask = spec.maskTokenId;
    const idsA = Array.from({ length: T }, (_, i) => (i < P ? (i * 37 + 5) % 300 : mask));
    const idsB = idsA.map((t, i) => (i === P + 2 || i === P + 7 ? (i * 11) % 300 : t)); // two answer tokens decoded
    const i64 = (xs: readonly number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(xs, BigInt), [xs.length]);
    const scalar = (x: number): ort.Tensor => new ort.Tensor('int64', BigInt64Array.of(BigInt(x)), []);
    const flag = (b: boolean): ort.Tensor => new ort.Tensor('bool', Uint8Array.of(b ? 1 : 0), []);
    const run = async (ids: number[], both: boolean, nSelect: number, caches: Float32Array[][] | null): Promise<Record<string, ort.Tensor>> => {
      const feeds: Record<string, ort.Tensor> = { [N.inputIds]: i64(ids), [N.promptLen]: scalar(P), [N.refreshPrompt]: flag(both), [N.refreshGen]: flag(both), [N.nSelect]: scalar(nSelect), [N.logitRows]: i64([P]) };
      const n = caches ? T : 0;
      for (let l = 0; l < L; l++) {
        const c = caches?.[l];
        feeds[N.kCache(l)] = new ort.Tensor('float32', c?.[0] ?? new Float32Array(0), [n, Hkv, D]);
        feeds[N.vCache(l)] = new ort.Tensor('float32', c?.[1] ?? new Float32Array(0), [n, Hkv, D]);
        feeds[N.attnCache(l)] = new ort.Tensor('float32', c?.[2] ?? new Float32Array(0), [n, d]);
        feeds[N.ffnCache(l)] = new ort.Tensor('float32', c?.[3] ?? new Float32Array(0), [n, d]);
      }
      return (await session.run(feeds)) as Record<string, ort.Tensor>;
    };
    const a = await run(idsA, true, 0, null);
    const caches = Array.from({ length: L }, (_, l) => [N.kOut(l), N.vOut(l), N.attnOut(l), N.ffnOut(l)].map((n) => (a[n] as ort.Tensor).data as Float32Array));
    const k = 3;
    const b = await run(idsB, false, k, caches);
    assert.deepEqual(Array.from((b[N.recomputed] as ort.Tensor).data as BigInt64Array, Number), [T, ...Array(L - 1).fill(k)]);
    const W = Hkv * D;
    for (let l = 1; l < L; l++) {
      const kNew = (b[N.kOut(l)] as ort.Tensor).data as Float32Array;
      const vNew = (b[N.vOut(l)] as ort.Tensor).data as Float32Array;
      const [kOld, vOld] = caches[l] as Float32Array[];
      const row = (x: Float32Array, r: number): Float32Array => x.subarray(r * W, (r + 1) * W);
      const same = (x: Float32Array, y: Float32Array): boolean => x.every((v, i) => v === y[i]);
      // the K rows that changed are the selected ones (prompt rows never change)
      const changedK = Array.from({ length: T }, (_, r) => r).filter((r) => !same(row(kNew, r), row(kOld as Float32Array, r)));
      assert.equal(changedK.length, k, `layer ${l}: ${changedK.join(',')}`);
      assert.ok(changedK.every((r) => r >= P));
      // ... and they are the k answer rows with the lowest cosine between fresh and cached V
      const cos = (x: Float32Array, y: Float32Array): number => {
        let xy = 0;
        let xx = 0;
        let yy = 0;
        for (let i = 0; i < x.length; i++) {
          xy += (x[i] as number) * (y[i] as number);
          xx += (x[i] as number) ** 2;
          yy += (y[i] as number) ** 2;
        }
        return xy / (Math.max(Math.sqrt(xx), 1e-8) * Math.max(Math.sqrt(yy), 1e-8));
      };
      const ranked = Array.from({ length: G }, (_, j) => P + j).sort((x, y) => cos(row(vNew, x), row(vOld as Float32Array, x)) - cos(row(vNew, y), row(vOld as Float32Array, y)));
      assert.deepEqual([...changedK].sort((x, y) => x - y), ranked.slice(0, k).sort((x, y) => x - y), `layer ${l}`);
      // every answer row's V is fresh (some differ from the cache), every prompt row's is kept
      assert.ok(Array.from({ length: P }, (_, r) => r).every((r) => same(row(vNew, r), row(vOld as Float32Array, r))));
      assert.ok(Array.from({ length: G }, (_, j) => P + j).filter((r) => !same(row(vNew, r), row(vOld as Float32Array, r))).length > k);
    }
  } finally {
    await releaseSession(session);
  }
});

test('dLLM-Cache options are checked, and the CLI passes its flags through', async () => {
  const m = await loadModel(LLADA_TINY);
  try {
    const bad = async (o: object, option: string): Promise<void> => {
      await assert.rejects(m.generate({ inputIds: [5, 6, 7] }, { genLength: 8, blockLength: 8, steps: 8, ...o }), (e: unknown) => e instanceof WavefilterError && e.code === 'invalid_option' && (e.details as { option?: string }).option === option);
    };
    await bad({ cache: 'dllm-cache', dllmCache: { promptInterval: 0 } }, 'dllmCache.promptInterval');
    await bad({ cache: 'dllm-cache', dllmCache: { genInterval: 1.5 } }, 'dllmCache.genInterval');
    await bad({ cache: 'dllm-cache', dllmCache: { transferRatio: 2 } }, 'dllmCache.transferRatio');
    await bad({ cache: 'dllm-cache', dllmCache: { ratio: 0.5 } }, 'dllmCache.ratio');
    await bad({ cache: 'none', dllmCache: {} }, 'dllmCache');
    await bad({ cache: 'dllm-cache', filter: 'snapkv' }, 'filter');
    await bad({ cache: 'dllm-cache', executor: 'block' }, 'executor');
    await bad({ cache: 'dllm-cache', cfgScale: 1 }, 'cfgScale');
  } finally {
    await m.dispose();
  }
  const cli = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'generate', '--model', LLADA_TINY, '--input-ids', '5,6,7,8', ...args], { encoding: 'utf8' });
  const ok = cli(['--cache', 'dllm-cache', '--gen-length', '16', '--block-length', '8', '--steps', '16', '--prompt-interval', '5', '--gen-interval', '4', '--transfer-ratio', '0.5', '--json']);
  assert.equal(ok.status, 0, String(ok.stderr));
  const j = JSON.parse(String(ok.stdout)) as { nfe: number; options: { cache: string }; dllm_cache: { prompt_refreshes: number; gen_refreshes: number; computed_ratio: number } };
  assert.equal(j.options.cache, 'dllm-cache');
  assert.equal(j.dllm_cache.prompt_refreshes, Math.ceil(j.nfe / 5));
  assert.equal(j.dllm_cache.gen_refreshes, Math.ceil(j.nfe / 4));
  assert.ok(j.dllm_cache.computed_ratio < 1);
  const stray = cli(['--gen-interval', '4']);
  assert.equal(stray.status, 2, String(stray.stderr));
  assert.match(String(stray.stderr), /--gen-interval: a dLLM-Cache option; it needs --cache dllm-cache/);
});
