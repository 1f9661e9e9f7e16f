// bench/gpu-compare.ts summarizeGpuResults: several GPU runs merged per model and rule, each cell
// from the last run that measured it, and every ratio against the peer of the row's own run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type GpuCompareResult, summarizeGpuResults } from '../../bench/gpu-compare.js';

function run(dir: string, threshold: number | undefined, engine: [number, string, number][], peer: [number, string, number][]): GpuCompareResult {
  return {
    bench: 'gpu',
    options: { checkpoint: { dir }, threshold, genLength: 64, blockLength: 32, steps: 64 },
    engine: engine.map(([prompt, method, tokensPerS]) => ({ prompt, method, tokensPerS, msPerStep: 1000 / tokensPerS, peakDeviceMiB: 100, promptRefresh: 'first-block', executor: 'block' })),
    engineFailed: [],
    peer: { peer: 'reference', dtype: 'bf16', torch: 'x', gpu: 'G', loadS: 1, rows: peer.map(([prompt, method, tokensPerS]) => ({ prompt, method, tokensPerS, totalS: 1, nfe: 64, msPerStep: 1000 / tokensPerS, peakDeviceMiB: 200 })) },
    peerSkipped: null,
    peerCheck: null,
    versions: { node: 'v20', onnxruntime: '1.29.0' },
  } as unknown as GpuCompareResult;
}

test('the GPU summary takes each cell from the last run and its ratio from that run only', () => {
  const older = run('/tmp/llada-8b', undefined, [[4096, 'dual', 30], [4096, 'dual+wf-practical', 33], [8192, 'dual', 20]], [[4096, 'dual', 10], [8192, 'dual', 10]]);
  // the newer run re-measures the dual cache at 4K with a slower peer, and has no peer row for WaveFilter's host at 8K
  const newer = run('/tmp/llada-8b', undefined, [[4096, 'dual', 40], [8192, 'dual+wf-practical', 50]], [[4096, 'dual', 20]]);
  const threshold = run('/tmp/llada-8b', 0.9, [[4096, 'dual', 25]], [[4096, 'dual', 5]]);
  const groups = summarizeGpuResults([['r1/a.json', older], ['r2/b.json', newer], ['r2/c.json', threshold]], (f) => f.split('/')[0] as string);
  assert.deepEqual(groups.map((g) => `${g.model}, ${g.rule}`), ['llada-8b, fixed schedule', 'llada-8b, threshold 0.9']);
  const rows = groups[0]?.table.split('\n').slice(2) ?? [];
  assert.equal(rows.length, 4);
  const cells = rows.map((r) => r.split('|').map((c) => c.trim()).filter(Boolean));
  // sorted by prompt, the hosts first; the 4K dual cell is the newer run's, against the newer peer (40 / 20)
  assert.deepEqual(cells.map((c) => [c[0], c[1], c[2], c[4], c.at(-1)]), [
    ['4096', 'dual', '40.00', '2.00x', 'r2'],
    ['4096', 'dual+wf-practical (first-block)', '33.00', '3.30x (vs peer dual)', 'r1'], // its own run's peer (10), not the newer 20
    ['8192', 'dual', '20.00', '2.00x', 'r1'],
    ['8192', 'dual+wf-practical (first-block)', '50.00', '-', 'r2'], // no peer dual at 8K in its run: no ratio across runs
  ]);
  assert.equal(groups[1]?.table.split('\n').length, 3);
  // the chart's peer points: the last run's per cell
  const peer4k = groups[0]?.points.filter((p) => p.series === 'PyTorch peer (reference) dual' && p.prompt === 4096);
  assert.deepEqual(peer4k?.map((p) => p['tokens/s']), [20]);
});
