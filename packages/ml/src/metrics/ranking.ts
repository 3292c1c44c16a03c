// Threshold-free ranking metrics: ROC curve and AUC, precision-recall curve and average precision.
// They follow scikit-learn's roc_curve / roc_auc_score / precision_recall_curve definitions (ties included).
import { checkBinary, checkBothClasses, orderByScoreDesc, type Labels, type Scores } from './validate.js';

/** Cumulative counts at each distinct score (descending): predicting positive when score >= threshold. */
export interface ClfCurve {
  fps: Float64Array;
  tps: Float64Array;
  thresholds: Float64Array;
}

/** scikit-learn's _binary_clf_curve: one point per distinct score, highest score first. */
export function binaryClfCurve(labels: Labels, scores: Scores): ClfCurve {
  checkBinary(labels, scores);
  const order = orderByScoreDesc(scores);
  const n = order.length;
  const fps: number[] = [];
  const tps: number[] = [];
  const thr: number[] = [];
  let tp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    tp += labels[i]!;
    const next = k + 1 < n ? scores[order[k + 1]!]! : NaN;
    if (k === n - 1 || next !== scores[i]!) {
      tps.push(tp);
      fps.push(k + 1 - tp);
      thr.push(scores[i]!);
    }
  }
  return { fps: Float64Array.from(fps), tps: Float64Array.from(tps), thresholds: Float64Array.from(thr) };
}

export interface RocCurve {
  fpr: Float64Array;
  tpr: Float64Array;
  /** Score thresholds (predict positive when score >= threshold); the first is +Infinity (no one positive). */
  thresholds: Float64Array;
}

/**
 * ROC curve like sklearn.metrics.roc_curve. With dropIntermediate (default true) collinear points are removed.
 * The first threshold is +Infinity as in scikit-learn >= 1.3 (1.2 used max score + 1).
 */
export function rocCurve(labels: Labels, scores: Scores, opts: { dropIntermediate?: boolean } = {}): RocCurve {
  checkBothClasses(labels, scores);
  let { fps, tps, thresholds } = binaryClfCurve(labels, scores);
  if ((opts.dropIntermediate ?? true) && fps.length > 2) {
    const keep: number[] = [0];
    for (let i = 1; i < fps.length - 1; i++) {
      // Second difference non-zero means the slope changes at i: a corner of the curve.
      const d2f = fps[i + 1]! - 2 * fps[i]! + fps[i - 1]!;
      const d2t = tps[i + 1]! - 2 * tps[i]! + tps[i - 1]!;
      if (d2f !== 0 || d2t !== 0) keep.push(i);
    }
    keep.push(fps.length - 1);
    fps = Float64Array.from(keep, (i) => fps[i]!);
    tps = Float64Array.from(keep, (i) => tps[i]!);
    thresholds = Float64Array.from(keep, (i) => thresholds[i]!);
  }
  const m = fps.length + 1;
  const fpr = new Float64Array(m);
  const tpr = new Float64Array(m);
  const thr = new Float64Array(m);
  thr[0] = Infinity;
  const fTot = fps[fps.length - 1]!;
  const tTot = tps[tps.length - 1]!;
  for (let i = 1; i < m; i++) {
    fpr[i] = fps[i - 1]! / fTot;
    tpr[i] = tps[i - 1]! / tTot;
    thr[i] = thresholds[i - 1]!;
  }
  return { fpr, tpr, thresholds: thr };
}

/** Area under the ROC curve, exact with ties counted one half (equals sklearn roc_auc_score). */
export function rocAuc(labels: Labels, scores: Scores): number {
  const { pos, neg } = checkBothClasses(labels, scores);
  const { fps, tps } = binaryClfCurve(labels, scores);
  // Trapezoids over distinct thresholds: a tie block contributes its diagonal, i.e. half credit.
  let area = 0;
  let pf = 0;
  let pt = 0;
  for (let i = 0; i < fps.length; i++) {
    area += (fps[i]! - pf) * (tps[i]! + pt);
    pf = fps[i]!;
    pt = tps[i]!;
  }
  return area / (2 * pos * neg);
}

export interface PrCurve {
  /** Precision at each threshold, ending with 1 (recall 0), as in sklearn. */
  precision: Float64Array;
  /** Recall, decreasing, ending with 0. */
  recall: Float64Array;
  /** Increasing thresholds; precision[i], recall[i] belong to thresholds[i]. */
  thresholds: Float64Array;
}

/** Precision-recall curve like sklearn.metrics.precision_recall_curve (1.2 semantics: all thresholds kept). */
export function precisionRecallCurve(labels: Labels, scores: Scores): PrCurve {
  const { pos } = checkBinary(labels, scores);
  const { fps, tps, thresholds } = binaryClfCurve(labels, scores);
  const m = fps.length;
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  const thr = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const i = m - 1 - k; // reversed so that recall decreases
    const ps = tps[i]! + fps[i]!;
    precision[k] = ps === 0 ? 0 : tps[i]! / ps;
    recall[k] = pos === 0 ? 1 : tps[i]! / pos;
    thr[k] = thresholds[i]!;
  }
  precision[m] = 1;
  recall[m] = 0;
  return { precision, recall, thresholds: thr };
}

/** Average precision = Σ (R_n − R_{n−1}) P_n, sklearn's step-wise (not interpolated) definition. */
export function averagePrecision(labels: Labels, scores: Scores): number {
  checkBothClasses(labels, scores);
  const { precision, recall } = precisionRecallCurve(labels, scores);
  let ap = 0;
  for (let i = 0; i < recall.length - 1; i++) ap -= (recall[i + 1]! - recall[i]!) * precision[i]!;
  return ap;
}
