// Regression metrics: RMSE, MAE and R² with scikit-learn's definitions.
import { MlError } from '../errors.js';

function check(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = yTrue.length;
  if (n === 0) throw new MlError('EMPTY_INPUT', 'no cases to evaluate');
  if (yPred.length !== n) throw new MlError('LENGTH_MISMATCH', `${n} targets but ${yPred.length} predictions`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(yTrue[i]!) || !Number.isFinite(yPred[i]!)) {
      throw new MlError('SCORE_NOT_FINITE', `row ${i} has a non-finite target or prediction`);
    }
  }
  return n;
}

/** Root mean squared error. */
export function rmse(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = check(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < n; i++) s += (yTrue[i]! - yPred[i]!) ** 2;
  return Math.sqrt(s / n);
}

/** Mean absolute error. */
export function mae(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = check(yTrue, yPred);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(yTrue[i]! - yPred[i]!);
  return s / n;
}

/** Coefficient of determination 1 − SS_res/SS_tot; a constant target gives 1 if predicted exactly, else 0 (sklearn). */
export function r2(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  const n = check(yTrue, yPred);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i]!;
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    ssRes += (yTrue[i]! - yPred[i]!) ** 2;
    ssTot += (yTrue[i]! - mean) ** 2;
  }
  if (ssTot === 0) return ssRes === 0 ? 1 : 0;
  return 1 - ssRes / ssTot;
}

export interface RegressionMetrics {
  n: number;
  rmse: number;
  mae: number;
  r2: number;
}

/** RMSE, MAE and R² in one call. */
export function evaluateRegression(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): RegressionMetrics {
  return { n: yTrue.length, rmse: rmse(yTrue, yPred), mae: mae(yTrue, yPred), r2: r2(yTrue, yPred) };
}
