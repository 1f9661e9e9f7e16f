/**
 * A CUDA device's total memory, from nvidia-smi (onnxruntime-node exposes no device query). Null
 * when nvidia-smi is absent or fails: the memory check is then skipped, not guessed.
 */
import { spawnSync } from 'node:child_process';

const cache = new Map<number, number | null>();

export function cudaMemoryTotal(device: number): number | null {
  if (cache.has(device)) return cache.get(device) ?? null;
  let bytes: number | null = null;
  try {
    const r = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', String(device)], { encoding: 'utf8', timeout: 5000 });
    const mib = Number(r.stdout?.trim());
    if (r.status === 0 && Number.isFinite(mib) && mib > 0) bytes = mib * 2 ** 20;
  } catch {
    bytes = null;
  }
  cache.set(device, bytes);
  return bytes;
}
