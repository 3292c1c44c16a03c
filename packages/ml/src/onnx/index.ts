// ONNX export of the engine's models, so approved models can run in any ONNX runtime (onnxruntime, Triton, …).
// One entry point: modelToOnnx accepts a model object or its saved JSON.
import { MlError } from '../errors.js';
import type { GbdtModelJson } from '../gbdt/model.js';
import type { LogisticModelJson } from '../logistic/model.js';
import { gbdtToOnnx } from './gbdt.js';
import { logisticToOnnx } from './logistic.js';

export { gbdtToOnnx, float32Threshold } from './gbdt.js';
export { logisticToOnnx } from './logistic.js';

/** Serialized ONNX ModelProto for a logistic or GBDT model (instance with toJSON(), or its JSON). */
export function modelToOnnx(model: unknown): Uint8Array {
  const json: unknown =
    model !== null && typeof model === 'object' && typeof (model as { toJSON?: unknown }).toJSON === 'function'
      ? (model as { toJSON(): unknown }).toJSON()
      : model;
  const format = json !== null && typeof json === 'object' ? (json as { format?: unknown }).format : undefined;
  if (format === 'ichigen.logistic') return logisticToOnnx(json as LogisticModelJson);
  if (format === 'ichigen.gbdt') return gbdtToOnnx(json as GbdtModelJson);
  throw new MlError('MODEL_FORMAT', `cannot export model format ${JSON.stringify(format) ?? '(none)'} to ONNX`);
}
