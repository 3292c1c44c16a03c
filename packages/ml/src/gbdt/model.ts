// The trained gradient-boosted trees model: fast batched prediction on raw frames, TreeSHAP explanations,
// importances, and the versioned, checksummed JSON format described in docs/model-format.md.
import { numericToCategorical, remapCodes } from '../binning.js';
import { modelChecksum } from '../model-json.js';
import { MlError } from '../errors.js';
import type { Column, Frame } from '../frame.js';
import { gbdtToOnnx } from '../onnx/gbdt.js';
import { ENGINE_VERSION } from '../version.js';
import { compileTrees, splitThreshold, TreePredictor } from './predict.js';
import { ForestShap } from './shap.js';
import type { ShapForest, ShapTree } from './shap.js';

export const GBDT_FORMAT = 'ichigen.gbdt';
export const GBDT_FORMAT_VERSION = 1;

/** One tree as parallel arrays (node 0 is the root). */
export interface GbdtTreeJson {
  /** Feature index into model.features, -1 for a leaf. */
  splitFeature: number[];
  /**
   * Numeric split: value <= threshold goes left (the upper edge of the last bin on the left). Number.MAX_VALUE means
   * every value goes left, +Infinity included (JSON has no Infinity; see splitThreshold in predict.ts).
   */
  threshold: number[];
  /** Categorical split: dictionary codes that go left; all others go right. null for numeric splits and leaves. */
  categories: (number[] | null)[];
  /** Where a missing value (NaN / code -1 / unseen category) goes. */
  defaultLeft: boolean[];
  left: number[];
  right: number[];
  /** Leaf: raw-margin output, learning rate applied. Internal: cover-weighted mean of its leaves. */
  value: number[];
  /** Sum of hessians at the node. */
  cover: number[];
  /** Split gain (0 at leaves). */
  gain: number[];
}

export type GbdtFeatureJson =
  { name: string; kind: 'numeric'; binEdges: number[] } | { name: string; kind: 'categorical'; dictionary: string[] };

export type GbdtObjective = 'binary' | 'regression';

export interface GbdtModelJson {
  format: typeof GBDT_FORMAT;
  formatVersion: typeof GBDT_FORMAT_VERSION;
  engineVersion: string;
  objective: GbdtObjective;
  features: GbdtFeatureJson[];
  baseScore: number;
  trees: GbdtTreeJson[];
  params: Record<string, number | string | boolean | string[] | null>;
  /** 0-based iteration with the best validation loss; the model keeps trees 0..bestIteration. */
  bestIteration: number;
  featureImportance: { gain: number[]; split: number[] };
  /** SHA-256 (hex) of the canonical JSON of every other field. */
  checksum: string;
}

export type ImportanceKind = 'gain' | 'split' | 'shap';

/** Most numbers (8 bytes each) the TreeSHAP leaf tables of one model may hold: 4 Mi = 32 MiB. */
const SHAP_TABLE_BUDGET = 4 * 1024 * 1024;

/** All trees flattened into typed arrays for TreeSHAP (prediction has its own layout in predict.ts). */
type Compiled = ShapForest;

/** A trained GBDT model. Create with `trainGbdt` or `GbdtModel.fromJSON`. */
export class GbdtModel {
  readonly objective: GbdtObjective;
  readonly features: readonly GbdtFeatureJson[];
  readonly baseScore: number;
  readonly trees: readonly GbdtTreeJson[];
  readonly params: GbdtModelJson['params'];
  readonly bestIteration: number;
  readonly engineVersion: string;
  private compiled: Compiled | null = null;
  private forestShap: ForestShap | null = null;
  private treePredictor: TreePredictor | null = null;
  /** Per categorical feature: category → first dictionary code, for predictRow. */
  private categoryIndex: (Map<string, number> | null)[] | null = null;

  constructor(init: {
    objective: GbdtObjective;
    features: GbdtFeatureJson[];
    baseScore: number;
    trees: GbdtTreeJson[];
    params: GbdtModelJson['params'];
    bestIteration: number;
    engineVersion?: string;
  }) {
    this.objective = init.objective;
    this.features = init.features;
    this.baseScore = init.baseScore;
    this.trees = init.trees;
    this.params = init.params;
    this.bestIteration = init.bestIteration;
    this.engineVersion = init.engineVersion ?? ENGINE_VERSION;
  }

  get featureNames(): string[] {
    return this.features.map((f) => f.name);
  }

  /** Raw margins: baseScore plus the sum of leaf values (log-odds for binary). */
  predictRaw(frame: Frame): Float64Array {
    const predictor = this.predictor();
    const cols = this.inputColumns(frame);
    const n = frame.numRows;
    const out = new Float64Array(n).fill(this.baseScore);
    predictor.addTrees(cols, n, out);
    return out;
  }

  /** Probability of the positive class (binary models only). */
  predictProba(frame: Frame): Float64Array {
    if (this.objective !== 'binary') {
      throw new MlError('WRONG_OBJECTIVE', 'predictProba needs a binary model; this model is a regression');
    }
    const raw = this.predictRaw(frame);
    for (let i = 0; i < raw.length; i++) raw[i] = 1 / (1 + Math.exp(-raw[i]!));
    return raw;
  }

  /** Binary: probability of the positive class. Regression: the predicted value. */
  predict(frame: Frame): Float64Array {
    return this.objective === 'binary' ? this.predictProba(frame) : this.predictRaw(frame);
  }

  /** `predict` for one row given as an object of feature name → value (null/undefined = missing). */
  predictRow(row: Record<string, unknown>): number {
    const predictor = this.predictor();
    const x = this.rowValues(row);
    const raw = predictor.sumRow(x, this.baseScore);
    return this.objective === 'binary' ? 1 / (1 + Math.exp(-raw)) : raw;
  }

  /**
   * TreeSHAP values in raw-margin units: for every row, baseValue + Σ values[row][f] equals predictRaw(row).
   * `values[i][f]` follows the order of model.features.
   */
  explain(frame: Frame): { baseValue: number; values: Float64Array[] } {
    const c = this.compile();
    const cols = this.inputColumns(frame);
    const F = c.numFeatures;
    const n = frame.numRows;
    this.forestShap ??= ForestShap.build(c, SHAP_TABLE_BUDGET);
    const x = new Float64Array(F);
    const values: Float64Array[] = [];
    for (let i = 0; i < n; i++) {
      fillBlock(cols, i, 1, x, F);
      const phi = new Float64Array(F);
      this.forestShap.addRow(x, phi);
      values.push(phi);
    }
    return { baseValue: this.expectedValue(), values };
  }

  /** The cover-weighted mean raw margin: what explain() attributes differences from. */
  expectedValue(): number {
    let v = this.baseScore;
    for (const t of this.trees) v += t.value[0]!;
    return v;
  }

  /**
   * Importance per feature name: total split gain, number of splits, or mean |SHAP| over `frame` (required for
   * 'shap').
   */
  featureImportance(kind: ImportanceKind = 'gain', frame?: Frame): Record<string, number> {
    const F = this.features.length;
    const imp = new Float64Array(F);
    if (kind === 'shap') {
      if (!frame) throw new MlError('INVALID_ARGUMENT', "featureImportance('shap') needs a frame to explain");
      const { values } = this.explain(frame);
      for (const phi of values) for (let f = 0; f < F; f++) imp[f] = imp[f]! + Math.abs(phi[f]!);
      if (values.length > 0) for (let f = 0; f < F; f++) imp[f] = imp[f]! / values.length;
    } else if (kind === 'gain' || kind === 'split') {
      for (const t of this.trees) {
        for (let j = 0; j < t.splitFeature.length; j++) {
          const f = t.splitFeature[j]!;
          if (f >= 0) imp[f] = imp[f]! + (kind === 'gain' ? t.gain[j]! : 1);
        }
      }
    } else {
      throw new MlError('INVALID_ARGUMENT', `unknown importance kind "${String(kind)}" (use gain, split or shap)`);
    }
    const out: Record<string, number> = {};
    this.features.forEach((f, i) => (out[f.name] = imp[i]!));
    return out;
  }

  /**
   * ONNX ModelProto bytes (ai.onnx.ml TreeEnsembleClassifier for binary models, TreeEnsembleRegressor for regression;
   * see docs/model-format.md for the input contract). The same bytes as `modelToOnnx(model)`.
   */
  toOnnx(): Uint8Array {
    return gbdtToOnnx(this.toJSON());
  }

  toJSON(): GbdtModelJson {
    const gain = this.featureImportance('gain');
    const split = this.featureImportance('split');
    const body: Omit<GbdtModelJson, 'checksum'> = {
      format: GBDT_FORMAT,
      formatVersion: GBDT_FORMAT_VERSION,
      engineVersion: this.engineVersion,
      objective: this.objective,
      features: this.features.map((f) => ({ ...f })),
      baseScore: this.baseScore,
      trees: this.trees as GbdtTreeJson[],
      params: this.params,
      bestIteration: this.bestIteration,
      featureImportance: {
        gain: this.featureNames.map((n) => gain[n]!),
        split: this.featureNames.map((n) => split[n]!),
      },
    };
    return { ...body, checksum: modelChecksum(body) };
  }

  /** Reads a model written by toJSON (object or JSON text); refuses other formats, versions and altered files. */
  static fromJSON(input: unknown): GbdtModel {
    const json = parseModelJson(input);
    return new GbdtModel({
      objective: json.objective,
      features: json.features,
      baseScore: json.baseScore,
      trees: json.trees,
      params: json.params,
      bestIteration: json.bestIteration,
      engineVersion: json.engineVersion,
    });
  }

  /** The model's columns taken from `frame` by name, categorical codes mapped onto the model's dictionaries. */
  private inputColumns(frame: Frame): (Float64Array | Int32Array)[] {
    return this.features.map((f) => {
      if (!frame.has(f.name)) {
        throw new MlError(
          'FEATURE_MISSING',
          `the data has no column "${f.name}", which the model needs (features: ${this.featureNames.join(', ')})`,
        );
      }
      const col: Column = frame.column(f.name);
      if (f.kind === 'numeric') {
        if (col.kind !== 'numeric') {
          throw new MlError(
            'FEATURE_KIND_MISMATCH',
            `feature "${f.name}" is numeric in the model but categorical in the data`,
          );
        }
        return col.values;
      }
      return remapCodes(col.kind === 'numeric' ? numericToCategorical(f.name, col.values) : col, f.dictionary, f.name);
    });
  }

  private predictor(): TreePredictor {
    this.treePredictor ??= new TreePredictor(compileTrees(this.features, this.trees));
    return this.treePredictor;
  }

  /**
   * One row as the numbers the predictor reads, converted exactly as Frame.fromRow would: numeric fields through
   * Number() (null, undefined and '' are missing), categorical fields to their dictionary code (-1 when unknown).
   */
  private rowValues(row: Record<string, unknown>): Float64Array {
    const F = this.features.length;
    if (!this.categoryIndex) {
      this.categoryIndex = this.features.map((f) => {
        if (f.kind !== 'categorical') return null;
        const index = new Map<string, number>();
        // indexOf finds the first occurrence, so the first code of a repeated category wins here too.
        f.dictionary.forEach((name, code) => {
          if (!index.has(name)) index.set(name, code);
        });
        return index;
      });
    }
    const x = new Float64Array(F);
    for (let f = 0; f < F; f++) {
      const feat = this.features[f]!;
      if (!(feat.name in row)) {
        throw new MlError(
          'FEATURE_MISSING',
          `the row has no field "${feat.name}", which the model needs (use null for missing)`,
        );
      }
      const v = row[feat.name];
      if (feat.kind === 'numeric') x[f] = v === null || v === undefined || v === '' ? NaN : Number(v);
      else x[f] = v === null || v === undefined ? -1 : (this.categoryIndex[f]!.get(String(v)) ?? -1);
    }
    return x;
  }

  private compile(): Compiled {
    if (this.compiled) return this.compiled;
    let total = 0;
    let catTotal = 0;
    for (const t of this.trees) {
      total += t.splitFeature.length;
      for (let j = 0; j < t.splitFeature.length; j++) {
        const f = t.splitFeature[j]!;
        const feat = this.features[f];
        if (f >= 0 && feat?.kind === 'categorical') catTotal += feat.dictionary.length;
      }
    }
    const shapTrees: (ShapTree & { offset: number })[] = [];
    const c: Compiled = {
      numFeatures: this.features.length,
      feature: new Int32Array(total),
      threshold: new Float64Array(total),
      defaultLeft: new Uint8Array(total),
      catOffset: new Int32Array(total).fill(-1),
      catMember: new Uint8Array(catTotal),
      shapTrees,
    };
    let off = 0;
    let catOff = 0;
    this.trees.forEach((t) => {
      const m = t.splitFeature.length;
      const depth = new Int32Array(m);
      let maxDepth = 0;
      for (let j = 0; j < m; j++) {
        const g = off + j;
        const f = t.splitFeature[j]!;
        c.feature[g] = f;
        if (f < 0) continue;
        c.threshold[g] = splitThreshold(t.threshold[j]!);
        c.defaultLeft[g] = t.defaultLeft[j] ? 1 : 0;
        const l = t.left[j]!;
        const r = t.right[j]!;
        depth[l] = depth[j]! + 1;
        depth[r] = depth[j]! + 1;
        maxDepth = Math.max(maxDepth, depth[j]! + 1);
        const feat = this.features[f]!;
        if (feat.kind === 'categorical') {
          c.catOffset[g] = catOff;
          for (const code of t.categories[j] ?? []) c.catMember[catOff + code] = 1;
          catOff += feat.dictionary.length;
        }
      }
      shapTrees.push({
        offset: off,
        feature: Int32Array.from(t.splitFeature),
        left: Int32Array.from(t.left),
        right: Int32Array.from(t.right),
        value: Float64Array.from(t.value),
        cover: Float64Array.from(t.cover),
        maxDepth,
      });
      off += m;
    });
    this.compiled = c;
    return c;
  }
}

/** Copies rows [r0, r0 + m) into the row-major block X; categorical codes become numbers, -1 becomes NaN. */
function fillBlock(cols: (Float64Array | Int32Array)[], r0: number, m: number, X: Float64Array, F: number): void {
  for (let f = 0; f < F; f++) {
    const col = cols[f]!;
    if (col instanceof Float64Array) {
      for (let i = 0; i < m; i++) X[i * F + f] = col[r0 + i]!;
    } else {
      for (let i = 0; i < m; i++) {
        const code = col[r0 + i]!;
        X[i * F + f] = code < 0 ? NaN : code;
      }
    }
  }
}

function corrupt(msg: string): never {
  throw new MlError('MODEL_CORRUPT', `model file is damaged or not a GBDT model: ${msg}`);
}

function isNumArray(v: unknown, n?: number): v is number[] {
  return (
    Array.isArray(v) &&
    (n === undefined || v.length === n) &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

/** Validates a model JSON (object or text): format, versions, checksum, then structure. */
export function parseModelJson(input: unknown): GbdtModelJson {
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
  if (j.format !== GBDT_FORMAT) {
    throw new MlError('MODEL_FORMAT', `expected format "${GBDT_FORMAT}", got ${JSON.stringify(j.format) ?? 'nothing'}`);
  }
  if (j.formatVersion !== GBDT_FORMAT_VERSION) {
    throw new MlError(
      'MODEL_VERSION',
      `model formatVersion ${String(j.formatVersion)} is not supported (this engine reads ${GBDT_FORMAT_VERSION})`,
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
  if (j.objective !== 'binary' && j.objective !== 'regression') corrupt(`unknown objective ${String(j.objective)}`);
  if (typeof j.baseScore !== 'number' || !Number.isFinite(j.baseScore)) corrupt('baseScore');
  if (!Number.isInteger(j.bestIteration)) corrupt('bestIteration');
  if (!Array.isArray(j.features)) corrupt('features');
  const features = j.features as unknown[];
  const names = new Set<string>();
  for (const f of features) {
    const o = f as Record<string, unknown>;
    if (!o || typeof o.name !== 'string' || names.has(o.name)) corrupt('feature names');
    names.add(o.name);
    if (o.kind === 'numeric') {
      if (!isNumArray(o.binEdges)) corrupt(`binEdges of "${o.name}"`);
    } else if (o.kind === 'categorical') {
      if (!Array.isArray(o.dictionary) || !o.dictionary.every((s) => typeof s === 'string'))
        corrupt(`dictionary of "${o.name}"`);
    } else corrupt(`kind of "${o.name}"`);
  }
  if (!Array.isArray(j.trees)) corrupt('trees');
  (j.trees as unknown[]).forEach((tree, ti) => checkTree(tree, ti, features as GbdtFeatureJson[]));
  if (j.params === null || typeof j.params !== 'object') corrupt('params');
  return j as unknown as GbdtModelJson;
}

function checkTree(tree: unknown, ti: number, features: GbdtFeatureJson[]): void {
  const t = tree as Record<string, unknown>;
  if (!t || typeof t !== 'object' || !Array.isArray(t.splitFeature)) corrupt(`tree ${ti}`);
  const m = (t.splitFeature as unknown[]).length;
  if (m === 0) corrupt(`tree ${ti} is empty`);
  for (const k of ['splitFeature', 'threshold', 'left', 'right', 'value', 'cover', 'gain'] as const) {
    if (!isNumArray(t[k], m)) corrupt(`tree ${ti} field ${k}`);
  }
  if (
    !Array.isArray(t.defaultLeft) ||
    t.defaultLeft.length !== m ||
    !Array.isArray(t.categories) ||
    t.categories.length !== m
  ) {
    corrupt(`tree ${ti} defaultLeft/categories`);
  }
  const sf = t.splitFeature as number[];
  const left = t.left as number[];
  const right = t.right as number[];
  const cats = t.categories as unknown[];
  for (let j = 0; j < m; j++) {
    const f = sf[j]!;
    if (f === -1) {
      if (left[j] !== -1 || right[j] !== -1) corrupt(`tree ${ti} leaf ${j} has children`);
      continue;
    }
    const feat = features[f];
    if (!Number.isInteger(f) || !feat) corrupt(`tree ${ti} node ${j} feature ${f}`);
    const l = left[j]!;
    const r = right[j]!;
    // Children come after their parent, which also rules out cycles.
    if (!Number.isInteger(l) || !Number.isInteger(r) || l <= j || r <= j || l >= m || r >= m)
      corrupt(`tree ${ti} node ${j} children`);
    if (feat.kind === 'categorical') {
      const c = cats[j];
      if (!Array.isArray(c) || !c.every((x) => Number.isInteger(x) && x >= 0 && x < feat.dictionary.length)) {
        corrupt(`tree ${ti} node ${j} categories`);
      }
    }
  }
}
