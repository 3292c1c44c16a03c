// Successive-halving pruning over boosting rounds: at rungs of minResource × η^k rounds a trial continues only if
// its intermediate value is in the top 1/η of the values seen at that rung. The decision rule is a plain object
// (a schedule of thresholds), so it can be sent to a worker thread and applied there without a round trip.
import { MlError } from '../errors.js';
import type { Direction } from './tpe.js';

export interface SuccessiveHalvingOptions {
  /** Rounds before the first rung. Default 10. */
  minResource?: number;
  /** η: rung k sits at minResource × η^(k + minEarlyStoppingRate) rounds, and 1/η of trials are promoted. Default 3. */
  reductionFactor?: number;
  /** Skips the first rungs (Optuna's min_early_stopping_rate). Default 0. */
  minEarlyStoppingRate?: number;
  /** A rung prunes nothing until this many earlier trials reached it. Default 0 (Optuna's bootstrap_count). */
  bootstrapCount?: number;
}

/**
 * Decision rule for one trial, fixed when the trial starts. `thresholds[k]` is the value a trial must reach at rung k
 * to continue (in the study's direction), or null when the rung promotes anything.
 */
export interface PruneSchedule {
  steps: number[];
  thresholds: (number | null)[];
  direction: Direction;
  /**
   * Fold pruning: `foldThresholds[k]` is the value the mean metric of folds 0..k must reach for the trial to go on
   * to fold k + 1 (null: no rule yet). Absent or empty: trials always run every fold.
   */
  foldThresholds?: (number | null)[];
}

/** True when a value reported at `step` fails the rung at that step. Pure: usable inside worker threads. */
export function shouldPrune(schedule: PruneSchedule, step: number, value: number): boolean {
  const k = schedule.steps.indexOf(step);
  if (k < 0) return false;
  if (!Number.isFinite(value)) return true;
  const t = schedule.thresholds[k];
  if (t === null || t === undefined) return false;
  return schedule.direction === 'maximize' ? value < t : value > t;
}

/**
 * True when the mean metric of folds 0..`fold` fails the schedule's fold rule, so the trial stops before the next
 * fold. Pure, like `shouldPrune`.
 */
export function shouldPruneFold(schedule: PruneSchedule, fold: number, value: number): boolean {
  const t = schedule.foldThresholds?.[fold];
  if (t === null || t === undefined) return false;
  if (!Number.isFinite(value)) return true;
  return schedule.direction === 'maximize' ? value < t : value > t;
}

export interface FoldPrunerOptions {
  /**
   * A trial continues after fold k only if the mean of its folds 0..k is at least this quantile of the same mean
   * over earlier trials that finished fold k (0.5: the median, as Optuna's MedianPruner). Default 0.5.
   */
  quantile?: number;
  /** No rule at fold k until this many earlier trials finished it. Default 5. */
  minTrials?: number;
}

/**
 * Median-style pruning between cross-validation folds: a configuration whose first folds are already worse than
 * most earlier configurations on the same folds does not pay for the rest. The folds are the same for every trial,
 * so the comparison is paired.
 */
export class FoldPruner {
  readonly quantile: number;
  readonly minTrials: number;
  /** Fold k → running means (folds 0..k) of finished trials that completed fold k. */
  private readonly seen: number[][] = [];

  constructor(o: FoldPrunerOptions = {}) {
    this.quantile = o.quantile ?? 0.5;
    this.minTrials = o.minTrials ?? 5;
    if (!(this.quantile >= 0 && this.quantile <= 1)) throw new MlError('INVALID_PARAM', 'quantile must be in [0, 1]');
    if (!(Number.isInteger(this.minTrials) && this.minTrials >= 1)) {
      throw new MlError('INVALID_PARAM', 'minTrials must be a positive integer');
    }
  }

  /** Thresholds for every fold some earlier trial finished (the objective never asks after its last fold). */
  thresholds(direction: Direction): (number | null)[] {
    const out: (number | null)[] = [];
    for (let k = 0; k < this.seen.length; k++) {
      const v = (this.seen[k] ?? []).filter((x) => Number.isFinite(x));
      if (v.length < this.minTrials) {
        out.push(null);
        continue;
      }
      // "At least as good as the q-quantile": for maximize the value below which a fraction q of the others lie.
      v.sort((a, b) => (direction === 'maximize' ? a - b : b - a));
      const pos = this.quantile * (v.length - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(v.length - 1, lo + 1);
      out.push(v[lo]! + (v[hi]! - v[lo]!) * (pos - lo));
    }
    return out;
  }

  /** Records a finished trial's per-fold metrics (all of them, or those it finished before being pruned). */
  record(folds: readonly number[]): void {
    let sum = 0;
    folds.forEach((m, k) => {
      sum += m;
      (this.seen[k] ??= []).push(sum / (k + 1));
    });
  }
}

/**
 * Successive halving as in Optuna's SuccessiveHalvingPruner (asynchronous: no waiting for a full rung). Which
 * earlier values a trial competes with is decided by the study runner, so decisions are reproducible.
 */
export class SuccessiveHalvingPruner {
  readonly minResource: number;
  readonly reductionFactor: number;
  readonly minEarlyStoppingRate: number;
  readonly bootstrapCount: number;
  /** Rung k → values recorded there by finished trials. */
  private readonly rungs: number[][] = [];

  constructor(o: SuccessiveHalvingOptions = {}) {
    this.minResource = o.minResource ?? 10;
    this.reductionFactor = o.reductionFactor ?? 3;
    this.minEarlyStoppingRate = o.minEarlyStoppingRate ?? 0;
    this.bootstrapCount = o.bootstrapCount ?? 0;
    if (!(Number.isInteger(this.minResource) && this.minResource >= 1)) {
      throw new MlError('INVALID_PARAM', 'minResource must be a positive integer');
    }
    if (!(this.reductionFactor >= 2)) throw new MlError('INVALID_PARAM', 'reductionFactor must be at least 2');
    if (!(Number.isInteger(this.minEarlyStoppingRate) && this.minEarlyStoppingRate >= 0)) {
      throw new MlError('INVALID_PARAM', 'minEarlyStoppingRate must be a non-negative integer');
    }
  }

  /** Step (1-based round) of rung k. */
  rungStep(k: number): number {
    return Math.round(this.minResource * this.reductionFactor ** (k + this.minEarlyStoppingRate));
  }

  /** The rule for a trial starting now, against the values recorded so far (rungs up to `maxStep`). */
  schedule(direction: Direction, maxStep = 1e6): PruneSchedule {
    const steps: number[] = [];
    const thresholds: (number | null)[] = [];
    for (let k = 0; this.rungStep(k) <= maxStep && k < 64; k++) {
      steps.push(this.rungStep(k));
      const seen = (this.rungs[k] ?? []).filter((v) => Number.isFinite(v));
      if (seen.length < Math.max(1, this.bootstrapCount)) {
        thresholds.push(null);
        continue;
      }
      // The trial itself joins the rung: it is promoted if it is among the best max(1, ⌊(m+1)/η⌋) of m+1 values,
      // that is, if it is at least as good as the k-th best earlier value.
      const keep = Math.max(1, Math.floor((seen.length + 1) / this.reductionFactor));
      seen.sort((a, b) => (direction === 'maximize' ? b - a : a - b));
      thresholds.push(keep > seen.length ? null : seen[keep - 1]!);
    }
    return { steps, thresholds, direction };
  }

  /** Records a finished (complete or pruned) trial's values at the rung steps it reached. */
  record(reports: ReadonlyMap<number, number> | readonly (readonly [number, number])[]): void {
    const entries =
      reports instanceof Map ? [...reports.entries()] : (reports as readonly (readonly [number, number])[]);
    for (const [step, value] of entries) {
      for (let k = 0; k < 64; k++) {
        const s = this.rungStep(k);
        if (s > step) break;
        if (s === step) (this.rungs[k] ??= []).push(value);
      }
    }
  }
}
