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
  // The same source gives the same kernel: reuse it (already compiled and optimised by V8) across trainings, e.g. the
  // many short fits of a hyperparameter search, instead of compiling and warming up a new function each time. The
  // cache hangs off globalThis because this function's text also runs in the worker thread, outside this module.
  const g = globalThis as { __ichigenHistogramKernels?: Map<string, HistogramKernel> };
  const cache = (g.__ichigenHistogramKernels ??= new Map<string, HistogramKernel>());
  const hit = cache.get(body);
  if (hit) return hit;
  if (cache.size >= 512) cache.clear();
  const kernel = new Function('rowWords', 'rows', 'start', 'end', 'grad', 'hist', 'histBase', body) as HistogramKernel;
  cache.set(body, kernel);
  return kernel;
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
 * Gradients and hessians at 2i, 2i + 1 from margins f and labels y, for the rows i at positions [start, end) of
 * `rows`, or for the rows i in [start, end) when `rows` is null: log loss when `binary` is 1 (positives weighted by
 * spw), else squared error. Self-contained (shipped to the worker).
 */
export function computeGradients(
  binary: number,
  spw: number,
  y: Float64Array,
  f: Float64Array,
  grad: Float64Array,
  rows: Int32Array | null,
  start: number,
  end: number,
): void {
  if (binary === 1) {
    for (let p = start; p < end; p++) {
      const i = rows === null ? p : rows[p]!;
      const pr = 1 / (1 + Math.exp(-f[i]!));
      const w = y[i] === 1 ? spw : 1;
      grad[i << 1] = (pr - y[i]!) * w;
      grad[(i << 1) + 1] = Math.max(pr * (1 - pr), 1e-16) * w;
    }
  } else {
    for (let p = start; p < end; p++) {
      const i = rows === null ? p : rows[p]!;
      grad[i << 1] = f[i]! - y[i]!;
      grad[(i << 1) + 1] = 1;
    }
  }
}

/**
 * Copies the column-major bins (`colBins[f * n + row]`) of rows [a, b) into the row-major bytes, `stride` bytes per
 * row. In blocks of rows whose bytes stay in cache while every feature's column is written into them (a pass per
 * feature over the whole table touched every cache line F times). Self-contained (shipped to the worker).
 */
export function transposeRows(
  colBins: Uint8Array,
  n: number,
  F: number,
  rowBytes: Uint8Array,
  stride: number,
  a: number,
  b: number,
): void {
  for (let i0 = a; i0 < b; i0 += 4096) {
    const i1 = Math.min(b, i0 + 4096);
    for (let f = 0; f < F; f++) {
      const col = f * n;
      for (let i = i0, at = i0 * stride + f; i < i1; i++, at += stride) rowBytes[at] = colBins[col + i]!;
    }
  }
}

/**
 * Adds `value[l]` to the margin of every row at positions [lo, hi) of leaf l's range
 * [start[l], start[l] + count[l]) of `rows`, for leaves 0..numLeaves. Self-contained (shipped to the worker).
 */
export function addLeafValues(
  rows: Int32Array,
  f: Float64Array,
  start: Int32Array,
  count: Int32Array,
  value: Float64Array,
  numLeaves: number,
  lo: number,
  hi: number,
): void {
  for (let l = 0; l < numLeaves; l++) {
    const a = Math.max(lo, start[l]!);
    const b = Math.min(hi, start[l]! + count[l]!);
    const v = value[l]!;
    for (let q = a; q < b; q++) f[rows[q]!] = f[rows[q]!]! + v;
  }
}

/**
 * Builds of at least 2 × this many rows are cut into one chunk per this many rows (at most HIST_CHUNKS), each
 * summed into its own slot and added in chunk order; smaller split builds are cut in two. The cut depends only on
 * the row and feature counts, so any thread may sum any chunk and the result stays bit-identical.
 */
const HIST_CHUNK_ROWS = 32 * 1024;
/** Most chunks of one build: the caller provides HIST_CHUNKS − 1 scratch slots. */
export const HIST_CHUNKS = 8;
/** Partitions, gradient passes and score updates are cut into chunks of this many rows (at most MAX_CHUNKS). */
const PARTITION_CHUNK_ROWS = 8 * 1024;
const ROW_CHUNK_ROWS = 32 * 1024;
const MAX_CHUNKS = 64;

// Control block layout (Int32Array over a SharedArrayBuffer). C_TICKET packs the posted job's generation (bits 14..30),
// its chunk count K (bits 7..13) and the next free chunk (bits 0..6): a thread takes chunk i by a compare-exchange of
// the whole word, so a late worker holding a word of an earlier job cannot take a chunk of the next one.
const C_TICKET = 0;
const C_DONE = 1;
const C_START = 2;
const C_END = 3;
const C_CHUNKS = 4;
const C_JOB = 5;
const C_BASE = 6;
const C_COL = 7;
const C_LEAVES = 8;
const C_STOP = 9;
const C_ERROR = 10;
const C_SLEEP = 11;
const C_LEN = 12;
const JOB_HISTOGRAM = 1;
const JOB_PARTITION = 2;
const JOB_GRADIENT = 3;
const JOB_SCORE = 4;
const JOB_HISTOGRAM_FEATURES = 5;
const JOB_TRANSPOSE = 6;

/**
 * With two threads, builds too small to be cut by rows (< SPLIT_WORK updates) but of at least this many updates are
 * cut by features instead: each half of the feature list is summed over all rows into its own bins of the slot. Every
 * bin gets the same additions in the same order as from the one-pass kernel, so the sums are the single-thread ones.
 */
const FEATURE_SPLIT_WORK = 32 * 1024;

/** The kernels of a feature list: all features, the first half (⌊n/2⌋ features), the second half. */
type KernelSet = [HistogramKernel, HistogramKernel | null, HistogramKernel | null];

/** Makes the kernels for the feature list in `plan` ([n, feats...]); the halves only when `halves`. */
export function makeKernelSet(
  plan: Int32Array,
  binOffsets: ArrayLike<number>,
  words: number,
  maxUnrolled: number,
  halves: boolean,
): KernelSet {
  const n = plan[0]!;
  const h = n >> 1;
  const feats = plan.subarray(1, 1 + n);
  return [
    makeHistogramKernel(feats, n, binOffsets, words, maxUnrolled),
    halves && h > 0 ? makeHistogramKernel(feats, h, binOffsets, words, maxUnrolled) : null,
    halves && h > 0 ? makeHistogramKernel(feats.subarray(h), n - h, binOffsets, words, maxUnrolled) : null,
  ];
}

/** What a chunk of a job reads and writes; the same object shape on both threads. */
interface ChunkContext {
  ctl: Int32Array;
  rowWords: Uint32Array;
  /** The same memory as bytes, `words` × 4 per row. */
  rowBytes: Uint8Array;
  words: number;
  numRows: number;
  rows: Int32Array;
  grad: Float64Array;
  hist: Float64Array;
  binOffsets: Int32Array;
  /** [nFeats, feats...]: the features histograms are built for. */
  plan: Int32Array;
  slotLen: number;
  scratchBase: number;
  colBins: Uint8Array;
  lut: Uint8Array;
  tmp: Int32Array;
  /** Left-row count of each partition chunk. */
  counts: Int32Array;
  y: Float64Array;
  f: Float64Array;
  gradParams: Float64Array;
  leafStart: Int32Array;
  leafCount: Int32Array;
  leafValue: Float64Array;
}

/**
 * Runs chunk `c` of the posted job (chunk c covers [start + ⌊count·c/K⌋, start + ⌊count·(c+1)/K⌋)). Histogram chunk
 * 0 sums into the target slot, chunk c > 0 into scratch slot c − 1. Self-contained (shipped to the worker).
 */
export function runChunk(x: ChunkContext, kernels: KernelSet, c: number): void {
  const ctl = x.ctl;
  const start = ctl[2]!;
  const count = ctl[3]! - start;
  const K = ctl[4]!;
  const a = start + Math.floor((count * c) / K);
  const b = start + Math.floor((count * (c + 1)) / K);
  const job = ctl[5];
  if (job === 1) {
    const base = c === 0 ? ctl[6]! : x.scratchBase + (c - 1) * x.slotLen;
    const nf = x.plan[0]!;
    for (let k = 0; k < nf; k++) {
      const ft = x.plan[1 + k]!;
      x.hist.fill(0, base + x.binOffsets[ft]! * 2, base + x.binOffsets[ft + 1]! * 2);
    }
    kernels[0](x.rowWords, x.rows, a, b, x.grad, x.hist, base);
  } else if (job === 5) {
    // Half c of the feature list over all rows, into the target slot.
    const base = ctl[6]!;
    const nf = x.plan[0]!;
    const h = nf >> 1;
    for (let k = c === 0 ? 0 : h; k < (c === 0 ? h : nf); k++) {
      const ft = x.plan[1 + k]!;
      x.hist.fill(0, base + x.binOffsets[ft]! * 2, base + x.binOffsets[ft + 1]! * 2);
    }
    kernels[1 + c]!(x.rowWords, x.rows, start, start + count, x.grad, x.hist, base);
  } else if (job === 6) {
    transposeRows(x.colBins, x.numRows, x.binOffsets.length - 1, x.rowBytes, x.words * 4, a, b);
  } else if (job === 2) {
    x.counts[c] = partitionRange(x.colBins, ctl[7]!, x.lut, x.rows, x.tmp, a, b);
  } else if (job === 3) {
    const byRows = x.gradParams[2] === 1 ? x.rows : null;
    computeGradients(x.gradParams[0]!, x.gradParams[1]!, x.y, x.f, x.grad, byRows, a, b);
  } else {
    addLeafValues(x.rows, x.f, x.leafStart, x.leafCount, x.leafValue, ctl[8]!, a, b);
  }
}

/**
 * The worker's body. Written as a function so the same text runs whether this module is built JS or TS under a
 * test runner; it must not reference anything outside itself except the functions prepended to it.
 */
function workerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- eval workers are CommonJS scripts */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const d = workerData as { x: ChunkContext; words: number; maxUnrolled: number; planVersion: Int32Array };
  const x = d.x;
  const ctl = x.ctl;
  let planSeen = -1;
  let kernels: KernelSet | null = null;
  parentPort!.postMessage('ready');
  for (;;) {
    if (Atomics.load(ctl, 9) === 1) break;
    const t = Atomics.load(ctl, 0);
    if ((t & 127) < ((t >>> 7) & 127)) {
      // A free chunk: take it. The job's fields are read only after the take, while the job cannot be complete.
      if (Atomics.compareExchange(ctl, 0, t, t + 1) !== t) continue;
      try {
        const job = ctl[5];
        if ((job === 1 || job === 5) && (kernels === null || Atomics.load(d.planVersion, 0) !== planSeen)) {
          // The feature list changed: make the matching kernels.
          planSeen = Atomics.load(d.planVersion, 0);
          kernels = makeKernelSet(x.plan, x.binOffsets, d.words, d.maxUnrolled, true);
        }
        runChunk(x, kernels!, t & 127);
      } catch {
        Atomics.store(ctl, 10, 1);
      }
      Atomics.add(ctl, 1, 1);
      Atomics.notify(ctl, 1);
      continue;
    }
    // Nothing to take: sleep until the next post, without polling (a polling worker loses its CPU share on a loaded
    // machine and then stalls the caller while it holds a chunk). The caller notifies only when it sees C_SLEEP set,
    // so the flag is set before the ticket is read again: a post either sees the flag or comes before that read.
    Atomics.store(ctl, 11, 1);
    if (Atomics.load(ctl, 0) === t && Atomics.load(ctl, 9) !== 1) Atomics.wait(ctl, 0, t);
    Atomics.store(ctl, 11, 0);
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
  /** Floats per histogram slot. */
  slotLen: number;
  /** Start (in floats) of HIST_CHUNKS − 1 consecutive slots the builder uses as scratch for split builds. */
  scratchBase: number;
  /** Column-major bins (`colBins[f * numRows + row]`) and scratch rows, for partitions. */
  colBins: Uint8Array;
  numRows: number;
  tmp: Int32Array;
  /** Labels and margins of the training rows, for gradients. */
  y: Float64Array;
  f: Float64Array;
  /** Most leaves per tree (sizes the leaf tables of the score update). */
  maxLeaves: number;
}

/** Resolves the `numThreads` option: 0 means every core. */
export function resolveThreads(numThreads: number): number {
  if (numThreads === 0) return Math.max(1, availableParallelism());
  return numThreads;
}

/**
 * Builds histograms, partitions rows and updates gradients and margins on the calling thread plus at most one worker
 * that shares the buffers. A large job is cut into chunks that either thread takes from a shared counter, so the
 * caller never waits for a worker that has not woken up yet: it takes the chunks itself.
 */
export class HistogramBuilder {
  private worker: Worker | null = null;
  private readonly ctl: Int32Array;
  private readonly x: ChunkContext;
  private readonly planVersion = new Int32Array(new SharedArrayBuffer(4));
  /** Generation of the last posted job (in the ticket word). */
  private gen = 0;
  private readonly feats: Int32Array;
  private kernel: KernelSet | null = null;
  private readonly kernels = new Map<string, KernelSet>();
  nFeats = 0;
  /** The features histograms are built for (⊇ the active ones), `nBuilt` of them. */
  private readonly built: Int32Array;
  /** 0..F − 1: the list built when every feature is. */
  private readonly allFeats: Int32Array;
  private nBuilt = 0;
  /** Which bins go left in the next `partition` (set by the caller). */
  readonly lut: Uint8Array;

  private constructor(private readonly buf: HistogramBuffers) {
    const F = buf.binOffsets.length - 1;
    const L = Math.max(1, buf.maxLeaves);
    const shared = <T>(Ctor: new (b: SharedArrayBuffer) => T, bytes: number): T =>
      new Ctor(new SharedArrayBuffer(bytes));
    this.ctl = shared(Int32Array, C_LEN * 4);
    this.lut = shared(Uint8Array, 256);
    this.feats = new Int32Array(F);
    this.built = new Int32Array(F);
    this.allFeats = Int32Array.from({ length: F }, (_, i) => i);
    this.x = {
      ctl: this.ctl,
      rowWords: buf.rowWords,
      rowBytes: new Uint8Array(buf.rowWords.buffer, buf.rowWords.byteOffset, buf.rowWords.byteLength),
      words: buf.words,
      numRows: buf.numRows,
      rows: buf.rows,
      grad: buf.grad,
      hist: buf.hist,
      binOffsets: buf.binOffsets,
      plan: shared(Int32Array, (F + 1) * 4),
      slotLen: buf.slotLen,
      scratchBase: buf.scratchBase,
      colBins: buf.colBins,
      lut: this.lut,
      tmp: buf.tmp,
      counts: shared(Int32Array, MAX_CHUNKS * 4),
      y: buf.y,
      f: buf.f,
      gradParams: shared(Float64Array, 3 * 8),
      leafStart: shared(Int32Array, L * 4),
      leafCount: shared(Int32Array, L * 4),
      leafValue: shared(Float64Array, L * 8),
    };
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
    const code =
      `'use strict';\nconst __name = (f) => f;\n` +
      [makeHistogramKernel, makeKernelSet, transposeRows, partitionRange, computeGradients, addLeafValues, runChunk]
        .map((fn) => `const ${fn.name} = ${fn.toString()};\n`)
        .join('') +
      `(${workerMain.toString()})();\n`;
    try {
      const worker = new Worker(code, {
        eval: true,
        workerData: { x: b.x, words: buf.words, maxUnrolled: MAX_UNROLLED_FEATURES, planVersion: b.planVersion },
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
    const next = buildAll ? this.allFeats : this.feats.subarray(0, this.nFeats);
    let same = this.kernel !== null && nBuilt === this.nBuilt;
    for (let k = 0; same && k < nBuilt; k++) same = this.built[k] === next[k];
    if (same) return;
    this.built.set(next);
    this.nBuilt = nBuilt;
    const key = Array.from(this.built.subarray(0, nBuilt)).join(',');
    // No job is running between calls, so the worker reads the new list at its next histogram chunk.
    this.x.plan[0] = nBuilt;
    this.x.plan.set(this.built.subarray(0, nBuilt), 1);
    Atomics.add(this.planVersion, 0, 1);
    let kernel = this.kernels.get(key);
    if (!kernel) {
      kernel = makeKernelSet(this.x.plan, binOffsets, words, MAX_UNROLLED_FEATURES, this.worker !== null);
      // Feature sampling on wide data makes a new list per tree: keep a bounded cache.
      if (this.kernels.size >= 64) this.kernels.clear();
      this.kernels.set(key, kernel);
    }
    this.kernel = kernel;
  }

  /** The active features. */
  get features(): Int32Array {
    return this.feats.subarray(0, this.nFeats);
  }

  /** Fills the histogram at `histBase` (zeroed first) from positions [start, start + count) of the rows. */
  build(start: number, count: number, histBase: number): void {
    const { hist, binOffsets, scratchBase, slotLen } = this.buf;
    const nFeats = this.nBuilt;
    // The cut into chunks depends only on the counts (not on the thread count), so the sums are bit-identical.
    const work = count * nFeats;
    if (work < SPLIT_WORK && work >= FEATURE_SPLIT_WORK && this.worker !== null && nFeats >= 2) {
      this.run(JOB_HISTOGRAM_FEATURES, start, start + count, 2, histBase);
      return;
    }
    const K = work < SPLIT_WORK ? 1 : Math.min(HIST_CHUNKS, Math.max(2, Math.floor(count / HIST_CHUNK_ROWS)));
    this.run(JOB_HISTOGRAM, start, start + count, K, histBase);
    if (K === 1) return;
    // Chunk sums in, in chunk order, whichever thread made them.
    const feats = this.built;
    for (let k = 0; k < nFeats; k++) {
      const f = feats[k]!;
      const a = histBase + binOffsets[f]! * BIN_STRIDE;
      const b = histBase + binOffsets[f + 1]! * BIN_STRIDE;
      for (let c = 1; c < K; c++) {
        const d = scratchBase + (c - 1) * slotLen - histBase;
        for (let i = a; i < b; i++) hist[i] = hist[i]! + hist[i + d]!;
      }
    }
  }

  /**
   * Stable in-place partition of positions [start, start + count) by `this.lut` on feature `feature`'s bins: left
   * rows first, in order, then right rows. Returns the number of left rows. Large ranges are cut into chunks for the
   * two threads (the result is the same: a stable partition is unique).
   */
  partition(start: number, count: number, feature: number): number {
    const { numRows, rows, tmp } = this.buf;
    const end = start + count;
    const K = this.worker === null ? 1 : Math.min(MAX_CHUNKS, Math.max(1, Math.floor(count / PARTITION_CHUNK_ROWS)));
    this.ctl[C_COL] = feature * numRows;
    this.run(JOB_PARTITION, start, end, K, 0);
    // Chunk c left its left rows at the front of its range and its right rows in tmp: gather the left rows of every
    // chunk behind those of chunk 0, then the right rows.
    const counts = this.x.counts;
    let at = start + counts[0]!;
    for (let c = 1; c < K; c++) {
      const a = start + Math.floor((count * c) / K);
      rows.copyWithin(at, a, a + counts[c]!);
      at += counts[c]!;
    }
    const nl = at - start;
    for (let c = 0; c < K; c++) {
      const a = start + Math.floor((count * c) / K);
      const b = start + Math.floor((count * (c + 1)) / K);
      rows.set(tmp.subarray(a, b - counts[c]!), at);
      at += b - a - counts[c]!;
    }
    return nl;
  }

  /** Fills the row-major bins (`rowWords`) from the column-major ones (`colBins`). */
  transposeBins(): void {
    this.run(JOB_TRANSPOSE, 0, this.buf.numRows, this.rowChunks(this.buf.numRows), 0);
  }

  /**
   * Gradients from the margins `f`: of every row when `m` is the row count (or omitted), else only of the rows at
   * positions [0, m) of the rows (a bagging sample; histograms read no others).
   */
  gradients(binary: boolean, spw: number, m = this.buf.numRows): void {
    const n = this.buf.numRows;
    this.x.gradParams[0] = binary ? 1 : 0;
    this.x.gradParams[1] = spw;
    this.x.gradParams[2] = m < n ? 1 : 0;
    this.run(JOB_GRADIENT, 0, m, this.rowChunks(m), 0);
  }

  /**
   * Score update: adds `value[l]` to the margin of every row in leaf l's range [start[l], start[l] + count[l]) of
   * the rows, for leaves 0..numLeaves covering positions [0, m).
   */
  addLeafValues(
    numLeaves: number,
    start: ArrayLike<number>,
    count: ArrayLike<number>,
    value: ArrayLike<number>,
    m: number,
  ): void {
    const { leafStart, leafCount, leafValue } = this.x;
    for (let l = 0; l < numLeaves; l++) {
      leafStart[l] = start[l]!;
      leafCount[l] = count[l]!;
      leafValue[l] = value[l]!;
    }
    this.ctl[C_LEAVES] = numLeaves;
    this.run(JOB_SCORE, 0, m, this.rowChunks(m), 0);
  }

  private rowChunks(n: number): number {
    return this.worker === null ? 1 : Math.min(MAX_CHUNKS, Math.max(1, Math.floor(n / ROW_CHUNK_ROWS)));
  }

  /**
   * Runs `job` over rows [start, end) cut into K chunks. With a worker, the job is posted and both threads take
   * chunks from a shared counter until none is left; this thread then waits for the chunks the worker took.
   */
  private run(job: number, start: number, end: number, K: number, base: number): void {
    const ctl = this.ctl;
    const kernel = this.kernel!;
    // Every chunk of the previous job is done, so no thread reads these fields now.
    ctl[C_START] = start;
    ctl[C_END] = end;
    ctl[C_CHUNKS] = K;
    ctl[C_JOB] = job;
    ctl[C_BASE] = base;
    if (this.worker === null || K === 1) {
      for (let c = 0; c < K; c++) runChunk(this.x, kernel, c);
      return;
    }
    // The seq-cst store of the ticket publishes the plain writes above to a worker that reads the new ticket.
    this.gen = (this.gen + 1) & 0x1ffff;
    Atomics.store(ctl, C_DONE, 0);
    Atomics.store(ctl, C_TICKET, (this.gen << 14) | (K << 7));
    if (Atomics.load(ctl, C_SLEEP) === 1) Atomics.notify(ctl, C_TICKET);
    for (;;) {
      const t = Atomics.load(ctl, C_TICKET);
      if ((t & 127) >= K) break;
      if (Atomics.compareExchange(ctl, C_TICKET, t, t + 1) !== t) continue;
      runChunk(this.x, kernel, t & 127);
      Atomics.add(ctl, C_DONE, 1);
    }
    // The worker holds the remaining chunks: poll briefly, then sleep until it reports.
    for (let spin = 0; spin < 2000 && Atomics.load(ctl, C_DONE) < K; spin++);
    for (let done = Atomics.load(ctl, C_DONE); done < K; done = Atomics.load(ctl, C_DONE)) {
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
    Atomics.notify(this.ctl, C_TICKET);
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
