/**
 * The JSON form of a generation result, in one place: the CLI's --json and the server answer with
 * it. snake_case keys, as the Python tools around these models (and OpenAI-style clients) expect.
 */
import type { GenerateOutput } from './engine.js';

export function generationJson(out: GenerateOutput): Record<string, unknown> {
  const t = out.timings;
  return {
    output_ids: out.outputIds, prompt_length: out.promptLength, generated_ids: out.generatedIds, text: out.text, nfe: out.nfe,
    stop_reason: out.stopReason,
    timings: {
      executor: t.executor, total_ms: t.totalMs, ort_ms: t.ortMs, ort_runs: t.ortRuns,
      ort_runs_per_block: t.ortRunsPerBlock, block_ms_mean: t.blockMsMean, refreshes: t.refreshes, refresh_ms_mean: t.refreshMsMean,
      cached_steps: t.cachedSteps, cached_step_ms_mean: t.cachedStepMsMean, tokens_per_s: t.tokensPerSecond,
      js_share: t.jsShare, selections: t.selections, select_ms: t.selectMs, kept_prompt_rows: t.keptPromptRows,
    },
    options: out.options,
    ...(out.dllmCache ? { dllm_cache: { forwards: out.dllmCache.forwards, prompt_refreshes: out.dllmCache.promptRefreshes, gen_refreshes: out.dllmCache.genRefreshes, computed_ratio: out.dllmCache.computedRatio } } : {}),
  };
}
