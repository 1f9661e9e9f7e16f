/**
 * Stage 5 (part): the training-loss chart of the model card, from the run's train-log.jsonl.
 * Usage: npx tsx training/loss-chart.mts models/NAME   (writes models/NAME/loss.{svg,png}, and
 * models/NAME/heldout.{svg,png} when the log has held-out evaluations)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart, type Point, writeChart } from '../src/report/charts.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: tsx training/loss-chart.ts MODEL_DIR');
const families = ['text', 'niah_single_1', 'niah_single_3', 'niah_multikey_1', 'niah_multikey_2', 'niah_multiquery', 'vt', 'cwe'];
const data: Point[] = [];
const heldout: Point[] = [];
let heldoutLength = '';
for (const line of readFileSync(join(dir, 'train-log.jsonl'), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  // two kinds of rows: training loss per family, and held-out accuracy per length and family (train.py's evaluate)
  const r = JSON.parse(line) as { step: number; family_ce?: Record<string, number>; eval?: Record<string, Record<string, number>> };
  if (r.family_ce) for (const f of families) if (r.family_ce[f] !== undefined) data.push({ step: r.step, family: f, ce: Math.max(r.family_ce[f], 1e-4) });
  // the longest evaluated length only (the card's target length; fewer lines to tell apart); a run's
  // closing evaluation and the next run's opening one share a step, so the later replaces the earlier
  if (r.eval) {
    const L = Object.keys(r.eval).sort((a, b) => Number(b) - Number(a))[0];
    heldoutLength = L;
    for (const [f, v] of Object.entries(r.eval[L])) {
      const i = heldout.findIndex((p) => p.step === r.step && p.family === f);
      if (i >= 0) heldout.splice(i, 1);
      heldout.push({ step: r.step, family: f, accuracy: v });
    }
  }
}
const files = await writeChart(join(dir, 'loss'), lineChart({
  title: 'Training: cross-entropy of masked tokens per task family (response tokens; text: all)', data, x: 'step', y: 'ce', series: 'family',
  xTitle: 'optimizer step (65,536 tokens each)', yTitle: 'mean CE per masked token (log)', yLog: true, width: 640, height: 340,
}));
console.log(files.join('\n'));
if (heldout.length) {
  const more = await writeChart(join(dir, 'heldout'), lineChart({
    title: `Held-out exact match at ${heldoutLength} tokens during training (train.py evaluate: blocks of 32, threshold 0.9)`, data: heldout, x: 'step', y: 'accuracy', series: 'family',
    xTitle: 'optimizer step', yTitle: 'exact match (%)', yDomain: [0, 100], width: 640, height: 340,
  }));
  console.log(more.join('\n'));
}
