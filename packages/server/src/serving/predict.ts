// Scoring rows with a registered model version: native models (GBDT / logistic) with explanations, ONNX-imported
// models through cached onnxruntime sessions. Rows are plain objects (from JSON, CSV or FHIR mapping).
import { createHash } from 'node:crypto';
import { Frame, type Column, type LoadedModel } from '@ichigen/ml';
import { AppError } from '../errors.js';
import type { ModelRegistry } from '../models/registry.js';
import type { OnnxSessionCache } from '../models/onnx-session.js';
import type { ObjectStore } from '../storage/object-store/port.js';
import { parseDigest } from '../storage/object-store/port.js';
import type { ModelVersionsTable } from '../training/tables.js';
import { canonicalJson } from '../util.js';

export interface Contribution {
  feature: string;
  value: number | string | null;
  /** Contribution to the log-odds (TreeSHAP for trees, coefficient × standardized value for logistic regression). */
  contribution: number;
}

export interface RowPrediction {
  probability: number;
  label: 0 | 1;
  /** Largest contributions first (native models only). */
  contributions: Contribution[] | null;
  baseValue: number | null;
}

export interface FeatureSpec {
  name: string;
  kind: 'numeric' | 'categorical';
}

export type Row = Record<string, unknown>;

/** The SHA-256 of the canonical JSON of the mapped inputs: what the prediction log stores to identify inputs. */
export const inputsDigest = (row: Row): string =>
  `sha256:${createHash('sha256').update(canonicalJson(row)).digest('hex')}`;

/**
 * Builds a frame with exactly the model's features, in its order. Missing keys (or null/'') are missing values;
 * a value that is not a number in a numeric feature is refused with the row and column named.
 */
export function frameForModel(features: readonly FeatureSpec[], rows: readonly Row[]): Frame {
  const n = rows.length;
  const cols: Column[] = features.map((f) => {
    if (f.kind === 'numeric') {
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const x = rows[i]![f.name];
        if (x === null || x === undefined || x === '') v[i] = NaN;
        else if (typeof x === 'number') v[i] = x;
        else if (typeof x === 'boolean') v[i] = x ? 1 : 0;
        else if (typeof x === 'string' && x.trim() !== '' && Number.isFinite(Number(x))) v[i] = Number(x);
        else
          throw new AppError(
            'PREDICT_BAD_VALUE',
            400,
            `row ${i + 1}, column ${f.name}: ${JSON.stringify(x).slice(0, 40)} is not a number`,
          );
      }
      return { name: f.name, kind: 'numeric', values: v };
    }
    const dict: string[] = [];
    const idx = new Map<string, number>();
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const x = rows[i]![f.name];
      if (x === null || x === undefined || x === '') {
        codes[i] = -1;
        continue;
      }
      const s = String(x);
      let c = idx.get(s);
      if (c === undefined) {
        c = dict.length;
        dict.push(s);
        idx.set(s, c);
      }
      codes[i] = c;
    }
    return { name: f.name, kind: 'categorical', codes, dictionary: dict };
  });
  return new Frame(cols);
}

/** Checks that the given column names include every model feature; names what is missing. */
export function checkColumns(features: readonly string[], columns: readonly string[]): void {
  const have = new Set(columns);
  const missing = features.filter((f) => !have.has(f));
  if (missing.length) {
    throw new AppError(
      'PREDICT_COLUMNS_MISMATCH',
      400,
      `the rows lack the model's feature column(s) ${missing.join(', ')} (the model uses: ${features.join(', ')})`,
      { missing },
    );
  }
}

export interface Scorer {
  features: FeatureSpec[];
  threshold: number;
  explainable: boolean;
  predict(rows: readonly Row[], opts?: { explain?: boolean; top?: number }): Promise<RowPrediction[]>;
}

function nativeScorer(model: LoadedModel, threshold: number): Scorer {
  const features: FeatureSpec[] = model.features.map((f) => ({ name: f.name, kind: f.kind }));
  return {
    features,
    threshold,
    explainable: true,
    async predict(rows, opts = {}) {
      const frame = frameForModel(features, rows);
      const p = model.predictProba(frame);
      const ex = opts.explain === false ? null : model.explain(frame);
      const top = opts.top ?? 5;
      return Array.from(p, (prob, i) => {
        let contributions: Contribution[] | null = null;
        if (ex) {
          const phi = ex.values[i]!;
          contributions = features
            .map((f, j) => ({
              feature: f.name,
              value: (rows[i]![f.name] ?? null) as number | string | null,
              contribution: phi[j]!,
            }))
            .filter((c) => c.contribution !== 0)
            .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
            .slice(0, top);
        }
        return {
          probability: prob,
          label: prob >= threshold ? 1 : 0,
          contributions,
          baseValue: ex ? ex.baseValue : null,
        } as RowPrediction;
      });
    },
  };
}

/** Builds (and caches) the scorer of a model version row. */
export class ScorerCache {
  private readonly scorers = new Map<string, Promise<Scorer>>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly objects: ObjectStore,
    private readonly onnx: OnnxSessionCache,
  ) {}

  get(
    mv: Pick<ModelVersionsTable, 'id' | 'model_digest' | 'onnx_digest' | 'features_json' | 'threshold'>,
  ): Promise<Scorer> {
    let s = this.scorers.get(mv.id);
    if (!s) {
      s = this.build(mv);
      this.scorers.set(mv.id, s);
      s.catch(() => this.scorers.delete(mv.id));
    }
    return s;
  }

  private async build(
    mv: Pick<ModelVersionsTable, 'id' | 'model_digest' | 'onnx_digest' | 'features_json' | 'threshold'>,
  ): Promise<Scorer> {
    const threshold = Number(mv.threshold);
    if (mv.model_digest) return nativeScorer(await this.registry.loadNative(mv.model_digest), threshold);
    if (!mv.onnx_digest)
      throw new AppError('ARTIFACT_NOT_AVAILABLE', 500, 'this model version has no artifact to score with');
    const onnxDigest = mv.onnx_digest;
    const session = await this.onnx.get(onnxDigest, () => this.objects.getBytes(parseDigest(onnxDigest)));
    const names = JSON.parse(mv.features_json) as string[];
    const features: FeatureSpec[] = names.map((name) => ({ name, kind: 'numeric' }));
    return {
      features,
      threshold,
      explainable: false,
      async predict(rows) {
        const frame = frameForModel(features, rows);
        const F = names.length;
        const x = new Float32Array(rows.length * F);
        frame.columns.forEach((c, j) => {
          if (c.kind !== 'numeric') return;
          for (let i = 0; i < rows.length; i++) x[i * F + j] = c.values[i]!;
        });
        const p = await session.predictProba(x, rows.length);
        return Array.from(
          p,
          (prob) =>
            ({
              probability: prob,
              label: prob >= threshold ? 1 : 0,
              contributions: null,
              baseValue: null,
            }) as RowPrediction,
        );
      },
    };
  }
}
