// Exports a logistic model to ONNX: imputation, missing indicators and one-hot encoding run in the graph, and
// an ai.onnx.ml LinearClassifier applies coefficients with the standardization folded in.
import type { LogisticModelJson } from '../logistic/model.js';
import { ENGINE_VERSION } from '../version.js';
import {
  DataType,
  IR_VERSION,
  ONNX_ML,
  OPSETS,
  attr,
  encodeModel,
  floatTensor,
  int64Tensor,
  node,
  tensorInfo,
  type Node,
  type Tensor,
} from './proto.js';

/**
 * Graph (input `input`: float32 [N, F], features in model order, categorical features as dictionary codes,
 * missing = NaN):
 *   isnan = IsNaN(input); imputed = Where(isnan, means, input)        (categorical columns keep NaN)
 *   numeric columns = Gather(imputed, numericIdx, axis 1)
 *   indicators      = Gather(Cast(isnan), indicatorIdx, axis 1)
 *   one-hot of c    = Cast(Equal(Gather(input, [c], axis 1), [0, 1, …, D−1]))   (NaN matches no level)
 *   design = Concat(…); LinearClassifier(design) → label int64 [N], probabilities float [N, 2]
 * Standardization is folded: coefficient/std on the raw value, intercept − Σ coefficient·mean/std.
 */
export function logisticToOnnx(json: LogisticModelJson): Uint8Array {
  const F = json.features.length;
  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  const means = new Float32Array(F);
  const numericIdx: number[] = [];
  const indicatorIdx: number[] = [];
  const pieces: string[] = [];
  const weights: number[] = [];
  let intercept = json.intercept;

  // Numeric columns first (one Gather), then indicators (one Gather), then one Equal per categorical feature.
  json.features.forEach((f, k) => {
    if (f.kind === 'numeric') {
      means[k] = f.mean;
      numericIdx.push(k);
    } else means[k] = NaN;
  });
  for (const k of numericIdx) {
    const f = json.features[k]!;
    if (f.kind !== 'numeric') continue;
    weights.push(f.coef / f.std);
    intercept -= (f.coef * f.mean) / f.std;
  }
  for (const k of numericIdx) {
    const f = json.features[k]!;
    if (f.kind === 'numeric' && f.missingCoef !== null) {
      indicatorIdx.push(k);
      weights.push(f.missingCoef);
    }
  }

  inits.push(floatTensor('means', [F], means));
  nodes.push(node('IsNaN', ['input'], ['isnan'], 'isnan'));
  nodes.push(node('Where', ['isnan', 'means', 'input'], ['imputed'], 'impute_mean'));
  if (numericIdx.length > 0) {
    inits.push(int64Tensor('numeric_idx', [numericIdx.length], numericIdx));
    nodes.push(node('Gather', ['imputed', 'numeric_idx'], ['numeric_values'], 'gather_numeric', [attr.int('axis', 1)]));
    pieces.push('numeric_values');
  }
  if (indicatorIdx.length > 0) {
    nodes.push(node('Cast', ['isnan'], ['isnan_f'], 'cast_isnan', [attr.int('to', DataType.FLOAT)]));
    inits.push(int64Tensor('indicator_idx', [indicatorIdx.length], indicatorIdx));
    nodes.push(
      node('Gather', ['isnan_f', 'indicator_idx'], ['indicators'], 'gather_indicators', [attr.int('axis', 1)]),
    );
    pieces.push('indicators');
  }
  json.features.forEach((f, k) => {
    if (f.kind !== 'categorical' || f.dictionary.length === 0) return;
    const D = f.dictionary.length;
    inits.push(int64Tensor(`col_${k}`, [1], [k]));
    inits.push(
      floatTensor(
        `levels_${k}`,
        [D],
        Array.from({ length: D }, (_, c) => c),
      ),
    );
    nodes.push(node('Gather', ['input', `col_${k}`], [`code_${k}`], `gather_${k}`, [attr.int('axis', 1)]));
    nodes.push(node('Equal', [`code_${k}`, `levels_${k}`], [`onehot_b_${k}`], `onehot_${k}`));
    nodes.push(node('Cast', [`onehot_b_${k}`], [`onehot_${k}`], `cast_onehot_${k}`, [attr.int('to', DataType.FLOAT)]));
    pieces.push(`onehot_${k}`);
    weights.push(...f.coefs);
  });
  nodes.push(node('Concat', pieces, ['design'], 'concat_design', [attr.int('axis', 1)]));
  // Two rows (−w, w) with LOGISTIC give exactly [1 − p, p] per row, whatever a runtime does for one-row binaries.
  nodes.push(
    node(
      'LinearClassifier',
      ['design'],
      ['label', 'probabilities'],
      'linear_classifier',
      [
        attr.ints('classlabels_ints', [0, 1]),
        attr.floats('coefficients', [...weights.map((w) => -w), ...weights]),
        attr.floats('intercepts', [-intercept, intercept]),
        attr.int('multi_class', 0),
        attr.string('post_transform', 'LOGISTIC'),
      ],
      ONNX_ML,
    ),
  );
  return encodeModel({
    ir_version: IR_VERSION,
    producer_name: 'ichigen',
    producer_version: ENGINE_VERSION,
    model_version: 1,
    doc_string: `ichigen logistic regression; input columns: ${json.features.map((f) => f.name).join(', ')}`,
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
      { key: 'ichigen.checksum', value: json.checksum },
    ],
    graph: {
      name: 'ichigen_logistic',
      node: nodes,
      initializer: inits,
      input: [tensorInfo('input', DataType.FLOAT, ['N', F])],
      output: [tensorInfo('label', DataType.INT64, ['N']), tensorInfo('probabilities', DataType.FLOAT, ['N', 2])],
    },
  });
}
