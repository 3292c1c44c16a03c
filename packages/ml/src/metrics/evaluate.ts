// evaluateBinary: every number a clinical model card reports for a binary classifier, in one call.
// Scores that are not probabilities still get the ranking metrics; probability metrics are then null.
import {
  calibrationCurve,
  calibrationSlopeIntercept,
  type CalibrationCurve,
  type CalibrationFit,
} from './calibration.js';
import { delongCi } from './delong.js';
import { brierScore, logLoss } from './probability.js';
import { averagePrecision, precisionRecallCurve, rocCurve, type PrCurve, type RocCurve } from './ranking.js';
import { metricsAt, type ThresholdMetrics } from './threshold.js';
import { checkBothClasses, type Labels, type Scores } from './validate.js';

export interface BinaryEvaluation extends ThresholdMetrics {
  n: number;
  positives: number;
  negatives: number;
  prevalence: number;
  auc: number;
  /** DeLong interval of the AUC. */
  aucCi: { lower: number; upper: number; se: number; level: number };
  averagePrecision: number;
  roc: RocCurve;
  pr: PrCurve;
  /** Null when the scores are not probabilities in [0, 1]. */
  brier: number | null;
  logLoss: number | null;
  calibration: { uniform: CalibrationCurve; quantile: CalibrationCurve; fit: CalibrationFit } | null;
}

export interface EvaluateOptions {
  /** Decision threshold for the confusion-matrix metrics (score >= threshold is positive); default 0.5. */
  threshold?: number;
  /** Bins of the reliability curves; default 10. */
  calibrationBins?: number;
  /** Confidence level of the AUC interval; default 0.95. */
  level?: number;
}

/** AUC with DeLong CI, threshold metrics, Brier, log loss, calibration, ROC and PR curves for one binary model. */
export function evaluateBinary(labels: Labels, scores: Scores, opts: EvaluateOptions = {}): BinaryEvaluation {
  const { pos, neg } = checkBothClasses(labels, scores);
  const threshold = opts.threshold ?? 0.5;
  const nBins = opts.calibrationBins ?? 10;
  const ci = delongCi(labels, scores, { level: opts.level ?? 0.95 });
  let isProb = true;
  for (let i = 0; i < scores.length && isProb; i++) isProb = scores[i]! >= 0 && scores[i]! <= 1;
  return {
    n: labels.length,
    positives: pos,
    negatives: neg,
    prevalence: pos / labels.length,
    auc: ci.auc,
    aucCi: { lower: ci.lower, upper: ci.upper, se: ci.se, level: ci.level },
    averagePrecision: averagePrecision(labels, scores),
    roc: rocCurve(labels, scores),
    pr: precisionRecallCurve(labels, scores),
    ...metricsAt(labels, scores, threshold),
    brier: isProb ? brierScore(labels, scores) : null,
    logLoss: isProb ? logLoss(labels, scores) : null,
    calibration: isProb
      ? {
          uniform: calibrationCurve(labels, scores, { nBins, strategy: 'uniform' }),
          quantile: calibrationCurve(labels, scores, { nBins, strategy: 'quantile' }),
          fit: calibrationSlopeIntercept(labels, scores),
        }
      : null,
  };
}
