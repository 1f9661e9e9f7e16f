/**
 * Transfer schedules: how many masked tokens a step commits.
 */

/** LLaDA's get_num_transfer_tokens: `masks` spread over `steps`, the remainder to the first steps. */
export function lladaTransferSchedule(masks: number, steps: number): number[] {
  const base = Math.floor(masks / steps);
  const rem = masks % steps;
  return Array.from({ length: steps }, (_, i) => base + (i < rem ? 1 : 0));
}

const f = Math.fround;

/**
 * Dream's timesteps `torch.linspace(1, eps, steps + 1)` in float32, computed the way PyTorch's CPU
 * kernel does (first half from the start, second half from the end), so quotas match exactly.
 */
export function dreamTimesteps(steps: number, eps: number): Float32Array {
  const n = steps + 1;
  const start = 1;
  const end = f(eps);
  const out = new Float32Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = f(f(end - start) / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? f(start + f(step * i)) : f(end - f(step * (n - i - 1)));
  return out;
}

/** Dream's quota at step i: floor(masks * (1 - s/t)) in float32, and every remaining mask at the last step. */
export function dreamQuota(masks: number, i: number, steps: number, t: Float32Array): number {
  if (i >= steps - 1) return masks;
  const ratio = f(1 - f(t[i + 1] / t[i]));
  return Math.floor(f(masks * ratio));
}
