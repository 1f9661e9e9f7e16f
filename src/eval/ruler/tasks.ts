/**
 * RULER's 13 task configurations and templates (NVIDIA/RULER scripts/synthetic.yaml and
 * scripts/data/synthetic/constants.py, as quoted in docs/long-context-benchmarks.md §2.2-2.3).
 */
export type RulerTaskName =
  | 'niah_single_1' | 'niah_single_2' | 'niah_single_3' | 'niah_multikey_1' | 'niah_multikey_2' | 'niah_multikey_3'
  | 'niah_multivalue' | 'niah_multiquery' | 'vt' | 'cwe' | 'fwe' | 'qa_1' | 'qa_2';

export type Haystack = 'noise' | 'essay' | 'needle';
export type NeedleType = 'words' | 'numbers' | 'uuids';

export interface NiahConfig {
  readonly kind: 'niah';
  readonly haystack: Haystack;
  readonly keyType: NeedleType;
  readonly valueType: NeedleType;
  readonly keys: number;
  readonly values: number;
  readonly queries: number;
}

export type TaskConfig =
  | NiahConfig
  | { readonly kind: 'vt'; readonly chains: number; readonly hops: number }
  | { readonly kind: 'cwe'; readonly freqCommon: number; readonly freqUncommon: number; readonly commonWords: number }
  | { readonly kind: 'fwe'; readonly alpha: number }
  | { readonly kind: 'qa'; readonly dataset: 'squad' | 'hotpotqa' };

export interface RulerTask {
  readonly name: RulerTaskName;
  readonly config: TaskConfig;
  readonly genTokens: number;
  readonly metric: 'all' | 'part';
}

const niah = (haystack: Haystack, keyType: NeedleType, valueType: NeedleType, keys: number, values: number, queries: number): NiahConfig => ({
  kind: 'niah', haystack, keyType, valueType, keys, values, queries,
});

export const RULER_TASKS: readonly RulerTask[] = [
  { name: 'niah_single_1', config: niah('noise', 'words', 'numbers', 1, 1, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_single_2', config: niah('essay', 'words', 'numbers', 1, 1, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_single_3', config: niah('essay', 'words', 'uuids', 1, 1, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_multikey_1', config: niah('essay', 'words', 'numbers', 4, 1, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_multikey_2', config: niah('needle', 'words', 'numbers', 1, 1, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_multikey_3', config: niah('needle', 'uuids', 'uuids', 1, 1, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_multivalue', config: niah('essay', 'words', 'numbers', 1, 4, 1), genTokens: 128, metric: 'all' },
  { name: 'niah_multiquery', config: niah('essay', 'words', 'numbers', 4, 1, 4), genTokens: 128, metric: 'all' },
  { name: 'vt', config: { kind: 'vt', chains: 1, hops: 4 }, genTokens: 30, metric: 'all' },
  { name: 'cwe', config: { kind: 'cwe', freqCommon: 30, freqUncommon: 3, commonWords: 10 }, genTokens: 120, metric: 'all' },
  { name: 'fwe', config: { kind: 'fwe', alpha: 2 }, genTokens: 50, metric: 'all' },
  { name: 'qa_1', config: { kind: 'qa', dataset: 'squad' }, genTokens: 32, metric: 'part' },
  { name: 'qa_2', config: { kind: 'qa', dataset: 'hotpotqa' }, genTokens: 32, metric: 'part' },
];

/** Whether a task's haystack is essay text (the runner then needs an essay corpus). */
export function usesEssay(task: string): boolean {
  const c = RULER_TASKS.find((t) => t.name === task)?.config;
  return c?.kind === 'niah' && c.haystack === 'essay';
}

export const TEMPLATES = {
  niah: 'Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?',
  niahAnswer: ' The special magic {type_needle_v} for {query} mentioned in the provided text are',
  needle: 'One of the special magic {type_needle_v} for {key} is: {value}.',
  vt: 'Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.',
  vtAnswer: ' Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assigned the value {query}, they are: ',
  cwe: 'Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?',
  cweAnswer: ' Answer: The top 10 words that appear most often in the list are:',
  fwe: "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?",
  fweAnswer: ' Answer: According to the coded text above, the three most frequently appeared words are:',
  qa: 'Answer the question based on the given documents. Only give me the answer and do not output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}',
  qaAnswer: ' Answer:',
  noiseUnit: 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.',
} as const;

/** RULER's needle depths: round(linspace(0, 100, 40)). */
export const DEPTHS: readonly number[] = Array.from({ length: 40 }, (_, i) => Math.round((100 * i) / 39));

/** Fills {name} placeholders. */
export function fill(template: string, vars: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

/**
 * RULER's single-answer rewrite (q * v == 1), applied to the template before the haystack goes in:
 * Some -> A; "are all" -> is; other "are" -> is; answers -> answer; the plural type loses its "s".
 */
export function singleAnswerTemplate(template: string, typeNeedleV: string): string {
  return template
    .replaceAll('Some', 'A')
    .replaceAll('are all', 'is')
    .replaceAll('are', 'is')
    .replaceAll('answers', 'answer')
    .replaceAll('{type_needle_v}', typeNeedleV.slice(0, -1));
}
