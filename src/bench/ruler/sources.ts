/**
 * Inputs of the RULER generator that come from outside: word lists (npm), an essay corpus (a
 * public-domain text the user points at, or one installed from Debian), and the SQuAD / HotpotQA
 * files for the QA tasks. No corpus text is committed to the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { WavefilterError } from '../../errors.js';
import type { QaRecord, WordSources } from './generate.js';

const require = createRequire(import.meta.url);

/** friendly-words (MIT) for word keys; an-array-of-english-words (MIT) widens the CWE pool. */
export function loadWordSources(): WordSources {
  const fw = require('friendly-words') as { predicates: string[]; objects: string[] };
  const english = require('an-array-of-english-words') as string[];
  const clean = (a: readonly string[]): string[] => [...new Set(a.filter((w) => /^[a-z]+$/.test(w)))].sort();
  const adjectives = clean(fw.predicates);
  const nouns = clean(fw.objects);
  const pool = [...new Set([...adjectives, ...nouns, ...clean(english).filter((w) => w.length >= 3 && w.length <= 10)])].sort();
  return { adjectives, nouns, pool };
}

/** Public-domain corpora Debian installs (docs §6), tried in order. */
export const DEBIAN_CORPORA: ReadonlyArray<{ id: string; path: string; pkg: string }> = [
  { id: 'jargon-file-4.4.7', path: '/usr/share/doc/jargon-text/jargon.txt.gz', pkg: 'jargon-text' },
  { id: 'devils-dictionary', path: '/usr/share/dictd/devil.dict.dz', pkg: 'dict-devil' },
];

/** Reads a corpus file (plain text, .gz or dictzip .dz), whitespace-normalised. */
export function readCorpus(path: string): string {
  if (!existsSync(path)) throw new WavefilterError('file_not_found', `${path}: corpus file not found`, { file: path });
  const raw = readFileSync(path);
  const text = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return text.replace(/\s+/g, ' ').trim();
}

/** The essay haystack: the user's file, or the first Debian corpus installed. */
export function findEssayCorpus(path?: string): { id: string; text: string } {
  if (path) return { id: path, text: readCorpus(path) };
  for (const c of DEBIAN_CORPORA) if (existsSync(c.path)) return { id: c.id, text: readCorpus(c.path) };
  throw new WavefilterError('file_not_found', `no essay corpus: pass --haystack FILE, or install one (apt-get install ${DEBIAN_CORPORA.map((c) => c.pkg).join(' or ')})`, {
    file: DEBIAN_CORPORA.map((c) => c.path).join(', '),
  });
}

/** SQuAD v2 dev: answerable questions; docs = the gold paragraph, then the article's other paragraphs. */
export function loadSquad(path: string): QaRecord[] {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { data?: Array<{ paragraphs: Array<{ context: string; qas: Array<{ question: string; is_impossible?: boolean; answers: Array<{ text: string }> }> }> }> };
  if (!Array.isArray(json.data)) throw new WavefilterError('invalid_input', `${path}: field data: expected the SQuAD v2 article list`, { file: path, field: 'data' });
  const out: QaRecord[] = [];
  for (const article of json.data) {
    const paras = article.paragraphs.map((p) => p.context);
    for (const p of article.paragraphs)
      for (const qa of p.qas)
        if (!qa.is_impossible && qa.answers.length) out.push({ question: qa.question, answers: [...new Set(qa.answers.map((a) => a.text))], docs: [p.context, ...paras.filter((c) => c !== p.context)] });
  }
  return out;
}

/** HotpotQA dev distractor: docs = "title\n" + sentences, supporting documents first. */
export function loadHotpot(path: string): QaRecord[] {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Array<{ question: string; answer: string; context: Array<[string, string[]]>; supporting_facts?: Array<[string, number]> }>;
  if (!Array.isArray(json)) throw new WavefilterError('invalid_input', `${path}: expected the HotpotQA record list`, { file: path });
  return json.map((r) => {
    const gold = new Set((r.supporting_facts ?? []).map(([t]) => t));
    const docs = [...r.context].sort((a, b) => Number(gold.has(b[0])) - Number(gold.has(a[0]))).map(([t, s]) => `${t}\n${s.join('')}`);
    return { question: r.question, answers: [r.answer], docs };
  });
}
