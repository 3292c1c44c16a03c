// Turns a Frame into the logistic model's design: mean-imputed, standardized numeric columns, optional 0/1
// missing indicators, and one-hot categorical columns, stored column-major in one Float64Array.
import { MlError } from '../errors.js';
import type { Column, Frame } from '../frame.js';

/** How one input feature enters the model (all statistics come from the training rows). */
export type DesignFeature =
  | {
      name: string;
      kind: 'numeric';
      /** Training mean of the non-missing values; also the imputed value for missing ones. */
      mean: number;
      /** Population standard deviation of the imputed training column (1 when the column is constant). */
      std: number;
      /** Whether a 0/1 "value was missing" column follows this feature in the design. */
      missingIndicator: boolean;
    }
  | { name: string; kind: 'categorical'; dictionary: string[] };

/** Design column count of one feature: 1 (+1 with an indicator) for numeric, one per level for categorical. */
export function width(f: DesignFeature): number {
  return f.kind === 'numeric' ? (f.missingIndicator ? 2 : 1) : f.dictionary.length;
}

/** Names of the design columns, e.g. `age`, `egfr__missing`, `ward=A`. */
export function designNames(features: readonly DesignFeature[]): string[] {
  const out: string[] = [];
  for (const f of features) {
    if (f.kind === 'numeric') {
      out.push(f.name);
      if (f.missingIndicator) out.push(`${f.name}__missing`);
    } else for (const level of f.dictionary) out.push(`${f.name}=${level}`);
  }
  return out;
}

/** Learns means, standard deviations and dictionaries from the training frame. */
export function fitDesign(frame: Frame, opts: { missingIndicator: boolean }): DesignFeature[] {
  return frame.columns.map((c): DesignFeature => {
    if (c.kind === 'categorical') return { name: c.name, kind: 'categorical', dictionary: [...c.dictionary] };
    const v = c.values;
    let sum = 0;
    let cnt = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x === x) {
        if (!Number.isFinite(x)) {
          throw new MlError('FEATURE_NOT_FINITE', `feature "${c.name}" has ${x} at row ${i}; use NaN for missing`);
        }
        sum += x;
        cnt++;
      }
    }
    const mean = cnt > 0 ? sum / cnt : 0;
    let ss = 0;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x === x) ss += (x - mean) * (x - mean);
    }
    // Imputed rows sit at the mean and add nothing to the sum of squares, but they count in n (as StandardScaler
    // after SimpleImputer does).
    const sd = Math.sqrt(ss / v.length);
    return {
      name: c.name,
      kind: 'numeric',
      mean,
      std: sd > 0 ? sd : 1,
      // An indicator that is 1 on every row (an all-missing column) would only duplicate the intercept.
      missingIndicator: opts.missingIndicator && cnt > 0 && cnt < v.length,
    };
  });
}

/** Categorical codes of `col` re-expressed in `dictionary` (by string); unknown or missing → -1. */
export function codesFor(col: Column, f: { name: string; dictionary: readonly string[] }): Int32Array {
  if (col.kind !== 'categorical') {
    throw new MlError(
      'FEATURE_KIND_MISMATCH',
      `feature "${f.name}" is categorical in the model but numeric in the data`,
    );
  }
  if (col.dictionary === f.dictionary) return col.codes;
  const index = new Map<string, number>();
  f.dictionary.forEach((s, j) => index.set(s, j));
  const map = Int32Array.from(col.dictionary, (s) => index.get(s) ?? -1);
  return Int32Array.from(col.codes, (c) => (c >= 0 && c < map.length ? map[c]! : -1));
}

/** The frame's column for a model feature, checked for presence and kind. */
export function inputColumn(frame: Frame, f: DesignFeature, all: readonly DesignFeature[]): Column {
  if (!frame.has(f.name)) {
    throw new MlError(
      'FEATURE_MISSING',
      `the data has no column "${f.name}", which the model needs (features: ${all.map((g) => g.name).join(', ')})`,
    );
  }
  const col = frame.column(f.name);
  if (f.kind === 'numeric' && col.kind !== 'numeric') {
    throw new MlError(
      'FEATURE_KIND_MISMATCH',
      `feature "${f.name}" is numeric in the model but categorical in the data`,
    );
  }
  return col;
}

/** Column-major design matrix (n × p): column j occupies X[j·n, (j+1)·n). */
export function buildDesign(
  frame: Frame,
  features: readonly DesignFeature[],
): { X: Float64Array; n: number; p: number } {
  const n = frame.numRows;
  let p = 0;
  for (const f of features) p += width(f);
  const X = new Float64Array(n * p);
  let j = 0;
  for (const f of features) {
    const col = inputColumn(frame, f, features);
    if (f.kind === 'numeric') {
      const v = (col as { values: Float64Array }).values;
      const off = j * n;
      const inv = 1 / f.std;
      for (let i = 0; i < n; i++) {
        const x = v[i]!;
        X[off + i] = x === x ? (x - f.mean) * inv : 0;
      }
      j++;
      if (f.missingIndicator) {
        const o2 = j * n;
        for (let i = 0; i < n; i++) X[o2 + i] = v[i] === v[i] ? 0 : 1;
        j++;
      }
    } else {
      const codes = codesFor(col, f);
      for (let i = 0; i < n; i++) {
        const c = codes[i]!;
        if (c >= 0) X[(j + c) * n + i] = 1;
      }
      j += f.dictionary.length;
    }
  }
  return { X, n, p };
}
