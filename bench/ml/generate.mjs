// Deterministic synthetic data sets for the ML benchmarks, written as raw little-endian files that Node and numpy
// both read, so our engine and the anchors (XGBoost, scikit-learn) train on identical bytes.
//
// Layout of one data set directory (`.bench-data/<scale>/<name>/`):
//   meta.json                   sizes, feature names, which columns are categorical codes, seed, generator version
//   train.x.f32 / test.x.f32    Float32, column-major: feature j of all rows, then feature j+1 (numpy: order='F')
//   train.y.u8  / test.y.u8     labels 0/1
// Missing values are NaN. Categorical features are small non-negative integer codes stored as floats.
//
// Usage: node bench/ml/generate.mjs [--scale full|quick] [--out .bench-data] [--only higgs,wide,...] [--force]
import { performance } from 'node:perf_hooks';
import { mkdirSync, writeFileSync, readFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/** Bump when the generated values change, so stale caches are regenerated. */
export const GENERATOR_VERSION = 3;

/** Rows per data set and scale. `quick` is a smoke run: same generators, ten times fewer rows. */
export const SIZES = {
  full: {
    higgs: { train: 1_000_000, test: 200_000 },
    wide: { train: 100_000, test: 20_000 },
    clinical: { train: 200_000, test: 50_000 },
    linear: { train: 1_000_000, test: 100_000 },
  },
  quick: {
    higgs: { train: 100_000, test: 20_000 },
    wide: { train: 10_000, test: 5_000 },
    clinical: { train: 20_000, test: 10_000 },
    linear: { train: 100_000, test: 20_000 },
  },
};

// xoshiro128** seeded by splitmix32: fast 32-bit integer PRNG, identical output on every platform.
export function makeRng(seed) {
  let x = seed >>> 0;
  const split = () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const nextU32 = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
  // 53-bit uniform in [0, 1).
  const uniform = () => ((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 9007199254740992;
  let spare = NaN;
  const normal = () => {
    if (!Number.isNaN(spare)) {
      const s = spare;
      spare = NaN;
      return s;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { nextU32, uniform, normal };
}

function rotl(v, k) {
  return ((v << k) | (v >>> (32 - k))) >>> 0;
}

const sigmoid = (z) => 1 / (1 + Math.exp(-z));

/**
 * Higgs-like: 21 "low-level" kinematic features of a lepton, missing energy and four jets (with a shared energy
 * scale, so they are correlated) and 7 "high-level" invariant masses derived from them. The label is drawn from a
 * noisy non-linear function: resonance bumps in the masses, an interaction of b-tags, and a little linear signal.
 */
function higgs(n, rng) {
  const d = 28;
  const names = [
    'lepton_pt', 'lepton_eta', 'lepton_phi', 'met', 'met_phi',
    'jet1_pt', 'jet1_eta', 'jet1_phi', 'jet1_btag',
    'jet2_pt', 'jet2_eta', 'jet2_phi', 'jet2_btag',
    'jet3_pt', 'jet3_eta', 'jet3_phi', 'jet3_btag',
    'jet4_pt', 'jet4_eta', 'jet4_phi', 'jet4_btag',
    'm_jj', 'm_jjj', 'm_lv', 'm_jlv', 'm_bb', 'm_wbb', 'm_wwbb',
  ]; // prettier-ignore
  const x = new Float32Array(n * d);
  const y = new Uint8Array(n);
  const row = new Float64Array(d);
  // Invariant mass of two massless objects from (pt, eta, phi).
  const m2 = (p1, e1, f1, p2, e2, f2) => 2 * p1 * p2 * (Math.cosh(e1 - e2) - Math.cos(f1 - f2));
  const bump = (v, mu, w) => Math.exp(-0.5 * ((v - mu) / w) ** 2);
  for (let i = 0; i < n; i++) {
    // A latent event class shifts the resonance masses; the label is then a noisy function of the observed features.
    const scale = Math.exp(0.35 * rng.normal()); // shared energy scale: correlates all momenta
    const pt = (base) => base * scale * Math.exp(0.5 * rng.normal());
    const eta = () => 1.1 * rng.normal();
    const phi = () => Math.PI * (2 * rng.uniform() - 1);
    const btag = () => (rng.uniform() < 0.3 ? 2 : rng.uniform() < 0.5 ? 1 : 0);
    row[0] = pt(40);
    row[1] = eta();
    row[2] = phi();
    row[3] = pt(35);
    row[4] = phi();
    for (let j = 0; j < 4; j++) {
      row[5 + 4 * j] = pt(60 - 10 * j);
      row[6 + 4 * j] = eta();
      row[7 + 4 * j] = phi();
      row[8 + 4 * j] = btag();
    }
    const mjj2 = m2(row[5], row[6], row[7], row[9], row[10], row[11]);
    const mj3 =
      m2(row[5], row[6], row[7], row[13], row[14], row[15]) + m2(row[9], row[10], row[11], row[13], row[14], row[15]);
    const mlv2 = m2(row[0], row[1], row[2], row[3], 0, row[4]);
    const mjlv2 =
      mlv2 + m2(row[0], row[1], row[2], row[17], row[18], row[19]) + m2(row[3], 0, row[4], row[17], row[18], row[19]);
    const mbb2 = m2(row[13], row[14], row[15], row[17], row[18], row[19]);
    row[21] = Math.sqrt(mjj2) / 100;
    row[22] = Math.sqrt(mjj2 + mj3) / 100;
    row[23] = Math.sqrt(mlv2) / 100;
    row[24] = Math.sqrt(mjlv2) / 100;
    row[25] = Math.sqrt(mbb2) / 100;
    row[26] = Math.sqrt(mbb2 + mjj2) / 100;
    row[27] = Math.sqrt(mbb2 + mjj2 + mjlv2) / 100;
    const f =
      2.2 * bump(row[21], 0.8, 0.35) +
      2.0 * bump(row[25], 1.25, 0.45) +
      1.2 * bump(row[23], 0.8, 0.4) +
      0.9 * (row[16] >= 1 && row[20] >= 1 ? 1 : 0) * (row[8] >= 1 ? 1 : -0.5) +
      0.8 * Math.tanh(row[27] - 2.5) -
      0.5 * Math.abs(row[6] - row[10]) +
      0.004 * row[0] +
      0.6 * rng.normal() -
      2.4;
    y[i] = rng.uniform() < sigmoid(1.6 * f) ? 1 : 0;
    for (let j = 0; j < d; j++) x[j * n + i] = row[j];
  }
  return { names, categorical: [], x, y };
}

/** Wide: 500 standard-normal features of which 20 carry signal (some linearly, some through thresholds/products). */
function wide(n, rng) {
  const d = 500;
  const names = Array.from({ length: d }, (_, j) => `f${j}`);
  // Informative columns are spread over the table, not the first 20, so column order does not help.
  const informative = Array.from({ length: 20 }, (_, k) => (k * 37 + 11) % d);
  const x = new Float32Array(n * d);
  const y = new Uint8Array(n);
  const v = new Float64Array(20);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[j * n + i] = rng.normal();
    for (let k = 0; k < 20; k++) v[k] = x[informative[k] * n + i];
    let f = 0;
    for (let k = 0; k < 8; k++) f += (k % 2 ? 0.5 : -0.5) * v[k];
    for (let k = 8; k < 14; k++) f += v[k] > 0.5 ? 0.7 : -0.2;
    f += 0.6 * v[14] * v[15] - 0.5 * v[16] * v[17] + 0.4 * (v[18] * v[18] - 1) - 0.4 * Math.abs(v[19]);
    y[i] = rng.uniform() < sigmoid(f + 0.5 * rng.normal()) ? 1 : 0;
  }
  return { names, categorical: [], x, y };
}

/**
 * Clinical-like: 30 features of an inpatient stay (age, labs, vitals, coded department/sex/admission type),
 * ~5 % positives, ~30 % missing values overall, partly missing-not-at-random (sicker patients get more labs).
 */
function clinical(n, rng) {
  const names = [
    'age', 'sex', 'department', 'admission_type', 'icd_chapter', 'bmi', 'sbp', 'dbp', 'heart_rate', 'resp_rate',
    'temperature', 'spo2', 'hba1c', 'glucose', 'creatinine', 'egfr', 'bun', 'sodium', 'potassium', 'hemoglobin',
    'wbc', 'platelets', 'crp', 'albumin', 'ast', 'alt', 'bilirubin', 'lactate', 'prior_admissions', 'los_days',
  ]; // prettier-ignore
  const d = names.length;
  const categorical = [1, 2, 3, 4];
  const x = new Float32Array(n * d);
  const logits = new Float64Array(n);
  const row = new Float64Array(d);
  const deptEffect = [0, 0.3, -0.2, 0.5, 0.1, -0.4, 0.8, 0, 0.2, -0.1, 0.6, -0.3];
  const icdEffect = Array.from({ length: 21 }, (_, k) => Math.sin(k * 1.7) * 0.5);
  for (let i = 0; i < n; i++) {
    const frailty = rng.normal(); // latent severity: drives labs, vitals, missingness and outcome
    const age = Math.min(100, Math.max(18, 62 + 16 * rng.normal() + 4 * frailty));
    row[0] = Math.round(age);
    row[1] = rng.uniform() < 0.52 ? 1 : 0;
    row[2] = rng.nextU32() % 12;
    row[3] = rng.uniform() < 0.35 + 0.1 * Math.tanh(frailty) ? 1 : rng.uniform() < 0.8 ? 0 : 2;
    row[4] = rng.nextU32() % 21;
    row[5] = 24 + 4.5 * rng.normal();
    row[6] = 130 + 18 * rng.normal() - 4 * frailty;
    row[7] = 78 + 11 * rng.normal();
    row[8] = 80 + 14 * rng.normal() + 5 * frailty;
    row[9] = 17 + 3.5 * rng.normal() + 1.5 * frailty;
    row[10] = 36.8 + 0.6 * rng.normal() + 0.2 * frailty;
    row[11] = Math.min(100, 96.5 + 2 * rng.normal() - 0.8 * frailty);
    row[12] = 5.9 + 1.1 * Math.abs(rng.normal()) + 0.2 * frailty;
    row[13] = 110 + 35 * Math.abs(rng.normal()) + 8 * frailty;
    row[14] = Math.exp(0.0 + 0.35 * rng.normal() + 0.15 * frailty);
    row[15] = Math.max(5, 140 - age - 25 * (row[14] - 1) + 8 * rng.normal());
    row[16] = 16 + 6 * Math.abs(rng.normal()) + 3 * frailty;
    row[17] = 139 + 3.5 * rng.normal();
    row[18] = 4.2 + 0.5 * rng.normal();
    row[19] = 13 - 1.8 * rng.normal() - 0.5 * frailty;
    row[20] = Math.exp(2 + 0.35 * rng.normal() + 0.1 * frailty);
    row[21] = 240 + 70 * rng.normal();
    row[22] = Math.exp(0.5 + 1.3 * rng.normal() + 0.6 * frailty);
    row[23] = 3.9 - 0.5 * Math.abs(rng.normal()) - 0.2 * frailty;
    row[24] = Math.exp(3.2 + 0.5 * rng.normal());
    row[25] = Math.exp(3.1 + 0.6 * rng.normal());
    row[26] = Math.exp(-0.3 + 0.5 * rng.normal());
    row[27] = Math.exp(0.2 + 0.4 * rng.normal() + 0.2 * frailty);
    row[28] = Math.floor(-Math.log(1 - rng.uniform()) * (1 + 0.5 * Math.max(0, frailty)));
    row[29] = Math.round(Math.exp(1.6 + 0.6 * rng.normal() + 0.2 * frailty));
    logits[i] =
      0.03 * (row[0] - 60) +
      0.7 * frailty +
      deptEffect[row[2]] +
      icdEffect[row[4]] +
      (row[15] < 45 ? 0.8 : 0) +
      (row[27] > 2 ? 0.9 : 0) +
      0.6 * Math.log(row[22]) * 0.3 +
      (row[11] < 92 ? 0.7 : 0) +
      (row[12] > 8 && row[1] === 1 ? 0.5 : 0) -
      0.4 * (row[23] - 3.5) +
      0.25 * Math.min(row[28], 4) +
      0.4 * rng.normal();
    // Missingness: demographics and vitals mostly present; labs missing often, less so when the patient is sicker.
    for (let j = 5; j < d; j++) {
      const base = j <= 11 ? 0.1 : j <= 27 ? 0.5 - 0.1 * Math.tanh(frailty) : 0.05;
      if (rng.uniform() < base) row[j] = NaN;
    }
    for (let j = 0; j < d; j++) x[j * n + i] = row[j];
  }
  // Intercept found by bisection so the expected prevalence is 5 %, then labels drawn.
  let lo = -20;
  let hi = 20;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    let s = 0;
    for (let i = 0; i < n; i++) s += sigmoid(logits[i] + mid);
    if (s / n > 0.05) hi = mid;
    else lo = mid;
  }
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) y[i] = rng.uniform() < sigmoid(logits[i] + lo) ? 1 : 0;
  return { names, categorical, x, y };
}

/** Linear: 100 correlated Gaussian features, label from a linear logit, for the logistic-regression fit time. */
function linear(n, rng) {
  const d = 100;
  const names = Array.from({ length: d }, (_, j) => `x${j}`);
  const w = Array.from({ length: d }, (_, j) => (j < 30 ? Math.sin(j + 1) * 0.4 : 0));
  const x = new Float32Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const common = rng.normal();
    let f = -0.3;
    for (let j = 0; j < d; j++) {
      const v = Math.fround(0.4 * common + 0.9 * rng.normal() + (j % 7) * 0.1);
      x[j * n + i] = v;
      f += w[j] * v;
    }
    y[i] = rng.uniform() < sigmoid(f) ? 1 : 0;
  }
  return { names, categorical: [], x, y };
}

export const GENERATORS = { higgs, wide, clinical, linear };
const SEEDS = { higgs: 1, wide: 2, clinical: 3, linear: 4 };

/** Generates one data set (train and test from one stream) into `dir`, unless an identical one is already there. */
export function generate(name, scale, outRoot, force = false, sizes = SIZES) {
  const size = sizes[scale]?.[name];
  if (!size) throw new Error(`unknown data set ${name} or scale ${scale}`);
  const dir = join(outRoot, scale, name);
  const metaPath = join(dir, 'meta.json');
  if (!force && existsSync(metaPath)) {
    const old = JSON.parse(readFileSync(metaPath, 'utf8'));
    if (old.generatorVersion === GENERATOR_VERSION) return { dir, meta: old, cached: true };
  }
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  // Train and test come from one generator call so they share one distribution; split after.
  const n = size.train + size.test;
  const rng = makeRng(SEEDS[name] * 0x1000193);
  const data = GENERATORS[name](n, rng);
  const d = data.names.length;
  const split = (from, count) => {
    const xs = new Float32Array(count * d);
    for (let j = 0; j < d; j++) xs.set(data.x.subarray(j * n + from, j * n + from + count), j * count);
    return { x: xs, y: data.y.slice(from, from + count) };
  };
  const write = (file, arr) => {
    // Write then rename, so an interrupted run never leaves a half-written file that looks complete.
    writeFileSync(join(dir, file + '.tmp'), new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    renameSync(join(dir, file + '.tmp'), join(dir, file));
  };
  const train = split(0, size.train);
  const test = split(size.train, size.test);
  write('train.x.f32', train.x);
  write('train.y.u8', train.y);
  write('test.x.f32', test.x);
  write('test.y.u8', test.y);
  const positives = (y) => y.reduce((s, v) => s + v, 0) / y.length;
  let missing = 0;
  for (let k = 0; k < train.x.length; k++) if (Number.isNaN(train.x[k])) missing++;
  const meta = {
    name,
    scale,
    generatorVersion: GENERATOR_VERSION,
    seed: SEEDS[name],
    layout: 'column-major',
    dtype: 'float32',
    nTrain: size.train,
    nTest: size.test,
    numFeatures: d,
    featureNames: data.names,
    categorical: data.categorical,
    positiveRateTrain: positives(train.y),
    missingRateTrain: missing / train.x.length,
    seconds: (performance.now() - t0) / 1000,
  };
  writeFileSync(metaPath + '.tmp', JSON.stringify(meta, null, 2) + '\n');
  renameSync(metaPath + '.tmp', metaPath);
  return { dir, meta, cached: false };
}

function main(argv) {
  const arg = (flag, dflt) => {
    const k = argv.indexOf(flag);
    return k >= 0 && argv[k + 1] ? argv[k + 1] : dflt;
  };
  const scale = argv.includes('--quick') ? 'quick' : arg('--scale', 'full');
  const out = arg('--out', '.bench-data');
  const only = arg('--only', Object.keys(GENERATORS).join(',')).split(',');
  for (const name of only) {
    const { dir, meta, cached } = generate(name, scale, out, argv.includes('--force'));
    const how = cached ? 'cached' : `${meta.seconds.toFixed(1)} s`;
    console.log(
      `${dir}: ${meta.nTrain}+${meta.nTest} x ${meta.numFeatures}, positives ${(meta.positiveRateTrain * 100).toFixed(1)} %,` +
        ` missing ${(meta.missingRateTrain * 100).toFixed(1)} % (${how})`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
