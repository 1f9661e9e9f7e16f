import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (two levels above dist/cli or src/cli). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The bundled model (trained by training/, see its model card). */
export const DEFAULT_MODEL = 'llada-ruler-12m';

/** The bundled default model folder, when the package ships one. */
export function defaultModelDir(): string | null {
  const dir = join(PACKAGE_ROOT, 'models', DEFAULT_MODEL);
  return existsSync(join(dir, 'config.json')) ? dir : null;
}
