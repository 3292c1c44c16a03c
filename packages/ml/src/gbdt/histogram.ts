// Gradient histograms per (leaf, feature, bin): the hot loop of training. Bins are read row-major, four bins per
// 32-bit load (one cache line per row instead of one per feature), by a kernel generated for the active feature list
// so every histogram offset is a constant. With two threads the rows of a large build are split in two halves: the
// calling thread sums the first half into the leaf's slot while ONE persistent worker sums the second half into a
// scratch slot (SharedArrayBuffer, Atomics.wait/notify), then the scratch is added in. The single-thread path splits
// at the same point and adds the same partial sums, so results are bit-identical for any thread count.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import { MlError } from '../errors.js';

/** Floats per histogram bin: gradient sum, hessian sum. Row counts are estimated from hessians (as LightGBM does). */
export const BIN_STRIDE = 2;
/** Extra bins at the end of every histogram slot (kept free for callers; never written by the kernels). */
export const PAD_BINS = 0;
/** Builds of at least this many (row, feature) updates are split into two halves (one per thread when there are 2). */
export const SPLIT_WORK = 96 * 1024;
/** Most features in one generated kernel; more are handled as several chunks (generated code size, cache). */
const MAX_UNROLLED_FEATURES = 64;

/**
 * A histogram kernel: adds rows `rows[start..end)` into `hist[histBase..]`. `rowWords` holds the row-major bins,
 * `words` 32-bit words (four features) per row; `grad` holds gradient and hessian of row r at 2r and 2r + 1.
 */
export type HistogramKernel = (
  rowWords: Uint32Array,
  rows: Int32Array,
  start: number,
  end: number,
  grad: Float64Array,
  hist: Float64Array,
  histBase: number,
) => unknown;

/**
 * Makes the kernel for features `feats[0..nFeats)`: generated source with every offset a literal (only integers
 * computed here from our own bin layout go into the code, and they are checked), in chunks of at most `maxUnrolled`
 * features. Self-contained on purpose: its source text is shipped to the worker thread.
 */
export function makeHistogramKernel(
  feats: ArrayLike<number>,
  nFeats: number,
  binOffsets: ArrayLike<number>,
  words: number,
  maxUnrolled: number,
): HistogramKernel {
  const TOUCH_BLOCK = 64;
  const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const shiftOf = (f: number): number => (littleEndian ? 8 * (f & 3) : 24 - 8 * (f & 3));
  for (let k = 0; k < nFeats; k++) {
    const f = feats[k]!;
    if (!Number.isInteger(f) || f < 0 || f >= binOffsets.length - 1) throw new Error(`bad feature index ${f}`);
    if (!Number.isInteger(binOffsets[f]) || binOffsets[f]! < 0) throw new Error(`bad bin offset for feature ${f}`);
  }
  if (!Number.isInteger(words) || words < 0) throw new Error(`bad word count ${words}`);
  // Features sorted so each word is loaded once per row.
  const sorted = Array.from({ length: nFeats }, (_, k) => feats[k]!).sort((a, b) => a - b);
  if (nFeats > maxUnrolled) {
    // Many features: one generated kernel per chunk, each a pass over the rows. A single unrolled body of hundreds
    // of features is too large for V8 to optimise (measured 2.6x slower than the old loop on 500 features), and a
    // chunk's histograms stay in cache.
    const parts: HistogramKernel[] = [];
    for (let c = 0; c < nFeats; c += maxUnrolled) {
      const part = sorted.slice(c, c + maxUnrolled);
      parts.push(makeHistogramKernel(part, part.length, binOffsets, words, maxUnrolled));
    }
    return (rowWords, rows, start, end, grad, hist, histBase) => {
      for (let k = 0; k < parts.length; k++) parts[k]!(rowWords, rows, start, end, grad, hist, histBase);
    };
  }
  const lines: string[] = [];
  let loaded = -1;
  for (const f of sorted) {
    const w = f >> 2;
    if (w !== loaded) {
      lines.push(`w = rowWords[o + ${w}];`);
      loaded = w;
    }
    const s = shiftOf(f);
    const bin = s === 0 ? '(w & 255)' : s === 24 ? '(w >>> 24)' : `((w >>> ${s}) & 255)`;
    lines.push(`b = hb + ${binOffsets[f]! * 2} + (${bin} << 1); hist[b] += g; hist[b + 1] += h;`);
  }
  const row = [
    'const r = rows[p];',
    `const o = r * ${words};`,
    'const g = grad[r << 1];',
    'const h = grad[(r << 1) + 1];',
    'let w = 0;',
    'let b = 0;',
    ...lines,
  ].map((l) => '      ' + l);
  // Sparse row sets (deep leaves) are bound by cache misses on rowWords and grad, one row at a time: a short loop
  // first touches the next block's rows so their misses overlap (a software prefetch; the sum keeps the loads).
  const body = [
    '"use strict";',
    'const hb = histBase | 0;',
    'let touched = 0;',
    'const span = end > start ? rows[end - 1] - rows[start] + 1 : 1;',
    'if ((end - start) * 4 >= span) {',
    '  for (let p = start; p < end; p++) {',
    ...row,
    '  }',
    '} else {',
    `  for (let p0 = start; p0 < end; p0 += ${TOUCH_BLOCK}) {`,
    `    const e = Math.min(end, p0 + ${TOUCH_BLOCK});`,
    `    const pe = Math.min(end, e + ${TOUCH_BLOCK});`,
    '    for (let q = e; q < pe; q++) {',
    '      const r = rows[q];',
    `      touched = (touched + rowWords[r * ${words}] + rowWords[r * ${words} + ${Math.max(0, words - 1)}] + grad[r << 1]) | 0;`,
    '    }',
    '    for (let p = p0; p < e; p++) {',
    ...row,
    '    }',
    '  }',
    '}',
    'return touched;',
  ].join('\n');
  return new Function('rowWords', 'rows', 'start', 'end', 'grad', 'hist', 'histBase', body) as HistogramKernel;
}

/**
 * Stable partition of positions [start, end) of `rows` by `lut[bins[col + row]]` (1 = left): left rows are written
 * back from `start` on, right rows to `tmp[start..]`. Returns the number of left rows. Branch-free: a split
 * sends rows left or right at random, so a branch would mispredict about half the time. Self-contained (shipped to
 * the worker).
 */
export function partitionRange(
  bins: Uint8Array,
  col: number,
  lut: Uint8Array,
  rows: Int32Array,
  tmp: Int32Array,
  start: number,
  end: number,
): number {
  let nl = 0;
  let nr = 0;
  for (let p = start; p < end; p++) {
    const r = rows[p]!;
    const isLeft = lut[bins[col + r]!]!;
    // Writing at start + nl never passes p.
    rows[start + nl] = r;
    tmp[start + nr] = r;
    nl += isLeft;
    nr += 1 - isLeft;
  }
  return nl;
}

/**
 * Gradients and hessians of rows [start, end) at 2i, 2i + 1 from margins f and labels y: log loss when `binary`
 * is 1 (positives weighted by spw), else squared error. Self-contained (shipped to the worker).
 */
export function computeGradients(
  binary: number,
  spw: number,
  y: Float64Array,
  f: Float64Array,
  grad: Float64Array,
  start: number,
  end: number,
): void {
  if (binary === 1) {
    for (let i = start; i < end; i++) {
      const pr = 1 / (1 + Math.exp(-f[i]!));
      const w = y[i] === 1 ? spw : 1;
      grad[i << 1] = (pr - y[i]!) * w;
      grad[(i << 1) + 1] = Math.max(pr * (1 - pr), 1e-16) * w;
    }
  } else {
    for (let i = start; i < end; i++) {
      grad[i << 1] = f[i]! - y[i]!;
      grad[(i << 1) + 1] = 1;
    }
  }
}

/** Gradient passes over at least this many rows are split between the two threads. */
const PARALLEL_GRADIENT_MIN = 64 * 1024;

/** Partitions of at least this many rows are split between the two threads. */
const PARALLEL_PARTITION_MIN = 32 * 1024;

// Control block layout (Int32Array over a SharedArrayBuffer).
const C_SEQ = 0;
const C_DONE = 1;
const C_START = 2;
const C_END = 3;
const C_BASE = 4;
const C_STOP = 5;
const C_ERROR = 6;
const C_PLAN = 7;
const C_JOB = 8;
const C_COL = 9;
const C_RESULT = 10;
const C_LEN = 11;
const JOB_HISTOGRAM = 1;
const JOB_PARTITION = 2;
const JOB_GRADIENT = 3;

/**
 * The worker's body. Written as a function so the same text runs whether this module is built JS or TS under a
 * test runner; it must not reference anything outside itself except the kernel factory prepended to it.
 */
function workerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- eval workers are CommonJS scripts */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const d = workerData as {
    ctl: SharedArrayBuffer;
    rowWords: Uint32Array;
    words: number;
    rows: Int32Array;
    grad: Float64Array;
    hist: Float64Array;
    binOffsets: Int32Array;
    plan: Int32Array;
    maxUnrolled: number;
    colBins: Uint8Array;
    lut: Uint8Array;
    tmp: Int32Array;
    y: Float64Array;
    f: Float64Array;
    gradParams: Float64Array;
  };
  const ctl = new Int32Array(d.ctl);
  const { rowWords, rows, grad, hist, binOffsets, plan, colBins, lut, tmp, y, f, gradParams } = d;
  let planSeen = -1;
  let kernel: HistogramKernel | null = null;
  parentPort!.postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    if (Atomics.load(ctl, 5) === 1) break;
    try {
      const job = ctl[8];
      if (job === 2 || job === 3) {
        if (job === 2) ctl[10] = partitionRange(colBins, ctl[9]!, lut, rows, tmp, ctl[2]!, ctl[3]!);
        else computeGradients(gradParams[0]!, gradParams[1]!, y, f, grad, ctl[2]!, ctl[3]!);
        Atomics.add(ctl, 1, 1);
        Atomics.notify(ctl, 1);
        continue;
      }
      // The plan (feature list) changed: make the matching kernel.
      const pv = Atomics.load(ctl, 7);
      if (pv !== planSeen || kernel === null) {
        kernel = makeHistogramKernel(plan.subarray(1), plan[0]!, binOffsets, d.words, d.maxUnrolled);
        planSeen = pv;
      }
      const base = ctl[4]!;
      const nf = plan[0]!;
      for (let k = 0; k < nf; k++) {
        const f = plan[1 + k]!;
        hist.fill(0, base + binOffsets[f]! * 2, base + binOffsets[f + 1]! * 2);
      }
      kernel(rowWords, rows, ctl[2]!, ctl[3]!, grad, hist, base);
    } catch {
      Atomics.store(ctl, 6, 1);
    }
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
}

export interface HistogramBuffers {
  /** Row-major bins, `words` 32-bit words per row (feature f is byte f & 3 of word f >> 2). */
  rowWords: Uint32Array;
  words: number;
  rows: Int32Array;
  /** Gradient and hessian of row r at 2r, 2r + 1. */
  grad: Float64Array;
  hist: Float64Array;
  /** Start of each feature's bins in a histogram slot (in bins). */
  binOffsets: Int32Array;
  /** Start (in floats) of a slot the builder may use as scratch for the second half of a split build. */
  scratchBase: number;
  /** Column-major bins (`colBins[f * numRows + row]`) and scratch rows, for partitions. */
  colBins: Uint8Array;
  numRows: number;
  tmp: Int32Array;
  /** Labels and margins of the training rows, for gradients. */
  y: Float64Array;
  f: Float64Array;
}

/** Resolves the `numThreads` option: 0 means every core. */
export function resolveThreads(numThreads: number): number {
  if (numThreads === 0) return Math.max(1, availableParallelism());
  return numThreads;
}

/** Builds histograms on the calling thread plus at most one worker that shares the buffers. */
export class HistogramBuilder {
  private worker: Worker | null = null;
  private readonly ctl: Int32Array;
  /** Shared plan: [nFeats, feats...], read by the worker when C_PLAN changes. */
  private readonly plan: Int32Array;
  private readonly feats: Int32Array;
  private kernel: HistogramKernel | null = null;
  private readonly kernels = new Map<string, HistogramKernel>();
  nFeats = 0;
  /** The features histograms are built for (⊇ the active ones), `nBuilt` of them. */
  private readonly built: Int32Array;
  private nBuilt = 0;
  /** Which bins go left in the next `partition` (set by the caller). */
  readonly lut: Uint8Array;
  private readonly gradParams = new Float64Array(new SharedArrayBuffer(16));

  private constructor(private readonly buf: HistogramBuffers) {
    this.ctl = new Int32Array(new SharedArrayBuffer(C_LEN * 4));
    this.lut = new Uint8Array(new SharedArrayBuffer(256));
    const F = buf.binOffsets.length - 1;
    this.plan = new Int32Array(new SharedArrayBuffer((F + 1) * 4));
    this.feats = new Int32Array(F);
    this.built = new Int32Array(F);
  }

  /**
   * Starts the worker (when `threads` > 1; more than 2 threads are not used) and waits until it runs, so a worker
   * that cannot start fails here, not mid-training.
   */
  static async start(buf: HistogramBuffers, threads: number): Promise<HistogramBuilder> {
    const b = new HistogramBuilder(buf);
    if (threads <= 1) return b;
    for (const a of [buf.rowWords, buf.rows, buf.grad, buf.hist, buf.colBins, buf.tmp, buf.y, buf.f]) {
      if (!(a.buffer instanceof SharedArrayBuffer)) throw new Error('histogram buffers must be shared for threads');
    }
    // esbuild-style transforms may wrap functions in __name(); define it so the shipped text runs anywhere.
    const code = `'use strict';\nconst __name = (f) => f;\nconst makeHistogramKernel = ${makeHistogramKernel.toString()};\nconst partitionRange = ${partitionRange.toString()};\nconst computeGradients = ${computeGradients.toString()};\n(${workerMain.toString()})();\n`;
    try {
      const { rowWords, words, rows, grad, hist, binOffsets, colBins, tmp, y, f } = buf;
      const worker = new Worker(code, {
        eval: true,
        workerData: {
          ctl: b.ctl.buffer,
          rowWords,
          words,
          rows,
          grad,
          hist,
          binOffsets,
          plan: b.plan,
          maxUnrolled: MAX_UNROLLED_FEATURES,
          colBins,
          lut: b.lut,
          tmp,
          y,
          f,
          gradParams: b.gradParams,
        },
      });
      worker.unref();
      b.worker = worker;
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`histogram worker exited with code ${code}`)));
      });
    } catch (e) {
      await b.close();
      throw new MlError('WORKER_FAILED', `could not start histogram workers: ${(e as Error).message}`);
    }
    return b;
  }

  /**
   * Sets the features split search looks at (until the next call). Histograms are built for a superset: with
   * feature sampling on narrow data (≤ MAX_UNROLLED_FEATURES features) every feature is built, so the one generated
   * kernel is reused across trees. Generating and warming up a kernel per sampled list cost ~10x the round itself on
   * fold-sized data; building the unsampled features too is cheap next to that. Wider data keeps a kernel per list.
   */
  setFeatures(feats: ArrayLike<number>): void {
    this.nFeats = feats.length;
    for (let k = 0; k < feats.length; k++) this.feats[k] = feats[k]!;
    const { binOffsets, words } = this.buf;
    const F = binOffsets.length - 1;
    const buildAll = this.nFeats < F && F <= MAX_UNROLLED_FEATURES;
    const nBuilt = buildAll ? F : this.nFeats;
    const next = buildAll ? Int32Array.from({ length: F }, (_, i) => i) : this.feats.subarray(0, this.nFeats);
    let same = this.kernel !== null && nBuilt === this.nBuilt;
    for (let k = 0; same && k < nBuilt; k++) same = this.built[k] === next[k];
    if (same) return;
    this.built.set(next);
    this.nBuilt = nBuilt;
    const key = Array.from(this.built.subarray(0, nBuilt)).join(',');
    let kernel = this.kernels.get(key);
    if (!kernel) {
      kernel = makeHistogramKernel(this.built, nBuilt, binOffsets, words, MAX_UNROLLED_FEATURES);
      // Feature sampling on wide data makes a new list per tree: keep a bounded cache.
      if (this.kernels.size >= 64) this.kernels.clear();
      this.kernels.set(key, kernel);
    }
    this.kernel = kernel;
    this.plan[0] = nBuilt;
    this.plan.set(this.built.subarray(0, nBuilt), 1);
    Atomics.add(this.ctl, C_PLAN, 1);
  }

  /** The active features. */
  get features(): Int32Array {
    return this.feats.subarray(0, this.nFeats);
  }

  private zero(histBase: number): void {
    const { hist, binOffsets } = this.buf;
    const feats = this.built;
    for (let k = 0; k < this.nBuilt; k++) {
      const f = feats[k]!;
      hist.fill(0, histBase + binOffsets[f]! * BIN_STRIDE, histBase + binOffsets[f + 1]! * BIN_STRIDE);
    }
  }

  /** Fills the histogram at `histBase` (zeroed first) from positions [start, start + count) of the rows. */
  build(start: number, count: number, histBase: number): void {
    const { rowWords, rows, grad, hist, binOffsets, scratchBase } = this.buf;
    const kernel = this.kernel!;
    const nFeats = this.nBuilt;
    const end = start + count;
    this.zero(histBase);
    if (count * nFeats < SPLIT_WORK) {
      kernel(rowWords, rows, start, end, grad, hist, histBase);
      return;
    }
    const mid = start + (count >> 1);
    if (this.worker === null) {
      this.zero(scratchBase);
      kernel(rowWords, rows, mid, end, grad, hist, scratchBase);
      kernel(rowWords, rows, start, mid, grad, hist, histBase);
    } else {
      this.ctl[C_BASE] = scratchBase;
      this.post(JOB_HISTOGRAM, mid, end);
      kernel(rowWords, rows, start, mid, grad, hist, histBase);
      this.waitWorker();
    }
    // Second half in: the same additions in the same order whether a worker or this thread made the scratch.
    const feats = this.built;
    for (let k = 0; k < nFeats; k++) {
      const f = feats[k]!;
      const a = binOffsets[f]! * BIN_STRIDE;
      const b = binOffsets[f + 1]! * BIN_STRIDE;
      for (let i = a; i < b; i++) hist[histBase + i] = hist[histBase + i]! + hist[scratchBase + i]!;
    }
  }

  /**
   * Stable in-place partition of positions [start, start + count) by `this.lut` on feature `feature`'s bins: left
   * rows first, in order, then right rows. Returns the number of left rows. Large ranges are split between the two
   * threads (the result is the same: a stable partition is unique).
   */
  partition(start: number, count: number, feature: number): number {
    const { colBins, numRows, rows, tmp } = this.buf;
    const col = feature * numRows;
    const end = start + count;
    if (this.worker === null || count < PARALLEL_PARTITION_MIN) {
      const nl = partitionRange(colBins, col, this.lut, rows, tmp, start, end);
      rows.set(tmp.subarray(start, start + count - nl), start + nl);
      return nl;
    }
    const mid = start + (count >> 1);
    const ctl = this.ctl;
    ctl[C_COL] = col;
    this.post(JOB_PARTITION, mid, end);
    const nl1 = partitionRange(colBins, col, this.lut, rows, tmp, start, mid);
    this.waitWorker();
    const nl2 = ctl[C_RESULT]!;
    const nr1 = mid - start - nl1;
    // [L1 R1 | L2 R2] with R1, R2 in tmp: move L2 down behind L1, then R1 and R2 behind it.
    rows.copyWithin(start + nl1, mid, mid + nl2);
    rows.set(tmp.subarray(start, start + nr1), start + nl1 + nl2);
    rows.set(tmp.subarray(mid, end - nl2), start + nl1 + nl2 + nr1);
    return nl1 + nl2;
  }

  /** Gradients of every row from the margins `f` (split between the two threads on large data). */
  gradients(binary: boolean, spw: number): void {
    const { y, f, grad, numRows } = this.buf;
    const bin = binary ? 1 : 0;
    if (this.worker === null || numRows < PARALLEL_GRADIENT_MIN) {
      computeGradients(bin, spw, y, f, grad, 0, numRows);
      return;
    }
    const mid = numRows >> 1;
    this.gradParams[0] = bin;
    this.gradParams[1] = spw;
    this.post(JOB_GRADIENT, mid, numRows);
    computeGradients(bin, spw, y, f, grad, 0, mid);
    this.waitWorker();
  }

  /** Hands rows [start, end) of `job` to the worker (job-specific fields are set by the caller first). */
  private post(job: number, start: number, end: number): void {
    const ctl = this.ctl;
    ctl[C_START] = start;
    ctl[C_END] = end;
    ctl[C_JOB] = job;
    Atomics.store(ctl, C_DONE, 0);
    Atomics.add(ctl, C_SEQ, 1);
    Atomics.notify(ctl, C_SEQ);
  }

  private waitWorker(): void {
    const ctl = this.ctl;
    // The worker usually finishes about when this thread does: spin briefly before sleeping.
    for (let spin = 0; spin < 20000; spin++) if (Atomics.load(ctl, C_DONE) >= 1) break;
    for (;;) {
      const done = Atomics.load(ctl, C_DONE);
      if (done >= 1) break;
      // The timeout only guards against a worker that died without reporting.
      if (Atomics.wait(ctl, C_DONE, done, 60_000) === 'timed-out' && Atomics.load(ctl, C_DONE) === done) {
        throw new MlError('WORKER_FAILED', 'a histogram worker stopped responding');
      }
    }
    if (Atomics.load(ctl, C_ERROR) === 1) throw new MlError('WORKER_FAILED', 'a histogram worker failed');
  }

  /** Stops and terminates the worker; safe to call twice. */
  async close(): Promise<void> {
    Atomics.store(this.ctl, C_STOP, 1);
    Atomics.add(this.ctl, C_SEQ, 1);
    Atomics.notify(this.ctl, C_SEQ);
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
