// Evaluation metrics for binary classifiers (clinical reporting) and regressors, checked against scikit-learn.
// Re-exported from the package entry; import from '@ichigen/ml'.
export { evaluateBinary } from './evaluate.js';
export type { BinaryEvaluation, EvaluateOptions } from './evaluate.js';
export { rocAuc, rocCurve, precisionRecallCurve, averagePrecision, binaryClfCurve } from './ranking.js';
export type { RocCurve, PrCurve, ClfCurve } from './ranking.js';
export { delongCi, pairedDelong, midranks } from './delong.js';
export type { AucInterval, PairedDelong } from './delong.js';
export { calibrationCurve, calibrationSlopeIntercept } from './calibration.js';
export type { CalibrationCurve, CalibrationFit } from './calibration.js';
export { confusionAt, metricsAt, metricsFromConfusion, chooseThreshold } from './threshold.js';
export type { Confusion, ThresholdMetrics, ThresholdMethod, ChosenThreshold } from './threshold.js';
export { brierScore, logLoss } from './probability.js';
export { rmse, mae, r2, evaluateRegression } from './regression.js';
export type { RegressionMetrics } from './regression.js';
export { normalCdf, normalSf, normalQuantile } from './normal.js';
