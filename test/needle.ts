// One RULER single-needle sample sized for a model's tokenizer (the prompt the bundled model was
// trained to answer), for tests that need a question it gets right.
import type { DiffusionModel } from '../src/index.js';
import { type RulerSample, generateRuler } from '../src/eval/ruler/generate.js';
import { rulerPromptIds } from '../src/eval/ruler/prompt.js';
import { loadWordSources } from '../src/eval/ruler/sources.js';

export function needleSample(model: DiffusionModel, seed: number, length = 1024): RulerSample {
  const count = (input: string, answerPrefix: string): number => rulerPromptIds(model.codec, { input, answerPrefix }).length;
  const [s] = generateRuler('niah_single_1', length, 1, { count, words: loadWordSources(), seed });
  if (!s) throw new Error('generateRuler returned no sample');
  return s;
}
