/**
 * `npx tsx bench/report.ts RESULTS.json [--chart BASE]`: the markdown table of an
 * `npm run bench -- engine|wavefilter|gpu --json` results file. For gpu results files (several may
 * be given, e.g. LLaDA-8B's and Dream-7B's shapes), `--chart BASE` writes BASE.svg and BASE.png:
 * tokens/s against prompt length per method and system. `--summary` merges gpu results files
 * (given oldest first) per model and decoding rule, each cell from the last run that measured it,
 * with the run (the file's folder) named per row; with `--chart` one panel per model and rule.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { type WaveRow, waveTable } from './wavefilter.js';
import { type EngineRow, engineTable } from './engine.js';
import { type GpuCompareResult, gpuChartPoints, gpuTable, summarizeGpuResults } from './gpu-compare.js';

const args = process.argv.slice(2);
const chartAt = args.indexOf('--chart');
const chart = chartAt >= 0 ? args[chartAt + 1] : undefined;
const summary = args.includes('--summary');
const files = args.filter((a, i) => a !== '--summary' && (chartAt < 0 || (i !== chartAt && i !== chartAt + 1)));
if (!files.length || (chartAt >= 0 && !chart)) {
  process.stderr.write('usage: tsx bench/report.ts RESULTS.json... [--summary] [--chart BASE]\n');
  process.exit(2);
}
const gpu = files.map((f) => [f, JSON.parse(readFileSync(f, 'utf8')) as GpuCompareResult & { bench?: string }] as const);
if (summary) {
  if (!gpu.every(([, r]) => r.bench === 'gpu')) {
    process.stderr.write('--summary: gpu results files only\n');
    process.exit(2);
  }
  const groups = summarizeGpuResults(gpu, (f) => basename(dirname(f)));
  for (const g of groups) process.stdout.write(`### ${g.model}, ${g.rule}\n\n${g.table}\n\n`);
  if (chart) {
    const { lineChart, writeChart } = await import('../src/report/charts.js');
    const xValues = [...new Set(groups.flatMap((g) => g.points.map((d) => Number(d.prompt))))].sort((x, y) => x - y);
    const first = gpu[0]?.[1];
    const subtitle = `${first?.peer?.gpu ?? 'one GPU'}; gen ${first?.options.genLength}, block ${first?.options.blockLength}, ${first?.options.steps} steps; each point from the last run that measured it`;
    const panels = groups.map((g) => lineChart({ title: `${g.model}, ${g.rule}`, data: g.points, x: 'prompt', y: 'tokens/s', series: 'series', xLog: true, xValues, xTitle: 'prompt tokens', yTitle: 'tokens/s' }));
    const written = await writeChart(chart, { title: { text: 'Tokens/s against prompt length', subtitle }, vconcat: panels });
    process.stdout.write(`chart: ${written.join(', ')}\n`);
  }
  process.exit(0);
}
if (gpu.every(([, r]) => r.bench === 'gpu')) {
  for (const [f, r] of gpu) {
    const o = r.options;
    process.stdout.write(`${basename(f)}: ${r.peer?.gpu ?? 'GPU'}, gen ${o.genLength}, block ${o.blockLength}, steps ${o.steps}${o.threshold == null ? '' : `, threshold ${o.threshold}`}, engine ${o.dtype}, peer ${r.peer ? `${r.peer.peer} ${r.peer.dtype}` : `skipped (${r.peerSkipped})`}, filter budget ${o.budget}\n\n${gpuTable(r)}\n\n`);
  }
  if (chart) {
    const { lineChart, writeChart } = await import('../src/report/charts.js');
    const data = gpu.flatMap(([f, r]) => gpuChartPoints(r, basename(r.options.checkpoint?.dir ?? f.replace(/\.json$/, ''))));
    const models = [...new Set(data.map((d) => String(d.model)))];
    const xValues = [...new Set(data.map((d) => Number(d.prompt)))].sort((x, y) => x - y);
    const first = gpu[0]?.[1];
    const panel = (title: string, subtitle?: string) =>
      lineChart({ title, subtitle, data: data.filter((d) => models.length === 1 || d.model === title), x: 'prompt', y: 'tokens/s', series: 'series', xLog: true, xValues, xTitle: 'prompt tokens', yTitle: 'tokens/s' });
    // the decoding rule belongs in the title: the same shape reads differently under a threshold
    const rules = [...new Set(gpu.map(([, r]) => (r.options.threshold == null ? 'fixed schedule' : `threshold ${r.options.threshold}`)))];
    const subtitle = `${first?.peer?.gpu ?? 'one GPU'}; gen ${first?.options.genLength}, block ${first?.options.blockLength}, ${first?.options.steps} steps; ${rules.length === 1 ? rules[0] : `mixed: ${rules.join(' and ')}`}`;
    const written = await writeChart(chart, models.length === 1 ? panel(models[0] as string, subtitle) : { title: { text: 'Tokens/s against prompt length', subtitle }, vconcat: models.map((m) => panel(m)) });
    process.stdout.write(`chart: ${written.join(', ')}\n`);
  }
  process.exit(0);
}
const file = files[0] as string;
const r = JSON.parse(readFileSync(file, 'utf8')) as { bench?: string; genLength: number; blockLength: number; steps: number; budget?: number; rows: unknown[] };
const head = `gen ${r.genLength}, block ${r.blockLength}, steps ${r.steps}${r.budget === undefined ? '' : `, budget ${r.budget}`}`;
const table = r.bench === 'engine' ? engineTable(r.rows as EngineRow[]) : waveTable(r.rows as WaveRow[]);
process.stdout.write(`${head}\n\n${table}\n`);
