import { describe, expect, test } from 'vitest';
import { HIST_CHUNKS, HistogramBuilder, SPLIT_WORK } from './histogram.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Random row-major bins for F features (feature f has 2 + f % 255 bins) plus gradients, in shared memory. */
function fixture(n: number, F: number, seed: number) {
  const r = lcg(seed);
  const binOffsets = new Int32Array(F + 1);
  for (let f = 0; f < F; f++) binOffsets[f + 1] = binOffsets[f]! + 2 + (f % 255);
  const words = (F + 3) >> 2;
  const rowBytes = new Uint8Array(new SharedArrayBuffer(n * words * 4));
  const colBins = new Uint8Array(new SharedArrayBuffer(n * F));
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < F; f++) {
      const b = Math.floor(r() * (binOffsets[f + 1]! - binOffsets[f]!));
      rowBytes[i * words * 4 + f] = b;
      colBins[f * n + i] = b;
    }
  }
  const grad = new Float64Array(new SharedArrayBuffer(16 * n));
  for (let i = 0; i < n; i++) {
    grad[2 * i] = r() * 2 - 1;
    grad[2 * i + 1] = r() * 0.25;
  }
  const slot = binOffsets[F]! * 2;
  const shared = (bytes: number) => new SharedArrayBuffer(bytes);
  return {
    n,
    F,
    binOffsets,
    colBins,
    slot,
    buffers: {
      rowWords: new Uint32Array(rowBytes.buffer),
      words,
      rows: new Int32Array(shared(4 * n)),
      grad,
      hist: new Float64Array(shared(8 * (2 + HIST_CHUNKS - 1) * slot)),
      binOffsets,
      slotLen: slot,
      scratchBase: 2 * slot,
      colBins,
      numRows: n,
      tmp: new Int32Array(shared(4 * n)),
      y: new Float64Array(shared(8 * n)),
      f: new Float64Array(shared(8 * n)),
      maxLeaves: 16,
    },
  };
}

/** The histogram of positions [start, end) of rows, summed by a plain loop in row order. */
function reference(fx: ReturnType<typeof fixture>, feats: number[], start: number, end: number): Float64Array {
  const out = new Float64Array(fx.slot);
  const { rows, grad } = fx.buffers;
  for (let p = start; p < end; p++) {
    const i = rows[p]!;
    for (const f of feats) {
      const o = (fx.binOffsets[f]! + fx.colBins[f * fx.n + i]!) * 2;
      out[o] = out[o]! + grad[2 * i]!;
      out[o + 1] = out[o + 1]! + grad[2 * i + 1]!;
    }
  }
  return out;
}

describe('histogram builder', () => {
  test.each([
    [5, 1],
    [5, 2],
    [150, 1],
    [150, 2],
  ])('%i features, %i thread(s): dense and sparse row sets match a plain loop', async (F, threads) => {
    const fx = fixture(F < 20 ? 40_000 : 6000, F, F + threads);
    const b = await HistogramBuilder.start(fx.buffers, threads);
    try {
      // Every other feature (a feature subset), and all of them.
      for (const feats of [Array.from({ length: F }, (_, f) => f).filter((f) => f % 2 === 0), [...Array(F).keys()]]) {
        b.setFeatures(feats);
        const { rows, hist } = fx.buffers;
        // Dense: all rows in order (large enough to be split in halves); sparse: every 7th row (touch-ahead path).
        for (const stepRows of [1, 7]) {
          let m = 0;
          for (let i = 0; i < fx.n; i += stepRows) rows[m++] = i;
          if (stepRows === 1) expect(m * feats.length).toBeGreaterThanOrEqual(SPLIT_WORK);
          hist.fill(Number.NaN, 0, fx.slot); // stale values must be cleared by build
          b.build(0, m, 0);
          const want = reference(fx, feats, 0, m);
          for (const f of feats) {
            for (let k = fx.binOffsets[f]! * 2; k < fx.binOffsets[f + 1]! * 2; k++) {
              expect(Math.abs(hist[k]! - want[k]!)).toBeLessThan(1e-9);
            }
          }
        }
      }
    } finally {
      await b.close();
    }
  });

  test('feature sampling on narrow data reuses one generated kernel (a kernel per sampled list cost ~6x the round)', async () => {
    const fx = fixture(2000, 12, 5);
    const b = await HistogramBuilder.start(fx.buffers, 1);
    try {
      for (let t = 0; t < 20; t++) b.setFeatures([t % 12, (t + 5) % 12, (t + 7) % 12].sort((x, y) => x - y));
      b.setFeatures([...Array(12).keys()]);
      expect((b as unknown as { kernels: Map<string, unknown> }).kernels.size).toBe(1);
    } finally {
      await b.close();
    }
  });

  test('1 and 2 threads build bit-identical histograms and partitions', async () => {
    const F = 70;
    const results: Float64Array[] = [];
    for (const threads of [1, 2]) {
      const fx = fixture(40_000, F, 3);
      const b = await HistogramBuilder.start(fx.buffers, threads);
      try {
        b.setFeatures([...Array(F).keys()]);
        const { rows, hist } = fx.buffers;
        for (let i = 0; i < fx.n; i++) rows[i] = i;
        b.build(0, fx.n, fx.slot);
        results.push(hist.slice(fx.slot, 2 * fx.slot));
        // 1,000 rows × 70 features: below SPLIT_WORK, so two threads cut it by features instead of rows.
        expect(1000 * F).toBeLessThan(SPLIT_WORK);
        b.build(5000, 1000, 0);
        const small = hist.slice(0, fx.slot);
        const want = reference(fx, [...Array(F).keys()], 5000, 6000);
        expect(Array.from(small)).toEqual(Array.from(want));
        results.push(small);
        // Bins of feature 3 below 2 go left: a stable partition, split between threads when there are two.
        b.lut.fill(0);
        b.lut[0] = 1;
        b.lut[1] = 1;
        const nl = b.partition(0, fx.n, 3);
        const got = rows.slice(0, fx.n);
        const left = [...Array(fx.n).keys()].filter((i) => fx.colBins[3 * fx.n + i]! < 2);
        const right = [...Array(fx.n).keys()].filter((i) => fx.colBins[3 * fx.n + i]! >= 2);
        expect(nl).toBe(left.length);
        expect(Array.from(got)).toEqual([...left, ...right]);
      } finally {
        await b.close();
      }
    }
    expect(Array.from(results[2]!)).toEqual(Array.from(results[0]!));
    expect(Array.from(results[3]!)).toEqual(Array.from(results[1]!));
  });
});

describe('jobs cut into chunks', () => {
  test('the bin transpose, builds of several chunks, score updates and gradients are bit-identical for 1 and 2 threads', async () => {
    const F = 5;
    const n = 140_000; // ≥ 4 histogram chunks, several row chunks
    const out: { hist: Float64Array; f: Float64Array; grad: Float64Array }[] = [];
    for (const threads of [1, 2]) {
      const fx = fixture(n, F, 11);
      const { rows, hist, f, y, grad } = fx.buffers;
      const b = await HistogramBuilder.start(fx.buffers, threads);
      try {
        // The row-major bins again from the column-major ones (the fixture wrote both).
        const { rowWords } = fx.buffers;
        const wantWords = rowWords.slice();
        rowWords.fill(0);
        b.transposeBins();
        expect(rowWords.every((w, i) => w === wantWords[i])).toBe(true);
        b.setFeatures([...Array(F).keys()]);
        // Rows in a scrambled order, as after partitions.
        for (let i = 0; i < n; i++) rows[i] = (i * 7919) % n;
        b.build(0, n, 0);
        const want = reference(fx, [...Array(F).keys()], 0, n);
        let maxErr = 0;
        for (let k = 0; k < fx.slot; k++) maxErr = Math.max(maxErr, Math.abs(hist[k]! - want[k]!));
        expect(maxErr).toBeLessThan(1e-9);
        // Five leaves over the positions, the last one empty.
        const start = [0, 1000, 50_000, 90_001, n];
        const count = [1000, 49_000, 40_001, n - 90_001, 0];
        const value = [0.5, -0.25, 0.125, 2, 9];
        for (let i = 0; i < n; i++) {
          f[i] = (i % 13) / 13;
          y[i] = i % 3 === 0 ? 1 : 0;
        }
        b.addLeafValues(5, start, count, value, n);
        let wrong = 0;
        for (let l = 0; l < 5; l++) {
          for (let q = start[l]!; q < start[l]! + count[l]!; q++) {
            if (f[rows[q]!] !== (rows[q]! % 13) / 13 + value[l]!) wrong++;
          }
        }
        expect(wrong).toBe(0);
        b.gradients(true, 2);
        for (const i of [0, 1, 2, 77_777, n - 1]) {
          const p = 1 / (1 + Math.exp(-f[i]!));
          expect(grad[2 * i]).toBe((p - y[i]!) * (y[i] === 1 ? 2 : 1));
        }
        out.push({ hist: hist.slice(0, fx.slot), f: f.slice(), grad: grad.slice() });
      } finally {
        await b.close();
      }
    }
    const same = (a: Float64Array, b: Float64Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
    expect(same(out[1]!.hist, out[0]!.hist)).toBe(true);
    expect(same(out[1]!.f, out[0]!.f)).toBe(true);
    expect(same(out[1]!.grad, out[0]!.grad)).toBe(true);
  });
});
