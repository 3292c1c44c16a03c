import { describe, expect, test } from 'vitest';
import { Frame } from '../frame.js';
import { Rng } from '../gbdt/rng.js';
import { rocAuc } from '../metrics/ranking.js';
import { trainLogistic } from '../logistic.js';
import { PrunedError, crossValidate, cvSplits } from './cross-validate.js';

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
