/**
 * LongBench v1: the 21 datasets (prompt templates quoted from dataset2prompt.json, generation lengths
 * from dataset2maxlen.json, metrics from eval.py; docs/long-context-benchmarks.md §4), loading the
 * official JSONL files a user provides, middle truncation, scoring and both averaging conventions.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { MiB, readUserText } from '../../files.js';
import { join } from 'node:path';
import { WavefilterError } from '../../errors.js';
import type { TextCodec } from '../../checkpoint/tokenizer.js';
import { classificationScore, type Compat, codeSimScore, countScore, qaF1, qaF1Zh, retrievalScore, rougeL, rougeZh } from './metrics.js';

export type Category = 'single-doc-qa' | 'multi-doc-qa' | 'summarization' | 'few-shot' | 'synthetic' | 'code';
export type MetricName = 'qa_f1' | 'qa_f1_zh' | 'rouge' | 'rouge_zh' | 'classification' | 'retrieval' | 'retrieval_zh' | 'count' | 'code_sim';

export interface LongBenchDataset {
  readonly name: string;
  readonly category: Category;
  readonly lang: 'en' | 'zh' | 'code';
  readonly metric: MetricName;
  readonly maxGen: number;
  /** The chat template is not applied (few-shot and code tasks). */
  readonly raw: boolean;
  /** Part of LongBench-E. */
  readonly e: boolean;
}

const d = (name: string, category: Category, lang: 'en' | 'zh' | 'code', metric: MetricName, maxGen: number, raw: boolean, e: boolean): LongBenchDataset => ({ name, category, lang, metric, maxGen, raw, e });

export const LONGBENCH_DATASETS: readonly LongBenchDataset[] = [
  d('narrativeqa', 'single-doc-qa', 'en', 'qa_f1', 128, false, false),
  d('qasper', 'single-doc-qa', 'en', 'qa_f1', 128, false, true),
  d('multifieldqa_en', 'single-doc-qa', 'en', 'qa_f1', 64, false, true),
  d('multifieldqa_zh', 'single-doc-qa', 'zh', 'qa_f1_zh', 64, false, false),
  d('hotpotqa', 'multi-doc-qa', 'en', 'qa_f1', 32, false, true),
  d('2wikimqa', 'multi-doc-qa', 'en', 'qa_f1', 32, false, true),
  d('musique', 'multi-doc-qa', 'en', 'qa_f1', 32, false, false),
  d('dureader', 'multi-doc-qa', 'zh', 'rouge_zh', 128, false, false),
  d('gov_report', 'summarization', 'en', 'rouge', 512, false, true),
  d('qmsum', 'summarization', 'en', 'rouge', 512, false, false),
  d('multi_news', 'summarization', 'en', 'rouge', 512, false, true),
  d('vcsum', 'summarization', 'zh', 'rouge_zh', 512, false, false),
  d('trec', 'few-shot', 'en', 'classification', 64, true, true),
  d('triviaqa', 'few-shot', 'en', 'qa_f1', 32, true, true),
  d('samsum', 'few-shot', 'en', 'rouge', 128, true, true),
  d('lsht', 'few-shot', 'zh', 'classification', 64, true, false),
  d('passage_count', 'synthetic', 'en', 'count', 32, false, true),
  d('passage_retrieval_en', 'synthetic', 'en', 'retrieval', 32, false, true),
  d('passage_retrieval_zh', 'synthetic', 'zh', 'retrieval_zh', 32, false, false),
  d('lcc', 'code', 'code', 'code_sim', 64, true, true),
  d('repobench-p', 'code', 'code', 'code_sim', 64, true, true),
];

/** dataset2prompt.json, byte for byte (the "asconcisely" typo and qasper's leading space included). */
export const LONGBENCH_PROMPTS: Readonly<Record<string, string>> = {
  "narrativeqa": "You are given a story, which can be either a novel or a movie script, and a question. Answer the question asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nStory: {context}\n\nNow, answer the question based on the story asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:",
  "qasper": "You are given a scientific article and a question. Answer the question as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based on the information in the article, write \"unanswerable\". If the question is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide any explanation.\n\nArticle: {context}\n\n Answer the question based on the above article as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based on the information in the article, write \"unanswerable\". If the question is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:",
  "multifieldqa_en": "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based on the above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
  "multifieldqa_zh": "阅读以下文字并用中文简短回答：\n\n{context}\n\n现在请基于上面的文章回答下面的问题，只告诉我答案，不要输出任何其他字词。\n\n问题：{input}\n回答：",
  "hotpotqa": "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
  "2wikimqa": "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
  "musique": "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
  "dureader": "请基于给定的文章回答下述问题。\n\n文章：{context}\n\n请基于上述文章回答下面的问题。\n\n问题：{input}\n回答：",
  "gov_report": "You are given a report by a government agency. Write a one-page summary of the report.\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:",
  "qmsum": "You are given a meeting transcript and a query containing a question or instruction. Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting transcript in one or more sentences.\n\nQuery: {input}\nAnswer:",
  "multi_news": "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\nNow, write a one-page summary of all the news.\n\nSummary:",
  "vcsum": "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}\n\n会议总结：",
  "trec": "Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n{input}",
  "triviaqa": "Answer the question based on the given passage. Only give me the answer and do not output any other words. The following are some examples.\n\n{context}\n\n{input}",
  "samsum": "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}",
  "lsht": "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}",
  "passage_count": "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please carefully read these paragraphs and determine how many unique paragraphs there are after removing duplicates. In other words, how many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final count of unique paragraphs after removing duplicates. The output format should only contain the number, such as 1, 2, 3, and so on.\n\nThe final answer is: ",
  "passage_retrieval_en": "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph the abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the number of the paragraph that the abstract is from. The answer format must be like \"Paragraph 1\", \"Paragraph 2\", etc.\n\nThe answer is: ",
  "passage_retrieval_zh": "以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}\n\n下面是一个摘要\n\n{input}\n\n请输入摘要所属段落的编号。答案格式必须是\"段落1\"，\"段落2\"等格式\n\n答案是：",
  "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
  "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
};

export interface LongBenchRecord {
  readonly input: string;
  readonly context: string;
  readonly answers: readonly string[];
  readonly length: number;
  readonly dataset: string;
  readonly language: string;
  readonly all_classes: readonly string[] | null;
  readonly _id: string;
}

/** The largest official file is tens of MB. */
const MAX_LONGBENCH_BYTES = 1024 * MiB;

/**
 * A gold answer as the official scorer sees it: eval.py compares `str(ground_truth)`, so a
 * numeric answer (7) scores like "7" (passage_count); booleans become Python's True / False.
 */
const answer = z.union([z.string(), z.number().finite(), z.boolean()]).transform((a) => (typeof a === 'boolean' ? (a ? 'True' : 'False') : String(a)));

/** One record of the official JSONL files (unknown extra fields are ignored, as pred.py does). */
const recordSchema = z.object({
  input: z.string(),
  context: z.string(),
  answers: z.array(answer),
  length: z.number().int().nonnegative().optional(),
  dataset: z.string().optional(),
  language: z.string().optional(),
  all_classes: z.array(z.string()).nullable().optional(),
  _id: z.union([z.string(), z.number()]).transform(String).optional(),
});

/** Reads `<dir>/<name>.jsonl` (or `<name>_e.jsonl` for LongBench-E), validating each record's fields. */
export function loadLongBench(dir: string, name: string, e = false): LongBenchRecord[] {
  if (!LONGBENCH_DATASETS.some((x) => x.name === name))
    throw new WavefilterError('invalid_option', `dataset: unknown LongBench dataset ${JSON.stringify(name)}; expected one of ${LONGBENCH_DATASETS.map((x) => x.name).join(', ')}`, { option: 'tasks' });
  const file = join(dir, `${name}${e ? '_e' : ''}.jsonl`);
  if (!existsSync(file)) throw new WavefilterError('file_not_found', `${file}: LongBench file not found (download the official data and pass its folder)`, { file });
  const out: LongBenchRecord[] = [];
  readUserText(file, { what: 'LongBench file', maxBytes: MAX_LONGBENCH_BYTES }).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      throw new WavefilterError('invalid_input', `${file}:${i + 1}: not valid JSON (${(err as Error).message})`, { file, line: i + 1 });
    }
    const r = recordSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      const field = issue.path.join('.') || '(record)';
      throw new WavefilterError('invalid_input', `${file}:${i + 1}: field ${field}: ${issue.message}`, { file, line: i + 1, field });
    }
    const d = r.data;
    out.push({
      input: d.input, context: d.context, answers: d.answers, length: d.length ?? 0, dataset: d.dataset ?? name, language: d.language ?? '',
      all_classes: d.all_classes ?? null, _id: d._id ?? String(i),
    });
  });
  return out;
}

/** Fills a dataset's template. */
export function formatPrompt(name: string, r: Pick<LongBenchRecord, 'context' | 'input'>): string {
  const t = LONGBENCH_PROMPTS[name];
  if (t === undefined) throw new WavefilterError('invalid_option', `dataset: no prompt template for ${name}`, { option: 'tasks' });
  return t.replace('{context}', () => r.context).replace('{input}', () => r.input);
}

/**
 * pred.py's middle truncation: if the prompt is longer than maxLength tokens, keep decode(first
 * half) + decode(last half). Tokens are counted as text (no special tokens), as LongBench does.
 */
export function truncateMiddle(codec: TextCodec, prompt: string, maxLength: number): string {
  const ids = codec.encodeText(prompt);
  if (ids.length <= maxLength) return prompt;
  const half = Math.floor(maxLength / 2);
  return codec.decode(ids.slice(0, half)) + codec.decode(ids.slice(ids.length - half));
}

/** One prediction's score: eval.py's first-line rule for trec/triviaqa/samsum/lsht, then the max over the gold answers. */
export function scoreRecord(name: string, prediction: string, r: Pick<LongBenchRecord, 'answers' | 'all_classes'>, compat: Compat = 'longbench-py'): number {
  const ds = LONGBENCH_DATASETS.find((x) => x.name === name);
  if (!ds) throw new WavefilterError('invalid_option', `dataset: unknown LongBench dataset ${name}`, { option: 'tasks' });
  let pred = prediction;
  if (['trec', 'triviaqa', 'samsum', 'lsht'].includes(name)) pred = pred.replace(/^\n+/, '').split('\n')[0];
  const one = (gold: string): number => {
    switch (ds.metric) {
      case 'qa_f1':
        return qaF1(pred, gold);
      case 'rouge':
        return rougeL(pred, gold, compat);
      case 'classification':
        return classificationScore(pred, gold, r.all_classes ?? [], compat);
      case 'retrieval':
        return retrievalScore(pred, gold);
      case 'retrieval_zh': {
        const id = gold.match(/段落(\d+)/)?.[1];
        const nums = pred.match(/\d+/g) ?? [];
        return id === undefined || nums.length === 0 ? 0 : nums.filter((x) => x === id).length / nums.length;
      }
      case 'count':
        return countScore(pred, gold);
      case 'code_sim':
        return codeSimScore(pred, gold);
      case 'qa_f1_zh':
        return qaF1Zh(pred, gold);
      case 'rouge_zh':
        return rougeZh(pred, gold, compat);
    }
  };
  return Math.max(0, ...r.answers.map(one));
}

/** A dataset score: round(100 * mean, 2). */
export function datasetScore(scores: readonly number[]): number {
  return scores.length ? Math.round((100 * scores.reduce((a, b) => a + b, 0)) / scores.length * 100) / 100 : 0;
}

/** LongBench-E length bucket of a record. */
export function lengthBucket(length: number): '0-4k' | '4-8k' | '8k+' {
  return length < 4000 ? '0-4k' : length < 8000 ? '4-8k' : '8k+';
}

/**
 * Both published averages of per-dataset scores: the leaderboard's mean of the six English category
 * means (code counts in English), and the KV-compression papers' plain mean of the English datasets.
 */
export function longBenchAverages(scores: Readonly<Record<string, number>>): { categoryAverage: number | null; datasetAverage: number | null } {
  const en = LONGBENCH_DATASETS.filter((x) => x.lang !== 'zh' && scores[x.name] !== undefined);
  if (!en.length) return { categoryAverage: null, datasetAverage: null };
  const cats = [...new Set(en.map((x) => x.category))];
  const catMeans = cats.map((c) => {
    const v = en.filter((x) => x.category === c).map((x) => scores[x.name]);
    return v.reduce((a, b) => a + b, 0) / v.length;
  });
  return {
    categoryAverage: catMeans.reduce((a, b) => a + b, 0) / catMeans.length,
    datasetAverage: en.reduce((a, x) => a + scores[x.name], 0) / en.length,
  };
}
