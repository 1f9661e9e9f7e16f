// The folder layout is the architecture: each top-level part of src/ has a layer and imports only
// from its own layer or lower ones (no import runs upwards). A new folder must be given a layer here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = join(import.meta.dirname, '../../src');

/** Lower layers first. */
const LAYERS: readonly (readonly string[])[] = [
  ['errors', 'rng', 'files', 'optional'], // shared vocabulary: typed errors, seeded draws, user-file reads
  ['model'], // ModelSpec, the ONNX builder, the forward graph and its sessions
  ['checkpoint'], // files -> ModelSpec, weights, tokenizer
  ['filter'], // token filters: which prompt rows to keep
  ['cache'], // cache hosts: what to refresh when
  ['program'], // the block program: one ORT run per denoising block
  ['decode'], // the executors and their options
  ['batch'], // concurrent generations' forwards packed into shared runs (the step loop's runtime)
  ['engine', 'index', 'report', 'json-output'], // the library surface; charts; the JSON form of results
  ['lanes'], // concurrent generations in worker threads, each with its own model (the CPU server's)
  ['eval'], // quality evaluations (RULER, needle grid, LongBench)
  ['server'], // the OpenAI-compatible HTTP server
  ['cli'],
];

const layerOf = (part: string): number => LAYERS.findIndex((l) => l.includes(part));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const partOf = (file: string): string => relative(SRC, file).split('/')[0].replace(/\.(ts|js)$/, '');

test('every top-level part of src/ has a layer', () => {
  for (const n of readdirSync(SRC)) assert.notEqual(layerOf(n.replace(/\.ts$/, '')), -1, `src/${n} has no layer in test/unit/layers.test.ts`);
});

test('no import runs upwards', () => {
  const up: string[] = [];
  for (const f of files(SRC)) {
    const from = partOf(f);
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import\(?)\s*['"](\.[^'"]+)['"]/g)) {
      const to = partOf(normalize(join(dirname(f), m[1])));
      assert.notEqual(layerOf(to), -1, `${relative(SRC, f)} imports ${m[1]}, outside every layer`);
      if (layerOf(to) > layerOf(from)) up.push(`${relative(SRC, f)} -> ${m[1]} (${from} is below ${to})`);
    }
  }
  assert.deepEqual(up, []);
});
