import { describe, expect, test } from 'vitest';
import type { BinMapper } from '../binning.js';
import { SplitInfo, findBestSplit } from './split.js';
import type { SplitParams } from './split.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Candidate {
  gain: number;
  feature: number;
  thresholdBin: number;
  defaultLeft: boolean;
}

/**
 * Every numeric threshold of every feature, with missing values on either side, in the order the search visits
 * them; the best is the first with the largest gain above the floor. No shortcut: the reference for findBestSplit.
 */
function exhaustive(
  hist: Float64Array,
  binOffsets: Int32Array,
  numBins: number[],
  G: number,
  H: number,
  C: number,
  p: SplitParams,
): Candidate | null {
  const cf = C / H;
  const hEps = 1e-12 * H;
  const lambda = p.lambdaL2;
  const parent = (G * G) / (H + lambda);
  const all: Candidate[] = [];
  const consider = (f: number, t: number, gl: number, hl: number, cl: number, defaultLeft: boolean): void => {
    const gr = G - gl;
    const hr = H - hl;
    const cr = C - cl;
    if (cl < p.minDataInLeaf || cr < p.minDataInLeaf || hl < p.minSumHessianInLeaf || hr < p.minSumHessianInLeaf) {
      return;
    }
    const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parent;
    all.push({ gain, feature: f, thresholdBin: t, defaultLeft });
  };
  numBins.forEach((nb, f) => {
    const hb = binOffsets[f]! * 2;
    const gm = hist[hb]!;
    const hm = hist[hb + 1]!;
    let ag = 0;
    let ah = 0;
    for (let t = 1; t < nb; t++) {
      if (hist[hb + 2 * t + 1]! <= hEps) continue;
      ag += hist[hb + 2 * t]!;
      ah += hist[hb + 2 * t + 1]!;
      const ac = ah * cf;
      consider(f, t, ag, ah, ac, hm > hEps ? false : ac >= C - ac);
      if (hm > hEps) consider(f, t, ag + gm, ah + hm, ac + hm * cf, true);
    }
  });
  let best: Candidate | null = null;
  for (const c of all) if (c.gain > (best ? best.gain : Math.max(p.minGainToSplit, 1e-12))) best = c;
  return best;
}

describe('findBestSplit', () => {
  test('finds the same split as trying every threshold, on leaves of every size and leaf-size limit', () => {
    const r = lcg(7);
    const F = 6;
    const numBins = [256, 40, 3, 256, 17, 2];
    const binOffsets = new Int32Array(F + 1);
    for (let f = 0; f < F; f++) binOffsets[f + 1] = binOffsets[f]! + numBins[f]!;
    const mappers = numBins.map((nb, f): BinMapper => ({
      name: `x${f}`,
      kind: 'numeric',
      binEdges: Float64Array.from({ length: nb - 2 }, (_, i) => i),
      numBins: nb,
    }));
    const feats = Int32Array.from({ length: F }, (_, f) => f);
    const out = new SplitInfo();
    const cand = new SplitInfo();
    let found = 0;
    for (let trial = 0; trial < 400; trial++) {
      // A leaf of `rows` rows spread over few or many bins (small leaves leave most bins empty), some missing.
      const rows = 2 + Math.floor(r() ** 2 * 3000);
      const hist = new Float64Array(binOffsets[F]! * 2);
      let G = 0;
      let H = 0;
      for (let f = 0; f < F; f++) {
        const used = 1 + Math.floor(r() * (numBins[f]! - 1));
        const missing = r() < 0.5 ? r() * 0.3 : 0;
        let g = 0;
        let h = 0;
        for (let i = 0; i < rows; i++) {
          const bin = r() < missing ? 0 : 1 + Math.floor(r() * used);
          const pr = r();
          const gi = pr - (r() < 0.3 + 0.4 * (bin / numBins[f]!) ? 1 : 0);
          const hi = Math.max(pr * (1 - pr), 1e-16);
          hist[(binOffsets[f]! + bin) * 2] += gi;
          hist[(binOffsets[f]! + bin) * 2 + 1] += hi;
          g += gi;
          h += hi;
        }
        if (f === 0) {
          G = g;
          H = h;
        }
      }
      // Every feature sums the same rows, but with their own gradients here: rescale to the leaf's totals.
      for (let f = 1; f < F; f++) {
        let g = 0;
        let h = 0;
        for (let b = 0; b < numBins[f]!; b++) {
          g += hist[(binOffsets[f]! + b) * 2]!;
          h += hist[(binOffsets[f]! + b) * 2 + 1]!;
        }
        for (let b = 0; b < numBins[f]!; b++) {
          hist[(binOffsets[f]! + b) * 2] += (G - g) / numBins[f]!;
          hist[(binOffsets[f]! + b) * 2 + 1] *= H / h;
        }
      }
      const p: SplitParams = {
        lambdaL2: [0, 1e-3, 1, 30][trial % 4]!,
        minDataInLeaf: [1, 5, 20, 160][(trial >> 2) % 4]!,
        minSumHessianInLeaf: [0, 1e-3, 2][(trial >> 4) % 3]!,
        minGainToSplit: 0,
        maxCatThreshold: 32,
        catSmooth: 10,
        catL2: 10,
        maxCatToOnehot: 4,
        minDataPerGroup: 10,
      };
      findBestSplit(hist, 0, binOffsets, mappers, feats, F, G, H, rows, p, out, cand);
      const want = exhaustive(hist, binOffsets, numBins, G, H, rows, p);
      if (want === null) {
        expect(out.feature).toBe(-1);
        continue;
      }
      found++;
      expect([out.feature, out.thresholdBin, out.defaultLeft, out.gain]).toEqual([
        want.feature,
        want.thresholdBin,
        want.defaultLeft,
        want.gain,
      ]);
    }
    // Both outcomes occur: leaves with a split and leaves too small for one.
    expect(found).toBeGreaterThan(100);
    expect(found).toBeLessThan(400);
  });
});
