/**
 * What the three benchmark commands share: the method-grid and decoding flags, their validation,
 * loading the model with the context-extension flags, and the progress bar.
 */
import type { Device } from '../model/runtime.js';
import { type Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { WavefilterError } from '../errors.js';
import { type DiffusionModel, loadModel } from '../engine.js';
import { cacheHostNames } from '../cache/registry.js';
import { FILTER_NAMES, type FilterName } from '../filter/index.js';
import type { WavePreset } from '../filter/wavefilter/index.js';
import { type MethodCache, type MethodSpec, methodGrid } from '../eval/methods.js';
import { intArg, namesArg, numArg, parseBudgetArg, parseDecimal, TOKEN_SHARE_RANGE, threadsArg, deviceArg, DEVICE_HELP } from './args.js';
import { DEFAULT_MODEL, defaultModelDir } from './paths.js';

export interface GridFlags {
  device?: Device;
  model?: string;
  cache: MethodCache;
  filter: string;
  budget?: string;
  wfPreset: string;
  wfTokenShare?: string;
  blockLength: number;
  threshold?: number;
  out?: string;
  threads?: number;
  ropeTheta?: number;
  maxLength?: number;
  json?: boolean;
  progress: boolean;
}

const PRESETS: readonly WavePreset[] = ['practical', 'faithful'];

/** Context lengths a benchmark may ask for. */
export const LENGTH_RANGE = { min: 128, max: 1 << 20 } as const;

/** Adds the shared flags; `bench` names the benchmark (the default results folder's prefix). */
export function withGridOptions(cmd: Command, bench: string): Command {
  return cmd
    .option('--model <dir>', 'checkpoint folder (default: the bundled model)')
    .addOption(new Option('--cache <method>', 'cache host, elastic (Elastic-Cache: window 16, gamma 0.9, one tracked token; a filter keeps one set of prompt rows for every layer), or dllm-cache (dLLM-Cache: prompt interval 100, answer interval 8, rho 0.25; no filters)').choices([...cacheHostNames(), 'elastic', 'dllm-cache']).default('dual'))
    .option('--filter <list>', `token filters to compare (${FILTER_NAMES.join(', ')})`, 'none')
    .option('--budget <list>', 'kept prompt rows per filter: fractions (<= 1) or token counts; default 0.16')
    .option('--wf-preset <list>', `WaveFilter presets to compare (${PRESETS.join(', ')})`, 'practical')
    .option('--wf-token-share <list>', 'WaveFilter token shares to compare, each in [0, 1) (a share of the budget to single rows scored alone; rows named +share<X>; default: the preset\'s own)')
    .option('--block-length <n>', 'block length', intArg('--block-length', { min: 1, max: 4096 }), 32)
    .option('--threshold <p>', 'Fast-dLLM confidence threshold in (0, 1] (default: one token per step)', numArg('--threshold', { min: 0, minExclusive: true, max: 1 }))
    .option('--out <dir>', `results folder (results.jsonl, results.json, results.md, charts); a rerun into the same folder resumes, keeping only rows of identical work (default: a new folder wavefilter-results/${bench}-<time>)`)
    .option('--threads <n>', 'ONNX Runtime intra-op threads (at most this machine\'s cores)', threadsArg())
    .option('--device <device>', DEVICE_HELP, deviceArg())
    .option('--rope-theta <x>', 'context extension: RoPE base instead of the config\'s (e.g. NTK scaling beyond the trained length)', numArg('--rope-theta', { min: 0, minExclusive: true, max: 1e12 }))
    .option('--max-length <n>', 'context extension: context limit instead of the config\'s max_sequence_length', intArg('--max-length', { min: 1, max: 1 << 20 }))
    .option('--json', 'print the results object to stdout')
    .option('--no-progress', 'no progress bar on stderr');
}

export function modelDir(opt: string | undefined): string {
  const dir = opt ?? defaultModelDir();
  if (!dir) throw new WavefilterError('invalid_option', `no --model given and no bundled model at models/${DEFAULT_MODEL}`, { option: 'model' });
  return dir;
}

/** The method grid of the flags, every name checked. */
export function gridMethods(f: GridFlags): MethodSpec[] {
  const filters = namesArg('--filter', f.filter, FILTER_NAMES);
  const presets = namesArg('--wf-preset', f.wfPreset, PRESETS);
  const budgets = f.budget ? [...new Set(f.budget.split(',').map((b) => parseBudgetArg('--budget', b.trim())))] : [0.16];
  const shares = f.wfTokenShare === undefined ? [null] : [...new Set(f.wfTokenShare.split(',').map((x) => shareArg(x.trim())))];
  if (f.wfTokenShare !== undefined && !filters.includes('wavefilter'))
    throw new WavefilterError('invalid_option', '--wf-token-share: applies to --filter wavefilter, which is not in the grid', { option: 'wf-token-share' });
  return methodGrid(f.cache, filters as FilterName[], budgets, presets as WavePreset[], shares);
}

/** One share of a --wf-token-share list, in generate's range. */
function shareArg(x: string): number {
  return parseDecimal('--wf-token-share', x, TOKEN_SHARE_RANGE);
}

export function openModel(f: GridFlags): Promise<DiffusionModel> {
  return loadModel(modelDir(f.model), { device: f.device, threads: f.threads, ropeTheta: f.ropeTheta, maxLength: f.maxLength });
}

/** A progress bar on stderr (when it is a terminal and --no-progress is absent). */
export function progressBar(f: GridFlags, label: string, unit: string): { onProgress: (done: number, total: number, what: string) => void; stop: () => void } {
  const bar = f.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: `${label} |{bar}| {value}/{total} ${unit} | {what}` }, cliProgress.Presets.shades_classic) : null;
  let started = false;
  return {
    onProgress: (done, total, what) => {
      if (!started) bar?.start(total, 0, { what });
      started = true;
      bar?.update(done, { what });
    },
    stop: () => bar?.stop(),
  };
}
