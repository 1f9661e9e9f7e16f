/**
 * `npm run bench -- wf-variants`: WaveFilter's own knobs on one RULER task of the bundled model, the
 * check behind the README's note on needle haystacks (niah_multikey_2 at 4K, budget 0.1, the
 * practical preset, one token per step: the same prompts as reports/ruler-4k), with the host alone
 * and two baselines at the same budget on the same prompts. One line per variant: prompts answered,
 * RULER's score (the mean of its per-prompt metric, 0-100), and the answers' first characters.
 *
 *   npm run bench -- wf-variants --task niah_multikey_2 --prompt-lengths 4096 --samples 5 --budget 0.1
 *   npm run bench -- wf-variants --task niah_multivalue --variants 'practical;question queries (last 32 rows)'
 */
import type { DiffusionModel } from '../src/engine.js';
import type { WaveFilterOptions } from '../src/filter/wavefilter/index.js';
import { rulerPrompts } from '../src/eval/ruler/run.js';
import { matchAll, matchPart, postprocess } from '../src/eval/ruler/metrics.js';
import { findEssayCorpus, loadWordSources } from '../src/eval/ruler/sources.js';
import { type RulerTaskName, usesEssay } from '../src/eval/ruler/tasks.js';

/** A row: WaveFilter practical with some knobs changed, or another filter (or none) at the same budget. */
export interface Variant {
  readonly filter: 'wavefilter' | 'none' | 'snapkv' | 'h2o' | 'sparse-dllm' | 'streaming';
  readonly wave?: WaveFilterOptions;
  /** The prompt refresh, where it is not the filter's preferred one (a filtered host refreshes at the first block). */
  readonly promptRefresh?: 'every-block' | 'first-block';
  readonly executor?: 'step' | 'block';
}

/** The variants tried: the practical preset, one knob changed at a time, then the references on the same prompts. */
export const WAVE_VARIANTS: Readonly<Record<string, Variant>> = {
  practical: { filter: 'wavefilter' },
  // practical's own token share is 0.25 since the hold-out evaluation (reports/ruler-holdout-4k); the
  // rows of reports/wf-variants.md were measured before, on this one
  'no single rows (token share 0, practical before the hold-out)': { filter: 'wavefilter', wave: { tokenShare: 0 } },
  // practical keeps half the budget as the prompt's end since the seventh 7 Dec session (reports/wf-variants.md, "A tail share")
  'no tail share (practical before the tail share)': { filter: 'wavefilter', wave: { tailShare: 0 } },
  'one scale (B = 1)': { filter: 'wavefilter', wave: { levels: 1 } },
  'three scales (B = 3)': { filter: 'wavefilter', wave: { levels: 3 } },
  'mean instead of orthonormal Haar': { filter: 'wavefilter', wave: { norm: 'mean' } },
  'layer 0 dense': { filter: 'wavefilter', wave: { denseLayers: [0] } },
  'question queries (last 32 rows)': { filter: 'wavefilter', wave: { questionQueries: 32 } },
  'question queries (last 64 rows)': { filter: 'wavefilter', wave: { questionQueries: 64 } },
  'whole 4-row spans (B = 2, span levels 1)': { filter: 'wavefilter', wave: { spanLevels: 1 } },
  'whole 8-row spans (B = 3, span levels 2)': { filter: 'wavefilter', wave: { levels: 3, spanLevels: 2 } },
  'whole 4-row spans refined from 8 (B = 3, span levels 1)': { filter: 'wavefilter', wave: { levels: 3, spanLevels: 1 } },
  'a quarter of the budget to single rows (token share 0.25)': { filter: 'wavefilter', wave: { tokenShare: 0.25 } },
  'half of the budget to single rows (token share 0.5)': { filter: 'wavefilter', wave: { tokenShare: 0.5 } },
  'a tenth of the budget spread evenly (sample share 0.1)': { filter: 'wavefilter', wave: { sampleShare: 0.1 } },
  'a quarter of the budget spread evenly (sample share 0.25)': { filter: 'wavefilter', wave: { sampleShare: 0.25 } },
  'half of the budget spread evenly (sample share 0.5)': { filter: 'wavefilter', wave: { sampleShare: 0.5 } },
  'practical, prompt refreshed every block (as the host)': { filter: 'wavefilter', promptRefresh: 'every-block' },
  'H2O, prompt refreshed every block (as the host)': { filter: 'h2o', promptRefresh: 'every-block' },
  'a 128-token tail': { filter: 'wavefilter', wave: { tail: 128 } },
  'a 256-token tail': { filter: 'wavefilter', wave: { tail: 256 } },
  'a 200-token tail (the recent window of H2O at 4K, budget 0.1)': { filter: 'wavefilter', wave: { tail: 200 } },
  'a quarter of the budget as the tail (tail share 0.25)': { filter: 'wavefilter', wave: { tailShare: 0.25 } },
  'half of the budget as the tail (tail share 0.5, as the recent window of H2O)': { filter: 'wavefilter', wave: { tailShare: 0.5 } },
  'single rows max-pooled over 3 (token pool 3)': { filter: 'wavefilter', wave: { tokenPool: 3 } },
  'single rows max-pooled over 5 (token pool 5)': { filter: 'wavefilter', wave: { tokenPool: 5 } },
  'single rows max-pooled over 7 (token pool 7, SnapKV\'s kernel)': { filter: 'wavefilter', wave: { tokenPool: 7 } },
  'tail share 0.6': { filter: 'wavefilter', wave: { tailShare: 0.6 } },
  'tail share 0.75': { filter: 'wavefilter', wave: { tailShare: 0.75 } },
  'tail refreshed every block (step executor)': { filter: 'wavefilter', wave: { tailRefresh: true }, executor: 'step' },
  'tail refreshed every block against the whole prompt (step executor)': { filter: 'wavefilter', wave: { tailRefresh: true, tailRefreshPast: 'all' }, executor: 'step' },
  'practical (step executor)': { filter: 'wavefilter', executor: 'step' },
  'host alone (dense)': { filter: 'none' },
  SnapKV: { filter: 'snapkv' },
  H2O: { filter: 'h2o' },
  StreamingLLM: { filter: 'streaming' },
};

export async function runWaveVariants(model: DiffusionModel, o: { task: RulerTaskName; length: number; samples: number; budget: number; seed: number; variants?: readonly string[] }, log: (s: string) => void): Promise<Array<{ variant: string; correct: number; score: number; samples: number; answers: string[] }>> {
  const names = o.variants ?? Object.keys(WAVE_VARIANTS);
  const unknown = names.filter((n) => !WAVE_VARIANTS[n]);
  if (unknown.length) throw new Error(`unknown variant ${unknown.join(', ')}; expected one of: ${Object.keys(WAVE_VARIANTS).join('; ')}`);
  const essay = usesEssay(o.task) ? findEssayCorpus() : null;
  const { samples, ids, genLength } = rulerPrompts(model, o.task, o.length, o.samples, 32, { words: loadWordSources(), essay: essay?.text, essayId: essay?.id, seed: o.seed });
  const rows = [];
  for (const variant of names) {
    const v = WAVE_VARIANTS[variant] as Variant;
    let correct = 0;
    let score = 0;
    const answers: string[] = [];
    for (const [n, s] of samples.entries()) {
      const out = await model.generate({ inputIds: ids[n] }, {
        genLength, blockLength: 32, steps: genLength, threshold: null, cache: 'dual', allowLongContext: true,
        ...(v.filter === 'none' ? {} : { filter: v.filter, budget: o.budget }),
        ...(v.filter === 'wavefilter' ? { wave: { preset: 'practical', ...v.wave } } : {}),
        ...(v.promptRefresh ? { promptRefresh: v.promptRefresh } : {}),
        ...(v.executor ? { executor: v.executor } : {}),
      });
      const pred = postprocess(out.text ?? '');
      // RULER's metric: all of the answers (string match all) or any of them (part), per prompt in [0, 1]
      const m = (s.metric === 'all' ? matchAll : matchPart)(pred, s.outputs);
      score += m;
      correct += m === 1 ? 1 : 0;
      answers.push(pred.slice(0, 12));
    }
    log(`  ${variant}: ${correct} of ${samples.length}, score ${(100 * score / samples.length).toFixed(1)}\n`);
    rows.push({ variant, correct, score: (100 * score) / samples.length, samples: samples.length, answers });
  }
  return rows;
}
