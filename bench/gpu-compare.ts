/**
 * `npm run bench -- gpu`: the engine against the PyTorch peer (LLaDA / Dream with Fast-dLLM's no-cache,
 * prefix and dual loops: bench/gpu/peer.py) on the same GPU, in one run, on the same checkpoint and
 * prompts. The peer runs first, in its own Python process (so its memory is gone before the engine
 * loads), then each engine row in a process of its own (bench/child.ts), so each row's peak device
 * memory is that row's alone: in one process ORT's CUDA arena keeps what earlier rows grew it to (on
 * the H200, WaveFilter after the dual cache at 32K read 130 GB against 74 GB alone). `--in-process`
 * runs the rows on one loaded model instead (an 8B load per row is saved): before each row the
 * previous row's ORT session is released and its own rebuilt, so the memory column stays per row.
 *
 * With the reference peer (the official code is not on the machine), the run first checks that
 * implementation against the official code's recorded outputs (`peer.py --check`): its result is part
 * of the results file, so a table never rests on an unchecked peer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type EngineBenchOptions, type EngineMethod, type EngineRow, type FailedRow, engineHosts, parseEngineMethod, runEngineBench } from './engine.js';
import type { Point } from '../src/report/charts.js';

export interface PeerRow {
  readonly prompt: number;
  readonly method: string;
  readonly totalS: number;
  readonly tokensPerS: number;
  readonly nfe: number;
  readonly msPerStep: number;
  /** torch's max reserved memory in the row plus the CUDA context (MiB) */
  readonly peakDeviceMiB: number;
}

/** A peer row that did not run: the card's memory ran out (torch's OutOfMemoryError); its peak is what was reserved then. */
export interface PeerFailedRow {
  readonly prompt: number;
  readonly method: string;
  readonly error: string;
  readonly peakDeviceMiB: number;
}

export interface PeerResult {
  readonly peer: 'reference' | 'official';
  readonly dtype: string;
  readonly torch: string;
  readonly gpu: string;
  readonly loadS: number;
  readonly rows: readonly (PeerRow | PeerFailedRow)[];
}

export interface PeerCheck {
  readonly passed: boolean;
  readonly check: Readonly<Record<string, { maxLogitDiff: number; cases: number; tokenExact: number }>>;
}

export interface GpuCompareOptions extends EngineBenchOptions {
  readonly peer: 'reference' | 'official' | 'none';
  readonly peerDir?: string;
  readonly peerDtype: 'bf16' | 'fp16' | 'fp32';
}

export interface GpuCompareResult {
  readonly bench: 'gpu';
  readonly options: Omit<GpuCompareOptions, 'shape'>;
  readonly engine: readonly EngineRow[];
  /** engine rows that failed (their errors); the others are in `engine` */
  readonly engineFailed: readonly FailedRow[];
  readonly peer: PeerResult | null;
  /** why the peer did not run, when it did not */
  readonly peerSkipped: string | null;
  readonly peerCheck: PeerCheck | null;
  readonly versions: { readonly node: string; readonly onnxruntime: string | null };
}

function repoFile(rel: string): string {
  return resolve(process.env.WAVEFILTER_REPO ?? process.cwd(), rel);
}

function python(args: readonly string[], log: (s: string) => void): { ok: boolean; out: string } {
  const r = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.stderr) log(r.stderr);
  return { ok: r.status === 0, out: r.stdout ?? '' };
}

/** Why the PyTorch peer cannot run here, or null when it can. */
export function peerUnavailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import torch, safetensors, sys; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (r.error) return 'python3 is not installed';
  if (r.status === 3) return 'PyTorch has no CUDA device here';
  if (r.status !== 0) return 'python3 cannot import torch and safetensors';
  return null;
}

export async function runGpuCompare(o: GpuCompareOptions, log: (s: string) => void): Promise<GpuCompareResult> {
  const dir = o.checkpoint?.dir;
  if (!dir) throw new Error('bench gpu needs --checkpoint (bench/gpu/make_checkpoint.py writes LLaDA-8B\'s and Dream-7B\'s shapes)');
  const peerMethods = [...new Set(o.methods.map((m) => parseEngineMethod(m, engineHosts())).filter((m) => m.filter === null && m.cache !== 'elastic').map((m) => m.cache))];
  let peer: PeerResult | null = null;
  let peerCheck: PeerCheck | null = null;
  let peerSkipped: string | null = o.peer === 'none' ? 'not asked for (--peer none)' : peerUnavailable();
  const script = repoFile('bench/gpu/peer.py');
  if (!peerSkipped && !existsSync(script)) peerSkipped = `${script} not found (run from the repository root or set WAVEFILTER_REPO)`;
  if (!peerSkipped && o.peer === 'reference') {
    log('peer: checking the reference implementation against the official code\'s outputs (test/fixtures)...\n');
    const c = python([script, '--check', repoFile('test/fixtures'), '--json'], log);
    peerCheck = JSON.parse(c.out) as PeerCheck;
    if (!peerCheck.passed) peerSkipped = 'the reference peer failed its check against the official outputs';
  }
  if (!peerSkipped) {
    log(`peer (${o.peer}, ${o.peerDtype}): ${peerMethods.join(', ')}\n`);
    const args = [script, '--checkpoint', dir, '--impl', o.peer, '--prompt-lengths', o.promptLengths.join(','), '--methods', peerMethods.join(','),
      '--gen-length', String(o.genLength), '--block-length', String(o.blockLength), '--steps', String(o.steps), '--dtype', o.peerDtype, '--warmup', String(o.warmup ?? 1), '--warmup-none', String(o.warmupNone ?? o.warmup ?? 1), '--json',
      ...(o.threshold != null ? ['--threshold', String(o.threshold)] : []), ...(o.peerDir ? ['--peer-dir', o.peerDir] : [])];
    const r = python(args, log);
    if (!r.ok) throw new Error('the peer failed (its error is above)');
    peer = JSON.parse(r.out) as PeerResult;
  } else log(`peer skipped: ${peerSkipped}\n`);
  log('engine:\n');
  const engineFailed: FailedRow[] = [];
  // auto: what a user gets on the GPU (the generation program where it applies, else the block program)
  const engine = await runEngineBench({ ...o, executors: ['auto'] }, log, engineFailed);
  let onnxruntime: string | null = null;
  try {
    const ort = (await import('onnxruntime-node')) as { env?: { versions?: { common?: string } } };
    onnxruntime = ort.env?.versions?.common ?? null;
  } catch {
    onnxruntime = null;
  }
  const { shape: _s, ...options } = o;
  return { bench: 'gpu', options, engine, engineFailed, peer, peerSkipped, peerCheck, versions: { node: process.version, onnxruntime } };
}

const f2 = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(2));
const f0 = (v: number | null | undefined): string => (v == null ? '-' : v.toFixed(0));

/**
 * One row per prompt and method: the engine beside the peer. For a filtered method the peer column
 * shows the peer's run of the same host (the baseline the filter must beat).
 */
const GPU_TABLE_HEAD = [
  `| prompt | method | engine tokens/s | peer tokens/s | engine / peer | engine ms/step | peer ms/step | engine peak MiB | peer peak MiB |`,
  '|---|---|---|---|---|---|---|---|---|',
];

export function gpuTable(r: GpuCompareResult): string {
  return [...GPU_TABLE_HEAD, ...r.engine.map((e) => gpuTableRow(e, r))].join('\n');
}

/** One engine row beside the peer's row of its host from the same run (`r`). */
function gpuTableRow(e: EngineRow, r: GpuCompareResult): string {
  const parsed = parseEngineMethod(e.method, engineHosts());
  const host = parsed.cache;
  // a filtered row names the prompt refresh it ran and whether every block ran in one generation program
  const label = parsed.filter ? `${parsed.promptRefresh ? e.method : `${e.method} (${e.promptRefresh})`}${e.executor === 'generation' ? ', one run' : ''}` : e.method;
  const found = r.peer?.rows.find((x) => x.prompt === e.prompt && x.method === host);
  const failed = found && 'error' in found ? found : undefined;
  const p = found && !('error' in found) ? found : undefined;
  // a filtered method's ratio is against the peer's run of its host; its peer columns stay empty
  const own = host === e.method ? p : undefined;
  const vs = p ? `${(e.tokensPerS / p.tokensPerS).toFixed(2)}x${own ? '' : ` (vs peer ${host})`}` : failed ? `peer ${host}: ${failed.error}` : '-';
  const peerPeak = host === e.method ? (own?.peakDeviceMiB ?? failed?.peakDeviceMiB) : undefined;
  return `| ${e.prompt} | ${label} | ${f2(e.tokensPerS)} | ${f2(own?.tokensPerS)} | ${vs} | ${e.msPerStep.toFixed(1)} | ${own?.msPerStep.toFixed(1) ?? '-'} | ${f0(e.peakDeviceMiB)} | ${f0(peerPeak)} |`;
}

/** Several runs' results of one model and decoding rule, merged: each cell (prompt, method) from the last run that measured it. */
export interface GpuSummary {
  readonly model: string;
  /** 'fixed schedule' or 'threshold X' */
  readonly rule: string;
  readonly table: string;
  readonly points: Point[];
}

const METHOD_ORDER = ['none', 'prefix', 'dual'];

/**
 * Merges results files (given oldest first) per model and decoding rule. An engine row keeps the
 * peer row of its own run for its ratio (never a ratio across runs); a later run that measured the
 * same cell replaces it, and the table names the run (`label(file)`) each row came from.
 */
export function summarizeGpuResults(files: readonly (readonly [string, GpuCompareResult])[], label: (file: string) => string): GpuSummary[] {
  const groups = new Map<string, { model: string; rule: string; engine: Map<string, [EngineRow, GpuCompareResult, string]>; peer: Map<string, [PeerRow, string]> }>();
  for (const [file, r] of files) {
    const model = (r.options.checkpoint?.dir ?? file).split('/').filter(Boolean).pop() ?? file;
    const rule = r.options.threshold == null ? 'fixed schedule' : `threshold ${r.options.threshold}`;
    const key = `${model}|${rule}`;
    const g = groups.get(key) ?? { model, rule, engine: new Map(), peer: new Map() };
    groups.set(key, g);
    for (const e of r.engine) g.engine.set(`${e.prompt}|${e.method}`, [e, r, file]);
    for (const p of r.peer?.rows ?? []) if (!('error' in p)) g.peer.set(`${p.prompt}|${p.method}`, [p, r.peer?.peer ?? 'peer']);
  }
  const rank = (m: string) => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : METHOD_ORDER.length);
  return [...groups.values()].map((g) => {
    const cells = [...g.engine.values()].sort(([a], [b]) => a.prompt - b.prompt || rank(a.method) - rank(b.method) || a.method.localeCompare(b.method));
    const head = [`${GPU_TABLE_HEAD[0]} run |`, `${GPU_TABLE_HEAD[1]}---|`];
    const table = [...head, ...cells.map(([e, r, file]) => `${gpuTableRow(e, r)} ${label(file)} |`)].join('\n');
    const points: Point[] = cells.map(([e]) => ({ prompt: e.prompt, 'tokens/s': Number(e.tokensPerS.toFixed(3)), series: `wavefilter ${e.method}`, model: g.model }));
    for (const [p, peer] of g.peer.values()) points.push({ prompt: p.prompt, 'tokens/s': Number(p.tokensPerS.toFixed(3)), series: `PyTorch peer (${peer}) ${p.method}`, model: g.model });
    return { model: g.model, rule: g.rule, table, points };
  });
}

/** Points for a tokens/s-against-prompt-length chart: one series per system and method. */
export function gpuChartPoints(r: GpuCompareResult, model: string): Point[] {
  const pts: Point[] = r.engine.map((e) => ({ prompt: e.prompt, 'tokens/s': Number(e.tokensPerS.toFixed(3)), series: `wavefilter ${e.method}`, model }));
  for (const p of r.peer?.rows ?? []) if (!('error' in p)) pts.push({ prompt: p.prompt, 'tokens/s': Number(p.tokensPerS.toFixed(3)), series: `PyTorch peer (${r.peer?.peer}) ${p.method}`, model });
  return pts;
}

export const DEFAULT_GPU_METHODS: readonly EngineMethod[] = ['none', 'prefix', 'dual', 'dual+wf-practical'];
