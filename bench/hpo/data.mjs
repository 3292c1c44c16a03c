// Data for the HPO benchmark: 20,000 visits × 20 clinical-like features of ~6,000 patients with interactions and a
// patient effect, plus the patient-grouped holdout and the grouped CV folds, written so Node and numpy read the same.
//
// Layout of `.bench-data/hpo/<name>/`:
//   meta.json      rows, feature names, sizes of the splits, generator version
//   x.f32          Float32 features, column-major (numpy order='F'); NaN = missing; codes stored as numbers
//   y.u8           labels 0/1
//   train.u32      row indices of the search/refit part (ascending);  holdout.u32  the held-out rows
//   fold.i8        for each row of train.u32 (same order): its CV fold 0..k-1
// Both engines search on the train part with these folds and are scored on the holdout at the end.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRng } from '../ml/generate.mjs';

export const HPO_DATA_VERSION = 1;

export const FEATURES = [
  'age',
  'sex',
  'bmi',
  'sbp',
  'dbp',
  'heart_rate',
  'temperature',
  'spo2',
  'creatinine',
  'egfr',
  'hba1c',
  'glucose',
  'ldl',
  'hemoglobin',
  'wbc',
  'crp',
  'albumin',
  'n_medications',
  'smoker',
  'ward',
];

/** Generates the rows: patients with 1–6 visits; labs missing more often in well patients. */
export function generate(rows, seed) {
  const rng = makeRng(seed);
  const { uniform, normal } = rng;
  const F = FEATURES.length;
  const x = new Float32Array(rows * F);
  const y = new Uint8Array(rows);
  const groups = new Int32Array(rows);
  const set = (j, i, v) => (x[j * rows + i] = v);
  let i = 0;
  let patient = 0;
  let positives = 0;
  while (i < rows) {
    const visits = 1 + Math.floor(uniform() * 6);
    const age0 = 25 + 65 * Math.sqrt(uniform());
    const sex = uniform() < 0.48 ? 1 : 0;
    const frail = normal(); // latent health of the patient
    const bmi0 = 26 + 5 * normal() + 1.5 * frail;
    const smoker = uniform() < 0.22 ? 1 : 0;
    const diabetic = uniform() < 0.18 + 0.1 * (bmi0 > 30);
    const effect = 0.6 * normal();
    for (let v = 0; v < visits && i < rows; v++, i++) {
      groups[i] = patient;
      const age = age0 + v * 0.5;
      const sick = frail + 0.6 * normal();
      const bmi = bmi0 + 0.7 * normal();
      const sbp = 125 + 0.4 * (age - 50) + 12 * normal() + 4 * smoker;
      const dbp = 0.55 * sbp + 8 * normal();
      const hr = 75 + 10 * normal() + 6 * sick;
      const temp = 36.8 + 0.4 * normal() + (uniform() < 0.1 ? 1.2 : 0);
      const spo2 = Math.min(100, 97 - 1.5 * Math.max(0, sick) + 1.2 * normal() - (smoker ? 1 : 0));
      const creat = Math.exp(Math.log(0.9 + 0.005 * (age - 50)) + 0.25 * normal() + 0.12 * Math.max(0, sick));
      const egfr = 140 * Math.pow(creat, -1.1) * Math.pow(0.993, age) * (sex ? 1 : 0.82);
      const hba1c = diabetic ? 7.6 + 1.3 * normal() : 5.5 + 0.4 * normal();
      const glucose = 18 * hba1c + 20 * normal();
      const ldl = 120 + 30 * normal();
      const hb = (sex ? 14.5 : 13) + 1.2 * normal() - 0.5 * Math.max(0, sick);
      const wbc = Math.exp(Math.log(7) + 0.25 * normal() + 0.2 * Math.max(0, sick));
      const crp = Math.exp(0.5 + 1.1 * normal() + 0.7 * Math.max(0, sick));
      const albumin = 4.1 - 0.3 * Math.max(0, sick) + 0.35 * normal();
      const meds = Math.max(0, Math.round(2 + 0.05 * (age - 50) + 1.5 * diabetic + 2 * normal()));
      const ward = Math.min(5, Math.floor(uniform() * 6));
      // Outcome: threshold effects and interactions a linear model misses, plus the patient's own effect.
      const z =
        -2.6 +
        0.035 * (age - 60) +
        (hba1c > 8 && bmi > 30 ? 1.0 : 0) +
        (wbc > 9 ? 0.45 * Math.log(crp) : 0) +
        (egfr < 50 ? 0.8 : 0) +
        (spo2 < 93 ? 0.7 : 0) -
        0.6 * (albumin - 4) +
        (ward === 3 ? 0.5 : ward === 5 ? -0.3 : 0) +
        0.3 * smoker * (age > 60) +
        0.4 * Math.sin(hr / 12) +
        effect;
      const label = uniform() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
      y[i] = label;
      positives += label;
      // Labs are missing more often for well patients (ordered less), never for vitals.
      const miss = (p) => uniform() < p * (sick < 0 ? 1.6 : 0.6);
      const vals = [
        age,
        sex,
        bmi,
        sbp,
        dbp,
        hr,
        temp,
        spo2,
        creat,
        egfr,
        miss(0.25) ? NaN : hba1c,
        miss(0.15) ? NaN : glucose,
        miss(0.35) ? NaN : ldl,
        hb,
        wbc,
        miss(0.3) ? NaN : crp,
        miss(0.3) ? NaN : albumin,
        meds,
        smoker,
        ward,
      ];
      for (let j = 0; j < F; j++) set(j, i, vals[j]);
    }
    patient++;
  }
  return { x, y, groups, patients: patient, positives };
}

/**
 * Writes (once) the data set, its grouped 20 % holdout and grouped stratified k-fold CV of the rest, using
 * @ichigen/ml's splitters from `dist` so both engines use the same rows.
 */
export async function ensureData({ out, rows = 20_000, seed = 20240611, folds = 3, dist }) {
  const name = `clinical-${rows}-s${seed}-k${folds}`;
  const dir = join(out, 'hpo', name);
  const metaPath = join(dir, 'meta.json');
  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    if (meta.version === HPO_DATA_VERSION) return dir;
  }
  const ml = await import(join(dist, 'index.js'));
  const { x, y, groups, patients, positives } = generate(rows, seed);
  const holdout = ml.groupedStratifiedHoldout(groups, y, 0.2, seed);
  const trainIdx = holdout.train;
  const trY = Float64Array.from(trainIdx, (r) => y[r]);
  const trG = Int32Array.from(trainIdx, (r) => groups[r]);
  const splits = ml.groupedKFold(trG, folds, seed, trY);
  const fold = new Int8Array(trainIdx.length);
  splits.forEach((s, k) => s.test.forEach((p) => (fold[p] = k)));
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const w = (file, arr) => writeFileSync(join(tmp, file), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
  w('x.f32', x);
  w('y.u8', y);
  w('groups.i32', groups);
  w('train.u32', trainIdx);
  w('holdout.u32', holdout.test);
  w('fold.i8', fold);
  const meta = {
    version: HPO_DATA_VERSION,
    rows,
    features: FEATURES,
    patients,
    positives,
    train: trainIdx.length,
    holdout: holdout.test.length,
    folds,
    seed,
  };
  writeFileSync(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
  mkdirSync(join(out, 'hpo'), { recursive: true });
  renameSync(tmp, dir);
  return dir;
}

/** Reads a data set written by ensureData. */
export function readData(dir) {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  const buf = (file) => {
    const b = readFileSync(join(dir, file));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  return {
    meta,
    x: new Float32Array(buf('x.f32')),
    y: new Uint8Array(buf('y.u8')),
    groups: new Int32Array(buf('groups.i32')),
    train: new Uint32Array(buf('train.u32')),
    holdout: new Uint32Array(buf('holdout.u32')),
    fold: new Int8Array(buf('fold.i8')),
  };
}

/** The benchmark's fixed CV folds as row indices into the search part (`train.u32` order); both engines use them. */
export function foldSplits(d) {
  const splits = [];
  for (let k = 0; k < d.meta.folds; k++) {
    const test = [];
    const train = [];
    d.fold.forEach((f, p) => (f === k ? test : train).push(p));
    splits.push({ train: Uint32Array.from(train), test: Uint32Array.from(test) });
  }
  return splits;
}
