/**
 * Filters whose kept rows JavaScript computes (StreamingLLM, random): the indices are the selection
 * graph's control inputs, and the graph only gathers.
 */
import type ort from 'onnxruntime-node';
import type { ModelSpec } from '../model/spec.js';
import { DT } from '../model/onnx-builder.js';
import { FilterNames as F, type EmittedSelection, type SelectionIO, standaloneGraph } from './selection-graph.js';
import type { FilterProgram } from './token-filter.js';

/** A filter whose indices come from JavaScript (StreamingLLM, random): the indices are controls. */
export function emitIndexSelection(spec: ModelSpec, io: SelectionIO): EmittedSelection {
  return { tokens: Array.from({ length: spec.nLayers }, (_, l) => io.control(F.indices(l), DT.INT64, [spec.nKvHeads, `T.${l}`])), state: [] };
}

/** Standalone: gather only. */
export function buildIndexGraph(spec: ModelSpec): Uint8Array {
  return standaloneGraph(spec, 'index_filter', (_g, io) => emitIndexSelection(spec, io));
}

/** The program of a filter whose indices JavaScript computes (`indices(p)`: null keeps every row). */
export function indexProgram(indices: (p: number) => Record<string, ort.Tensor> | null): FilterProgram {
  return {
    queries: 'none',
    schedule: 'once-per-block',
    variant: (p) => (indices(p) === null ? null : 'index'),
    emit: (_g, s, io) => emitIndexSelection(s, io),
    feeds: (p) => indices(p) ?? {},
  };
}
