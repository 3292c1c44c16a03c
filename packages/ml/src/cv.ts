// Cross-validation splits that keep a patient's rows together and keep the outcome balance of each fold,
// so platform metrics are computed on patients a model never saw. Deterministic for a given seed.
import { MlError } from './errors.js';

export interface CvSplit {
  /** Row indices to train on, ascending. */
  train: Uint32Array;
  /** Row indices to evaluate on, ascending. */
  test: Uint32Array;
}

/** A small, fast 32-bit PRNG (mulberry32): the same seed gives the same splits on every platform. */
function rng(seed: number): () => number {
  let a = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(arr: T[], rand: () => number): T[] {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = arr[i]!;
    arr[i] = arr[j]!;
    arr[j] = t;
  }
  return arr;
}

function checkK(k: number, units: number, what: string): void {
  if (!Number.isInteger(k) || k < 2) throw new MlError('BAD_ARGUMENT', `k must be an integer >= 2, got ${k}`);
  if (units < k) throw new MlError('TOO_FEW_GROUPS', `cannot make ${k} folds from ${units} ${what}`);
}

function checkLabels(labels: ArrayLike<number>, n: number): void {
  if (labels.length !== n) throw new MlError('LENGTH_MISMATCH', `${n} rows but ${labels.length} labels`);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y !== 0 && y !== 1)
      throw new MlError('LABEL_NOT_BINARY', `label at row ${i} is ${String(y)}; labels must be 0 or 1`);
  }
}

/** Turns a fold number per row into k train/test splits. */
export function splitsFromFolds(fold: Int32Array, k: number): CvSplit[] {
  const sizes = new Uint32Array(k);
  for (let i = 0; i < fold.length; i++) sizes[fold[i]!]!++;
  const out: CvSplit[] = [];
  for (let f = 0; f < k; f++) {
    const test = new Uint32Array(sizes[f]!);
    const train = new Uint32Array(fold.length - sizes[f]!);
    let a = 0;
    let b = 0;
    for (let i = 0; i < fold.length; i++) {
      if (fold[i] === f) test[a++] = i;
      else train[b++] = i;
    }
    out.push({ train, test });
  }
  return out;
}

/** k folds with each class dealt round-robin after a seeded shuffle: fold class counts differ by at most one. */
export function stratifiedKFold(labels: ArrayLike<number>, k: number, seed = 0): CvSplit[] {
  const n = labels.length;
  checkK(k, n, 'rows');
  checkLabels(labels, n);
  const rand = rng(seed);
  const fold = new Int32Array(n);
  let next = 0; // continue the deal across classes so total fold sizes also differ by at most one
  for (const cls of [1, 0]) {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (labels[i] === cls) idx.push(i);
    shuffle(idx, rand);
    for (const i of idx) {
      fold[i] = next;
      next = (next + 1) % k;
    }
  }
  return splitsFromFolds(fold, k);
}

interface Group {
  rows: number[];
  pos: number;
}

function collectGroups(groups: ArrayLike<string | number>, labels?: ArrayLike<number>): Group[] {
  const byKey = new Map<string | number, Group>();
  for (let i = 0; i < groups.length; i++) {
    const key = groups[i];
    if (key === null || key === undefined || (typeof key === 'number' && Number.isNaN(key))) {
      throw new MlError('MISSING_GROUP', `row ${i} has no group key (e.g. patient id)`);
    }
    let g = byKey.get(key);
    if (!g) {
      g = { rows: [], pos: 0 };
      byKey.set(key, g);
    }
    g.rows.push(i);
    if (labels) g.pos += labels[i]!;
  }
  // Map iteration follows first appearance, so the result does not depend on hashing.
  return [...byKey.values()];
}

/**
 * k folds in which every group (patient) lies in exactly one fold. Without labels, groups go largest first to
 * the fold with the fewest rows. With labels, groups with the most skewed outcome go first to the fold that
 * keeps the positive rate of all folds closest to each other (in the spirit of sklearn StratifiedGroupKFold).
 */
export function groupedKFold(
  groups: ArrayLike<string | number>,
  k: number,
  seed = 0,
  labels?: ArrayLike<number>,
): CvSplit[] {
  const n = groups.length;
  if (labels) checkLabels(labels, n);
  const gs = shuffle(collectGroups(groups, labels), rng(seed));
  checkK(k, gs.length, 'groups');
  const fold = new Int32Array(n);
  const rows = new Float64Array(k);
  const pos = new Float64Array(k);
  if (!labels) {
    // Stable sort keeps the seeded order among groups of equal size.
    gs.sort((a, b) => b.rows.length - a.rows.length);
    for (const g of gs) {
      let best = 0;
      for (let f = 1; f < k; f++) if (rows[f]! < rows[best]!) best = f;
      for (const i of g.rows) fold[i] = best;
      rows[best]! += g.rows.length;
    }
    return splitsFromFolds(fold, k);
  }
  let totalPos = 0;
  for (const g of gs) totalPos += g.pos;
  const totalNeg = n - totalPos;
  // Most informative first: groups whose outcome mix is far from 50/50 and that are large are hardest to place.
  const skew = (g: Group): number => Math.abs(g.pos / g.rows.length - 0.5) * g.rows.length;
  gs.sort((a, b) => skew(b) - skew(a));
  const spread = (pc: Float64Array, nc: Float64Array): number => {
    // Sum over classes of the std across folds of the share of that class's rows in each fold (sklearn's criterion).
    let s = 0;
    for (const [arr, tot] of [
      [pc, totalPos],
      [nc, totalNeg],
    ] as const) {
      if (tot === 0) continue;
      let m = 0;
      for (let f = 0; f < k; f++) m += arr[f]! / tot;
      m /= k;
      let v = 0;
      for (let f = 0; f < k; f++) v += (arr[f]! / tot - m) ** 2;
      s += Math.sqrt(v / k);
    }
    return s;
  };
  const neg = new Float64Array(k);
  for (const g of gs) {
    const gNeg = g.rows.length - g.pos;
    let best = -1;
    let bestSpread = Infinity;
    for (let f = 0; f < k; f++) {
      pos[f]! += g.pos;
      neg[f]! += gNeg;
      const s = spread(pos, neg);
      pos[f]! -= g.pos;
      neg[f]! -= gNeg;
      // Ties (within rounding) go to the smaller fold, which also balances fold sizes.
      if (s < bestSpread - 1e-12 || (Math.abs(s - bestSpread) <= 1e-12 && rows[f]! < rows[best]!)) {
        best = f;
        bestSpread = s;
      }
    }
    for (const i of g.rows) fold[i] = best;
    rows[best]! += g.rows.length;
    pos[best]! += g.pos;
    neg[best]! += gNeg;
  }
  return splitsFromFolds(fold, k);
}

/**
 * One train/test split with about `fraction` of the rows in test, no group on both sides, and the test
 * positive rate close to the overall one. Large groups are placed first, each where it brings the test
 * set's row and positive counts closer to their targets.
 */
export function groupedStratifiedHoldout(
  groups: ArrayLike<string | number>,
  labels: ArrayLike<number>,
  fraction: number,
  seed = 0,
): CvSplit {
  const n = groups.length;
  if (!(fraction > 0 && fraction < 1)) throw new MlError('BAD_ARGUMENT', `fraction must be in (0, 1), got ${fraction}`);
  checkLabels(labels, n);
  const gs = shuffle(collectGroups(groups, labels), rng(seed));
  if (gs.length < 2) throw new MlError('TOO_FEW_GROUPS', `cannot hold out groups from ${gs.length} group(s)`);
  gs.sort((a, b) => b.rows.length - a.rows.length);
  let totalPos = 0;
  for (const g of gs) totalPos += g.pos;
  const targetRows = fraction * n;
  const targetPos = fraction * totalPos;
  const totalNeg = n - totalPos;
  const cost = (r: number, p: number): number =>
    ((r - targetRows) / n) ** 2 +
    (totalPos > 0 ? ((p - targetPos) / totalPos) ** 2 : 0) +
    (totalNeg > 0 ? ((r - p - (targetRows - targetPos)) / totalNeg) ** 2 : 0);
  const inTest = new Uint8Array(n);
  let r = 0;
  let p = 0;
  let testGroups = 0;
  for (const g of gs) {
    if (cost(r + g.rows.length, p + g.pos) < cost(r, p) && testGroups < gs.length - 1) {
      for (const i of g.rows) inTest[i] = 1;
      r += g.rows.length;
      p += g.pos;
      testGroups++;
    }
  }
  if (testGroups === 0) {
    // Every group alone overshoots the target: hold out the smallest one rather than nothing.
    for (const i of gs[gs.length - 1]!.rows) inTest[i] = 1;
  }
  const fold = Int32Array.from(inTest);
  const [train, test] = splitsFromFolds(fold, 2).map((s) => s.test) as [Uint32Array, Uint32Array];
  return { train, test };
}

/**
 * Row indices (ascending) of a random sample of whole groups holding about `fraction` of the rows, with the
 * sample's positive rate close to the overall one. Unlike `groupedStratifiedHoldout`, groups are visited in random
 * order (not largest first), so patients with many rows are not over-represented: a sample for a cheaper search.
 */
export function groupedSample(
  groups: ArrayLike<string | number>,
  labels: ArrayLike<number>,
  fraction: number,
  seed = 0,
): Uint32Array {
  const n = groups.length;
  if (!(fraction > 0 && fraction <= 1))
    throw new MlError('BAD_ARGUMENT', `fraction must be in (0, 1], got ${fraction}`);
  checkLabels(labels, n);
  const gs = shuffle(collectGroups(groups, labels), rng(seed));
  let totalPos = 0;
  for (const g of gs) totalPos += g.pos;
  const targetRows = fraction * n;
  const targetPos = fraction * totalPos;
  let r = 0;
  let p = 0;
  const inSample = new Uint8Array(n);
  // The sample's excess of positives over the overall rate stays within ± the largest group's rows: a group that
  // would push it further waits (in random order, a group of the other kind soon makes room for it).
  let bound = 2;
  for (const g of gs) bound = Math.max(bound, g.rows.length);
  const rate = targetRows > 0 ? targetPos / targetRows : 0;
  for (const g of gs) {
    if (r >= targetRows) break;
    if (Math.abs(p + g.pos - rate * (r + g.rows.length)) > bound) continue;
    for (const i of g.rows) inSample[i] = 1;
    r += g.rows.length;
    p += g.pos;
  }
  for (const g of gs) {
    if (r >= targetRows) break;
    if (inSample[g.rows[0]!]) continue;
    for (const i of g.rows) inSample[i] = 1;
    r += g.rows.length;
    p += g.pos;
  }
  let m = 0;
  for (let i = 0; i < n; i++) m += inSample[i]!;
  const out = new Uint32Array(m);
  for (let i = 0, j = 0; i < n; i++) if (inSample[i]) out[j++] = i;
  return out;
}
