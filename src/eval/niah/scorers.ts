/**
 * The three deterministic needle scorers of docs/long-context-benchmarks.md §3.2, each on 0-100:
 * - keyword: 100 when the keyword occurs in the prediction (case-insensitive), else 0;
 * - rouge1x10: KVCache-Factory's ROUGE-1 F-measure(needle, response) x 10, with rouge_score's
 *   tokenisation (lower case, non-alphanumerics to spaces, Porter stem for tokens longer than 3),
 *   scaled here to 0-100 (x 100) so all three share a scale; the published 0-10 value is score / 10;
 * - needlebench: OpenCompass NeedleBench "origin": 100 when the keyword is a substring of the raw
 *   prediction, else 0.2 x 100 x (1 - edit distance / max length), whitespace removed from both.
 * Deviation: the stemmer is npm `stemmer` (Porter's original algorithm); rouge_score uses NLTK's
 * Porter variant, which differs on a few rare suffixes.
 */
import { distance } from 'fastest-levenshtein';
import { stemmer } from 'stemmer';
import { multisetF1 } from '../longbench/metrics.js';

import type { NiahScorer } from './names.js';

export { NIAH_SCORERS, type NiahScorer } from './names.js';

export function keywordScore(prediction: string, keyword: string): number {
  return prediction.toLowerCase().includes(keyword.toLowerCase()) ? 100 : 0;
}

/** rouge_score's default tokenizer with stemming. */
export function rougeTokens(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .split(' ')
    .filter((t) => t.length > 0)
    .map((t) => (t.length > 3 ? stemmer(t) : t));
}

/** ROUGE-1 F-measure of a prediction against a reference, on 0-1 (unigram multiset F1). */
export function rouge1(reference: string, prediction: string): number {
  return multisetF1(rougeTokens(prediction), rougeTokens(reference));
}

export function needleBenchScore(prediction: string, keyword: string): number {
  if (prediction.includes(keyword)) return 100;
  const a = prediction.replace(/\s+/g, '');
  const b = keyword.replace(/\s+/g, '');
  const max = Math.max(a.length, b.length);
  return max === 0 ? 100 : 0.2 * 100 * (1 - distance(a, b) / max);
}

export function scoreNeedle(scorer: NiahScorer, prediction: string, needle: { text: string; keyword: string }): number {
  if (scorer === 'keyword') return keywordScore(prediction, needle.keyword);
  if (scorer === 'rouge1x10') return 100 * rouge1(needle.text, prediction);
  return needleBenchScore(prediction, needle.keyword);
}
