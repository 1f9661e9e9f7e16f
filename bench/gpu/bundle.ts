/**
 * The project as a few self-contained ES modules for a machine with Node but no npm (the GPU
 * machine: ../shared/gpu.md): the GPU tests, the benchmark and its per-configuration child, the
 * command line and the text worker, with onnxruntime-node left external (the runtime bundle brings it with its CUDA
 * provider). Usage: `npx tsx bench/gpu/bundle.ts OUTDIR`; then, there, with the repository as the
 * working folder: `WAVEFILTER_REPO=$PWD WAVEFILTER_GPU=1 node --test OUTDIR/cuda.test.mjs` and
 * `node OUTDIR/bench.mjs engine --device cuda ...`.
 */
import { build } from 'esbuild';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: tsx bench/gpu/bundle.ts OUTDIR\n');
  process.exit(2);
}
await build({
  entryPoints: {
    'cuda.test': 'test/gpu/cuda.test.ts',
    bench: 'bench/run.ts',
    child: 'bench/child.ts',
    // the command line (the GPU tests run it as a user would)
    cli: 'src/cli/main.ts',
    // loaded by URL beside the module that starts it (src/checkpoint/tokenizer.ts)
    'text-worker': 'src/checkpoint/text-worker.ts',
    // likewise beside src/lanes/pool.ts (serve --lanes, bench batch --lanes)
    'lane-worker': 'src/lanes/lane-worker.ts',
  },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // (the chart renderer's native addon is loaded only when a chart is drawn: src/optional.ts)
  external: ['onnxruntime-node', '@resvg/resvg-js'],
  // CommonJS dependencies (commander) call require() for Node built-ins
  banner: { js: "import { createRequire as __wfCreateRequire } from 'node:module'; const require = __wfCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
// the worker is looked up as text-worker.js
const { renameSync, writeFileSync } = await import('node:fs');
// the worker is a .js file: ES module by the package type
writeFileSync(join(out, 'package.json'), '{"type": "module"}\n');
renameSync(join(out, 'text-worker.mjs'), join(out, 'text-worker.js'));
renameSync(join(out, 'lane-worker.mjs'), join(out, 'lane-worker.js'));
// RULER's word lists are read at run time (src/eval/ruler/sources.ts), from node_modules beside the
// bundle; the essay haystack from Debian's jargon-text where this machine has it (the GPU machine
// has neither npm nor apt: bench/gpu/ruler.sh puts the corpus where the evaluation looks)
const { cpSync, existsSync, mkdirSync } = await import('node:fs');
for (const pkg of ['friendly-words', 'an-array-of-english-words']) cpSync(join('node_modules', pkg), join(out, 'node_modules', pkg), { recursive: true });
const jargon = '/usr/share/doc/jargon-text/jargon.txt.gz';
if (existsSync(jargon)) {
  mkdirSync(join(out, 'corpus'), { recursive: true });
  cpSync(jargon, join(out, 'corpus', 'jargon.txt.gz'));
} else process.stderr.write(`note: ${jargon} not found (apt-get install jargon-text): RULER's essay tasks will need --haystack on the GPU machine\n`);
process.stdout.write(`bundled into ${out}\n`);
