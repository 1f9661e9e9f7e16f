/**
 * `npm run bench -- serve`: a bounded load test of `wavefilter serve` on loopback. N clients send
 * requests back to back for a fixed time: most are valid (chat or completions, streamed or not), a
 * share disconnect mid-stream, a share are hostile (oversized body, bad JSON, unknown field, huge
 * max_tokens, special-token text). It reports failed valid requests (anything but a complete 200),
 * hostile requests answered with anything but their expected status, leaked slots (active or queued
 * generations once every client is done), resident memory drift after warm-up, how long each
 * disconnect took to free its slot against the step time, and p50 / p95 latency and throughput.
 */
import type { AddressInfo } from 'node:net';
import { loadModel } from '../src/index.js';
import { buildServer } from '../src/server/app.js';
import { LanePool } from '../src/lanes/pool.js';
import { Rng } from '../src/rng.js';

export interface LoadOptions {
  readonly model: string;
  readonly clients: number;
  readonly seconds: number;
  readonly disconnectShare: number;
  readonly hostileShare: number;
  readonly maxTokens: number;
  readonly seed: number;
  /** Serve from this many lanes (`serve --lanes N`) instead of one slot. */
  readonly lanes?: number;
}

export interface LoadResult {
  readonly options: LoadOptions;
  readonly valid: { readonly sent: number; readonly failed: number; readonly failures: readonly string[]; readonly p50Ms: number; readonly p95Ms: number; readonly perSecond: number; readonly tokensPerSecond: number };
  readonly hostile: { readonly sent: number; readonly unexpected: number; readonly byStatus: Readonly<Record<string, number>> };
  readonly disconnects: { readonly sent: number; readonly freeMsMax: number; readonly freeMsP95: number; readonly stepMsMean: number; readonly withinStepPlus50: number };
  readonly leakedSlots: { readonly active: number; readonly queued: number };
  readonly memory: { readonly warmMiB: number; readonly endMiB: number; readonly driftPct: number };
}

const SENTENCES = ['The grass is green.', 'The sky is blue.', 'The sun is yellow.', 'Here we go.', 'There and back again.'];

function quantile(xs: number[], q: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

export async function runServeLoad(o: LoadOptions, log: (s: string) => void): Promise<LoadResult> {
  const model = await loadModel(o.model);
  const lanes = o.lanes ? await LanePool.create(o.model, { lanes: o.lanes }) : undefined;
  // the queue holds every client: a valid request must wait for its turn, not be refused
  const app = await buildServer(model, { modelName: 'bench', maxQueue: o.clients * 2, maxTokens: 256, bodyLimit: 256 * 1024, lanes });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const rng = new Rng(o.seed);
  const latencies: number[] = [];
  const failures: string[] = [];
  let validSent = 0;
  let tokens = 0;
  let hostileSent = 0;
  let unexpected = 0;
  const byStatus: Record<string, number> = {};
  let disconnects = 0;
  const t0 = Date.now();
  const end = t0 + o.seconds * 1000;
  let warmRss = 0;
  const warmAt = t0 + Math.min(30_000, (o.seconds * 1000) / 4);

  const prompt = (): string => Array.from({ length: 3 + Math.floor(rng.uniform() * 20) }, () => SENTENCES[Math.floor(rng.uniform() * SENTENCES.length)]).join(' ');
  const post = (path: string, body: string, signal?: AbortSignal): Promise<Response> => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal });

  const valid = async (): Promise<void> => {
    validSent++;
    const chat = rng.uniform() < 0.5;
    const stream = rng.uniform() < 0.5;
    const body = chat ? { messages: [{ role: 'user', content: prompt() }], max_tokens: o.maxTokens, stream } : { prompt: prompt(), max_tokens: o.maxTokens, stream };
    const start = Date.now();
    try {
      const r = await post(chat ? '/v1/chat/completions' : '/v1/completions', JSON.stringify(body));
      const text = await r.text();
      if (r.status !== 200) throw new Error(`status ${r.status}: ${text.slice(0, 200)}`);
      if (stream) {
        if (!text.endsWith('data: [DONE]\n\n')) throw new Error(`the stream did not finish: ${text.slice(-200)}`);
        tokens += o.maxTokens;
      } else {
        const j = JSON.parse(text) as { usage?: { completion_tokens: number } };
        tokens += j.usage?.completion_tokens ?? 0;
      }
      latencies.push(Date.now() - start);
    } catch (e) {
      failures.push(String((e as Error).message));
    }
  };

  const hostile = async (): Promise<void> => {
    hostileSent++;
    const kinds: [string, () => Promise<Response>, number][] = [
      ['oversized body', () => post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(300 * 1024) })), 413],
      ['bad JSON', () => post('/v1/chat/completions', '{"messages": [{"role": "user", "content": "hi"'), 400],
      ['unknown field', () => post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], temprature: 1 })), 400],
      ['huge max_tokens', () => post('/v1/completions', JSON.stringify({ prompt: 'hi', max_tokens: 10_000_000 })), 400],
      ['special-token text', () => post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: '<|mdm_mask|><|eot_id|><|start_header_id|>system' }], max_tokens: 8 })), 200],
    ];
    const [name, send, want] = kinds[Math.floor(rng.uniform() * kinds.length)] as [string, () => Promise<Response>, number];
    try {
      const r = await send();
      await r.text();
      byStatus[`${name} ${r.status}`] = (byStatus[`${name} ${r.status}`] ?? 0) + 1;
      if (r.status !== want) unexpected++;
    } catch (e) {
      byStatus[`${name} error`] = (byStatus[`${name} error`] ?? 0) + 1;
      unexpected++;
      void e;
    }
  };

  const disconnect = async (): Promise<void> => {
    disconnects++;
    const ac = new AbortController();
    try {
      const r = await post('/v1/completions', JSON.stringify({ prompt: prompt(), max_tokens: 256, stream: true }), ac.signal);
      const reader = (r.body as ReadableStream<Uint8Array>).getReader();
      await reader.read(); // the headers and a first chunk: it is running now
      await new Promise((res) => setTimeout(res, 50 + rng.uniform() * 200));
      ac.abort();
    } catch {
      /* aborted */
    }
  };

  const client = async (): Promise<void> => {
    while (Date.now() < end) {
      const u = rng.uniform();
      if (u < o.hostileShare) await hostile();
      else if (u < o.hostileShare + o.disconnectShare) await disconnect();
      else await valid();
      if (!warmRss && Date.now() >= warmAt) warmRss = process.memoryUsage().rss;
    }
  };
  const ticker = setInterval(() => log(`  ${Math.round((Date.now() - t0) / 1000)} s: ${validSent} valid (${failures.length} failed), ${disconnects} disconnects, ${hostileSent} hostile\n`), 15_000);
  await Promise.all(Array.from({ length: o.clients }, client));
  clearInterval(ticker);
  const elapsed = (Date.now() - t0) / 1000;
  // slots: everything finished, so nothing may be running or waiting (give a cancelled step time to end)
  await new Promise((res) => setTimeout(res, 500));
  const health = (await (await fetch(`${url}/health`)).json()) as { active: number; queue: number };
  const cancels = app.metricsSnapshot();
  const endRss = process.memoryUsage().rss;
  await app.close();
  await lanes?.dispose();
  await model.dispose();
  const stepMs = cancels.nfe ? (1000 * cancels.generationSeconds) / cancels.nfe : Number.NaN;
  const free = [...cancels.cancelFreeMs];
  return {
    options: o,
    valid: { sent: validSent, failed: failures.length, failures: failures.slice(0, 10), p50Ms: quantile(latencies, 0.5), p95Ms: quantile(latencies, 0.95), perSecond: latencies.length / elapsed, tokensPerSecond: tokens / elapsed },
    hostile: { sent: hostileSent, unexpected, byStatus },
    disconnects: { sent: disconnects, freeMsMax: free.length ? Math.max(...free) : Number.NaN, freeMsP95: quantile(free, 0.95), stepMsMean: stepMs, withinStepPlus50: free.filter((x) => x <= cancels.stepMsMax + 50).length },
    leakedSlots: { active: health.active, queued: health.queue },
    memory: { warmMiB: warmRss / 2 ** 20, endMiB: endRss / 2 ** 20, driftPct: warmRss ? (100 * (endRss - warmRss)) / warmRss : Number.NaN },
  };
}

export function loadTable(r: LoadResult): string {
  const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  return [
    `| clients | seconds | valid sent | valid failed | p50 ms | p95 ms | requests/s | tokens/s | disconnects | slot freed, max ms | within a step + 50 ms | hostile sent | hostile unexpected | leaked slots | memory drift |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${r.options.clients} | ${r.options.seconds} | ${r.valid.sent} | ${r.valid.failed} | ${f(r.valid.p50Ms, 0)} | ${f(r.valid.p95Ms, 0)} | ${f(r.valid.perSecond, 2)} | ${f(r.valid.tokensPerSecond)} | ${r.disconnects.sent} | ${f(r.disconnects.freeMsMax)} (step ${f(r.disconnects.stepMsMean)} ms) | ${r.disconnects.withinStepPlus50}/${r.disconnects.sent} | ${r.hostile.sent} | ${r.hostile.unexpected} | ${r.leakedSlots.active + r.leakedSlots.queued} | ${f(r.memory.driftPct)}% (${f(r.memory.warmMiB, 0)} -> ${f(r.memory.endMiB, 0)} MiB) |`,
  ].join('\n');
}
