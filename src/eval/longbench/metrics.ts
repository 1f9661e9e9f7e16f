/**
 * LongBench v1's English metrics with the quirks of the official scorer (THUDM/LongBench
 * metrics.py; docs/long-context-benchmarks.md §4.6), so our numbers compare with published ones:
 *   qa_f1            normalise (lowercase, drop ASCII punctuation and a/an/the), multiset F1
 *   rouge            pltrdy/rouge 1.0.1: sentences split on ".", unique-word (exclusive) ROUGE-L with the
 *                    LCS union accumulated across reference sentences; an empty hypothesis and a Python
 *                    RecursionError in the LCS back-trace both score 0 (compat mode)
 *   classification   the matched-class list is pruned while being iterated (the upstream skip bug)
 *   retrieval, count fraction of the numbers in the prediction equal to the target
 *   code_sim         fuzzywuzzy's ratio on difflib's SequenceMatcher (autojunk), banker's rounding
 *   qa_f1_zh         jieba (accurate mode, HMM on) tokens, each lowercased and stripped of ASCII + CJK
 *                    punctuation and whitespace, empty ones dropped, then multiset F1
 *   rouge_zh         jieba tokens joined by spaces, then the rouge above
 * jieba is @node-rs/jieba (jieba-rs with jieba's default dictionary); its segmentation is checked
 * against Python jieba on golden sentences (test/fixtures/jieba-golden.json).
 */
import { requireOptional } from '../../optional.js';
import { createRequire } from 'node:module';

export type Compat = 'longbench-py' | 'clean';

const PUNCT = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

/** LongBench's normalize_answer (English). */
export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  const noPunct = [...lower].filter((c) => !PUNCT.has(c)).join('');
  return noPunct.replace(/\b(a|an|the)\b/g, ' ').split(/\s+/).filter((w) => w).join(' ');
}

/** F1 of two token multisets (Counter overlap), 0 without overlap. */
export function multisetF1(pred: readonly string[], gold: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const t of gold) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of pred) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const p = same / pred.length;
  const r = same / gold.length;
  return (2 * p * r) / (p + r);
}

const CN_PUNCT = '！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.';
const ZH_PUNCT = new Set([...PUNCT, ...CN_PUNCT]);

interface Segmenter {
  cut(text: string, hmm?: boolean): string[];
}
let jieba: Segmenter | null = null;

/** Python jieba's `cut(text, cut_all=False)` (accurate mode, HMM on). */
export function jiebaCut(text: string): string[] {
  if (!jieba) {
    const require = createRequire(import.meta.url);
    const { Jieba } = requireOptional<{ Jieba: { withDict(d: Uint8Array): Segmenter } }>(require, '@node-rs/jieba', 'LongBench\'s Chinese metrics');
    const { dict } = requireOptional<{ dict: Uint8Array }>(require, '@node-rs/jieba/dict', 'LongBench\'s Chinese metrics');
    jieba = Jieba.withDict(dict);
  }
  return jieba.cut(text, true);
}

/** LongBench's normalize_zh_answer: lowercase, drop ASCII and CJK punctuation, drop all whitespace. */
export function normalizeZhAnswer(s: string): string {
  return [...s.toLowerCase()].filter((c) => !ZH_PUNCT.has(c)).join('').split(/\s+/).join('');
}

export function qaF1Zh(prediction: string, gold: string): number {
  const tokens = (s: string): string[] => jiebaCut(s).map(normalizeZhAnswer).filter((t) => t.length > 0);
  return multisetF1(tokens(prediction), tokens(gold));
}

export function rougeZh(prediction: string, gold: string, compat: Compat = 'longbench-py'): number {
  return rougeL(jiebaCut(prediction).join(' '), jiebaCut(gold).join(' '), compat);
}

export function qaF1(prediction: string, gold: string): number {
  const split = (s: string): string[] => normalizeAnswer(s).split(' ').filter((w) => w);
  return multisetF1(split(prediction), split(gold));
}

/** Python's default recursion limit minus the frames above pltrdy's _recon in LongBench's call path (an estimate). */
export const PY_RECURSION_BUDGET = 985;

/** LCS of two word lists as the set of its words, and the depth of pltrdy's recursive back-trace. */
function lcsWords(x: readonly string[], y: readonly string[]): { words: Set<string>; depth: number } {
  const n = x.length;
  const m = y.length;
  const t = new Uint32Array((n + 1) * (m + 1));
  for (let i = 1; i <= n; i++)
    for (let j = 1; j <= m; j++)
      t[i * (m + 1) + j] = x[i - 1] === y[j - 1] ? t[(i - 1) * (m + 1) + j - 1] + 1 : Math.max(t[(i - 1) * (m + 1) + j], t[i * (m + 1) + j - 1]);
  const words = new Set<string>();
  let i = n;
  let j = m;
  let depth = 0;
  while (i > 0 && j > 0) {
    depth++;
    if (x[i - 1] === y[j - 1]) {
      words.add(x[i - 1]);
      i--;
      j--;
    } else if (t[(i - 1) * (m + 1) + j] > t[i * (m + 1) + j - 1]) i--;
    else j--;
  }
  return { words, depth };
}

/** ROUGE-L F as pltrdy/rouge 1.0.1 computes it, 0 where LongBench's bare except would catch an error. */
export function rougeL(prediction: string, gold: string, compat: Compat = 'longbench-py'): number {
  const sentences = (s: string): string[] => s.split('.').filter((x) => x.length > 0).map((x) => x.split(/\s+/).filter((w) => w).join(' '));
  const hyp = sentences(prediction);
  const ref = sentences(gold);
  if (hyp.length === 0 || ref.length === 0) return 0;
  const words = (ss: readonly string[]): string[] => ss.flatMap((x) => x.split(' '));
  const m = new Set(words(ref)).size;
  const n = new Set(words(hyp)).size;
  const union = new Set<string>();
  for (const r of ref) {
    const rw = r.split(' ');
    for (const h of hyp) {
      const { words: lcs, depth } = lcsWords(rw, h.split(' '));
      if (compat === 'longbench-py' && depth > PY_RECURSION_BUDGET) return 0;
      for (const w of lcs) union.add(w);
    }
  }
  const llcs = union.size;
  const r = llcs / m;
  const p = llcs / n;
  return (2 * p * r) / (p + r + 1e-8);
}

/** LongBench classification_score, including the skip that pruning a list while iterating it causes. */
export function classificationScore(prediction: string, gold: string, allClasses: readonly string[], compat: Compat = 'longbench-py'): number {
  const matches = allClasses.filter((c) => prediction.includes(c));
  if (compat === 'longbench-py') {
    // Python: for m in list: if m in gold and m != gold: list.remove(m)  (the next element is skipped)
    for (let i = 0; i < matches.length; i++) {
      const c = matches[i];
      if (gold.includes(c) && c !== gold) matches.splice(matches.indexOf(c), 1);
    }
  } else {
    for (let i = matches.length - 1; i >= 0; i--) if (gold.includes(matches[i]) && matches[i] !== gold) matches.splice(i, 1);
  }
  return matches.includes(gold) ? 1 / matches.length : 0;
}

function numberFraction(prediction: string, target: string): number {
  const nums = prediction.match(/\d+/g) ?? [];
  return nums.length ? nums.filter((x) => x === target).length / nums.length : 0;
}

/** retrieval_score: the gold paragraph number among the numbers of the prediction. */
export function retrievalScore(prediction: string, gold: string): number {
  const id = gold.match(/Paragraph (\d+)/)?.[1];
  return id === undefined ? 0 : numberFraction(prediction, id);
}

export function countScore(prediction: string, gold: string): number {
  return numberFraction(prediction, gold);
}

/** difflib.SequenceMatcher(None, a, b).ratio(), with autojunk (popular elements of b >= 200 long). */
export function sequenceRatio(a: string, b: string): number {
  const la = a.length;
  const lb = b.length;
  if (la + lb === 0) return 1;
  const b2j = new Map<string, number[]>();
  for (let j = 0; j < lb; j++) {
    const list = b2j.get(b[j]);
    if (list) list.push(j);
    else b2j.set(b[j], [j]);
  }
  if (lb >= 200) {
    const ntest = Math.floor(lb / 100) + 1;
    for (const [c, idx] of [...b2j]) if (idx.length > ntest) b2j.delete(c);
  }
  const longest = (alo: number, ahi: number, blo: number, bhi: number): [number, number, number] => {
    let bi = alo;
    let bj = blo;
    let size = 0;
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const next = new Map<number, number>();
      for (const j of b2j.get(a[i]) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        next.set(j, k);
        if (k > size) {
          bi = i - k + 1;
          bj = j - k + 1;
          size = k;
        }
      }
      j2len = next;
    }
    // popular elements were left out of b2j: extend the match over equal neighbours (no junk function)
    while (bi > alo && bj > blo && a[bi - 1] === b[bj - 1]) {
      bi--;
      bj--;
      size++;
    }
    while (bi + size < ahi && bj + size < bhi && a[bi + size] === b[bj + size]) size++;
    return [bi, bj, size];
  };
  let matches = 0;
  const queue: Array<[number, number, number, number]> = [[0, la, 0, lb]];
  while (queue.length) {
    const [alo, ahi, blo, bhi] = queue.pop() as [number, number, number, number];
    const [i, j, k] = longest(alo, ahi, blo, bhi);
    if (k) {
      matches += k;
      if (alo < i && blo < j) queue.push([alo, i, blo, j]);
      if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
    }
  }
  return (2 * matches) / (la + lb);
}

/** Python's round(): halves to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (Math.abs(d - 0.5) < 1e-12) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

/** fuzzywuzzy fuzz.ratio (difflib backend): 0-100. */
export function fuzzRatio(a: string, b: string): number {
  if (a === b) return 100;
  if (a.length === 0 || b.length === 0) return 0;
  return roundHalfEven(100 * sequenceRatio(a, b));
}

/** code_sim_score: the first line without ` # // compared with the gold line. */
export function codeSimScore(prediction: string, gold: string): number {
  const lines = prediction.replace(/^\n+/, '').split('\n');
  const line = lines.find((l) => !l.includes('`') && !l.includes('#') && !l.includes('//')) ?? '';
  return fuzzRatio(line, gold) / 100;
}
