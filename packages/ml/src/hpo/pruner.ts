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
