// Penalized logistic regression for binary outcomes: the interpretable baseline next to the trees.
// Standardization, mean imputation (optionally with missing indicators) and one-hot encoding live inside the model.
import { MlError } from './errors.js';
import type { Frame } from './frame.js';
import { buildDesign, fitDesign, width } from './logistic/design.js';
import { LogisticModel, type LogisticFeatureJson, type LogisticParamsJson } from './logistic/model.js';
import { solveCoordinateDescent, solveLbfgs, type Problem } from './logistic/solver.js';

export { LogisticModel, LOGISTIC_FORMAT, LOGISTIC_FORMAT_VERSION } from './logistic/model.js';
export type { LogisticModelJson, LogisticFeatureJson, LogisticParamsJson } from './logistic/model.js';

export interface LogisticOptions {
  /** Default 'l2'. 'none' fits the unpenalized maximum-likelihood model. */
  penalty?: 'l2' | 'l1' | 'elasticnet' | 'none';
  /** Inverse penalty strength as in scikit-learn (objective C·Σ loss + penalty). Default 1. */
  C?: number;
  /** Penalty weight on the mean loss instead of C: lambda = 1/(C·n). Give C or lambda, not both. */
  lambda?: number;
  /** Elastic-net mixing ρ in [0, 1] (1 = pure L1); default 0.5, used only by 'elasticnet'. */
  l1Ratio?: number;
  /** 'balanced' weighs each class by n/(2·n_class), as scikit-learn does. */
  classWeight?: 'balanced' | { 0: number; 1: number };
  /** Add a 0/1 "was missing" column for each numeric feature with missing training values. Default false. */
  missingIndicator?: boolean;
  /** Iteration cap: L-BFGS iterations, or proximal-Newton steps for L1/elastic net. Default 1000. */
  maxIter?: number;
  /** Largest allowed violation of the optimality conditions on the mean-loss scale. Default 1e-7. */
  tol?: number;
}

function param(v: unknown, name: string, min: number, max: number, def: number): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new MlError('INVALID_PARAM', `${name} must be a number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/** Fits a logistic regression of the 0/1 labels on every column of the frame. */
export async function trainLogistic(
  frame: Frame,
  labels: ArrayLike<number>,
  opts: LogisticOptions = {},
): Promise<LogisticModel> {
  const n = frame.numRows;
  if (n === 0) throw new MlError('EMPTY_FRAME', 'the training frame has no rows');
  if (frame.numColumns === 0) throw new MlError('EMPTY_FRAME', 'the training frame has no feature columns');
  if (labels.length !== n) throw new MlError('LABEL_LENGTH', `labels has ${labels.length} labels for ${n} rows`);
  const y = new Float64Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const v = labels[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new MlError('LABEL_NOT_FINITE', `label at row ${i} is ${String(v)}; labels must be finite numbers`);
    }
    if (v !== 0 && v !== 1)
      throw new MlError('LABEL_NOT_BINARY', `label at row ${i} is ${v}; binary labels must be 0 or 1`);
    y[i] = v;
    pos += v;
  }
  if (pos === 0 || pos === n) {
    throw new MlError(
      'SINGLE_CLASS',
      `training labels are all ${pos === 0 ? 0 : 1}; logistic regression needs both classes`,
    );
  }
  const penalty = opts.penalty ?? 'l2';
  if (!['l2', 'l1', 'elasticnet', 'none'].includes(penalty)) {
    throw new MlError('INVALID_PARAM', `penalty must be 'l2', 'l1', 'elasticnet' or 'none', got ${String(penalty)}`);
  }
  if (opts.C !== undefined && opts.lambda !== undefined)
    throw new MlError('INVALID_PARAM', 'give C or lambda, not both');
  const C = opts.lambda === undefined ? param(opts.C, 'C', Number.MIN_VALUE, Infinity, 1) : null;
  const lambda = penalty === 'none' ? 0 : C !== null ? 1 / (C * n) : param(opts.lambda, 'lambda', 0, Infinity, 0);
  const l1Ratio = penalty === 'l1' ? 1 : penalty === 'elasticnet' ? param(opts.l1Ratio, 'l1Ratio', 0, 1, 0.5) : 0;
  const maxIter = param(opts.maxIter, 'maxIter', 1, 1e7, 1000);
  const tol = param(opts.tol, 'tol', 0, 1, 1e-7);
  let cw: { 0: number; 1: number };
  if (opts.classWeight === 'balanced') cw = { 0: n / (2 * (n - pos)), 1: n / (2 * pos) };
  else if (opts.classWeight === undefined) cw = { 0: 1, 1: 1 };
  else
    cw = {
      0: param(opts.classWeight[0], 'classWeight[0]', 0, Infinity, 1),
      1: param(opts.classWeight[1], 'classWeight[1]', 0, Infinity, 1),
    };

  const missingIndicator = opts.missingIndicator ?? false;
  const design = fitDesign(frame, { missingIndicator });
  const { X, p } = buildDesign(frame, design);
  const w = Float64Array.from(y, (v) => (v === 1 ? cw[1] : cw[0]));
  const problem: Problem = { X, n, p, y, w, alpha: lambda, l1Ratio };
  const sol =
    l1Ratio > 0 && lambda > 0
      ? solveCoordinateDescent(problem, { maxIter, tol })
      : solveLbfgs(problem, { maxIter, tol });

  const features: LogisticFeatureJson[] = [];
  let j = 0;
  for (const f of design) {
    if (f.kind === 'numeric') {
      const coef = sol.coef[j]!;
      const missingCoef = f.missingIndicator ? sol.coef[j + 1]! : null;
      features.push({ name: f.name, kind: 'numeric', mean: f.mean, std: f.std, coef, missingCoef });
    } else {
      features.push({
        name: f.name,
        kind: 'categorical',
        dictionary: f.dictionary,
        coefs: Array.from(sol.coef.subarray(j, j + width(f))),
      });
    }
    j += width(f);
  }
  const params: LogisticParamsJson = { penalty, lambda, C, l1Ratio, classWeight: cw, missingIndicator, maxIter, tol };
  return new LogisticModel({
    features,
    intercept: sol.intercept,
    params,
    training: {
      rows: n,
      positives: pos,
      iterations: sol.iterations,
      converged: sol.converged,
      objective: sol.objective,
      kkt: sol.kkt,
    },
  });
}
