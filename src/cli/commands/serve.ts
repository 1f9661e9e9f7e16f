/** `wavefilter serve`: the OpenAI-compatible server (src/server/app.ts) on a loaded model. */
import type { Command } from 'commander';
import { basename, resolve } from 'node:path';
import { type Device, parseDevice } from '../../model/runtime.js';
import { loadModel } from '../../engine.js';
import { buildServer } from '../../server/app.js';
import { LanePool } from '../../lanes/pool.js';
import { WavefilterError } from '../../errors.js';
import { estimateMemory, gib } from '../../model/memory.js';
import type { ModelSpec } from '../../model/spec.js';
import { totalmem } from 'node:os';
import { intArg, threadsArg, deviceArg, DEVICE_HELP } from '../args.js';
import { modelDir } from '../grid-options.js';

interface ServeFlags {
  model?: string;
  host: string;
  port: number;
  apiKey?: string;
  allowedHost: string[];
  queue: number;
  slots?: number;
  lanes?: number;
  batch: boolean;
  batchWait: number;
  maxTokens: number;
  timeout: number;
  bodyLimit: number;
  threads?: number;
  device?: Device;
}

/**
 * Generations at once when --slots is not given. On a GPU, packing the slots' forwards into one run
 * pays: 8 short requests at once ran 1.60x the one-slot throughput on an H100 (16: 1.75x,
 * reports/batching). On two CPU cores the forwards are compute-bound and packing did not pay
 * (1.05x / 0.93x), so one generation runs at a time and each gets the whole machine.
 */
export function defaultSlots(device: Device | undefined): number {
  return parseDevice(device).provider === 'cuda' ? 8 : 1;
}

/**
 * Refuses lanes whose weights alone would not fit the host: each lane holds the checkpoint's
 * tensors and its ORT session's copy of them in fp32 (an 8B model: about 64 GB a lane).
 */
export function checkLanesFit(lanes: number, spec: ModelSpec, hostBytes: number): void {
  const perLane = 2 * estimateMemory(spec, { promptLength: 0, genLength: 0, blockLength: 0, dtype: 'fp32', executor: 'step' }).weightsBytes;
  if (perLane * (lanes + 1) <= hostBytes) return;
  throw new WavefilterError('out_of_memory', `--lanes ${lanes}: each lane holds its own copy of the weights (about ${gib(perLane)}), so ${lanes} lanes and the server's own model need about ${gib(perLane * (lanes + 1))}, and this host has ${gib(hostBytes)}; use fewer lanes (or --slots on a GPU)`,
    { needed_bytes: perLane * (lanes + 1), available_bytes: hostBytes, where: 'host' });
}

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the model over HTTP: OpenAI-compatible /v1/chat/completions and /v1/completions (streaming with SSE), /v1/models, /health, /metrics')
    .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
    .option('--host <addr>', 'address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it, set --api-key then)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one, printed at start)', intArg('--port', { min: 0, max: 65535 }), 8080)
    .option('--api-key <key>', 'require "Authorization: Bearer KEY" on /v1 and /metrics (default: env WAVEFILTER_API_KEY, else none)')
    .option('--allowed-host <name>', 'a Host header name to accept besides localhost, 127.0.0.1 and [::1] (repeatable; needed behind a proxy or on another name)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--slots <n>', 'generations running at the same time, their forwards packed into shared runs (batching; see --no-batch) (default: 1 on the CPU, 8 with --device cuda)', intArg('--slots', { min: 1, max: 256 }))
    .option('--lanes <n>', 'CPU: run n generations side by side, each in a worker thread with its own copy of the model and --threads ONNX Runtime threads (default: the cores divided among the lanes); instead of --slots (reports/batching)', intArg('--lanes', { min: 1, max: 256 }))
    .option('--no-batch', 'run each generation\'s forwards on their own instead of packing the slots\' forwards into one run (batching gives each request the tokens it would get alone)')
    .option('--batch-wait <ms>', 'with --slots N: how long a new request waits for others arriving with it, so their first forwards share a run', intArg('--batch-wait', { min: 0, max: 10000 }), 15)
    .option('--queue <n>', 'requests that may wait for the model before 503 (Retry-After)', intArg('--queue', { min: 0, max: 100000 }), 16)
    .option('--max-tokens <n>', 'largest max_tokens a request may ask for', intArg('--max-tokens', { min: 1, max: 1 << 20 }), 1024)
    .option('--timeout <s>', 'seconds a request may take, queue included', intArg('--timeout', { min: 1, max: 86400 }), 300)
    .option('--body-limit <bytes>', 'largest request body', intArg('--body-limit', { min: 1024, max: 1 << 30 }), 4 * 2 ** 20)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
    .option('--device <device>', DEVICE_HELP, deviceArg())
    .action(async (f: ServeFlags) => {
      const dir = modelDir(f.model);
      if (f.lanes !== undefined && f.slots !== undefined) throw new WavefilterError('invalid_option', '--lanes and --slots: give one (with lanes, each lane is a slot)', { option: 'lanes' });
      if (f.lanes !== undefined && parseDevice(f.device).provider !== 'cpu') throw new WavefilterError('invalid_option', '--lanes: CPU only (on a GPU, --slots packs the generations\' forwards into shared runs)', { option: 'lanes' });
      // (with lanes, this model only tokenizes: one thread is enough for its session)
      const model = await loadModel(dir, { device: f.device, threads: f.lanes ? 1 : f.threads, batch: { gatherMs: f.batchWait } });
      if (f.lanes !== undefined) checkLanesFit(f.lanes, model.spec, totalmem());
      const lanes = f.lanes === undefined ? null : await LanePool.create(dir, { lanes: f.lanes, threadsPerLane: f.threads });
      const slots = lanes ? lanes.size : f.slots ?? defaultSlots(f.device);
      const app = await buildServer(model, {
        lanes: lanes ?? undefined,
        // the address bound is a name clients use (a wildcard is not: name the host with --allowed-host)
        modelName: basename(resolve(dir)), apiKey: f.apiKey ?? process.env.WAVEFILTER_API_KEY ?? null,
        allowedHosts: [...f.allowedHost, ...(['0.0.0.0', '::', '[::]'].includes(f.host) ? [] : [f.host.includes(':') && !f.host.startsWith('[') ? `[${f.host}]` : f.host])],
        slots, batch: f.batch, maxQueue: f.queue, maxTokens: f.maxTokens, timeoutMs: f.timeout * 1000, bodyLimit: f.bodyLimit,
      });
      const stop = async (): Promise<void> => {
        await app.close();
        await lanes?.dispose();
        await model.dispose();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      const address = await app.listen({ host: f.host, port: f.port });
      process.stderr.write(`wavefilter: serving ${basename(resolve(dir))} at ${address}, ${lanes ? `${slots} ${slots === 1 ? 'lane' : 'lanes'} of ${lanes.threadsPerLane} ${lanes.threadsPerLane === 1 ? 'thread' : 'threads'}` : `${slots} ${slots === 1 ? 'slot' : 'slots'}`} (OpenAI-compatible: ${address}/v1; health: ${address}/health)\n`);
    });
}
