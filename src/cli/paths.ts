// The CLI's view of the package: the root and the bundled model live in checkpoint/bundled.ts,
// which the library exports too (bundledModelDir).
import { bundledModelDir } from '../checkpoint/bundled.js';

export { PACKAGE_ROOT, DEFAULT_MODEL } from '../checkpoint/bundled.js';

/** The bundled default model folder, when the package ships one. */
export const defaultModelDir = bundledModelDir;
