// DeLong's nonparametric variance of the AUC, with the fast O(n log n) midrank algorithm of Sun & Xu (2014),
// for a confidence interval of one model's AUC and a paired test of two models scored on the same cases.
import { MlError } from '../errors.js';
import { normalQuantile, normalSf } from './normal.js';
import { checkBothClasses, type Labels, type Scores } from './validate.js';

/** Ranks 1..n of `values` with ties given their average rank (midranks). */
export function midranks(values: Float64Array): Float64Array {
  const n = values.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]!] === values[order[i]!]) j++;
    const r = (i + j) / 2 + 1; // average of the 1-based ranks i+1..j+1
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

interface Components {
  auc: number;
  v10: Float64Array; // structural component per positive case
  v01: Float64Array; // structural component per negative case
}

function components(labels: Labels, scores: Scores, m: number, n: number): Components {
  const x = new Float64Array(m);
  const y = new Float64Array(n);
  const z = new Float64Array(m + n);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) x[a++] = scores[i]!;
    else y[b++] = scores[i]!;
  }
  z.set(x, 0);
  z.set(y, m);
  const tx = midranks(x);
  const ty = midranks(y);
  const tz = midranks(z);
  let sumPos = 0;
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    sumPos += tz[i]!;
    // Negatives ranked below positive i (ties half) = its rank among all minus its rank among positives.
    v10[i] = (tz[i]! - tx[i]!) / n;
  }
  for (let j = 0; j < n; j++) v01[j] = 1 - (tz[m + j]! - ty[j]!) / m;
  return { auc: (sumPos - (m * (m + 1)) / 2) / (m * n), v10, v01 };
}

function covariance(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  if (n < 2) return NaN;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (a[i]! - ma) * (b[i]! - mb);
  return s / (n - 1);
}

export interface AucInterval {
  auc: number;
  /** DeLong variance of the AUC estimate. */
  variance: number;
  se: number;
  lower: number;
  upper: number;
  level: number;
}

/** AUC with its DeLong confidence interval (Wald, clipped to [0, 1]); level defaults to 0.95. */
export function delongCi(labels: Labels, scores: Scores, opts: { level?: number } = {}): AucInterval {
  const level = opts.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new MlError('BAD_ARGUMENT', `confidence level must be in (0, 1), got ${level}`);
  const { pos, neg } = checkBothClasses(labels, scores);
  const c = components(labels, scores, pos, neg);
  const variance = covariance(c.v10, c.v10) / pos + covariance(c.v01, c.v01) / neg;
  const se = Math.sqrt(variance);
  const zq = normalQuantile(0.5 + level / 2);
  return {
    auc: c.auc,
    variance,
    se,
    lower: Math.max(0, c.auc - zq * se),
    upper: Math.min(1, c.auc + zq * se),
    level,
  };
}

export interface PairedDelong {
  aucA: number;
  aucB: number;
  /** aucA − aucB. */
  difference: number;
  /** DeLong variance of the difference (accounts for the correlation of the two models on the same cases). */
  variance: number;
  z: number;
  /** Two-sided p-value of H0: AUC_A = AUC_B. */
  pValue: number;
  /** Wald interval of the difference at `level`. */
  lower: number;
  upper: number;
  level: number;
}

/** DeLong's test for two correlated ROC curves: two models scored on the same cases. */
export function pairedDelong(
  labels: Labels,
  scoresA: Scores,
  scoresB: Scores,
  opts: { level?: number } = {},
): PairedDelong {
  const level = opts.level ?? 0.95;
  const { pos, neg } = checkBothClasses(labels, scoresA, 'scoresA');
  checkBothClasses(labels, scoresB, 'scoresB');
  const a = components(labels, scoresA, pos, neg);
  const b = components(labels, scoresB, pos, neg);
  const s10 = covariance(a.v10, a.v10) + covariance(b.v10, b.v10) - 2 * covariance(a.v10, b.v10);
  const s01 = covariance(a.v01, a.v01) + covariance(b.v01, b.v01) - 2 * covariance(a.v01, b.v01);
  const variance = Math.max(0, s10 / pos + s01 / neg);
  const difference = a.auc - b.auc;
  const se = Math.sqrt(variance);
  // Identical rankings give zero variance and zero difference: no evidence of a difference.
  const z = se > 0 ? difference / se : difference === 0 ? 0 : Math.sign(difference) * Infinity;
  const zq = normalQuantile(0.5 + level / 2);
  return {
    aucA: a.auc,
    aucB: b.auc,
    difference,
    variance,
    z,
    pValue: Math.min(1, 2 * normalSf(Math.abs(z))),
    lower: difference - zq * se,
    upper: difference + zq * se,
    level,
  };
}
