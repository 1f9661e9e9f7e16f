// Elastic-Cache on Dream (GQA, shifted logits), which the official code cannot run, so there are no
// reference outputs: two independent truths instead.
// 1. With one layer a reuse step is exact (a layer's K and V depend only on each row's token and
//    position, and every changed row is queried), so Elastic-Cache must decode what a plain loop over
//    full forwards (model.logits, the standard graph) decodes with the same rule: the most confident
//    window position, read from its predecessor's logits. Reading a position's own row fails it.
// 2. GQA: the same model with its K/V heads repeated into plain multi-head attention must give the
//    same tokens, NFE, refreshes and drift triggers as the grouped one (the drift test and the
//    attention over repeated heads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DREAM_TINY, reference, type DreamGenCase } from '../helpers.js';
import { loadModel } from '../../src/index.js';
import { TensorStore } from '../../src/checkpoint/safetensors.js';

interface Tensor { shape: number[]; data: Float32Array }

function writeSafetensors(file: string, tensors: Map<string, Tensor>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(file, Buffer.concat([head, Buffer.from(json), ...[...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
}

/** A variant of dream-tiny in a temporary folder: `edit` changes its config and tensors. */
function variant(edit: (config: Record<string, unknown>, tensors: Map<string, Tensor>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'wf-dream-'));
  const config = JSON.parse(readFileSync(join(DREAM_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  const store = TensorStore.open(DREAM_TINY);
  const tensors = new Map<string, Tensor>([...store.tensors.values()].map((t) => [t.name, { shape: [...t.shape], data: store.readFloat32(t.name) }]));
  edit(config, tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) try { copyFileSync(join(DREAM_TINY, f), join(dir, f)); } catch { /* ids only */ }
  return dir;
}

const prompts = reference<DreamGenCase>(DREAM_TINY).generate.map((c) => c.prompt_ids).filter((p, i, all) => all.findIndex((q) => q.join() === p.join()) === i);

test('Elastic-Cache on a one-layer Dream decodes what full forwards decode, from each position\'s predecessor (shifted logits)', async () => {
  const dir = variant((config, tensors) => {
    config.num_hidden_layers = 1;
    for (const name of [...tensors.keys()]) if (/^model\.layers\.[1-9]/.test(name)) tensors.delete(name);
  });
  const m = await loadModel(dir);
  try {
    const V = m.spec.vocabSize;
    const mask = m.spec.maskTokenId;
    for (const prompt of prompts.slice(0, 2)) {
      for (const [G, window] of [[12, 12], [12, 4]] as const) {
        const r = await m.generateElastic({ inputIds: prompt }, { genLength: G, window, threshold: null, tokensPerIter: 1, gamma: 0.9, eosId: null });
        // the truth: full forwards, the most confident of the first `window` masks (earlier on a tie)
        const x = [...prompt, ...Array<number>(G).fill(mask)];
        for (let step = 0; step < G; step++) {
          const logits = await m.logits(x);
          const cands = x.map((t, p) => (t === mask && p >= prompt.length ? p : -1)).filter((p) => p >= 0).slice(0, window);
          let best = { p: -1, tok: -1, conf: -1 };
          for (const p of cands) {
            const row = logits[p - 1] as Float32Array;
            let arg = 0;
            for (let v = 1; v < V; v++) if ((row[v] as number) > (row[arg] as number)) arg = v;
            let sum = 0;
            for (let v = 0; v < V; v++) sum += Math.exp((row[v] as number) - (row[arg] as number));
            if (1 / sum > best.conf) best = { p, tok: arg, conf: 1 / sum };
          }
          x[best.p] = best.tok;
        }
        assert.deepEqual(r.outputIds, x, `prompt of ${prompt.length}, gen ${G}, window ${window}`);
        assert.equal(r.nfe, G);
      }
    }
  } finally {
    await m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Elastic-Cache on Dream: grouped K/V heads give what the same heads repeated into multi-head attention give (with refreshes)', async () => {
  const G = 2; // dream-tiny: 4 query heads, 2 KV heads
  const mha = variant((config, tensors) => {
    const D = (config.hidden_size as number) / (config.num_attention_heads as number);
    config.num_key_value_heads = config.num_attention_heads;
    for (const [name, t] of tensors) {
      if (!/\.(k_proj|v_proj)\.(weight|bias)$/.test(name)) continue;
      const width = t.shape.length === 2 ? (t.shape[1] as number) : 1; // a row of the weight, or one bias value
      const heads = (t.shape[0] as number) / D;
      const out = new Float32Array(t.data.length * G);
      // query head h reads KV head floor(h / G): KV head j becomes heads j*G .. j*G + G - 1
      for (let j = 0; j < heads; j++)
        for (let r = 0; r < G; r++) out.set(t.data.subarray(j * D * width, (j + 1) * D * width), (j * G + r) * D * width);
      tensors.set(name, { shape: t.shape.length === 2 ? [(t.shape[0] as number) * G, width] : [(t.shape[0] as number) * G], data: out });
    }
  });
  const gqa = await loadModel(DREAM_TINY);
  const full = await loadModel(mha);
  try {
    assert.equal(gqa.spec.nKvHeads * G, full.spec.nKvHeads);
    let refreshes = 0;
    for (const prompt of prompts.slice(0, 3)) {
      for (const o of [{ genLength: 16, window: 8, threshold: null, tokensPerIter: 2, gamma: 0.99 }, { genLength: 16, window: 16, threshold: 0.05, gamma: 0.95, trackNum: 2 }]) {
        const a = await gqa.generateElastic({ inputIds: prompt }, { ...o, eosId: null });
        const b = await full.generateElastic({ inputIds: prompt }, { ...o, eosId: null });
        const what = `prompt of ${prompt.length}, ${JSON.stringify(o)}`;
        assert.deepEqual(a.outputIds, b.outputIds, what);
        assert.equal(a.nfe, b.nfe, what);
        assert.deepEqual(a.refreshes, b.refreshes, what);
        assert.deepEqual(a.driftTriggers, b.driftTriggers, what);
        assert.equal(a.masksLeft, 0, what);
        refreshes += a.refreshes.length;
      }
    }
    assert.ok(refreshes > 0, 'the cases refresh layers (the drift test and the refresh path are compared)');
  } finally {
    await gqa.dispose();
    await full.dispose();
    rmSync(mha, { recursive: true, force: true });
  }
});

test('Elastic-Cache on Dream with a token filter keeps the last prompt row (it decodes the first generated position)', async () => {
  const m = await loadModel(DREAM_TINY);
  try {
    const prompt = Array.from({ length: 96 }, (_, i) => (i * 37 + 11) % 390);
    const r = await m.generateElastic({ inputIds: prompt }, { genLength: 16, window: 8, threshold: null, tokensPerIter: 2, filter: 'snapkv', budget: 0.1, eosId: null });
    assert.ok(r.filter, 'the filter cut the caches');
    assert.ok(r.filter.positions.length < prompt.length);
    assert.ok(r.filter.positions.includes(prompt.length - 1), `kept ${r.filter.positions.join(',')}`);
    assert.equal(r.masksLeft, 0);
    assert.equal(r.outputIds.slice(0, prompt.length).join(), prompt.join());
  } finally {
    await m.dispose();
  }
});
