/**
 * A diagnostic of `npm run bench -- ask` results: each wrong answer asked again with the planted
 * value's first token appended to the prefill. If the rest of the value follows, the answer's start
 * is what failed; if the answer goes on with another fact, which fact the model reads is.
 *
 *   npx tsx bench/ask-first-token.ts RESULTS_DIR SEED LENGTHS OUT.jsonl
 *   npx tsx bench/ask-first-token.ts reports/ask-v4 314159 2048 reports/ask-v4/first-token.jsonl
 *
 * RESULTS_DIR holds the bench's results.jsonl and config.json (the model, the seed's prompts are
 * regenerated from them); one `wavefilter generate` process per wrong row, as the bench asks.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TextCodec } from '../src/checkpoint/tokenizer.js';
import { askCorrect, generateAsk } from '../src/eval/ask/generate.js';
import { rulerPromptIds } from '../src/eval/ruler/prompt.js';
import { findEssayCorpus, loadWordSources } from '../src/eval/ruler/sources.js';

const [dir, seedArg, lengthsArg, out] = process.argv.slice(2);
if (!dir || !seedArg || !lengthsArg || !out) {
  console.error('usage: npx tsx bench/ask-first-token.ts RESULTS_DIR SEED LENGTHS OUT.jsonl');
  process.exit(2);
}
const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { model: string; essay: string };
const codec = TextCodec.load(config.model);
if (!codec) throw new Error(`${config.model}: no tokenizer.json`);
const count = (prompt: string, prefill: string): number => rulerPromptIds(codec, { input: prompt, answerPrefix: prefill }).length;
const essay = findEssayCorpus(undefined);
if (essay.id !== config.essay) throw new Error(`${dir} was made with the essay corpus ${config.essay}; this machine has ${essay.id}`);
const words = loadWordSources();
const rows = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { length: number; index: number; answer: string; correct: boolean });
for (const L of lengthsArg.split(',').map(Number)) {
  const samples = Math.max(...rows.filter((r) => r.length === L).map((r) => r.index)) + 1;
  for (const s of generateAsk({ maxSeq: L, samples, seed: Number(seedArg), split: 'eval', words, essay: essay.text, count })) {
    const r = rows.find((x) => x.length === L && x.index === s.index);
    if (!r || r.correct) continue;
    const head = codec.decode([codec.encodeTrusted(s.answer)[0]]);
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'generate', '--model', config.model, '--prompt', s.prompt, '--prefill', s.prefill + head, '--json'];
    const p = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (p.status !== 0) throw new Error(`wavefilter generate exited with ${p.status}: ${p.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const text = (JSON.parse(p.stdout) as { text: string }).text;
    const row = { length: L, index: s.index, value: s.value, before: r.answer, head, answer: head + text, correct: askCorrect(head + text, s.value) };
    console.log(JSON.stringify(row));
    appendFileSync(out, JSON.stringify(row) + '\n');
  }
}
codec.dispose();
