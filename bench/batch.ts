/**
 * `npm run bench -- batch`: what batching buys `wavefilter serve`. The same N short requests
 * arrive together at two servers on one loaded model: one running a generation at a time
 * (`--slots 1`, each request's forwards its own: the sequential baseline) and one running them
 * together with their forwards packed (`--slots N`, the default batching). Each round sends the
 * N requests at once to one server, then to the other (the order alternates by round), and times
 * until the last answer. It reports the median round time of each, the throughput ratio, and
 * whether every answer matched the sequential server's (batching must not change a token).
 */
import type { AddressInfo } from 'node:net';
import { loadModel } from '../src/index.js';
import type { Device } from '../src/model/runtime.js';
import { type ServeOptions, buildServer } from '../src/server/app.js';
import { LanePool } from '../src/lanes/pool.js';

export interface BatchBenchOptions {
  readonly model: string;
  /** Requests per round, sent together. */
  readonly clients: number;
  readonly rounds: number;
  readonly maxTokens: number;
  readonly threads?: number;
  /** How long a new request waits for others arriving with it (serve --batch-wait). */
  readonly gatherMs: number;
  /** cpu (default), cuda or cuda:N (fp32: the step loop's precision). */
  readonly device?: Device;
  /** Also time a server with this many lanes (`serve --lanes N`: worker threads, each with its own model; CPU only). */
  readonly lanes?: number;
}

export interface BatchBenchResult {
  readonly options: BatchBenchOptions;
  /** ortMsPerRound: the one-slot server's time in ONNX Runtime runs (mean over the timed rounds); the rest is HTTP, templates, tokenization and the step loop's JavaScript. */
  readonly sequential: { readonly medianMs: number; readonly tokensPerSecond: number; readonly ortMsPerRound: number };
  readonly batched: { readonly medianMs: number; readonly tokensPerSecond: number };
  /** batched throughput / sequential throughput (median round times) */
  readonly speedup: number;
  /** With `lanes`: that server's round times, threads per lane and throughput against the sequential one. */
  readonly lanes: { readonly lanes: number; readonly threadsPerLane: number; readonly medianMs: number; readonly tokensPerSecond: number; readonly speedup: number } | null;
  /** Answers equal to the sequential server's, of all compared. */
  readonly sameAnswers: number;
  readonly compared: number;
  readonly mismatches: readonly string[];
  readonly completionTokens: number;
  readonly promptTokens: readonly number[];
  /** The batched server's packed runs over the timed rounds: how many, and forwards per run. */
  readonly packs: { readonly runs: number; readonly forwards: number; readonly meanForwards: number; readonly ortMsPerRound: number; readonly packMsPerRound: number };
}

const QUESTIONS = [
  'What is the capital of France?', 'Name three colours.', 'Tell me a short story about a cat.', 'What is 2 + 2?',
  'Write a haiku about rain.', 'Who wrote Hamlet?', 'List the days of the week.', 'Explain what a diffusion model is.',
];
const FILLER = ['The grass is green.', 'The sky is blue.', 'The sun is yellow.', 'Here we go.', 'There and back again.'];
const KEYS = ['apple', 'river', 'cobalt', 'window', 'falcon', 'marble', 'quartz', 'meadow'];

/** Request i of a round: a plainly asked chat question, or a short document with a fact and its question (alternating). */
function request(i: number, maxTokens: number): { path: string; body: Record<string, unknown> } {
  if (i % 2 === 0) return { path: '/v1/chat/completions', body: { model: 'bench', messages: [{ role: 'user', content: QUESTIONS[(i / 2) % QUESTIONS.length] }], max_tokens: maxTokens, temperature: 0 } };
  const k = KEYS[((i - 1) / 2) % KEYS.length];
  const text = Array.from({ length: 2 + (i % 5) }, (_, j) => FILLER[(i + j) % FILLER.length]).join(' ');
  const prompt = `${text} One of the special magic numbers for ${k} is: ${1000 + 37 * i}. ${text}\nWhat is the special magic number for ${k} mentioned in the provided text? The special magic number for ${k} mentioned in the provided text is`;
  return { path: '/v1/completions', body: { model: 'bench', prompt, max_tokens: maxTokens, temperature: 0 } };
}

interface Answer {
  readonly text: string;
  readonly completionTokens: number;
  readonly promptTokens: number;
}

async function send(url: string, i: number, maxTokens: number): Promise<Answer> {
  const { path, body } = request(i, maxTokens);
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = (await res.json()) as { choices?: { message?: { content: string }; text?: string }[]; usage?: { completion_tokens: number; prompt_tokens: number }; error?: { message: string } };
  if (res.status !== 200 || !j.choices || !j.usage) throw new Error(`request ${i}: HTTP ${res.status}: ${j.error?.message ?? JSON.stringify(j)}`);
  const c = j.choices[0];
  return { text: c.message?.content ?? c.text ?? '', completionTokens: j.usage.completion_tokens, promptTokens: j.usage.prompt_tokens };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function runBatchBench(o: BatchBenchOptions, log: (s: string) => void): Promise<BatchBenchResult> {
  // two sessions: the step executor's forward (sequential) and the packed forward (batched), both kept
  // the server's batching as `wavefilter serve --slots N` runs it (its default --batch-wait)
  const model = await loadModel(o.model, { threads: o.threads, device: o.device, sessions: 2, batch: { gatherMs: o.gatherMs } });
  const pool = o.lanes ? await LanePool.create(o.model, { lanes: o.lanes }) : null;
  const configs: ServeOptions[] = [{ modelName: 'bench', slots: 1 }, { modelName: 'bench', slots: o.clients }, ...(pool ? [{ modelName: 'bench', lanes: pool }] : [])];
  const names = ['sequential', 'batched', 'lanes'];
  const servers = await Promise.all(configs.map(async (c) => {
    const app = await buildServer(model, { ...c, maxQueue: o.clients * 2, maxTokens: 1024 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
  }));
  const n = servers.length;
  const ids = Array.from({ length: o.clients }, (_, i) => i);
  const round = async (url: string): Promise<{ ms: number; answers: Answer[] }> => {
    const t0 = performance.now();
    const answers = await Promise.all(ids.map((i) => send(url, i, o.maxTokens)));
    return { ms: performance.now() - t0, answers };
  };
  try {
    // warm-up: every session built, the first-run costs paid
    for (const sv of servers) await round(sv.url);
    const before = await model.withBatcher(async (b) => b.stats());
    const seqOrt0 = servers[0].app.metricsSnapshot().ortSeconds;
    const times: number[][] = servers.map(() => []);
    let reference: Answer[] | null = null;
    let same = 0;
    let compared = 0;
    const mismatches: string[] = [];
    let tokens = 0;
    for (let r = 0; r < o.rounds; r++) {
      // the order rotates by round, so no server always goes first
      const order = servers.map((_, i) => (i + r) % n);
      const got: Answer[][] = servers.map(() => []);
      for (const s of order) {
        const { ms, answers } = await round(servers[s].url);
        times[s].push(ms);
        got[s] = answers;
      }
      reference ??= got[0];
      for (let s = 0; s < n; s++) {
        got[s].forEach((a, i) => {
          compared++;
          if (a.text === (reference as Answer[])[i].text) same++;
          else if (mismatches.length < 5) mismatches.push(`request ${i}, ${names[s]} round ${r}: ${JSON.stringify(a.text)} against ${JSON.stringify((reference as Answer[])[i].text)}`);
        });
      }
      tokens = got[0].reduce((a, x) => a + x.completionTokens, 0);
      log(`round ${r + 1}/${o.rounds}: ${servers.map((_, s) => `${names[s]} ${times[s][r].toFixed(0)} ms`).join(', ')}\n`);
    }
    const after = await model.withBatcher(async (b) => b.stats());
    const seqOrt = ((servers[0].app.metricsSnapshot().ortSeconds - seqOrt0) * 1000) / o.rounds;
    const runs = after.packs - before.packs;
    const forwards = after.forwards - before.forwards;
    const seq = median(times[0]);
    const bat = median(times[1]);
    return {
      options: o,
      sequential: { medianMs: seq, tokensPerSecond: (tokens * 1000) / seq, ortMsPerRound: seqOrt },
      batched: { medianMs: bat, tokensPerSecond: (tokens * 1000) / bat },
      speedup: seq / bat,
      lanes: pool ? { lanes: pool.size, threadsPerLane: pool.threadsPerLane, medianMs: median(times[2]), tokensPerSecond: (tokens * 1000) / median(times[2]), speedup: seq / median(times[2]) } : null,
      sameAnswers: same, compared, mismatches, completionTokens: tokens,
      promptTokens: (reference as Answer[]).map((a) => a.promptTokens),
      // ONNX Runtime's share of a batched round: the rest is HTTP, templates, tokenization and the step loops' JavaScript
      packs: { runs, forwards, meanForwards: runs ? forwards / runs : 0, ortMsPerRound: (after.ortMs - before.ortMs) / o.rounds, packMsPerRound: (after.packMs - before.packMs) / o.rounds },
    };
  } finally {
    for (const s of servers) await s.app.close();
    await pool?.dispose();
    await model.dispose();
  }
}

export function batchTable(r: BatchBenchResult): string {
  const o = r.options;
  return [
    `${o.clients} requests at once on ${o.device ?? 'cpu'}, max_tokens ${o.maxTokens}, ${o.rounds} rounds, batch wait ${o.gatherMs} ms (prompts of ${Math.min(...r.promptTokens)}-${Math.max(...r.promptTokens)} tokens, ${r.completionTokens} answer tokens a round)`,
    '',
    '| server | median round ms | answer tokens/s | throughput vs sequential |',
    '|---|---|---|---|',
    `| sequential (--slots 1) | ${r.sequential.medianMs.toFixed(0)} | ${r.sequential.tokensPerSecond.toFixed(1)} | 1.00x |`,
    `| batched (--slots ${o.clients}) | ${r.batched.medianMs.toFixed(0)} | ${r.batched.tokensPerSecond.toFixed(1)} | ${r.speedup.toFixed(2)}x |`,
    ...(r.lanes ? [`| lanes (--lanes ${r.lanes.lanes}, ${r.lanes.threadsPerLane} threads each) | ${r.lanes.medianMs.toFixed(0)} | ${r.lanes.tokensPerSecond.toFixed(1)} | ${r.lanes.speedup.toFixed(2)}x |`] : []),
    '',
    `batched server: ${r.packs.forwards} forwards in ${r.packs.runs} packed runs, ${r.packs.meanForwards.toFixed(2)} a run (of ${o.clients} requests); ONNX Runtime ${r.packs.ortMsPerRound.toFixed(0)} ms of a round, packed forwards with their packing ${r.packs.packMsPerRound.toFixed(0)} ms (means)`,
    `sequential server: ONNX Runtime ${r.sequential.ortMsPerRound.toFixed(0)} ms of a round (mean)`,
    `answers equal to the sequential server's first round (every server, every round): ${r.sameAnswers}/${r.compared}`,
    ...r.mismatches.map((m) => `  ${m}`),
  ].join('\n');
}
