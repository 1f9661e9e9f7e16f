/**
 * The resumable results file every benchmark runner writes: one JSON line per finished prompt,
 * appended as it finishes, so a crash or Ctrl-C loses nothing; on a rerun the finished prompts are
 * read back (a line cut by a crash is dropped, and that prompt runs again).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class ResultsFile<T> {
  readonly path: string;
  private readonly done = new Map<string, T>();

  constructor(dir: string, private readonly key: (r: T) => string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'results.jsonl');
    if (!existsSync(this.path)) return;
    const text = readFileSync(this.path, 'utf8');
    const kept: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as T;
        this.done.set(key(r), r);
        kept.push(line);
      } catch {
        // a line cut by a crash
      }
    }
    const clean = kept.map((l) => `${l}\n`).join('');
    if (clean !== text) writeFileSync(this.path, clean);
  }

  /** The stored result under a key, if that prompt already finished. */
  get(key: string): T | undefined {
    return this.done.get(key);
  }

  append(r: T): void {
    appendFileSync(this.path, `${JSON.stringify(r)}\n`);
    this.done.set(this.key(r), r);
  }
}
