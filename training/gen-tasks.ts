/**
 * Training data for the bundled model: RULER-family task samples made by the benchmark's own
 * generator (src/eval/ruler/generate.ts) and turned into token ids by the benchmark's own prompt
 * function (src/eval/ruler/prompt.ts), so training and evaluation see identical formats. Only the
 * seeds differ: training seeds start at 1,000,000 (see seedBase); evaluation uses 42.
 *
 * Two modes (bundled with esbuild and run by training/train.py on the GPU machine, or here with tsx):
 *   --text N          N samples as plain text lines (prompt + answer), for training the tokenizer;
 *                     lengths are counted approximately (no tokenizer exists yet).
 *   --tokenizer DIR   endless binary frames on stdout for one maximum length (--length):
 *                     int32 little-endian [task, genTokens, promptLen, answerLen], then the prompt ids
 *                     and the answer ids (answer text + EOS) as uint16. A full pipe blocks the writer,
 *                     which is the trainer's back-pressure.
 *
 * Training adds one task family RULER evaluates only with external files: QA over passages, here over
 * corpus paragraphs with one planted fact (RULER's QA template and document format).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src/rng.js';
import { TextCodec } from '../src/checkpoint/tokenizer.js';
import { type RulerEnv, type RulerSample, type WordSources, generateRuler, listQuery } from '../src/eval/ruler/generate.js';
import { rulerPromptIds } from '../src/eval/ruler/prompt.js';
import { loadWordSources } from '../src/eval/ruler/sources.js';
import { RULER_TASKS, type RulerTaskName, TEMPLATES, fill } from '../src/eval/ruler/tasks.js';
import { generateAsk } from '../src/eval/ask/generate.js';
import { WavefilterError } from '../src/errors.js';

/**
 * Sampling weights of the task families (QA is the training-only synthetic task; ask is a plainly
 * asked needle question, src/eval/ask/generate.ts, training wordings only; weight 0 by default, the
 * version 3 runs set it with WF_TASK_WEIGHTS).
 */
export const TRAIN_TASKS: ReadonlyArray<{ name: RulerTaskName | 'qa_synth' | 'ask' | 'ask_unseen'; weight: number }> = [
  { name: 'niah_single_1', weight: 1.5 },
  { name: 'niah_single_2', weight: 1.5 },
  { name: 'niah_single_3', weight: 1 },
  { name: 'niah_multikey_1', weight: 1.5 },
  { name: 'niah_multikey_2', weight: 1 },
  { name: 'niah_multikey_3', weight: 0.75 },
  { name: 'niah_multivalue', weight: 0.75 },
  { name: 'niah_multiquery', weight: 0.75 },
  { name: 'vt', weight: 2 },
  { name: 'cwe', weight: 0.4 },
  { name: 'fwe', weight: 0.4 },
  { name: 'qa_synth', weight: 0.5 },
  { name: 'ask', weight: 0 },
  // the eval split's unseen wordings, for train.py's held-out check only (never trained: weight 0,
  // and the check's own generator seeds); the ask benchmark's hold-out seeds are never drawn here
  { name: 'ask_unseen', weight: 0 },
];

/** The family index a frame carries: training/evalset.py's TASK_NAMES, which train.py reads, in this order. */
export const FAMILIES: readonly string[] = [...RULER_TASKS.map((t) => t.name), 'qa_synth', 'ask', 'ask_unseen'];

/** A training row: a RULER sample, or a plainly asked question with its own answer text. */
export type TrainSample = RulerSample | (Omit<RulerSample, 'task'> & { readonly task: 'ask' | 'ask_unseen'; readonly answer: string });

/** The text the model is trained to produce after the answer prefix. */
export function answerText(s: { readonly task: RulerTaskName | 'ask' | 'ask_unseen'; readonly outputs: readonly string[]; readonly answer?: string }): string {
  if (s.task === 'ask' || s.task === 'ask_unseen') return s.answer ?? s.outputs[0];
  if (s.task === 'vt') return s.outputs.join(', '); // the vt prefix ends in a space
  if (s.task === 'cwe') return ' ' + s.outputs.map((w, i) => `${i + 1}. ${w}`).join(' ');
  if (s.task === 'fwe') return ' ' + s.outputs.join(' ');
  if (s.task.startsWith('qa')) return ' ' + s.outputs[0];
  return ` ${listQuery(s.outputs)}.`;
}

interface Corpus {
  readonly id: string;
  readonly text: string;
}

function loadCorpora(dir: string): Corpus[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => ({ id: f.replace(/\.txt$/, ''), text: readFileSync(join(dir, f), 'utf8').replace(/\s+/g, ' ') }));
}

/** A window of a random corpus starting at a sentence, long enough for a 4K-token haystack. */
function essayWindow(corpora: readonly Corpus[], rng: Rng, chars: number): { id: string; text: string } {
  const c = corpora[Math.floor(rng.uniform() * corpora.length)];
  let at = Math.floor(rng.uniform() * Math.max(1, c.text.length - chars));
  const dot = c.text.indexOf('. ', at);
  if (dot >= 0 && dot < at + 2000) at = dot + 2;
  return { id: c.id, text: c.text.slice(at, at + chars) };
}

const cap = (w: string): string => w[0].toUpperCase() + w.slice(1);

/** Synthetic QA: corpus paragraphs as documents, one of them carrying a planted fact. */
function qaSample(env: RulerEnv, corpora: readonly Corpus[], maxSeq: number, rng: Rng): RulerSample {
  const w = env.words;
  const pick = (a: readonly string[]): string => a[Math.floor(rng.uniform() * a.length)];
  const name = `${cap(pick(w.adjectives))} ${cap(pick(w.nouns))}`;
  const place = cap(pick(w.nouns)) + pick(['ville', 'ford', 'ton', 'burg', 'haven']);
  const thing = `${pick(w.adjectives)} ${pick(w.nouns)}`;
  const n = String(2 + Math.floor(rng.uniform() * 97));
  const animal = pick(w.nouns);
  const facts: Array<[string, string, string]> = [
    [`${name} was born in the town of ${place}.`, `In which town was ${name} born?`, place],
    [`The ${thing} was invented by ${name}.`, `Who invented the ${thing}?`, name],
    [`${name} keeps exactly ${n} ${animal}s in the garden.`, `How many ${animal}s does ${name} keep in the garden?`, n],
    [`The favourite colour of ${name} is ${pick(['red', 'blue', 'green', 'amber', 'violet', 'silver', 'ochre', 'teal'])}.`, `What is the favourite colour of ${name}?`, ''],
  ];
  const f = facts[Math.floor(rng.uniform() * facts.length)];
  if (f[2] === '') f[2] = f[0].slice(f[0].lastIndexOf(' ') + 1, -1);
  const docs: string[] = [];
  // about 4.2 characters per token for this text; documents of 40-120 words
  const budget = (maxSeq - 32 - 80) * 3.6;
  let used = 0;
  while (used < budget) {
    const win = essayWindow(corpora, rng, 400 + Math.floor(rng.uniform() * 500));
    const doc = win.text.replace(/^\S*\s/, '').replace(/\s\S*$/, '');
    if (used + doc.length > budget && docs.length > 0) break;
    docs.push(doc);
    used += doc.length + 16;
  }
  let gold = Math.floor(rng.uniform() * docs.length);
  const sentences = docs[gold].split(/(?<=\.) /);
  sentences.splice(Math.floor(rng.uniform() * (sentences.length + 1)), 0, f[0]);
  docs[gold] = sentences.join(' ');
  const render = (): string => fill(TEMPLATES.qa, { context: docs.map((d, i) => `Document ${i + 1}:\n${d}`).join('\n\n'), query: f[1] });
  // the character estimate can overshoot: drop distractors (never the gold one) until it fits
  let input = render();
  while (env.count(input, TEMPLATES.qaAnswer) + 32 > maxSeq && docs.length > 1) {
    docs.splice(docs[docs.length - 1] === docs[gold] ? 0 : docs.length - 1, 1);
    if (docs[gold] === undefined || !docs[gold].includes(f[0])) gold = docs.findIndex((d) => d.includes(f[0]));
    input = render();
  }
  return {
    task: 'qa_1', index: 0, input, answerPrefix: TEMPLATES.qaAnswer, outputs: [f[2]],
    maxSeq, genTokens: 32, length: 0, metric: 'part', source: 'synthetic QA (training only)',
  };
}

/** The mixture, with overrides from WF_TASK_WEIGHTS ("name=weight,..."; the trainer sets it per run), read once. */
const MIXTURE: ReadonlyArray<{ name: (typeof TRAIN_TASKS)[number]['name']; weight: number }> = (() => {
  const over = new Map((process.env.WF_TASK_WEIGHTS ?? '').split(',').filter((x) => x.includes('=')).map((x) => [x.split('=')[0], Number(x.split('=')[1])] as const));
  return TRAIN_TASKS.map((t) => ({ name: t.name, weight: over.get(t.name) ?? t.weight }));
})();

/** Same-kind distractors of the training questions, from WF_ASK_SAME_KIND ("min-max", max exclusive; default the generator's 0-5). */
const ASK_SAME_KIND: readonly [number, number] | undefined = (() => {
  const v = process.env.WF_ASK_SAME_KIND;
  if (!v) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (!m) throw new Error(`WF_ASK_SAME_KIND=${v}: expected MIN-MAX, e.g. 2-7`);
  return [Number(m[1]), Number(m[2])];
})();

/** Wide training wordings for the questions (the generator's `wide`), from WF_ASK_WIDE=1; default the base wordings. */
const ASK_WIDE = (() => {
  const v = process.env.WF_ASK_WIDE;
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new Error(`WF_ASK_WIDE=${v}: expected 1 or 0`);
})();

/** A share in [0, 1] from the environment variable `name`; 0 when unset or empty. */
function shareFromEnv(name: string): number {
  const v = process.env[name];
  if (v === undefined || v === '') return 0;
  const x = Number(v);
  if (!(x >= 0 && x <= 1)) throw new Error(`${name}=${v}: expected a share from 0 to 1`);
  return x;
}

/** The share of the training questions' needles, distractors and questions in free frames (the generator's `freeFrames`), from WF_ASK_FREE; default 0. */
const ASK_FREE = shareFromEnv('WF_ASK_FREE');

/** The share of the training questions given a question-first layout (the generator's `questionFirst`), from WF_ASK_QFIRST; default 0. */
const ASK_QFIRST = shareFromEnv('WF_ASK_QFIRST');

function pickTask(rng: Rng): (typeof TRAIN_TASKS)[number]['name'] {
  const ws = MIXTURE;
  const total = ws.reduce((a, t) => a + t.weight, 0);
  let u = rng.uniform() * total;
  for (const t of ws) if ((u -= t.weight) < 0) return t.name;
  // rounding left u at or above 0: the last family that can be drawn (never a weight-0 one such as ask_unseen)
  return ws.filter((t) => t.weight > 0).at(-1)?.name ?? ws[0].name;
}

/**
 * A well-mixed generator seed per call, always >= 1,000,000 (evaluation's seed is 42). Plain
 * `seed + call` would let the generator's XOR-based seed mixing give different calls the same keys.
 */
export function callSeed(seed: number, call: number): number {
  let h = Math.imul(seed ^ 0x85ebca6b, 0xc2b2ae35) ^ Math.imul(call + 1, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 13;
  return 1_000_000 + ((h >>> 0) % 1_000_000_000);
}

export function* samples(opts: { corpora: readonly Corpus[]; words: WordSources; length: number; seed: number; perCall: number; count: RulerEnv['count'] }): Generator<TrainSample> {
  const rng = new Rng(opts.seed);
  for (let call = 0; ; call++) {
    const task = pickTask(rng);
    const essay = essayWindow(opts.corpora, rng, opts.length * 12);
    const env: RulerEnv = { count: opts.count, words: opts.words, essay: essay.text, essayId: essay.id, seed: callSeed(opts.seed, call) };
    if (task === 'qa_synth') {
      yield qaSample(env, opts.corpora, opts.length, rng);
      continue;
    }
    if (task === 'ask' || task === 'ask_unseen') {
      // documents from a quarter of the length up to all of it: users' prompts are rarely exactly full
      let asked: ReturnType<typeof generateAsk>;
      const common = { maxSeq: opts.length, samples: opts.perCall, seed: env.seed as number, words: opts.words, essay: essay.text, count: opts.count, minFill: 0.25 };
      try {
        asked = task === 'ask'
          ? generateAsk({ ...common, split: 'train', sameKind: ASK_SAME_KIND, wide: ASK_WIDE, freeFrames: ASK_FREE, questionFirst: ASK_QFIRST })
          : generateAsk({ ...common, split: 'eval', unseenShare: 1 });
      } catch (e) {
        // a question whose wording and distractor facts do not fit a short length (256): the next call
        // draws again. (An uncaught one ended the 256-token workers of run 7 on 7 Dec.)
        if (e instanceof WavefilterError && e.code === 'prompt_too_long') continue;
        throw e;
      }
      for (const a of asked)
        yield { task, index: a.index, input: a.prompt, answerPrefix: a.prefill, outputs: [a.value], answer: a.answer, maxSeq: a.maxSeq, genTokens: 32, length: a.length, metric: 'part', source: task === 'ask' ? 'ask (training wordings)' : 'ask (unseen wordings, held-out check only)' };
      continue;
    }
    let batch: RulerSample[];
    try {
      batch = generateRuler(task, opts.length, opts.perCall, env);
    } catch {
      continue; // e.g. a task that does not fit this length
    }
    yield* batch;
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      corpus: { type: 'string' }, tokenizer: { type: 'string' }, text: { type: 'string' }, length: { type: 'string', default: '2048' },
      seed: { type: 'string', default: '1000000' }, 'per-call': { type: 'string', default: '8' },
    },
  });
  if (!values.corpus) throw new Error('--corpus DIR is required');
  const corpora = loadCorpora(values.corpus);
  const words = loadWordSources();
  const seed = Number(values.seed);
  if (!(seed >= 1_000_000)) throw new Error('training seeds start at 1000000 (evaluation uses 42)');
  const perCall = Number(values['per-call']);
  if (values.text) {
    // tokenizer-training text: approximate lengths (4 characters a token), mixed lengths
    const n = Number(values.text);
    const count = (input: string, prefix: string): number => Math.ceil((input.length + prefix.length) / 4);
    const lengths = [512, 1024, 2048];
    let i = 0;
    for (const L of lengths) {
      const it = samples({ corpora, words, length: L, seed: seed + L, perCall, count });
      for (let k = 0; k < n / lengths.length; k++, i++) {
        const s = it.next().value as TrainSample;
        process.stdout.write(JSON.stringify({ text: s.input + s.answerPrefix + answerText(s) }) + '\n');
      }
    }
    return;
  }
  if (!values.tokenizer) throw new Error('--tokenizer DIR or --text N is required');
  // generous deadlines: a training machine runs a dozen generators beside the trainer, and the
  // tokenizer is our own file
  const codec = TextCodec.load(values.tokenizer, { tokenizeBaseMs: 60_000, tokenizeMsPerChar: 1 });
  if (!codec) throw new Error(`${values.tokenizer}: no tokenizer.json`);
  const eos = codec.encodeTrusted('<|endoftext|>')[0];
  const length = Number(values.length);
  const count = (input: string, prefix: string): number => rulerPromptIds(codec, { input, answerPrefix: prefix }).length;
  const taskIndex = (s: TrainSample): number => FAMILIES.indexOf(s.source.startsWith('synthetic QA') ? 'qa_synth' : s.task);
  const it = samples({ corpora, words, length, seed, perCall, count });
  const write = (): void => {
    for (let k = 0; k < 64; k++) {
      const s = it.next().value as TrainSample;
      const p = rulerPromptIds(codec, s);
      const a = [...codec.encodeText(answerText(s)), eos];
      if (p.length + s.genTokens > length || a.length > s.genTokens) continue;
      const buf = Buffer.alloc(16 + 2 * (p.length + a.length));
      buf.writeInt32LE(taskIndex(s), 0);
      buf.writeInt32LE(s.genTokens, 4);
      buf.writeInt32LE(p.length, 8);
      buf.writeInt32LE(a.length, 12);
      const ids = new Uint16Array(buf.buffer, buf.byteOffset + 16, p.length + a.length);
      ids.set(p);
      ids.set(a, p.length);
      if (!process.stdout.write(buf)) {
        process.stdout.once('drain', write);
        return;
      }
    }
    setImmediate(write);
  };
  process.stdout.on('error', () => process.exit(0)); // the trainer closed the pipe
  write();
}

if (process.argv[1] && /gen-tasks\.(ts|mjs|js)$/.test(process.argv[1])) main();
