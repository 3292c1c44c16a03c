// Gradient histograms per (leaf, feature, bin): the hot loop of training. Bins are read row-major (one cache line
// per row instead of one per feature), workers split the features and write straight into a shared histogram pool.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { MlError } from '../errors.js';

/** Floats per histogram bin: gradient sum, hessian sum. Row counts are estimated from hessians (as LightGBM does). */
export const BIN_STRIDE = 2;
/** Extra bins at the end of every histogram slot: padding entries of a plan write there and are never read. */
export const PAD_BINS = 256;

/**
 * Adds positions [start, start + count) of `rows` into the histogram at `hist[histBase..]`. Bins are row-major:
 * `rowBins[r * stride + col]`. The plan at `plan[planOff]` holds a length nk (a multiple of 4), then nk columns,
 * then nk histogram offsets (in floats); padding entries write into the slot's padding area, so the unrolled inner
 * loop needs no tail. Gradients are read by position (`grad[2p]`, `grad[2p + 1]`, gathered in leaf order).
 * Self-contained on purpose: its source text is shipped to worker threads.
 */
export function histogramKernel(
  rowBins: Uint8Array,
  stride: number,
  rows: Int32Array,
  start: number,
  count: number,
  grad: Float64Array,
  hist: Float64Array,
  histBase: number,
  plan: Int32Array,
  planOff: number,
): void {
  const nk = plan[planOff]!;
  const cols = planOff + 1;
  const offs = planOff + 1 + nk;
  const end = start + count;
  for (let p = start; p < end; p++) {
    const base = rows[p]! * stride;
    const g = grad[p << 1]!;
    const h = grad[(p << 1) + 1]!;
    for (let k = 0; k < nk; k += 4) {
      let b = histBase + plan[offs + k]! + (rowBins[base + plan[cols + k]!]! << 1);
      hist[b] = hist[b]! + g;
      hist[b + 1] = hist[b + 1]! + h;
      b = histBase + plan[offs + k + 1]! + (rowBins[base + plan[cols + k + 1]!]! << 1);
      hist[b] = hist[b]! + g;
      hist[b + 1] = hist[b + 1]! + h;
      b = histBase + plan[offs + k + 2]! + (rowBins[base + plan[cols + k + 2]!]! << 1);
      hist[b] = hist[b]! + g;
      hist[b + 1] = hist[b + 1]! + h;
      b = histBase + plan[offs + k + 3]! + (rowBins[base + plan[cols + k + 3]!]! << 1);
      hist[b] = hist[b]! + g;
      hist[b + 1] = hist[b + 1]! + h;
    }
  }
}

// Control block layout (Int32Array over a SharedArrayBuffer).
const C_SEQ = 0;
const C_DONE = 1;
const C_START = 2;
const C_COUNT = 3;
const C_BASE = 4;
const C_STOP = 5;
const C_ERROR = 6;
const C_LEN = 7;

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
    rowBins: Uint8Array;
    stride: number;
    rows: Int32Array;
    grad: Float64Array;
    hist: Float64Array;
    plan: Int32Array;
    planOff: number;
  };
  const ctl = new Int32Array(d.ctl);
  parentPort!.postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 5) === 1) break;
    try {
      histogramKernel(d.rowBins, d.stride, d.rows, ctl[2]!, ctl[3]!, d.grad, d.hist, ctl[4]!, d.plan, d.planOff);
    } catch {
      Atomics.store(ctl, 6, 1);
    }
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
}

export interface HistogramBuffers {
  /** Row-major bins, `stride` bytes per row. */
  rowBins: Uint8Array;
  stride: number;
  rows: Int32Array;
  /** Gradients gathered by position. */
  grad: Float64Array;
  hist: Float64Array;
  /** Start of each feature's bins in a histogram slot (in bins). */
  binOffsets: Int32Array;
  /** Floats per histogram slot, padding included. */
  slotLen: number;
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
  /** One plan per thread (index 0 = calling thread), then one plan with every active feature for small builds. */
  private readonly plan: Int32Array;
  private readonly planLen: number;
  private readonly feats: Int32Array;
  nFeats = 0;

  private constructor(
    private readonly buf: HistogramBuffers,
    threads: number,
  ) {
    this.threads = threads;
    this.ctl = new Int32Array(new SharedArrayBuffer(C_LEN * 4));
    const F = buf.binOffsets.length - 1;
    this.planLen = 1 + 2 * (F + 4);
    this.plan = new Int32Array(new SharedArrayBuffer((threads + 1) * this.planLen * 4));
    this.feats = new Int32Array(F);
  }

  /** Starts the workers and waits until each one runs, so a worker that cannot start fails here, not mid-training. */
  static async start(buf: HistogramBuffers, threads: number): Promise<HistogramBuilder> {
    const b = new HistogramBuilder(buf, threads);
    if (threads <= 1) return b;
    for (const a of [buf.rowBins, buf.rows, buf.grad, buf.hist]) {
      if (!(a.buffer instanceof SharedArrayBuffer)) throw new Error('histogram buffers must be shared for threads');
    }
    // esbuild-style transforms may wrap functions in __name(); define it so the shipped text runs anywhere.
    const code = `'use strict';\nconst __name = (f) => f;\nconst histogramKernel = ${histogramKernel.toString()};\n(${workerMain.toString()})();\n`;
    try {
      const ready: Promise<void>[] = [];
      for (let w = 1; w < threads; w++) {
        const { rowBins, stride, rows, grad, hist } = buf;
        const worker = new Worker(code, {
          eval: true,
          workerData: { ctl: b.ctl.buffer, rowBins, stride, rows, grad, hist, plan: b.plan, planOff: w * b.planLen },
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

  /** Sets the features histograms are built for (until the next call); splits them between the threads. */
  setFeatures(feats: ArrayLike<number>): void {
    this.nFeats = feats.length;
    for (let k = 0; k < feats.length; k++) this.feats[k] = feats[k]!;
    const T = this.threads;
    for (let w = 0; w <= T; w++) {
      // Plan T lists every feature (used when the build is too small to share).
      const mine: number[] = [];
      for (let k = 0; k < feats.length; k++) if (w === T || k % T === w) mine.push(feats[k]!);
      this.writePlan((w === T ? T : w) * this.planLen, mine);
    }
  }

  /** The active features. */
  get features(): Int32Array {
    return this.feats.subarray(0, this.nFeats);
  }

  private writePlan(off: number, mine: number[]): void {
    const { binOffsets, slotLen } = this.buf;
    const nk = (mine.length + 3) & ~3;
    const plan = this.plan;
    plan[off] = nk;
    const pad = slotLen - PAD_BINS * BIN_STRIDE;
    for (let k = 0; k < nk; k++) {
      const f = mine[k];
      plan[off + 1 + k] = f === undefined ? 0 : f;
      plan[off + 1 + nk + k] = f === undefined ? pad : binOffsets[f]! * BIN_STRIDE;
    }
  }

  /** Fills the histogram at `histBase` (zeroed first) from positions [start, start + count). */
  build(start: number, count: number, histBase: number): void {
    const { rowBins, stride, rows, grad, hist, binOffsets } = this.buf;
    const nFeats = this.nFeats;
    // Zero only the active features' ranges: inactive ones are never read.
    for (let k = 0; k < nFeats; k++) {
      const f = this.feats[k]!;
      hist.fill(0, histBase + binOffsets[f]! * BIN_STRIDE, histBase + binOffsets[f + 1]! * BIN_STRIDE);
    }
    if (this.workers.length === 0 || count * nFeats < PARALLEL_MIN_WORK) {
      const planOff = (this.workers.length === 0 ? 0 : this.threads) * this.planLen;
      histogramKernel(rowBins, stride, rows, start, count, grad, hist, histBase, this.plan, planOff);
      return;
    }
    const ctl = this.ctl;
    ctl[C_START] = start;
    ctl[C_COUNT] = count;
    ctl[C_BASE] = histBase;
    Atomics.store(ctl, C_DONE, 0);
    Atomics.add(ctl, C_SEQ, 1);
    Atomics.notify(ctl, C_SEQ);
    histogramKernel(rowBins, stride, rows, start, count, grad, hist, histBase, this.plan, 0);
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
