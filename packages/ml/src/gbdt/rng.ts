// Small seeded pseudo-random generator: every random choice in training (bagging, feature sampling, quantile
// sampling) draws from it, so the same seed always yields the same model.

/** Mulberry32: fast, 32-bit state, good enough statistical quality for sampling rows and features. */
export class Rng {
  private state: number;
  /** Scratch permutation of sampleInto. */
  private perm = new Int32Array(0);
  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** `k` distinct indices from [0, n), in increasing order (partial Fisher–Yates, then sorted). */
  sample(n: number, k: number): Int32Array {
    if (k >= n) {
      const all = new Int32Array(n);
      for (let i = 0; i < n; i++) all[i] = i;
      return all;
    }
    const out = new Int32Array(k);
    this.sampleInto(n, k, out, new Uint8Array(n));
    return out;
  }

  /**
   * `sample(n, k)` (the same indices from the same draws) for 0 < k < n, written to `out[0..k)`, with `chosen[i]`
   * set to 1 for the chosen indices and 0 for the others (`chosen` has room for n). Allocates nothing once its
   * scratch permutation has grown to n: bagging draws a sample every boosting round.
   */
  sampleInto(n: number, k: number, out: Int32Array, chosen: Uint8Array): void {
    if (!(k > 0 && k < n) || out.length < k || chosen.length < n) throw new RangeError(`bad sample ${k} of ${n}`);
    // The chosen indices are marked and read back in increasing order: the same set and order as sorting the
    // draws, in O(n) instead of O(k log k) (bagging draws a sample every round, and the sort was ~10 % of a trial).
    chosen.fill(0, 0, n);
    if (k * 4 < n) {
      // Sparse sample: rejection is cheaper than materialising all n indices.
      let m = 0;
      while (m < k) {
        const r = this.int(n);
        if (chosen[r] === 0) {
          chosen[r] = 1;
          m++;
        }
      }
    } else {
      if (this.perm.length < n) this.perm = new Int32Array(n);
      const perm = this.perm;
      for (let i = 0; i < n; i++) perm[i] = i;
      // The generator of next() inlined with its state in a local (the field is a boxed double): the same draws.
      let state = this.state;
      for (let i = 0; i < k; i++) {
        state = (state + 0x6d2b79f5) >>> 0;
        let h = Math.imul(state ^ (state >>> 15), state | 1);
        h ^= h + Math.imul(h ^ (h >>> 7), h | 61);
        const j = i + Math.floor((((h ^ (h >>> 14)) >>> 0) / 4294967296) * (n - i));
        const t = perm[i]!;
        perm[i] = perm[j]!;
        perm[j] = t;
        chosen[perm[i]!] = 1;
      }
      this.state = state;
    }
    // Read back without a branch (an unpredictable one: about half the rows are chosen): every index is written at
    // the next free slot, and the slot advances only past chosen ones.
    for (let i = 0, m = 0; m < k; i++) {
      out[m] = i;
      m += chosen[i]!;
    }
  }
}
