#!/usr/bin/env node
// Summarises ONNX Runtime profiles (WAVEFILTER_ORT_PROFILE=PREFIX writes PREFIX_<date>.json per
// session): per session run, the wall time and the summed node times; per op type and provider,
// how many nodes ran, their summed and mean time. With the CUDA provider a node's time is mostly
// its launch cost on the CPU (kernels run asynchronously), so "node time per run" near "run
// time" says the step is bound by per-node cost, and Memcpy rows show device <-> host copies.
//
//   node bench/gpu/profile-summary.mjs PROFILE.json [--top 25] [--runs 3]
//
// Plain Node, no dependencies (it runs on the GPU machine beside the bundled benchmark).
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
if (!file || args.includes('--help')) {
  process.stdout.write('usage: node bench/gpu/profile-summary.mjs PROFILE.json [--top N] [--runs N]\n');
  process.exit(file ? 0 : 1);
}
const events = JSON.parse(readFileSync(file, 'utf8'));
if (!Array.isArray(events)) throw new Error(`${file}: not an ORT profile (expected a JSON array of events)`);

const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
const nodes = events.filter((e) => e.cat === 'Node' && typeof e.name === 'string' && e.name.endsWith('_kernel_time'));
// control-flow nodes' times include the nodes of their subgraphs (listed too): not summed
const CONTAINERS = new Set(['Loop', 'If', 'Scan']);
const leaf = (n) => !CONTAINERS.has(n.args?.op_name);
const lastRuns = runs.slice(-opt('--runs', 3));
const out = [];
out.push(`${file}: ${runs.length} runs, ${nodes.length} node executions`);
for (const r of lastRuns) {
  const inside = nodes.filter((n) => leaf(n) && n.ts >= r.ts && n.ts <= r.ts + r.dur);
  const sum = inside.reduce((s, n) => s + n.dur, 0);
  out.push(`  run at ${(r.ts / 1000).toFixed(0)} ms: ${(r.dur / 1000).toFixed(1)} ms wall, ${inside.length} nodes (control flow excluded), node time ${(sum / 1000).toFixed(1)} ms`);
}
// per op type and provider, over the last runs
const scope = lastRuns.length ? nodes.filter((n) => lastRuns.some((r) => n.ts >= r.ts && n.ts <= r.ts + r.dur)) : nodes;
const by = new Map();
for (const n of scope) {
  const key = `${n.args?.op_name ?? '?'} @ ${n.args?.provider ?? '?'}`;
  const v = by.get(key) ?? { count: 0, us: 0 };
  v.count++;
  v.us += n.dur;
  by.set(key, v);
}
const rows = [...by].sort((a, b) => b[1].us - a[1].us).slice(0, opt('--top', 25));
out.push(`  op @ provider (last ${lastRuns.length} runs): count, total ms, mean us`);
for (const [k, v] of rows) out.push(`    ${k.padEnd(52)} ${String(v.count).padStart(7)} ${(v.us / 1000).toFixed(2).padStart(9)} ${(v.us / v.count).toFixed(1).padStart(8)}`);
const copies = scope.filter((n) => /Memcpy/.test(n.args?.op_name ?? ''));
if (copies.length) out.push(`  copies: ${copies.length} (${[...new Set(copies.map((n) => n.name.replace(/_kernel_time$/, '')))].slice(0, 8).join(', ')})`);
process.stdout.write(`${out.join('\n')}\n`);
