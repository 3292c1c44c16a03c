import { describe, expect, test } from 'vitest';
import {
  MAX_CATEGORY_BINS,
  MISSING_BIN,
  binFrame,
  binNumericColumn,
  fitBinMappers,
  numericBin,
  sortFloat64,
} from './binning.js';
import type { CategoricalBinMapper, NumericBinMapper } from './binning.js';
import { Frame } from './frame.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

describe('numeric binning', () => {
  test('few distinct values get one bin each, missing values bin 0, edges between values', () => {
    const frame = Frame.fromColumns({ x: [3, 1, 2, NaN, 2, 1, null, 3] });
    const [m] = fitBinMappers(frame) as [NumericBinMapper];
    expect(Array.from(m.binEdges)).toEqual([1.5, 2.5]);
    expect(m.numBins).toBe(4);
    const b = binFrame(frame, [m]);
    expect(Array.from(b.bins)).toEqual([3, 1, 2, MISSING_BIN, 2, 1, MISSING_BIN, 3]);
  });

  test('many distinct values: at most maxBins value bins of roughly equal counts', () => {
    const r = lcg(1);
    const n = 20_000;
    const x = Float64Array.from({ length: n }, () => r() * 100);
    const frame = Frame.fromColumns({ x });
    const [m] = fitBinMappers(frame, { maxBins: 16 }) as [NumericBinMapper];
    expect(m.numBins).toBeLessThanOrEqual(17);
    const { bins } = binFrame(frame, [m]);
    const counts = new Array<number>(m.numBins).fill(0);
    for (const b of bins) counts[b]!++;
    expect(counts[0]).toBe(0);
    for (let b = 1; b < m.numBins; b++) expect(Math.abs(counts[b]! - n / 16)).toBeLessThan(n / 16 / 4);
    // A value and its bin agree with the edges: x <= edge[b-1] and x > edge[b-2].
    for (let i = 0; i < 200; i++) {
      const b = bins[i]!;
      if (b - 1 < m.binEdges.length) expect(x[i]!).toBeLessThanOrEqual(m.binEdges[b - 1]!);
      if (b >= 2) expect(x[i]!).toBeGreaterThan(m.binEdges[b - 2]!);
    }
  });

  test('a heavy repeated value gets a bin of its own', () => {
    const r = lcg(2);
    const x = Float64Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? 0 : r()));
    const [m] = fitBinMappers(Frame.fromColumns({ x }), { maxBins: 10 }) as [NumericBinMapper];
    expect(numericBin(m.binEdges, 0)).not.toBe(numericBin(m.binEdges, 0.01));
  });

  test('quantiles on a row sample are deterministic for a seed', () => {
    const r = lcg(3);
    const x = Float64Array.from({ length: 5000 }, () => r());
    const frame = Frame.fromColumns({ x });
    const a = fitBinMappers(frame, { sampleSize: 1000, seed: 7, maxBins: 32 })[0] as NumericBinMapper;
    const b = fitBinMappers(frame, { sampleSize: 1000, seed: 7, maxBins: 32 })[0] as NumericBinMapper;
    const c = fitBinMappers(frame, { sampleSize: 1000, seed: 8, maxBins: 32 })[0] as NumericBinMapper;
    expect(Array.from(a.binEdges)).toEqual(Array.from(b.binEdges));
    expect(Array.from(a.binEdges)).not.toEqual(Array.from(c.binEdges));
  });

  test('constant and all-missing columns bin without error', () => {
    const frame = Frame.fromColumns({ c: [5, 5, 5], m: [NaN, NaN, NaN] });
    const ms = fitBinMappers(frame) as NumericBinMapper[];
    expect(ms.map((m) => m.numBins)).toEqual([2, 2]);
    expect(Array.from(binFrame(frame, ms).bins)).toEqual([1, 1, 1, 0, 0, 0]);
  });

  test('property: the branch-free column binning equals numericBin value by value', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (const k of [0, 1, 2, 7, 128, 200, 253, 254]) {
      const edges = Float64Array.from({ length: k }, () => rand() * 10 - 5).sort();
      const values = new Float64Array(5000);
      for (let i = 0; i < values.length; i++) {
        const u = rand();
        // Exact edges, values between them, outside them, NaN and infinities.
        values[i] =
          u < 0.2 && k > 0
            ? edges[Math.floor(rand() * k)]!
            : u < 0.25
              ? Number.NaN
              : u < 0.27
                ? Number.POSITIVE_INFINITY
                : u < 0.29
                  ? Number.NEGATIVE_INFINITY
                  : rand() * 12 - 6;
      }
      const out = new Uint8Array(values.length);
      binNumericColumn(edges, values, out);
      const want = Array.from(values, (x) => numericBin(edges, x));
      expect(Array.from(out)).toEqual(want);
    }
  });

  test('property: the radix sort orders like the built-in sort (signs, zeros, infinities, float32 values, ties)', () => {
    let seed = 99;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const makers: (() => number)[] = [
      () => rand() * 2e6 - 1e6,
      () => Math.fround(rand() * 20 - 10),
      () => Math.floor(rand() * 5) - 2,
      () => [0, -0, Infinity, -Infinity, 1e-310, -1e-310, Number.MAX_VALUE, -Number.MAX_VALUE][Math.floor(rand() * 8)]!,
      () => (rand() < 0.5 ? -1 : 1) * Math.exp(rand() * 40 - 20),
    ];
    for (const n of [600, 5000]) {
      for (const make of makers) {
        const a = Float64Array.from({ length: n }, make);
        const want = Float64Array.from(a).sort();
        const got = sortFloat64(Float64Array.from(a));
        expect(Array.from(got).map((x) => (Object.is(x, -0) ? '-0' : x))).toEqual(
          Array.from(want).map((x) => (Object.is(x, -0) ? '-0' : x)),
        );
      }
    }
  });

  test('rejects maxBins outside 2..255', () => {
    expect(() => fitBinMappers(Frame.fromColumns({ x: [1] }), { maxBins: 256 })).toThrow(/maxBins/);
  });
});

describe('categorical binning', () => {
  test('one bin per category, most frequent first; unseen and missing go to bin 0', () => {
    const frame = Frame.fromColumns({ c: ['b', 'a', 'b', null, 'c', 'b', 'a'] });
    const [m] = fitBinMappers(frame) as [CategoricalBinMapper];
    expect(m.kind).toBe('categorical');
    expect(Array.from(binFrame(frame, [m]).bins)).toEqual([1, 2, 1, 0, 3, 1, 2]);
    // A frame with its own dictionary is remapped by name; 'z' was never seen.
    const other = Frame.fromColumns({ c: ['z', 'c', 'a'] });
    expect(Array.from(binFrame(other, [m]).bins)).toEqual([0, 3, 2]);
  });

  test(`more than ${MAX_CATEGORY_BINS} categories: the rarest share an "other" bin`, () => {
    const values: string[] = [];
    for (let k = 0; k < 300; k++) for (let r = 0; r < 300 - k; r++) values.push(`cat${k}`);
    const [m] = fitBinMappers(Frame.fromColumns({ c: values })) as [CategoricalBinMapper];
    expect(m.hasOtherBin).toBe(true);
    expect(m.numBins).toBe(MAX_CATEGORY_BINS + 2);
    const bins = binFrame(Frame.fromColumns({ c: ['cat0', 'cat253', 'cat254', 'cat299'] }), [m]).bins;
    expect(Array.from(bins)).toEqual([1, 254, 255, 255]);
  });
});
