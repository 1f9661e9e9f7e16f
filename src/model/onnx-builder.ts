/**
 * A small typed builder for ONNX graphs. The forward pass is assembled here in TypeScript from a
 * ModelSpec (no Python export step) and serialised with the ONNX protobuf definitions.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type ValueInfo = onnxProto.onnx.IValueInfoProto;

export const DT = { FLOAT: 1, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;
export type ElemType = (typeof DT)[keyof typeof DT];

/** A symbolic or fixed dimension. */
export type Dim = number | string;

export type AttrValue = number | string | readonly number[] | { float: number } | { graph: GraphProto };

const AT = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return { name, type: AT.FLOAT, f: v };
    return { name, type: AT.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v as number[] };
  if ('float' in (v as object)) return { name, type: AT.FLOAT, f: (v as { float: number }).float };
  return { name, type: AT.GRAPH, g: (v as { graph: GraphProto }).graph };
}

export function valueInfo(name: string, elemType: ElemType, dims: readonly Dim[]): ValueInfo {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Accumulates nodes, initializers and graph inputs/outputs; `op` returns the output names. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  readonly prefix: string;
  private readonly constCache = new Map<string, string>();

  constructor(prefix = '') {
    this.prefix = prefix;
  }

  /** A builder for a subgraph (If branch, Loop body) whose value names cannot clash with this one's. */
  child(hint: string): GraphBuilder {
    return new GraphBuilder(`${this.prefix}${hint}`);
  }

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  input(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: ElemType, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Adds a node with one output. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, opts: { name?: string; domain?: string } = {}): string {
    const out = opts.name ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType, domain: opts.domain ?? '', input: [...inputs], output: [out], name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Adds a node with several outputs. */
  opN(opType: string, inputs: readonly string[], nOut: number, attrs: Record<string, AttrValue> = {}, domain = ''): string[] {
    return this.opOut(opType, inputs, Array.from({ length: nOut }, () => true), attrs, domain) as string[];
  }

  /** Adds a node whose optional outputs are produced only where `used` says (others are left unnamed). */
  opOut(opType: string, inputs: readonly string[], used: readonly boolean[], attrs: Record<string, AttrValue> = {}, domain = ''): (string | null)[] {
    const outs = used.map((u) => (u ? this.fresh(opType.toLowerCase()) : ''));
    this.nodes.push({
      opType, domain, input: [...inputs], output: outs, name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs.map((o) => o || null);
  }

  /** Renames a value by an Identity node (graph outputs need fixed names). */
  identity(input: string, name: string): string {
    return this.op('Identity', [input], {}, { name });
  }

  constI64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('c_i64');
    this.initializers.push({ name, dataType: DT.INT64, dims: [...dims], int64Data: [...values] });
    this.constCache.set(key, name);
    return name;
  }

  constF32(values: ArrayLike<number>, dims: readonly number[]): string {
    return this.rawConst('c_f32', DT.FLOAT, Float32Array.from(values), dims);
  }

  scalarF32(v: number): string {
    const key = `f32s:${v}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.constF32([v], []);
    this.constCache.set(key, name);
    return name;
  }

  constF64(values: ArrayLike<number>, dims: readonly number[]): string {
    return this.rawConst('c_f64', DT.DOUBLE, Float64Array.from(values), dims);
  }

  /** An initializer holding `data`'s bytes (little-endian, as ONNX raw_data expects). */
  private rawConst(hint: string, dataType: ElemType, data: Float32Array | Float64Array, dims: readonly number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dataType, dims: [...dims], rawData: new Uint8Array(data.buffer) });
    return name;
  }

  scalarF64(v: number): string {
    const name = this.fresh('c_f64');
    this.initializers.push({ name, dataType: DT.DOUBLE, dims: [], doubleData: [v] });
    return name;
  }

  /** An initializer whose bytes live in another file (ONNX external data). */
  external(name: string, dataType: ElemType, dims: readonly number[], location: string, offset: number, length: number): string {
    this.initializers.push({
      name, dataType, dims: [...dims], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    return name;
  }

  graph(name: string): GraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }
}

/** A graph value emitted on first use (an op that some graph variants never read adds no node there). */
export function once(make: () => string): () => string {
  let v: string | null = null;
  return () => (v ??= make());
}

/** Serialises a model (opset 17 plus the com.microsoft domain for fused CPU kernels). */
export function encodeModel(graph: GraphProto): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'wavefilter',
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph,
  }).finish();
}
