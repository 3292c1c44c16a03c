// Best-split search over one leaf's histograms: numeric thresholds with a learned side for missing values, and
// LightGBM-style many-vs-many categorical splits (categories ordered by gradient/hessian ratio).
import type { BinMapper } from '../binning.js';

export interface SplitParams {
  lambdaL2: number;
  minDataInLeaf: number;
  minSumHessianInLeaf: number;
  minGainToSplit: number;
  maxCatThreshold: number;
  catSmooth: number;
  catL2: number;
  maxCatToOnehot: number;
  minDataPerGroup: number;
}

/** The best split found for a leaf; `gain <= 0` means none. Reused across leaves to avoid allocation. */
export class SplitInfo {
  gain = 0;
  feature = -1;
  /** Numeric: value bins 1..thresholdBin go left. */
  thresholdBin = 0;
  defaultLeft = false;
  isCategorical = false;
  /** Categorical: leftBins[b] = 1 when bin b goes left (bin 0 = missing). */
  readonly leftBins = new Uint8Array(256);
  gl = 0;
  hl = 0;
  cl = 0;
  gr = 0;
  hr = 0;
  cr = 0;

  reset(): void {
    this.gain = 0;
    this.feature = -1;
  }

  copyFrom(o: SplitInfo): void {
    this.gain = o.gain;
    this.feature = o.feature;
    this.thresholdBin = o.thresholdBin;
    this.defaultLeft = o.defaultLeft;
    this.isCategorical = o.isCategorical;
    if (o.isCategorical) this.leftBins.set(o.leftBins);
    this.gl = o.gl;
    this.hl = o.hl;
    this.cl = o.cl;
    this.gr = o.gr;
    this.hr = o.hr;
    this.cr = o.cr;
  }

  /** Which bins go left, as a 256-entry lookup (used to partition rows and to route binned data). */
  fillLookup(lut: Uint8Array): void {
    if (this.isCategorical) {
      lut.set(this.leftBins);
      return;
    }
    lut[0] = this.defaultLeft ? 1 : 0;
    for (let b = 1; b < 256; b++) lut[b] = b <= this.thresholdBin ? 1 : 0;
  }
}

const scratchOrder = new Int32Array(256);
const scratchScore = new Float64Array(256);

/**
 * Searches `feats[0..nFeats)` of the histogram at `hist[base..]` for the best split of a leaf with totals
 * (G, H, C), writing it into `out` (and using `cand` as scratch). Gains are G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ).
 */
export function findBestSplit(
  hist: Float64Array,
  base: number,
  binOffsets: Int32Array,
  mappers: readonly BinMapper[],
  feats: Int32Array,
  nFeats: number,
  G: number,
  H: number,
  C: number,
  p: SplitParams,
  out: SplitInfo,
  cand: SplitInfo,
): void {
  out.reset();
  // Histograms keep no row counts: a side's count is estimated as its hessian share of the leaf's rows (exact for
  // squared error, where every hessian is 1), as LightGBM does.
  const cf = H > 0 ? C / H : 0;
  // Hessian below which a bin counts as empty (subtraction leaves float noise in empty bins).
  const hEps = 1e-12 * H;
  const lambda = p.lambdaL2;
  const parentScore = (G * G) / (H + lambda);
  const minData = p.minDataInLeaf;
  const minHess = p.minSumHessianInLeaf;
  let best = Math.max(p.minGainToSplit, 1e-12);
  for (let k = 0; k < nFeats; k++) {
    const f = feats[k]!;
    const m = mappers[f]!;
    const hb = base + binOffsets[f]! * 2;
    const nb = m.numBins;
    if (m.kind === 'categorical') {
      cand.reset();
      categoricalSplit(hist, hb, nb, G, H, C, cf, hEps, p, cand);
      if (cand.feature === 0 && cand.gain > best) {
        best = cand.gain;
        out.copyFrom(cand);
        out.feature = f;
      }
      continue;
    }
    const gm = hist[hb]!;
    const hm = hist[hb + 1]!;
    const cm = hm * cf;
    let ag = 0;
    let ah = 0;
    let ac = 0;
    for (let t = 1; t < nb; t++) {
      const o = hb + t * 2;
      const ht = hist[o + 1]!;
      // An empty bin leaves the partition as it was: skip it, so float noise from subtraction cannot pick it.
      if (ht <= hEps) continue;
      ag += hist[o]!;
      ah += ht;
      ac = ah * cf;
      // The left side only grows with t (only bins with a positive hessian are added, and rounding is monotone), so
      // once the right side is below the minimum count or hessian, with or without the missing values on it, no
      // later threshold of this feature qualifies. On small leaves this skips most of the bins.
      if (C - ac < minData || H - ah < minHess) break;
      // Missing values to the right.
      let cl = ac;
      let cr = C - ac;
      if (cl >= minData && cr >= minData) {
        const hl = ah;
        const hr = H - ah;
        if (hl >= minHess && hr >= minHess) {
          const gl = ag;
          const gr = G - ag;
          const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore;
          if (gain > best) {
            best = gain;
            setNumeric(out, f, t, hm > hEps ? false : cl >= cr, gain, gl, hl, cl, gr, hr, cr);
          }
        }
      }
      if (hm > hEps) {
        // Missing values to the left.
        cl = ac + cm;
        cr = C - cl;
        if (cl >= minData && cr >= minData) {
          const hl = ah + hm;
          const hr = H - hl;
          if (hl >= minHess && hr >= minHess) {
            const gl = ag + gm;
            const gr = G - gl;
            const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore;
            if (gain > best) {
              best = gain;
              setNumeric(out, f, t, true, gain, gl, hl, cl, gr, hr, cr);
            }
          }
        }
      }
    }
  }
}

function setNumeric(
  out: SplitInfo,
  f: number,
  t: number,
  defaultLeft: boolean,
  gain: number,
  gl: number,
  hl: number,
  cl: number,
  gr: number,
  hr: number,
  cr: number,
): void {
  out.gain = gain;
  out.feature = f;
  out.thresholdBin = t;
  out.defaultLeft = defaultLeft;
  out.isCategorical = false;
  out.gl = gl;
  out.hl = hl;
  out.cl = cl;
  out.gr = gr;
  out.hr = hr;
  out.cr = cr;
}

/**
 * Categorical split (bins include the missing bin 0 as one more category). Few categories: one-vs-rest. Many:
 * order categories by G/(H + catSmooth) and try the first k from either end (k ≤ maxCatThreshold) on the left,
 * with catL2 added to λ; categories rarer than minDataPerGroup always go right. Sets out.feature = 0 when found.
 */
function categoricalSplit(
  hist: Float64Array,
  hb: number,
  nb: number,
  G: number,
  H: number,
  C: number,
  cf: number,
  hEps: number,
  p: SplitParams,
  out: SplitInfo,
): void {
  const minData = p.minDataInLeaf;
  const minHess = p.minSumHessianInLeaf;
  let used = 0;
  for (let b = 0; b < nb; b++) if (hist[hb + b * 2 + 1]! > hEps) used++;
  if (used < 2) return;
  let best = 0;
  if (used <= p.maxCatToOnehot) {
    const lambda = p.lambdaL2;
    const parentScore = (G * G) / (H + lambda);
    let bestBin = -1;
    for (let b = 0; b < nb; b++) {
      const o = hb + b * 2;
      if (hist[o + 1]! <= hEps) continue;
      const cl = hist[o + 1]! * cf;
      const cr = C - cl;
      if (cl < minData || cr < minData) continue;
      const hl = hist[o + 1]!;
      const hr = H - hl;
      if (hl < minHess || hr < minHess) continue;
      const gl = hist[o]!;
      const gr = G - gl;
      const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore;
      if (gain > best) {
        best = gain;
        bestBin = b;
        out.gl = gl;
        out.hl = hl;
        out.cl = cl;
        out.gr = gr;
        out.hr = hr;
        out.cr = cr;
      }
    }
    if (bestBin < 0) return;
    out.leftBins.fill(0);
    out.leftBins[bestBin] = 1;
  } else {
    const lambda = p.lambdaL2 + p.catL2;
    const parentScore = (G * G) / (H + lambda);
    let m = 0;
    for (let b = 0; b < nb; b++) {
      const o = hb + b * 2;
      if (hist[o + 1]! > hEps && hist[o + 1]! * cf >= p.minDataPerGroup) {
        scratchOrder[m] = b;
        scratchScore[b] = hist[o]! / (hist[o + 1]! + p.catSmooth);
        m++;
      }
    }
    if (m < 2) return;
    const order = Array.from(scratchOrder.subarray(0, m)).sort((a, b) => scratchScore[a]! - scratchScore[b]! || a - b);
    const maxK = Math.min(p.maxCatThreshold, (m + 1) >> 1);
    let bestDir = 0;
    let bestK = 0;
    for (let dir = 0; dir < 2; dir++) {
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let k = 0; k < maxK && k < m - 1; k++) {
        const b = order[dir === 0 ? k : m - 1 - k]!;
        const o = hb + b * 2;
        gl += hist[o]!;
        hl += hist[o + 1]!;
        cl = hl * cf;
        const cr = C - cl;
        if (cl < minData || cr < minData) continue;
        const hr = H - hl;
        if (hl < minHess || hr < minHess) continue;
        const gr = G - gl;
        const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parentScore;
        if (gain > best) {
          best = gain;
          bestDir = dir;
          bestK = k + 1;
          out.gl = gl;
          out.hl = hl;
          out.cl = cl;
          out.gr = gr;
          out.hr = hr;
          out.cr = cr;
        }
      }
    }
    if (bestK === 0) return;
    out.leftBins.fill(0);
    for (let k = 0; k < bestK; k++) out.leftBins[order[bestDir === 0 ? k : m - 1 - k]!] = 1;
  }
  out.gain = best;
  out.feature = 0;
  out.isCategorical = true;
  out.defaultLeft = out.leftBins[0] === 1;
  out.thresholdBin = 0;
}
