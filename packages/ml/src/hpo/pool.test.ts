import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Frame } from '../frame.js';
import { Rng } from '../gbdt/rng.js';
import { MlError } from '../errors.js';
import { crossValidate, cvSplits } from './cross-validate.js';
import { confirmFinalists } from './finalists.js';
import { trialPool } from './pool.js';
import type { TrialPool } from './pool.js';
import { defaultSearchSpace, overrideSpace } from './space.js';
import type { SearchSpace } from './space.js';
import { runStudy } from './study.js';

/** Clinical-like rows: 3 visits per patient, a categorical ward, missing lab values, an interaction in the label. */
function makeData(n: number, seed: number): { frame: Frame; labels: Float64Array; groups: Int32Array } {
  const rng = new Rng(seed);
  const age = new Float64Array(n);
  const lab = new Float64Array(n);
  const bmi = new Float64Array(n);
  const noise = new Float64Array(n);
  const ward: string[] = [];
  const labels = new Float64Array(n);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    groups[i] = Math.floor(i / 3);
    age[i] = 30 + 50 * rng.next();
    lab[i] = rng.next() < 0.1 ? Number.NaN : 5 + 4 * rng.next();
    bmi[i] = 18 + 20 * rng.next();
    noise[i] = rng.next();
    ward.push(['A', 'B', 'C'][rng.int(3)]!);
    const labV = Number.isNaN(lab[i]!) ? 7 : lab[i]!;
    const z = 0.06 * (age[i]! - 55) + 0.8 * (labV - 7) * (bmi[i]! > 28 ? 1 : -0.3) + (ward[i] === 'C' ? 0.7 : 0);
    labels[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { frame: Frame.fromColumns({ age, lab, bmi, noise, ward }), labels, groups };
}

const threadCount = (): number => readdirSync('/proc/self/task').length;

describe('trial pool', () => {
  const data = makeData(1200, 11);
  let pool: TrialPool;
  let threadsBefore = 0;

  beforeAll(async () => {
    threadsBefore = threadCount();
    pool = await trialPool({ ...data, folds: 3, seed: 5, size: 2 });
  });
  afterAll(async () => {
    await pool.close();
  });

  test('workers compute exactly what crossValidate computes in-process, with grouped folds', async () => {
    expect(pool.size).toBe(2);
    // No patient is on both sides of any fold.
    for (const s of pool.splits) {
      const test = new Set(Array.from(s.test, (i) => data.groups[i]));
      for (const i of s.train) expect(test.has(data.groups[i]!)).toBe(false);
    }
    const params = { numTrees: 80, numLeaves: 8, learningRate: 0.1, earlyStoppingRounds: 10, featureFraction: 0.8 };
    const [inWorker, logInWorker] = await Promise.all([
      pool.run('gbdt', params, { seed: 3 }),
      pool.run('logreg', { C: 0.5, penalty: 'elasticnet', l1Ratio: 0.5, missingIndicator: true }, { seed: 3 }),
    ]);
    const local = await crossValidate(data.frame, data.labels, data.groups, {
      folds: pool.splits,
      seed: 3,
      algorithm: 'gbdt',
      params,
    });
    expect(inWorker.mean).toBe(local.mean);
    expect(inWorker.folds.map((f) => f.metric)).toEqual(local.folds.map((f) => f.metric));
    expect(inWorker.mean).toBeGreaterThan(0.7);
    // Workers take each fold's rows once and reuse them: later trials on both workers still get the same result.
    const again = await Promise.all([pool.run('gbdt', params, { seed: 3 }), pool.run('gbdt', params, { seed: 3 })]);
    for (const r of again) expect(r.folds.map((f) => f.metric)).toEqual(local.folds.map((f) => f.metric));
    expect(logInWorker.folds).toHaveLength(3);
    expect(logInWorker.mean).toBeGreaterThan(0.6);
  });

  test('a study over both algorithms runs its trials in the workers and records fold metrics', async () => {
    const space = overrideSpace(defaultSearchSpace({ numRows: 1000, maxTrees: 100 }), {
      algorithm: { type: 'branch', branches: { gbdt: { earlyStoppingRounds: { type: 'const', value: 10 } } } },
    });
    const t0 = performance.now();
    const res = await runStudy({
      space,
      objective: pool.objective,
      nTrials: 12,
      seed: 1,
      concurrency: pool.size,
      lag: 2, // the most informed schedule: each trial's rungs see all but the one running beside it
      tpe: { nStartup: 6 },
      pruner: { minResource: 5, reductionFactor: 3 },
      maxStep: 100,
    });
    const wall = performance.now() - t0;
    expect(res.trials).toHaveLength(12);
    expect(res.trials.filter((t) => t.state === 'failed')).toEqual([]);
    const complete = res.trials.filter((t) => t.state === 'complete');
    for (const t of complete) {
      expect(t.folds).toHaveLength(3);
      expect(t.value).toBeCloseTo(t.folds!.reduce((a, b) => a + b, 0) / 3, 12);
    }
    expect(new Set(res.trials.map((t) => t.params.algorithm))).toEqual(new Set(['gbdt', 'logreg']));
    expect(res.trials.some((t) => t.state === 'pruned')).toBe(true);
    expect(res.best!.value!).toBeGreaterThan(0.75);
    // Two workers: the trials' summed time exceeds the wall time when they really overlap.
    const busy = res.trials.reduce((a, t) => a + t.durationMs, 0);
    expect(busy).toBeGreaterThan(1.3 * wall);
  });

  /** 8 random start-up trials on 2 workers with lag 6: trials 0–5 start before any trial has finished. */
  const startupStudy = (
    space: SearchSpace,
    seed: number,
    o: Partial<Parameters<typeof runStudy>[0]>,
  ): ReturnType<typeof runStudy> =>
    runStudy({
      space,
      objective: pool.objective,
      nTrials: 8,
      seed,
      concurrency: 2,
      lag: 6,
      tpe: { nStartup: 8 },
      ...o,
    });

  test('live rungs prune the first trials against running ones, reproducibly', async () => {
    const space = {
      learningRate: { type: 'float' as const, low: 0.005, high: 0.3, log: true },
      numLeaves: { type: 'int' as const, low: 4, high: 32 },
      numTrees: { type: 'const' as const, value: 120 },
      earlyStoppingRounds: { type: 'const' as const, value: 10 },
    };
    const study = (liveRungs: boolean): ReturnType<typeof runStudy> =>
      startupStudy(space, 3, {
        pruner: { minResource: 5, reductionFactor: 3 },
        maxStep: 120,
        liveRungs,
        liveFolds: false, // rungs alone
      });
    const summary = (r: Awaited<ReturnType<typeof runStudy>>): unknown =>
      r.trials.map((t) => [t.number, t.state, t.value, t.intermediate]);
    const [a, b, off] = [await study(true), await study(true), await study(false)];
    expect(summary(a)).toEqual(summary(b));
    // Without live rungs trials 0–4 have no finished trial to compete with (lag 6), so none of them is pruned;
    // with them, the same configurations compete with the trials started before, and some are stopped early.
    expect(off.trials.slice(0, 5).every((t) => t.state === 'complete')).toBe(true);
    expect(a.trials.slice(0, 5).some((t) => t.state === 'pruned')).toBe(true);
    expect(a.trials.map((t) => t.params)).toEqual(off.trials.map((t) => t.params)); // random start-up: same draws
    expect(a.trials[0]).toMatchObject({ state: 'complete', value: off.trials[0]!.value });
  });

  test('live folds stop the first trials between folds against running ones, reproducibly', async () => {
    const space = {
      learningRate: { type: 'float' as const, low: 0.01, high: 0.3, log: true },
      numLeaves: { type: 'int' as const, low: 2, high: 32 },
      minDataInLeaf: { type: 'int' as const, low: 5, high: 200, log: true },
      numTrees: { type: 'const' as const, value: 60 },
      earlyStoppingRounds: { type: 'const' as const, value: 10 },
    };
    const study = (liveFolds: boolean): ReturnType<typeof runStudy> =>
      startupStudy(space, 4, { pruner: false, foldPruner: { minTrials: 2 }, liveFolds });
    const summary = (r: Awaited<ReturnType<typeof runStudy>>): unknown =>
      r.trials.map((t) => [t.number, t.state, t.value, t.folds]);
    const [a, b, off] = [await study(true), await study(true), await study(false)];
    expect(summary(a)).toEqual(summary(b));
    // Finished trials only (lag 6): trials 0–5 have nothing to be compared with, so all of them run every fold.
    expect(off.trials.slice(0, 6).every((t) => t.state === 'complete')).toBe(true);
    // Live: from trial 2 on a trial below the median of the older ones after a fold stops there, with the folds
    // it finished; the others are what they were without the rule, fold for fold.
    const pruned = a.trials.filter((t) => t.state === 'pruned');
    expect(pruned.length).toBeGreaterThan(0);
    for (const t of a.trials) {
      const full = off.trials[t.number]!;
      expect(t.params).toEqual(full.params); // random start-up: the same draws
      if (t.state === 'complete') expect(t.folds).toEqual(full.folds);
      else {
        expect(t.number).toBeGreaterThanOrEqual(2);
        expect(t.folds).toEqual(full.folds!.slice(0, t.folds!.length));
        expect(t.value).toBe(t.folds!.reduce((x, y) => x + y, 0) / t.folds!.length);
      }
    }
  });

  test('aborting stops a long trial inside a worker promptly, and the worker is free again', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 400);
    const t0 = performance.now();
    const res = await runStudy({
      space: { learningRate: { type: 'float', low: 0.001, high: 0.002 }, numTrees: { type: 'const', value: 100_000 } },
      objective: pool.objective,
      nTrials: 4,
      concurrency: 2,
      signal: ctl.signal,
      pruner: false,
    });
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(res.stoppedBy).toBe('abort');
    expect(res.trials.map((t) => t.error)).toEqual(['cancelled', 'cancelled']);
    // The cancelled boosting loops notice the flag within a round; both workers take new work right away.
    const t1 = performance.now();
    const again = await Promise.all([pool.run('logreg', { C: 1 }), pool.run('logreg', { C: 2 })]);
    expect(again.every((r) => r.mean > 0.6)).toBe(true);
    expect(performance.now() - t1).toBeLessThan(5000);
  });

  test('a bad configuration fails its trial with the engine error, not the pool', async () => {
    await expect(pool.run('gbdt', { numLeaves: 1 })).rejects.toMatchObject({ code: 'INVALID_PARAM' });
    await expect(pool.run('gbdt', { nonsense: 1 })).rejects.toThrow(/"nonsense" is not a gbdt parameter/);
    const r = await pool.run('gbdt', { numTrees: 5 });
    expect(r.folds).toHaveLength(3);
  });

  test('close terminates every worker thread and refuses new work', async () => {
    const p = await trialPool({ ...data, folds: 2, size: 2 });
    const open = threadCount();
    expect(open).toBeGreaterThanOrEqual(threadsBefore + 2);
    const pending = expect(p.run('gbdt', { numTrees: 100_000, learningRate: 0.001 })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    await p.close();
    await pending;
    await expect(p.run('logreg', {})).rejects.toBeInstanceOf(MlError);
    let now = threadCount();
    for (let i = 0; i < 50 && now > open - 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      now = threadCount();
    }
    expect(now).toBeLessThanOrEqual(open - 2);
    await p.close(); // twice is fine
  });
});

describe('trial pool with a search sample', () => {
  const data = makeData(1500, 12);
  let pool: TrialPool;
  beforeAll(async () => {
    pool = await trialPool({ ...data, folds: 3, seed: 5, size: 2, searchRows: 600 });
  });
  afterAll(async () => {
    await pool.close();
  });

  test('trials search on whole patients of a sample; the full folds cover every row', async () => {
    const sample = new Set<number>();
    for (const s of pool.splits) for (const i of s.test) sample.add(i);
    expect(pool.searchRows).toBe(sample.size);
    expect(Math.abs(sample.size - 600)).toBeLessThanOrEqual(3);
    for (const s of pool.splits) {
      expect(s.train.length + s.test.length).toBe(sample.size);
      for (const i of s.train) expect(sample.has(i)).toBe(true);
      const test = new Set(Array.from(s.test, (i) => data.groups[i]));
      for (const i of s.train) expect(test.has(data.groups[i]!)).toBe(false);
    }
    for (let i = 0; i < 1500; i++) expect(sample.has(i)).toBe(sample.has(i - (i % 3))); // patients are rows 3g..3g+2
    expect(pool.fullSplits).toEqual(cvSplits(data.labels, data.groups, 3, 5));
    // One full fold in a worker is exactly the in-process cross-validation of that fold.
    const params = { numTrees: 60, numLeaves: 8, learningRate: 0.1, earlyStoppingRounds: 10 };
    const one = await pool.run('gbdt', params, { seed: 3, fidelity: 'full', folds: [1] });
    const local = await crossValidate(data.frame, data.labels, null, {
      folds: [pool.fullSplits[1]!],
      seed: 3,
      algorithm: 'gbdt',
      params,
    });
    expect(one.folds.map((f) => f.metric)).toEqual(local.folds.map((f) => f.metric));
    expect(one.folds[0]!.bestIteration).toBe(local.folds[0]!.bestIteration);
    await expect(trialPool({ ...data, folds: pool.fullSplits, searchRows: 600, size: 1 })).rejects.toThrow(
      /searchRows/,
    );
  });

  test('the best configurations of the search are confirmed on every row, best first', async () => {
    const space = overrideSpace(defaultSearchSpace({ numRows: 400, maxTrees: 60, algorithms: ['gbdt'] }), {
      algorithm: { type: 'branch', branches: { gbdt: { earlyStoppingRounds: { type: 'const', value: 10 } } } },
    });
    const res = await runStudy({
      space,
      objective: pool.objective,
      nTrials: 8,
      seed: 2,
      concurrency: 2,
      pruner: false,
    });
    const finalists = await confirmFinalists(pool, res.trials, { top: 2, seed: 2 });
    expect(finalists).toHaveLength(2);
    const byValue = res.trials.filter((t) => t.state === 'complete').sort((a, b) => b.value! - a.value!);
    expect(new Set(finalists.map((f) => f.trial))).toEqual(new Set(byValue.slice(0, 2).map((t) => t.number)));
    expect(finalists[0]!.value).toBeGreaterThanOrEqual(finalists[1]!.value);
    for (const f of finalists) {
      const { algorithm: _a, ...params } = f.params;
      const local = await crossValidate(data.frame, data.labels, null, {
        folds: pool.fullSplits,
        seed: 2,
        algorithm: 'gbdt',
        params,
      });
      expect(f.folds).toEqual(local.folds.map((x) => x.metric));
      expect(f.value).toBeCloseTo(local.mean, 12);
      expect(f.bestIterations).toEqual(local.folds.map((x) => x.bestIteration));
      expect(f.searchValue).toBe(res.trials[f.trial]!.value);
    }
    expect(await confirmFinalists(pool, [], { top: 2 })).toEqual([]);
  });
});
