// Cross-validated AUC of one configuration (GBDT or logistic regression): the training objective of a trial, run
// in-process or inside the trial pool's workers. GBDT fold 0 reports −(validation log loss) per round for pruning.
import { performance } from 'node:perf_hooks';
import { groupedKFold, stratifiedKFold } from '../cv.js';
import type { CvSplit } from '../cv.js';
import { MlError } from '../errors.js';
import type { Frame } from '../frame.js';
import { GbdtBinCache, trainGbdt } from '../gbdt/train.js';
import type { GbdtOptions } from '../gbdt/train.js';
import { trainLogistic } from '../logistic.js';
import type { LogisticOptions } from '../logistic.js';
import { rocAuc } from '../metrics/ranking.js';
import type { ParamValue } from './space.js';

export type CvAlgorithm = 'gbdt' | 'logreg';

export interface CrossValidateOptions {
  /** Number of folds (grouped by `groups` when given, stratified by label), or ready-made splits. Default 5. */
  folds?: number | CvSplit[];
  /** Seed of the fold assignment and of the GBDT's bagging/feature sampling. Default 0. */
  seed?: number;
  algorithm: CvAlgorithm;
  /** The trial's parameters for the algorithm (flat names as in GbdtOptions / LogisticOptions). */
  params: Record<string, ParamValue>;
  metric?: 'auc';
  /**
   * Intermediate values for pruning: GBDT fold 0 calls it after every round with −(validation log loss), higher
   * is better. Returning true stops the trial with a `PrunedError`.
   */
  report?: (step: number, value: number) => boolean;
  /**
   * Called after every fold but the last with the mean metric of the folds so far. Returning true stops before the
   * next fold with a `FoldPrunedError` that carries the finished folds.
   */
  reportFold?: (fold: number, value: number) => boolean;
  /** Polled between rounds and folds; true stops with MlError CANCELLED. */
  shouldStop?: () => boolean;
  /**
   * A verdict that came after its fold (the live fold rule decides once older trials reach the fold): polled between
   * rounds and folds, a fold number k stops with the `FoldPrunedError` that `reportFold` returning true at fold k
   * would have raised (folds 0..k, their mean); null goes on.
   */
  prunedAfter?: () => number | null;
}

export interface FoldResult {
  /** The metric on the fold's held-out rows. */
  metric: number;
  /** Rounds kept after early stopping (GBDT). */
  bestIteration?: number;
  trainMs: number;
}

export interface CvResult {
  mean: number;
  std: number;
  folds: FoldResult[];
}

/** Raised by crossValidate when `reportFold` asked to stop; carries the folds finished so far and their mean. */
export class FoldPrunedError extends Error {
  constructor(
    readonly fold: number,
    readonly value: number,
    readonly folds: FoldResult[],
  ) {
    super(`pruned after fold ${fold}`);
    this.name = 'FoldPrunedError';
  }
}

/** Raised by crossValidate when `report` asked to stop; carries the last reported step and value. */
export class PrunedError extends Error {
  constructor(
    readonly step: number,
    readonly value: number,
  ) {
    super(`pruned at step ${step}`);
    this.name = 'PrunedError';
  }
}

const GBDT_KEYS = new Set([
  'numTrees',
  'numLeaves',
  'maxDepth',
  'learningRate',
  'maxBins',
  'minDataInLeaf',
  'minSumHessianInLeaf',
  'lambdaL2',
  'minGainToSplit',
  'baggingFraction',
  'featureFraction',
  'scalePosWeight',
  'maxCatThreshold',
  'catSmooth',
  'catL2',
  'minDataPerGroup',
  'earlyStoppingRounds',
]);
const LOGREG_KEYS = new Set(['penalty', 'C', 'l1Ratio', 'classWeight', 'missingIndicator', 'maxIter', 'tol']);

function pick(params: Record<string, ParamValue>, keys: Set<string>, algorithm: string): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'algorithm') continue;
    if (!keys.has(k)) throw new MlError('INVALID_PARAM', `"${k}" is not a ${algorithm} parameter`);
    out[k] = v;
  }
  return out;
}

/** Fold splits as the study uses them: grouped (patients never span folds) when groups are given. */
export function cvSplits(
  labels: ArrayLike<number>,
  groups: ArrayLike<string | number> | null | undefined,
  k: number,
  seed: number,
): CvSplit[] {
  return groups ? groupedKFold(groups, k, seed, labels) : stratifiedKFold(labels, k, seed);
}

function take(labels: ArrayLike<number>, idx: Uint32Array): Float64Array {
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = labels[idx[i]!]!;
  return out;
}

/** One fold's rows taken out of the frame: training and held-out features and labels. Read-only for trials. */
/**
 * Binned folds, by fold frame: the trial workers keep each fold's frames for the whole search, so every trial after
 * the first reuses their bins instead of fitting and binning the fold again (the frames are our own copies and never
 * change). Frames that are dropped are collected with their bins.
 */
const FOLD_BINS = new GbdtBinCache();

export interface FoldData {
  trX: Frame;
  trY: Float64Array;
  teX: Frame;
  teY: Float64Array;
}

/** The rows of `split` as a fold (copies). */
export function takeFold(frame: Frame, labels: ArrayLike<number>, split: CvSplit): FoldData {
  return {
    trX: frame.take(split.train),
    trY: take(labels, split.train),
    teX: frame.take(split.test),
    teY: take(labels, split.test),
  };
}

/**
 * Trains the configuration on each fold's training rows and scores its held-out rows. GBDT early-stops on the
 * held-out fold (as xgboost.cv does; the study's holdout is separate and never seen here).
 */
export async function crossValidate(
  frame: Frame,
  labels: ArrayLike<number>,
  groups: ArrayLike<string | number> | null | undefined,
  o: CrossValidateOptions,
): Promise<CvResult> {
  const splits = Array.isArray(o.folds) ? o.folds : cvSplits(labels, groups, o.folds ?? 5, o.seed ?? 0);
  return crossValidateFolds(splits.length, (f) => takeFold(frame, labels, splits[f]!), o);
}

/**
 * `crossValidate` over `nFolds` folds that `fold(f)` supplies (asked once per fold, only for folds that are run): the
 * trial pool's workers hand out folds taken once per worker instead of copying the rows for every trial.
 */
export async function crossValidateFolds(
  nFolds: number,
  fold: (f: number) => FoldData,
  o: CrossValidateOptions,
): Promise<CvResult> {
  if ((o.metric ?? 'auc') !== 'auc') throw new MlError('INVALID_PARAM', `metric must be 'auc'`);
  if (o.algorithm !== 'gbdt' && o.algorithm !== 'logreg') {
    throw new MlError('INVALID_PARAM', `algorithm must be 'gbdt' or 'logreg', got ${String(o.algorithm)}`);
  }
  const seed = o.seed ?? 0;
  const gbdt = o.algorithm === 'gbdt';
  const params = pick(o.params, gbdt ? GBDT_KEYS : LOGREG_KEYS, o.algorithm);
  const folds: FoldResult[] = [];
  const stopped = (): boolean => o.shouldStop?.() === true;
  const late = (): number | null => o.prunedAfter?.() ?? null;
  // Folds 0..k as when the rule stopped the trial right after fold k (the same mean, bit for bit).
  const prunedAt = (k: number): FoldPrunedError => {
    const kept = folds.slice(0, k + 1);
    return new FoldPrunedError(k, kept.reduce((a, r) => a + r.metric, 0) / kept.length, kept);
  };
  for (let f = 0; f < nFolds; f++) {
    if (stopped()) throw new MlError('CANCELLED', 'cross-validation was cancelled');
    const before = late();
    if (before !== null) throw prunedAt(before);
    const { trX, trY, teX, teY } = fold(f);
    const t0 = performance.now();
    let proba: Float64Array;
    let bestIteration: number | undefined;
    if (gbdt) {
      let pruned: PrunedError | null = null;
      let cancelled = false;
      let prunedBefore: number | null = null;
      // The held-out rows' margins under the early-stopped model, kept by training (bit for bit what predictRaw
      // gives): the fold's predictions without walking its trees again.
      const margins = new Float64Array(teX.numRows);
      const opts: GbdtOptions = {
        ...(params as Partial<GbdtOptions>),
        objective: 'binary',
        numThreads: 1,
        seed,
        validation: { frame: teX, labels: teY },
        validationMargins: margins,
        binCache: FOLD_BINS,
        onIteration: (iter, m) => {
          if (stopped()) {
            cancelled = true;
            return false;
          }
          prunedBefore = f > 0 ? late() : null;
          if (prunedBefore !== null) return false;
          if (f === 0 && o.report && m.validLoss !== undefined) {
            const value = -m.validLoss;
            if (o.report(iter + 1, value)) {
              pruned = new PrunedError(iter + 1, value);
              return false;
            }
          }
          return true;
        },
      };
      const model = await trainGbdt(trX, trY, opts);
      if (cancelled) throw new MlError('CANCELLED', 'cross-validation was cancelled');
      if (pruned) throw pruned;
      if (prunedBefore !== null) throw prunedAt(prunedBefore);
      bestIteration = model.bestIteration + 1;
      // predictProba's sigmoid.
      proba = margins.map((z) => 1 / (1 + Math.exp(-z)));
    } else {
      const model = await trainLogistic(trX, trY, params as LogisticOptions);
      proba = model.predictProba(teX);
    }
    folds.push({ metric: rocAuc(teY, proba), trainMs: performance.now() - t0, bestIteration });
    if (o.reportFold && f < nFolds - 1) {
      const mean = folds.reduce((a, r) => a + r.metric, 0) / folds.length;
      if (o.reportFold(f, mean)) throw new FoldPrunedError(f, mean, folds);
    }
  }
  const after = late();
  if (after !== null) throw prunedAt(after);
  const k = folds.length;
  let mean = 0;
  for (const r of folds) mean += r.metric / k;
  let v = 0;
  for (const r of folds) v += (r.metric - mean) ** 2;
  return { mean, std: k > 1 ? Math.sqrt(v / (k - 1)) : 0, folds };
}
