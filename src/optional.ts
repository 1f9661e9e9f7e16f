/**
 * Optional dependencies: the chart renderer (vega, vega-lite, resvg) and the benchmark-only packages
 * (word lists, jieba, stemmer, Levenshtein) are `optionalDependencies`, so the library installs
 * and imports without them (`npm i wavefilter --omit=optional`). They are loaded where they are
 * used; a missing one is a `missing_dependency` error naming the package and the feature.
 */
import { WavefilterError } from './errors.js';

function missing(e: unknown, pkg: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message).includes(pkg);
}

function fail(pkg: string, what: string): never {
  throw new WavefilterError('missing_dependency', `${what} needs the optional package ${pkg}, which is not installed: npm install ${pkg}`, { package: pkg });
}

/** `await importOptional(() => import('vega'), 'vega', 'charts')` */
export async function importOptional<T>(load: () => Promise<T>, pkg: string, what: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (missing(e, pkg)) fail(pkg, what);
    throw e;
  }
}

/** `requireOptional(require, 'friendly-words', 'RULER prompts')` for CommonJS packages. */
export function requireOptional<T>(req: NodeJS.Require, pkg: string, what: string): T {
  try {
    return req(pkg) as T;
  } catch (e) {
    if (missing(e, pkg)) fail(pkg, what);
    throw e;
  }
}
