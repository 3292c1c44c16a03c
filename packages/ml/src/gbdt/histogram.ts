// Gradient histograms per (leaf, feature, bin): the hot loop of training. One kernel serves the main thread and the
// worker threads; workers split the features between them and write straight into a shared histogram pool.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { MlError } from '../errors.js';

/** Floats per histogram bin: gradient sum, hessian sum, row count. */
export const BIN_STRIDE = 3;

/**
 * Adds the rows at positions [start, start + count) of `rows` into the histogram at `hist[histBase..]`, for the
 * features feats[k] with k = from, from + step, ... < nFeats. Gradients are read by position: `grad[2p]`,
 * `grad[2p + 1]` for position p (gathered in leaf order beforehand); `identity` says position p holds row p, so
 * bins are read sequentially. Self-contained on purpose: its source text is shipped to worker threads.
 */
export function histogramKernel(
  bins: Uint8Array,
  n: number,
  rows: Int32Array,
  start: number,
  count: number,
  grad: Float64Array,
  hist: Float64Array,
  histBase: number,
  binOffsets: Int32Array,
  feats: Int32Array,
  nFeats: number,
  from: number,
  step: number,
  identity: number,
): void {
  const end = start + count;
  for (let k = from; k < nFeats; k += step) {
    const f = feats[k]!;
    const colOff = f * n;
    const hb = histBase + binOffsets[f]! * 3;
    if (identity === 1) {
      for (let p = start; p < end; p++) {
        const b = hb + bins[colOff + p]! * 3;
        const gi = p << 1;
        hist[b] = hist[b]! + grad[gi]!;
        hist[b + 1] = hist[b + 1]! + grad[gi + 1]!;
        hist[b + 2] = hist[b + 2]! + 1;
      }
    } else {
      for (let p = start; p < end; p++) {
        const b = hb + bins[colOff + rows[p]!]! * 3;
        const gi = p << 1;
        hist[b] = hist[b]! + grad[gi]!;
        hist[b + 1] = hist[b + 1]! + grad[gi + 1]!;
        hist[b + 2] = hist[b + 2]! + 1;
      }
    }
  }
}

// Control block layout (Int32Array over a SharedArrayBuffer).
const C_SEQ = 0;
const C_DONE = 1;
const C_START = 2;
const C_COUNT = 3;
const C_BASE = 4;
const C_IDENTITY = 5;
const C_NFEATS = 6;
const C_STOP = 7;
const C_ERROR = 8;
const C_LEN = 9;

/** Work below this many (row, feature) updates is done on the calling thread alone: waking workers costs more. */
const PARALLEL_MIN_WORK = 64 * 1024;

/**
 * The worker's body. Written as a function so the same text runs whether this module is built JS or TS under a
 * test runner; it must not reference anything outside itself except the kernel that is prepended to it.
 */
function workerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- eval workers are CommonJS scripts */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const d = workerData as {
    ctl: SharedArrayBuffer;
    bins: Uint8Array;
    n: number;
    rows: Int32Array;
    grad: Float64Array;
    hist: Float64Array;
    binOffsets: Int32Array;
    feats: Int32Array;
    index: number;
    step: number;
  };
  const ctl = new Int32Array(d.ctl);
  parentPort!.postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 7) === 1) break;
    try {
      histogramKernel(
        d.bins,
        d.n,
        d.rows,
        ctl[2]!,
        ctl[3]!,
        d.grad,
        d.hist,
        ctl[4]!,
        d.binOffsets,
        d.feats,
        ctl[6]!,
        d.index,
        d.step,
        ctl[5]!,
      );
    } catch {
      Atomics.store(ctl, 8, 1);
    }
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
}

export interface HistogramBuffers {
  bins: Uint8Array;
  n: number;
  rows: Int32Array;
  grad: Float64Array;
  hist: Float64Array;
  binOffsets: Int32Array;
  feats: Int32Array;
}

/** Resolves the `numThreads` option: 0 means every core. */
export function resolveThreads(numThreads: number): number {
  if (numThreads === 0) return Math.max(1, availableParallelism());
  return numThreads;
}

/** Builds histograms on the calling thread plus `threads - 1` workers that share the buffers. */
export class HistogramBuilder {
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private readonly threads: number;
  nFeats = 0;

  private constructor(
    private readonly buf: HistogramBuffers,
    threads: number,
  ) {
    this.threads = threads;
    this.ctl = new Int32Array(new SharedArrayBuffer(C_LEN * 4));
  }

  /** Starts the workers and waits until each one runs, so a worker that cannot start fails here, not mid-training. */
  static async start(buf: HistogramBuffers, threads: number): Promise<HistogramBuilder> {
    const b = new HistogramBuilder(buf, threads);
    if (threads <= 1) return b;
    for (const a of [buf.bins, buf.rows, buf.grad, buf.hist, buf.feats]) {
      if (!(a.buffer instanceof SharedArrayBuffer)) throw new Error('histogram buffers must be shared for threads');
    }
    // esbuild-style transforms may wrap functions in __name(); define it so the shipped text runs anywhere.
    const code = `'use strict';\nconst __name = (f) => f;\nconst histogramKernel = ${histogramKernel.toString()};\n(${workerMain.toString()})();\n`;
    try {
      const ready: Promise<void>[] = [];
      for (let w = 1; w < threads; w++) {
        const worker = new Worker(code, {
          eval: true,
          workerData: { ctl: b.ctl.buffer, ...buf, index: w, step: threads },
        });
        worker.unref();
        b.workers.push(worker);
        ready.push(
          new Promise<void>((resolve, reject) => {
            worker.once('message', () => resolve());
            worker.once('error', reject);
            worker.once('exit', (code) => reject(new Error(`histogram worker exited with code ${code}`)));
          }),
        );
      }
      await Promise.all(ready);
    } catch (e) {
      await b.close();
      throw new MlError('WORKER_FAILED', `could not start histogram workers: ${(e as Error).message}`);
    }
    return b;
  }

  /** Fills the histogram at `histBase` (zeroed first) from positions [start, start + count). */
  build(start: number, count: number, histBase: number, histLen: number, identity: boolean): void {
    const { bins, n, rows, grad, hist, binOffsets, feats } = this.buf;
    const nFeats = this.nFeats;
    // Zero only the active features' ranges: inactive ones are never read.
    for (let k = 0; k < nFeats; k++) {
      const f = feats[k]!;
      hist.fill(0, histBase + binOffsets[f]! * BIN_STRIDE, histBase + binOffsets[f + 1]! * BIN_STRIDE);
    }
    void histLen;
    const id = identity ? 1 : 0;
    if (this.workers.length === 0 || count * nFeats < PARALLEL_MIN_WORK) {
      histogramKernel(bins, n, rows, start, count, grad, hist, histBase, binOffsets, feats, nFeats, 0, 1, id);
      return;
    }
    const ctl = this.ctl;
    ctl[C_START] = start;
    ctl[C_COUNT] = count;
    ctl[C_BASE] = histBase;
    ctl[C_IDENTITY] = id;
    ctl[C_NFEATS] = nFeats;
    Atomics.store(ctl, C_DONE, 0);
    Atomics.add(ctl, C_SEQ, 1);
    Atomics.notify(ctl, C_SEQ);
    histogramKernel(bins, n, rows, start, count, grad, hist, histBase, binOffsets, feats, nFeats, 0, this.threads, id);
    const want = this.workers.length;
    for (;;) {
      const done = Atomics.load(ctl, C_DONE);
      if (done >= want) break;
      // The timeout only guards against a worker that died without reporting.
      if (Atomics.wait(ctl, C_DONE, done, 60_000) === 'timed-out' && Atomics.load(ctl, C_DONE) === done) {
        throw new MlError('WORKER_FAILED', 'a histogram worker stopped responding');
      }
    }
    if (Atomics.load(ctl, C_ERROR) === 1) throw new MlError('WORKER_FAILED', 'a histogram worker failed');
  }

  /** Stops and terminates every worker; safe to call twice. */
  async close(): Promise<void> {
    Atomics.store(this.ctl, C_STOP, 1);
    Atomics.add(this.ctl, C_SEQ, 1);
    Atomics.notify(this.ctl, C_SEQ);
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
