/**
 * `npm run bench -- wavefilter`: the dual-cache host alone against the host with WaveFilter (both
 * presets) and with each baseline filter at the same budget, on the realistic-shape random model, on
 * identical prompts, in one run. Reports tokens/s, the mean cached-step latency, the time spent
 * selecting, and ratios against the host alone.
 */
import { loadModel } from '../src/index.js';
import type { FilterName } from '../src/filter/index.js';
import { DEFAULT_SHAPE, randomCheckpoint } from './random-model.js';

export interface WaveBenchOptions {
  promptLengths: number[];
  genLength: number;
  blockLength: number;
  steps: number;
  budget: number;
  methods: string[];
  layers: number;
  threads?: number;
}

export interface WaveRow {
  method: string;
  prompt: number;
  totalS: number;
  tokensPerS: number;
  speedup: number;
  nfe: number;
  blockStartMs: number | null;
  cachedStepMs: number | null;
  selections: number;
  selectMs: number;
  selectShare: number;
  keptPromptRows: number | null;
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
  log(`model: ${shape.layers} layers, d_model ${shape.dModel}, ${shape.heads} heads, ffn ${shape.ffn}, vocab ${shape.vocab} (random F16 weights, fp32 compute)\n`);
  const model = await loadModel(randomCheckpoint(shape), { threads: o.threads });
  const rows: WaveRow[] = [];
  for (const P of o.promptLengths) {
    const prompt = Array.from({ length: P }, (_, i) => (i * 7919 + 13) % (shape.vocab - 2));
    let base = NaN;
    for (const key of o.methods) {
      const m = WAVE_METHODS[key];
      if (!m) throw new Error(`unknown method ${key}; expected ${Object.keys(WAVE_METHODS).join(', ')}`);
      log(`  prompt ${P}, ${m.name}... `);
      const r = await model.generate({ inputIds: prompt }, {
        genLength: o.genLength, blockLength: o.blockLength, steps: o.steps, cache: 'dual', allowLongContext: true,
        filter: m.filter, promptRefresh: m.promptRefresh,
        ...(m.filter === 'none' ? {} : m.filter === 'wavefilter' ? { budget: o.budget, wave: { preset: m.preset } } : { budget: o.budget }),
      });
      const t = r.timings;
      const tps = (o.genLength * 1000) / t.totalMs;
      if (key === 'dual') base = tps;
      const row: WaveRow = {
        method: m.name, prompt: P, totalS: t.totalMs / 1000, tokensPerS: tps, speedup: tps / base, nfe: r.nfe,
        blockStartMs: t.refreshMsMean, cachedStepMs: t.cachedStepMsMean, selections: t.selections, selectMs: t.selectMs,
        selectShare: t.selectMs / t.totalMs, keptPromptRows: t.keptPromptRows,
      };
      rows.push(row);
      log(`${row.totalS.toFixed(1)} s\n`);
    }
  }
  await model.dispose();
  return rows;
}

export function waveTable(rows: WaveRow[]): string {
  const out = ['| prompt | method | total s | tokens/s | vs host | nfe | block-start forward ms | cached step ms | kept prompt rows/head | selections | select ms (share) |', '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows)
    out.push(`| ${r.prompt} | ${r.method} | ${r.totalS.toFixed(1)} | ${r.tokensPerS.toFixed(2)} | ${Number.isNaN(r.speedup) ? '-' : `${r.speedup.toFixed(2)}x`} | ${r.nfe} | ${r.blockStartMs?.toFixed(0) ?? "-"} | ${r.cachedStepMs?.toFixed(1) ?? "-"} | ${r.keptPromptRows === null ? 'all' : `${r.keptPromptRows.toFixed(0)} (${((100 * r.keptPromptRows) / r.prompt).toFixed(1)}%)`} | ${r.selections} | ${r.selectMs.toFixed(0)} (${(100 * r.selectShare).toFixed(1)}%) |`);
  return out.join('\n');
}
