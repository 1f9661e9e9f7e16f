/**
 * Plainly asked needle questions: a fact planted in a long text and a question asked the way a user
 * asks it, through the chat template, with no benchmark answer prefix (or with a user's prefill).
 * RULER's prompts spell out the task ("A special magic number is hidden within the following
 * text...") and end the prompt with the first words of the answer; users paste a document and ask
 * "What is the code for the amber falcon?". This generator makes such prompts for two purposes:
 *
 * - `split: 'train'`: the bundled model's training rows (training/gen-tasks.ts), with training seeds;
 * - `split: 'eval'`: the hold-out prompts of `npm run bench -- ask`, which asks them through
 *   `wavefilter generate --prompt`. The eval split has its own statement, question and layout
 *   wordings, never used in training (`TEMPLATES[kind].eval`, `LAYOUTS.eval`), beside fresh draws
 *   of the training wordings, so a score says how far the model carries over to new phrasings.
 *
 * A sample: a haystack of corpus sentences (or RULER's noise sentences), the needle at a random
 * sentence boundary, 0-4 distractor facts of the same kind with other keys (the question's key is
 * what singles the needle out) and 0-2 of other kinds. The answer is the value alone; it ends with
 * the end-of-text token in training.
 */
import { WavefilterError } from '../../errors.js';
import { Rng } from '../../rng.js';
import { type WordSources, splitSentences } from '../ruler/generate.js';
import { fill } from '../ruler/tasks.js';

export type AskSplit = 'train' | 'eval';

export interface AskSample {
  readonly index: number;
  readonly split: AskSplit;
  /** The user's message: the document and the question. */
  readonly prompt: string;
  /** Text that opens the answer (an assistant prefill), '' for none. */
  readonly prefill: string;
  /** The fact's key, named in the question. */
  readonly key: string;
  /** The planted value: the answer. */
  readonly value: string;
  /** The text the model is trained to produce after the prefill (the value, spaced after a prefill). */
  readonly answer: string;
  readonly kind: AskKind;
  /** Whether the statement, question and layout wordings all come from the training split. */
  readonly wording: 'seen' | 'unseen';
  /** Whether the question comes before the document with nothing of it after (see isQuestionFirst). */
  readonly questionFirst: boolean;
  readonly maxSeq: number;
  /** Prompt tokens as counted (chat template + prompt + prefill). */
  readonly length: number;
}

/** Counts the tokens of a prompt as the model sees it: chat template, user message, prefill. */
export type AskCounter = (prompt: string, prefill: string) => number;

export type AskKind = 'code' | 'home' | 'password' | 'meeting' | 'licence';

interface Wordings {
  readonly statements: readonly string[];
  readonly questions: readonly string[];
  /** What the answer is, for "Answer with just the ___." */
  readonly what: string;
}

/** Statement and question wordings per kind; `{key}` and `{value}` are filled in. */
export const TEMPLATES: Readonly<Record<AskKind, { train: Wordings; eval: Wordings }>> = {
  code: {
    train: {
      what: 'number',
      statements: [
        'The secret code for the {key} is {value}.',
        'Remember this: the access number of the {key} is {value}.',
        'The {key} has the serial number {value}.',
        'Note that the combination for the {key} is {value}.',
        'For the record, the {key} number is {value}.',
        'The number you need for the {key} is {value}.',
      ],
      questions: [
        'What is the secret code for the {key}?',
        'What number goes with the {key}?',
        'Which number was given for the {key}?',
        'Tell me the {key} number.',
        "What's the code for the {key} mentioned in the text?",
        'What is the combination for the {key}?',
      ],
    },
    eval: {
      what: 'number',
      statements: ['The passcode of the {key} is {value}.', 'Important: the {key} opens with the number {value}.'],
      questions: ['What is the passcode of the {key}?', 'Can you find the number for the {key}?', 'Which number opens the {key}?'],
    },
  },
  home: {
    train: {
      what: 'town',
      statements: ['{key} lives in {value}.', "{key}'s home is in the town of {value}.", '{key} resides in {value}, a quiet town.', 'These days {key} lives in {value}.'],
      questions: ['Where does {key} live?', 'What town does {key} live in?', "Where is {key}'s home?", 'In which town does {key} reside?'],
    },
    eval: {
      what: 'town',
      statements: ['{key} has made a home in {value}.', 'The house of {key} stands in {value}.'],
      questions: ['Which town is {key} living in?', 'Where is the house of {key}?'],
    },
  },
  password: {
    train: {
      what: 'password',
      statements: ['The password for the {key} account is {value}.', 'Use {value} to log in to the {key} account.', 'The {key} account password was set to {value}.', 'Login for the {key} account: the password is {value}.'],
      questions: ['What is the password for the {key} account?', 'How do I log in to the {key} account?', 'Which password does the {key} account use?', 'What was the {key} account password set to?'],
    },
    eval: {
      what: 'password',
      statements: ['The {key} account can be opened with the password {value}.', 'Password of the {key} account: {value}.'],
      questions: ["What's the {key} account's password?", 'Tell me the password of the {key} account.'],
    },
  },
  meeting: {
    train: {
      what: 'time',
      statements: ['The meeting with {key} is at {value}.', '{key} will call at {value}.', 'We meet {key} at {value} sharp.', 'The appointment with {key} was moved to {value}.'],
      questions: ['When is the meeting with {key}?', 'At what time will {key} call?', 'What time do we meet {key}?', 'When is the appointment with {key}?'],
    },
    eval: {
      what: 'time',
      statements: ['{key} expects us at {value}.', 'Our call with {key} starts at {value}.'],
      questions: ['At what time do we see {key}?', 'When does the call with {key} start?'],
    },
  },
  licence: {
    train: {
      what: 'key',
      statements: ['The license key for {key} is {value}.', '{key} is activated with the key {value}.', 'Product key of {key}: {value}.', 'To register {key}, enter {value}.'],
      questions: ['What is the license key for {key}?', 'Which key activates {key}?', 'What is the product key of {key}?', 'What do I enter to register {key}?'],
    },
    eval: {
      what: 'key',
      statements: ['The activation code of {key} is {value}.', 'Unlock {key} with the code {value}.'],
      questions: ['What is the activation code of {key}?', 'How do I unlock {key}?'],
    },
  },
};

export const KINDS: readonly AskKind[] = ['code', 'home', 'password', 'meeting', 'licence'];

/** How the document and the question make the user's message. */
export const LAYOUTS: Readonly<Record<AskSplit, readonly string[]>> = {
  train: [
    '{doc}\n\n{q}',
    '{doc}\n\n{q}',
    '{q}\n\n{doc}',
    '{doc}\n\nQuestion: {q}',
    'Read the text below and answer the question at the end.\n\n{doc}\n\n{q}',
    'Here is a document:\n\n{doc}\n\nBased on the document: {q}',
    '{doc}\n\n{q} Answer with just the {what}.',
    '{q}\n\n{doc}\n\n{q}',
  ],
  eval: ['Document:\n{doc}\n\n{q}', '{q} The answer is in this text:\n\n{doc}', '{doc}\n\nAccording to the text above: {q}'],
};

/**
 * Question-first training layouts (`questionFirst`, training only): the question, then the
 * document, and nothing of the question after it. Version 4 answered none of the 8 question-first
 * hold-out prompts (reports/ask-v4: 0/8, against 25/32 with the question last): its training put
 * the question first in one layout of eight (LAYOUTS.train), RULER never. None of these uses the
 * eval split's words (EVAL_ONLY_WORDS; test/unit/ask.test.ts).
 */
export const QUESTION_FIRST_LAYOUTS: readonly string[] = [
  '{q}\n\n{doc}',
  'Question: {q}\n\n{doc}',
  '{q}\n\nText:\n{doc}',
  '{q} Look it up in the text below.\n\n{doc}',
  '{q} Here is the text:\n\n{doc}',
  '{q}\n\n"""\n{doc}\n"""',
  'I have a question about this text. {q}\n\n{doc}',
  '{q} Use this text:\n\n{doc}',
  '{q} Reply with the {what} only.\n\n{doc}',
  '{q}\n{doc}',
];

/** Whether a layout puts its (last) question before its document: nothing of the question follows the text. */
export function isQuestionFirst(layout: string): boolean {
  return layout.lastIndexOf('{q}') < layout.lastIndexOf('{doc}');
}

/** Assistant prefills; '' (none) is the most common. */
export const PREFILLS: Readonly<Record<AskSplit, readonly string[]>> = {
  train: ['', '', '', '', 'Answer:', 'The answer is', 'The {what} is'],
  eval: ['', '', '', 'Answer:', 'Sure. The {what} is'],
};

/**
 * Wider training wordings (`wide: true`, training only): each kind's noun phrases for the fact, set
 * in many statement and question frames, beside the base wordings. Runs 10-12 answered 71% of the
 * questions in the training's own phrasings and 19% in the evaluation's unseen ones: a handful of
 * fixed sentences teaches those sentences. Composing frames with phrases gives hundreds of wordings,
 * so what the model can learn is the key, not the sentence. None of them is an eval-split wording,
 * and none uses the eval split's own words (EVAL_ONLY_WORDS; test/unit/ask.test.ts checks both), so
 * the unseen half of the evaluation stays unseen.
 */
const WIDE_PHRASES: Readonly<Record<AskKind, readonly string[]>> = {
  code: ['the secret code for the {key}', 'the {key} number', 'the number of the {key}', 'the code that goes with the {key}', 'the access number of the {key}', 'the combination of the {key}', 'the serial number of the {key}', 'the digits for the {key}', 'the code of the {key}'],
  home: ["{key}'s home town", 'the town where {key} lives', 'the home town of {key}', 'the place {key} lives in', "the town of {key}'s home"],
  password: ['the login password of the {key} account', 'the password used for the {key} account', 'the secret word for the {key} account', 'the {key} login', 'the password to the {key} account'],
  meeting: ['the time of the meeting with {key}', 'the time {key} will call', 'the appointment time with {key}', 'the hour of the meeting with {key}', "{key}'s meeting time"],
  licence: ['the license key for {key}', 'the product key of {key}', 'the registration key for {key}', 'the key that activates {key}', 'the serial key of {key}', 'the licence key of {key}'],
};
const WIDE_QUESTIONS: readonly string[] = [
  'What is {np}?', "What's {np}?", 'Please tell me {np}.', 'Could you tell me {np}?', 'I need {np}.', 'Give me {np}.',
  'Do you know {np}?', 'Look up {np} for me.', 'Find {np} in the text.', 'Quick question: what is {np}?', 'I forgot {np}. What is it?',
  'Remind me of {np}.', 'Search the text for {np}.', 'What does the text give as {np}?', 'Which value is {np}?', 'Name {np}.', '{NP}?',
  'What was {np} again?', 'Can you look up {np}?',
];
const WIDE_STATEMENTS: readonly string[] = [
  '{NP} is {value}.', 'Note: {np} is {value}.', 'Just so you know, {np} is {value}.', 'By the way, {np} is {value}.', 'Please remember that {np} is {value}.',
  'It turns out {np} is {value}.', '{NP}: {value}.', 'Write this down: {np} is {value}.', 'For reference, {np} is {value}.', 'As agreed, {np} is {value}.',
];
/** Words only the eval split's wordings use: the wide training wordings must not contain them. */
export const EVAL_ONLY_WORDS: readonly string[] = ['passcode', 'opens', 'Can you find', 'has made a home', 'house of', 'living in', 'stands in', 'can be opened', "account's", 'expects us', 'do we see', 'call with', 'activation code', 'unlock', 'Document:', 'According to', 'The answer is in this text', 'Sure'];

const cap = (w: string): string => w[0].toUpperCase() + w.slice(1);
// a phrase that opens with the key keeps the key's own case
const capFirst = (t: string): string => (t.startsWith('{key}') ? t : cap(t));
const compose = (frames: readonly string[], phrases: readonly string[]): string[] =>
  frames.flatMap((f) => phrases.map((np) => f.replace('{NP}', capFirst(np)).replace('{np}', np)));

/** The wide training wordings of a kind: the base training wordings and the composed ones. */
const widen = (k: AskKind): Wordings => ({
  what: TEMPLATES[k].train.what,
  statements: [...TEMPLATES[k].train.statements, ...compose(WIDE_STATEMENTS, WIDE_PHRASES[k])],
  questions: [...TEMPLATES[k].train.questions, ...compose(WIDE_QUESTIONS, WIDE_PHRASES[k])],
});
export const WIDE: Readonly<Record<AskKind, Wordings>> = { code: widen('code'), home: widen('home'), password: widen('password'), meeting: widen('meeting'), licence: widen('licence') };

/** Wide training layouts and prefills: the base ones and more ways to put a document and a question together. */
export const WIDE_LAYOUTS: readonly string[] = [
  ...LAYOUTS.train,
  'Text:\n{doc}\n\n{q}', '{doc}\n\nFrom the text: {q}', '{q} Use this text:\n\n{doc}', 'Context:\n\n{doc}\n\nQuestion: {q}', '"""\n{doc}\n"""\n{q}',
  '{doc}\n\nOne question about it. {q}', 'I have a question about this text. {q}\n\n{doc}', '{doc}\n\n{q} Reply with the {what} only.',
  'Please read this.\n\n{doc}\n\nNow: {q}', '{doc}\n{q}',
];
export const WIDE_PREFILLS: readonly string[] = [...PREFILLS.train, '', 'It is', 'Here it is:', 'Of course. It is', 'The {what} you asked for is', 'Okay, the {what} is', 'A:'];

/**
 * Free frames (`freeFrames`, training only): a fact stated, or a question asked, as a few loose
 * words around the key, a word or two for the kind now and then, and the value after the key:
 * "remember falcon account pencil value lilac-pillow-12." / "which one falcon account password?".
 * Runs 13-14's hundreds of composed wordings still taught wordings (unseen ones stayed at 16-31%);
 * here the words change from row to row, needle, distractors and question each drawn apart, so
 * the one thing that finds the answer is the key, and the value is the value-shaped span after it.
 * The words are the generator's word lists and the function words below; none of EVAL_ONLY_WORDS
 * (the eval's unseen wordings stay unseen; test/unit/ask.test.ts).
 */
const KIND_WORDS: Readonly<Record<AskKind, readonly string[]>> = {
  code: ['code', 'number', 'combination', 'digits', 'serial', 'access number', 'secret code'],
  home: ['lives in', 'home', 'town', 'resides in', 'home town', 'place'],
  password: ['password', 'login', 'secret word', 'log in with'],
  meeting: ['meeting', 'calls at', 'appointment', 'time', 'meet at', 'hour'],
  licence: ['license key', 'product key', 'key', 'registration', 'serial key', 'licence'],
};
const FILLER = ['the', 'a', 'of', 'for', 'is', 'was', 'to', 'and', 'so', 'then', 'now', 'here', 'that', 'this', 'with', 'note', 'remember', 'also', 'just', 'value', 'item', 'entry', 'one', 'set', 'given', 'listed', 'written', 'kept', 'new', 'old'];
const QUESTION_OPENERS = ['what', 'which', 'tell me', 'give me', 'find', 'look up', 'what about', 'need', 'show me', 'do you know', 'search', 'get', 'name', 'recall', 'what was'];

/** The key as the fact names it: a password's key is an account. */
const keyText = (kind: AskKind, key: string): string => (kind === 'password' ? `${key} account` : key);

function looseWords(rng: Rng, w: WordSources, lo: number, hi: number): string[] {
  const n = int(rng, lo, hi);
  return Array.from({ length: n }, () => (rng.uniform() < 0.6 ? pick(rng, FILLER) : pick(rng, rng.uniform() < 0.5 ? w.nouns : w.adjectives)));
}

/**
 * Draws until the text holds none of the eval split's own words (random word pairs can make one,
 * "house" then "of"); a handful of draws is always enough, the bound only keeps it finite.
 */
function withoutEvalWords(make: () => string): string {
  let s = make();
  for (let i = 0; i < 50 && EVAL_ONLY_WORDS.some((e) => s.toLowerCase().includes(e.toLowerCase())); i++) s = make();
  return s;
}

/** A fact in a free frame: loose words, the key, loose words (a kind word in them half the time), the value. */
export function freeStatement(rng: Rng, w: WordSources, kind: AskKind, key: string, value: string): string {
  return withoutEvalWords(() => freeStatementOnce(rng, w, kind, key, value));
}

function freeStatementOnce(rng: Rng, w: WordSources, kind: AskKind, key: string, value: string): string {
  const before = looseWords(rng, w, 0, 4);
  const between = looseWords(rng, w, 0, 4);
  if (rng.uniform() < 0.5) between.splice(int(rng, 0, between.length + 1), 0, pick(rng, KIND_WORDS[kind]));
  const parts = [...before, keyText(kind, key), ...between, value];
  const s = parts.join(' ') + (rng.uniform() < 0.8 ? '.' : '');
  return s.startsWith(key) ? s : cap(s);
}

/** A question in a free frame: an opener, loose words, a kind word most of the time, the key, maybe more words. */
export function freeQuestion(rng: Rng, w: WordSources, kind: AskKind, key: string): string {
  return withoutEvalWords(() => freeQuestionOnce(rng, w, kind, key));
}

function freeQuestionOnce(rng: Rng, w: WordSources, kind: AskKind, key: string): string {
  const words = [pick(rng, QUESTION_OPENERS), ...looseWords(rng, w, 0, 3)];
  if (rng.uniform() < 0.7) words.splice(int(rng, 1, words.length + 1), 0, pick(rng, KIND_WORDS[kind]));
  const parts = [...words, keyText(kind, key), ...looseWords(rng, w, 0, 3)];
  const q = parts.join(' ') + (rng.uniform() < 0.8 ? '?' : '');
  return rng.uniform() < 0.5 ? cap(q) : q;
}

const NOISE = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.';
const FIRST_NAMES = [
  'Ada', 'Alan', 'Beatrix', 'Carlos', 'Dara', 'Edith', 'Farid', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Keiko', 'Liam', 'Mira', 'Nadia', 'Oskar',
  'Priya', 'Quentin', 'Rosa', 'Samir', 'Tilda', 'Umar', 'Vera', 'Wendell', 'Xenia', 'Yusuf', 'Zoe', 'Marta', 'Pedro', 'Lena', 'Tomas', 'Anya',
];
const TOWN_ENDS = ['ville', 'ford', 'ton', 'burg', 'haven', 'field', 'mouth', 'wick', 'stead', 'bridge'];
const PRODUCTS = ['Studio', 'Cloud', 'Desk', 'Vault', 'Forge', 'Pilot', 'Suite', 'Engine'];

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng.uniform() * (hi - lo));
const pick = <T>(rng: Rng, a: readonly T[]): T => a[int(rng, 0, a.length)];

function keyOf(kind: AskKind, rng: Rng, w: WordSources): string {
  switch (kind) {
    case 'code':
      return `${pick(rng, w.adjectives)} ${pick(rng, w.nouns)}`;
    case 'home':
    case 'meeting':
      return `${pick(rng, FIRST_NAMES)} ${cap(pick(rng, w.nouns))}`;
    case 'password':
      return pick(rng, w.nouns);
    case 'licence':
      return `${cap(pick(rng, w.nouns))} ${pick(rng, PRODUCTS)}`;
  }
}

function valueOf(kind: AskKind, rng: Rng, w: WordSources): string {
  switch (kind) {
    case 'code':
      return String(int(rng, 10_000, 10_000_000));
    case 'home':
      return cap(pick(rng, w.nouns)) + pick(rng, TOWN_ENDS);
    case 'password':
      return `${pick(rng, w.adjectives)}-${pick(rng, w.nouns)}-${int(rng, 10, 100)}`;
    case 'meeting': {
      const h = int(rng, 1, 13);
      return `${h}:${String(5 * int(rng, 0, 12)).padStart(2, '0')} ${rng.uniform() < 0.5 ? 'am' : 'pm'}`;
    }
    case 'licence': {
      const abc = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
      const part = (): string => Array.from({ length: 4 }, () => abc[int(rng, 0, abc.length)]).join('');
      return `${part()}-${part()}-${part()}`;
    }
  }
}

export interface AskOptions {
  /** Prompt tokens plus `genTokens` stay within this length. */
  readonly maxSeq: number;
  readonly samples: number;
  readonly seed: number;
  readonly split: AskSplit;
  readonly words: WordSources;
  /** Haystack text (whitespace-normalised corpus); windows start at random sentences. */
  readonly essay: string;
  readonly count: AskCounter;
  /** Tokens left for the answer (default 32, `wavefilter generate`'s default --gen-length). */
  readonly genTokens?: number;
  /**
   * The share of the length the document fills, drawn per sample in [min, 1] (default 1: the whole
   * window, as RULER fills it; training draws shorter documents too).
   */
  readonly minFill?: number;
  /** For the eval split: the share of samples that take the unseen wordings (default 0.5). */
  readonly unseenShare?: number;
  /**
   * Facts of the question's kind with other keys, drawn uniformly from [min, max) (default [0, 5)).
   * More of them make the key, not the kind, what finds the answer: training runs raise it (run 9's
   * wrong answers were half a distractor's value). The default keeps the eval split's draws.
   */
  readonly sameKind?: readonly [number, number];
  /**
   * Training split only: the composed wordings, layouts and prefills of WIDE, WIDE_LAYOUTS and
   * WIDE_PREFILLS, and a user's casual typing (a lower-case question, no final mark) now and then.
   * Default false: the base wordings, with the draws of runs 7-12.
   */
  readonly wide?: boolean;
  /**
   * Training split only: the share of needles, distractors and questions (each drawn on its own)
   * put in free frames (freeStatement, freeQuestion) instead of a wording. Default 0: none, and the
   * draws of the earlier runs unchanged.
   */
  readonly freeFrames?: number;
  /**
   * Training split only: the share of samples whose layout is replaced by a question-first one
   * (QUESTION_FIRST_LAYOUTS), beside the drawn layouts that already put the question first. Default
   * 0: none, and the draws of the earlier runs unchanged.
   */
  readonly questionFirst?: number;
}

/** Draws `samples` prompts; every draw is a function of (seed, index), so sample i is stable. */
export function generateAsk(o: AskOptions): AskSample[] {
  const gen = o.genTokens ?? 32;
  const budget = o.maxSeq - gen;
  const [lo, hi] = o.sameKind ?? [0, 5];
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi > lo && hi <= 17))
    throw new WavefilterError('invalid_option', `ask: sameKind [${lo}, ${hi}]: expected whole numbers with 0 <= min < max <= 17`, { option: 'sameKind', expected: '0 <= min < max <= 17', found: `${lo},${hi}` });
  if (o.wide && o.split !== 'train') throw new WavefilterError('invalid_option', 'ask: wide wordings are for the training split only (the eval split keeps its unseen wordings unseen)', { option: 'wide' });
  /** A training-only share option: in [0, 1], and 0 on the eval split (`why` names what the eval split keeps). */
  const trainingShare = (option: 'freeFrames' | 'questionFirst', what: string, why: string): void => {
    const x = o[option] ?? 0;
    if (!(x >= 0 && x <= 1)) throw new WavefilterError('invalid_option', `ask: ${option} ${x}: expected a share from 0 to 1`, { option, expected: '0 to 1', found: String(x) });
    if (x > 0 && o.split !== 'train') throw new WavefilterError('invalid_option', `ask: ${what} for the training split only (the eval split keeps ${why})`, { option });
  };
  trainingShare('freeFrames', 'free frames are', 'its unseen wordings unseen');
  trainingShare('questionFirst', 'questionFirst is', 'its layouts');
  if (budget < 64) throw new WavefilterError('invalid_option', `ask: a length of ${o.maxSeq} leaves no room for a document`, { option: 'length', expected: 'at least genTokens + 64', found: String(o.maxSeq) });
  const out: AskSample[] = [];
  for (let i = 0; i < o.samples; i++) out.push(drawOne(o, i, budget, [lo, hi]));
  return out;
}

function drawOne(o: AskOptions, index: number, budget: number, sameKindRange: readonly [number, number]): AskSample {
  const rng = new Rng(Math.imul((o.seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  const w = o.words;
  const kind = pick(rng, KINDS);
  const unseen = o.split === 'eval' && rng.uniform() < (o.unseenShare ?? 0.5);
  // an unseen sample takes the eval split's statement, question and layout wordings; its prefill too
  const words = unseen ? TEMPLATES[kind].eval : o.wide ? WIDE[kind] : TEMPLATES[kind].train;
  const layouts = unseen ? LAYOUTS.eval : o.wide ? WIDE_LAYOUTS : LAYOUTS.train;
  const prefills = unseen ? PREFILLS.eval : o.wide ? WIDE_PREFILLS : PREFILLS.train;
  const key = keyOf(kind, rng, w);
  const value = valueOf(kind, rng, w);
  // a free frame is drawn only when asked for, so the draws of runs 7-14 stay as they were
  const free = o.freeFrames ?? 0;
  const freeNow = (): boolean => free > 0 && rng.uniform() < free;
  const needle = freeNow() ? freeStatement(rng, w, kind, key, value) : fill(pick(rng, words.statements), { key, value });
  let question = freeNow() ? freeQuestion(rng, w, kind, key) : fill(pick(rng, words.questions), { key });
  if (o.wide) {
    // typed casually: a lower-case first letter (unless it is the key's), no final question mark
    if (rng.uniform() < 0.2 && !question.startsWith(key)) question = question[0].toLowerCase() + question.slice(1);
    if (rng.uniform() < 0.15) question = question.replace(/[?.]$/, '');
  }
  let layout = pick(rng, layouts);
  // drawn only when asked for, after the layout, so the draws of runs 7-17 stay as they were
  const qf = o.questionFirst ?? 0;
  if (qf > 0 && rng.uniform() < qf) layout = pick(rng, QUESTION_FIRST_LAYOUTS);
  const prefill = fill(pick(rng, prefills), { what: words.what });
  // distractors: the same kind with other keys (and values), and a few facts of other kinds
  const facts: string[] = [needle];
  const usedKeys = new Set([key]);
  const sameKind = int(rng, ...sameKindRange);
  for (let k = 0; k < sameKind; k++) {
    const dk = keyOf(kind, rng, w);
    if (usedKeys.has(dk)) continue;
    usedKeys.add(dk);
    // (a wording is picked before the value is drawn, as in runs 7-14)
    if (freeNow()) facts.push(freeStatement(rng, w, kind, dk, valueOf(kind, rng, w)));
    else facts.push(fill(pick(rng, TEMPLATES[kind].train.statements.concat(words.statements)), { key: dk, value: valueOf(kind, rng, w) }));
  }
  const otherKinds = int(rng, 0, 3);
  for (let k = 0; k < otherKinds; k++) {
    const ok = pick(rng, KINDS.filter((x) => x !== kind));
    if (freeNow()) facts.push(freeStatement(rng, w, ok, keyOf(ok, rng, w), valueOf(ok, rng, w)));
    else facts.push(fill(pick(rng, (o.wide ? WIDE[ok] : TEMPLATES[ok].train).statements), { key: keyOf(ok, rng, w), value: valueOf(ok, rng, w) }));
  }
  // haystack: a corpus window from a random sentence, or RULER's noise (a fifth of the samples)
  const noise = rng.uniform() < 0.2;
  const fillShare = (o.minFill ?? 1) + rng.uniform() * (1 - (o.minFill ?? 1));
  const target = Math.max(48, Math.floor(budget * fillShare));
  let at = int(rng, 0, Math.max(1, o.essay.length - 4 * 8 * target));
  const dot = o.essay.indexOf('. ', at);
  if (dot >= 0 && dot < at + 2000) at = dot + 2;
  const pool = noise ? [] : splitSentences(o.essay.slice(at, at + 6 * target));
  const sentence = (j: number): string => (noise ? NOISE : pool[j % Math.max(1, pool.length)] ?? NOISE);
  // fact positions as fractions of the haystack, so trimming keeps them spread out
  const where = facts.map(() => rng.uniform());
  const render = (n: number): string => {
    const hay: string[] = Array.from({ length: n }, (_, j) => sentence(j));
    const slots = where.map((f) => Math.round(f * n));
    // inserted from the back so earlier positions stay valid
    [...facts.keys()].sort((a, b) => slots[b] - slots[a]).forEach((fi) => hay.splice(slots[fi], 0, facts[fi]));
    const doc = hay.join(noise ? '\n' : ' ');
    return fill(layout, { doc, q: question, what: words.what });
  };
  // sentence count: secant steps on the measured length inside a bisection bracket (sentences vary
  // in tokens, some corpus passages a lot), keeping the longest count that fits; within 2% of the
  // target is close enough
  const base = o.count(render(0), prefill);
  let best = 0;
  let bestLen = base;
  let hi = Infinity; // the smallest count known not to fit
  let n = Math.max(1, Math.floor((target - base) / 24));
  for (let tries = 0; tries < 16 && base < target; tries++) {
    const len = o.count(render(n), prefill);
    if (len <= target) {
      if (n >= best) [best, bestLen] = [n, len];
      if (target - len <= target * 0.02) break;
    } else hi = Math.min(hi, n);
    if (hi - best <= 1) break;
    let next = Math.floor((n * (target - base)) / Math.max(1, len - base));
    if (!(next > best && next < hi)) next = Number.isFinite(hi) ? Math.floor((best + hi) / 2) : 2 * n;
    n = next;
  }
  const prompt = render(best);
  const length = bestLen;
  if (length > budget) throw new WavefilterError('prompt_too_long', `ask sample ${index}: the question alone takes ${length} tokens, over ${budget}`, { tokens: length, limit: budget });
  const answer = prefill === '' || /\s$/.test(prefill) ? value : ` ${value}`;
  return { index, split: o.split, prompt, prefill, key, value, answer, kind, wording: unseen ? 'unseen' : 'seen', questionFirst: isQuestionFirst(layout), maxSeq: o.maxSeq, length };
}

/** Whether an answer holds the planted value: case-insensitive containment (a user reads the answer, not its format). */
export function askCorrect(answerText: string, value: string): boolean {
  return answerText.toLowerCase().includes(value.toLowerCase());
}
