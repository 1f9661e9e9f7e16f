/**
 * Inputs of the RULER generator that come from outside: word lists (npm), an essay corpus (a
 * public-domain text the user points at, or one installed from Debian), and the SQuAD / HotpotQA
 * files for the QA tasks. No corpus text is committed to the repository.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { MiB, readUserJson, readUserMaybeGzip } from '../../files.js';
import { WavefilterError } from '../../errors.js';
import { requireOptional } from '../../optional.js';
import type { QaRecord, WordSources } from './generate.js';

const require = createRequire(import.meta.url);

/** friendly-words (MIT) for word keys; an-array-of-english-words (MIT) widens the CWE pool. */
export function loadWordSources(): WordSources {
  const fw = requireOptional<{ predicates: string[]; objects: string[] }>(require, 'friendly-words', 'RULER and needle prompts');
  const english = requireOptional<string[]>(require, 'an-array-of-english-words', 'RULER prompts');
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

/** Corpora are books, not gigabytes; both the file and its decompressed text are capped. */
const MAX_CORPUS_BYTES = 256 * MiB;
const MAX_CORPUS_TEXT_BYTES = 512 * MiB;
const MAX_QA_BYTES = 1024 * MiB;

/** Reads a corpus file (plain text, .gz or dictzip .dz), whitespace-normalised. */
export function readCorpus(path: string): string {
  const text = readUserMaybeGzip(path, { what: 'corpus', maxBytes: MAX_CORPUS_BYTES, maxTextBytes: MAX_CORPUS_TEXT_BYTES });
  const out = text.replace(/\s+/g, ' ').trim();
  if (out.length === 0) throw new WavefilterError('invalid_input', `${path}: the corpus is empty`, { file: path });
  return out;
}

/** The essay haystack: the user's file, or the first Debian corpus installed. */
export function findEssayCorpus(path?: string): { id: string; text: string } {
  if (path) return { id: path, text: readCorpus(path) };
  for (const c of DEBIAN_CORPORA) if (existsSync(c.path)) return { id: c.id, text: readCorpus(c.path) };
  throw new WavefilterError('file_not_found', `no essay corpus: pass --haystack FILE, or install one (apt-get install ${DEBIAN_CORPORA.map((c) => c.pkg).join(' or ')})`, {
    file: DEBIAN_CORPORA.map((c) => c.path).join(', '),
  });
}

/** A JSON file validated by `schema`; an error names file and field path. */
function readValidated<T>(path: string, what: string, schema: z.ZodType<T>): T {
  const raw = readUserJson(path, { what, maxBytes: MAX_QA_BYTES });
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') || '(root)';
  throw new WavefilterError('invalid_input', `${path}: field ${field}: ${issue.message} (expected the ${what} layout)`, { file: path, field });
}

const squadSchema = z.object({
  data: z.array(z.object({
    paragraphs: z.array(z.object({
      context: z.string(),
      qas: z.array(z.object({ question: z.string(), is_impossible: z.boolean().optional(), answers: z.array(z.object({ text: z.string() })) })),
    })),
  })),
});

/** SQuAD v2 dev: answerable questions; docs = the gold paragraph, then the article's other paragraphs. */
export function loadSquad(path: string): QaRecord[] {
  const json = readValidated(path, 'SQuAD v2', squadSchema);
  const out: QaRecord[] = [];
  for (const article of json.data) {
    const paras = article.paragraphs.map((p) => p.context);
    for (const p of article.paragraphs)
      for (const qa of p.qas)
        if (!qa.is_impossible && qa.answers.length) out.push({ question: qa.question, answers: [...new Set(qa.answers.map((a) => a.text))], docs: [p.context, ...paras.filter((c) => c !== p.context)] });
  }
  if (out.length === 0) throw new WavefilterError('invalid_input', `${path}: no answerable questions`, { file: path });
  return out;
}

const hotpotSchema = z.array(z.object({
  question: z.string(),
  answer: z.string(),
  context: z.array(z.tuple([z.string(), z.array(z.string())])),
  supporting_facts: z.array(z.tuple([z.string(), z.number().int()])).optional(),
}));

/** HotpotQA dev distractor: docs = "title\n" + sentences, supporting documents first. */
export function loadHotpot(path: string): QaRecord[] {
  const json = readValidated(path, 'HotpotQA', hotpotSchema);
  if (json.length === 0) throw new WavefilterError('invalid_input', `${path}: no records`, { file: path });
  return json.map((r) => {
    const gold = new Set((r.supporting_facts ?? []).map(([t]) => t));
    const docs = [...r.context].sort((a, b) => Number(gold.has(b[0])) - Number(gold.has(a[0]))).map(([t, s]) => `${t}\n${s.join('')}`);
    return { question: r.question, answers: [r.answer], docs };
  });
}
