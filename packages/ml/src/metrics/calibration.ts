// Calibration of predicted probabilities: the binned reliability curve (sklearn calibration_curve) and the
// logistic recalibration slope and intercept used in clinical prediction-model reporting (Steyerberg, Van Calster).
import { MlError } from '../errors.js';
import { checkBinary, checkProbabilities, type Labels, type Scores } from './validate.js';

export interface CalibrationCurve {
  strategy: 'uniform' | 'quantile';
  /** Bin edges, nBins + 1 values from the lowest to the highest. */
  edges: Float64Array;
  /** Observed fraction of positives per non-empty bin (sklearn's prob_true). */
  fractionPositive: Float64Array;
  /** Mean predicted probability per non-empty bin (sklearn's prob_pred). */
  meanPredicted: Float64Array;
  /** Cases per non-empty bin. */
  count: Float64Array;
}

/** numpy.percentile with linear interpolation, including its lerp rounding, so quantile bin edges match exactly. */
function percentileEdges(sorted: Float64Array, nBins: number): Float64Array {
  const n = sorted.length;
  const edges = new Float64Array(nBins + 1);
  const step = 1 / nBins;
  for (let i = 0; i <= nBins; i++) {
    const q = i === nBins ? 1 : (i * step * 100) / 100;
    const virt = (n - 1) * q;
    const lo = Math.min(Math.max(Math.floor(virt), 0), n - 1);
    const hi = Math.min(lo + 1, n - 1);
    const t = virt - lo;
    const a = sorted[lo]!;
    const b = sorted[hi]!;
    const diff = b - a;
    edges[i] = t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
  }
  return edges;
}

/**
 * Reliability curve like sklearn.calibration.calibration_curve: cases fall in bin i when
 * edges[i] < p <= edges[i+1] (the first bin also takes p = edges[0]); empty bins are left out.
 */
export function calibrationCurve(
  labels: Labels,
  probs: Scores,
  opts: { nBins?: number; strategy?: 'uniform' | 'quantile' } = {},
): CalibrationCurve {
  const nBins = opts.nBins ?? 10;
  const strategy = opts.strategy ?? 'uniform';
  if (!Number.isInteger(nBins) || nBins < 1)
    throw new MlError('BAD_ARGUMENT', `nBins must be a positive integer, got ${nBins}`);
  checkBinary(labels, probs);
  checkProbabilities(probs);
  const n = labels.length;
  let edges: Float64Array;
  if (strategy === 'uniform') {
    edges = new Float64Array(nBins + 1);
    for (let i = 0; i <= nBins; i++) edges[i] = i === nBins ? 1 : i * (1 / nBins);
  } else {
    edges = percentileEdges(Float64Array.from(probs).sort(), nBins);
  }
  const sumP = new Float64Array(nBins);
  const sumY = new Float64Array(nBins);
  const cnt = new Float64Array(nBins);
  for (let i = 0; i < n; i++) {
    const p = probs[i]!;
    // Binary search for the number of inner edges strictly below p (numpy searchsorted, side='left').
    let lo = 1;
    let hi = nBins; // inner edges are edges[1..nBins-1]
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (edges[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    const bin = lo - 1;
    sumP[bin]! += p;
    sumY[bin]! += labels[i]!;
    cnt[bin]! += 1;
  }
  const fp: number[] = [];
  const mp: number[] = [];
  const c: number[] = [];
  for (let b = 0; b < nBins; b++) {
    if (cnt[b] === 0) continue;
    fp.push(sumY[b]! / cnt[b]!);
    mp.push(sumP[b]! / cnt[b]!);
    c.push(cnt[b]!);
  }
  return {
    strategy,
    edges,
    fractionPositive: Float64Array.from(fp),
    meanPredicted: Float64Array.from(mp),
    count: Float64Array.from(c),
  };
}

export interface CalibrationFit {
  /** b in logit P(y=1) = a + b·logit(p): 1 is ideal, < 1 means predictions are too extreme (overfitting). */
  slope: number;
  /** a of that same two-parameter fit. */
  interceptWithSlope: number;
  /** Calibration-in-the-large: a in logit P(y=1) = a + logit(p) with the slope fixed at 1 (offset); 0 is ideal. */
  intercept: number;
  /** False when the slope fit has no maximum-likelihood solution (outcomes separated by the score): slope and
   * interceptWithSlope are then NaN. The offset-only intercept needs both classes only. */
  converged: boolean;
}

function nll(z: Float64Array, y: Labels, a: number, b: number): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) {
    const eta = a + b * z[i]!;
    // log(1 + e^eta) − y·eta, computed without overflow.
    s += (eta > 0 ? eta + Math.log1p(Math.exp(-eta)) : Math.log1p(Math.exp(eta))) - y[i]! * eta;
  }
  return s;
}

/** Damped Newton for the one- or two-parameter logistic recalibration model. */
function recalibrate(z: Float64Array, y: Labels, fitSlope: boolean): { a: number; b: number; ok: boolean } {
  let a = 0;
  let b = 1;
  for (let iter = 0; iter < 200; iter++) {
    let g0 = 0;
    let g1 = 0;
    let h00 = 0;
    let h01 = 0;
    let h11 = 0;
    for (let i = 0; i < z.length; i++) {
      const p = 1 / (1 + Math.exp(-(a + b * z[i]!)));
      const w = p * (1 - p);
      const r = y[i]! - p;
      g0 += r;
      g1 += r * z[i]!;
      h00 += w;
      h01 += w * z[i]!;
      h11 += w * z[i]! * z[i]!;
    }
    let da: number;
    let db: number;
    if (fitSlope) {
      const det = h00 * h11 - h01 * h01;
      if (!(Math.abs(det) > 1e-300)) return { a, b, ok: false };
      da = (h11 * g0 - h01 * g1) / det;
      db = (h00 * g1 - h01 * g0) / det;
    } else {
      if (!(h00 > 0)) return { a, b, ok: false };
      da = g0 / h00;
      db = 0;
    }
    const f0 = nll(z, y, a, b);
    let t = 1;
    while (nll(z, y, a + t * da, b + t * db) > f0 + 1e-12 && t > 1e-10) t /= 2;
    a += t * da;
    b += t * db;
    if (Math.max(Math.abs(t * da), Math.abs(t * db)) < 1e-12) return { a, b, ok: true };
  }
  return { a, b, ok: false };
}

/** Calibration slope and intercepts by logistic recalibration of logit(p) (probabilities clipped to [ε, 1−ε]). */
export function calibrationSlopeIntercept(labels: Labels, probs: Scores): CalibrationFit {
  checkBinary(labels, probs);
  checkProbabilities(probs);
  const eps = Number.EPSILON;
  const z = Float64Array.from(probs, (p) => {
    const q = Math.min(Math.max(p, eps), 1 - eps);
    return Math.log(q / (1 - q));
  });
  // In one dimension the two-parameter MLE is missing exactly when a threshold on logit(p) separates the classes.
  let minPos = Infinity;
  let maxPos = -Infinity;
  let minNeg = Infinity;
  let maxNeg = -Infinity;
  for (let i = 0; i < z.length; i++) {
    if (labels[i] === 1) {
      minPos = Math.min(minPos, z[i]!);
      maxPos = Math.max(maxPos, z[i]!);
    } else {
      minNeg = Math.min(minNeg, z[i]!);
      maxNeg = Math.max(maxNeg, z[i]!);
    }
  }
  const bothClasses = minPos !== Infinity && minNeg !== Infinity;
  const separated = !bothClasses || maxNeg <= minPos || maxPos <= minNeg;
  const one = bothClasses ? recalibrate(z, labels, false) : { a: NaN, b: 1, ok: false };
  const two = separated ? { a: NaN, b: NaN, ok: false } : recalibrate(z, labels, true);
  return {
    slope: two.ok ? two.b : NaN,
    interceptWithSlope: two.ok ? two.a : NaN,
    intercept: one.ok ? one.a : NaN,
    converged: two.ok,
  };
}
