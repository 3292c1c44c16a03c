// What a trial-pool worker runs for one trial: rebuilds the frame over the shared buffers (once per worker) and
// cross-validates the trial's configuration, applying the trial's pruning schedule locally.
import type { CvSplit } from '../cv.js';
import { Frame } from '../frame.js';
import type { Column } from '../frame.js';
import { FoldPrunedError, PrunedError, crossValidate } from './cross-validate.js';
import type { CvAlgorithm, FoldResult } from './cross-validate.js';
import { shouldPrune, shouldPruneFold } from './pruner.js';
import type { PruneSchedule } from './pruner.js';
import type { ParamValue } from './space.js';

/** The study data as shared with workers: typed arrays over SharedArrayBuffers (no copy per trial). */
export interface SharedStudyData {
  columns: Column[];
  labels: Float64Array;
  /** The folds trials are searched on (on the search sample when the pool has one). */
  splits: CvSplit[];
  /** The same number of folds over every row (the finalists' fidelity); the same array without a search sample. */
  fullSplits: CvSplit[];
}

export interface PoolTask {
  id: number;
  algorithm: CvAlgorithm;
  params: Record<string, ParamValue>;
  seed: number;
  prune: PruneSchedule | null;
  /** Which folds: the search sample's (default) or those over every row. */
  fidelity?: 'search' | 'full';
  /** Run only these folds (indices into the fold list); default all. */
  folds?: number[];
}

export type PoolReply =
  | { id: number; kind: 'done'; mean: number; std: number; folds: FoldResult[]; reports: [number, number][] }
  | {
      id: number;
      kind: 'pruned';
      reports: [number, number][];
      /** Pruned between folds: the (fold, running mean) reports and the finished folds. */
      foldReports?: [number, number][];
      folds?: FoldResult[];
    }
  | { id: number; kind: 'failed'; code: string | null; message: string };

let cached: { data: SharedStudyData; frame: Frame } | null = null;

/** Runs one task; never throws (errors become a 'failed' reply). */
export async function runPoolTask(data: SharedStudyData, task: PoolTask, cancelled: () => boolean): Promise<PoolReply> {
  try {
    if (!cached || cached.data !== data) cached = { data, frame: new Frame(data.columns) };
    const reports: [number, number][] = [];
    const schedule = task.prune;
    const report = (step: number, value: number): boolean => {
      // Only rung values (and the last one, added on pruning) go back to the study: they are all it records.
      if (schedule && schedule.steps.includes(step)) reports.push([step, value]);
      return schedule !== null && shouldPrune(schedule, step, value);
    };
    const foldReports: [number, number][] = [];
    const reportFold = (fold: number, value: number): boolean => {
      foldReports.push([fold, value]);
      return schedule !== null && shouldPruneFold(schedule, fold, value);
    };
    const all = task.fidelity === 'full' ? data.fullSplits : data.splits;
    const splits = task.folds ? task.folds.map((k) => all[k]!) : all;
    if (splits.some((s) => s === undefined)) throw new Error(`no such fold in ${JSON.stringify(task.folds)}`);
    try {
      const r = await crossValidate(cached.frame, data.labels, null, {
        folds: splits,
        seed: task.seed,
        algorithm: task.algorithm,
        params: task.params,
        report,
        reportFold,
        shouldStop: cancelled,
      });
      return { id: task.id, kind: 'done', mean: r.mean, std: r.std, folds: r.folds, reports };
    } catch (e) {
      if (e instanceof FoldPrunedError) {
        return { id: task.id, kind: 'pruned', reports, foldReports, folds: e.folds };
      }
      if (e instanceof PrunedError) {
        if (!reports.some(([s]) => s === e.step)) reports.push([e.step, e.value]);
        return { id: task.id, kind: 'pruned', reports };
      }
      throw e;
    }
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    return {
      id: task.id,
      kind: 'failed',
      code: typeof err.code === 'string' ? err.code : null,
      message: typeof err.message === 'string' ? err.message : String(e),
    };
  }
}
