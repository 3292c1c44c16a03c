// The study runner: asks the sampler for parameters, runs up to `concurrency` trials at once, prunes with successive
// halving, records every trial, and stops on trial count, timeout or an AbortSignal. Reproducible for seed+concurrency.
import { performance } from 'node:perf_hooks';
import { MlError } from '../errors.js';
import {
  FoldPruner,
  RungBoard,
  SuccessiveHalvingPruner,
  liveFoldVerdict,
  publishFold,
  shouldPrune,
  shouldPruneFold,
} from './pruner.js';
import type { FoldPrunerOptions, PruneSchedule, SuccessiveHalvingOptions } from './pruner.js';
import type { SearchSpace, TrialParams } from './space.js';
import { RandomSampler, TpeSampler } from './tpe.js';
import type { Direction, Sampler, TpeOptions } from './tpe.js';

/** Thrown by an objective to end its trial as pruned (after `report` returned true). */
export class TrialPruned extends Error {
  /**
   * @param folds the metrics of the folds the trial finished before a fold rule stopped it (kept in its record).
   */
  constructor(
    message = 'trial pruned',
    readonly folds?: number[],
  ) {
    super(message);
    this.name = 'TrialPruned';
  }
}

export interface TrialContext {
  number: number;
  /** The study seed: the same for every trial, so all trials see the same folds and bagging draws. */
  seed: number;
  /** Aborted when the study is cancelled: stop work and throw. */
  signal: AbortSignal;
  /** The pruning rule fixed for this trial (null without a pruner); sent to workers that call `shouldPrune`. */
  prune: PruneSchedule | null;
  /**
   * Reports an intermediate value (higher is better for 'maximize') after `step` rounds. Returns true when the
   * trial should stop: the objective then throws `TrialPruned`.
   */
  report(step: number, value: number): boolean;
  /**
   * Reports the mean metric of folds 0..`fold` once fold `fold` is done. Returns true when the trial should not run
   * the next fold: the objective then throws `TrialPruned` with the finished folds' metrics.
   */
  reportFold(fold: number, value: number): boolean;
}

/** An objective returns its value, or the value with per-fold metrics and free-form attributes to keep. */
export type ObjectiveResult = number | { value: number; folds?: number[]; attrs?: Record<string, unknown> };
export type Objective = ((params: TrialParams, ctx: TrialContext) => Promise<ObjectiveResult>) & {
  /**
   * True for objectives that apply `ctx.prune` in another thread (the trial pool's workers call `shouldPrune`
   * there); only their studies can use live rungs.
   */
  readonly offThread?: boolean;
};

export type TrialState = 'complete' | 'pruned' | 'failed';

export interface TrialRecord {
  number: number;
  params: TrialParams;
  state: TrialState;
  /**
   * Objective value (complete); for a pruned trial its last intermediate value (pruned within a fold) or the mean
   * metric of the folds it finished (pruned between folds); null (failed).
   */
  value: number | null;
  /** Per-fold metrics: all folds (complete), the finished folds (pruned between folds), else null. */
  folds: number[] | null;
  /** Values reported at the pruner's rung steps, as [step, value]. */
  intermediate: [number, number][];
  durationMs: number;
  /** When the trial started, in ms since the study started. */
  startMs: number;
  /** Why a failed trial failed ('cancelled' when the study was aborted while it ran). */
  error?: string;
  attrs?: Record<string, unknown>;
}

export interface StudyOptions {
  space: SearchSpace;
  objective: Objective;
  nTrials: number;
  /** No trial starts after this many milliseconds; running trials finish. */
  timeoutMs?: number;
  direction?: Direction;
  seed?: number;
  /** Trials at once. Default 1. */
  concurrency?: number;
  /**
   * Trial n is sampled once trials 0 … n − lag have finished (the others count as running). Larger values keep
   * workers busy when trial durations vary (a pruned trial takes seconds, a complete one minutes), at the cost of
   * sampling with a few results fewer. At least `concurrency`. Default 1 without parallelism, else 3 × concurrency
   * (simulated idle time with 2 workers: +44 % at lag 2, +15 % at 4, +7 % at 6).
   */
  lag?: number;
  /** Aborting stops the study at once: running trials are told to stop and are recorded as failed ('cancelled'). */
  signal?: AbortSignal;
  /** Called as each trial ends (in the order they end). */
  onTrial?: (trial: TrialRecord) => void;
  /** 'tpe' (default), 'random', or a sampler built by the caller. */
  sampler?: 'tpe' | 'random' | Sampler;
  /** TPE settings (nStartup, multivariate, ...). */
  tpe?: Omit<TpeOptions, 'space' | 'seed' | 'direction'>;
  /** Successive halving settings, or false for no pruning. Default: minResource 10, η 3. */
  pruner?: SuccessiveHalvingOptions | false;
  /**
   * Pruning between folds for objectives that call `reportFold` (the trial pool's does): a trial whose first folds
   * are below the median of earlier trials stops there. False turns it off. Default: quantile 0.5, 3 trials.
   */
  foldPruner?: FoldPrunerOptions | false;
  /** Largest step an objective reports (e.g. the round cap); limits the rungs. Default 1e6. */
  maxStep?: number;
  /**
   * Live rungs: at each rung a trial competes with every earlier trial's value there, including trials still running
   * (it waits for them to reach the rung or end — see `RungBoard`), instead of only those finished when it started.
   * Prunes the early trials as Optuna's asynchronous successive halving does, reproducibly. Needs an objective that
   * prunes off the main thread (`offThread`, the trial pool's). Default false: on the HPO benchmark it halved search
   * CPU but lowered the best AUC after 10 trials (few of the first trials complete; docs/benchmarks.md).
   */
  liveRungs?: boolean;
  /**
   * Live fold rule: after fold k a trial is compared with the finished trials and with the older trials that were
   * running when it started, once they finished fold k or ended, instead of the finished ones only; so the first
   * trials (which start before any trial has finished) can be stopped between folds too. Nothing waits: a trial
   * trains its next fold until the verdict is known, and a trial whose folds are done before it is recorded when
   * the verdict comes, its worker already free. The fold rule compares the real metric (AUC on the fold), so it does
   * not favour fast learners as early rungs do. Needs an objective that reports folds off the main thread
   * (`offThread`); ignored otherwise. Default true. A trial that publishes fold means and then fails keeps them on
   * the board: the younger trials that counted it as a peer use them (deterministically), while trials sampled after
   * it is told ignore failed trials, as the finished-only rule always did.
   */
  liveFolds?: boolean;
}

/** Fold slots on the live fold board: folds after the 32nd are judged on finished trials only. */
const FOLD_SLOTS = 32;

export interface StudyResult {
  trials: TrialRecord[];
  best: TrialRecord | null;
  stoppedBy: 'trials' | 'timeout' | 'abort';
  durationMs: number;
}

function objectiveValue(r: ObjectiveResult): {
  value: number;
  folds: number[] | null;
  attrs?: Record<string, unknown>;
} {
  if (typeof r === 'number') return { value: r, folds: null };
  if (r && typeof r === 'object' && typeof r.value === 'number') {
    return { value: r.value, folds: r.folds ? [...r.folds] : null, ...(r.attrs ? { attrs: r.attrs } : {}) };
  }
  throw new MlError('INVALID_OBJECTIVE', `the objective returned ${JSON.stringify(r)}, not a number or { value }`);
}

/** True when `a` is a better objective value than `b` in `direction`. */
function better(a: number, b: number, direction: Direction): boolean {
  return direction === 'maximize' ? a > b : a < b;
}

/**
 * Runs a hyperparameter search. Trial n is sampled after trials 0 … n − lag have finished and been told to the
 * sampler (the ones in between are "running" for the constant liar), and its pruning thresholds come from the same
 * finished trials — with the live fold rule also from the older trials running beside it, whose fold means are
 * published in an order that does not depend on timing. So the parameters, and for deterministic objectives the
 * results, depend only on the seed, the concurrency and the lag, never on timing; a slot idles only while a trial
 * `lag` places older is still running.
 */
export async function runStudy(o: StudyOptions): Promise<StudyResult> {
  const t0 = performance.now();
  const direction = o.direction ?? 'maximize';
  const seed = o.seed ?? 0;
  const concurrency = o.concurrency ?? 1;
  if (!(Number.isInteger(o.nTrials) && o.nTrials >= 0)) throw new MlError('INVALID_PARAM', 'nTrials must be >= 0');
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new MlError('INVALID_PARAM', 'concurrency must be a positive integer');
  }
  const lag = o.lag ?? (concurrency === 1 ? 1 : 3 * concurrency);
  if (!(Number.isInteger(lag) && lag >= concurrency)) {
    throw new MlError('INVALID_PARAM', `lag must be an integer >= concurrency (${concurrency}), got ${String(o.lag)}`);
  }
  if (direction !== 'maximize' && direction !== 'minimize') {
    throw new MlError('INVALID_PARAM', `direction must be 'maximize' or 'minimize'`);
  }
  const sampler: Sampler =
    typeof o.sampler === 'object'
      ? o.sampler
      : o.sampler === 'random'
        ? new RandomSampler({ space: o.space, seed, direction })
        : new TpeSampler({ ...o.tpe, space: o.space, seed, direction });
  const pruner = o.pruner === false ? null : new SuccessiveHalvingPruner(o.pruner ?? {});
  const foldPruner = o.foldPruner === false ? null : new FoldPruner(o.foldPruner ?? {});
  const maxStep = o.maxStep ?? 1e6;
  const liveRungs = o.liveRungs ?? false;
  if (liveRungs && o.objective.offThread !== true) {
    throw new MlError('INVALID_PARAM', 'liveRungs needs an objective that prunes off the main thread (offThread)');
  }
  const board = pruner && liveRungs ? new RungBoard(o.nTrials, pruner.rungSteps(maxStep).length) : null;
  const foldBoard =
    foldPruner && (o.liveFolds ?? true) && o.objective.offThread === true ? new RungBoard(o.nTrials, FOLD_SLOTS) : null;

  const records: (TrialRecord | undefined)[] = [];
  // A trial is running until it is recorded; it holds a slot (`executing`) only until its objective returns (a live
  // fold verdict can come later).
  const running = new Map<
    number,
    {
      done: Promise<void>;
      settled: Promise<void>;
      executing: boolean;
      ctl: AbortController;
      started: number;
      params: TrialParams;
    }
  >();
  const deadline = o.timeoutMs === undefined ? Infinity : t0 + o.timeoutMs;
  let told = 0;
  let launched = 0;
  let stoppedBy: StudyResult['stoppedBy'] = 'trials';

  // Resolves when the caller aborts, so waiting for trials can be cut short.
  const abortSignal = o.signal;
  const aborted = new Promise<'abort'>((resolve) => {
    if (!abortSignal) return;
    if (abortSignal.aborted) resolve('abort');
    else abortSignal.addEventListener('abort', () => resolve('abort'), { once: true });
  });
  const isAborted = (): boolean => abortSignal?.aborted === true;

  const tellInOrder = (upTo: number): void => {
    for (; told < upTo; told++) {
      const r = records[told]!;
      const lastStep = r.intermediate.length ? r.intermediate[r.intermediate.length - 1]![0] : 0;
      if (r.state === 'complete') sampler.tell(told, { state: 'complete', value: r.value! });
      else if (r.state === 'pruned') {
        const folds = r.folds?.length ?? 0;
        sampler.tell(told, { state: 'pruned', step: lastStep, value: r.value!, ...(folds ? { folds } : {}) });
      } else sampler.tell(told, { state: 'failed' });
      if (pruner && r.state !== 'failed') pruner.record(r.intermediate);
      if (foldPruner && r.state !== 'failed' && r.folds) foldPruner.record(r.folds);
    }
  };

  const startTrial = (): void => {
    const asked = sampler.ask();
    const number = asked.number;
    launched++;
    const ctl = new AbortController();
    // Live rungs: the trials started before this one and not yet told are its peers at every rung.
    const peers: number[] = [];
    for (let j = told; j < number; j++) peers.push(j);
    let schedule: PruneSchedule | null = pruner
      ? board
        ? pruner.liveSchedule(direction, maxStep, board, number, peers)
        : pruner.schedule(direction, maxStep)
      : null;
    if (foldPruner) {
      schedule = {
        ...(schedule ?? { steps: [], thresholds: [], direction }),
        ...(foldBoard
          ? { liveFolds: foldPruner.liveFolds(foldBoard, number, peers) }
          : { foldThresholds: foldPruner.thresholds(direction) }),
      };
    }
    const rungValues: [number, number][] = [];
    let last: [number, number] | null = null;
    let lastFold: [number, number] | null = null;
    const ctx: TrialContext = {
      number,
      seed,
      signal: ctl.signal,
      prune: schedule,
      report(step, value) {
        if (!(Number.isInteger(step) && step >= 0)) throw new MlError('INVALID_PARAM', 'report step must be >= 0');
        last = [step, value];
        if (schedule && schedule.steps.includes(step) && !rungValues.some(([s]) => s === step)) {
          rungValues.push([step, value]);
        }
        // With live rungs the worker decided (and may have waited for peers); this thread only records.
        return schedule !== null && !schedule.live && shouldPrune(schedule, step, value);
      },
      reportFold(fold, value) {
        if (!(Number.isInteger(fold) && fold >= 0)) throw new MlError('INVALID_PARAM', 'report fold must be >= 0');
        lastFold = [fold, value];
        return schedule !== null && shouldPruneFold(schedule, fold, value);
      },
    };
    const started = performance.now();
    // When the objective returned: a trial recorded later (waiting for a live fold verdict) did not run meanwhile.
    let ended: number | null = null;
    const finish = (rec: Omit<TrialRecord, 'number' | 'params' | 'intermediate' | 'durationMs' | 'startMs'>): void => {
      if (records[number]) return; // already recorded as cancelled
      board?.close(number);
      foldBoard?.close(number);
      const full: TrialRecord = {
        number,
        params: asked.params,
        intermediate: rungValues,
        durationMs: (ended ?? performance.now()) - started,
        startMs: started - t0,
        ...rec,
      };
      records[number] = full;
      o.onTrial?.(full);
    };
    let settle = (): void => undefined;
    const entry = {
      done: Promise.resolve(),
      settled: new Promise<void>((resolve) => (settle = resolve)),
      executing: true,
      ctl,
      started,
      params: asked.params,
    };
    running.set(number, entry);
    entry.done = (async () => {
      let outcome: { ok: true; res: ReturnType<typeof objectiveValue> } | { ok: false; e: unknown };
      try {
        outcome = { ok: true, res: objectiveValue(await o.objective(asked.params, ctx)) };
      } catch (e) {
        outcome = { ok: false, e };
      } finally {
        ended = performance.now();
        entry.executing = false;
        settle();
      }
      try {
        const liveFolds = schedule?.liveFolds ? schedule : null;
        const foldsDone = outcome.ok
          ? outcome.res.folds
          : outcome.e instanceof TrialPruned && outcome.e.folds && outcome.e.folds.length > 0
            ? outcome.e.folds
            : null;
        if (liveFolds && foldsDone && Number.isFinite(outcome.ok ? outcome.res.value : 0)) {
          // Verdicts the worker could not have yet: waited for here, with the worker free for the next trial.
          const last = outcome.ok ? foldsDone.length - 2 : foldsDone.length - 1;
          for (let k = 0; k <= last; k++) {
            const kept = foldsDone.slice(0, k + 1);
            const mean = kept.reduce((a, m) => a + m, 0) / kept.length;
            publishFold(liveFolds.liveFolds!, k, mean);
            let verdict = liveFoldVerdict(liveFolds, k, mean);
            while (verdict === null && !isAborted()) {
              await new Promise((resolve) => setTimeout(resolve, 1));
              verdict = liveFoldVerdict(liveFolds, k, mean);
            }
            if (verdict === null) {
              // Aborted while waiting: cancelled (a no-op when the study's abort path recorded it first).
              finish({ state: 'failed', value: null, folds: null, error: 'cancelled' });
              return;
            }
            if (verdict) {
              finish({ state: 'pruned', value: mean, folds: kept });
              return;
            }
          }
        }
        if (outcome.ok) {
          const res = outcome.res;
          if (!Number.isFinite(res.value)) {
            finish({ state: 'failed', value: null, folds: res.folds, error: `objective value ${res.value}` });
          } else finish({ state: 'complete', ...res });
          return;
        }
        const e = outcome.e;
        const foldReport = lastFold as [number, number] | null;
        if (e instanceof TrialPruned && e.folds && e.folds.length > 0) {
          // Stopped between folds: the finished folds are real results; the value is their mean.
          const value = foldReport ? foldReport[1] : e.folds.reduce((a, b) => a + b, 0) / e.folds.length;
          finish({ state: 'pruned', value, folds: [...e.folds] });
        } else if (e instanceof TrialPruned) {
          const lastReport = last as [number, number] | null;
          // The last reported value represents a pruned trial; a rung value it never reached is not invented.
          if (lastReport && !rungValues.some(([s]) => s === lastReport[0])) rungValues.push(lastReport);
          finish({ state: 'pruned', value: lastReport ? lastReport[1] : null, folds: null });
        } else {
          finish({ state: 'failed', value: null, folds: null, error: e instanceof Error ? e.message : String(e) });
        }
      } catch (e) {
        // Recording failed (e.g. `onTrial` threw): the trial keeps the record it got, else it is recorded failed;
        // nothing may escape as an unhandled rejection of a promise the study may no longer be awaiting.
        if (!records[number]) {
          try {
            finish({ state: 'failed', value: null, folds: null, error: e instanceof Error ? e.message : String(e) });
          } catch {
            // onTrial threw again: the record stands.
          }
        }
      } finally {
        running.delete(number);
      }
    })();
  };

  for (;;) {
    if (isAborted()) {
      stoppedBy = 'abort';
      break;
    }
    const next = launched;
    if (next >= o.nTrials) break;
    if (performance.now() >= deadline) {
      stoppedBy = 'timeout';
      break;
    }
    const executing = [...running.values()].filter((r) => r.executing);
    if (executing.length >= concurrency) {
      await Promise.race([aborted, ...executing.map((r) => r.settled)]);
      continue;
    }
    // Trials before next − lag + 1 must be finished before trial `next` is sampled.
    const need = next - lag + 1;
    let cut = false;
    while (told < need) {
      const r = running.get(told);
      if (r && (await Promise.race([aborted, r.done])) === 'abort') {
        cut = true;
        break;
      }
      tellInOrder(Math.min(need, firstUnfinished(records, told)));
    }
    if (cut) continue;
    // Waiting for an older trial may have taken a while: the budget is checked again before a new trial starts.
    if (performance.now() >= deadline) {
      stoppedBy = 'timeout';
      break;
    }
    startTrial();
  }
  // Launching is over: wait for the trials still running (some only for a live fold verdict), unless aborted.
  if (stoppedBy !== 'abort' && running.size > 0) {
    const drained = Promise.all([...running.values()].map((r) => r.done)).then(() => 'drained' as const);
    if ((await Promise.race([aborted, drained])) === 'abort') stoppedBy = 'abort';
  }
  if (stoppedBy === 'abort') {
    for (const [number, r] of running) {
      if (records[number]) continue; // recorded, only leaving `running`
      r.ctl.abort();
      const rec: TrialRecord = {
        number,
        params: r.params,
        state: 'failed',
        value: null,
        folds: null,
        intermediate: [],
        durationMs: performance.now() - r.started,
        startMs: r.started - t0,
        error: 'cancelled',
      };
      records[number] = rec;
      board?.close(number);
      foldBoard?.close(number);
      o.onTrial?.(rec);
    }
  }
  const trials = records.filter((r): r is TrialRecord => r !== undefined).sort((a, b) => a.number - b.number);
  let best: TrialRecord | null = null;
  for (const t of trials) {
    if (t.state === 'complete' && (best === null || better(t.value!, best.value!, direction))) best = t;
  }
  return { trials, best, stoppedBy, durationMs: performance.now() - t0 };
}

function firstUnfinished(records: readonly (TrialRecord | undefined)[], from: number): number {
  let i = from;
  while (records[i] !== undefined) i++;
  return i;
}
