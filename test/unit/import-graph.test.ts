// The library installs and imports without the optional chart and benchmark packages: the packages
// reachable from src/index.ts (and the text worker it spawns) are only the engine's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { build } from 'esbuild';
import pkg from '../../package.json' with { type: 'json' };

const SRC = join(import.meta.dirname ?? '', '..', '..', 'src');

async function packagesOf(entry: string): Promise<Set<string>> {
  const r = await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent', external: ['onnxruntime-node'] });
  const out = new Set<string>();
  for (const k of Object.keys(r.metafile.inputs)) {
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(k);
    if (m) out.add(m[1]);
  }
  return out;
}

test('src/index.ts and the text worker reach no optional package', async () => {
  const optional = Object.keys((pkg as { optionalDependencies: Record<string, string> }).optionalDependencies);
  assert.ok(optional.includes('vega-lite') && optional.includes('friendly-words'));
  for (const entry of ['index.ts', join('checkpoint', 'text-worker.ts')]) {
    const used = await packagesOf(join(SRC, entry));
    for (const o of optional) assert.ok(!used.has(o), `${entry} bundles the optional package ${o}`);
  }
  const lib = await packagesOf(join(SRC, 'index.ts'));
  assert.ok([...lib].every((p) => p === 'onnx-proto' || p === 'protobufjs' || p.startsWith('@protobufjs/')), [...lib].join(', '));
});
