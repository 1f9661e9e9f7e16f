/** StreamingLLM (docs §2.1): the first `sinks` prompt rows and the most recent ones, per KV head. */
import ort from 'onnxruntime-node';
import type { ModelSpec } from '../../model/spec.js';
import type { FilterSession } from '../filter-session.js';
import { buildIndexGraph, indexProgram } from '../indexed.js';
import type { FilterEntry } from '../registry.js';
import { FilterNames as F } from '../selection-graph.js';
import { type Budget, type FilterProgram, type Selection, type SelectionRequest, type TokenFilter, budgetTokens } from '../token-filter.js';

export class StreamingFilter implements TokenFilter {
  readonly name = 'streaming';
  readonly schedule = 'once-per-block' as const;
  readonly needsBlockQueries = false;
  readonly windowQueries = 0;
  readonly program: FilterProgram;
  constructor(private readonly spec: ModelSpec, private readonly session: () => Promise<FilterSession>, private readonly budget: Budget, private readonly sinks = 4) {
    this.program = indexProgram((p) => (budgetTokens(budget, p) >= p ? null : this.indices(p)));
  }

  /** The kept rows' indices per layer for a prompt of p tokens (fewer than p kept). */
  private indices(p: number): Record<string, ort.Tensor> {
    const t = budgetTokens(this.budget, p);
    const s = Math.min(this.sinks, t);
    const rows: number[] = [];
    for (let i = 0; i < s; i++) rows.push(i);
    for (let i = p - (t - s); i < p; i++) rows.push(i);
    const idx = BigInt64Array.from({ length: this.spec.nKvHeads * t }, (_, i) => BigInt(rows[i % t]));
    const extra: Record<string, ort.Tensor> = {};
    for (let l = 0; l < this.spec.nLayers; l++) extra[F.indices(l)] = new ort.Tensor('int64', idx, [this.spec.nKvHeads, t]);
    return extra;
  }

  async select(req: SelectionRequest): Promise<Selection | null> {
    const p = req.promptLength;
    if (budgetTokens(this.budget, p) >= p) return null;
    return (await this.session()).run(req, null, 0, this.indices(p));
  }
  async dispose(): Promise<void> {}
}

export const streaming: FilterEntry = {
  name: 'streaming',
  summary: 'StreamingLLM: attention sinks and the most recent prompt rows',
  create: async (c) => new StreamingFilter(c.spec, () => c.session('index', () => buildIndexGraph(c.spec)), c.budget),
};
