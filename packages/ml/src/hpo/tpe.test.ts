import { describe, expect, test } from 'vitest';
import type { SearchSpace, TrialParams } from './space.js';
import { RandomSampler, TpeSampler, defaultGamma, defaultWeights } from './tpe.js';
import type { Sampler } from './tpe.js';

// A conditional space like the study's: branch "a" holds the optimum (value 0); branch "b" tops out at -2.
const space: SearchSpace = {
  algorithm: {
    type: 'branch',
    branches: {
      a: {
        x: { type: 'float', low: -5, high: 5 },
        y: { type: 'float', low: 1e-3, high: 10, log: true },
        k: { type: 'int', low: 1, high: 100, log: true },
        c: { type: 'categorical', choices: ['r', 'g', 'b', 'w'] },
      },
      b: { z: { type: 'float', low: 0, high: 1 } },
    },
  },
};

function objective(p: TrialParams): number {
  if (p.algorithm === 'b') return -4 + 2 * (p.z as number);
  const x = p.x as number;
  const ly = Math.log10(p.y as number);
  const lk = Math.log2(p.k as number) / Math.log2(100);
  return -((x - 1.3) ** 2) / 4 - (ly + 1) ** 2 / 4 - (lk - 0.6) ** 2 - (p.c === 'g' ? 0 : 0.25);
}

function bestAfter(sampler: Sampler, n: number): number {
  let best = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = sampler.ask();
    const v = objective(t.params);
    best = Math.max(best, v);
    sampler.tell(t.number, { state: 'complete', value: v });
  }
  return best;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1]!;
};

describe('TPE sampler', () => {
  test('finds better configurations than random search (median over seeds)', () => {
    const seeds = Array.from({ length: 11 }, (_, i) => i + 1);
    const random = seeds.map((seed) => bestAfter(new RandomSampler({ space, seed }), 60));
    const multi = seeds.map((seed) => bestAfter(new TpeSampler({ space, seed }), 60));
    const uni = seeds.map((seed) => bestAfter(new TpeSampler({ space, seed, multivariate: false }), 60));
    // Regret (distance from the optimum 0): TPE at least halves random search's; the joint kernel does best
    // (measured: random 0.32, univariate 0.09, multivariate 0.03).
    expect(-median(multi)).toBeLessThan(-median(random) / 2);
    expect(-median(uni)).toBeLessThan(-median(random) / 2);
    expect(-median(multi)).toBeLessThanOrEqual(-median(uni));
    // And wins on most seeds, not just in the median.
    expect(seeds.filter((_, i) => multi[i]! > random[i]!).length).toBeGreaterThanOrEqual(8);
  });

  test('is deterministic for a seed, and the seed matters', () => {
    const run = (seed: number): TrialParams[] => {
      const s = new TpeSampler({ space, seed, nStartup: 5 });
      const out: TrialParams[] = [];
      for (let i = 0; i < 25; i++) {
        const t = s.ask();
        out.push(t.params);
        // Pruned and failed trials are part of the history too.
        if (i % 7 === 3) s.tell(t.number, { state: 'failed' });
        else if (i % 5 === 4) s.tell(t.number, { state: 'pruned', step: 10, value: objective(t.params) - 1 });
        else s.tell(t.number, { state: 'complete', value: objective(t.params) });
      }
      return out;
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  test('concentrates on the good branch and region once past the random start', () => {
    const s = new TpeSampler({ space, seed: 9 });
    const late: TrialParams[] = [];
    for (let i = 0; i < 80; i++) {
      const t = s.ask();
      if (i >= 50) late.push(t.params);
      s.tell(t.number, { state: 'complete', value: objective(t.params) });
    }
    const inA = late.filter((p) => p.algorithm === 'a');
    expect(inA.length).toBeGreaterThanOrEqual(25);
    const nearX = inA.filter((p) => Math.abs((p.x as number) - 1.3) < 1).length;
    // Uniform sampling would put 20 % of x within ±1 of the optimum; TPE puts at least twice that there.
    expect(nearX / inA.length).toBeGreaterThan(0.4);
  });

  test('constant liar spreads trials that run at the same time', () => {
    const spread = (constantLiar: boolean): number => {
      const s = new TpeSampler({ space: { x: { type: 'float', low: 0, high: 1 } }, seed: 5, constantLiar });
      for (let i = 0; i < 20; i++) {
        const t = s.ask();
        s.tell(t.number, { state: 'complete', value: -Math.abs((t.params.x as number) - 0.5) });
      }
      // Eight trials asked before any result comes back.
      const xs = Array.from({ length: 8 }, () => s.ask().params.x as number).sort((a, b) => a - b);
      return xs[xs.length - 1]! - xs[0]!;
    };
    expect(spread(true)).toBeGreaterThan(spread(false));
  });

  test('non-finite values count as failures, and telling twice is an error', () => {
    const s = new TpeSampler({ space: { x: { type: 'float', low: 0, high: 1 } }, seed: 1, nStartup: 2 });
    const a = s.ask();
    s.tell(a.number, { state: 'complete', value: Number.NaN });
    expect(() => s.tell(a.number, { state: 'complete', value: 1 })).toThrow(/already told/);
    expect(() => s.tell(99, { state: 'complete', value: 1 })).toThrow(/never asked/);
  });

  test('gamma and weights follow Optuna defaults', () => {
    expect([0, 1, 10, 11, 100, 250, 1000].map(defaultGamma)).toEqual([0, 1, 1, 2, 10, 25, 25]);
    expect(defaultWeights(3)).toEqual([1, 1, 1]);
    const w = defaultWeights(30);
    expect(w).toHaveLength(30);
    expect(w[0]).toBeCloseTo(1 / 30);
    expect(w.slice(5)).toEqual(new Array(25).fill(1));
    for (let i = 1; i < 5; i++) expect(w[i]!).toBeGreaterThan(w[i - 1]!);
  });
});
