/**
 * One benchmark configuration in its own process: load the checkpoint, run one generate() on a
 * synthetic prompt, print one JSON line (timings, NFE, peak RSS, a hash of the generated ids). A
 * process per configuration is what makes the peak RSS column mean something (ONNX Runtime's
 * arenas and V8's heap never shrink back within a process) and keeps one configuration's warm
 * caches out of the next one's time.
 *
 *   node --import tsx bench/child.ts '<ChildConfig as JSON>'
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FilterOptions, GenerateOptions, LoadOptions, Timings } from '../src/index.js';

export interface ChildConfig {
  readonly dir: string;
  readonly load: Pick<LoadOptions, 'threads' | 'device' | 'executor'>;
  readonly promptLength: number;
  /** ids are drawn from [0, vocab - 2): the bench checkpoints keep the last two for mask and EOS */
  readonly vocab: number;
  readonly options: GenerateOptions & FilterOptions;
}

export interface ChildResult {
  readonly nfe: number;
  readonly timings: Timings;
  readonly loadMs: number;
  /** Peak resident set size of the process (MiB): weights, ORT arenas, K/V, V8 heap. */
  readonly peakRssMiB: number;
  /** sha256 of the generated ids (first 12 hex): executors that agree print the same hash. */
  readonly idsHash: string;
}

export function benchPrompt(length: number, vocab: number): number[] {
  return Array.from({ length }, (_, i) => (i * 7919 + 13) % (vocab - 2));
}

/** Runs `cfg` in a child process and returns its result; the child's stderr passes through. */
export function runChild(cfg: ChildConfig): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', self, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`benchmark child exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as ChildResult);
      } catch {
        reject(new Error(`benchmark child printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

async function main(arg: string): Promise<void> {
  const cfg = JSON.parse(arg) as ChildConfig;
  const { loadModel } = await import('../src/index.js');
  const t0 = performance.now();
  const model = await loadModel(cfg.dir, cfg.load);
  const loadMs = performance.now() - t0;
  const prompt = benchPrompt(cfg.promptLength, cfg.vocab);
  const r = await model.generate({ inputIds: prompt }, cfg.options);
  await model.dispose();
  const result: ChildResult = {
    nfe: r.nfe, timings: r.timings, loadMs, peakRssMiB: process.resourceUsage().maxRSS / 1024,
    idsHash: createHash('sha256').update(JSON.stringify(r.generatedIds)).digest('hex').slice(0, 12),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv[2] ?? '').catch((e: unknown) => {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
