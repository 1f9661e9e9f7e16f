/**
 * Needle-in-a-haystack grid (docs/long-context-benchmarks.md §3): one prompt per (context length,
 * depth, repeat), built from a public-domain haystack with the model's own tokenizer.
 *
 * Choices, after Kamradt's tester: the needle goes in at a sentence boundary (the cut moves back to
 * the end of a sentence), depth 100 appends it; a repeat starts the haystack at a different place in
 * the corpus. Two needles: Kamradt's San Francisco sentence (the literature's default) and a
 * RULER-style key/value needle with a fresh key and 7-digit value per repeat (the bundled model's
 * training format). Lengths count the whole prompt (chat template, question, answer prefix) plus
 * the tokens to generate.
 */
import { Rng } from '../../rng.js';
import { WavefilterError } from '../../errors.js';
import type { WordSources } from '../ruler/generate.js';
import { TEMPLATES, fill, singleAnswerTemplate } from '../ruler/tasks.js';

import type { NeedleKind } from './names.js';

export { NEEDLE_KINDS, type NeedleKind } from './names.js';

export interface Needle {
  readonly text: string;
  readonly keyword: string;
  readonly question: string;
  readonly answerPrefix: string;
}

export interface NiahSample {
  readonly length: number;
  readonly depth: number;
  readonly repeat: number;
  readonly input: string;
  readonly answerPrefix: string;
  readonly needle: Needle;
  /** Token offset of the needle in the haystack over the haystack's token count (the depth reached). */
  readonly actualDepth: number;
  readonly promptTokens: number;
}

export function needleFor(kind: NeedleKind, repeat: number, seed: number, words: WordSources): Needle {
  if (kind === 'kamradt')
    return {
      text: 'The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.',
      keyword: 'Dolores Park',
      question: "What is the best thing to do in San Francisco? Don't give information outside the document or repeat your findings",
      answerPrefix: ' The best thing to do in San Francisco is',
    };
  const rng = new Rng((seed ^ Math.imul(repeat + 1, 0x9e3779b1)) >>> 0);
  const pick = (a: readonly string[]): string => a[Math.floor(rng.uniform() * a.length)];
  const key = `${pick(words.adjectives)}-${pick(words.nouns)}`;
  const value = String(1_000_000 + Math.floor(rng.uniform() * 9_000_000));
  const vars = { type_needle_v: 'numbers', query: key };
  const question = fill(singleAnswerTemplate(TEMPLATES.niah, 'numbers'), vars);
  return {
    text: fill(TEMPLATES.needle, { type_needle_v: 'number', key, value }),
    keyword: value,
    // RULER's single-needle question: the template's own preamble and question around the context
    question,
    answerPrefix: fill(singleAnswerTemplate(TEMPLATES.niahAnswer, 'numbers'), vars),
  };
}

function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 0);
}

/**
 * Builds the grid's prompts. `count(input, answerPrefix)` is the model's prompt length; `pieceTokens`
 * counts a sentence (used to place the needle and to size the haystack before the exact check).
 */
export function buildNiahGrid(o: {
  haystack: string;
  lengths: readonly number[];
  depths: readonly number[];
  repeats: number;
  needle: NeedleKind;
  genTokens: number;
  seed: number;
  words: WordSources;
  count: (input: string, answerPrefix: string) => number;
  pieceTokens: (text: string) => number;
}): NiahSample[] {
  const all = sentences(o.haystack.replace(/\s+/g, ' '));
  if (all.length < 50) throw new WavefilterError('invalid_input', `haystack: expected a corpus of at least 50 sentences, found ${all.length}`, { field: 'haystack' });
  for (const d of o.depths) if (!(d >= 0 && d <= 100)) throw new WavefilterError('invalid_option', `depths: expected percentages in [0, 100], found ${d}`, { option: 'depths' });
  const out: NiahSample[] = [];
  for (const length of o.lengths)
    for (let repeat = 0; repeat < o.repeats; repeat++) {
      const needle = needleFor(o.needle, repeat, o.seed, o.words);
      const render = (context: string): string =>
        o.needle === 'kamradt' ? `${context}\n\n${needle.question}` : needle.question.replace('{context}', context);
      const budget = length - o.genTokens;
      const overhead = o.count(render(''), needle.answerPrefix) + o.pieceTokens(` ${needle.text}`);
      if (overhead >= budget) throw new WavefilterError('prompt_too_long', `length ${length}: the question and needle alone take ${overhead} tokens`, { limit: length });
      // the haystack starts at a different sentence for each repeat
      const start = Math.floor(all.length * ((repeat * 0.618034) % 1));
      const hay: string[] = [];
      const tok: number[] = [];
      let total = 0;
      for (let i = 0; total < budget - overhead; i++) {
        const s = all[(start + i) % all.length];
        const t = o.pieceTokens(` ${s}`);
        hay.push(s);
        tok.push(t);
        total += t;
        if (i > all.length * 4) break;
      }
      for (const depth of o.depths) {
        const h = [...hay];
        const ht = [...tok];
        for (;;) {
          const sum = ht.reduce((a, b) => a + b, 0);
          // insertion after the sentence where the running count first reaches depth% of the haystack
          let at = h.length;
          if (depth < 100) {
            let acc = 0;
            at = 0;
            while (at < h.length && acc + ht[at] <= (sum * depth) / 100) acc += ht[at++];
          }
          const context = [...h.slice(0, at), needle.text, ...h.slice(at)].join(' ');
          const input = render(context);
          const n = o.count(input, needle.answerPrefix);
          if (n <= budget || h.length <= 1) {
            if (n > budget) throw new WavefilterError('prompt_too_long', `length ${length}: ${n} tokens exceed ${budget}`, { tokens: n, limit: budget });
            const before = ht.slice(0, at).reduce((a, b) => a + b, 0);
            out.push({ length, depth, repeat, input, answerPrefix: needle.answerPrefix, needle, actualDepth: sum > 0 ? (100 * before) / sum : 0, promptTokens: n });
            break;
          }
          h.pop();
          ht.pop();
        }
      }
    }
  return out;
}
