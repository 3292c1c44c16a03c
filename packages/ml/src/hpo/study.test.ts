import { describe, expect, test } from 'vitest';
import {
  FoldPruner,
  RungBoard,
  SuccessiveHalvingPruner,
  endRungs,
  liveFoldVerdict,
  publishFold,
  shouldPrune,
  shouldPruneFold,
} from './pruner.js';
import type { SearchSpace } from './space.js';
import { TrialPruned, runStudy } from './study.js';
import type { TrialContext, TrialRecord } from './study.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const space: SearchSpace = {
  q: { type: 'float', low: 0, high: 1 },
  lr: { type: 'float', low: 0.01, high: 0.3, log: true },
};

describe('successive halving', () => {
  test('rungs sit at minResource × η^k and keep the top 1/η', () => {
    const p = new SuccessiveHalvingPruner({ minResource: 5, reductionFactor: 3 });
    expect(p.schedule('maximize', 200).steps).toEqual([5, 15, 45, 135]);
    // Nothing seen yet: everything is promoted.
    expect(p.schedule('maximize').thresholds.every((t) => t === null)).toBe(true);
    for (const v of [0.1, 0.2, 0.3, 0.4, 0.5]) p.record([[5, v]]);
    const s = p.schedule('maximize', 200);
    // 5 earlier values + this trial: keep ⌊6/3⌋ = 2, so the trial must reach the 2nd best earlier value.
    expect(s.thresholds[0]).toBe(0.4);
    expect(s.thresholds[1]).toBeNull();
    expect(shouldPrune(s, 5, 0.39)).toBe(true);
    expect(shouldPrune(s, 5, 0.4)).toBe(false);
    expect(shouldPrune(s, 6, 0)).toBe(false); // not a rung
    expect(shouldPrune(s, 5, Number.NaN)).toBe(true);
    const m = p.schedule('minimize', 200);
    expect(m.thresholds[0]).toBe(0.2);
    expect(shouldPrune(m, 5, 0.25)).toBe(true);
    // With fewer than η earlier values only a trial at least as good as the best continues (as Optuna).
    const q = new SuccessiveHalvingPruner({ minResource: 1, reductionFactor: 4, bootstrapCount: 2 });
    q.record([[1, 0.5]]);
    expect(q.schedule('maximize', 10).thresholds[0]).toBeNull(); // below the bootstrap count
    q.record([[1, 0.7]]);
    expect(q.schedule('maximize', 10).thresholds[0]).toBe(0.7);
  });

  test('live rungs: a trial competes with its running peers once each has reported at the rung or ended', () => {
    const p = new SuccessiveHalvingPruner({ minResource: 5, reductionFactor: 3 });
    p.record([[5, 0.9]]); // a finished trial (told): in every later schedule's `seen`
    const board = new RungBoard(8, p.rungSteps(200).length);
    expect(board.rungs).toBe(4);
    // Trials 1 and 2 were running when trial 3 started; trial 1 reports 0.8 at rung 0 and 0.7 at rung 1.
    const s1 = p.liveSchedule('maximize', 200, board, 1, []);
    const s2 = p.liveSchedule('maximize', 200, board, 2, [1]);
    const s3 = p.liveSchedule('maximize', 200, board, 3, [1, 2]);
    // Trial 1 sees the told value only: it must reach 0.9 (keep max(1, ⌊2/3⌋) = 1).
    expect(shouldPrune(s1, 5, 0.8)).toBe(true);
    expect(shouldPrune(s1, 15, 0.7)).toBe(false); // nobody was at rung 1 before it
    // Trial 2 at rung 0: 0.9 (told) and 0.8 (peer 1) → keep ⌊3/3⌋ = 1: must reach 0.9.
    expect(shouldPrune(s2, 5, 0.85)).toBe(true);
    // Trial 2 ends (pruned): its later rungs are never reached; nobody waits for them.
    endRungs(s2);
    // Trial 3 at rung 0: 0.9, 0.8, 0.85 → keep ⌊4/3⌋ = 1 → must reach 0.9; at rung 1: 0.7 (peer 1) only, and
    // peer 2 never got there → keep 1 → must reach 0.7.
    expect(shouldPrune(s3, 5, 0.89)).toBe(true);
    expect(shouldPrune(s3, 5, 0.9)).toBe(false);
    expect(shouldPrune(s3, 15, 0.69)).toBe(true);
    expect(shouldPrune(s3, 15, 0.7)).toBe(false);
    // A value is published once: a repeated report at a rung does not overwrite it.
    expect(shouldPrune(s1, 5, 0.99)).toBe(false); // compared afresh, but 0.8 stays on the board for younger trials
    const s4 = p.liveSchedule('maximize', 200, board, 4, [1]);
    expect(shouldPrune(s4, 5, 0.8)).toBe(true); // 0.9 and 0.8 → must reach 0.9
    // A peer that has not reached the rung yet: the trial waits; `stop` ends the wait and the trial stops.
    const s5 = p.liveSchedule('maximize', 200, board, 5, [6]);
    let asked = 0;
    expect(shouldPrune(s5, 5, 1, () => ++asked > 2)).toBe(true);
    expect(asked).toBe(3);
    // Once the study closes the peer's row, the wait is over.
    board.close(6);
    expect(shouldPrune(s5, 5, 1)).toBe(false);
    // Non-finite values are published but never promoted, and never counted against others.
    const s7 = p.liveSchedule('maximize', 200, board, 7, [5]);
    expect(shouldPrune(s7, 15, Number.NaN)).toBe(true);
    expect(() => p.liveSchedule('maximize', 20, board, 7, [])).toThrow(/rungs/);
  });

  test('prunes clearly bad trials and never the best one', async () => {
    // Learning curves ordered by q at every round: the best final value also leads at every rung.
    const res = await runStudy({
      space,
      nTrials: 40,
      seed: 4,
      sampler: 'random',
      pruner: { minResource: 4, reductionFactor: 3 },
      objective: async (p, ctx) => {
        const q = p.q as number;
        let v = 0;
        for (let step = 1; step <= 100; step++) {
          v = q * (1 - Math.exp(-step / 20));
          if (ctx.report(step, v)) throw new TrialPruned();
        }
        return v;
      },
    });
    const pruned = res.trials.filter((t) => t.state === 'pruned');
    const complete = res.trials.filter((t) => t.state === 'complete');
    expect(pruned.length).toBeGreaterThan(20);
    const bestQ = Math.max(...res.trials.map((t) => t.params.q as number));
    expect(res.best?.params.q).toBe(bestQ);
    for (const t of pruned) {
      expect(t.params.q as number).toBeLessThan(bestQ);
      expect(t.value).not.toBeNull();
      expect(t.intermediate.length).toBeGreaterThan(0);
    }
    // Every trial in the bottom half of q that came after the first few was stopped early.
    const sortedQ = res.trials.map((t) => t.params.q as number).sort((a, b) => a - b);
    const medianQ = sortedQ[sortedQ.length >> 1]!;
    for (const t of res.trials.slice(5)) if ((t.params.q as number) < medianQ) expect(t.state).toBe('pruned');
    expect(complete.length).toBeGreaterThan(0);
  });
});

describe('pruning between folds', () => {
  test('a trial goes on only if its folds so far reach the median of earlier trials', () => {
    const p = new FoldPruner({ minTrials: 3 });
    p.record([0.7, 0.8, 0.6]);
    p.record([0.6]);
    expect(p.thresholds('maximize')).toEqual([null, null, null]); // fewer than 3 trials at every fold
    p.record([0.8, 0.6]);
    // Running means after fold 0: 0.7, 0.6, 0.8 → median 0.7; after fold 1 only two trials.
    const t = p.thresholds('maximize');
    expect(t[0]).toBeCloseTo(0.7, 12);
    expect(t[1]).toBeNull();
    const s = { steps: [], thresholds: [], direction: 'maximize' as const, foldThresholds: t };
    expect(shouldPruneFold(s, 0, 0.69)).toBe(true);
    expect(shouldPruneFold(s, 0, 0.7)).toBe(false);
    expect(shouldPruneFold(s, 1, 0)).toBe(false);
    expect(shouldPruneFold(s, 0, Number.NaN)).toBe(true);
    // Minimize: the median from the other side; the quantile moves the bar.
    expect(p.thresholds('minimize')[0]).toBeCloseTo(0.7, 12);
    const strict = new FoldPruner({ quantile: 0.75, minTrials: 1 });
    for (const v of [0.1, 0.2, 0.3, 0.4, 0.5]) strict.record([v]);
    expect(strict.thresholds('maximize')[0]).toBeCloseTo(0.4, 12);
    expect(() => new FoldPruner({ quantile: 2 })).toThrow(/quantile/);
  });

  test('live folds: a trial also counts the older trials running beside it, once they reach the fold or end', () => {
    const p = new FoldPruner({ minTrials: 2 });
    p.record([0.7, 0.8]); // finished when the trials below started
    const board = new RungBoard(6, 4);
    const s = (trial: number, peers: number[]) => ({
      steps: [],
      thresholds: [],
      direction: 'maximize' as const,
      liveFolds: p.liveFolds(board, trial, peers),
    });
    const [s1, s2, s3] = [s(1, []), s(2, [1]), s(3, [1, 2])];
    // Trial 1 sees one finished trial: fewer than minTrials, so it goes on.
    expect(liveFoldVerdict(s1, 0, 0.6)).toBe(false);
    // Trial 2 waits for trial 1 at fold 0: no verdict yet (never blocks).
    expect(liveFoldVerdict(s2, 0, 0.65)).toBeNull();
    publishFold(s1.liveFolds, 0, 0.6);
    // 0.7 and 0.6 → median 0.65: 0.64 stops, 0.65 goes on.
    expect(liveFoldVerdict(s2, 0, 0.64)).toBe(true);
    expect(liveFoldVerdict(s2, 0, 0.65)).toBe(false);
    // At fold 1 trial 1 never arrives (it ends): trial 2 is judged on the finished trial alone, which is too few.
    expect(liveFoldVerdict(s2, 1, 0.1)).toBeNull();
    board.close(1);
    expect(liveFoldVerdict(s2, 1, 0.1)).toBe(false);
    // A published value stays: closing the row later does not remove it, and a second publish does not overwrite it.
    publishFold(s1.liveFolds, 0, 0.99);
    publishFold(s2.liveFolds, 0, 0.9);
    expect(liveFoldVerdict(s3, 0, 0.69)).toBe(true); // 0.7, 0.6, 0.9 → median 0.7
    expect(liveFoldVerdict(s3, 0, 0.7)).toBe(false);
    // Minimize: the bar from the other side; non-finite values always stop.
    const m = { ...s3, direction: 'minimize' as const };
    expect(liveFoldVerdict(m, 0, 0.71)).toBe(true);
    expect(liveFoldVerdict(s3, 0, Number.NaN)).toBe(true);
    // Without live folds the verdict is the fixed thresholds' (finished trials only).
    const q = new FoldPruner({ minTrials: 1 });
    q.record([0.7]);
    const fixed = {
      steps: [],
      thresholds: [],
      direction: 'maximize' as const,
      foldThresholds: q.thresholds('maximize'),
    };
    expect(liveFoldVerdict(fixed, 0, 0.69)).toBe(true);
    expect(liveFoldVerdict(fixed, 0, 0.7)).toBe(false);
  });

  test('bad configurations stop after their first fold and keep the folds they finished', async () => {
    // Fold metrics ordered by q on every fold, as when folds rank configurations alike.
    const foldsRun: number[] = [];
    const res = await runStudy({
      space,
      nTrials: 30,
      seed: 5,
      sampler: 'random',
      pruner: false,
      objective: async (p, ctx) => {
        const q = p.q as number;
        const folds: number[] = [];
        for (let k = 0; k < 3; k++) {
          folds.push(0.5 + 0.4 * q + 0.01 * k);
          const mean = folds.reduce((a, b) => a + b, 0) / folds.length;
          if (k < 2 && ctx.reportFold(k, mean)) throw new TrialPruned('pruned between folds', folds);
        }
        foldsRun.push(folds.length);
        return { value: folds.reduce((a, b) => a + b, 0) / 3, folds };
      },
    });
    const pruned = res.trials.filter((t) => t.state === 'pruned');
    expect(pruned.length).toBeGreaterThan(8);
    for (const t of pruned) {
      expect(t.folds!.length).toBeGreaterThanOrEqual(1);
      expect(t.folds!.length).toBeLessThan(3);
      expect(t.value).toBeCloseTo(t.folds!.reduce((a, b) => a + b, 0) / t.folds!.length, 12);
    }
    // The first three trials have no rule yet (default minTrials 3); the best configuration is never stopped.
    expect(res.trials.slice(0, 3).every((t) => t.state === 'complete')).toBe(true);
    const bestQ = Math.max(...res.trials.map((t) => t.params.q as number));
    expect(res.best?.params.q).toBe(bestQ);
    // A trial stopped after fold 0 was below the median of the earlier trials' first folds.
    for (const t of pruned.filter((u) => u.folds!.length === 1)) {
      const earlier = res.trials.filter((u) => u.number < t.number && u.folds).map((u) => u.folds![0]!);
      earlier.sort((a, b) => a - b);
      expect(t.folds![0]!).toBeLessThan(earlier[earlier.length >> 1]! + 1e-9);
    }
    // With fold pruning off, every trial runs every fold.
    const off = await runStudy({
      space,
      nTrials: 12,
      seed: 5,
      sampler: 'random',
      pruner: false,
      foldPruner: false,
      objective: async (p, ctx) => {
        for (let k = 0; k < 2; k++) if (ctx.reportFold(k, p.q as number)) throw new TrialPruned();
        return p.q as number;
      },
    });
    expect(off.trials.every((t) => t.state === 'complete')).toBe(true);
  });
});

describe('runStudy', () => {
  test('a trial whose objective throws is recorded as failed and the study continues', async () => {
    const res = await runStudy({
      space,
      nTrials: 12,
      seed: 1,
      objective: async (p, ctx) => {
        if (ctx.number % 4 === 1) throw new Error(`boom ${ctx.number}`);
        if (ctx.number === 6) return Number.NaN;
        return p.q as number;
      },
    });
    expect(res.trials).toHaveLength(12);
    expect(res.trials.filter((t) => t.state === 'failed').map((t) => t.number)).toEqual([1, 5, 6, 9]);
    expect(res.trials[5]!.error).toBe('boom 5');
    expect(res.trials[6]!.error).toMatch(/NaN/);
    expect(res.best?.state).toBe('complete');
    for (const t of res.trials) expect(t.durationMs).toBeGreaterThanOrEqual(0);
  });

  test('runs trials in parallel, and the results depend on seed and concurrency, not on timing', async () => {
    const run = async (jitter: () => number): Promise<{ trials: TrialRecord[]; peak: number }> => {
      let live = 0;
      let peak = 0;
      const res = await runStudy({
        space,
        nTrials: 24,
        seed: 7,
        concurrency: 3,
        tpe: { nStartup: 5 },
        pruner: { minResource: 2, reductionFactor: 2 },
        objective: async (p, ctx: TrialContext) => {
          live++;
          peak = Math.max(peak, live);
          try {
            const q = p.q as number;
            for (let step = 1; step <= 8; step++) {
              await sleep(jitter());
              if (ctx.report(step, q * step)) throw new TrialPruned();
            }
            return q - Math.abs(Math.log10(p.lr as number) + 1);
          } finally {
            live--;
          }
        },
      });
      return { trials: res.trials, peak };
    };
    let k = 0;
    const a = await run(() => (k++ * 7919) % 5);
    const b = await run(() => Math.floor(Math.random() * 6));
    const strip = (ts: TrialRecord[]): unknown[] => ts.map(({ durationMs: _d, startMs: _s, ...rest }) => rest);
    expect(strip(b.trials)).toEqual(strip(a.trials));
    expect(a.peak).toBe(3);
    expect(a.trials.some((t) => t.state === 'pruned')).toBe(true);
  });

  test('a long trial blocks its slot only, up to the lag', async () => {
    const startedBeforeFirstEnds = async (lag?: number): Promise<number> => {
      const res = await runStudy({
        space,
        nTrials: 10,
        concurrency: 2,
        ...(lag === undefined ? {} : { lag }),
        objective: async (p, ctx) => {
          await sleep(ctx.number === 0 ? 300 : 10);
          return p.q as number;
        },
      });
      const end0 = res.trials[0]!.startMs + res.trials[0]!.durationMs;
      return res.trials.filter((t) => t.startMs < end0).length;
    };
    // lag 2: trial 2 must wait for trial 0. Default lag 6: trials 1-5 run beside trial 0.
    expect(await startedBeforeFirstEnds(2)).toBe(2);
    expect(await startedBeforeFirstEnds()).toBe(6);
  });

  test('an AbortSignal stops the study promptly and keeps the finished trials', async () => {
    const ctl = new AbortController();
    const seenSignals: AbortSignal[] = [];
    const t0 = Date.now();
    setTimeout(() => ctl.abort(), 300);
    let abortedAt = 0;
    ctl.signal.addEventListener('abort', () => (abortedAt = Date.now()));
    const res = await runStudy({
      space,
      nTrials: 1000,
      seed: 2,
      concurrency: 2,
      signal: ctl.signal,
      objective: async (p, ctx) => {
        seenSignals.push(ctx.signal);
        // An objective that ignores the signal entirely: the study must not wait for it.
        await sleep(ctx.number < 4 ? 40 : 10_000);
        return p.q as number;
      },
    });
    expect(Date.now() - abortedAt).toBeLessThan(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(res.stoppedBy).toBe('abort');
    expect(res.trials.filter((t) => t.state === 'complete').map((t) => t.number)).toEqual([0, 1, 2, 3]);
    const cancelled = res.trials.filter((t) => t.error === 'cancelled');
    expect(cancelled.map((t) => t.number)).toEqual([4, 5]);
    expect(cancelled.every((t) => t.state === 'failed')).toBe(true);
    // The running trials were told to stop.
    expect(seenSignals[4]!.aborted && seenSignals[5]!.aborted).toBe(true);
  });

  // An off-thread objective whose trial 1 returns its three folds at once while trial 0 (the older trial running
  // beside it) takes `slowMs`: trial 1's fold-0 verdict waits for trial 0's fold, with trial 1's worker free.
  const waitingForVerdict = (slowMs: number) =>
    Object.assign(
      async (_p: Record<string, unknown>, ctx: TrialContext) => {
        if (ctx.number === 0) await sleep(slowMs);
        return { value: 0.7, folds: [0.7, 0.7, 0.7] };
      },
      { offThread: true as const },
    );

  test('an abort while the last trials finish records every trial, those waiting for a verdict as cancelled', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const told: number[] = [];
    const res = await runStudy({
      space,
      nTrials: 2,
      concurrency: 2,
      pruner: false,
      signal: ctl.signal,
      objective: waitingForVerdict(300),
      onTrial: (t) => told.push(t.number),
    });
    expect(res.stoppedBy).toBe('abort');
    expect(res.trials.map((t) => [t.number, t.state, t.error])).toEqual([
      [0, 'failed', 'cancelled'],
      [1, 'failed', 'cancelled'],
    ]);
    expect(told.sort()).toEqual([0, 1]);
  });

  test("a trial's duration is its objective's run, not the wait for a live fold verdict", async () => {
    const res = await runStudy({ space, nTrials: 2, concurrency: 2, pruner: false, objective: waitingForVerdict(300) });
    expect(res.trials.map((t) => t.state)).toEqual(['complete', 'complete']);
    expect(res.trials[0]!.durationMs).toBeGreaterThanOrEqual(250);
    expect(res.trials[1]!.durationMs).toBeLessThan(100);
  });

  test('an onTrial that throws does not escape as an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const res = await runStudy({
        space,
        nTrials: 3,
        seed: 1,
        objective: async (p) => p.q as number,
        onTrial: (t) => {
          if (t.number === 0) throw new Error('onTrial failed');
        },
      });
      expect(res.trials.map((t) => t.state)).toEqual(['complete', 'complete', 'complete']);
      await sleep(50);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  test('stops starting trials at the timeout and lets running ones finish', async () => {
    const res = await runStudy({
      space,
      nTrials: 1000,
      seed: 2,
      timeoutMs: 150,
      objective: async (p) => {
        await sleep(40);
        return p.q as number;
      },
    });
    expect(res.stoppedBy).toBe('timeout');
    expect(res.trials.length).toBeGreaterThanOrEqual(2);
    expect(res.trials.length).toBeLessThan(10);
    expect(res.trials.every((t) => t.state === 'complete')).toBe(true);
  });

  test('validates its options', async () => {
    const objective = async (): Promise<number> => 1;
    await expect(runStudy({ space, objective, nTrials: -1 })).rejects.toThrow(/nTrials/);
    await expect(runStudy({ space, objective, nTrials: 1, concurrency: 0 })).rejects.toThrow(/concurrency/);
    await expect(runStudy({ space, objective, nTrials: 1, concurrency: 3, lag: 2 })).rejects.toThrow(/lag/);
    // Live rungs block the reporting thread: an objective running on this thread cannot have them.
    await expect(runStudy({ space, objective, nTrials: 1, liveRungs: true })).rejects.toThrow(/offThread/);
    await expect(runStudy({ space: { x: { type: 'int', low: 3, high: 1 } }, objective, nTrials: 1 })).rejects.toThrow(
      /INVALID_SPACE|must not exceed/,
    );
  });
});
