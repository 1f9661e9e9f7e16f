// The lean forward (ORT's fused SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization and
// RotaryEmbedding kernels, the ops of the fp16 GPU path) checked on the CPU in fp32, where it can
// be compared exactly: its logits against the official code's recorded logits (LLaDA and Dream with
// GQA and QKV biases; also packed: one Q|K|V projection and rotation, QuickGelu SiLU), and the block
// program built with it and with the steps' attention fixed in the graph (explicit scores,
// MultiHeadAttention over the cache, or flash attention over [before | fresh | after]) against the
// standard program, token for token, for every cache host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { BUNDLED_MODEL, DREAM_TINY, LLADA_TINY, reference } from '../helpers.js';
import { readModelSpec } from '../../src/checkpoint/config.js';
import { TensorStore } from '../../src/checkpoint/safetensors.js';
import { buildForwardGraph } from '../../src/model/graph.js';
import { createModelSession, modelSessionOptions, releaseSession } from '../../src/model/runtime.js';
import { BlockProgram } from '../../src/program/block-program.js';
import type { ProgramShape } from '../../src/program/block-graph.js';
import { type ProgramSource, generateBlocks } from '../../src/decode/block-executor.js';
import { cacheHostPolicy } from '../../src/cache/registry.js';

for (const [name, dir] of [['llada-tiny', LLADA_TINY], ['dream-tiny', DREAM_TINY]] as const)
  for (const packed of [false, true])
    test(`lean${packed ? ' packed' : ''} forward: logits within 1e-4 of the official code's (${name})`, async () => {
    const spec = readModelSpec(dir);
    const store = TensorStore.open(dir);
    const session = await createModelSession(store, modelSessionOptions({}), (w) => buildForwardGraph(spec, w, { lean: true, packed }));
    try {
      for (const c of reference(dir).forward) {
        const T = c.input_ids.length;
        const i64 = (xs: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(xs, BigInt), [xs.length]);
        const feeds: Record<string, ort.Tensor> = {
          input_ids: i64(c.input_ids), positions: i64(c.input_ids.map((_, i) => i)), logit_rows: i64(c.input_ids.map((_, i) => i)), query_rows: i64([]),
          fused: new ort.Tensor('bool', Uint8Array.of(1), []),
        };
        for (let l = 0; l < spec.nLayers; l++) {
          feeds[`past_key.${l}`] = new ort.Tensor('float32', new Float32Array(0), [spec.nKvHeads, 0, spec.headDim]);
          feeds[`past_value.${l}`] = new ort.Tensor('float32', new Float32Array(0), [spec.nKvHeads, 0, spec.headDim]);
          feeds[`past_bias.${l}`] = new ort.Tensor('float32', new Float32Array(0), [spec.nKvHeads, 0]);
        }
        const logits = (await session.run(feeds)).logits?.data as Float32Array;
        let diff = 0;
        for (let t = 0; t < T; t++) for (let v = 0; v < spec.vocabSize; v++) diff = Math.max(diff, Math.abs((logits[t * spec.vocabSize + v] as number) - (c.logits[t]?.[v] as number)));
        assert.ok(diff < 1e-4, `${name}: max |logit diff| ${diff}`);
      }
    } finally {
      await releaseSession(session);
    }
  });

function programs(dir: string, shape: Partial<ProgramShape>): { source: ProgramSource; dispose(): Promise<void> } {
  const spec = readModelSpec(dir);
  const store = TensorStore.open(dir);
  const made: BlockProgram[] = [];
  return {
    source: async (filter, requested) => {
      const p = await BlockProgram.create(spec, store, {}, filter, { ...requested, ...shape });
      made.push(p);
      return { value: p, release: () => {} };
    },
    dispose: async () => {
      for (const p of made) await p.dispose();
    },
  };
}

for (const [name, dir, n] of [['bundled LLaDA', BUNDLED_MODEL, 300], ['tiny Dream', DREAM_TINY, 40]] as const)
  test(`lean block program with the steps' attention fixed: the standard program's tokens (${name})`, async () => {
    const spec = readModelSpec(dir);
    const prompt = Array.from({ length: n }, (_, i) => ((i * 7919 + 17) % (spec.vocabSize - 3)) + 1).map((x) => (x === spec.maskTokenId ? x + 1 : x));
    const lean = programs(dir, { lean: true });
    const mha = programs(dir, { lean: true, cachedAttention: 'mha' });
    const packed = programs(dir, { lean: true, packed: true, cachedAttention: 'replace' });
    const standard = programs(dir, { lean: false, stepAttention: undefined, decide: undefined });
    try {
      for (const cache of ['none', 'prefix', 'dual'] as const)
        for (const threshold of [undefined, 0.9]) {
          const o = { genLength: 24, blockLength: 8, steps: 12, cache, ...(threshold ? { threshold } : {}) };
          const a = await generateBlocks(lean.source, spec, cacheHostPolicy(cache), prompt, o);
          const b = await generateBlocks(standard.source, spec, cacheHostPolicy(cache), prompt, o);
          const c = await generateBlocks(mha.source, spec, cacheHostPolicy(cache), prompt, o);
          const d = await generateBlocks(packed.source, spec, cacheHostPolicy(cache), prompt, o);
          assert.equal(a.outputIds.length, prompt.length + 24);
          assert.deepEqual(a.outputIds, b.outputIds, `lean: ${name}, ${cache}, threshold ${threshold}`);
          assert.deepEqual(c.outputIds, b.outputIds, `lean + MultiHeadAttention: ${name}, ${cache}, threshold ${threshold}`);
          assert.equal(a.nfe, b.nfe);
          assert.equal(c.nfe, b.nfe);
          assert.deepEqual(d.outputIds, b.outputIds, `lean + packed + replace: ${name}, ${cache}, threshold ${threshold}`);
          assert.equal(d.nfe, b.nfe);
        }
    } finally {
      await lean.dispose();
      await mha.dispose();
      await packed.dispose();
      await standard.dispose();
    }
  });

// A rule fixed in the graph (ProgramShape.decide: only its ops, no draw bookkeeping when
// deterministic) against the one graph that serves every rule by its controls, rule by rule.
for (const [name, dir, n] of [['llada-tiny', LLADA_TINY, 40], ['dream-tiny', DREAM_TINY, 40]] as const)
  test(`a decoding rule fixed in the graph: the generic rule graph's tokens (${name})`, async () => {
    const spec = readModelSpec(dir);
    const prompt = Array.from({ length: n }, (_, i) => ((i * 7919 + 17) % (spec.vocabSize - 3)) + 1).map((x) => (x === spec.maskTokenId ? x + 1 : x));
    const fixed = programs(dir, {});
    const generic = programs(dir, { decide: undefined });
    const cases: Record<string, unknown>[] = spec.family === 'llada'
      ? [{}, { remasking: 'random', seed: 3 }, { threshold: 0.2 }, { factor: 1.5 }]
      : [{ alg: 'entropy' }, { alg: 'maskgit_plus' }, { alg: 'topk_margin' }, { alg: 'origin', seed: 5 }, { threshold: 0.2 }, { alg: 'entropy', temperature: 0.7, seed: 2 }];
    try {
      for (const extra of cases)
        for (const cache of ['none', 'dual'] as const) {
          const o = { genLength: 16, blockLength: 8, steps: 8, cache, ...extra };
          const a = await generateBlocks(fixed.source, spec, cacheHostPolicy(cache), prompt, o);
          const b = await generateBlocks(generic.source, spec, cacheHostPolicy(cache), prompt, o);
          assert.deepEqual(a.outputIds, b.outputIds, `${name} ${JSON.stringify(o)}`);
          assert.equal(a.nfe, b.nfe);
        }
    } finally {
      await fixed.dispose();
      await generic.dispose();
    }
  });
