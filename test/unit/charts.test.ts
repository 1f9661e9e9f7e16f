// Charts render headless to SVG and PNG, and the RULER charts come out for the data they describe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heatmap, lineChart, renderChart } from '../../src/report/charts.js';
import { writeRulerCharts } from '../../src/eval/ruler/charts.js';
import type { MethodSpec } from '../../src/eval/methods.js';
import { type SummaryRow, perMethod } from '../../src/eval/ruler/run.js';

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
});
