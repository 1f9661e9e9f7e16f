// Charts render headless to SVG and PNG, and the RULER charts come out for the data they describe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heatmap, lineChart, renderChart } from '../../src/report/charts.js';
import { writeRulerCharts } from '../../src/eval/ruler/charts.js';
import type { MethodSpec } from '../../src/eval/methods.js';
import { type SampleResult, type SummaryRow, perMethod, summarize } from '../../src/eval/ruler/run.js';

const PNG = [0x89, 0x50, 0x4e, 0x47];

test('a line chart and a heatmap render to SVG (with their titles) and PNG', async () => {
  const line = await renderChart(lineChart({ title: 'Budget sweep', data: [{ m: 'a', x: 0.1, y: 50 }, { m: 'a', x: 0.2, y: 70 }], x: 'x', y: 'y', series: 'm' }));
  assert.match(line.svg, /^<svg/);
  assert.match(line.svg, /Budget sweep/);
  assert.deepEqual([...line.png.subarray(0, 4)], PNG);
  const heat = await renderChart(heatmap({ title: 'Needles', data: [{ d: 0, L: 1024, s: 100 }, { d: 50, L: 1024, s: 0 }], x: 'd', y: 'L', value: 's' }));
  assert.match(heat.svg, /Needles/);
  assert.deepEqual([...heat.png.subarray(0, 4)], PNG);
});

test('RULER charts: accuracy against budget per length, throughput against length; the host is flat', async () => {
  const methods: MethodSpec[] = [
    { name: 'dual', cache: 'dual', filter: 'none', budget: null, preset: null },
    { name: 'dual+snapkv@0.1', cache: 'dual', filter: 'snapkv', budget: 0.1, preset: null },
    { name: 'dual+snapkv@0.3', cache: 'dual', filter: 'snapkv', budget: 0.3, preset: null },
  ];
  const row = (method: string, length: number, task: string, accuracy: number): SummaryRow => ({ method, length, task, accuracy, samples: 2, tokens_per_s: 1, runtime_s: 10, generated_tokens: 10, nfe: 4 });
  const rows = [row('dual', 4096, 'vt', 80), row('dual', 4096, 'niah_single_1', 100), row('dual+snapkv@0.1', 4096, 'vt', 40), row('dual+snapkv@0.1', 4096, 'niah_single_1', 60),
    row('dual+snapkv@0.3', 4096, 'vt', 60), row('dual+snapkv@0.3', 4096, 'niah_single_1', 80), row('dual', 8192, 'vt', 50)];
  const agg = perMethod(rows);
  assert.equal(agg.find((a) => a.method === 'dual' && a.length === 4096)?.accuracy, 90);
  assert.equal(agg.find((a) => a.method === 'dual+snapkv@0.1')?.runtime_s, 20);
  const dir = mkdtempSync(join(tmpdir(), 'wf-charts-'));
  const files = await writeRulerCharts(dir, methods, rows);
  for (const f of ['accuracy-vs-budget-4096.svg', 'accuracy-vs-budget-4096.png', 'accuracy-vs-budget-8192.svg', 'throughput-vs-length.svg', 'throughput-vs-length.png'])
    assert.ok(existsSync(join(dir, f)) && files.includes(join(dir, f)), f);
  const svg = readFileSync(join(dir, 'accuracy-vs-budget-4096.svg'), 'utf8');
  assert.match(svg, /dual \(no filter\): 90/, 'the host is a labelled horizontal line at its accuracy');
  assert.match(svg, />10%</, 'budget ticks read as percentages at the budgets compared');
  assert.doesNotMatch(svg, /0\.1000/);
  assert.match(svg, /dual\+snapkv/);
  assert.ok(!existsSync(join(dir, 'paired-differences-4096.svg')), 'rows without paired scores draw no differences');
});

test('RULER charts: the paired differences, each filter against its host and WaveFilter against the best baseline, with their intervals', async () => {
  const sample = (method: string, index: number, score: number): SampleResult => ({
    method, task: 'vt', length: 4096, index, prediction: '', references: ['x'], score, prompt_tokens: 10, generated_tokens: 2, nfe: 4, wall_ms: 100, input_hash: 'h',
  });
  const methods: MethodSpec[] = [
    { name: 'dual', cache: 'dual', filter: 'none', budget: null, preset: null },
    { name: 'dual+wavefilter-practical@0.1', cache: 'dual', filter: 'wavefilter', budget: 0.1, preset: 'practical' },
    { name: 'dual+h2o@0.1', cache: 'dual', filter: 'h2o', budget: 0.1, preset: null },
  ];
  const scores: Record<string, number[]> = { dual: [1, 1, 1, 0], 'dual+wavefilter-practical@0.1': [1, 1, 0, 0], 'dual+h2o@0.1': [1, 0, 0, 0] };
  const rows = summarize(Object.entries(scores).flatMap(([m, s]) => s.map((x, i) => sample(m, i, x))));
  const dir = mkdtempSync(join(tmpdir(), 'wf-charts-'));
  const files = await writeRulerCharts(dir, methods, rows, { png: false });
  assert.ok(files.includes(join(dir, 'paired-differences-4096.svg')));
  const svg = readFileSync(join(dir, 'paired-differences-4096.svg'), 'utf8');
  for (const label of ['dual+wavefilter-practical@0.1 - host', 'dual+h2o@0.1 - host', 'dual+wavefilter-practical@0.1 - dual+h2o@0.1'])
    assert.ok(svg.includes(label.replace(/&/g, '&amp;')), label);
  assert.doesNotMatch(svg, /dual - host/, 'the host has no difference from itself');
});
