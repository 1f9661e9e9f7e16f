/**
 * RULER sample generation in TypeScript (NVIDIA/RULER's generators, restated in
 * docs/long-context-benchmarks.md §2.4-2.5): needle-in-a-haystack variants, variable tracking,
 * common and frequent word extraction, and QA over user-provided SQuAD / HotpotQA files.
 *
 * Deviations, all recorded in each sample's `source` so results are never mistaken for official ones:
 *   - word keys come from npm friendly-words (MIT) instead of wonderwords;
 *   - the essay haystack is a public-domain corpus the caller provides (RULER-PD), not Paul Graham's essays;
 *   - randomness is our seeded PRNG, so samples are distributionally, not byte-, equivalent.
 * The quirk that shapes the data is kept: needle, document and word-list shuffles use a generator
 * re-seeded to the base seed on every call.
 */
import { WavefilterError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { DEPTHS, type NiahConfig, RULER_TASKS, type RulerTask, type RulerTaskName, TEMPLATES, fill, singleAnswerTemplate, usesEssay } from './tasks.js';

export interface RulerSample {
  readonly task: RulerTaskName;
  readonly index: number;
  /** The task prompt (no chat template, no answer prefix). */
  readonly input: string;
  readonly answerPrefix: string;
  /** References. */
  readonly outputs: readonly string[];
  readonly maxSeq: number;
  readonly genTokens: number;
  /** Prompt tokens as counted by the caller's counter (chat template and answer prefix included). */
  readonly length: number;
  readonly metric: 'all' | 'part';
  readonly source: string;
}

/** Counts the tokens of a prompt as the model will see it (chat template + input + answer prefix). */
export type TokenCounter = (input: string, answerPrefix: string) => number;

export interface WordSources {
  /** Adjectives and nouns for `words` keys (adjective-noun). */
  readonly adjectives: readonly string[];
  readonly nouns: readonly string[];
  /** A large pool of English words for CWE. */
  readonly pool: readonly string[];
}

export interface QaRecord {
  readonly question: string;
  readonly answers: readonly string[];
  /** Gold documents first, then related ones (same article / distractors). */
  readonly docs: readonly string[];
}

export interface RulerEnv {
  readonly count: TokenCounter;
  readonly words: WordSources;
  /** Essay haystack text (public domain), required by the essay tasks. */
  readonly essay?: string;
  readonly essayId?: string;
  readonly qa?: { readonly squad?: readonly QaRecord[]; readonly hotpotqa?: readonly QaRecord[] };
  readonly seed?: number;
}

function seedFor(base: number, ...parts: number[]): number {
  let h = base >>> 0;
  for (const p of parts) h = Math.imul(h ^ (p >>> 0), 0x9e3779b1) >>> 0;
  return h;
}

/** seedFor with a redraw number mixed in; draw 0 is the seed without it, so first draws are unchanged. */
function seedForDraw(base: number, draw: number, ...parts: number[]): number {
  return draw === 0 ? seedFor(base, ...parts) : seedFor(base, ...parts, draw);
}

/** Fisher-Yates with a generator seeded afresh (RULER's re-seeded shuffle). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const rng = new Rng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng.uniform() * (hi - lo));

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => int(rng, 0, 16).toString(16));
  hex[12] = '4';
  hex[16] = (8 + int(rng, 0, 4)).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

function value(rng: Rng, type: 'words' | 'numbers' | 'uuids', w: WordSources): string {
  if (type === 'numbers') return String(int(rng, 1_000_000, 10_000_000));
  if (type === 'uuids') return uuid(rng);
  return `${w.adjectives[int(rng, 0, w.adjectives.length)]}-${w.nouns[int(rng, 0, w.nouns.length)]}`;
}

/** "a", "a and b", "a, b, and c" (Oxford comma). */
export function listQuery(keys: readonly string[]): string {
  if (keys.length === 1) return keys[0];
  if (keys.length === 2) return `${keys[0]} and ${keys[1]}`;
  return `${keys.slice(0, -1).join(', ')}, and ${keys[keys.length - 1]}`;
}

/** Sentences of a text, split after . ! or ? (RULER's essay haystack unit; also the ask generator's). */
export function splitSentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 0);
}

interface Rendered {
  input: string;
  answerPrefix: string;
  outputs: string[];
}

function renderNiah(c: NiahConfig, n: number, rng: Rng, env: RulerEnv, seed: number): Rendered {
  const w = env.words;
  const typeV = c.valueType;
  const keys: string[] = [];
  while (keys.length < Math.max(c.keys, c.queries)) {
    const k = value(rng, c.keyType, w);
    if (!keys.includes(k)) keys.push(k);
  }
  const values = keys.map(() => Array.from({ length: c.values }, () => value(rng, c.valueType, w)));
  let needles = keys.flatMap((k, i) => values[i].map((v) => fill(TEMPLATES.needle, { type_needle_v: typeV, key: k, value: v })));
  needles = seededShuffle(needles, seed);
  let context: string;
  if (c.haystack === 'essay') {
    if (!env.essay) throw new WavefilterError('invalid_input', 'the essay haystack needs a corpus text (RulerEnv.essay)', {});
    const words = env.essay.split(/\s+/).filter((x) => x);
    const take = Array.from({ length: n }, (_, i) => words[i % words.length]);
    const sentences = splitSentences(take.join(' '));
    const depths = seededShuffle(DEPTHS, int(rng, 0, 2 ** 31)).slice(0, needles.length).sort((a, b) => a - b);
    const at = depths.map((d) => Math.floor((sentences.length * d) / 100));
    const parts: string[] = [];
    let prev = 0;
    at.forEach((i, j) => {
      parts.push(...sentences.slice(prev, i), needles[j]);
      prev = i;
    });
    parts.push(...sentences.slice(prev));
    context = parts.join(' ');
  } else {
    const unit = (): string => (c.haystack === 'noise' ? TEMPLATES.noiseUnit : fill(TEMPLATES.needle, { type_needle_v: typeV, key: value(rng, c.keyType, w), value: value(rng, c.valueType, w) }));
    const units: string[] = Array.from({ length: n }, unit);
    const positions = new Set<number>();
    const slots = Math.min(needles.length, Math.max(n, 1));
    while (positions.size < slots) positions.add(int(rng, 0, Math.max(n, 1)));
    // inserted from the back so earlier inserts do not shift later positions
    [...positions].sort((a, b) => b - a).forEach((p, j) => units.splice(p, 0, needles[j]));
    units.push(...needles.slice(slots));
    context = units.join('\n');
  }
  const queried = keys.slice(0, c.queries);
  const outputs = queried.flatMap((k) => values[keys.indexOf(k)]);
  const single = c.queries * c.values === 1;
  const template = single ? singleAnswerTemplate(TEMPLATES.niah, typeV) : TEMPLATES.niah;
  const answer = single ? singleAnswerTemplate(TEMPLATES.niahAnswer, typeV) : TEMPLATES.niahAnswer;
  const vars = { type_needle_v: typeV, query: listQuery(queried) };
  return { input: fill(template, { ...vars, context }), answerPrefix: fill(answer, vars), outputs };
}

function upperName(rng: Rng, len: number): string {
  return Array.from({ length: len }, () => String.fromCharCode(65 + int(rng, 0, 26))).join('');
}

function renderVt(hops: number, chains: number, n: number, rng: Rng): Rendered {
  const names: string[] = [];
  while (names.length < (hops + 1) * chains) {
    const x = upperName(rng, 5);
    if (!names.includes(x)) names.push(x);
  }
  const noise: string[] = Array.from({ length: n }, () => TEMPLATES.noiseUnit);
  const outputs: string[] = [];
  let query = 0;
  for (let c = 0; c < chains; c++) {
    const chain = names.slice(c * (hops + 1), (c + 1) * (hops + 1));
    query = int(rng, 10000, 99999);
    const links = chain.map((v, j) => (j === 0 ? `VAR ${v} = ${query}` : `VAR ${v} = VAR ${chain[j - 1]} `));
    // sorted distinct positions (with repeats only when the haystack is shorter than the chain);
    // link j goes in at position + j so the chain stays in order
    const room = noise.length;
    const pos = new Set<number>();
    while (pos.size < Math.min(links.length, room)) pos.add(int(rng, 0, room));
    const sorted = [...pos];
    while (sorted.length < links.length) sorted.push(int(rng, 0, room + 1));
    sorted.sort((a, b) => a - b).forEach((p, j) => noise.splice(p + j, 0, links[j]));
    if (c === 0) outputs.push(...chain);
  }
  const context = noise.join('\n').replaceAll('. \n', '.\n');
  return { input: fill(TEMPLATES.vt, { context, query }), answerPrefix: fill(TEMPLATES.vtAnswer, { num_v: hops + 1, query }), outputs };
}

function renderCwe(n: number, maxSeq: number, env: RulerEnv, seed: number): Rendered {
  const pool = seededShuffle(env.words.pool, seed);
  const words = pool.slice(0, n);
  const [fc, fu] = maxSeq >= 4096 ? [30, 3] : [6, 1];
  const render = (list: string[], freqC: number, freqU: number, shuffleSeed: number): { context: string; answer: string[] } => {
    const rep = list.flatMap((w, i) => Array(i < 10 ? freqC : freqU).fill(w) as string[]);
    const shuffled = seededShuffle(rep, shuffleSeed);
    return { context: shuffled.map((w, i) => `${i + 1}. ${w}`).join(' '), answer: list.slice(0, 10) };
  };
  // one few-shot example (40 words 10/3 at >= 4K, else 20 words 3/1), from words not in the sample
  const shotWords = pool.slice(n, n + (maxSeq >= 4096 ? 40 : 20));
  const shot = render(shotWords, maxSeq >= 4096 ? 10 : 3, maxSeq >= 4096 ? 3 : 1, seed);
  const example = `${fill(TEMPLATES.cwe, { context: shot.context })}${TEMPLATES.cweAnswer} ${shot.answer.map((w, i) => `${i + 1}. ${w}`).join(' ')}`;
  const main = render(words, fc, fu, seed);
  return { input: `${example}\n${fill(TEMPLATES.cwe, { context: main.context })}`, answerPrefix: TEMPLATES.cweAnswer, outputs: main.answer };
}

function renderFwe(total: number, maxSeq: number, genTokens: number, alpha: number, rng: Rng, seed: number): Rendered {
  const vocabSize = Math.max(5, Math.floor((maxSeq - genTokens) / 50));
  const set = new Set<string>();
  while (set.size < vocabSize) set.add(Array.from({ length: 6 }, () => String.fromCharCode(97 + int(rng, 0, 26))).join(''));
  const vocab = seededShuffle([...set].sort(), seed);
  vocab[0] = '...';
  const zeta = (Math.PI * Math.PI) / 6; // zeta(2); alpha is 2 in RULER
  const words = vocab.flatMap((w, r) => Array(Math.floor((total * (r + 1) ** -alpha) / zeta)).fill(w) as string[]);
  const context = seededShuffle(words, seed).join(' ');
  return { input: fill(TEMPLATES.fwe, { context }), answerPrefix: TEMPLATES.fweAnswer, outputs: vocab.slice(1, 4) };
}

function renderQa(rec: QaRecord, all: readonly QaRecord[], n: number, rng: Rng, seed: number): Rendered {
  const docs = [...rec.docs];
  const others = all.flatMap((r) => r.docs).filter((d) => !docs.includes(d));
  while (docs.length < n && others.length) docs.push(others.splice(int(rng, 0, others.length), 1)[0]);
  const shuffled = seededShuffle(docs.slice(0, Math.max(n, rec.docs.length)), seed);
  const context = shuffled.map((d, i) => `Document ${i + 1}:\n${d}`).join('\n\n');
  return { input: fill(TEMPLATES.qa, { context, query: rec.question }), answerPrefix: TEMPLATES.qaAnswer, outputs: [...rec.answers] };
}

/** The haystack step and the per-sample renderer of a task. */
function renderer(task: RulerTask, maxSeq: number, env: RulerEnv, seed: number): { step: number; render: (n: number, rng: Rng, index: number, draw: number) => Rendered } {
  const c = task.config;
  switch (c.kind) {
    case 'niah':
      return { step: c.haystack === 'essay' ? 500 : maxSeq < 4096 ? 5 : 25, render: (n, rng) => renderNiah(c, n, rng, env, seed) };
    case 'vt':
      return { step: 10, render: (n, rng) => renderVt(c.hops, c.chains, n, rng) };
    case 'cwe':
      // each sample draws its own words (RULER's generator does); before, every sample was sample 0
      return { step: 10, render: (n, _rng, index, draw) => renderCwe(n, maxSeq, env, seedForDraw(seed, draw, 0xc0e, index)) };
    case 'fwe':
      return { step: Math.max(1, Math.floor(maxSeq / 32)), render: (n, rng) => renderFwe(n, maxSeq, task.genTokens, c.alpha, rng, seed) };
    case 'qa': {
      const recs = c.dataset === 'squad' ? env.qa?.squad : env.qa?.hotpotqa;
      if (!recs?.length)
        throw new WavefilterError('invalid_input', `${task.name} needs ${c.dataset === 'squad' ? 'SQuAD v2 dev (dev-v2.0.json)' : 'HotpotQA dev distractor (hotpot_dev_distractor_v1.json)'}; pass its path, or leave the task out`, { task: task.name });
      return { step: 10, render: (n, rng, index) => renderQa(recs[index % recs.length], recs, n, rng, seed) };
    }
  }
}

/** How many times a sample that cannot fit is drawn again (see generateRuler). */
const MAX_DRAWS = 32;

/**
 * Generates `samples` samples of a task at `maxSeq`: the haystack size N is binary-searched once per
 * (task, length) so that prompt tokens + generation tokens fit, then each sample steps N down until
 * its own prompt fits (random words vary in length).
 */
export function generateRuler(taskName: RulerTaskName, maxSeq: number, samples: number, env: RulerEnv): RulerSample[] {
  const task = RULER_TASKS.find((t) => t.name === taskName);
  if (!task) throw new WavefilterError('invalid_option', `task: unknown RULER task ${JSON.stringify(taskName)}; expected one of ${RULER_TASKS.map((t) => t.name).join(', ')}`, { option: 'tasks' });
  // each task draws its own keys and values: the task's index is mixed into the seed
  const base = seedFor(env.seed ?? 42, RULER_TASKS.indexOf(task));
  const { step, render } = renderer(task, maxSeq, env, base);
  const budget = maxSeq - task.genTokens;
  const tokens = (r: Rendered): number => env.count(r.input, r.answerPrefix);
  const probe = (n: number): number => tokens(render(n, new Rng(seedFor(base, maxSeq, 0xfeed)), 0, 0));
  const perUnit = Math.max(1e-3, (probe(2 * step) - probe(step)) / step);
  let lo = 0;
  let hi = Math.max(step, Math.ceil((3 * maxSeq) / perUnit));
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (probe(mid) <= budget) lo = mid;
    else hi = mid;
  }
  if (lo < 1) throw new WavefilterError('prompt_too_long', `${taskName}: even an empty haystack does not fit ${maxSeq} tokens with ${task.genTokens} to generate`, { limit: maxSeq });
  const source = usesEssay(task.name) ? `RULER-PD (essay: ${env.essayId ?? 'user corpus'}; keys: friendly-words)` : 'RULER (synthetic; keys: friendly-words)';
  const out: RulerSample[] = [];
  for (let i = 0; i < samples; i++) {
    // A sample whose draw does not fit even at the smallest haystack (cwe at 4K: ten common words of
    // many tokens each, repeated 30 times, can fill the window alone) is drawn again with the draw
    // number mixed into its seeds, up to MAX_DRAWS times. RULER's own loop never ends there; draw 0
    // is the seeds used before, so samples that fitted are unchanged. The price, written down: where
    // a task barely fits (cwe at 4K on the bundled model's small vocabulary, whose pool words cost
    // several tokens each), the kept draws lean towards words of fewer tokens.
    let sample: RulerSample | undefined;
    let last = 0;
    for (let draw = 0; draw < MAX_DRAWS && !sample; draw++) {
      const rng = (): Rng => new Rng(seedForDraw(base, draw, maxSeq, i + 1));
      for (let n = lo; ; n -= step) {
        const r = render(n, rng(), i, draw);
        const len = tokens(r);
        last = len;
        if (len <= budget) {
          sample = { task: taskName, index: i, input: r.input, answerPrefix: r.answerPrefix, outputs: r.outputs, maxSeq, genTokens: task.genTokens, length: len, metric: task.metric, source };
          break;
        }
        if (n <= step) break;
      }
    }
    if (!sample) throw new WavefilterError('prompt_too_long', `${taskName} sample ${i}: ${MAX_DRAWS} draws at the smallest haystack all exceed ${budget} tokens (the last: ${last}); use a longer length`, { tokens: last, limit: budget });
    out.push(sample);
  }
  return out;
}
