/**
 * `npm run bench -- wavefilter`: the dual-cache host alone against the host with WaveFilter (both
 * presets) and with each baseline filter at the same budget, on the realistic-shape random model, on
 * identical prompts, in one run, on the executors asked for (each row its own process: child.ts). Reports tokens/s, the mean cached-step latency, the time spent
 * selecting, and ratios against the host alone.
 */
import { type ChildResult, runChild } from './child.js';
import type { FilterName } from '../src/filter/index.js';
import { DEFAULT_SHAPE, randomCheckpoint } from './random-model.js';

export interface WaveBenchOptions {
  promptLengths: number[];
  genLength: number;
  blockLength: number;
  steps: number;
  budget: number;
  methods: string[];
  executors: readonly ('step' | 'block')[];
  layers: number;
  threads?: number;
}

export interface WaveRow {
  method: string;
  executor: 'step' | 'block';
  prompt: number;
  totalS: number;
  tokensPerS: number;
  /** against the host alone on the same executor */
  speedup: number;
  /** block against step for the same method (on the block row) */
  vsStep: number | null;
  sameIdsAsStep: boolean | null;
  nfe: number;
  ortRunsPerBlock: number;
  blockMsMean: number;
  selections: number;
  /** step executor only: the block program times whole blocks */
  selectMs: number | null;
  keptPromptRows: number | null;
  peakRssMiB: number;
}

interface Method {
  name: string;
  filter: FilterName;
  promptRefresh: 'every-block' | 'first-block';
  preset?: 'faithful' | 'practical';
}

export const WAVE_METHODS: Record<string, Method> = {
  dual: { name: 'dual (host alone)', filter: 'none', promptRefresh: 'every-block' },
  'dual-first-block': { name: 'dual, prompt refreshed once (no filter)', filter: 'none', promptRefresh: 'first-block' },
  'wf-practical': { name: 'dual + WaveFilter practical', filter: 'wavefilter', promptRefresh: 'first-block', preset: 'practical' },
  'wf-faithful': { name: 'dual + WaveFilter faithful', filter: 'wavefilter', promptRefresh: 'every-block', preset: 'faithful' },
  snapkv: { name: 'dual + SnapKV', filter: 'snapkv', promptRefresh: 'first-block' },
  streaming: { name: 'dual + StreamingLLM', filter: 'streaming', promptRefresh: 'first-block' },
  h2o: { name: 'dual + H2O', filter: 'h2o', promptRefresh: 'first-block' },
  'sparse-dllm': { name: 'dual + Sparse-dLLM', filter: 'sparse-dllm', promptRefresh: 'first-block' },
  random: { name: 'dual + random', filter: 'random', promptRefresh: 'first-block' },
};

export async function runWaveBench(o: WaveBenchOptions, log: (s: string) => void): Promise<WaveRow[]> {
  const shape = { ...DEFAULT_SHAPE, layers: o.layers };
  log(`model: ${shape.layers} layers, d_model ${shape.dModel}, ${shape.heads} heads, ffn ${shape.ffn}, vocab ${shape.vocab} (random F16 weights, fp32 compute); one process per row\n`);
  const dir = randomCheckpoint(shape);
  const rows: WaveRow[] = [];
  for (const P of o.promptLengths) {
    const results = new Map<string, ChildResult>();
    for (const key of o.methods) {
      const m = WAVE_METHODS[key];
      if (!m) throw new Error(`unknown method ${key}; expected ${Object.keys(WAVE_METHODS).join(', ')}`);
      for (const executor of o.executors) {
        log(`  prompt ${P}, ${m.name}, ${executor}... `);
        const r = await runChild({
          dir, load: { threads: o.threads, executor }, promptLength: P, vocab: shape.vocab,
          options: {
            genLength: o.genLength, blockLength: o.blockLength, steps: o.steps, cache: 'dual', allowLongContext: true, executor,
            filter: m.filter, promptRefresh: m.promptRefresh,
            ...(m.filter === 'none' ? {} : m.filter === 'wavefilter' ? { budget: o.budget, wave: { preset: m.preset } } : { budget: o.budget }),
          },
        });
        results.set(`${key}|${executor}`, r);
        log(`${(r.timings.totalMs / 1000).toFixed(1)} s, ${r.peakRssMiB.toFixed(0)} MiB\n`);
      }
    }
    for (const key of o.methods) {
      for (const executor of o.executors) {
        const r = results.get(`${key}|${executor}`) as ChildResult;
        const t = r.timings;
        const host = results.get(`dual|${executor}`);
        const step = executor === 'block' ? results.get(`${key}|step`) : undefined;
        rows.push({
          method: (WAVE_METHODS[key] as Method).name, executor, prompt: P, totalS: t.totalMs / 1000, tokensPerS: t.tokensPerSecond,
          speedup: host ? t.tokensPerSecond / host.timings.tokensPerSecond : NaN,
          vsStep: step ? t.tokensPerSecond / step.timings.tokensPerSecond : null, sameIdsAsStep: step ? step.idsHash === r.idsHash : null,
          nfe: r.nfe, ortRunsPerBlock: t.ortRunsPerBlock, blockMsMean: t.blockMsMean, selections: t.selections,
          selectMs: executor === 'step' ? t.selectMs : null, keptPromptRows: t.keptPromptRows, peakRssMiB: r.peakRssMiB,
        });
      }
    }
  }
  return rows;
}

export function waveTable(rows: WaveRow[]): string {
  const out = ['| prompt | method | executor | total s | tokens/s | vs host | block vs step | same tokens | nfe | ORT runs/block | block ms | kept prompt rows/head | selections | select ms | peak RSS MiB |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows)
    out.push(`| ${r.prompt} | ${r.method} | ${r.executor} | ${r.totalS.toFixed(1)} | ${r.tokensPerS.toFixed(2)} | ${Number.isNaN(r.speedup) ? '-' : `${r.speedup.toFixed(2)}x`} | ${r.vsStep === null ? '-' : `${r.vsStep.toFixed(2)}x`} | ${r.sameIdsAsStep === null ? '-' : r.sameIdsAsStep ? 'yes' : 'NO'} | ${r.nfe} | ${r.ortRunsPerBlock.toFixed(1)} | ${r.blockMsMean.toFixed(0)} | ${r.keptPromptRows === null ? 'all' : `${r.keptPromptRows.toFixed(0)} (${((100 * r.keptPromptRows) / r.prompt).toFixed(1)}%)`} | ${r.selections} | ${r.selectMs === null ? '-' : r.selectMs.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`);
  return out.join('\n');
}
