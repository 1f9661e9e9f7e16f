/**
 * `npm run bench [engine]`: speed of the cache hosts on a realistic-shape random model, measured
 * side by side in one run. Prints a table with ratios against the no-cache baseline; --json for
 * scripts.
 *
 *   npm run bench -- engine --prompt-lengths 4096 --gen-length 32 --block-length 32 --steps 16
 */
import { Command } from 'commander';
import { loadModel } from '../src/index.js';
import type { CacheName } from '../src/cache/host.js';
import { intArg } from '../src/cli/args.js';
import { DEFAULT_SHAPE, randomCheckpoint } from './random-model.js';
import { WAVE_METHODS, runWaveBench, waveTable } from './wavefilter.js';
import { runAttentionBench } from './attention.js';
import { runWaveVariants } from './wf-variants.js';
import { defaultModelDir } from '../src/cli/paths.js';
import type { RulerTaskName } from '../src/bench/ruler/tasks.js';

interface Row {
  method: string;
  prompt: number;
  totalS: number;
  tokensPerS: number;
  nfe: number;
  refreshMs: number | null;
  cachedStepMs: number | null;
  cachedStepJsShare: number;
  jsShare: number;
  speedup: number;
}

const program = new Command()
  .name('bench')
  .argument('[which]', 'benchmark: engine (cache hosts), wavefilter (token filters on the dual host), attention (fused vs explicit refresh attention) or wf-variants (WaveFilter knobs on a RULER task of the bundled model)', 'engine')
  .option('--prompt-lengths <list>', 'comma-separated prompt lengths', '4096')
  .option('--methods <list>', 'engine: cache hosts (none,prefix,dual); wavefilter: dual,dual-first-block,wf-practical,wf-faithful,snapkv,streaming,h2o,sparse-dllm,random')
  .option('--budget <b>', 'wavefilter: kept prompt rows, fraction or count', '0.16')
  .option('--gen-length <n>', 'generated tokens', intArg('--gen-length'), 32)
  .option('--block-length <n>', 'block length', intArg('--block-length'), 32)
  .option('--steps <n>', 'denoising steps', intArg('--steps'), 16)
  .option('--layers <n>', 'model layers', intArg('--layers'), DEFAULT_SHAPE.layers)
  .option('--threads <n>', 'ORT threads', intArg('--threads'))
  .option('--task <name>', 'wf-variants: RULER task', 'niah_multikey_2')
  .option('--samples <n>', 'wf-variants: prompts', intArg('--samples'), 5)
  .option('--seed <n>', 'wf-variants: RULER seed', intArg('--seed'), 42)
  .option('--json', 'print the rows as JSON')
  .action(async (which: string, f: { promptLengths: string; methods?: string; budget: string; genLength: number; blockLength: number; steps: number; layers: number; threads?: number; task: string; samples: number; seed: number; json?: boolean }) => {
    if (which === 'wf-variants') {
      const dir = defaultModelDir();
      if (!dir) throw new Error('wf-variants needs the bundled model (models/llada-ruler-12m)');
      const model = await loadModel(dir, { threads: f.threads });
      const o = { task: f.task as RulerTaskName, length: Number(f.promptLengths.split(',')[0]), samples: f.samples, budget: Number(f.budget), seed: f.seed };
      process.stderr.write(`${o.task}, ${o.length} tokens, ${o.samples} prompts (seed ${o.seed}), WaveFilter practical at budget ${o.budget}, one token per step:\n`);
      const rows = await runWaveVariants(model, o, (s) => process.stderr.write(s));
      await model.dispose();
      if (f.json) process.stdout.write(`${JSON.stringify({ ...o, rows }, null, 2)}\n`);
      else for (const r of rows) console.log(`| ${r.variant} | ${r.correct} of ${r.samples} | ${r.answers.join(' / ')} |`);
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
        promptLengths: f.promptLengths.split(',').map(Number), genLength: f.genLength, blockLength: f.blockLength, steps: f.steps,
        budget: Number(f.budget), methods: (f.methods ?? Object.keys(WAVE_METHODS).join(',')).split(','), layers: f.layers, threads: f.threads,
      }, (s) => process.stderr.write(s));
      if (f.json) process.stdout.write(`${JSON.stringify({ genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, budget: Number(f.budget), rows }, null, 2)}\n`);
      else console.log(`\n${waveTable(rows)}`);
      return;
    }
    if (which !== 'engine') throw new Error(`unknown benchmark ${which}; expected engine, wavefilter, attention or wf-variants`);
    f.methods ??= 'none,prefix,dual';
    const shape = { ...DEFAULT_SHAPE, layers: f.layers };
    process.stderr.write(`model: ${shape.layers} layers, d_model ${shape.dModel}, ${shape.heads} heads, ffn ${shape.ffn}, vocab ${shape.vocab} (random F16 weights, fp32 compute)\n`);
    const dir = randomCheckpoint(shape);
    const model = await loadModel(dir, { threads: f.threads });
    const rows: Row[] = [];
    for (const Lp of f.promptLengths.split(',').map(Number)) {
      const prompt = Array.from({ length: Lp }, (_, i) => (i * 7919 + 13) % (shape.vocab - 2));
      let base = 0;
      for (const method of (f.methods as string).split(',') as CacheName[]) {
        process.stderr.write(`  prompt ${Lp}, ${method}... `);
        const r = await model.generate({ inputIds: prompt }, { genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, cache: method, allowLongContext: true });
        const t = r.timings;
        const tps = (f.genLength * 1000) / t.totalMs;
        if (method === 'none') base = tps;
        const row: Row = {
          method, prompt: Lp, totalS: t.totalMs / 1000, tokensPerS: tps, nfe: r.nfe, refreshMs: t.refreshMsMean, cachedStepMs: t.cachedStepMsMean,
          cachedStepJsShare: t.cachedSteps && t.cachedStepMsMean && t.cachedStepOrtMsMean !== null ? (t.cachedStepMsMean - t.cachedStepOrtMsMean) / t.cachedStepMsMean : 0, jsShare: t.jsShare,
          speedup: base ? tps / base : NaN,
        };
        rows.push(row);
        process.stderr.write(`${row.totalS.toFixed(1)} s\n`);
      }
    }
    await model.dispose();
    if (f.json) {
      process.stdout.write(`${JSON.stringify({ shape, genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, rows }, null, 2)}\n`);
      return;
    }
    console.log(`\n| method | prompt | total s | tokens/s | vs none | nfe | refresh ms | cached step ms | JS share of cached step | JS share overall |`);
    console.log(`|---|---|---|---|---|---|---|---|---|---|`);
    for (const r of rows)
      console.log(`| ${r.method} | ${r.prompt} | ${r.totalS.toFixed(1)} | ${r.tokensPerS.toFixed(2)} | ${Number.isNaN(r.speedup) ? '-' : `${r.speedup.toFixed(2)}x`} | ${r.nfe} | ${r.refreshMs?.toFixed(0) ?? '-'} | ${r.cachedStepMs?.toFixed(1) ?? '-'} | ${(100 * r.cachedStepJsShare).toFixed(1)}% | ${(100 * r.jsShare).toFixed(1)}% |`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
