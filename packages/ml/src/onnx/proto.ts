// The subset of the ONNX protobuf schema the exporters write, declared here from the public field numbers
// of onnx.proto (IR version 8), and encoded with protobufjs reflection.
import protobuf from 'protobufjs';

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/** ONNX AttributeProto.AttributeType values used here. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

const repeated = (type: string, id: number): protobuf.IField & { rule: string } => ({ rule: 'repeated', type, id });

const schema: protobuf.INamespace = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        TensorProto: {
          fields: {
            dims: repeated('int64', 1),
            data_type: { type: 'int32', id: 2 },
            float_data: repeated('float', 4),
            int32_data: repeated('int32', 5),
            string_data: repeated('bytes', 6),
            int64_data: repeated('int64', 7),
            name: { type: 'string', id: 8 },
            raw_data: { type: 'bytes', id: 9 },
            double_data: repeated('double', 10),
            doc_string: { type: 'string', id: 12 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: repeated('float', 7),
            ints: repeated('int64', 8),
            strings: repeated('bytes', 9),
            doc_string: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: repeated('string', 1),
            output: repeated('string', 2),
            name: { type: 'string', id: 3 },
            op_type: { type: 'string', id: 4 },
            attribute: repeated('AttributeProto', 5),
            doc_string: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        TensorShapeProto: {
          fields: { dim: repeated('Dimension', 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
              fields: { dim_value: { type: 'int64', id: 1 }, dim_param: { type: 'string', id: 2 } },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensor_type'] } },
          fields: { tensor_type: { type: 'Tensor', id: 1 }, denotation: { type: 'string', id: 6 } },
          nested: {
            Tensor: { fields: { elem_type: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            doc_string: { type: 'string', id: 3 },
          },
        },
        GraphProto: {
          fields: {
            node: repeated('NodeProto', 1),
            name: { type: 'string', id: 2 },
            initializer: repeated('TensorProto', 5),
            doc_string: { type: 'string', id: 10 },
            input: repeated('ValueInfoProto', 11),
            output: repeated('ValueInfoProto', 12),
            value_info: repeated('ValueInfoProto', 13),
          },
        },
        ModelProto: {
          fields: {
            ir_version: { type: 'int64', id: 1 },
            producer_name: { type: 'string', id: 2 },
            producer_version: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            model_version: { type: 'int64', id: 5 },
            doc_string: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opset_import: repeated('OperatorSetIdProto', 8),
            metadata_props: repeated('StringStringEntryProto', 14),
          },
        },
      },
    },
  },
};

let root: protobuf.Root | null = null;

/** The ModelProto message type (built once, on first use). */
export function modelProtoType(): protobuf.Type {
  root ??= protobuf.Root.fromJSON(schema);
  return root.lookupType('onnx.ModelProto');
}

// Plain-object shapes of the messages, in protobufjs's camelCase-free field naming (names as in onnx.proto).
export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: Tensor;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface Tensor {
  name?: string;
  dims: number[];
  data_type: number;
  float_data?: number[];
  int64_data?: number[];
  int32_data?: number[];
}
export interface Node {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  domain?: string;
  attribute?: Attribute[];
}
export interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}
export interface Graph {
  name: string;
  node: Node[];
  initializer: Tensor[];
  input: ValueInfo[];
  output: ValueInfo[];
  doc_string?: string;
}
export interface Model {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph: Graph;
  opset_import: { domain: string; version: number }[];
  metadata_props?: { key: string; value: string }[];
}

/** Serializes a ModelProto to bytes after checking it against the schema. */
export function encodeModel(model: Model): Uint8Array {
  const T = modelProtoType();
  const err = T.verify(model);
  if (err) throw new Error(`internal error: ONNX model does not fit the schema: ${err}`);
  return T.encode(T.fromObject(model)).finish();
}

/** Decodes bytes written by encodeModel (used by tests to inspect exported graphs). */
export function decodeModel(bytes: Uint8Array): Model {
  const T = modelProtoType();
  return T.toObject(T.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as Model;
}

// Small builders that keep the exporters readable.
const enc = new TextEncoder();
export const attr = {
  float: (name: string, f: number): Attribute => ({ name, type: AttrType.FLOAT, f }),
  int: (name: string, i: number): Attribute => ({ name, type: AttrType.INT, i }),
  string: (name: string, s: string): Attribute => ({ name, type: AttrType.STRING, s: enc.encode(s) }),
  floats: (name: string, floats: ArrayLike<number>): Attribute => ({
    name,
    type: AttrType.FLOATS,
    floats: Array.from(floats),
  }),
  ints: (name: string, ints: ArrayLike<number>): Attribute => ({ name, type: AttrType.INTS, ints: Array.from(ints) }),
  strings: (name: string, strings: readonly string[]): Attribute => ({
    name,
    type: AttrType.STRINGS,
    strings: strings.map((s) => enc.encode(s)),
  }),
};

export function tensorInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfo {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): Tensor {
  return { name, dims, data_type: DataType.FLOAT, float_data: Array.from(values) };
}

export function int64Tensor(name: string, dims: number[], values: ArrayLike<number>): Tensor {
  return { name, dims, data_type: DataType.INT64, int64_data: Array.from(values) };
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attributes: Attribute[] = [],
  domain = '',
): Node {
  return {
    op_type: opType,
    input: inputs,
    output: outputs,
    name,
    attribute: attributes,
    ...(domain ? { domain } : {}),
  };
}

export const ONNX_ML = 'ai.onnx.ml';
/** Opsets the exporters target: widely supported by onnxruntime and other runtimes. */
export const OPSETS = [
  { domain: '', version: 13 },
  { domain: ONNX_ML, version: 3 },
];
export const IR_VERSION = 8;
