/**
 * The resumable results file every benchmark runner writes: one JSON line per finished prompt,
 * appended as it finishes, so a crash or Ctrl-C loses nothing. On a rerun into the same folder a
 * stored row is trusted only when it validates against the runner's schema (types and ranges) and
 * carries the hash of the exact work it claims to have done (model, method, prompt ids, decoding
 * settings: `inputHash` below). Anything else (a line cut by a crash, a hand-edited score, a row of
 * another model or prompt) runs again. On open the file is rewritten with its valid rows only
 * (nothing valid is lost: the dropped lines were unreadable or invalid), and a row redone for a key
 * replaces the stale one, so that the file always holds one row per prompt and method.
 *
 * Where results go: `wavefilter bench ...` without `--out` writes to a new folder
 * (`newResultsDir`), so a run can never overwrite an existing report; resuming happens only into a
 * folder the user names.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { WavefilterError } from '../errors.js';
import { MiB, readUserText } from '../files.js';

/** results.jsonl of a long run is a few MB; a file past this is not ours. */
const MAX_RESULTS_BYTES = 512 * MiB;

/** The hash a row carries of the work that produced it (sha256 over a canonical JSON). */
export function inputHash(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).digest('hex');
}

export interface HashedRow {
  readonly input_hash: string;
}

/** What every evaluation row records about its generation: sizes, NFE, time, and its input hash. */
export interface RunFields extends HashedRow {
  readonly prompt_tokens: number;
  readonly generated_tokens: number;
  readonly nfe: number;
  readonly wall_ms: number;
}

const count = z.number().int().nonnegative();
/** The zod fields of RunFields, spread into each harness's row schema. */
export const runFieldsSchema = {
  prompt_tokens: count, generated_tokens: count, nfe: count, wall_ms: z.number().nonnegative().finite(), input_hash: z.string().regex(/^[0-9a-f]{64}$/),
};

export class ResultsFile<T extends HashedRow> {
  readonly path: string;
  /** Lines that did not validate (cut by a crash, edited, from an older version): they run again. */
  readonly dropped: number = 0;
  private readonly done = new Map<string, T>();

  constructor(dir: string, private readonly key: (r: T) => string, schema: z.ZodType<T>) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'results.jsonl');
    if (!existsSync(this.path)) return;
    let dropped = 0;
    for (const row of readJsonLines(this.path, schema, 'skip')) {
      if (row === null) dropped++;
      else this.done.set(key(row), row);
    }
    this.dropped = dropped;
    if (dropped) this.rewrite();
  }

  private rewrite(): void {
    writeFileSync(this.path, [...this.done.values()].map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  /** The stored result under a key, if that prompt already finished with exactly this input. */
  get(key: string, hash: string): T | undefined {
    const r = this.done.get(key);
    return r && r.input_hash === hash ? r : undefined;
  }

  append(r: T): void {
    const stale = this.done.has(this.key(r));
    this.done.set(this.key(r), r);
    if (stale) this.rewrite();
    else appendFileSync(this.path, `${JSON.stringify(r)}\n`);
  }
}

/**
 * Rows of a JSON-lines file validated by `schema`. `skip`: an invalid line yields null (resume);
 * `strict`: it is an `invalid_input` error naming file:line:field (merging reports).
 */
export function readJsonLines<T>(path: string, schema: z.ZodType<T>, mode: 'skip' | 'strict'): Array<T | null> {
  const text = readUserText(path, { what: 'results file', maxBytes: MAX_RESULTS_BYTES });
  const out: Array<T | null> = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      if (mode === 'strict') throw new WavefilterError('invalid_input', `${path}:${i + 1}: not a JSON line`, { file: path, line: i + 1 });
      out.push(null);
      return;
    }
    const r = schema.safeParse(raw);
    if (r.success) out.push(r.data);
    else if (mode === 'strict') {
      const issue = r.error.issues[0];
      throw new WavefilterError('invalid_input', `${path}:${i + 1}: field ${issue.path.join('.') || '(row)'}: ${issue.message}`, { file: path, line: i + 1, field: issue.path.join('.') });
    } else out.push(null);
  });
  return out;
}

/**
 * A new results folder for a run without `--out`: wavefilter-results/<bench>-<UTC time>[-n] under
 * the working folder, created exclusively (never an existing folder).
 */
export function newResultsDir(bench: string, root = 'wavefilter-results'): string {
  mkdirSync(root, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  for (let n = 1; n < 1000; n++) {
    const dir = join(root, `${bench}-${stamp}${n > 1 ? `-${n}` : ''}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new WavefilterError('results_conflict', `${root}: could not create a new results folder for ${bench}`, { file: root });
}
