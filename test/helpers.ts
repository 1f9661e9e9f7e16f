import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root; WAVEFILTER_REPO overrides it for bundled test runs (the GPU machine runs esbuild bundles). */
export const REPO_ROOT = process.env.WAVEFILTER_REPO ?? join(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
/** The bundled model. */
export const BUNDLED_MODEL = join(REPO_ROOT, 'models', 'llada-ruler-12m');
export const LLADA_TINY = join(FIXTURES, 'llada-tiny');
export const DREAM_TINY = join(FIXTURES, 'dream-tiny');

export interface ForwardCase { input_ids: number[]; logits: number[][] }
export interface LladaGenCase {
  prompt_ids: number[]; method: 'none' | 'prefix' | 'dual'; steps: number; gen_length: number; block_length: number;
  threshold?: number; nfe: number; output_ids: number[]; float64_agrees: boolean;
}
export interface DreamGenCase { prompt_ids: number[]; alg: 'maskgit_plus' | 'topk_margin' | 'entropy'; gen_length: number; steps: number; eps: number; output_ids: number[]; float64_agrees: boolean }

export function reference<T>(dir: string): { forward: ForwardCase[]; generate: T[] } {
  return JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { forward: ForwardCase[]; generate: T[] };
}
