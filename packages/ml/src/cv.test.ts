// Cross-validation splits: every row tested once, no patient in two folds, outcome balance kept, seeded.
import { describe, expect, it } from 'vitest';
import { groupedKFold, groupedSample, groupedStratifiedHoldout, stratifiedKFold, type CvSplit } from './cv.js';

/** Patients with 1–8 visits each; outcome is per visit with a patient-level risk, as in a readmission dataset. */
function cohort(patients: number, seed: number): { groups: string[]; labels: number[] } {
  let s = seed;
  const rand = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const groups: string[] = [];
  const labels: number[] = [];
  for (let p = 0; p < patients; p++) {
    const visits = 1 + Math.floor(rand() * 8);
    const risk = rand() < 0.2 ? 0.7 : 0.1;
    for (let v = 0; v < visits; v++) {
      groups.push(`P${p}`);
      labels.push(rand() < risk ? 1 : 0);
    }
  }
  return { groups, labels };
}

function checkPartition(splits: CvSplit[], n: number): void {
  const seen = new Uint8Array(n);
  for (const { train, test } of splits) {
    expect(train.length + test.length).toBe(n);
    const inTest = new Set(test);
    expect(train.filter((i) => inTest.has(i)).length).toBe(0);
    for (const i of test) seen[i]!++;
  }
  expect(Array.from(seen).every((c) => c === 1)).toBe(true);
}

const rate = (idx: Uint32Array, labels: number[]): number => {
  let p = 0;
  for (const i of idx) p += labels[i]!;
  return p / idx.length;
};

describe('stratifiedKFold', () => {
  it('tests every row once and keeps class counts within one per fold', () => {
    const labels = Array.from({ length: 103 }, (_, i) => (i % 10 < 3 ? 1 : 0));
    const splits = stratifiedKFold(labels, 5, 42);
    checkPartition(splits, 103);
    const pos = splits.map((s) => s.test.reduce((a, i) => a + labels[i]!, 0));
    expect(Math.max(...pos) - Math.min(...pos)).toBeLessThanOrEqual(1);
    const sizes = splits.map((s) => s.test.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('is deterministic for a seed and changes with the seed', () => {
    const labels = Array.from({ length: 50 }, (_, i) => i % 2);
    expect(stratifiedKFold(labels, 5, 1)).toEqual(stratifiedKFold(labels, 5, 1));
    expect(stratifiedKFold(labels, 5, 1)).not.toEqual(stratifiedKFold(labels, 5, 2));
  });

  it('rejects bad k and labels', () => {
    expect(() => stratifiedKFold([0, 1], 3, 0)).toThrow(expect.objectContaining({ code: 'TOO_FEW_GROUPS' }));
    expect(() => stratifiedKFold([0, 1, 2], 2, 0)).toThrow(expect.objectContaining({ code: 'LABEL_NOT_BINARY' }));
    expect(() => stratifiedKFold([0, 1], 1, 0)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
  });
});

describe('groupedKFold', () => {
  const { groups, labels } = cohort(400, 7);
  const n = groups.length;
  const overall = labels.reduce((a, b) => a + b, 0) / n;

  for (const withLabels of [false, true]) {
    it(`never puts a patient in two folds (${withLabels ? 'stratified' : 'plain'})`, () => {
      const splits = groupedKFold(groups, 5, 3, withLabels ? labels : undefined);
      checkPartition(splits, n);
      const foldOf = new Map<string, number>();
      let clashes = 0;
      splits.forEach((s, f) => {
        for (const i of s.test) {
          const g = groups[i]!;
          if ((foldOf.get(g) ?? f) !== f) clashes++;
          foldOf.set(g, f);
        }
      });
      expect(clashes).toBe(0);
      expect(foldOf.size).toBe(400);
      const sizes = splits.map((s) => s.test.length);
      expect(Math.max(...sizes) / Math.min(...sizes)).toBeLessThan(1.25);
    });
  }

  it('keeps the positive rate of each fold close to the overall rate when labels are given', () => {
    const strat = groupedKFold(groups, 5, 3, labels);
    for (const s of strat) expect(Math.abs(rate(s.test, labels) - overall)).toBeLessThan(0.02);
  });

  it('is deterministic for a seed', () => {
    expect(groupedKFold(groups, 4, 9, labels)).toEqual(groupedKFold(groups, 4, 9, labels));
    expect(groupedKFold(groups, 4, 9)).not.toEqual(groupedKFold(groups, 4, 10));
  });

  it('needs at least k groups', () => {
    expect(() => groupedKFold(['a', 'a', 'b'], 3, 0)).toThrow(expect.objectContaining({ code: 'TOO_FEW_GROUPS' }));
  });
});

describe('groupedStratifiedHoldout', () => {
  const { groups, labels } = cohort(500, 11);
  const n = groups.length;
  const overall = labels.reduce((a, b) => a + b, 0) / n;

  it('holds out about the fraction, with no patient on both sides and a similar positive rate', () => {
    for (const seed of [1, 2, 3]) {
      const { train, test } = groupedStratifiedHoldout(groups, labels, 0.2, seed);
      expect(new Set([...train, ...test]).size).toBe(n);
      expect(train.length + test.length).toBe(n);
      const testGroups = new Set(Array.from(test, (i) => groups[i]!));
      expect(train.filter((i) => testGroups.has(groups[i]!)).length).toBe(0);
      expect(Math.abs(test.length / n - 0.2)).toBeLessThan(0.01);
      expect(Math.abs(rate(test, labels) - overall)).toBeLessThan(0.01);
    }
  });

  it('depends only on the seed', () => {
    expect(groupedStratifiedHoldout(groups, labels, 0.25, 5)).toEqual(
      groupedStratifiedHoldout(groups, labels, 0.25, 5),
    );
    expect(groupedStratifiedHoldout(groups, labels, 0.25, 5)).not.toEqual(
      groupedStratifiedHoldout(groups, labels, 0.25, 6),
    );
  });
});

describe('groupedSample', () => {
  it('takes whole patients, about the fraction of rows, the overall outcome rate, and no bias to large patients', () => {
    const { groups, labels } = cohort(4000, 17);
    const n = groups.length;
    const sample = groupedSample(groups, labels, 0.25, 3);
    expect(Array.from(sample)).toEqual([...sample].sort((a, b) => a - b));
    const chosen = new Set(Array.from(sample, (i) => groups[i]));
    // Whole patients: every row of a chosen patient is in, no row of another.
    const inSample = new Set(sample);
    for (let i = 0; i < n; i++) expect(inSample.has(i)).toBe(chosen.has(groups[i]!));
    expect(Math.abs(sample.length / n - 0.25)).toBeLessThan(0.005);
    const rate = (idx: ArrayLike<number>) => Array.from(idx).reduce((a, i) => a + labels[i]!, 0) / idx.length;
    const all = Array.from({ length: n }, (_, i) => i);
    expect(Math.abs(rate(sample) - rate(all))).toBeLessThan(0.005);
    // Rows per patient as in the cohort: the holdout helper, which places large patients first, is not a sample.
    const meanVisits = sample.length / chosen.size;
    const cohortVisits = n / new Set(groups).size;
    expect(Math.abs(meanVisits - cohortVisits)).toBeLessThan(0.25);
    // Deterministic for a seed, different for another.
    expect(groupedSample(groups, labels, 0.25, 3)).toEqual(sample);
    expect(groupedSample(groups, labels, 0.25, 4)).not.toEqual(sample);
    expect(groupedSample(groups, labels, 1, 3)).toHaveLength(n);
    expect(() => groupedSample(groups, labels, 0, 3)).toThrow(/fraction/);
  });
});
