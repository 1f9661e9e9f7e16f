/** `wavefilter generate`: one answer from a prompt, with progress on stderr and --json for scripts. */
import type { Device } from '../../model/runtime.js';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { WavefilterError } from '../../errors.js';
import { type ElasticOutput, loadModel } from '../../engine.js';
import type { StepEvent } from '../../decode/generate.js';
import { idsArg, intArg, listArg, numArg, parseBudgetArg, TOKEN_SHARE_RANGE, threadsArg, deviceArg, DEVICE_HELP } from '../args.js';
import { idsFromFile, promptText } from '../input.js';
import { FILTER_NAMES, type FilterName, TOKEN_FILTERS, type WaveFilterOptions } from '../../filter/index.js';
import { BUILTIN_CACHE_HOSTS, type CacheName, cacheHostNames } from '../../cache/registry.js';
import { EXECUTORS, type ExecutorChoice } from '../../decode/options.js';
import { generationJson } from '../../json-output.js';
import { DLLM_CACHE_DEFAULTS } from '../../cache/dllm/index.js';
import { modelDir } from '../grid-options.js';

interface GenerateFlags {
  freezePrompt?: boolean;
  keptRows?: 'union' | 'top';
  device?: Device;
  dtype: 'fp32' | 'fp16';
  model?: string;
  prompt?: string;
  prefill?: string;
  promptFile?: string;
  inputIds?: number[];
  inputIdsFile?: string;
  chat: boolean;
  genLength: number;
  blockLength?: number;
  steps?: number;
  threshold?: number;
  factor?: number;
  cache: CacheName | 'elastic' | 'dllm-cache';
  promptInterval?: number;
  genInterval?: number;
  transferRatio?: number;
  window?: number;
  tokensPerIter?: number;
  gamma?: number;
  trackNum?: number;
  blockCaching: boolean;
  eosId?: number;
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
  wfQuestionQueries?: number;
  wfSpanLevels?: number;
  wfTokenShare?: number;
  wfSampleShare?: number;
  wfTokenPool?: number;
  wfTailRefresh?: 'kept' | 'all';
  wfTailShare?: number;
}

export function generateCommand(program: Command): void {
  program
  .command('generate')
  .description('generate an answer with a diffusion LM')
  .option('--model <dir>', 'checkpoint folder in Hugging Face layout (default: the bundled model)')
  .option('--prompt <text>', 'prompt text (short prompts; "-" reads stdin); the chat template is applied when the tokenizer has one, otherwise the text is encoded as it is')
  .option('--prompt-file <file>', 'read the prompt from a UTF-8 file ("-" = stdin): the way to pass long prompts')
  .option('--input-ids <ids>', 'raw prompt token ids, comma-separated (no template)', idsArg('--input-ids'))
  .option('--input-ids-file <file>', 'raw prompt token ids from a file ("-" = stdin), separated by commas or whitespace')
  .option('--no-chat', 'do not apply the chat template to the prompt')
  .option('--prefill <text>', 'start the answer with this text and continue it (an assistant prefill: the chat template opens the answer turn, the text follows; the output is the continuation)')
  .option('--gen-length <n>', 'tokens to generate', intArg('--gen-length', { min: 1, max: 65536 }), 32)
  .option('--block-length <n>', 'semi-autoregressive block length (default: 32 with a cache, gen-length without)', intArg('--block-length', { min: 1, max: 65536 }))
  .option('--steps <n>', 'total denoising steps, at most gen-length (default: gen-length)', intArg('--steps', { min: 1, max: 65536 }))
  .option('--threshold <p>', 'Fast-dLLM parallel decoding: commit every token with confidence >= p, p in (0, 1]', numArg('--threshold', { min: 0, minExclusive: true, max: 1 }))
  .option('--factor <f>', 'Fast-dLLM factor rule for parallel decoding', numArg('--factor', { min: 0, minExclusive: true, max: 1e6 }))
  .addOption(new Option('--cache <method>', `KV cache host: ${BUILTIN_CACHE_HOSTS.map((h) => `${h.name} (${h.summary})`).join('; ')}; elastic (Elastic-Cache: a window of masks, layer-wise refresh on attention drift, no blocks); dllm-cache (dLLM-Cache: cached attention and FFN outputs, the prompt and the answer refreshed at their own intervals, the most-changed answer rows in between; step executor)`).choices([...cacheHostNames(), 'elastic', 'dllm-cache']).default('none'))
  .option('--prompt-interval <n>', `dllm-cache: forwards between prompt refreshes (default ${DLLM_CACHE_DEFAULTS.promptInterval})`, intArg('--prompt-interval', { min: 1 }))
  .option('--gen-interval <n>', `dllm-cache: forwards between answer refreshes (default ${DLLM_CACHE_DEFAULTS.genInterval})`, intArg('--gen-interval', { min: 1 }))
  .option('--transfer-ratio <r>', `dllm-cache: share of answer rows recomputed between answer refreshes, those whose values changed most, in [0, 1] (default ${DLLM_CACHE_DEFAULTS.transferRatio})`, numArg('--transfer-ratio', { min: 0, max: 1 }))
  .option('--window <n>', 'elastic: the first n still-masked positions are the decode candidates (default 16)', intArg('--window', { min: 1, max: 65536 }))
  .option('--tokens-per-iter <k>', 'elastic: decode the k most confident candidates an iteration instead of by --threshold (default threshold 0.9)', intArg('--tokens-per-iter', { min: 1, max: 65536 }))
  .option('--gamma <g>', 'elastic: refresh the layers above one whose tracked tokens\' attention similarity falls below g, in [-1, 1] (default 0.9)', numArg('--gamma', { min: -1, max: 1 }))
  .option('--track-num <n>', 'elastic: tracked (most attended) tokens per layer (default 1)', intArg('--track-num', { min: 1, max: 65536 }))
  .option('--no-block-caching', 'elastic: query every mask (the first --window are decoded), not only the window\'s')
  .option('--freeze-prompt', 'elastic: prompt rows keep the first forward\'s state; only generation rows are recomputed (default when --filter cut the caches)')
  .option('--no-freeze-prompt', 'elastic: recompute prompt rows on refreshes as the official code does (default without a filter)')
  .addOption(new Option('--kept-rows <rule>', 'elastic with --filter: union (every row some layer\'s head kept; default) or top (the budget\'s most-kept rows)').choices(['union', 'top']))
  .option('--eos-id <id>', 'elastic: the first decoded EOS drops the masks after it (default: the model\'s eos_token_id)', intArg('--eos-id', { min: 0 }))
  .addOption(new Option('--executor <kind>', 'block: one ONNX Runtime run per denoising block (elastic: per generation); generation: one run for every block (a cached host with the first-block prompt refresh: WaveFilter and SnapKV on prefix/dual; the prompt K/V stay on the device); step: one run per forward, scored in JavaScript (runs every option); batch: the step loop with its forwards packed with other generations\' on the same model (the server\'s concurrent requests; one generation here, so the same as step); auto: on cuda the generation program where it applies, else block where it supports the options, else step (elastic: block on cuda, step on cpu)').choices([...EXECUTORS]).default('auto'))
  .addOption(new Option('--remasking <kind>', 'LLaDA candidate ranking').choices(['low_confidence', 'random']).default('low_confidence'))
  .addOption(new Option('--alg <alg>', 'Dream confidence').choices(['origin', 'maskgit_plus', 'topk_margin', 'entropy']).default('entropy'))
  .option('--alg-temp <t>', 'Dream: sample positions from softmax(confidence / t)', numArg('--alg-temp', { min: 0, max: 1e6 }))
  .option('--temperature <t>', 'sampling temperature (0 = greedy)', numArg('--temperature', { min: 0, max: 1e6 }), 0)
  .option('--top-p <p>', 'Dream nucleus filter, in (0, 1]', numArg('--top-p', { min: 0, minExclusive: true, max: 1 }))
  .option('--top-k <k>', 'Dream top-k filter', intArg('--top-k', { min: 1, max: 1 << 24 }))
  .option('--cfg-scale <s>', 'LLaDA classifier-free guidance (no cache)', numArg('--cfg-scale', { min: 0, max: 1e6 }), 0)
  .option('--seed <n>', 'seed for every random choice', intArg('--seed', { min: 0 }), 0)
  .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
  .option('--device <device>', DEVICE_HELP, deviceArg())
  .addOption(new Option('--dtype <type>', 'compute type: fp32, or fp16 on a CUDA device (block executor)').choices(['fp32', 'fp16']).default('fp32'))
  .option('--rope-theta <x>', 'context extension: RoPE base instead of the config\'s (e.g. NTK scaling for prompts beyond the trained length)', numArg('--rope-theta', { min: 0, minExclusive: true, max: 1e12 }))
  .option('--max-length <n>', 'context extension: context limit instead of the config\'s max_sequence_length', intArg('--max-length', { min: 1, max: 1 << 20 }))
  .option('--allow-long-context', 'allow prompt + answer beyond the model\'s trained context')
  .addOption(new Option('--filter <name>', `token filter on the cache host (needs --cache prefix, dual or elastic): ${TOKEN_FILTERS.map((t) => `${t.name} (${t.summary})`).join('; ')}`).choices([...FILTER_NAMES]).default('none'))
  .option('--budget <b>', 'kept prompt rows: a fraction of the prompt in (0, 1] or an integer token count (> 1); default 0.16 for baselines, WaveFilter\'s proportions otherwise', (v: string) => parseBudgetArg('--budget', v))
  .addOption(new Option('--prompt-refresh <when>', 'when the host recomputes the prompt\'s K/V (default: first-block with a filter, except WaveFilter faithful; on a GPU chosen by cost)').choices(['every-block', 'first-block']))
  .addOption(new Option('--wf-preset <preset>', 'WaveFilter preset: practical (4 sinks, a tail of 64 tokens or half the budget, once per block) or faithful (the paper)').choices(['faithful', 'practical']))
  .option('--wf-levels <B>', 'WaveFilter scales B (default 2)', intArg('--wf-levels', { min: 1, max: 24 }))
  .option('--wf-proportions <list>', 'WaveFilter proportions m_1..m_B, each in (0, 1] (one value for all; default 0.4)', listArg('--wf-proportions', { min: 0, minExclusive: true, max: 1 }))
  .option('--wf-sinks <n>', 'WaveFilter leading rows always kept', intArg('--wf-sinks', { min: 0, max: 1 << 24 }))
  .option('--wf-tail <n>', 'WaveFilter trailing prompt rows always kept', intArg('--wf-tail', { min: 0, max: 1 << 24 }))
  .option('--wf-tail-share <x>', 'with --budget: WaveFilter keeps at least this share of the budget as trailing prompt rows, in [0, 1) (default: 0.5 for the practical preset, 0 for faithful)', numArg('--wf-tail-share', TOKEN_SHARE_RANGE))
  .option('--wf-head-shared', 'one WaveFilter selection for all KV heads of a layer')
  .addOption(new Option('--wf-norm <norm>', 'Haar normalisation').choices(['orthonormal', 'mean']))
  .addOption(new Option('--wf-schedule <when>', 'when WaveFilter re-selects').choices(['once-per-block', 'every-step', 'on-drift']))
  .option('--wf-drift <cos>', 'on-drift: re-select when the block queries\' centroid cosine to the last selection falls below this, in [-1, 1] (default 0.95)', numArg('--wf-drift', { min: -1, max: 1 }))
  .option('--wf-dense-layers <list>', 'layers that keep every prompt row, e.g. 0,1', idsArg('--wf-dense-layers'))
  .option('--wf-span-levels <n>', 'with --budget: WaveFilter scales 1..n keep every child, so kept spans of 2^(n+1) rows stay whole (default 0; below --wf-levels)', intArg('--wf-span-levels', { min: 0, max: 23 }))
  .option('--wf-token-share <x>', 'with --budget: the share of the budget WaveFilter gives to single rows scored alone, beside the pyramid\'s picks, in [0, 1) (default: 0.25 for the practical preset, 0 for faithful)', numArg('--wf-token-share', TOKEN_SHARE_RANGE))
  .option('--wf-sample-share <x>', 'with --budget: the share of the budget WaveFilter spreads evenly over the prompt (rows nearest evenly spaced points), beside the other picks, in [0, 1) with the token share below 1 (default 0)', numArg('--wf-sample-share', TOKEN_SHARE_RANGE))
  .option('--wf-token-pool <k>', 'with a token share: max-pool the single rows\' scores over k neighbouring rows (odd), so a pick keeps its neighbours (default: 1, none)', intArg('--wf-token-pool', { min: 1, max: 63 }))
  .addOption(new Option('--wf-tail-refresh <past>', 'with the first-block prompt refresh: each later block also recomputes WaveFilter\'s protected tail, attending to the kept rows or to every prompt row (default: off)').choices(['kept', 'all']))
  .option('--wf-question-queries <n>', 'the last n prompt positions\' queries (the question) vote beside the block\'s (default 0)', intArg('--wf-question-queries', { min: 0, max: 1 << 16 }))
  .option('--json', 'print one JSON object (output_ids, text, nfe, timings) to stdout')
  .option('--no-progress', 'no progress bar on stderr')
  .action(async (f: GenerateFlags, cmd: Command) => {
    const given = [f.prompt, f.promptFile, f.inputIds, f.inputIdsFile].filter((x) => x !== undefined).length;
    if (given !== 1) throw new WavefilterError('invalid_option', 'give exactly one of --prompt, --prompt-file, --input-ids or --input-ids-file', { option: 'prompt' });
    checkElasticFlags(f, cmd);
    const text = promptText(f.prompt, f.promptFile);
    const inputIds = f.inputIdsFile !== undefined ? idsFromFile(f.inputIdsFile) : f.inputIds;
    if (f.prefill !== undefined && text === undefined) throw new WavefilterError('invalid_option', '--prefill continues the answer to a --prompt or --prompt-file (raw ids: append the prefill\'s ids yourself)', { option: 'prefill' });
    if (f.prefill !== undefined && f.chat === false) throw new WavefilterError('invalid_option', '--prefill opens the answer turn with the chat template, so it cannot go with --no-chat (for a raw prompt, end the prompt with the text instead)', { option: 'prefill' });
    // a prefill is a final assistant message, which the library continues
    const input = inputIds ? { inputIds } : f.prefill !== undefined ? [{ role: 'user', content: text as string }, { role: 'assistant', content: f.prefill }] : (text as string);
    const model = await loadModel(modelDir(f.model), { device: f.device, dtype: f.dtype, threads: f.threads, ropeTheta: f.ropeTheta, maxLength: f.maxLength });
    if (f.cache === 'elastic') {
      const bar = f.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: 'elastic |{bar}| {value}/{total} tokens | nfe {nfe} | refreshes {refreshes}' }, cliProgress.Presets.shades_classic) : null;
      bar?.start(f.genLength, 0, { nfe: 0, refreshes: 0 });
      let refreshes = 0;
      const out = await model.generateElastic(input, {
        chat: f.chat === false ? false : undefined, genLength: f.genLength, window: f.window, tokensPerIter: f.tokensPerIter,
        threshold: f.threshold, gamma: f.gamma, trackNum: f.trackNum, blockCaching: f.blockCaching, eosId: f.eosId, allowLongContext: f.allowLongContext, executor: f.executor,
        filter: f.filter, budget: f.budget ?? null, wave: waveOptions(f), ...(f.freezePrompt === undefined ? {} : { freezePrompt: f.freezePrompt }), ...(f.keptRows === undefined ? {} : { keptRows: f.keptRows }),
        onStep: (e) => bar?.update(e.done, { nfe: e.nfe, refreshes: (refreshes += e.refreshFrom === null ? 0 : 1) }),
      });
      bar?.stop();
      await model.dispose();
      if (f.json) process.stdout.write(`${JSON.stringify(elasticJson(out))}\n`);
      else {
        process.stdout.write(`${out.text ?? out.generatedIds.join(',')}\n`);
        process.stderr.write(`nfe ${out.nfe}, ${out.refreshes.length} refreshes, ${out.timings.totalMs.toFixed(0)} ms, ${out.timings.tokensPerSecond.toFixed(1)} tokens/s\n`);
      }
      return;
    }
    const showBar = f.progress && process.stderr.isTTY;
    const bar = showBar ? new cliProgress.SingleBar({ stream: process.stderr, format: 'denoising |{bar}| {value}/{total} tokens | block {block} | nfe {nfe}' }, cliProgress.Presets.shades_classic) : null;
    bar?.start(f.genLength, 0, { block: 1, nfe: 0 });
    const out = await model.generate(input, {
      // --no-chat forces plain text; otherwise the template is used when the tokenizer has one
      chat: f.chat === false ? false : undefined, genLength: f.genLength, blockLength: f.blockLength, steps: f.steps, threshold: f.threshold ?? null, factor: f.factor ?? null,
      cache: f.cache as CacheName, executor: f.executor, remasking: f.remasking, alg: f.alg, algTemp: f.algTemp ?? null, temperature: f.temperature, topP: f.topP ?? null,
      topK: f.topK ?? null, cfgScale: f.cfgScale, seed: f.seed, allowLongContext: f.allowLongContext,
      filter: f.filter, budget: f.budget ?? null, promptRefresh: f.promptRefresh,
      wave: waveOptions(f),
      ...(f.cache === 'dllm-cache' ? { dllmCache: { promptInterval: f.promptInterval, genInterval: f.genInterval, transferRatio: f.transferRatio } } : {}),
      onStep: (e: StepEvent) => {
        let decided = 0;
        for (let i = e.canvas.length - e.genLength; i < e.canvas.length; i++) if (e.canvas[i] !== model.spec.maskTokenId) decided++;
        bar?.update(decided, { block: `${e.block + 1}/${e.blocks}`, nfe: e.nfe });
      },
    });
    bar?.stop();
    await model.dispose();
    if (f.json) {
      process.stdout.write(`${JSON.stringify(generationJson(out))}\n`);
    } else {
      process.stdout.write(`${out.text ?? out.generatedIds.join(',')}\n`);
      process.stderr.write(`nfe ${out.nfe}, ${out.timings.totalMs.toFixed(0)} ms, ${out.timings.tokensPerSecond.toFixed(1)} tokens/s\n`);
    }
  });
}

function waveOptions(f: GenerateFlags): WaveFilterOptions {
  return {
    preset: f.wfPreset, levels: f.wfLevels, proportions: f.wfProportions, sinks: f.wfSinks, tail: f.wfTail, tailShare: f.wfTailShare,
    headShared: f.wfHeadShared, norm: f.wfNorm, schedule: f.wfSchedule, driftThreshold: f.wfDrift, denseLayers: f.wfDenseLayers,
    questionQueries: f.wfQuestionQueries, spanLevels: f.wfSpanLevels, tokenShare: f.wfTokenShare, sampleShare: f.wfSampleShare, tokenPool: f.wfTokenPool,
    ...(f.wfTailRefresh ? { tailRefresh: true, tailRefreshPast: f.wfTailRefresh } : {}),
  };
}

/** Elastic-only flags need --cache elastic; block-decoding flags do not apply to it. */
function checkElasticFlags(f: GenerateFlags, cmd: Command): void {
  const fromCli = (k: string): boolean => cmd.getOptionValueSource(k) === 'cli';
  const elasticOnly = [['freezePrompt', '--freeze-prompt'], ['keptRows', '--kept-rows'], ['window', '--window'], ['tokensPerIter', '--tokens-per-iter'], ['gamma', '--gamma'], ['trackNum', '--track-num'], ['blockCaching', '--no-block-caching'], ['eosId', '--eos-id']] as const;
  const blockOnly = [['blockLength', '--block-length'], ['steps', '--steps'], ['factor', '--factor'], ['promptRefresh', '--prompt-refresh'], ['wfSchedule', '--wf-schedule'], ['wfDrift', '--wf-drift'],
    ['remasking', '--remasking'], ['alg', '--alg'], ['algTemp', '--alg-temp'], ['temperature', '--temperature'], ['topP', '--top-p'], ['topK', '--top-k'], ['cfgScale', '--cfg-scale']] as const;
  if (f.cache === 'elastic') {
    const bad = blockOnly.find(([k]) => fromCli(k));
    if (bad) throw new WavefilterError('invalid_option', `${bad[1]}: not an Elastic-Cache option (it has no blocks or steps; its options: --window, --threshold or --tokens-per-iter, --gamma, --track-num, --no-block-caching, --eos-id, --executor, and --filter / --budget / --wf-*, selected once after the first forward)`, { option: bad[1].slice(2) });
    if (f.threshold !== undefined && f.tokensPerIter !== undefined) throw new WavefilterError('invalid_option', '--threshold and --tokens-per-iter: give one (threshold decoding or a fixed count per iteration)', { option: 'tokens-per-iter' });
  } else {
    const bad = elasticOnly.find(([k]) => fromCli(k));
    if (bad) throw new WavefilterError('invalid_option', `${bad[1]}: an Elastic-Cache option; it needs --cache elastic`, { option: bad[1].slice(2) });
  }
  if (f.cache !== 'dllm-cache') {
    const bad = ([['promptInterval', '--prompt-interval'], ['genInterval', '--gen-interval'], ['transferRatio', '--transfer-ratio']] as const).find(([k]) => fromCli(k));
    if (bad) throw new WavefilterError('invalid_option', `${bad[1]}: a dLLM-Cache option; it needs --cache dllm-cache`, { option: bad[1].slice(2) });
  }
}

function elasticJson(out: ElasticOutput): Record<string, unknown> {
  return {
    output_ids: out.outputIds, prompt_length: out.promptLength, generated_ids: out.generatedIds, text: out.text, nfe: out.nfe, stop_reason: 'done',
    computed_ratio: out.computedRatio, masks_left: out.masksLeft,
    // a token filter's kept prompt rows (null: no filter, or its budget kept every row)
    kept_positions: out.filter ? out.filter.positions : null,
    refreshes: out.refreshes.map((r) => ({ step: r.step, from_layer: r.fromLayer })),
    timings: { executor: out.executor, total_ms: out.timings.totalMs, ort_ms: out.timings.ortMs, tokens_per_s: out.timings.tokensPerSecond, refreshes: out.refreshes.length, refresh_layers: out.refreshes.map((r) => r.fromLayer), kept_prompt_rows: out.filter ? out.filter.positions.length : null, select_ms: out.filter ? out.filter.selectMs : null },
  };
}
