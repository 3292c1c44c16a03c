// Parzen estimators of the TPE sampler: a weighted mixture of truncated normals (numeric dimensions, in log space
// for log dimensions) and smoothed categorical distributions, one kernel per observed trial plus a prior kernel.
import type { Rng } from '../gbdt/rng.js';
import { normalCdf, normalQuantile, normalSf } from '../metrics/normal.js';
import type { Dimension, Distribution } from './space.js';

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const MIN_MASS = 1e-300;

export interface ParzenOptions {
  /** Weight of the prior kernel (a wide normal at the centre / uniform categorical). Optuna's default 1. */
  priorWeight: number;
  /** Lower bound on bandwidths of range / min(100, 1 + kernels) ("magic clip", Bergstra 2011). */
  magicClip: boolean;
  /** Bandwidths from a joint (Scott-like) rule instead of neighbour distances; used for joint kernels. */
  multivariate: boolean;
}

/** The domain of a numeric dimension in the space where kernels live. */
interface NumericDomain {
  lo: number;
  hi: number;
  log: boolean;
  /** Grid step in original units for linear discrete dimensions; 0 if continuous or log-int. */
  step: number;
  isInt: boolean;
  low: number;
  high: number;
}

function domainOf(dist: Extract<Distribution, { kind: 'float' | 'int' }>): NumericDomain {
  const isInt = dist.kind === 'int';
  const { low, high } = dist;
  if (dist.log) {
    // Log-int values own [v - ½, v + ½]; the kernels cover the union of those cells.
    return isInt
      ? { lo: Math.log(low - 0.5), hi: Math.log(high + 0.5), log: true, step: 0, isInt, low, high }
      : { lo: Math.log(low), hi: Math.log(high), log: true, step: 0, isInt, low, high };
  }
  const q = dist.step;
  return { lo: low - q / 2, hi: high + q / 2, log: false, step: q, isInt, low, high };
}

/** Maps a point of the kernel space back to a valid value of the dimension (rounded onto its grid). */
function fromKernelSpace(d: NumericDomain, t: number): number {
  let v = d.log ? Math.exp(t) : t;
  if (d.step > 0) v = d.low + Math.round((v - d.low) / d.step) * d.step;
  else if (d.isInt) v = Math.round(v);
  return Math.min(d.high, Math.max(d.low, v));
}

/** Draws one value of a dimension uniformly (log-uniformly for log dimensions): the random sampler. */
export function sampleUniform(dist: Distribution, rng: Rng): number {
  if (dist.kind === 'categorical') return rng.int(dist.choices.length);
  const d = domainOf(dist);
  return fromKernelSpace(d, d.lo + rng.next() * (d.hi - d.lo));
}

/** P(a < Z < b) for a standard normal, computed on the side of the tail that keeps its digits. */
function normalMass(a: number, b: number): number {
  return a > 0 ? normalSf(a) - normalSf(b) : normalCdf(b) - normalCdf(a);
}

interface NumericComponent {
  kind: 'numeric';
  dom: NumericDomain;
  mu: Float64Array;
  sigma: Float64Array;
  /** log of each kernel's mass inside the domain (truncation normaliser). */
  logZ: Float64Array;
}
interface CategoricalComponent {
  kind: 'categorical';
  /** logP[k * nChoices + c]. */
  logP: Float64Array;
  nChoices: number;
}
type Component = NumericComponent | CategoricalComponent;

/**
 * A product-of-dimensions mixture: kernel k has weight w_k and one component per dimension. With one dimension it
 * is the univariate estimator; with several it is the joint (multivariate) estimator of Falkner et al. / Optuna.
 */
export class ParzenEstimator {
  readonly logW: Float64Array;
  private readonly cumW: Float64Array;
  private readonly comps: Component[];

  /**
   * @param obs   per observation, the encoded values of `dims` (same order)
   * @param weights per observation (before the prior is appended)
   */
  constructor(
    dims: readonly Dimension[],
    obs: readonly (readonly number[])[],
    weights: readonly number[],
    o: ParzenOptions,
  ) {
    const n = obs.length;
    const nK = n + 1;
    const w = new Float64Array(nK);
    let sw = 0;
    for (let k = 0; k < n; k++) sw += w[k] = weights[k]!;
    sw += w[n] = o.priorWeight;
    this.logW = new Float64Array(nK);
    this.cumW = new Float64Array(nK);
    let acc = 0;
    for (let k = 0; k < nK; k++) {
      this.logW[k] = Math.log(w[k]! / sw);
      acc += w[k]! / sw;
      this.cumW[k] = acc;
    }
    this.comps = dims.map((dim, j) => {
      const dist = dim.dist;
      if (dist.kind === 'categorical') {
        const C = dist.choices.length;
        const logP = new Float64Array(nK * C);
        // Every kernel keeps priorWeight/nK mass spread over the choices, then observed choices get +1 (Optuna).
        const base = o.priorWeight / nK;
        for (let k = 0; k < nK; k++) {
          const row = new Float64Array(C).fill(base);
          if (k < n) row[obs[k]![j]!]! += 1;
          let s = 0;
          for (let c = 0; c < C; c++) s += row[c]!;
          for (let c = 0; c < C; c++) logP[k * C + c] = Math.log(row[c]! / s);
        }
        return { kind: 'categorical', logP, nChoices: C } satisfies CategoricalComponent;
      }
      const dom = domainOf(dist);
      const range = dom.hi - dom.lo;
      const mu = new Float64Array(nK);
      for (let k = 0; k < n; k++) {
        const v = obs[k]![j]!;
        mu[k] = dom.log ? Math.log(v) : v;
      }
      mu[n] = 0.5 * (dom.lo + dom.hi);
      const sigma = new Float64Array(nK);
      if (o.multivariate) {
        sigma.fill(0.2 * Math.max(n, 1) ** (-1 / (dims.length + 4)) * range, 0, n);
      } else if (n > 0) {
        // Neighbour distances among the observed centres and the prior's (endpoints count as neighbours, except
        // that the outermost centres use their inner gap, as Optuna does without consider_endpoints).
        const idx = Array.from({ length: nK }, (_, k) => k).sort((a, b) => mu[a]! - mu[b]! || a - b);
        const pts = [dom.lo, ...idx.map((k) => mu[k]!), dom.hi];
        const s = idx.map((_, i) => Math.max(pts[i + 1]! - pts[i]!, pts[i + 2]! - pts[i + 1]!));
        if (pts.length >= 4) {
          s[0] = pts[2]! - pts[1]!;
          s[s.length - 1] = pts[pts.length - 2]! - pts[pts.length - 3]!;
        }
        idx.forEach((k, i) => (sigma[k] = s[i]!));
      }
      const minSigma = o.magicClip ? range / Math.min(100, 1 + nK) : 1e-12;
      for (let k = 0; k < n; k++) sigma[k] = Math.min(range, Math.max(minSigma, sigma[k]!));
      sigma[n] = range;
      const logZ = new Float64Array(nK);
      for (let k = 0; k < nK; k++) {
        const s = sigma[k]!;
        logZ[k] = Math.log(Math.max(MIN_MASS, normalMass((dom.lo - mu[k]!) / s, (dom.hi - mu[k]!) / s)));
      }
      return { kind: 'numeric', dom, mu, sigma, logZ } satisfies NumericComponent;
    });
  }

  /** Draws `count` points (encoded values per dimension): a kernel by weight, then each dimension from it. */
  sample(rng: Rng, count: number): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < count; i++) {
      const u = rng.next();
      let k = 0;
      while (k < this.cumW.length - 1 && this.cumW[k]! <= u) k++;
      out.push(
        this.comps.map((c) => {
          if (c.kind === 'categorical') {
            let r = rng.next();
            for (let ch = 0; ch < c.nChoices; ch++) {
              r -= Math.exp(c.logP[k * c.nChoices + ch]!);
              if (r < 0) return ch;
            }
            return c.nChoices - 1;
          }
          // Truncated normal by inversion of the CDF between the domain's bounds.
          const m = c.mu[k]!;
          const s = c.sigma[k]!;
          const pa = normalCdf((c.dom.lo - m) / s);
          const pb = normalCdf((c.dom.hi - m) / s);
          const p = pa + rng.next() * (pb - pa);
          let t = m + s * normalQuantile(Math.min(1 - 1e-16, Math.max(1e-300, p)));
          if (!Number.isFinite(t)) t = m;
          return fromKernelSpace(c.dom, Math.min(c.dom.hi, Math.max(c.dom.lo, t)));
        }),
      );
    }
    return out;
  }

  /** log density (continuous dimensions) or log mass (discrete ones) of each point under the mixture. */
  logPdf(points: readonly (readonly number[])[]): Float64Array {
    const nK = this.logW.length;
    const out = new Float64Array(points.length);
    const terms = new Float64Array(nK);
    for (let i = 0; i < points.length; i++) {
      const x = points[i]!;
      terms.set(this.logW);
      this.comps.forEach((c, j) => {
        const v = x[j]!;
        if (c.kind === 'categorical') {
          for (let k = 0; k < nK; k++) terms[k] = terms[k]! + c.logP[k * c.nChoices + v]!;
          return;
        }
        const d = c.dom;
        const discrete = d.step > 0 || d.isInt;
        let a = 0;
        let b = 0;
        let t = 0;
        if (discrete) {
          // Mass of the cell that rounds to v.
          a = d.log ? Math.log(v - 0.5) : v - d.step / 2;
          b = d.log ? Math.log(v + 0.5) : v + d.step / 2;
          a = Math.max(a, d.lo);
          b = Math.min(b, d.hi);
        } else t = d.log ? Math.log(v) : v;
        for (let k = 0; k < nK; k++) {
          const m = c.mu[k]!;
          const s = c.sigma[k]!;
          const lp = discrete
            ? Math.log(Math.max(MIN_MASS, normalMass((a - m) / s, (b - m) / s)))
            : -0.5 * ((t - m) / s) ** 2 - LOG_SQRT_2PI - Math.log(s);
          terms[k] = terms[k]! + lp - c.logZ[k]!;
        }
      });
      let mx = -Infinity;
      for (let k = 0; k < nK; k++) if (terms[k]! > mx) mx = terms[k]!;
      let s = 0;
      for (let k = 0; k < nK; k++) s += Math.exp(terms[k]! - mx);
      out[i] = mx + Math.log(s);
    }
    return out;
  }
}
