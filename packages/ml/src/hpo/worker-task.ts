// What a trial-pool worker runs for one trial: rebuilds the frame over the shared buffers (once per worker) and
// cross-validates the trial's configuration, applying the trial's pruning schedule locally.
import type { CvSplit } from '../cv.js';
import { Frame } from '../frame.js';
import type { Column } from '../frame.js';
import { FoldPrunedError, PrunedError, crossValidateFolds, takeFold } from './cross-validate.js';
import type { CvAlgorithm, FoldData, FoldResult } from './cross-validate.js';
import { endRungs, liveFoldVerdict, publishFold, shouldPrune, shouldPruneFold } from './pruner.js';
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

/**
 * Copies of fold rows a worker keeps for later trials (every trial reads the same folds), in bytes. Above it (large
 * data: all folds together hold k copies of the data) folds are taken per trial again, as one copy at a time.
 */
const FOLD_CACHE_BYTES = 256 * 1024 * 1024;

/** The frame over the shared buffers, and fold rows taken once per worker, with their size in bytes. */
let cached: { data: SharedStudyData; frame: Frame; folds: Map<CvSplit, FoldData>; bytes: number } | null = null;

/** Runs one task; never throws (errors become a 'failed' reply). */
export async function runPoolTask(data: SharedStudyData, task: PoolTask, cancelled: () => boolean): Promise<PoolReply> {
  try {
    if (!cached || cached.data !== data) cached = { data, frame: new Frame(data.columns), folds: new Map(), bytes: 0 };
    const cache = cached;
    const reports: [number, number][] = [];
    const schedule = task.prune;
    const report = (step: number, value: number): boolean => {
      // Only rung values (and the last one, added on pruning) go back to the study: they are all it records.
      if (schedule && schedule.steps.includes(step)) reports.push([step, value]);
      return schedule !== null && shouldPrune(schedule, step, value, cancelled);
    };
    const foldReports: [number, number][] = [];
    // Live fold rule: a verdict may come after its fold (older trials still on it); meanwhile the next fold trains.
    // A fold's mean is published only once every earlier verdict said go on, so younger trials never count a value
    // of a trial that the rule stops before that fold.
    const liveFolds = schedule?.liveFolds ? schedule : null;
    const means: number[] = [];
    let decided = 0;
    let prunedAfter: number | null = null;
    const advance = (): void => {
      while (liveFolds && prunedAfter === null && decided < means.length) {
        const v = liveFoldVerdict(liveFolds, decided, means[decided]!);
        if (v === null) return;
        if (v) {
          prunedAfter = decided;
          return;
        }
        decided++;
        if (decided < means.length) publishFold(liveFolds.liveFolds!, decided, means[decided]!);
      }
    };
    const reportFold = (fold: number, value: number): boolean => {
      foldReports.push([fold, value]);
      // Rounds are reported on the first fold only: younger trials need not wait for this one's later rungs.
      endRungs(schedule);
      if (liveFolds) {
        means.push(value);
        if (fold === decided) publishFold(liveFolds.liveFolds!, fold, value);
        advance();
        return prunedAfter === fold;
      }
      return schedule !== null && shouldPruneFold(schedule, fold, value);
    };
    const late = (): number | null => {
      advance();
      return prunedAfter;
    };
    const all = task.fidelity === 'full' ? data.fullSplits : data.splits;
    const splits = task.folds ? task.folds.map((k) => all[k]!) : all;
    if (splits.some((s) => s === undefined)) throw new Error(`no such fold in ${JSON.stringify(task.folds)}`);
    try {
      const fold = (f: number): FoldData => {
        const split = splits[f]!;
        const hit = cache.folds.get(split);
        if (hit) return hit;
        const d = takeFold(cache.frame, data.labels, split);
        const bytes = (split.train.length + split.test.length) * (cache.frame.numColumns + 1) * 8;
        if (cache.bytes + bytes <= FOLD_CACHE_BYTES) {
          cache.folds.set(split, d);
          cache.bytes += bytes;
        }
        return d;
      };
      const r = await crossValidateFolds(splits.length, fold, {
        seed: task.seed,
        algorithm: task.algorithm,
        params: task.params,
        report,
        reportFold,
        shouldStop: cancelled,
        ...(liveFolds ? { prunedAfter: late } : {}),
      });
      return { id: task.id, kind: 'done', mean: r.mean, std: r.std, folds: r.folds, reports };
    } catch (e) {
      if (e instanceof FoldPrunedError) {
        // A late verdict: the folds trained past it are not part of the result.
        const kept = foldReports.filter(([f]) => f <= e.fold);
        return { id: task.id, kind: 'pruned', reports, foldReports: kept, folds: e.folds };
      }
      if (e instanceof PrunedError) {
        if (!reports.some(([s]) => s === e.step)) reports.push([e.step, e.value]);
        return { id: task.id, kind: 'pruned', reports };
      }
      throw e;
    } finally {
      endRungs(schedule);
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
