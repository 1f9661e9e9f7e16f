/** Random: a seeded uniform sample of prompt rows per layer and KV head (the floor any filter must beat). */
import ort from 'onnxruntime-node';
import type { ModelSpec } from '../../model/spec.js';
import { Rng } from '../../rng.js';
import type { FilterSession } from '../filter-session.js';
import { buildIndexGraph, indexProgram } from '../indexed.js';
import type { FilterEntry } from '../registry.js';
import { FilterNames as F } from '../selection-graph.js';
import { type Budget, type FilterProgram, type Selection, type SelectionRequest, type TokenFilter, budgetTokens } from '../token-filter.js';

export class RandomFilter implements TokenFilter {
  readonly name = 'random';
  readonly schedule = 'once-per-block' as const;
  readonly needsBlockQueries = false;
  readonly windowQueries = 0;
  private readonly rng: Rng;
  private cached: { p: number; t: number; extra: Record<string, ort.Tensor> } | null = null;
  readonly program: FilterProgram;
  constructor(private readonly spec: ModelSpec, private readonly session: () => Promise<FilterSession>, private readonly budget: Budget, seed: number) {
    this.rng = new Rng(seed ^ 0x5eed);
    this.program = indexProgram((p) => (budgetTokens(budget, p) >= p ? null : this.indices(p)));
  }

  async select(req: SelectionRequest): Promise<Selection | null> {
    const p = req.promptLength;
    if (budgetTokens(this.budget, p) >= p) return null;
    return (await this.session()).run(req, null, 0, this.indices(p));
  }

  /** The seeded draw for a prompt of p tokens. */
  private indices(p: number): Record<string, ort.Tensor> {
    const t = budgetTokens(this.budget, p);
    // one draw per generation: the same rows for every block, like any prompt-only filter
    if (!this.cached || this.cached.p !== p || this.cached.t !== t) {
      const { nLayers, nKvHeads: Hkv } = this.spec;
      const extra: Record<string, ort.Tensor> = {};
      for (let l = 0; l < nLayers; l++) {
        const idx = new BigInt64Array(Hkv * t);
        for (let h = 0; h < Hkv; h++) {
          const pool = Array.from({ length: p }, (_, i) => i);
          for (let i = 0; i < t; i++) {
            const j = i + Math.floor(this.rng.uniform() * (p - i));
            [pool[i], pool[j]] = [pool[j], pool[i]];
            idx[h * t + i] = BigInt(pool[i]);
          }
        }
        extra[F.indices(l)] = new ort.Tensor('int64', idx, [Hkv, t]);
      }
      this.cached = { p, t, extra };
    }
    return this.cached.extra;
  }
  async dispose(): Promise<void> {}
}

export const random: FilterEntry = {
  name: 'random',
  summary: 'a seeded uniform sample of prompt rows',
  create: async (c) => new RandomFilter(c.spec, () => c.session('index', () => buildIndexGraph(c.spec)), c.budget, c.seed),
};
