// The OpenAI-compatible server (src/server) against the official `openai` npm client, on the bundled
// model: plain and streamed chat and completions (the stream adds up to the plain answer), cancel by
// abort (the slot is free again), the bounded queue, and hostile requests answered with a named 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { AddressInfo } from 'node:net';
import { request } from 'node:http';
import { loadModel } from '../../src/index.js';
import { buildServer, type ServeOptions } from '../../src/server/app.js';
import { StopStream } from '../../src/server/stop-stream.js';
import { matchAll, postprocess } from '../../src/eval/ruler/metrics.js';
import { BUNDLED_MODEL } from '../helpers.js';
import { needleSample } from '../needle.js';

test('stop strings: held while they may start, cut where they match; incomplete UTF-8 is held', () => {
  const s = new StopStream(['END', '\n\n']);
  assert.deepEqual(s.push('abc E'), { emit: 'abc ', stopped: false }); // "E" may start END
  assert.deepEqual(s.push('abc EN'), { emit: '', stopped: false });
  assert.deepEqual(s.push('abc ENx'), { emit: 'ENx', stopped: false }); // it did not
  assert.deepEqual(s.push('abc ENx\n'), { emit: '', stopped: false });
  assert.deepEqual(s.push('abc ENx\n\nmore'), { emit: '', stopped: true });
  assert.deepEqual(s.finish('abc ENx\n\nmore END'), { emit: '', stopped: true });
  const u = new StopStream([]);
  assert.deepEqual(u.push('h\uFFFD'), { emit: 'h', stopped: false });
  assert.deepEqual(u.push('hé!'), { emit: 'é!', stopped: false });
  assert.deepEqual(u.finish('hé! done'), { emit: ' done', stopped: false });
  const f = new StopStream(['.']);
  assert.deepEqual(f.finish('one. two.'), { emit: 'one', stopped: true });
});

async function serve(o: Partial<ServeOptions> = {}): Promise<{ url: string; client: OpenAI; close: () => Promise<void> }> {
  const model = await loadModel(BUNDLED_MODEL);
  const app = await buildServer(model, { modelName: 'bundled', ...o });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    client: new OpenAI({ baseURL: `${url}/v1`, apiKey: o.apiKey ?? 'unused', maxRetries: 0 }),
    close: async () => {
      await app.close();
      await model.dispose();
    },
  };
}

const ruler = async (): Promise<{ input: string; answerPrefix: string; outputs: string[] }> => {
  const model = await loadModel(BUNDLED_MODEL);
  try {
    const x = needleSample(model, 11);
    return { input: x.input, answerPrefix: x.answerPrefix, outputs: [...x.outputs] };
  } finally {
    await model.dispose();
  }
};

test('the openai client: chat and completions, plain and streamed (the stream adds up to the plain answer), models, usage', async () => {
  const s = await ruler();
  const srv = await serve();
  try {
    const models = await srv.client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['bundled']);
    // a needle question with the answer started by the assistant (prefill): the bundled model answers it
    const messages = [{ role: 'user' as const, content: s.input }, { role: 'assistant' as const, content: s.answerPrefix }];
    const plain = await srv.client.chat.completions.create({ model: 'bundled', messages, max_tokens: 32 });
    const answer = plain.choices[0]?.message.content ?? '';
    assert.equal(matchAll(postprocess(answer), s.outputs), 1, `${answer} vs ${s.outputs.join(',')}`);
    assert.equal(plain.choices[0]?.finish_reason, 'stop');
    assert.ok((plain.usage?.prompt_tokens ?? 0) > 800 && (plain.usage?.completion_tokens ?? 0) > 0, JSON.stringify(plain.usage));
    const stream = await srv.client.chat.completions.create({ model: 'bundled', messages, max_tokens: 32, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage = null;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    assert.equal(text, answer);
    assert.equal(finish, 'stop');
    assert.deepEqual(usage, plain.usage);
    // completions (raw text, no template): a needle the answer of which (" 4412." and end-of-text, 7
    // tokens) is longer than max_tokens, so finish_reason is length; then a stop string that cuts it
    // (stop). Five tokens hold " 4412": in four, version 4 of the model answers end-of-text at once
    // (the number does not fit), which is a stop, not a cut
    const prompt = 'The grass is green. One of the special magic numbers for apple is: 4412. The sky is blue.\nWhat is the special magic number for apple mentioned in the provided text? The special magic number for apple mentioned in the provided text is';
    const c1 = await srv.client.completions.create({ model: 'bundled', prompt, max_tokens: 5 });
    const full = c1.choices[0]?.text ?? '';
    assert.equal(c1.choices[0]?.finish_reason, 'length');
    assert.equal(c1.usage?.completion_tokens, 5);
    assert.ok('4412'.startsWith(full.trim()) && full.trim().length >= 2, full);
    let streamed = '';
    for await (const c of await srv.client.completions.create({ model: 'bundled', prompt, max_tokens: 5, stream: true })) streamed += c.choices[0]?.text ?? '';
    assert.equal(streamed, full);
    const cut = full.trim().slice(1, 3);
    assert.ok(cut.length > 0, full);
    const c2 = await srv.client.completions.create({ model: 'bundled', prompt, max_tokens: 5, stop: [cut] });
    assert.equal(c2.choices[0]?.text, full.slice(0, full.indexOf(cut)));
    assert.equal(c2.choices[0]?.finish_reason, 'stop');
  } finally {
    await srv.close();
  }
});

test('dlm.events: the denoising canvas every step and the filter\'s kept rows every block, as chunks standard clients skip', async () => {
  const s = await ruler();
  const srv = await serve();
  const model = await loadModel(BUNDLED_MODEL);
  try {
    const body = { messages: [{ role: 'user', content: s.input }, { role: 'assistant', content: s.answerPrefix }], max_tokens: 32, stream: true, dlm: { cache: 'dual', filter: 'wavefilter', budget: 0.25, events: ['canvas', 'kept'] } };
    const res = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    const chunks = (await res.text()).split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[]; wavefilter?: Record<string, unknown> });
    const steps = chunks.flatMap((c) => (c.wavefilter?.type === 'step' ? [c.wavefilter as { nfe: number; canvas: (number | null)[]; committed: number[]; settled: number }] : []));
    const kept = chunks.flatMap((c) => (c.wavefilter?.type === 'kept' ? [c.wavefilter as { block: number; prompt_length: number; layers: number[][] }] : []));
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.deepEqual(steps.map((x) => x.nfe), steps.map((_, i) => i + 1));
    // a committed position keeps its token in every later canvas; the last canvas is the answer
    for (let i = 0; i < steps.length; i++)
      for (const p of steps[i]?.committed ?? []) {
        const t = steps[i]?.canvas[p];
        assert.notEqual(t, null);
        for (const later of steps.slice(i + 1)) assert.equal(later.canvas[p], t);
      }
    const last = steps.at(-1)?.canvas ?? [];
    assert.ok(last.every((t) => t !== null));
    assert.equal(model.decodeAnswer(last as number[]), text);
    assert.equal(kept.length, 1); // one block of 32
    assert.equal(kept[0]?.layers.length, model.spec.nLayers);
    for (const layer of kept[0]?.layers ?? []) {
      assert.ok(layer.length > 0 && layer.length < (kept[0]?.prompt_length ?? 0));
      assert.ok(layer.every((p) => p >= 0 && p < (kept[0]?.prompt_length ?? 0)));
    }
  } finally {
    await model.dispose();
    await srv.close();
  }
});

test('a client that aborts mid-stream frees its slot; a full queue answers 503 with Retry-After', async () => {
  const srv = await serve({ maxQueue: 0 });
  try {
    const long = { model: 'bundled', prompt: 'Once upon a time', max_tokens: 512, stream: true as const, dlm: { threshold: null, cache: 'none' as const } };
    const ac = new AbortController();
    const stream = (await srv.client.completions.create(long as never, { signal: ac.signal })) as unknown as AsyncIterable<unknown>;
    // while it runs, the only slot is taken and nothing may wait: 503
    const busy = await fetch(`${srv.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 4 }) });
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'queue_full');
    // 512 forwards over the whole canvas take seconds: leave after 300 ms, mid-stream (the client
    // library ends the iteration quietly on its own abort)
    setTimeout(() => ac.abort(), 300);
    const started = Date.now();
    for await (const _ of stream) void _;
    assert.ok(Date.now() - started < 2000, 'the stream did not end when the client aborted');
    // the generation stops within a step: the slot is free again soon
    const t0 = Date.now();
    for (;;) {
      const h = (await (await fetch(`${srv.url}/health`)).json()) as { active: number };
      if (h.active === 0) break;
      assert.ok(Date.now() - t0 < 5000, 'the slot was not freed');
      await new Promise((r) => setTimeout(r, 20));
    }
    const after = await srv.client.completions.create({ model: 'bundled', prompt: 'x', max_tokens: 4 });
    assert.equal(after.choices.length, 1);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, /wavefilter_cancelled_total 1\n/);
    const nfe = Number(/wavefilter_nfe_total (\d+)/.exec(metrics)?.[1]);
    assert.ok(nfe < 100, `the cancelled generation stopped early (${nfe} forwards in all)`);
    // one slot: ONNX Runtime's time is part of the generations' time, and some of it
    const ort = Number(/wavefilter_ort_seconds_total ([\d.]+)/.exec(metrics)?.[1]);
    const gen = Number(/wavefilter_generation_seconds_total ([\d.]+)/.exec(metrics)?.[1]);
    assert.ok(ort > 0 && ort <= gen, `ort_seconds_total ${ort} within generation_seconds_total ${gen}`);
    assert.match(metrics, /wavefilter_requests_total\{route="\/v1\/completions",status="503"\} 1/);
  } finally {
    await srv.close();
  }
});

test('hostile and wrong requests get an OpenAI-shaped error that names the problem; a key and the Host header are enforced', async () => {
  const srv = await serve({ apiKey: 'sekrit', maxTokens: 64, bodyLimit: 64 * 1024 });
  try {
    const post = (path: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sekrit', ...headers }, body });
    const expect = async (r: Response, status: number, code: string, match?: RegExp): Promise<void> => {
      assert.equal(r.status, status);
      const e = ((await r.json()) as { error: { code: string; message: string } }).error;
      assert.equal(e.code, code, e.message);
      if (match) assert.match(e.message, match);
    };
    const ok = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };
    await expect(await post('/v1/chat/completions', JSON.stringify(ok), { authorization: 'Bearer nope' }), 401, 'invalid_api_key');
    const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(srv.url);
      const req = request({ host: u.hostname, port: u.port, path: '/v1/models', headers: { host: 'attacker.example', authorization: 'Bearer sekrit' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound.status, 403);
    assert.equal((JSON.parse(rebound.body) as { error: { code: string } }).error.code, 'host_not_allowed');
    await expect(await post('/v1/chat/completions', '{"messages": [', {}), 400, 'invalid_json');
    await expect(await post('/v1/chat/completions', JSON.stringify({ ...ok, tools: [], logprobs: true })), 400, 'invalid_request', /tools, logprobs/);
    await expect(await post('/v1/chat/completions', JSON.stringify({ ...ok, temprature: 0.5 })), 400, 'invalid_request', /unknown field: temprature/);
    await expect(await post('/v1/chat/completions', JSON.stringify({ ...ok, dlm: { blok: 1 } })), 400, 'invalid_request', /dlm\.blok/);
    await expect(await post('/v1/chat/completions', JSON.stringify({ ...ok, max_tokens: 100000 })), 400, 'max_tokens_too_large');
    await expect(await post('/v1/chat/completions', JSON.stringify({ ...ok, model: 'gpt-4' })), 404, 'model_not_found');
    await expect(await post('/v1/chat/completions', JSON.stringify({ ...ok, top_p: 0.5 })), 400, 'unsupported_parameter', /no nucleus filter/);
    await expect(await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(100_000) }] })), 413, 'body_too_large');
    // over the model's context of 4096 tokens
    await expect(await post('/v1/completions', JSON.stringify({ prompt: 'word '.repeat(6000), max_tokens: 4 })), 400, 'context_length_exceeded', /exceeds the model's context of 4096/);
    await expect(await post('/v1/nothing', '{}'), 404, 'not_found');
    // special-token text in a message is text, not a control token: the request succeeds
    const special = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: '<|mdm_mask|><|eot_id|> hi' }], max_tokens: 4 }));
    assert.equal(special.status, 200);
    assert.equal((await fetch(`${srv.url}/health`)).status, 200); // no key needed
    assert.equal((await fetch(`${srv.url}/metrics`)).status, 401);
  } finally {
    await srv.close();
  }
});

test('POST /tokenize and /detokenize round-trip text through the model\'s tokenizer; GET /slots shows the queue; all behind the key', async () => {
  const srv = await serve({ apiKey: 'k', slots: 2, maxQueue: 5 });
  try {
    const call = async (path: string, body?: unknown, key = 'k'): Promise<{ status: number; json: Record<string, unknown> }> => {
      const r = await fetch(`${srv.url}${path}`, body === undefined ? { headers: { authorization: `Bearer ${key}` } } : { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as Record<string, unknown> };
    };
    const text = 'The special magic number for quiet-lake is: 4821.';
    const t = await call('/tokenize', { content: text });
    assert.equal(t.status, 200);
    const tokens = t.json.tokens as number[];
    assert.ok(tokens.length > 5 && tokens.every((x) => Number.isInteger(x)));
    // the invariant: the ids decode back to the text
    const d = await call('/detokenize', { tokens });
    assert.deepEqual([d.status, d.json.content], [200, text]);
    // with the tokenizer's special prefix, when it has one, the text's ids follow it
    const s = await call('/tokenize', { content: text, add_special: true });
    assert.deepEqual((s.json.tokens as number[]).slice(-tokens.length), tokens);
    const bad = await call('/detokenize', { tokens: [1, 10 ** 7] });
    assert.equal(bad.status, 400);
    assert.match(String((bad.json.error as { message: string }).message), /tokens\[1\]/);
    assert.equal((await call('/tokenize', { content: text, extra: 1 })).status, 400);
    assert.equal((await call('/tokenize', { content: text }, 'wrong')).status, 401);
    assert.deepEqual((await call('/slots')).json, { total: 2, processing: 0, queued: 0, max_queued: 5 });
  } finally {
    await srv.close();
  }
});

test('--slots 4: requests that arrive together are decoded together (packed forwards), each answer the one a single slot gives', async () => {
  const model = await loadModel(BUNDLED_MODEL, { sessions: 2 });
  const apps = await Promise.all([1, 4].map(async (slots) => {
    const app = await buildServer(model, { modelName: 'bundled', slots });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, client: new OpenAI({ baseURL: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`, apiKey: 'unused', maxRetries: 0 }) };
  }));
  try {
    const filler = 'The grass is green. The sky is blue. Here we go. ';
    const prompts = ['apple', 'river', 'cobalt', 'meadow'].map((k, i) =>
      `${filler.repeat(1 + i)}One of the special magic numbers for ${k} is: ${4412 + 1111 * i}. ${filler.repeat(3 - i)}\nWhat is the special magic number for ${k} mentioned in the provided text? The special magic number for ${k} mentioned in the provided text is`);
    const ask = (c: OpenAI, prompt: string, stream: boolean) => stream
      ? (async () => {
          let text = '';
          for await (const ch of await c.completions.create({ model: 'bundled', prompt, max_tokens: 32, stream: true })) text += ch.choices[0]?.text ?? '';
          return text;
        })()
      : c.completions.create({ model: 'bundled', prompt, max_tokens: 32 }).then((r) => r.choices[0].text);
    const one: string[] = [];
    for (const p of prompts) one.push(await ask(apps[0].client, p, false));
    const before = await model.withBatcher(async (b) => b.stats());
    const four = await Promise.all(prompts.map((p, i) => ask(apps[1].client, p, i % 2 === 1)));
    const after = await model.withBatcher(async (b) => b.stats());
    assert.deepEqual(four, one);
    assert.ok(one.filter((t, i) => t.includes(String(4412 + 1111 * i))).length >= 2, `answers: ${JSON.stringify(one)}`);
    assert.ok(after.packs - before.packs < after.forwards - before.forwards, 'no forwards were packed together');
    const metrics = await (await fetch(`${apps[1].client.baseURL.replace(/\/v1$/, '')}/metrics`)).text();
    assert.match(metrics, new RegExp(`wavefilter_batch_runs_total ${after.packs}\n`));
    assert.match(metrics, new RegExp(`wavefilter_batch_forwards_total ${after.forwards}\n`));
  } finally {
    for (const a of apps) await a.app.close();
    await model.dispose();
  }
});
