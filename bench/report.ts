/**
 * `npx tsx bench/report.ts reports/bench-wavefilter.json`: the markdown table of a
 * `npm run bench -- wavefilter --json` results file.
 */
import { readFileSync } from 'node:fs';
import { type WaveRow, waveTable } from './wavefilter.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tsx bench/report.ts RESULTS.json\n');
  process.exit(2);
}
const r = JSON.parse(readFileSync(file, 'utf8')) as { genLength: number; blockLength: number; steps: number; budget: number; rows: WaveRow[] };
process.stdout.write(`gen ${r.genLength}, block ${r.blockLength}, steps ${r.steps}, budget ${r.budget}\n\n${waveTable(r.rows)}\n`);
