import { describe, expect, test } from 'vitest';
import { Frame } from '../frame.js';
import { Rng } from '../gbdt/rng.js';
import { rocAuc } from '../metrics/ranking.js';
import { trainLogistic } from '../logistic.js';
import { FoldPrunedError, PrunedError, crossValidate, cvSplits } from './cross-validate.js';

function data(n: number): { frame: Frame; labels: Float64Array; groups: string[] } {
  const rng = new Rng(3);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const labels = new Float64Array(n);
  const groups: string[] = [];
  for (let i = 0; i < n; i++) {
    a[i] = rng.next();
    b[i] = rng.next();
    groups.push(`p${Math.floor(i / 4)}`);
    labels[i] = rng.next() < 1 / (1 + Math.exp(-6 * (a[i]! - 0.5) * (b[i]! > 0.5 ? 1 : -1))) ? 1 : 0;
  }
  return { frame: Frame.fromColumns({ a, b }), labels, groups };
}

describe('crossValidate', () => {
  const { frame, labels, groups } = data(800);

  test('scores each grouped fold on rows its model never saw, with mean and sample std', async () => {
    const r = await crossValidate(frame, labels, groups, {
      folds: 4,
      seed: 1,
      algorithm: 'logreg',
      params: { C: 1 },
    });
    expect(r.folds).toHaveLength(4);
    // Recompute fold 2 by hand from the same splits.
    const s = cvSplits(labels, groups, 4, 1)[2]!;
    for (const i of s.train) expect(Array.from(s.test, (t) => groups[t]).includes(groups[i]!)).toBe(false);
    const m = await trainLogistic(
      frame.take(s.train),
      Array.from(s.train, (i) => labels[i]!),
      { C: 1 },
    );
    const auc = rocAuc(
      Array.from(s.test, (i) => labels[i]!),
      m.predictProba(frame.take(s.test)),
    );
    expect(r.folds[2]!.metric).toBe(auc);
    const mean = r.folds.reduce((x, f) => x + f.metric, 0) / 4;
    expect(r.mean).toBeCloseTo(mean, 14);
    const sd = Math.sqrt(r.folds.reduce((x, f) => x + (f.metric - mean) ** 2, 0) / 3);
    expect(r.std).toBeCloseTo(sd, 14);
  });

  test('GBDT finds the interaction the linear model cannot, and reports its early-stopped rounds', async () => {
    const opts = { folds: 3, seed: 2 } as const;
    const lin = await crossValidate(frame, labels, groups, { ...opts, algorithm: 'logreg', params: {} });
    const gb = await crossValidate(frame, labels, groups, {
      ...opts,
      algorithm: 'gbdt',
      params: { numTrees: 300, learningRate: 0.1, numLeaves: 4, earlyStoppingRounds: 10 },
    });
    expect(gb.mean).toBeGreaterThan(lin.mean + 0.1);
    for (const f of gb.folds) expect(f.bestIteration!).toBeLessThan(300);
  });

  test('fold 0 reports −(validation log loss) per round; a true answer prunes', async () => {
    const seen: [number, number][] = [];
    const err = await crossValidate(frame, labels, groups, {
      folds: 3,
      algorithm: 'gbdt',
      params: { numTrees: 50 },
      report: (step, value) => {
        seen.push([step, value]);
        return step === 7;
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrunedError);
    expect((err as PrunedError).step).toBe(7);
    expect(seen.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const [, v] of seen) expect(v).toBeLessThan(0);
    // The loss falls in the first rounds, so the reported value rises.
    expect(seen[6]![1]).toBeGreaterThan(seen[0]![1]);
  });

  test('a verdict that comes after its fold stops the trial as the fold rule at that fold would have', async () => {
    const opts = { folds: 3, algorithm: 'gbdt' as const, params: { numTrees: 60 }, seed: 2 };
    // On time: reportFold answers true after fold 0.
    const onTime = await crossValidate(frame, labels, groups, { ...opts, reportFold: (f) => f === 0 }).catch(
      (e: unknown) => e,
    );
    // Late: the verdict on fold 0 arrives 7 rounds into fold 1.
    let rounds = 0;
    let asked = 0;
    const late = await crossValidate(frame, labels, groups, {
      ...opts,
      reportFold: () => false,
      prunedAfter: () => {
        asked++;
        return rounds > 7 ? 0 : null;
      },
      report: () => {
        rounds++;
        return false;
      },
    }).catch((e: unknown) => e);
    expect(onTime).toBeInstanceOf(FoldPrunedError);
    expect(late).toBeInstanceOf(FoldPrunedError);
    const [a, b] = [onTime as FoldPrunedError, late as FoldPrunedError];
    expect(b.fold).toBe(0);
    expect(b.value).toBe(a.value);
    expect(b.folds.map((f) => f.metric)).toEqual(a.folds.map((f) => f.metric));
    expect(asked).toBeGreaterThan(1); // polled between rounds of fold 1, not only between folds
    // A verdict pending until the end is still applied before the result is returned.
    const end = await crossValidate(frame, labels, groups, {
      ...opts,
      params: { numTrees: 5 },
      prunedAfter: () => null,
    });
    expect(end.folds).toHaveLength(3);
    // Pending through all of fold 2 (a check before it, 5 rounds), known only at the final check.
    let ready = false;
    let calls = 0;
    const atEnd = await crossValidate(frame, labels, groups, {
      ...opts,
      params: { numTrees: 5 },
      reportFold: (f) => {
        ready ||= f === 1;
        return false;
      },
      prunedAfter: () => (ready && ++calls > 6 ? 1 : null),
    }).catch((e: unknown) => e);
    expect(calls).toBe(7);
    expect(atEnd).toBeInstanceOf(FoldPrunedError);
    expect((atEnd as FoldPrunedError).folds.map((f) => f.metric)).toEqual(end.folds.slice(0, 2).map((f) => f.metric));
  });

  test('stops when asked and rejects parameters of the other algorithm', async () => {
    let calls = 0;
    await expect(
      crossValidate(frame, labels, null, {
        algorithm: 'gbdt',
        params: { numTrees: 1000 },
        shouldStop: () => ++calls > 5,
      }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(calls).toBeLessThan(10);
    await expect(crossValidate(frame, labels, null, { algorithm: 'logreg', params: { numLeaves: 3 } })).rejects.toThrow(
      /"numLeaves" is not a logreg parameter/,
    );
    await expect(crossValidate(frame, labels, null, { algorithm: 'svm' as never, params: {} })).rejects.toThrow(
      /algorithm/,
    );
  });
});
