// Metrics at a decision threshold (confusion matrix, sensitivity, specificity, PPV, NPV, F1) and threshold choice.
// Convention throughout: a case is predicted positive when its score >= threshold (as sklearn's ROC thresholds).
import { MlError } from '../errors.js';
import { rocCurve } from './ranking.js';
import { checkBinary, type Labels, type Scores } from './validate.js';

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion matrix when predicting positive for score >= threshold. */
export function confusionAt(labels: Labels, scores: Scores, threshold = 0.5): Confusion {
  checkBinary(labels, scores);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = scores[i]! >= threshold;
    if (labels[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

export interface ThresholdMetrics extends Confusion {
  threshold: number;
  accuracy: number;
  /** Recall of positives, TP / (TP + FN). NaN without positives. */
  sensitivity: number;
  /** TN / (TN + FP). NaN without negatives. */
  specificity: number;
  /** Positive predictive value (precision), TP / (TP + FP). NaN when no case is predicted positive. */
  ppv: number;
  /** Negative predictive value, TN / (TN + FN). NaN when no case is predicted negative. */
  npv: number;
  /** 2TP / (2TP + FP + FN); 0 when there are no true positives (sklearn zero_division=0). */
  f1: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? NaN : a / b);

/** Threshold metrics derived from a confusion matrix. */
export function metricsFromConfusion(c: Confusion, threshold: number): ThresholdMetrics {
  const n = c.tp + c.fp + c.tn + c.fn;
  const f1den = 2 * c.tp + c.fp + c.fn;
  return {
    threshold,
    ...c,
    accuracy: ratio(c.tp + c.tn, n),
    sensitivity: ratio(c.tp, c.tp + c.fn),
    specificity: ratio(c.tn, c.tn + c.fp),
    ppv: ratio(c.tp, c.tp + c.fp),
    npv: ratio(c.tn, c.tn + c.fn),
    f1: f1den === 0 ? 0 : (2 * c.tp) / f1den,
  };
}

/** Accuracy, sensitivity, specificity, PPV, NPV and F1 at one threshold. */
export function metricsAt(labels: Labels, scores: Scores, threshold = 0.5): ThresholdMetrics {
  return metricsFromConfusion(confusionAt(labels, scores, threshold), threshold);
}

export type ThresholdMethod =
  { method: 'youden' } | { method: 'sensitivity'; target: number } | { method: 'specificity'; target: number };

export interface ChosenThreshold extends ThresholdMetrics {
  method: ThresholdMethod['method'];
  /** Youden's J = sensitivity + specificity − 1 at the chosen threshold. */
  youden: number;
}

/**
 * Picks a threshold among the distinct scores: 'youden' maximizes sensitivity + specificity − 1 (highest
 * threshold on ties); 'sensitivity' takes the highest threshold whose sensitivity reaches the target (so
 * specificity is as high as possible); 'specificity' the lowest threshold whose specificity reaches the target.
 */
export function chooseThreshold(labels: Labels, scores: Scores, how: ThresholdMethod): ChosenThreshold {
  const roc = rocCurve(labels, scores, { dropIntermediate: false });
  const m = roc.fpr.length;
  let best = -1;
  if (how.method === 'youden') {
    let bestJ = -Infinity;
    // Start at 1: index 0 is the +Infinity threshold that predicts nobody positive.
    for (let i = 1; i < m; i++) {
      const j = roc.tpr[i]! - roc.fpr[i]!;
      if (j > bestJ) {
        bestJ = j;
        best = i;
      }
    }
  } else {
    const t = how.target;
    if (!(t >= 0 && t <= 1)) throw new MlError('BAD_ARGUMENT', `target ${how.method} must be in [0, 1], got ${t}`);
    if (how.method === 'sensitivity') {
      for (let i = 1; i < m && best < 0; i++) if (roc.tpr[i]! >= t) best = i;
    } else {
      for (let i = 1; i < m; i++) if (1 - roc.fpr[i]! >= t) best = i;
    }
    if (best < 0) throw new MlError('THRESHOLD_UNREACHABLE', `no threshold reaches ${how.method} ${t}`);
  }
  const threshold = roc.thresholds[best]!;
  const metrics = metricsAt(labels, scores, threshold);
  return { ...metrics, method: how.method, youden: metrics.sensitivity + metrics.specificity - 1 };
}
