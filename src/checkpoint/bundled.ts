/** Where the package keeps the bundled model (trained by training/, see its model card). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above this file (src/checkpoint or dist/checkpoint). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The bundled model's folder name under models/. */
export const DEFAULT_MODEL = 'llada-ruler-12m';

/**
 * The bundled model's folder, for `loadModel(bundledModelDir())` from an installed package; null
 * when the package ships none (a build without models/).
 */
export function bundledModelDir(): string | null {
  const dir = join(PACKAGE_ROOT, 'models', DEFAULT_MODEL);
  return existsSync(join(dir, 'config.json')) ? dir : null;
}
