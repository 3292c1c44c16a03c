import { describe, expect, test } from 'vitest';
import { Rng } from './rng.js';

/** The sampling as it was first written (draws, then a sort): sample() must choose the same indices. */
function referenceSample(rng: Rng, n: number, k: number): Int32Array {
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const out = new Int32Array(k);
  if (k * 4 < n) {
    const seen = new Set<number>();
    let m = 0;
    while (m < k) {
      const r = rng.int(n);
      if (!seen.has(r)) {
        seen.add(r);
        out[m++] = r;
      }
    }
  } else {
    const perm = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(n - i);
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
      out[i] = perm[i]!;
    }
  }
  return out.sort();
}

describe('Rng.sample', () => {
  test.each([
    [10, 3],
    [10, 9],
    [1000, 10],
    [1000, 249],
    [1000, 250],
    [1000, 800],
    [16_000, 12_800],
    [5, 5],
    [5, 7],
  ])('n=%i k=%i: the same indices, increasing, as drawing and sorting', (n, k) => {
    for (const seed of [0, 1, 42]) {
      const got = new Rng(seed).sample(n, k);
      const want = referenceSample(new Rng(seed), n, k);
      expect(Array.from(got)).toEqual(Array.from(want));
      for (let i = 1; i < got.length; i++) expect(got[i]!).toBeGreaterThan(got[i - 1]!);
    }
  });
});

describe('Rng.sampleInto', () => {
  test.each([
    [10, 3],
    [1000, 249],
    [1000, 800],
    [16_000, 12_800],
  ])('n=%i k=%i: the indices and draws of sample(), with the chosen rows marked', (n, k) => {
    const rng = new Rng(7);
    const ref = new Rng(7);
    const out = new Int32Array(n).fill(-1);
    // Stale marks from a previous, larger sample must not survive.
    const chosen = new Uint8Array(n).fill(1);
    for (let round = 0; round < 3; round++) {
      rng.sampleInto(n, k, out, chosen);
      const want = ref.sample(n, k);
      expect(Array.from(out.subarray(0, k))).toEqual(Array.from(want));
      const marked = new Set(want);
      for (let i = 0; i < n; i++) expect(chosen[i]).toBe(marked.has(i) ? 1 : 0);
    }
    // Both generators are at the same point afterwards.
    expect(rng.next()).toBe(ref.next());
  });

  test('refuses a sample that is not a strict subset', () => {
    const rng = new Rng(1);
    expect(() => rng.sampleInto(5, 5, new Int32Array(5), new Uint8Array(5))).toThrow(RangeError);
    expect(() => rng.sampleInto(5, 0, new Int32Array(5), new Uint8Array(5))).toThrow(RangeError);
    expect(() => rng.sampleInto(5, 2, new Int32Array(1), new Uint8Array(5))).toThrow(RangeError);
  });
});
