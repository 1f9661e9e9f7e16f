/**
 * `npx tsx bench/report.ts reports/bench-wavefilter.json`: the markdown table of an
 * `npm run bench -- engine|wavefilter --json` results file.
 */
import { readFileSync } from 'node:fs';
import { type WaveRow, waveTable } from './wavefilter.js';
import { type EngineRow, engineTable } from './engine.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: tsx bench/report.ts RESULTS.json\n');
  process.exit(2);
}
const r = JSON.parse(readFileSync(file, 'utf8')) as { bench?: string; genLength: number; blockLength: number; steps: number; budget?: number; rows: unknown[] };
const head = `gen ${r.genLength}, block ${r.blockLength}, steps ${r.steps}${r.budget === undefined ? '' : `, budget ${r.budget}`}`;
const table = r.bench === 'engine' ? engineTable(r.rows as EngineRow[]) : waveTable(r.rows as WaveRow[]);
process.stdout.write(`${head}\n\n${table}\n`);
