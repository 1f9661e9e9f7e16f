/**
 * `npm run bench [engine|wavefilter|gpu|attention|wf-variants]`: speed benchmarks (the quality
 * evaluations are `wavefilter eval ...`). Each prints a table with ratios against a baseline
 * measured in the same run; --json for scripts.
 *
 *   npm run bench -- engine --prompt-lengths 4096 --executors step,block
 *   npm run bench -- engine --prompt-lengths 16384 --methods dual --layers 2   # memory at 16K
 *   npm run bench -- engine --methods dual,dual+wf-practical --budget 0.1     # a host with a filter
 *   npm run bench -- gpu --checkpoint /tmp/llada-8b --prompt-lengths 4096,8192 # the engine against the PyTorch peer
 *   npm run bench -- serve --clients 50 --seconds 300                         # load test of wavefilter serve
 *   npm run bench -- batch --requests 8 --rounds 5                            # the server's batching against one generation at a time
 *   npm run bench -- ask --prompt-lengths 2048,4096 --samples 20 --seed 314159 --out reports/ask   # plainly asked questions
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { type GraphTuning, loadModel } from '../src/index.js';
import { type Device, parseDevice } from '../src/model/runtime.js';
import { readModelSpec } from '../src/checkpoint/config.js';
import { intArg, listArg, namesArg } from '../src/cli/args.js';
import { DEFAULT_SHAPE } from './random-model.js';
import { type FailedRow, engineHosts, engineTable, parseEngineMethod, runEngineBench } from './engine.js';
import { DEFAULT_GPU_METHODS, gpuTable, runGpuCompare } from './gpu-compare.js';
import { WAVE_METHODS, runWaveBench, waveTable } from './wavefilter.js';
import { runAttentionBench } from './attention.js';
import { runWaveVariants } from './wf-variants.js';
import { loadTable, runServeLoad } from './serve-load.js';
import { runAsk } from './ask.js';
import { batchTable, runBatchBench } from './batch.js';
import { defaultModelDir } from '../src/cli/paths.js';
import type { RulerTaskName } from '../src/eval/ruler/tasks.js';

const program = new Command()
  .name('bench')
  .argument('[which]', 'benchmark: engine (cache hosts), wavefilter (token filters on the dual host), gpu (the engine against the PyTorch peer on a GPU), attention (fused vs explicit refresh attention), wf-variants (WaveFilter knobs on a RULER task of the bundled model) serve (a load test of wavefilter serve on loopback), batch (wavefilter serve batching requests against one generation at a time) or ask (plainly asked needle questions through wavefilter generate)', 'engine')
  .option('--out <dir>', 'ask: the results folder (rows are appended; a rerun resumes)')
  .option('--generate-args <args>', 'ask: extra wavefilter generate options, separated by spaces (e.g. "--cache dual --threshold 0.9")', '')
  .option('--haystack <file>', 'ask: the corpus of the documents (default: the Jargon File from Debian, as RULER)')
  .option('--clients <n>', 'serve: concurrent clients', intArg('--clients'), 50)
  .option('--requests <n>', 'batch: requests sent together each round', intArg('--requests', { min: 2, max: 256 }), 8)
  .option('--lanes <n>', 'batch: also time a server with n lanes; serve: load-test a server with n lanes (serve --lanes: worker threads, each with its own model; CPU)', intArg('--lanes', { min: 1, max: 256 }))
  .option('--batch-wait <ms>', 'batch: how long a new request waits for others (serve --batch-wait)', intArg('--batch-wait', { min: 0, max: 10000 }), 15)
  .option('--rounds <n>', 'batch: rounds (each server gets every round\'s requests)', intArg('--rounds', { min: 1, max: 1000 }), 5)
  .option('--seconds <n>', 'serve: how long the clients keep sending', intArg('--seconds'), 300)
  .option('--disconnect-share <x>', 'serve: share of requests whose client leaves mid-stream', '0.1')
  .option('--hostile-share <x>', 'serve: share of hostile requests', '0.05')
  .option('--max-tokens <n>', 'serve: max_tokens of the valid requests', intArg('--max-tokens'), 16)
  .option('--prompt-lengths <list>', 'comma-separated prompt lengths', '4096')
  .option('--methods <list>', 'engine, gpu: cache hosts (none,prefix,dual) or host+filter (dual+wf-practical, dual+snapkv, ...); wavefilter: dual,dual-first-block,wf-practical,wf-faithful,snapkv,streaming,h2o,sparse-dllm,random')
  .option('--budget <b>', 'kept prompt rows of the filters, fraction or count (default: 0.16 for wavefilter, 0.1 for engine and gpu)')
  .option('--peer <impl>', 'gpu: the PyTorch peer: reference (bench/gpu/peer.py\'s own, checked against the official outputs), official (needs --peer-dir) or none', 'reference')
  .option('--peer-dir <dir>', 'gpu: a checkout of NVlabs/Fast-dLLM for --peer official')
  .option('--peer-dtype <type>', 'gpu: the peer\'s precision (bf16, fp16, fp32)', 'bf16')
  .option('--gen-length <n>', 'generated tokens (batch: max_tokens)', intArg('--gen-length'), 32)
  .option('--block-length <n>', 'block length', intArg('--block-length'), 32)
  .option('--steps <n>', 'denoising steps', intArg('--steps'), 16)
  .option('--layers <n>', 'model layers', intArg('--layers'), DEFAULT_SHAPE.layers)
  .option('--threads <n>', 'ORT threads', intArg('--threads'))
  .option('--task <name>', 'wf-variants: RULER task', 'niah_multikey_2')
  .option('--samples <n>', 'wf-variants: prompts', intArg('--samples'), 5)
  .option('--variants <list>', 'wf-variants: the rows to run, separated by ";" (default: all; names as printed)')
  .option('--seed <n>', 'wf-variants: RULER seed', intArg('--seed'), 42)
  .option('--device <device>', 'engine, wavefilter, batch, wf-variants: cpu, cuda or cuda:N (gpu: cuda)')
  .option('--dtype <type>', 'engine, gpu: fp32 or fp16 (CUDA; gpu default fp16)')
  .option('--checkpoint <dir>', 'engine, serve, ask: an existing checkpoint instead of the random one (e.g. LLaDA-8B\'s shape from bench/gpu/make_checkpoint.py)')
  .option('--threshold <p>', 'engine, gpu: Fast-dLLM confidence threshold (default: the fixed schedule)')
  .option('--warmup <n>', 'engine: untimed one-block generations before each row (default 1 on cuda, 0 on cpu)')
  .option('--warmup-none <n>', 'engine, gpu: warm-up blocks before the no-cache rows (default: --warmup); 0 saves half of a long no-cache row, whose 64 identical full forwards amortise the first one\'s kernel set-up')
  .option('--graph <json>', 'engine, gpu: the block program\'s GraphTuning as JSON, e.g. \'{"packed":false,"cachedAttention":"explicit"}\' (default: by dtype)')
  .option('--in-process', 'engine, gpu: every row in this process on one loaded model (device memory stays per row: each row rebuilds its session; peak RSS is a running maximum; default: a process per row)')
  .option('--executors <list>', 'engine, wavefilter: step,block (both, side by side), one of them, generation (every block in one run: first-block refresh) or auto', 'step,block')
  .option('--json', 'print the rows as JSON')
  .action(async (which: string, f: { clients: number; requests: number; lanes?: number; rounds: number; batchWait: number; seconds: number; disconnectShare: string; hostileShare: string; maxTokens: number; promptLengths: string; methods?: string; budget?: string; peer: string; peerDir?: string; peerDtype: string; genLength: number; blockLength: number; steps: number; layers: number; threads?: number; task: string; samples: number; seed: number; json?: boolean; executors: string; device: string; checkpoint?: string; threshold?: string; inProcess?: boolean; variants?: string; warmup?: string; warmupNone?: string; dtype?: string; graph?: string; out?: string; generateArgs: string; haystack?: string }) => {
    if (which === 'ask') {
      const model = f.checkpoint ?? defaultModelDir();
      if (!model) throw new Error('ask: no bundled model found; give --checkpoint DIR');
      if (!f.out) throw new Error('ask: give --out DIR for the results');
      const lengths = listArg('--prompt-lengths', { min: 256 }, true)(f.promptLengths);
      const generateArgs = f.generateArgs.split(/\s+/).filter((x) => x);
      process.stderr.write(`ask: ${f.samples} prompts per length at ${lengths.join(', ')} tokens (seed ${f.seed}) on ${model}\n`);
      const rows = await runAsk({ model, lengths, samples: f.samples, seed: f.seed, out: f.out, generateArgs, essayPath: f.haystack }, (s) => process.stderr.write(s));
      if (f.json) process.stdout.write(`${JSON.stringify({ bench: 'ask', rows }, null, 2)}\n`);
      else console.log(readFileSync(join(f.out, 'results.md'), 'utf8'));
      return;
    }
    if (which === 'batch') {
      const model = f.checkpoint ?? defaultModelDir();
      if (!model) throw new Error('batch: no bundled model found; give --checkpoint DIR');
      const r = await runBatchBench({ model, clients: f.requests, rounds: f.rounds, maxTokens: f.genLength, threads: f.threads, gatherMs: f.batchWait, device: f.device as Device | undefined, lanes: f.lanes }, (s) => process.stderr.write(s));
      if (f.json) process.stdout.write(`${JSON.stringify({ bench: 'batch', ...r }, null, 2)}\n`);
      else console.log(batchTable(r));
      return;
    }
    if (which === 'serve') {
      const model = f.checkpoint ?? defaultModelDir();
      if (!model) throw new Error('serve: no bundled model found; give --checkpoint DIR');
      const o = { model, clients: f.clients, seconds: f.seconds, disconnectShare: Number(f.disconnectShare), hostileShare: Number(f.hostileShare), maxTokens: f.maxTokens, seed: f.seed, lanes: f.lanes };
      if (!(o.disconnectShare >= 0 && o.hostileShare >= 0 && o.disconnectShare + o.hostileShare < 1)) throw new Error('--disconnect-share and --hostile-share: shares in [0, 1) whose sum is below 1');
      process.stderr.write(`serve: ${o.clients} clients for ${o.seconds} s on ${o.model} (loopback${o.lanes ? `, ${o.lanes} lanes` : ''})\n`);
      const r = await runServeLoad(o, (s) => process.stderr.write(s));
      if (f.json) process.stdout.write(`${JSON.stringify({ bench: 'serve', ...r }, null, 2)}\n`);
      else console.log(`\n${loadTable(r)}`);
      if (r.valid.failed || r.hostile.unexpected || r.leakedSlots.active || r.leakedSlots.queued) process.exitCode = 1;
      return;
    }
    const deviceName = f.device ?? (which === 'gpu' ? 'cuda' : 'cpu');
    const device = parseDevice(deviceName) && (deviceName as Device);
    const dtype = (f.dtype ?? (which === 'gpu' ? 'fp16' : 'fp32')) as 'fp32' | 'fp16';
    if (dtype !== 'fp32' && dtype !== 'fp16') throw new Error(`--dtype must be fp32 or fp16, not ${f.dtype}`);
    const budgetArg = (fallback: number): number => {
      const b = f.budget === undefined ? fallback : Number(f.budget);
      if (!(b > 0)) throw new Error(`--budget must be a positive fraction or count, not ${f.budget}`);
      return b;
    };
    const lengths = listArg('--prompt-lengths', { min: 1 }, true)(f.promptLengths);
    const executors = namesArg('--executors', f.executors, ['step', 'block', 'generation', 'auto']) as ('step' | 'block' | 'generation' | 'auto')[];
    if (which === 'wf-variants') {
      const dir = defaultModelDir();
      if (!dir) throw new Error('wf-variants needs the bundled model (models/llada-ruler-12m)');
      const model = await loadModel(dir, { threads: f.threads, ...(f.device ? { device: parseDevice(f.device) && (f.device as Device) } : {}) });
      const o = { task: f.task as RulerTaskName, length: Number(f.promptLengths.split(',')[0]), samples: f.samples, budget: budgetArg(0.16), seed: f.seed, ...(f.variants ? { variants: f.variants.split(';').map((x) => x.trim()) } : {}) };
      process.stderr.write(`${o.task}, ${o.length} tokens, ${o.samples} prompts (seed ${o.seed}), WaveFilter practical at budget ${o.budget}, one token per step:\n`);
      const rows = await runWaveVariants(model, o, (s) => process.stderr.write(s));
      await model.dispose();
      if (f.json) process.stdout.write(`${JSON.stringify({ ...o, rows }, null, 2)}\n`);
      else for (const r of rows) console.log(`| ${r.variant} | ${r.correct} of ${r.samples} | ${r.score.toFixed(1)} | ${r.answers.join(' / ')} |`);
      return;
    }
    if (which === 'attention') {
      for (const T of f.promptLengths.split(',').map(Number)) {
        const r = await runAttentionBench(T, (x) => process.stderr.write(x));
        console.log(`T ${T}: fused ${r.fusedMs.toFixed(0)} ms, explicit ${r.explicitMs.toFixed(0)} ms, ${(r.explicitMs / r.fusedMs).toFixed(1)}x`);
      }
      return;
    }
    if (which === 'wavefilter') {
      const rows = await runWaveBench({
        promptLengths: lengths, genLength: f.genLength, blockLength: f.blockLength, steps: f.steps,
        budget: budgetArg(0.16), executors: namesArg('--executors', f.executors, ['step', 'block']) as ('step' | 'block')[], methods: (f.methods ?? Object.keys(WAVE_METHODS).join(',')).split(','), layers: f.layers, threads: f.threads,
      }, (s) => process.stderr.write(s));
      if (f.json) process.stdout.write(`${JSON.stringify({ bench: 'wavefilter', genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, budget: budgetArg(0.16), rows }, null, 2)}\n`);
      else console.log(`\n${waveTable(rows)}`);
      return;
    }
    if (which !== 'engine' && which !== 'gpu') throw new Error(`unknown benchmark ${which}; expected engine, wavefilter, gpu, attention or wf-variants`);
    const methods = (f.methods ?? (which === 'gpu' ? DEFAULT_GPU_METHODS.join(',') : 'none,prefix,dual')).split(',');
    for (const m of methods) parseEngineMethod(m, engineHosts());
    const shape = { ...DEFAULT_SHAPE, layers: f.layers };
    // prompt ids stay below the mask id (Dream's mask 151666 sits below its vocabulary's end: a 32K prompt hit it)
    const ckSpec = f.checkpoint ? readModelSpec(f.checkpoint) : undefined;
    const checkpoint = f.checkpoint && ckSpec ? { dir: f.checkpoint, vocab: Math.min(ckSpec.vocabSize, ckSpec.maskTokenId + 2) } : undefined;
    const spec = checkpoint ? readModelSpec(checkpoint.dir) : null;
    process.stderr.write(spec
      ? `model: ${f.checkpoint}: ${spec.nLayers} layers, d_model ${spec.dModel}, ${spec.nHeads} heads (${spec.nKvHeads} KV), ffn ${spec.ffnHidden}, vocab ${spec.vocabSize}; ${device}, ${dtype}; ${f.inProcess || which === 'gpu' ? 'one process' : 'one process per row'}\n`
      : `model: ${shape.layers} layers, d_model ${shape.dModel}, ${shape.heads} heads, ffn ${shape.ffn}, vocab ${shape.vocab} (random F16 weights, fp32 compute); ${device}; one process per row\n`);
    const threshold = f.threshold === undefined ? null : Number(f.threshold);
    const graph = f.graph === undefined ? undefined : (JSON.parse(f.graph) as GraphTuning);
    const o = { graph, promptLengths: lengths, methods, executors, genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, shape, checkpoint, threads: f.threads, device, threshold, dtype, budget: budgetArg(0.1), inProcess: Boolean(f.inProcess), warmup: f.warmup === undefined ? (device === 'cpu' ? 0 : 1) : Number(f.warmup), warmupNone: f.warmupNone === undefined ? undefined : Number(f.warmupNone) };
    if (which === 'gpu') {
      if (f.peer !== 'reference' && f.peer !== 'official' && f.peer !== 'none') throw new Error(`--peer must be reference, official or none, not ${f.peer}`);
      if (!['bf16', 'fp16', 'fp32'].includes(f.peerDtype)) throw new Error(`--peer-dtype must be bf16, fp16 or fp32, not ${f.peerDtype}`);
      const r = await runGpuCompare({ ...o, peer: f.peer, peerDir: f.peerDir, peerDtype: f.peerDtype as 'bf16' | 'fp16' | 'fp32' }, (s) => process.stderr.write(s));
      if (f.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else console.log(`\n${gpuTable(r)}`);
      if (r.engineFailed.length) {
        process.stderr.write(`engine rows that failed: ${r.engineFailed.map((x) => `${x.prompt} ${x.method}: ${x.error}`).join('; ')}\n`);
        process.exitCode = 1;
      }
      return;
    }
    const failed: FailedRow[] = [];
    const rows = await runEngineBench(o, (s) => process.stderr.write(s), failed);
    if (f.json) process.stdout.write(`${JSON.stringify({ bench: 'engine', ...o, rows, failed }, null, 2)}\n`);
    else console.log(`\n${engineTable(rows)}${failed.length ? `\n\nfailed: ${failed.map((x) => `${x.prompt} ${x.method} ${x.executor}: ${x.error}`).join('; ')}` : ''}`);
    if (failed.length) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
