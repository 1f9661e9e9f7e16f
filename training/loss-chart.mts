/**
 * Stage 5 (part): the training-loss chart of the model card, from the run's train-log.jsonl.
 * Usage: npx tsx training/loss-chart.ts models/NAME   (writes models/NAME/loss.{svg,png})
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart, type Point, writeChart } from '../src/report/charts.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: tsx training/loss-chart.ts MODEL_DIR');
const families = ['text', 'niah_single_1', 'niah_single_3', 'niah_multikey_1', 'niah_multikey_2', 'niah_multiquery', 'vt', 'cwe'];
const data: Point[] = [];
for (const line of readFileSync(join(dir, 'train-log.jsonl'), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const r = JSON.parse(line) as { step: number; family_ce: Record<string, number> };
  for (const f of families) if (r.family_ce[f] !== undefined) data.push({ step: r.step, family: f, ce: Math.max(r.family_ce[f], 1e-4) });
}
const files = await writeChart(join(dir, 'loss'), lineChart({
  title: 'Training: cross-entropy of masked tokens per task family (response tokens; text: all)', data, x: 'step', y: 'ce', series: 'family',
  xTitle: 'optimizer step (65,536 tokens each)', yTitle: 'mean CE per masked token (log)', yLog: true, width: 640, height: 340,
}));
console.log(files.join('\n'));
