// A worker_threads pool that runs trials' cross-validation off the main thread, one single-threaded GBDT or
// logistic fit per worker, so parallel trials use every core. The study data is shared once (SharedArrayBuffer).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Ts from 'typescript';
import { groupedSample } from '../cv.js';
import type { CvSplit } from '../cv.js';
import { MlError } from '../errors.js';
import type { Column, Frame } from '../frame.js';
import { cvSplits } from './cross-validate.js';
import type { CvAlgorithm, FoldResult } from './cross-validate.js';
import type { PruneSchedule } from './pruner.js';
import type { ParamValue, TrialParams } from './space.js';
import { TrialPruned } from './study.js';
import type { Objective, ObjectiveResult, TrialContext } from './study.js';
import type { PoolReply, PoolTask, SharedStudyData } from './worker-task.js';

export interface TrialPoolOptions {
  frame: Frame;
  labels: ArrayLike<number>;
  /** Patient (group) key per row: folds never split a patient. Without it, folds are stratified by label only. */
  groups?: ArrayLike<string | number> | null;
  /** Number of folds, or ready-made splits. Default 5. */
  folds?: number | CvSplit[];
  /** Seed of the fold assignment. Default 0. */
  seed?: number;
  /** Workers. Default: one per core. */
  size?: number;
  metric?: 'auc';
  /**
   * Search on a sample: when the data has more rows than this, trials cross-validate on a patient-grouped,
   * label-stratified sample of about this many rows (whole patients), and `run(..., { fidelity: 'full' })` on the
   * same number of folds over every row. Default: no sample. Not combinable with ready-made splits.
   */
  searchRows?: number;
}

export interface PoolRunResult {
  mean: number;
  std: number;
  folds: FoldResult[];
}

export interface TrialPool {
  readonly size: number;
  /** The fold splits every trial uses (row indices of the pool's frame; on the search sample when there is one). */
  readonly splits: CvSplit[];
  /** The folds over every row (the same array as `splits` without a search sample). */
  readonly fullSplits: CvSplit[];
  /** Rows in the search sample (all rows without one). */
  readonly searchRows: number;
  /**
   * The study objective: `params.algorithm` ('gbdt' | 'logreg', default 'gbdt') picks the learner, the other
   * parameters go to it; returns the mean fold AUC with the fold AUCs, and prunes by the trial's schedule.
   */
  readonly objective: Objective;
  /** Cross-validates one configuration in a free worker (queued while all are busy). */
  run(
    algorithm: CvAlgorithm,
    params: Record<string, ParamValue>,
    opts?: {
      seed?: number;
      prune?: PruneSchedule | null;
      signal?: AbortSignal;
      /** 'search' (default): the search sample's folds; 'full': the folds over every row. */
      fidelity?: 'search' | 'full';
      /** Only these folds (indices), e.g. to spread one configuration's folds over several workers. */
      folds?: number[];
    },
  ): Promise<
    PoolRunResult & {
      pruned: boolean;
      reports: [number, number][];
      /** Pruned between folds: the (fold, running mean) reports; `folds` then holds the finished folds. */
      foldReports: [number, number][];
    }
  >;
  /** Terminates every worker; pending runs fail with CANCELLED. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The worker's body, shipped as source text (like the histogram workers), so the same pool works from the built
 * JavaScript and from TypeScript sources under a test runner. It loads the task module by URL; for .ts sources a
 * transpiling loader hook is registered first.
 */
/** Defined by the worker's code prefix: a dynamic import a test runner's transform cannot rewrite. */
declare const importModule: (url: string) => Promise<unknown>;

function poolWorkerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- eval workers are CommonJS scripts */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const d = workerData as {
    entry: string;
    tsHook: { url: string; sources: Record<string, string> } | null;
    data: unknown;
    cancel: SharedArrayBuffer;
  };
  const port = parentPort!;
  const cancel = new Int32Array(d.cancel);
  const start = async (): Promise<void> => {
    if (d.tsHook) {
      const { register } = require('node:module') as { register: (url: string, o: { data: unknown }) => void };
      register(d.tsHook.url, { data: { sources: d.tsHook.sources } });
    }
    const m = (await importModule(d.entry)) as {
      runPoolTask: (data: unknown, task: { id: number }, cancelled: () => boolean) => Promise<unknown>;
    };
    port.on('message', (task: { id: number }) => {
      void m.runPoolTask(d.data, task, () => Atomics.load(cancel, 0) === task.id).then((r) => port.postMessage(r));
    });
    port.postMessage({ ready: true });
  };
  start().catch((e: unknown) => port.postMessage({ fatal: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
}

/**
 * Loader hook for workers started from TypeScript sources (tests only; the built package never uses it): `.js`
 * imports between sources resolve to the `.ts` files beside them, whose JavaScript the main thread transpiled once.
 */
const TS_HOOK = `
let sources = {};
export function initialize(data) { sources = data.sources; }
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL in sources) {
    const url = new URL(specifier.slice(0, -3) + '.ts', context.parentURL).href;
    if (url in sources) return { url, shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url in sources) return { format: 'module', source: sources[url], shortCircuit: true };
  return next(url, context);
}
`;

let transpiled: Record<string, string> | null = null;

/**
 * JavaScript of the task module and every source it imports, by file URL, transpiled with the TypeScript compiler
 * (a dev dependency). Done once per process: the sources do not change while tests run.
 */
function transpileSources(entryUrl: string): Record<string, string> {
  if (transpiled) return transpiled;
  const require = createRequire(entryUrl);
  const ts = require('typescript') as typeof Ts;
  const out: Record<string, string> = {};
  const todo = [entryUrl];
  while (todo.length > 0) {
    const url = todo.pop()!;
    if (url in out) continue;
    const file = fileURLToPath(url);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    }).outputText;
    out[url] = js;
    for (const m of js.matchAll(/(?:from\s*|import\s*\(?\s*)['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      todo.push(new URL(`${m[1]!}.ts`, url).href);
    }
  }
  transpiled = out;
  return out;
}

function sharedCopy<T extends Float64Array | Int32Array | Uint32Array>(
  a: ArrayLike<number>,
  Ctor: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number },
): T {
  const out = new Ctor(new SharedArrayBuffer(Math.max(1, a.length) * Ctor.BYTES_PER_ELEMENT));
  for (let i = 0; i < a.length; i++) out[i] = a[i]!;
  return out.subarray(0, a.length) as T;
}

interface Slot {
  worker: Worker | null;
  ready: Promise<void> | null;
  cancel: Int32Array;
  busy: { task: PoolTask; resolve: (r: PoolReply) => void; reject: (e: Error) => void } | null;
}

/** Starts a pool of `size` workers sharing the frame, labels and folds; waits until every worker is ready. */
export async function trialPool(o: TrialPoolOptions): Promise<TrialPool> {
  if ((o.metric ?? 'auc') !== 'auc') throw new MlError('INVALID_PARAM', `metric must be 'auc'`);
  const n = o.frame.numRows;
  if (o.labels.length !== n) throw new MlError('LABEL_LENGTH', `${o.labels.length} labels for ${n} rows`);
  const size = o.size ?? Math.max(1, availableParallelism());
  if (!(Number.isInteger(size) && size >= 1)) throw new MlError('INVALID_PARAM', 'size must be a positive integer');
  const seed = o.seed ?? 0;
  const folds = o.folds ?? 5;
  const readyMade = Array.isArray(folds);
  const fullSplits = Array.isArray(folds) ? folds : cvSplits(o.labels, o.groups, folds, seed);
  let splits = fullSplits;
  let searchRows = n;
  if (o.searchRows !== undefined) {
    if (!(Number.isInteger(o.searchRows) && o.searchRows >= 2)) {
      throw new MlError('INVALID_PARAM', `searchRows must be an integer >= 2, got ${String(o.searchRows)}`);
    }
    if (readyMade) throw new MlError('INVALID_PARAM', 'searchRows cannot be combined with ready-made folds');
    if (o.searchRows < n) {
      const sample = searchSample(o.labels, o.groups, o.searchRows / n, seed);
      const k = fullSplits.length;
      const sub = cvSplits(
        Array.from(sample, (i) => o.labels[i]!),
        o.groups ? Array.from(sample, (i) => o.groups![i]!) : null,
        k,
        seed,
      );
      const map = (idx: Uint32Array): Uint32Array => Uint32Array.from(idx, (j) => sample[j]!);
      splits = sub.map((s) => ({ train: map(s.train), test: map(s.test) }));
      searchRows = sample.length;
    }
  }
  // One shared copy of the data for all workers: columns, labels and fold indices.
  const share = (ss: CvSplit[]): CvSplit[] =>
    ss.map((s) => ({ train: sharedCopy(s.train, Uint32Array), test: sharedCopy(s.test, Uint32Array) }));
  const sharedFull = share(fullSplits);
  const data: SharedStudyData = {
    columns: o.frame.columns.map((c): Column =>
      c.kind === 'numeric'
        ? { name: c.name, kind: 'numeric', values: sharedCopy(c.values, Float64Array) }
        : { name: c.name, kind: 'categorical', codes: sharedCopy(c.codes, Int32Array), dictionary: [...c.dictionary] },
    ),
    labels: sharedCopy(o.labels, Float64Array),
    splits: splits === fullSplits ? sharedFull : share(splits),
    fullSplits: sharedFull,
  };
  const self = import.meta.url;
  const fromTs = self.endsWith('.ts');
  const entry = new URL(fromTs ? './worker-task.ts' : './worker-task.js', self).href;
  const tsHook = fromTs
    ? { url: `data:text/javascript,${encodeURIComponent(TS_HOOK)}`, sources: transpileSources(entry) }
    : null;
  // esbuild-style transforms may wrap functions in __name(); define it so the shipped text runs anywhere.
  const code = `'use strict';\nconst __name = (f) => f;\nconst importModule = (u) => import(u);\n(${poolWorkerMain.toString()})();\n`;

  const slots: Slot[] = [];
  const queue: { task: PoolTask; resolve: (r: PoolReply) => void; reject: (e: Error) => void }[] = [];
  let closed = false;
  let nextId = 1;

  const spawn = (slot: Slot): void => {
    const worker = new Worker(code, { eval: true, workerData: { entry, tsHook, data, cancel: slot.cancel.buffer } });
    // An idle pool must not keep the process alive; a busy worker is ref'd while its trial runs.
    worker.unref();
    slot.worker = worker;
    slot.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { ready?: true; fatal?: string } | PoolReply) => {
        if ('ready' in m) return resolve();
        if ('fatal' in m) return reject(new MlError('WORKER_FAILED', `trial worker could not start: ${m.fatal}`));
        const job = slot.busy;
        if (!job || job.task.id !== (m as PoolReply).id) return;
        slot.busy = null;
        worker.unref();
        job.resolve(m as PoolReply);
        pump();
      });
      worker.once('error', (e) => reject(e));
      worker.once('exit', (exitCode) => {
        reject(new MlError('WORKER_FAILED', `trial worker exited with code ${exitCode}`));
        if (slot.worker !== worker) return;
        slot.worker = null;
        slot.ready = null;
        const job = slot.busy;
        slot.busy = null;
        if (job) job.reject(new MlError(closed ? 'CANCELLED' : 'WORKER_FAILED', `trial worker exited (${exitCode})`));
        if (!closed) pump();
      });
    });
    // Startup failures surface through `ready`; avoid an unhandled rejection when nobody awaits it yet.
    slot.ready.catch(() => undefined);
  };

  const pump = (): void => {
    if (closed) return;
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (slot.busy) continue;
      if (!slot.worker) spawn(slot);
      const job = queue.shift()!;
      slot.busy = job;
      Atomics.store(slot.cancel, 0, 0);
      const worker = slot.worker!;
      worker.ref();
      slot.ready!.then(
        () => worker.postMessage(job.task),
        (e: unknown) => {
          if (slot.busy === job) slot.busy = null;
          job.reject(e instanceof Error ? e : new Error(String(e)));
          if (slot.worker === worker) {
            slot.worker = null;
            void worker.terminate();
          }
        },
      );
    }
  };

  for (let i = 0; i < size; i++) {
    const slot: Slot = { worker: null, ready: null, cancel: new Int32Array(new SharedArrayBuffer(4)), busy: null };
    slots.push(slot);
    spawn(slot);
  }
  try {
    await Promise.all(slots.map((s) => s.ready));
  } catch (e) {
    closed = true;
    await Promise.all(slots.map((s) => s.worker?.terminate()));
    throw e instanceof MlError ? e : new MlError('WORKER_FAILED', `could not start trial workers: ${String(e)}`);
  }

  const run: TrialPool['run'] = async (algorithm, params, opts = {}) => {
    if (closed) throw new MlError('CANCELLED', 'the trial pool is closed');
    const task: PoolTask = {
      id: nextId++,
      algorithm,
      params,
      seed: opts.seed ?? 0,
      prune: opts.prune ?? null,
      ...(opts.fidelity ? { fidelity: opts.fidelity } : {}),
      ...(opts.folds ? { folds: [...opts.folds] } : {}),
    };
    const signal = opts.signal;
    if (signal?.aborted) throw new MlError('CANCELLED', 'the trial was cancelled');
    const reply = await new Promise<PoolReply>((resolve, reject) => {
      const job = { task, resolve, reject };
      const onAbort = (): void => {
        const q = queue.indexOf(job);
        if (q >= 0) {
          queue.splice(q, 1);
          reject(new MlError('CANCELLED', 'the trial was cancelled'));
          return;
        }
        // Running: the worker polls this flag between boosting rounds and folds.
        const slot = slots.find((s) => s.busy === job);
        if (slot) Atomics.store(slot.cancel, 0, task.id);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      job.resolve = (r) => {
        done();
        resolve(r);
      };
      job.reject = (e) => {
        done();
        reject(e);
      };
      queue.push(job);
      pump();
    });
    if (reply.kind === 'failed') throw new MlError(reply.code ?? 'TRIAL_FAILED', reply.message);
    if (reply.kind === 'pruned') {
      return {
        mean: NaN,
        std: NaN,
        folds: reply.folds ?? [],
        pruned: true,
        reports: reply.reports,
        foldReports: reply.foldReports ?? [],
      };
    }
    return {
      mean: reply.mean,
      std: reply.std,
      folds: reply.folds,
      pruned: false,
      reports: reply.reports,
      foldReports: [],
    };
  };

  const objectiveFn = async (params: TrialParams, ctx: TrialContext): Promise<ObjectiveResult> => {
    const { algorithm = 'gbdt', ...rest } = params;
    if (algorithm !== 'gbdt' && algorithm !== 'logreg') {
      throw new MlError('INVALID_PARAM', `algorithm must be 'gbdt' or 'logreg', got ${String(algorithm)}`);
    }
    const r = await run(algorithm, rest, { seed: ctx.seed, prune: ctx.prune, signal: ctx.signal });
    // The worker applied the same schedule; replaying its rung values records them in the study.
    for (const [step, value] of r.reports) ctx.report(step, value);
    for (const [fold, value] of r.foldReports) ctx.reportFold(fold, value);
    if (r.pruned) {
      throw r.folds.length > 0
        ? new TrialPruned(
            'pruned between folds',
            r.folds.map((f) => f.metric),
          )
        : new TrialPruned();
    }
    return {
      value: r.mean,
      folds: r.folds.map((f) => f.metric),
      attrs: {
        std: r.std,
        ...(algorithm === 'gbdt' ? { bestIterations: r.folds.map((f) => f.bestIteration ?? null) } : {}),
      },
    };
  };

  // Trials report rounds from the workers, so a study can give them live rungs (see RungBoard).
  const objective: Objective = Object.assign(objectiveFn, { offThread: true as const });

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const job of queue.splice(0)) job.reject(new MlError('CANCELLED', 'the trial pool was closed'));
    await Promise.all(
      slots.map(async (s) => {
        const w = s.worker;
        if (!w) return;
        await w.terminate();
      }),
    );
  };

  return { size, splits, fullSplits, searchRows, objective, run, close };
}

/**
 * Row indices (ascending) of a patient-grouped, label-stratified sample of about `fraction` of the rows; without
 * groups every row is its own group.
 */
function searchSample(
  labels: ArrayLike<number>,
  groups: ArrayLike<string | number> | null | undefined,
  fraction: number,
  seed: number,
): Uint32Array {
  const keys = groups ?? Int32Array.from({ length: labels.length }, (_, i) => i);
  return groupedSample(keys, labels, fraction, seed);
}
