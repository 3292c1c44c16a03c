// The trained logistic regression model: probabilities, per-feature logit contributions, and the versioned,
// checksummed JSON format `ichigen.logistic` (docs/model-format.md).
import { modelChecksum } from '../model-json.js';
import { MlError } from '../errors.js';
import { Frame } from '../frame.js';
import type { Column } from '../frame.js';
import { logisticToOnnx } from '../onnx/logistic.js';
import { ENGINE_VERSION } from '../version.js';
import { codesFor, designNames, inputColumn, type DesignFeature } from './design.js';

export const LOGISTIC_FORMAT = 'ichigen.logistic';
export const LOGISTIC_FORMAT_VERSION = 1;

/** One feature with its coefficients, on the standardized scale. */
export type LogisticFeatureJson =
  | {
      name: string;
      kind: 'numeric';
      mean: number;
      std: number;
      /** Coefficient of (x − mean) / std. */
      coef: number;
      /** Coefficient of the 0/1 missing indicator, or null when the model has none for this feature. */
      missingCoef: number | null;
    }
  | {
      name: string;
      kind: 'categorical';
      dictionary: string[];
      /** One coefficient per dictionary entry (one-hot); missing or unseen categories contribute 0. */
      coefs: number[];
    };

export interface LogisticParamsJson {
  penalty: 'l2' | 'l1' | 'elasticnet' | 'none';
  /** Penalty weight α of the mean-loss objective (α = 1/(C·n)). */
  lambda: number;
  /** scikit-learn's C for the training set size. */
  C: number | null;
  l1Ratio: number;
  classWeight: { 0: number; 1: number };
  missingIndicator: boolean;
  maxIter: number;
  tol: number;
}

export interface LogisticModelJson {
  format: typeof LOGISTIC_FORMAT;
  formatVersion: typeof LOGISTIC_FORMAT_VERSION;
  engineVersion: string;
  objective: 'binary';
  features: LogisticFeatureJson[];
  intercept: number;
  params: LogisticParamsJson;
  training: { rows: number; positives: number; iterations: number; converged: boolean; objective: number; kkt: number };
  /** SHA-256 (hex) of the canonical JSON (keys sorted at every level) of every other field. */
  checksum: string;
}

function corrupt(msg: string): never {
  throw new MlError('MODEL_CORRUPT', `model file is damaged or not a logistic model: ${msg}`);
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export class LogisticModel {
  readonly objective = 'binary' as const;
  readonly features: readonly LogisticFeatureJson[];
  readonly intercept: number;
  readonly params: LogisticParamsJson;
  readonly training: LogisticModelJson['training'];
  readonly engineVersion: string;

  constructor(init: {
    features: LogisticFeatureJson[];
    intercept: number;
    params: LogisticParamsJson;
    training: LogisticModelJson['training'];
    engineVersion?: string;
  }) {
    this.features = init.features;
    this.intercept = init.intercept;
    this.params = init.params;
    this.training = init.training;
    this.engineVersion = init.engineVersion ?? ENGINE_VERSION;
  }

  get featureNames(): string[] {
    return this.features.map((f) => f.name);
  }

  /** Design column names in coefficient order (numeric, `name__missing`, `name=level`). */
  get designNames(): string[] {
    return designNames(this.designFeatures());
  }

  /** Coefficients in design-column order (standardized scale), matching `designNames`. */
  get coefficients(): Float64Array {
    const out: number[] = [];
    for (const f of this.features) {
      if (f.kind === 'numeric') {
        out.push(f.coef);
        if (f.missingCoef !== null) out.push(f.missingCoef);
      } else out.push(...f.coefs);
    }
    return Float64Array.from(out);
  }

  /** The logit (log-odds) for each row. */
  predictRaw(frame: Frame): Float64Array {
    const n = frame.numRows;
    const out = new Float64Array(n).fill(this.intercept);
    this.forEachContribution(frame, (_f, contrib) => {
      for (let i = 0; i < n; i++) out[i] = out[i]! + contrib[i]!;
    });
    return out;
  }

  /** Probability of the positive class for each row. */
  predictProba(frame: Frame): Float64Array {
    const z = this.predictRaw(frame);
    for (let i = 0; i < z.length; i++) z[i] = 1 / (1 + Math.exp(-z[i]!));
    return z;
  }

  /** Same as predictProba (the common interface with the tree models). */
  predict(frame: Frame): Float64Array {
    return this.predictProba(frame);
  }

  /** Probability for one row given as feature name → value (null = missing; every feature must be present). */
  predictRow(row: Record<string, unknown>): number {
    return this.predictProba(this.rowFrame(row))[0]!;
  }

  /**
   * Per-feature contributions to the logit: coefficient × standardized value (imputed rows contribute 0 plus
   * their indicator's coefficient; a categorical feature contributes its level's coefficient).
   * For every row, baseValue + Σ values[row][f] equals the logit; values[row] follows model.features.
   */
  explain(frame: Frame): { baseValue: number; values: Float64Array[] } {
    const n = frame.numRows;
    const F = this.features.length;
    const values: Float64Array[] = [];
    for (let i = 0; i < n; i++) values.push(new Float64Array(F));
    this.forEachContribution(frame, (f, contrib) => {
      for (let i = 0; i < n; i++) values[i]![f] = contrib[i]!;
    });
    return { baseValue: this.intercept, values };
  }

  /** The versioned, checksummed JSON form (see docs/model-format.md). */
  toJSON(): LogisticModelJson {
    const body: Omit<LogisticModelJson, 'checksum'> = {
      format: LOGISTIC_FORMAT,
      formatVersion: LOGISTIC_FORMAT_VERSION,
      engineVersion: this.engineVersion,
      objective: 'binary',
      features: this.features.map((f) => ({ ...f })) as LogisticFeatureJson[],
      intercept: this.intercept,
      params: this.params,
      training: this.training,
    };
    return { ...body, checksum: modelChecksum(body) };
  }

  /** ONNX ModelProto bytes (ai.onnx.ml LinearClassifier; see docs/model-format.md for the input contract). */
  toOnnx(): Uint8Array {
    return logisticToOnnx(this.toJSON());
  }

  /** Reads a model written by toJSON (object or JSON text), verifying format, version and checksum. */
  static fromJSON(input: unknown): LogisticModel {
    let json: unknown = input;
    if (typeof input === 'string') {
      try {
        json = JSON.parse(input);
      } catch (e) {
        throw new MlError('MODEL_CORRUPT', `model file is not valid JSON (truncated?): ${(e as Error).message}`);
      }
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) corrupt('not a JSON object');
    const j = json as Record<string, unknown>;
    if (j.format !== LOGISTIC_FORMAT) {
      throw new MlError(
        'MODEL_FORMAT',
        `expected format "${LOGISTIC_FORMAT}", got ${JSON.stringify(j.format) ?? 'nothing'}`,
      );
    }
    if (j.formatVersion !== LOGISTIC_FORMAT_VERSION) {
      throw new MlError(
        'MODEL_VERSION',
        `model formatVersion ${String(j.formatVersion)} is not supported (this engine reads ${LOGISTIC_FORMAT_VERSION})`,
      );
    }
    const ev = typeof j.engineVersion === 'string' ? j.engineVersion : '';
    if (!/^\d+\.\d+\.\d+/.test(ev) || ev.split('.')[0] !== ENGINE_VERSION.split('.')[0]) {
      throw new MlError(
        'MODEL_VERSION',
        `model was written by engine ${ev || '(unknown)'}, incompatible with engine ${ENGINE_VERSION}`,
      );
    }
    if (typeof j.checksum !== 'string') corrupt('checksum missing');
    if (modelChecksum(j) !== j.checksum) {
      throw new MlError('MODEL_CHECKSUM', 'model checksum does not match its content: the file was altered or damaged');
    }
    if (!finite(j.intercept)) corrupt('intercept');
    if (!Array.isArray(j.features) || j.features.length === 0) corrupt('features');
    const names = new Set<string>();
    for (const f of j.features as unknown[]) {
      const o = f as Record<string, unknown>;
      if (!o || typeof o.name !== 'string' || names.has(o.name)) corrupt('feature names');
      names.add(o.name);
      if (o.kind === 'numeric') {
        if (!finite(o.mean) || !finite(o.std) || !(o.std > 0) || !finite(o.coef))
          corrupt(`numeric feature "${o.name}"`);
        if (o.missingCoef !== null && !finite(o.missingCoef)) corrupt(`missingCoef of "${o.name}"`);
      } else if (o.kind === 'categorical') {
        if (!Array.isArray(o.dictionary) || !o.dictionary.every((s) => typeof s === 'string'))
          corrupt(`dictionary of "${o.name}"`);
        if (!Array.isArray(o.coefs) || o.coefs.length !== o.dictionary.length || !o.coefs.every(finite)) {
          corrupt(`coefs of "${o.name}"`);
        }
      } else corrupt(`kind of "${o.name}"`);
    }
    if (j.params === null || typeof j.params !== 'object') corrupt('params');
    if (j.training === null || typeof j.training !== 'object') corrupt('training');
    return new LogisticModel({
      features: j.features as LogisticFeatureJson[],
      intercept: j.intercept,
      params: j.params as LogisticParamsJson,
      training: j.training as LogisticModelJson['training'],
      engineVersion: ev,
    });
  }

  /** Calls fn(featureIndex, contribution per row) for every feature. */
  private forEachContribution(frame: Frame, fn: (f: number, contrib: Float64Array) => void): void {
    const n = frame.numRows;
    const design = this.designFeatures();
    const contrib = new Float64Array(n);
    this.features.forEach((f, k) => {
      const col = inputColumn(frame, design[k]!, design);
      if (f.kind === 'numeric') {
        const v = (col as { values: Float64Array }).values;
        const scale = f.coef / f.std;
        const mc = f.missingCoef ?? 0;
        for (let i = 0; i < n; i++) {
          const x = v[i]!;
          contrib[i] = x === x ? (x - f.mean) * scale : mc;
        }
      } else {
        const codes = codesFor(col, f);
        for (let i = 0; i < n; i++) {
          const c = codes[i]!;
          contrib[i] = c >= 0 ? f.coefs[c]! : 0;
        }
      }
      fn(k, contrib);
    });
  }

  private designFeatures(): DesignFeature[] {
    return this.features.map((f): DesignFeature =>
      f.kind === 'numeric'
        ? { name: f.name, kind: 'numeric', mean: f.mean, std: f.std, missingIndicator: f.missingCoef !== null }
        : { name: f.name, kind: 'categorical', dictionary: f.dictionary },
    );
  }

  private rowFrame(row: Record<string, unknown>): Frame {
    for (const f of this.features) {
      if (!(f.name in row)) {
        throw new MlError(
          'FEATURE_MISSING',
          `the row has no field "${f.name}", which the model needs (use null for missing)`,
        );
      }
    }
    const like: Column[] = this.features.map((f) =>
      f.kind === 'numeric'
        ? { name: f.name, kind: 'numeric', values: new Float64Array(0) }
        : { name: f.name, kind: 'categorical', codes: new Int32Array(0), dictionary: f.dictionary },
    );
    return Frame.fromRow(row, like);
  }
}
