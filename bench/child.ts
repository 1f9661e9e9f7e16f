/**
 * One benchmark configuration in its own process: load the checkpoint, run one generate() on a
 * synthetic prompt, print one JSON line (timings, NFE, peak RSS, a hash of the generated ids). A
 * process per configuration is what makes the peak RSS column mean something (ONNX Runtime's
 * arenas and V8's heap never shrink back within a process) and keeps one configuration's warm
 * caches out of the next one's time.
 *
 *   node --import tsx bench/child.ts '<ChildConfig as JSON>'
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { DiffusionModel, FilterOptions, GenerateOptions, LoadOptions, Timings } from '../src/index.js';

export interface ChildConfig {
  readonly dir: string;
  readonly load: Pick<LoadOptions, 'threads' | 'device' | 'executor' | 'dtype' | 'graph'>;
  readonly promptLength: number;
  /** ids are drawn from [0, vocab - 2): the bench checkpoints keep the last two for mask and EOS */
  readonly vocab: number;
  readonly options: GenerateOptions & FilterOptions;
  /**
   * Untimed generations of one block (same prompt and options) before the timed one: the first
   * run of a session pays one-time costs (CUDA module loading and cuBLAS autotuning, arena growth)
   * that a server pays once, not per request.
   */
  readonly warmup?: number;
  /** Elastic-Cache (model.generateElastic: window 16, the threshold or one token an iteration, no EOS cut-off) instead of options.cache. */
  readonly elastic?: boolean;
}

export interface ChildResult {
  readonly nfe: number;
  readonly timings: Timings;
  readonly promptRefresh: 'every-block' | 'first-block';
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
export function runChild(cfg: ChildConfig): Promise<ChildResult & { peakDeviceMiB: number | null }> {
  // from the TypeScript sources through tsx; from an esbuild bundle (the GPU machine has no npm)
  // through the bundled child.mjs beside it
  const bundled = !import.meta.url.endsWith('.ts');
  const args = bundled ? [fileURLToPath(new URL('./child.mjs', import.meta.url))] : ['--import', 'tsx', fileURLToPath(import.meta.url)];
  const device = typeof cfg.load.device === 'string' && cfg.load.device.startsWith('cuda') ? Number(cfg.load.device.split(':')[1] ?? 0) : null;
  const watch = device === null ? null : watchDeviceMemory(device);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...args, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const peakDeviceMiB = watch ? watch.stop() : null;
      if (code !== 0) return reject(new Error(`benchmark child exited with ${code}`));
      try {
        resolve({ ...(JSON.parse(out.trim().split('\n').at(-1) ?? '') as ChildResult), peakDeviceMiB });
      } catch {
        reject(new Error(`benchmark child printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

async function warmUp(model: DiffusionModel, prompt: number[], cfg: ChildConfig): Promise<void> {
  const o = cfg.options;
  const block = o.blockLength ?? o.genLength ?? 32;
  const blocks = Math.max(1, Math.round((o.genLength ?? block) / block));
  for (let i = 0; i < (cfg.warmup ?? 0); i++)
    await benchGenerate(model, prompt, { ...cfg, options: { ...o, genLength: block, steps: Math.max(1, Math.round((o.steps ?? block * blocks) / blocks)) } });
}

/** One generation of a configuration: a block host through generate, Elastic-Cache through generateElastic (its timings in the same shape). */
export async function benchGenerate(model: DiffusionModel, prompt: number[], cfg: Pick<ChildConfig, 'options' | 'elastic'>): Promise<{ nfe: number; timings: Timings; promptRefresh: ChildResult['promptRefresh']; generatedIds: number[] }> {
  const o = cfg.options;
  if (!cfg.elastic) {
    const r = await model.generate({ inputIds: prompt }, o);
    return { nfe: r.nfe, timings: r.timings, promptRefresh: r.options.promptRefresh, generatedIds: r.generatedIds };
  }
  const threshold = o.threshold ?? null;
  const r = await model.generateElastic({ inputIds: prompt }, {
    genLength: o.genLength, window: 16, ...(threshold === null ? { tokensPerIter: 1, threshold: null } : { threshold }), eosId: null,
    filter: o.filter, budget: o.budget, wave: o.wave, executor: o.executor, allowLongContext: o.allowLongContext,
  });
  const t = r.timings;
  // the block program runs a generation as one ORT run (two with a filter); the step executor one per iteration
  const filtered = o.filter !== undefined && o.filter !== 'none';
  const runs = r.executor === 'block' ? (filtered ? 2 : 1) : r.nfe;
  return {
    nfe: r.nfe, promptRefresh: 'first-block', generatedIds: r.generatedIds,
    timings: {
      executor: r.executor, totalMs: t.totalMs, ortMs: t.ortMs, ortRuns: runs, ortRunsPerBlock: runs, blockMsMean: t.totalMs, refreshes: r.refreshes.length,
      refreshMsMean: null, cachedSteps: r.nfe - 1, cachedStepMsMean: null, cachedStepOrtMsMean: null, tokensPerSecond: t.tokensPerSecond,
      jsShare: t.totalMs > 0 ? Math.max(0, t.totalMs - t.ortMs) / t.totalMs : 0, selections: filtered ? 1 : 0, selectMs: r.filter?.selectMs ?? 0, keptPromptRows: r.filter?.positions.length ?? null,
    },
  };
}

/** Runs configurations in this process, loading each checkpoint once (see EngineBenchOptions.inProcess). */
export class InProcessRunner {
  private model: { key: string; m: DiffusionModel } | null = null;
  async run(cfg: ChildConfig): Promise<ChildResult & { peakDeviceMiB: number | null }> {
    const { loadModel } = await import('../src/index.js');
    const key = JSON.stringify([cfg.dir, cfg.load.device, cfg.load.threads, cfg.load.dtype, cfg.load.graph ?? null]);
    let loadMs = 0;
    if (this.model?.key !== key) {
      await this.model?.m.dispose();
      const t0 = performance.now();
      // on a GPU one live session: each holds the weights, and the device column is per row
      // (the row's own variant only; SessionCache releases the idle one before building the next)
      const gpu = typeof cfg.load.device === 'string' && cfg.load.device.startsWith('cuda');
      this.model = { key, m: await loadModel(cfg.dir, { ...cfg.load, sessions: gpu ? 1 : 4 }) };
      loadMs = performance.now() - t0;
    }
    const device = typeof cfg.load.device === 'string' && cfg.load.device.startsWith('cuda') ? Number(cfg.load.device.split(':')[1] ?? 0) : null;
    // on a GPU the previous row's session goes first (its weights and ORT's arena, which never
    // shrinks while the session lives), so the peak below is this row's own: the weights in its
    // session, its K/V and activations (the session rebuild costs seconds, not an 8B load)
    if (device !== null && loadMs === 0) await this.model.m.releaseSessions();
    const watch = device === null ? null : watchDeviceMemory(device, true);
    const prompt = benchPrompt(cfg.promptLength, cfg.vocab);
    await warmUp(this.model.m, prompt, cfg);
    const r = await benchGenerate(this.model.m, prompt, cfg);
    return {
      nfe: r.nfe, timings: r.timings, promptRefresh: r.promptRefresh, loadMs, peakRssMiB: process.resourceUsage().maxRSS / 1024, peakDeviceMiB: watch ? watch.stop() : null,
      idsHash: createHash('sha256').update(JSON.stringify(r.generatedIds)).digest('hex').slice(0, 12),
    };
  }
  async dispose(): Promise<void> {
    await this.model?.m.dispose();
    this.model = null;
  }
}

/**
 * Peak device memory of a run: nvidia-smi sampled every 50 ms while the child runs, minus what was
 * in use before it started (so another process's memory is not counted, unless it changes).
 */
function watchDeviceMemory(device: number, absolute = false): { stop(): number | null } {
  const used = (): number | null => {
    const r = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-i', String(device)], { encoding: 'utf8' });
    const v = Number(r.stdout?.trim());
    return r.status === 0 && Number.isFinite(v) ? v : null;
  };
  const base = used();
  if (base === null) return { stop: () => null };
  let peak = base;
  const p = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-i', String(device), '-lms', '50'], { stdio: ['ignore', 'pipe', 'ignore'] });
  p.stdout.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      const v = Number(line.trim());
      if (line.trim() && Number.isFinite(v)) peak = Math.max(peak, v);
    }
  });
  return {
    stop: () => {
      p.kill();
      return absolute ? peak : peak - base;
    },
  };
}

async function main(arg: string): Promise<void> {
  const cfg = JSON.parse(arg) as ChildConfig;
  const { loadModel } = await import('../src/index.js');
  const t0 = performance.now();
  const model = await loadModel(cfg.dir, cfg.load);
  const loadMs = performance.now() - t0;
  const prompt = benchPrompt(cfg.promptLength, cfg.vocab);
  await warmUp(model, prompt, cfg);
  const r = await benchGenerate(model, prompt, cfg);
  await model.dispose();
  const result: ChildResult = {
    nfe: r.nfe, timings: r.timings, promptRefresh: r.promptRefresh, loadMs, peakRssMiB: process.resourceUsage().maxRSS / 1024,
    idsHash: createHash('sha256').update(JSON.stringify(r.generatedIds)).digest('hex').slice(0, 12),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// run as the child (bench/child.ts under tsx, or the bundled child.mjs), not when bundled into bench.mjs
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && /[/\\]child\.(ts|mjs)$/.test(process.argv[1])) {
  main(process.argv[2] ?? '').catch((e: unknown) => {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
