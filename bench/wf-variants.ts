/**
 * `npm run bench -- wf-variants`: WaveFilter's own knobs on one RULER task of the bundled model, the
 * check behind the README's note on needle haystacks (niah_multikey_2 at 4K, budget 0.1, the
 * practical preset, one token per step: the same prompts as reports/ruler-4k). One line per variant:
 * prompts answered (RULER's metric), and the answers' first characters.
 *
 *   npm run bench -- wf-variants --task niah_multikey_2 --prompt-lengths 4096 --samples 5 --budget 0.1
 */
import type { DiffusionModel } from '../src/engine.js';
import type { WaveFilterOptions } from '../src/filter/wavefilter/index.js';
import { rulerPrompts } from '../src/eval/ruler/run.js';
import { matchAll, matchPart, postprocess } from '../src/eval/ruler/metrics.js';
import { findEssayCorpus, loadWordSources } from '../src/eval/ruler/sources.js';
import { type RulerTaskName, usesEssay } from '../src/eval/ruler/tasks.js';

/** The variants tried: the practical preset, then one knob changed at a time. */
export const WAVE_VARIANTS: Readonly<Record<string, WaveFilterOptions>> = {
  practical: {},
  'one scale (B = 1)': { levels: 1 },
  'three scales (B = 3)': { levels: 3 },
  'mean instead of orthonormal Haar': { norm: 'mean' },
  'layer 0 dense': { denseLayers: [0] },
};

export async function runWaveVariants(model: DiffusionModel, o: { task: RulerTaskName; length: number; samples: number; budget: number; seed: number }, log: (s: string) => void): Promise<Array<{ variant: string; correct: number; samples: number; answers: string[] }>> {
  const essay = usesEssay(o.task) ? findEssayCorpus() : null;
  const { samples, ids, genLength } = rulerPrompts(model, o.task, o.length, o.samples, 32, { words: loadWordSources(), essay: essay?.text, essayId: essay?.id, seed: o.seed });
  const rows = [];
  for (const [variant, wave] of Object.entries(WAVE_VARIANTS)) {
    let correct = 0;
    const answers: string[] = [];
    for (const [n, s] of samples.entries()) {
      const out = await model.generate({ inputIds: ids[n] }, {
        genLength, blockLength: 32, steps: genLength, threshold: null, cache: 'dual', filter: 'wavefilter', budget: o.budget, wave: { preset: 'practical', ...wave }, allowLongContext: true,
      });
      const pred = postprocess(out.text ?? '');
      correct += (s.metric === 'all' ? matchAll : matchPart)(pred, s.outputs) === 1 ? 1 : 0;
      answers.push(pred.slice(0, 12));
    }
    log(`  ${variant}: ${correct} of ${samples.length}\n`);
    rows.push({ variant, correct, samples: samples.length, answers });
  }
  return rows;
}
