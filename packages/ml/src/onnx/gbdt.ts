// Exports gradient-boosted trees to ONNX: TreeEnsembleClassifier (binary, logistic link) or TreeEnsembleRegressor.
// Thresholds are rounded to float32 so that the float32 runtime takes the same branch as the float64 predictor.
import type { GbdtModelJson, GbdtTreeJson } from '../gbdt/model.js';
import { splitThreshold } from '../gbdt/predict.js';
import { MlError } from '../errors.js';
import { ENGINE_VERSION } from '../version.js';
import { DataType, IR_VERSION, ONNX_ML, OPSETS, attr, encodeModel, node, tensorInfo } from './proto.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The next float32 below a float32 value (toward −∞). */
function nextDown32(x: number): number {
  if (x === Infinity) return 3.4028234663852886e38;
  f32[0] = x;
  if (x === 0) {
    u32[0] = 0x80000001; // smallest negative subnormal
  } else if (x > 0) u32[0] = u32[0]! - 1;
  else u32[0] = u32[0]! + 1;
  return f32[0]!;
}

/**
 * The largest float32 t with t <= threshold. For a float32 input x, x <= threshold (float64) holds exactly when
 * x <= t, so the float32 comparison in the runtime agrees with the native predictor for every float32 input.
 */
export function float32Threshold(threshold: number): number {
  if (threshold !== threshold) throw new MlError('MODEL_CORRUPT', 'a split threshold is NaN');
  const r = Math.fround(threshold);
  return r > threshold ? nextDown32(r) : r;
}

/** Flat node arrays of an ONNX tree ensemble, filled tree by tree. */
class EnsembleBuilder {
  treeIds: number[] = [];
  nodeIds: number[] = [];
  featureIds: number[] = [];
  modes: string[] = [];
  values: number[] = [];
  trueIds: number[] = [];
  falseIds: number[] = [];
  missingTrue: number[] = [];
  leafTree: number[] = [];
  leafNode: number[] = [];
  leafWeight: number[] = [];
  private next = 0;
  private tree = 0;

  startTree(t: number): void {
    this.tree = t;
    this.next = 0;
  }

  private add(mode: string, feature: number, value: number, missingTrue: boolean): number {
    const id = this.next++;
    this.treeIds.push(this.tree);
    this.nodeIds.push(id);
    this.featureIds.push(feature);
    this.modes.push(mode);
    this.values.push(value);
    this.trueIds.push(0);
    this.falseIds.push(0);
    this.missingTrue.push(missingTrue ? 1 : 0);
    return this.treeIds.length - 1; // position in the flat arrays
  }

  /**
   * Emits the subtree under JSON node j and returns its ONNX node id. A categorical split becomes a chain of
   * BRANCH_EQ nodes, one per category that goes left, each whose true branch is its own copy of the left subtree;
   * the chain's last false branch is the right subtree. NaN follows defaultLeft through missing-tracks-true.
   */
  emit(t: GbdtTreeJson, j: number): number {
    const f = t.splitFeature[j]!;
    if (f < 0) {
      const pos = this.add('LEAF', 0, 0, false);
      this.leafTree.push(this.tree);
      this.leafNode.push(this.nodeIds[pos]!);
      this.leafWeight.push(t.value[j]!);
      return this.nodeIds[pos]!;
    }
    const dl = t.defaultLeft[j]!;
    const cats = t.categories[j];
    if (cats === null || cats === undefined) {
      const pos = this.add('BRANCH_LEQ', f, float32Threshold(splitThreshold(t.threshold[j]!)), dl);
      this.trueIds[pos] = this.emit(t, t.left[j]!);
      this.falseIds[pos] = this.emit(t, t.right[j]!);
      return this.nodeIds[pos]!;
    }
    // Codes in ascending order; an empty set still needs one node so that NaN can follow defaultLeft
    // (EQ against NaN is never true, and only a missing value is routed to the true branch then).
    const codes = [...cats].sort((a, b) => a - b);
    const chain: number[] = codes.length > 0 ? codes : [NaN];
    let first = -1;
    let prev = -1;
    for (const code of chain) {
      const pos = this.add('BRANCH_EQ', f, code, dl);
      if (first < 0) first = pos;
      if (prev >= 0) this.falseIds[prev] = this.nodeIds[pos]!;
      this.trueIds[pos] = this.emit(t, t.left[j]!);
      prev = pos;
    }
    this.falseIds[prev] = this.emit(t, t.right[j]!);
    return this.nodeIds[first]!;
  }

  nodeAttributes(): ReturnType<typeof attr.ints>[] {
    return [
      attr.ints('nodes_treeids', this.treeIds),
      attr.ints('nodes_nodeids', this.nodeIds),
      attr.ints('nodes_featureids', this.featureIds),
      attr.strings('nodes_modes', this.modes),
      attr.floats('nodes_values', this.values),
      attr.ints('nodes_truenodeids', this.trueIds),
      attr.ints('nodes_falsenodeids', this.falseIds),
      attr.ints('nodes_missing_value_tracks_true', this.missingTrue),
    ];
  }
}

/**
 * ONNX for a GBDT model JSON. Input `input`: float32 [N, F] in model feature order; categorical features as
 * their dictionary code; missing = NaN. Binary: outputs `label` int64 [N] and `probabilities` float [N, 2]
 * (sigmoid(baseScore + Σ leaves)); regression: `variable` float [N, 1].
 */
export function gbdtToOnnx(json: GbdtModelJson): Uint8Array {
  if (json.objective !== 'binary' && json.objective !== 'regression') {
    throw new MlError('MODEL_FORMAT', `cannot export a GBDT with objective ${String(json.objective)}`);
  }
  const F = json.features.length;
  const b = new EnsembleBuilder();
  json.trees.forEach((t, ti) => {
    b.startTree(ti);
    b.emit(t, 0);
  });
  const common = [...b.nodeAttributes(), attr.floats('base_values', [json.baseScore])];
  const binary = json.objective === 'binary';
  const ensemble = binary
    ? node(
        'TreeEnsembleClassifier',
        ['input'],
        ['label', 'probabilities'],
        'trees',
        [
          ...common,
          attr.ints('class_treeids', b.leafTree),
          attr.ints('class_nodeids', b.leafNode),
          attr.ints('class_ids', new Array<number>(b.leafTree.length).fill(0)),
          attr.floats('class_weights', b.leafWeight),
          attr.ints('classlabels_int64s', [0, 1]),
          attr.string('post_transform', 'LOGISTIC'),
        ],
        ONNX_ML,
      )
    : node(
        'TreeEnsembleRegressor',
        ['input'],
        ['variable'],
        'trees',
        [
          ...common,
          attr.int('n_targets', 1),
          attr.ints('target_treeids', b.leafTree),
          attr.ints('target_nodeids', b.leafNode),
          attr.ints('target_ids', new Array<number>(b.leafTree.length).fill(0)),
          attr.floats('target_weights', b.leafWeight),
          attr.string('aggregate_function', 'SUM'),
          attr.string('post_transform', 'NONE'),
        ],
        ONNX_ML,
      );
  return encodeModel({
    ir_version: IR_VERSION,
    producer_name: 'ichigen',
    producer_version: ENGINE_VERSION,
    model_version: 1,
    doc_string: `ichigen gradient-boosted trees (${json.objective}); input columns: ${json.features.map((f) => f.name).join(', ')}`,
    opset_import: OPSETS,
    metadata_props: [
      { key: 'ichigen.format', value: json.format },
      {
        key: 'ichigen.features',
        value: JSON.stringify(
          json.features.map((f) => ({
            name: f.name,
            kind: f.kind,
            ...(f.kind === 'categorical' ? { dictionary: f.dictionary } : {}),
          })),
        ),
      },
      ...(typeof json.checksum === 'string' ? [{ key: 'ichigen.checksum', value: json.checksum }] : []),
    ],
    graph: {
      name: 'ichigen_gbdt',
      node: [ensemble],
      initializer: [],
      input: [tensorInfo('input', DataType.FLOAT, ['N', F])],
      output: binary
        ? [tensorInfo('label', DataType.INT64, ['N']), tensorInfo('probabilities', DataType.FLOAT, ['N', 2])]
        : [tensorInfo('variable', DataType.FLOAT, ['N', 1])],
    },
  });
}
