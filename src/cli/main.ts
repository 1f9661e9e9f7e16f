#!/usr/bin/env node
/**
 * The `wavefilter` command. Results go to stdout (one JSON object with --json), progress and
 * errors to stderr, so `--json | jq` just works.
 */
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { WavefilterError } from '../errors.js';
import { loadModel } from '../engine.js';
import type { StepEvent } from '../decode/generate.js';
import { idsArg, intArg, listArg, namesArg, numArg, parseBudgetArg, threadsArg } from './args.js';
import { checkArgv, idsFromFile, promptText } from './input.js';
import { importOptional } from '../optional.js';
import { FILTER_NAMES, type FilterName } from '../filter/index.js';
import { BUILTIN_CACHE_HOSTS, type CacheName, cacheHostNames } from '../cache/registry.js';
import { EXECUTORS, type ExecutorChoice } from '../decode/options.js';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { MiB, readUserJson } from '../files.js';
import { newResultsDir, readJsonLines } from '../bench/results-file.js';
import { join } from 'node:path';
import { RULER_TASKS, type RulerTaskName, usesEssay } from '../bench/ruler/tasks.js';
import { type MethodSpec, type SampleResult, promptIds, rulerPrompts, rulerRowSchema, runRuler, writeSummary } from '../bench/ruler/run.js';
import { methodSpecSchema } from '../bench/methods.js';
import { matchAll, matchPart, postprocess } from '../bench/ruler/metrics.js';
import { writeRulerCharts } from '../bench/ruler/charts.js';
import { type GridFlags, LENGTH_RANGE, gridMethods, modelDir, openModel, progressBar, withGridOptions } from './grid-options.js';
import { longBenchMarkdown, runLongBench, summarizeLongBench, supportedDatasets } from '../bench/longbench/run.js';
import { NEEDLE_KINDS, NIAH_SCORERS, type NeedleKind, type NiahScorer } from '../bench/niah/names.js';
import { findEssayCorpus, loadHotpot, loadSquad, loadWordSources } from '../bench/ruler/sources.js';


/** Codes that mean the command line itself is wrong: exit 2 (sysexits' usage class), else 1. */
const USAGE_CODES: ReadonlySet<string> = new Set(['invalid_option', 'argument_too_long']);

/**
 * Every failure ends here as one line `error [code]: message` on stderr: the engine's typed errors
 * with their code, commander's parse errors as invalid_option, anything else (a bug) as
 * internal_error with its message (the stack only with WAVEFILTER_DEBUG=1).
 */
function fail(e: unknown): never {
  if (e instanceof WavefilterError) {
    process.stderr.write(`error [${e.code}]: ${e.message}\n`);
    process.exit(USAGE_CODES.has(e.code) ? 2 : 1);
  }
  const err = e as { code?: string; message?: string; stack?: string };
  if (typeof err?.code === 'string' && err.code.startsWith('commander.')) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.stderr.write(`error [invalid_option]: ${String(err.message ?? '').replace(/^error: /, '')}\n`);
    process.exit(2);
  }
  process.stderr.write(`error [internal_error]: ${err?.message ?? String(e)}\n`);
  if (process.env.WAVEFILTER_DEBUG === '1' && err?.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}

interface GenerateFlags {
  model?: string;
  prompt?: string;
  promptFile?: string;
  inputIds?: number[];
  inputIdsFile?: string;
  chat: boolean;
  genLength: number;
  blockLength?: number;
  steps?: number;
  threshold?: number;
  factor?: number;
  cache: CacheName;
  executor: ExecutorChoice;
  remasking: 'low_confidence' | 'random';
  alg: 'origin' | 'maskgit_plus' | 'topk_margin' | 'entropy';
  algTemp?: number;
  temperature: number;
  topP?: number;
  topK?: number;
  cfgScale: number;
  seed: number;
  threads?: number;
  ropeTheta?: number;
  maxLength?: number;
  allowLongContext?: boolean;
  json?: boolean;
  progress: boolean;
  filter: FilterName;
  budget?: number;
  promptRefresh?: 'every-block' | 'first-block';
  wfPreset?: 'faithful' | 'practical';
  wfLevels?: number;
  wfProportions?: number[];
  wfSinks?: number;
  wfTail?: number;
  wfHeadShared?: boolean;
  wfNorm?: 'orthonormal' | 'mean';
  wfSchedule?: 'once-per-block' | 'every-step' | 'on-drift';
  wfDrift?: number;
  wfDenseLayers?: number[];
}

const program = new Command();
program
  .name('wavefilter')
  .description('Diffusion language models (LLaDA, Dream) on ONNX Runtime, with Fast-dLLM caches')
  .version('0.1.0')
  .exitOverride()
  // commander's own error lines are replaced by fail()'s coded line; help and usage still print
  .configureOutput({ writeErr: (s) => (s.startsWith('error:') ? undefined : process.stderr.write(s)) });

program
  .command('generate')
  .description('generate an answer with a diffusion LM')
  .option('--model <dir>', 'checkpoint folder in Hugging Face layout (default: the bundled model)')
  .option('--prompt <text>', 'prompt text (short prompts; "-" reads stdin); the chat template is applied when the tokenizer has one, otherwise the text is encoded as it is')
  .option('--prompt-file <file>', 'read the prompt from a UTF-8 file ("-" = stdin): the way to pass long prompts')
  .option('--input-ids <ids>', 'raw prompt token ids, comma-separated (no template)', idsArg('--input-ids'))
  .option('--input-ids-file <file>', 'raw prompt token ids from a file ("-" = stdin), separated by commas or whitespace')
  .option('--no-chat', 'do not apply the chat template to the prompt')
  .option('--gen-length <n>', 'tokens to generate', intArg('--gen-length', { min: 1, max: 65536 }), 32)
  .option('--block-length <n>', 'semi-autoregressive block length (default: 32 with a cache, gen-length without)', intArg('--block-length', { min: 1, max: 65536 }))
  .option('--steps <n>', 'total denoising steps, at most gen-length (default: gen-length)', intArg('--steps', { min: 1, max: 65536 }))
  .option('--threshold <p>', 'Fast-dLLM parallel decoding: commit every token with confidence >= p, p in (0, 1]', numArg('--threshold', { min: 0, minExclusive: true, max: 1 }))
  .option('--factor <f>', 'Fast-dLLM factor rule for parallel decoding', numArg('--factor', { min: 0, minExclusive: true, max: 1e6 }))
  .addOption(new Option('--cache <method>', `KV cache host: ${BUILTIN_CACHE_HOSTS.map((h) => `${h.name} (${h.summary})`).join('; ')}`).choices(cacheHostNames()).default('none'))
  .addOption(new Option('--executor <kind>', 'block: one ONNX Runtime run per denoising block; step: one run per forward, scored in JavaScript (runs every option); auto: block where it supports the options').choices([...EXECUTORS]).default('auto'))
  .addOption(new Option('--remasking <kind>', 'LLaDA candidate ranking').choices(['low_confidence', 'random']).default('low_confidence'))
  .addOption(new Option('--alg <alg>', 'Dream confidence').choices(['origin', 'maskgit_plus', 'topk_margin', 'entropy']).default('entropy'))
  .option('--alg-temp <t>', 'Dream: sample positions from softmax(confidence / t)', numArg('--alg-temp', { min: 0, max: 1e6 }))
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', numArg('--temperature', { min: 0, max: 1e6 }), 0)
  .option('--top-p <p>', 'Dream nucleus filter, in (0, 1]', numArg('--top-p', { min: 0, minExclusive: true, max: 1 }))
  .option('--top-k <k>', 'Dream top-k filter', intArg('--top-k', { min: 1, max: 1 << 24 }))
  .option('--cfg-scale <s>', 'LLaDA classifier-free guidance (no cache)', numArg('--cfg-scale', { min: 0, max: 1e6 }), 0)
  .option('--seed <n>', 'seed for every random choice', intArg('--seed', { min: 0 }), 0)
  .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
  .option('--rope-theta <x>', 'context extension: RoPE base instead of the config\'s (e.g. NTK scaling for prompts beyond the trained length)', numArg('--rope-theta', { min: 0, minExclusive: true, max: 1e12 }))
  .option('--max-length <n>', 'context extension: context limit instead of the config\'s max_sequence_length', intArg('--max-length', { min: 1, max: 1 << 20 }))
  .option('--allow-long-context', 'allow prompt + answer beyond the model\'s trained context')
  .addOption(new Option('--filter <name>', 'token filter on the cache host (needs --cache prefix or dual)').choices([...FILTER_NAMES]).default('none'))
  .option('--budget <b>', 'kept prompt rows: a fraction of the prompt in (0, 1] or an integer token count (> 1); default 0.16 for baselines, WaveFilter\'s proportions otherwise', (v: string) => parseBudgetArg('--budget', v))
  .addOption(new Option('--prompt-refresh <when>', 'when the host recomputes the prompt\'s K/V (default: first-block with a filter, except WaveFilter faithful)').choices(['every-block', 'first-block']))
  .addOption(new Option('--wf-preset <preset>', 'WaveFilter preset: practical (4 sinks, 64-token tail, once per block) or faithful (the paper)').choices(['faithful', 'practical']))
  .option('--wf-levels <B>', 'WaveFilter scales B (default 2)', intArg('--wf-levels', { min: 1, max: 24 }))
  .option('--wf-proportions <list>', 'WaveFilter proportions m_1..m_B, each in (0, 1] (one value for all; default 0.4)', listArg('--wf-proportions', { min: 0, minExclusive: true, max: 1 }))
  .option('--wf-sinks <n>', 'WaveFilter leading rows always kept', intArg('--wf-sinks', { min: 0, max: 1 << 24 }))
  .option('--wf-tail <n>', 'WaveFilter trailing prompt rows always kept', intArg('--wf-tail', { min: 0, max: 1 << 24 }))
  .option('--wf-head-shared', 'one WaveFilter selection for all KV heads of a layer')
  .addOption(new Option('--wf-norm <norm>', 'Haar normalisation').choices(['orthonormal', 'mean']))
  .addOption(new Option('--wf-schedule <when>', 'when WaveFilter re-selects').choices(['once-per-block', 'every-step', 'on-drift']))
  .option('--wf-drift <cos>', 'on-drift: re-select when the block queries\' centroid cosine to the last selection falls below this, in [-1, 1] (default 0.95)', numArg('--wf-drift', { min: -1, max: 1 }))
  .option('--wf-dense-layers <list>', 'layers that keep every prompt row, e.g. 0,1', idsArg('--wf-dense-layers'))
  .option('--json', 'print one JSON object (output_ids, text, nfe, timings) to stdout')
  .option('--no-progress', 'no progress bar on stderr')
  .action(async (f: GenerateFlags) => {
    const given = [f.prompt, f.promptFile, f.inputIds, f.inputIdsFile].filter((x) => x !== undefined).length;
    if (given !== 1) throw new WavefilterError('invalid_option', 'give exactly one of --prompt, --prompt-file, --input-ids or --input-ids-file', { option: 'prompt' });
    const text = promptText(f.prompt, f.promptFile);
    const inputIds = f.inputIdsFile !== undefined ? idsFromFile(f.inputIdsFile) : f.inputIds;
    const model = await loadModel(modelDir(f.model), { threads: f.threads, ropeTheta: f.ropeTheta, maxLength: f.maxLength });
    const showBar = f.progress && process.stderr.isTTY;
    const bar = showBar ? new cliProgress.SingleBar({ stream: process.stderr, format: 'denoising |{bar}| {value}/{total} tokens | block {block} | nfe {nfe}' }, cliProgress.Presets.shades_classic) : null;
    bar?.start(f.genLength, 0, { block: 1, nfe: 0 });
    const out = await model.generate(inputIds ? { inputIds } : (text as string), {
      // --no-chat forces plain text; otherwise the template is used when the tokenizer has one
      chat: f.chat === false ? false : undefined, genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, threshold: f.threshold ?? null, factor: f.factor ?? null,
      cache: f.cache, executor: f.executor, remasking: f.remasking, alg: f.alg, algTemp: f.algTemp ?? null, temperature: f.temperature, topP: f.topP ?? null,
      topK: f.topK ?? null, cfgScale: f.cfgScale, seed: f.seed, allowLongContext: f.allowLongContext,
      filter: f.filter, budget: f.budget ?? null, promptRefresh: f.promptRefresh,
      wave: {
        preset: f.wfPreset, levels: f.wfLevels, proportions: f.wfProportions, sinks: f.wfSinks, tail: f.wfTail,
        headShared: f.wfHeadShared, norm: f.wfNorm, schedule: f.wfSchedule, driftThreshold: f.wfDrift, denseLayers: f.wfDenseLayers,
      },
      onStep: (e: StepEvent) => {
        let decided = 0;
        for (let i = e.canvas.length - e.genLength; i < e.canvas.length; i++) if (e.canvas[i] !== model.spec.maskTokenId) decided++;
        bar?.update(decided, { block: `${e.block + 1}/${e.blocks}`, nfe: e.nfe });
      },
    });
    bar?.stop();
    await model.dispose();
    if (f.json) {
      process.stdout.write(`${JSON.stringify({
        output_ids: out.outputIds, prompt_length: out.promptLength, generated_ids: out.generatedIds, text: out.text, nfe: out.nfe,
        stop_reason: out.stopReason,
        timings: {
          executor: out.timings.executor, total_ms: out.timings.totalMs, ort_ms: out.timings.ortMs, ort_runs: out.timings.ortRuns,
          ort_runs_per_block: out.timings.ortRunsPerBlock, block_ms_mean: out.timings.blockMsMean, refreshes: out.timings.refreshes, refresh_ms_mean: out.timings.refreshMsMean,
          cached_steps: out.timings.cachedSteps, cached_step_ms_mean: out.timings.cachedStepMsMean, tokens_per_s: out.timings.tokensPerSecond,
          js_share: out.timings.jsShare, selections: out.timings.selections, select_ms: out.timings.selectMs,
          kept_prompt_rows: out.timings.keptPromptRows,
        },
        options: out.options,
      })}\n`);
    } else {
      process.stdout.write(`${out.text ?? out.generatedIds.join(',')}\n`);
      process.stderr.write(`nfe ${out.nfe}, ${out.timings.totalMs.toFixed(0)} ms, ${out.timings.tokensPerSecond.toFixed(1)} tokens/s\n`);
    }
  });

program
  .command('logits')
  .description('print the logits of one bidirectional forward pass (raw, before Dream\'s shift)')
  .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
  .option('--input-ids <ids>', 'token ids, comma-separated', idsArg('--input-ids'))
  .option('--input-ids-file <file>', 'token ids from a file ("-" = stdin), separated by commas or whitespace')
  .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
  .option('--rope-theta <x>', 'context extension: RoPE base instead of the config\'s (e.g. NTK scaling for prompts beyond the trained length)', numArg('--rope-theta', { min: 0, minExclusive: true, max: 1e12 }))
  .option('--max-length <n>', 'context extension: context limit instead of the config\'s max_sequence_length', intArg('--max-length', { min: 1, max: 1 << 20 }))
  .option('--json', 'print {"logits": [[...], ...]} to stdout (the default output)')
  .action(async (f: { model?: string; inputIds?: number[]; inputIdsFile?: string; threads?: number; ropeTheta?: number; maxLength?: number }) => {
    if ((f.inputIds === undefined) === (f.inputIdsFile === undefined)) throw new WavefilterError('invalid_option', 'give exactly one of --input-ids or --input-ids-file', { option: 'input-ids' });
    const ids = f.inputIdsFile !== undefined ? idsFromFile(f.inputIdsFile) : (f.inputIds as number[]);
    const model = await loadModel(modelDir(f.model), { threads: f.threads, ropeTheta: f.ropeTheta, maxLength: f.maxLength });
    const rows = await model.logits(ids);
    await model.dispose();
    process.stdout.write(`${JSON.stringify({ logits: rows.map((r) => Array.from(r)) })}\n`);
  });

program
  .command('demo')
  .description('a long-context retrieval on the bundled model: one fresh RULER prompt answered by the Fast-dLLM dual cache, without and with WaveFilter')
  .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
  .option('--task <name>', 'RULER task (noise and needle haystacks need no corpus)', 'niah_single_1')
  .option('--length <n>', 'prompt length in tokens (128 to the model\'s context)', intArg('--length', { min: 128, max: 1 << 20 }), 4096)
  .option('--seed <n>', 'generator seed (training used seeds >= 1,000,000)', intArg('--seed', { min: 0 }), 7)
  .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
  .option('--json', 'print the two answers and timings as JSON')
  .action(async (f: { model?: string; task: string; length: number; seed: number; threads?: number; json?: boolean }) => {
    const task = RULER_TASKS.find((t) => t.name === f.task);
    if (!task) throw new WavefilterError('invalid_option', `--task: unknown task ${f.task}; expected ${RULER_TASKS.map((t) => t.name).join(', ')}`, { option: 'task' });
    const model = await loadModel(modelDir(f.model), { threads: f.threads });
    if (f.length > model.spec.maxSequenceLength) {
      await model.dispose();
      throw new WavefilterError('invalid_option', `option --length: expected at most the model's context (${model.spec.maxSequenceLength}), found ${f.length}`, { option: 'length' });
    }
    const essay = usesEssay(task.name) ? findEssayCorpus() : null;
    const { samples: [sample], ids: [ids], genLength } = rulerPrompts(model, task.name, f.length, 1, 32, { words: loadWordSources(), essay: essay?.text, essayId: essay?.id, seed: f.seed });
    const runs: Array<{ method: string; answer: string; correct: boolean; seconds: number }> = [];
    for (const [method, opts] of [['dual cache', {}], ['dual cache + WaveFilter (practical)', { filter: 'wavefilter' as const }]] as const) {
      const t0 = performance.now();
      const out = await model.generate({ inputIds: ids }, { genLength, blockLength: 32, steps: genLength, threshold: 0.9, cache: 'dual', ...opts });
      const answer = postprocess(out.text ?? '');
      runs.push({ method, answer, correct: (sample.metric === 'all' ? matchAll : matchPart)(answer, sample.outputs) === 1, seconds: (performance.now() - t0) / 1000 });
    }
    await model.dispose();
    if (f.json) {
      process.stdout.write(`${JSON.stringify({ task: task.name, prompt_tokens: ids.length, references: sample.outputs, runs })}\n`);
      return;
    }
    const question = sample.input.slice(sample.input.lastIndexOf('\n') + 1);
    process.stdout.write(`${task.name}: a ${ids.length}-token prompt (seed ${f.seed}); the question at its end:\n  ${question}\nexpected: ${sample.outputs.join(', ')}\n`);
    for (const r of runs) process.stdout.write(`  ${r.correct ? 'correct' : 'WRONG  '}  ${r.method.padEnd(38)} ${JSON.stringify(r.answer)}  (${r.seconds.toFixed(1)} s)\n`);
  });

const bench = program.command('bench').description('long-context benchmarks');

interface RulerFlags extends GridFlags {
  tasks?: string;
  lengths: string;
  samples: number;
  seed: number;
  haystack?: string;
  squad?: string;
  hotpotqa?: string;
}

withGridOptions(bench.command('ruler'), 'ruler')
  .description('RULER (synthetic long-context tasks) for a grid of cache hosts and token filters on identical prompts')
  .option('--tasks <list>', `comma-separated tasks (default: all but qa_1/qa_2, which need --squad / --hotpotqa): ${RULER_TASKS.map((t) => t.name).join(', ')}`)
  .option('--lengths <list>', 'prompt lengths in tokens (prompt + answer fit in each)', '4096')
  .option('--samples <n>', 'samples per task and length', intArg('--samples', { min: 1, max: 100_000 }), 20)
  .option('--seed <n>', 'generator seed (training data uses other seeds)', intArg('--seed', { min: 0 }), 42)
  .option('--haystack <file>', 'public-domain essay corpus for the essay tasks (default: an installed Debian corpus)')
  .option('--squad <file>', 'SQuAD v2 dev JSON for qa_1')
  .option('--hotpotqa <file>', 'HotpotQA dev distractor JSON for qa_2')
  .action(async (f: RulerFlags) => {
    const all = RULER_TASKS.map((t) => t.name);
    const tasks = (f.tasks ? namesArg('--tasks', f.tasks, all) : all.filter((t) => !t.startsWith('qa_'))) as RulerTaskName[];
    const lengths = listArg('--lengths', LENGTH_RANGE, true)(f.lengths);
    const methods = gridMethods(f);
    const out = resultsDir(f, 'ruler');
    const essay = tasks.some(usesEssay) ? findEssayCorpus(f.haystack) : null;
    const qa = { squad: f.squad ? loadSquad(f.squad) : undefined, hotpotqa: f.hotpotqa ? loadHotpot(f.hotpotqa) : undefined };
    const model = await openModel(f);
    const bar = progressBar(f, 'ruler', 'samples');
    const results = await runRuler(model, {
      tasks, lengths, samples: f.samples, methods, outDir: out, blockLength: f.blockLength, threshold: f.threshold ?? null,
      env: { words: loadWordSources(), essay: essay?.text, essayId: essay?.id, qa, seed: f.seed }, onProgress: bar.onProgress,
    });
    bar.stop();
    await model.dispose();
    const summary = writeSummary(out, {
      model: model.dir, seed: f.seed, samples: f.samples, lengths, tasks, created: new Date().toISOString(),
      source: essay ? `RULER-PD (essay haystack: ${essay.id}; keys: friendly-words)` : 'RULER (synthetic tasks; keys: friendly-words)',
      methods, block_length: f.blockLength, threshold: f.threshold ?? null,
      rope_theta: model.spec.ropeTheta, max_length: model.spec.maxSequenceLength,
    }, results);
    await writeRulerCharts(out, methods, summary.rows);
    done(f, out, summary);
  });

interface NiahFlags extends GridFlags {
  lengths: string;
  depths: string;
  repeats: number;
  needle: string;
  scorer: string;
  seed: number;
  genLength: number;
  haystack?: string;
}

withGridOptions(bench.command('niah'), 'niah')
  .description('needle-in-a-haystack grid (context length x depth) for a grid of cache hosts and token filters on identical prompts')
  .option('--lengths <list>', 'context lengths in tokens (prompt + answer)', '1024,2048,4096')
  .option('--depths <list>', 'needle depths in percent', '0,10,20,30,40,50,60,70,80,90,100')
  .option('--repeats <n>', 'prompts per cell (each starts the haystack elsewhere; ruler needles get fresh keys)', intArg('--repeats', { min: 1, max: 1000 }), 1)
  .addOption(new Option('--needle <kind>', 'needle: kamradt (the San Francisco sentence) or ruler (a RULER key/value needle)').choices([...NEEDLE_KINDS]).default('kamradt'))
  .addOption(new Option('--scorer <name>', 'score reported in tables and heatmaps (all are stored per prompt)').choices([...NIAH_SCORERS]).default('keyword'))
  .option('--seed <n>', 'seed for ruler needles', intArg('--seed', { min: 0 }), 42)
  .option('--gen-length <n>', 'tokens to generate', intArg('--gen-length', { min: 1, max: 4096 }), 64)
  .option('--haystack <file>', 'public-domain corpus for the haystack (default: an installed Debian corpus)')
  .action(async (f: NiahFlags) => {
    const methods = gridMethods(f);
    const lengths = listArg('--lengths', LENGTH_RANGE, true)(f.lengths);
    const depths = listArg('--depths', { min: 0, max: 100 })(f.depths);
    const corpus = findEssayCorpus(f.haystack);
    const out = resultsDir(f, 'niah');
    const model = await openModel(f);
    const codec = model.codec;
    if (!codec) throw new WavefilterError('invalid_input', `${model.dir}: the needle grid needs a tokenizer`, { file: model.dir });
    const { buildNiahGrid } = await import('../bench/niah/grid.js');
    // the needle scorers use optional packages (stemmer, fastest-levenshtein)
    const { runNiah, writeNiahSummary } = await importOptional(() => importOptional(() => import('../bench/niah/run.js'), 'stemmer', 'the needle grid'), 'fastest-levenshtein', 'the needle grid');
    const samples = buildNiahGrid({
      haystack: corpus.text, lengths, depths, repeats: f.repeats, needle: f.needle as NeedleKind, genTokens: f.genLength, seed: f.seed, words: loadWordSources(),
      count: (input, answerPrefix) => promptIds(model, { input, answerPrefix }).length, pieceTokens: (t) => codec.encodeText(t).length,
    });
    const bar = progressBar(f, 'niah', 'prompts');
    const results = await runNiah(model, { samples, methods, outDir: out, genLength: f.genLength, blockLength: f.blockLength, threshold: f.threshold ?? null, onProgress: bar.onProgress });
    bar.stop();
    await model.dispose();
    const summary = await writeNiahSummary(out, {
      model: model.dir, haystack: corpus.id, needle: f.needle, lengths, depths, repeats: f.repeats, seed: f.seed, methods: methods.map((m) => m.name),
      gen_length: f.genLength, block_length: f.blockLength, threshold: f.threshold ?? null, rope_theta: model.spec.ropeTheta, created: new Date().toISOString(),
    }, f.scorer as NiahScorer, results);
    done(f, out, summary);
  });

interface LongBenchFlags extends GridFlags {
  data: string;
  datasets?: string;
  e?: boolean;
  limit?: number;
}

withGridOptions(bench.command('longbench'), 'longbench')
  .description('LongBench v1 (or LongBench-E with --e) over a folder of the official JSONL files, for a grid of cache hosts and token filters on identical prompts')
  .requiredOption('--data <dir>', 'folder with the official <dataset>.jsonl files (or <dataset>_e.jsonl for --e)')
  .option('--datasets <list>', 'datasets to run (default: every dataset with a file in --data)')
  .option('--e', 'LongBench-E: read <dataset>_e.jsonl and report the 0-4k / 4-8k / 8k+ buckets')
  .option('--limit <n>', 'first n records of each dataset', intArg('--limit', { min: 1, max: 10_000_000 }))
  .action(async (f: LongBenchFlags) => {
    if (!existsSync(f.data)) throw new WavefilterError('file_not_found', `--data: ${f.data} not found`, { file: f.data });
    if (!statSync(f.data).isDirectory()) throw new WavefilterError('not_a_file', `--data: ${f.data} is not a folder`, { file: f.data });
    const datasets = f.datasets
      ? namesArg('--datasets', f.datasets, supportedDatasets())
      : supportedDatasets().filter((d) => existsSync(join(f.data, `${d}${f.e ? '_e' : ''}.jsonl`)));
    if (!datasets.length) throw new WavefilterError('file_not_found', `--data: no LongBench files (${f.e ? '<dataset>_e.jsonl' : '<dataset>.jsonl'}) in ${f.data}`, { file: f.data });
    const methods = gridMethods(f);
    const out = resultsDir(f, 'longbench');
    const model = await openModel(f);
    const bar = progressBar(f, 'longbench', 'records');
    const results = await runLongBench(model, {
      dataDir: f.data, datasets, e: Boolean(f.e), limit: f.limit ?? null, methods, outDir: out, blockLength: f.blockLength, threshold: f.threshold ?? null, onProgress: bar.onProgress,
    });
    bar.stop();
    await model.dispose();
    const s = summarizeLongBench(results, Boolean(f.e));
    const summary = {
      benchmark: 'longbench', model: model.dir, data: f.data, e: Boolean(f.e), datasets, limit: f.limit ?? null, methods, block_length: f.blockLength,
      threshold: f.threshold ?? null, max_length: model.spec.maxSequenceLength, rope_theta: model.spec.ropeTheta, created: new Date().toISOString(), ...s,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    writeFileSync(join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
    writeFileSync(join(out, 'results.md'), `${longBenchMarkdown(s)}\n`);
    await writeRulerCharts(out, methods, s.rows);
    done(f, out, summary);
  });

bench
  .command('merge')
  .description('merge RULER result folders (e.g. one per context length) into one results.json, results.md and charts')
  .requiredOption('--from <dirs>', 'comma-separated result folders (each with results.jsonl and results.json)')
  .requiredOption('--out <dir>', 'folder to write the merged report to')
  .option('--json', 'print the merged results object to stdout')
  .action(async (f: { from: string; out: string; json?: boolean }) => {
    const dirs = f.from.split(',').map((x) => x.trim()).filter((x) => x);
    const results: SampleResult[] = [];
    const methods = new Map<string, MethodSpec>();
    const sources: Record<string, unknown>[] = [];
    for (const d of dirs) {
      for (const file of ['results.jsonl', 'results.json'])
        if (!existsSync(join(d, file))) throw new WavefilterError('file_not_found', `${join(d, file)}: not found (run wavefilter bench ruler --out ${d} first)`, { file: join(d, file) });
      const metaFile = join(d, 'results.json');
      const meta = readUserJson(metaFile, { what: 'results summary', maxBytes: 64 * MiB }) as { methods?: unknown; rows?: unknown } | null;
      const parsed = z.object({ methods: z.array(methodSpecSchema) }).safeParse(meta);
      if (!parsed.success) throw new WavefilterError('invalid_input', `${metaFile}: field ${parsed.error.issues[0].path.join('.') || 'methods'}: ${parsed.error.issues[0].message} (expected the method list bench ruler writes)`, { file: metaFile, field: 'methods' });
      for (const m of parsed.data.methods) methods.set(m.name, m as MethodSpec);
      const { rows: _rows, ...rest } = meta as Record<string, unknown>;
      sources.push({ dir: d, ...rest });
      for (const r of readJsonLines(join(d, 'results.jsonl'), rulerRowSchema, 'strict')) results.push(r as SampleResult);
    }
    mkdirSync(f.out, { recursive: true });
    const summary = writeSummary(f.out, { merged_from: sources, methods: [...methods.values()] }, results);
    await writeRulerCharts(f.out, [...methods.values()], summary.rows);
    if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(`${readFileSync(join(f.out, 'results.md'), 'utf8')}`);
  });

/** Where a benchmark writes: the folder the user named (resumable), or a new one. */
function resultsDir(f: GridFlags, bench: string): string {
  return f.out ?? newResultsDir(bench);
}

/** The end of a benchmark command: the results object (--json) or the markdown table, and where both are. */
function done(f: GridFlags, out: string, summary: unknown): void {
  if (f.json) process.stdout.write(`${JSON.stringify({ out, ...(summary as object) })}\n`);
  else process.stdout.write(`${readFileSync(join(out, 'results.md'), 'utf8')}\nresults in ${out}\n`);
}

try {
  checkArgv(process.argv.slice(2));
} catch (e) {
  fail(e);
}
program.parseAsync(process.argv).catch(fail);
