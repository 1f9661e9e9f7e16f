/**
 * `npm run bench -- ask`: plainly asked needle questions (src/eval/ask/generate.ts, the eval split)
 * put to the model the way a user puts them: one `wavefilter generate --prompt TEXT [--prefill P]
 * --json` process per prompt (the CLI's defaults unless --generate-args says otherwise), the answer
 * counted right when it contains the planted value. Rows go to OUT/results.jsonl as they finish (a
 * rerun with the same options resumes), the summary to OUT/results.md and OUT/results.json.
 *
 *   npm run bench -- ask --prompt-lengths 2048,4096 --samples 20 --seed 314159 --out reports/ask
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TextCodec } from '../src/checkpoint/tokenizer.js';
import { type AskSample, askCorrect, generateAsk } from '../src/eval/ask/generate.js';
import { wilson } from '../src/eval/intervals.js';
import { rulerPromptIds } from '../src/eval/ruler/prompt.js';
import { findEssayCorpus, loadWordSources } from '../src/eval/ruler/sources.js';

export interface AskOptions {
  readonly model: string;
  readonly lengths: readonly number[];
  readonly samples: number;
  readonly seed: number;
  readonly out: string;
  /** Extra `wavefilter generate` options, e.g. ['--cache', 'dual', '--threshold', '0.9']. */
  readonly generateArgs: readonly string[];
  readonly essayPath?: string;
}

export interface AskRow {
  readonly length: number;
  readonly index: number;
  readonly kind: string;
  readonly wording: 'seen' | 'unseen';
  /** The question before the document, nothing of it after (absent in rows written before 8 Dec: taken from the regenerated sample). */
  readonly questionFirst?: boolean;
  readonly prefill: string;
  readonly value: string;
  readonly tokens: number;
  readonly answer: string;
  readonly correct: boolean;
  readonly ms: number;
}

const CLI = resolve(fileURLToPath(new URL('../src/cli/main.ts', import.meta.url)));

/** One `wavefilter generate` process; resolves with its --json result's text. */
function ask(model: string, s: AskSample, extra: readonly string[]): Promise<{ text: string; ms: number }> {
  const args = ['--import', 'tsx', CLI, 'generate', '--model', model, '--prompt', s.prompt, ...(s.prefill ? ['--prefill', s.prefill] : []), '--json', ...extra];
  return new Promise((done, fail) => {
    const t = performance.now();
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', fail);
    p.on('close', (code) => {
      if (code !== 0) return fail(new Error(`wavefilter generate exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      try {
        done({ text: (JSON.parse(out) as { text: string }).text, ms: performance.now() - t });
      } catch (e) {
        fail(new Error(`wavefilter generate printed no JSON result: ${(e as Error).message}`));
      }
    });
  });
}

export async function runAsk(o: AskOptions, log: (s: string) => void): Promise<AskRow[]> {
  const codec = TextCodec.load(o.model);
  if (!codec) throw new Error(`${o.model}: no tokenizer.json`);
  const count = (prompt: string, prefill: string): number => rulerPromptIds(codec, { input: prompt, answerPrefix: prefill }).length;
  const essay = findEssayCorpus(o.essayPath);
  const words = loadWordSources();
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, 'results.jsonl');
  // the model as a path from here, so a committed report does not carry this machine's folders
  const config = { model: relative(process.cwd(), o.model) || '.', seed: o.seed, generateArgs: o.generateArgs, essay: essay.id };
  const configFile = join(o.out, 'config.json');
  if (existsSync(configFile) && readFileSync(configFile, 'utf8') !== JSON.stringify(config)) throw new Error(`${o.out} holds rows of another configuration (${configFile}); use another --out`);
  writeFileSync(configFile, JSON.stringify(config));
  let rows: AskRow[] = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AskRow) : [];
  const done = new Set(rows.map((r) => `${r.length}/${r.index}`));
  for (const L of o.lengths) {
    const set = generateAsk({ maxSeq: L, samples: o.samples, seed: o.seed, split: 'eval', words, essay: essay.text, count });
    // rows of earlier runs lack the question's position: the prompts are a function of the seed, so it is the sample's
    const first = new Map(set.map((s) => [s.index, s.questionFirst]));
    rows = rows.map((r) => (r.length === L && r.questionFirst === undefined && first.has(r.index) ? { ...r, questionFirst: first.get(r.index) } : r));
    for (const s of set) {
      if (done.has(`${L}/${s.index}`)) continue;
      const r = await ask(o.model, s, o.generateArgs);
      const row: AskRow = { length: L, index: s.index, kind: s.kind, wording: s.wording, questionFirst: s.questionFirst, prefill: s.prefill, value: s.value, tokens: s.length, answer: r.text, correct: askCorrect(r.text, s.value), ms: Math.round(r.ms) };
      appendFileSync(file, JSON.stringify(row) + '\n');
      rows.push(row);
      log(`${L} #${s.index} ${s.kind}/${s.wording}${s.prefill ? ` prefill ${JSON.stringify(s.prefill)}` : ''}: ${row.correct ? 'right' : 'wrong'} (${JSON.stringify(r.text.slice(0, 60))}, expected ${s.value}), ${(r.ms / 1000).toFixed(1)} s\n`);
    }
  }
  const kept = rows.filter((r) => o.lengths.includes(r.length) && r.index < o.samples);
  writeFileSync(join(o.out, 'results.md'), askTable(kept, { ...o, model: config.model }));
  writeFileSync(join(o.out, 'results.json'), JSON.stringify({ ...config, lengths: o.lengths, samples: o.samples, summary: summaryRows(kept) }, null, 2) + '\n');
  return kept;
}

interface Cell {
  readonly label: string;
  readonly length: number;
  readonly right: number;
  readonly n: number;
}

function summaryRows(rows: readonly AskRow[]): Cell[] {
  const cells: Cell[] = [];
  const lengths = [...new Set(rows.map((r) => r.length))].sort((a, b) => a - b);
  const groups: Array<[string, (r: AskRow) => boolean]> = [
    ['all', () => true],
    ['seen wordings', (r) => r.wording === 'seen'],
    ['unseen wordings', (r) => r.wording === 'unseen'],
    ['question first', (r) => r.questionFirst === true],
    ['question last', (r) => r.questionFirst === false],
    ['no prefill', (r) => r.prefill === ''],
    ['with a prefill', (r) => r.prefill !== ''],
    ...[...new Set(rows.map((r) => r.kind))].sort().map((k): [string, (r: AskRow) => boolean] => [`kind: ${k}`, (r) => r.kind === k]),
  ];
  for (const [label, keep] of groups)
    for (const L of lengths) {
      const sel = rows.filter((r) => r.length === L && keep(r));
      if (sel.length) cells.push({ label, length: L, right: sel.filter((r) => r.correct).length, n: sel.length });
    }
  return cells;
}

/** The summary table: accuracy with a Wilson 95% interval per group and length. */
export function askTable(rows: readonly AskRow[], o: Pick<AskOptions, 'seed' | 'generateArgs' | 'model'>): string {
  const cells = summaryRows(rows);
  const lengths = [...new Set(cells.map((c) => c.length))];
  const labels = [...new Set(cells.map((c) => c.label))];
  const fmt = (c: Cell | undefined): string => {
    if (!c) return '-';
    const [lo, hi] = wilson(c.right, c.n);
    return `${((100 * c.right) / c.n).toFixed(0)}% (${c.right}/${c.n}; ${(100 * lo).toFixed(0)}-${(100 * hi).toFixed(0)})`;
  };
  const ms = (L: number): string => {
    const sel = rows.filter((r) => r.length === L);
    return sel.length ? `${(sel.reduce((a, r) => a + r.ms, 0) / sel.length / 1000).toFixed(1)} s` : '-';
  };
  return [
    `# Plainly asked needle questions`,
    '',
    `Model ${o.model}; seed ${o.seed}; \`wavefilter generate --prompt TEXT [--prefill P] --json${o.generateArgs.length ? ' ' + o.generateArgs.join(' ') : ''}\`, one process per prompt. Right = the answer contains the planted value. Intervals: Wilson 95%.`,
    '',
    `| | ${lengths.map((L) => `${L} tokens`).join(' | ')} |`,
    `|---|${lengths.map(() => '---').join('|')}|`,
    ...labels.map((l) => `| ${l} | ${lengths.map((L) => fmt(cells.find((c) => c.label === l && c.length === L))).join(' | ')} |`),
    `| time per prompt (process included) | ${lengths.map(ms).join(' | ')} |`,
    '',
  ].join('\n');
}
