// Fits penalized logistic regression on a column-major design: L-BFGS for L2 or no penalty, and proximal Newton
// with coordinate descent (glmnet-style) for L1 and elastic net. Inner loops touch typed arrays only.
//
// Objective (scikit-learn's, divided by C·n so its scale does not grow with n):
//   F(β, b) = (1/n) Σ_i s_i·[log(1 + e^{η_i}) − y_i η_i] + α·(ρ‖β‖₁ + (1 − ρ)/2·‖β‖²),  η = Xβ + b,  α = 1/(C·n).
// The intercept b is not penalized.

export interface Problem {
  X: Float64Array; // column-major n × p
  n: number;
  p: number;
  y: Float64Array;
  /** Per-row weight (class weights). */
  w: Float64Array;
  alpha: number;
  /** L1 share ρ in [0, 1]. */
  l1Ratio: number;
}

export interface SolveOptions {
  maxIter: number;
  /** Stop when the largest violation of the optimality conditions (subgradient, ∞-norm) is below tol. */
  tol: number;
}

export interface Solution {
  coef: Float64Array;
  intercept: number;
  iterations: number;
  converged: boolean;
  objective: number;
  /** Largest optimality violation at the solution. */
  kkt: number;
}

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** η = Xβ + b, written into eta. Four columns per pass so η is read and written a quarter as often. */
function linearPredictor(pr: Problem, coef: Float64Array, b: number, eta: Float64Array): void {
  const { X, n, p } = pr;
  eta.fill(b);
  let j = 0;
  for (; j + 4 <= p; j += 4) {
    const c0 = coef[j]!;
    const c1 = coef[j + 1]!;
    const c2 = coef[j + 2]!;
    const c3 = coef[j + 3]!;
    const o0 = j * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    for (let i = 0; i < n; i++) {
      eta[i] = eta[i]! + c0 * X[o0 + i]! + c1 * X[o1 + i]! + c2 * X[o2 + i]! + c3 * X[o3 + i]!;
    }
  }
  for (; j < p; j++) {
    const c = coef[j]!;
    if (c === 0) continue;
    const off = j * n;
    for (let i = 0; i < n; i++) eta[i] = eta[i]! + c * X[off + i]!;
  }
}

/** grad[j] = Σ_i X_ij r_i for every column, four columns per pass over r. */
function gradientInto(pr: Problem, r: Float64Array, grad: Float64Array): void {
  const { X, n, p } = pr;
  let j = 0;
  for (; j + 4 <= p; j += 4) {
    const o0 = j * n;
    const o1 = o0 + n;
    const o2 = o1 + n;
    const o3 = o2 + n;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < n; i++) {
      const ri = r[i]!;
      s0 += X[o0 + i]! * ri;
      s1 += X[o1 + i]! * ri;
      s2 += X[o2 + i]! * ri;
      s3 += X[o3 + i]! * ri;
    }
    grad[j] = s0;
    grad[j + 1] = s1;
    grad[j + 2] = s2;
    grad[j + 3] = s3;
  }
  for (; j < p; j++) {
    const off = j * n;
    let s = 0;
    for (let i = 0; i < n; i++) s += X[off + i]! * r[i]!;
    grad[j] = s;
  }
}

/** Smooth part (weighted loss + L2 share) and its gradient; r receives the per-row residual s_i(σ(η_i) − y_i)/n. */
function smooth(
  pr: Problem,
  coef: Float64Array,
  b: number,
  eta: Float64Array,
  r: Float64Array,
  grad: Float64Array | null,
): number {
  const { n, p, y, w } = pr;
  linearPredictor(pr, coef, b, eta);
  let loss = 0;
  let gb = 0;
  const invN = 1 / n;
  for (let i = 0; i < n; i++) {
    const e = eta[i]!;
    loss += w[i]! * (softplus(e) - y[i]! * e);
    const ri = w[i]! * (1 / (1 + Math.exp(-e)) - y[i]!) * invN;
    r[i] = ri;
    gb += ri;
  }
  const l2 = pr.alpha * (1 - pr.l1Ratio);
  let pen = 0;
  for (let j = 0; j < p; j++) pen += coef[j]! * coef[j]!;
  if (grad) {
    gradientInto(pr, r, grad);
    for (let j = 0; j < p; j++) grad[j] = grad[j]! + l2 * coef[j]!;
    grad[p] = gb;
  }
  return loss * invN + 0.5 * l2 * pen;
}

function l1Norm(coef: Float64Array): number {
  let s = 0;
  for (let j = 0; j < coef.length; j++) s += Math.abs(coef[j]!);
  return s;
}

/** Largest subgradient optimality violation given the smooth gradient (last entry: intercept). */
function kktViolation(grad: Float64Array, coef: Float64Array, l1: number): number {
  let m = Math.abs(grad[coef.length]!);
  for (let j = 0; j < coef.length; j++) {
    const g = grad[j]!;
    const c = coef[j]!;
    const v = c > 0 ? Math.abs(g + l1) : c < 0 ? Math.abs(g - l1) : Math.max(0, Math.abs(g) - l1);
    if (v > m) m = v;
  }
  return m;
}

/** Limited-memory BFGS (two-loop recursion, Armijo backtracking) for the smooth objective (ρ = 0). */
export function solveLbfgs(pr: Problem, opts: SolveOptions, memory = 10): Solution {
  const d = pr.p + 1;
  const theta = new Float64Array(d); // coefficients then intercept
  const eta = new Float64Array(pr.n);
  const r = new Float64Array(pr.n);
  const g = new Float64Array(d);
  const coefView = theta.subarray(0, pr.p);
  let f = smooth(pr, coefView, theta[pr.p]!, eta, r, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(d);
  const alphaBuf = new Float64Array(memory);
  const trial = new Float64Array(d);
  const gNew = new Float64Array(d);
  let iter = 0;
  let kkt = kktViolation(g, coefView, 0);
  while (iter < opts.maxIter && kkt > opts.tol) {
    iter++;
    // Two-loop recursion: dir = −H·g.
    for (let k = 0; k < d; k++) dir[k] = -g[k]!;
    for (let m = S.length - 1; m >= 0; m--) {
      let a = 0;
      for (let k = 0; k < d; k++) a += S[m]![k]! * dir[k]!;
      a *= rho[m]!;
      alphaBuf[m] = a;
      for (let k = 0; k < d; k++) dir[k] = dir[k]! - a * Y[m]![k]!;
    }
    if (S.length > 0) {
      const last = S.length - 1;
      let sy = 0;
      let yy = 0;
      for (let k = 0; k < d; k++) {
        sy += S[last]![k]! * Y[last]![k]!;
        yy += Y[last]![k]! * Y[last]![k]!;
      }
      const gamma = sy / yy;
      for (let k = 0; k < d; k++) dir[k] = dir[k]! * gamma;
    } else {
      // First step: a unit-length move along the negative gradient.
      let gn = 0;
      for (let k = 0; k < d; k++) gn += g[k]! * g[k]!;
      const s = 1 / Math.max(Math.sqrt(gn), 1e-300);
      for (let k = 0; k < d; k++) dir[k] = dir[k]! * Math.min(1, s);
    }
    for (let m = 0; m < S.length; m++) {
      let bcoef = 0;
      for (let k = 0; k < d; k++) bcoef += Y[m]![k]! * dir[k]!;
      bcoef *= rho[m]!;
      const a = alphaBuf[m]! - bcoef;
      for (let k = 0; k < d; k++) dir[k] = dir[k]! + a * S[m]![k]!;
    }
    let slope = 0;
    for (let k = 0; k < d; k++) slope += g[k]! * dir[k]!;
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let k = 0; k < d; k++) dir[k] = -g[k]!;
      slope = 0;
      for (let k = 0; k < d; k++) slope += g[k]! * dir[k]!;
    }
    let step = 1;
    let fNew = Infinity;
    let accepted = false;
    const noise = 1e-13 * Math.max(1, Math.abs(f));
    for (let ls = 0; ls < 60; ls++) {
      for (let k = 0; k < d; k++) trial[k] = theta[k]! + step * dir[k]!;
      fNew = smooth(pr, trial.subarray(0, pr.p), trial[pr.p]!, eta, r, gNew);
      if (fNew <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      // Near the optimum, decreases fall below the rounding noise of F; then accept a step that shrinks the
      // directional derivative, which still moves toward the minimum along this line.
      if (fNew - f <= noise) {
        let dd = 0;
        for (let k = 0; k < d; k++) dd += gNew[k]! * dir[k]!;
        if (Math.abs(dd) < Math.abs(slope)) {
          accepted = true;
          break;
        }
      }
      step *= 0.5;
    }
    if (!accepted) break; // no progress possible at double precision
    const s = new Float64Array(d);
    const yv = new Float64Array(d);
    let sy = 0;
    for (let k = 0; k < d; k++) {
      s[k] = trial[k]! - theta[k]!;
      yv[k] = gNew[k]! - g[k]!;
      sy += s[k]! * yv[k]!;
    }
    theta.set(trial);
    g.set(gNew);
    f = fNew;
    if (sy > 1e-300) {
      if (S.length === memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
    }
    kkt = kktViolation(g, coefView, 0);
  }
  return {
    coef: Float64Array.from(coefView),
    intercept: theta[pr.p]!,
    iterations: iter,
    converged: kkt <= opts.tol,
    objective: f,
    kkt,
  };
}

/**
 * Proximal Newton for L1 / elastic net: each outer step builds the weighted least-squares approximation of the
 * loss at the current fit and minimizes it plus the penalty by cyclic coordinate descent with soft-thresholding,
 * then backtracks on the true objective.
 */
export function solveCoordinateDescent(pr: Problem, opts: SolveOptions): Solution {
  const { X, n, p } = pr;
  const l1 = pr.alpha * pr.l1Ratio;
  const l2 = pr.alpha * (1 - pr.l1Ratio);
  const coef = new Float64Array(p);
  let b = 0;
  const eta = new Float64Array(n);
  const r = new Float64Array(n);
  const g = new Float64Array(p + 1);
  const hw = new Float64Array(n); // Newton weights s_i p_i (1 − p_i) / n
  // Gradient of the quadratic model at the current step, per row: r_i + h_i·(change of η_i). Kept up to date
  // as coordinates move, so each coordinate's gradient is one dot product.
  const v = new Float64Array(n);
  const H = new Float64Array(p);
  const dCoef = new Float64Array(p);
  const trial = new Float64Array(p);
  let f = smooth(pr, coef, b, eta, r, g) + l1 * l1Norm(coef);
  let kkt = kktViolation(g, coef, l1);
  let iter = 0;
  while (iter < opts.maxIter && kkt > opts.tol) {
    iter++;
    for (let i = 0; i < n; i++) {
      const q = 1 / (1 + Math.exp(-eta[i]!));
      hw[i] = Math.max((pr.w[i]! * q * (1 - q)) / n, 1e-16 / n);
    }
    let hb = 0;
    for (let i = 0; i < n; i++) hb += hw[i]!;
    for (let j = 0; j < p; j++) {
      const off = j * n;
      let s = 0;
      for (let i = 0; i < n; i++) s += hw[i]! * X[off + i]! * X[off + i]!;
      H[j] = s;
    }
    v.set(r);
    dCoef.fill(0);
    let db = 0;
    // Inner tolerance tightens with the outer one so early Newton steps stay cheap.
    const innerTol = Math.max(opts.tol * 0.1, Math.min(1e-3, kkt * 0.1));
    for (let sweep = 0; sweep < 1000; sweep++) {
      let maxMove = 0;
      for (let j = 0; j < p; j++) {
        const off = j * n;
        let gj = 0;
        for (let i = 0; i < n; i++) gj += X[off + i]! * v[i]!;
        const Hj = H[j]!;
        if (Hj === 0) continue; // an all-zero column (level never seen): coefficient stays 0
        const cur = coef[j]! + dCoef[j]!;
        const z = Hj * cur - gj;
        const next = (Math.sign(z) * Math.max(Math.abs(z) - l1, 0)) / (Hj + l2);
        const delta = next - cur;
        if (delta !== 0) {
          dCoef[j] = dCoef[j]! + delta;
          for (let i = 0; i < n; i++) v[i] = v[i]! + delta * hw[i]! * X[off + i]!;
          const move = Math.abs(delta) * Math.sqrt(Hj);
          if (move > maxMove) maxMove = move;
        }
      }
      let gb = 0;
      for (let i = 0; i < n; i++) gb += v[i]!;
      const deltaB = -gb / hb;
      db += deltaB;
      for (let i = 0; i < n; i++) v[i] = v[i]! + deltaB * hw[i]!;
      maxMove = Math.max(maxMove, Math.abs(deltaB) * Math.sqrt(hb));
      if (maxMove < innerTol) break;
    }
    // Backtracking on the true objective keeps every outer step a descent step.
    let step = 1;
    let fNew = Infinity;
    for (let ls = 0; ls < 40; ls++) {
      for (let j = 0; j < p; j++) trial[j] = coef[j]! + step * dCoef[j]!;
      fNew = smooth(pr, trial, b + step * db, eta, r, g) + l1 * l1Norm(trial);
      if (fNew <= f + 1e-12 * Math.abs(f)) break;
      step *= 0.5;
    }
    if (!(fNew <= f + 1e-12 * Math.abs(f))) {
      smooth(pr, coef, b, eta, r, g); // restore the state of the last accepted point
      break;
    }
    coef.set(trial);
    b += step * db;
    f = fNew;
    kkt = kktViolation(g, coef, l1);
  }
  return { coef, intercept: b, iterations: iter, converged: kkt <= opts.tol, objective: f, kkt };
}
