/**
 * One lane of a LanePool (pool.ts): a worker thread with its own loaded model that runs the
 * generations the pool hands it, one at a time, on the step executor. Step and kept events go
 * back as messages; the pool's abort flag, read after every forward, aborts the generation's signal,
 * which the step loop checks before the next forward.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel, type DiffusionModel } from '../engine.js';
import { WavefilterError } from '../errors.js';
import type { FromLane, LaneError, LaneInit, ToLane } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('lane-worker.ts runs as a worker thread of a LanePool');
const init = workerData as LaneInit;
const post = (m: FromLane): void => port.postMessage(m);

function laneError(e: unknown): LaneError {
  if (e instanceof WavefilterError) return { name: e.name, message: e.message, code: e.code, details: { ...e.details } };
  const x = e instanceof Error ? e : new Error(String(e));
  return { name: x.name, message: x.message };
}

async function generate(model: DiffusionModel, m: ToLane): Promise<void> {
  const controller = new AbortController();
  const aborted = (): boolean => {
    if (!controller.signal.aborted && Atomics.load(m.abort, 0) !== 0) controller.abort();
    return controller.signal.aborted;
  };
  try {
    aborted(); // (aborted while it waited: the step loop stops before its first forward, as on the main thread)
    const out = await model.generate({ inputIds: m.inputIds }, {
      ...m.opts,
      signal: controller.signal,
      // after every forward: the abort flag (the step loop checks the signal before the next one)
      onStep: (e) => {
        aborted();
        if (m.steps) post({ type: 'step', id: m.id, e: { ...e, canvas: e.canvas.slice() } });
      },
      // (the kept rows are a live view: copied, as the event's contract asks)
      ...(m.kept ? { onKept: (e) => post({ type: 'kept', id: m.id, e: { block: e.block, tokens: e.tokens.map((t) => t.slice()) } }) } : {}),
    });
    // the resolved options may hold functions (hooks): they stay here
    const options = Object.fromEntries(Object.entries(out.options).filter(([, v]) => typeof v !== 'function')) as typeof out.options;
    post({ type: 'done', id: m.id, out: { ...out, options } });
  } catch (e) {
    post({ type: 'error', id: m.id, error: laneError(e) });
  }
}

try {
  const model = await loadModel(init.dir, { threads: init.threads, ropeTheta: init.ropeTheta, maxLength: init.maxLength, executor: 'step' });
  port.on('message', (m: ToLane) => void generate(model, m));
  post({ type: 'ready' });
} catch (e) {
  post({ type: 'failed', error: laneError(e) });
}
