// Loads any saved model of this engine: dispatches on the JSON `format` field so callers need not know which
// learner produced a model file.
import { MlError } from './errors.js';
import { GBDT_FORMAT, GbdtModel } from './gbdt/model.js';
import { LOGISTIC_FORMAT, LogisticModel } from './logistic/model.js';

export type LoadedModel = GbdtModel | LogisticModel;

/** Reads a saved model (parsed JSON or JSON text) and returns the matching model class. */
export function loadModel(json: unknown): LoadedModel {
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new MlError('MODEL_CORRUPT', `model file is not valid JSON (truncated?): ${(e as Error).message}`);
    }
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new MlError('MODEL_CORRUPT', 'model file is not a JSON object');
  }
  const format = (obj as { format?: unknown }).format;
  switch (format) {
    case GBDT_FORMAT:
      return GbdtModel.fromJSON(obj);
    case LOGISTIC_FORMAT:
      return LogisticModel.fromJSON(obj);
    default:
      throw new MlError(
        'MODEL_FORMAT',
        `unknown model format ${JSON.stringify(format) ?? '(none)'}; this engine reads "${GBDT_FORMAT}" and "${LOGISTIC_FORMAT}"`,
      );
  }
}
