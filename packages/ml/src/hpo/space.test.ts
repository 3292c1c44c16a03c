import { describe, expect, test } from 'vitest';
import { MlError } from '../errors.js';
import {
  LARGE_DATA_ROWS,
  compileSpace,
  decodeParams,
  defaultGbdtSpace,
  defaultSearchSpace,
  overrideSpace,
  spaceNodes,
  validateSpace,
} from './space.js';
import type { SearchSpace } from './space.js';
import { RandomSampler } from './tpe.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof MlError ? `${e.code}: ${e.message}` : String(e);
  }
  return undefined;
}

describe('search space', () => {
  test('rejects malformed specs with a message naming the parameter', () => {
    const cases: [SearchSpace, RegExp][] = [
      [{ a: { type: 'float', low: 2, high: 1 } }, /a: low \(2\) must not exceed high/],
      [{ a: { type: 'float', low: 0, high: 1, log: true } }, /a: log needs low > 0/],
      [{ a: { type: 'int', low: 0.5, high: 3 } }, /a: int bounds must be integers/],
      [{ a: { type: 'int', low: 1, high: 10, step: 4 } }, /multiple of step/],
      [{ a: { type: 'float', low: 1, high: 10, step: 1, log: true } }, /log and step/],
      [{ a: { type: 'categorical', choices: [] } }, /non-empty/],
      [{ a: { type: 'categorical', choices: ['x', 'x'] } }, /distinct/],
      [{ a: { type: 'branch', branches: {} } }, /at least one choice/],
      [{ a: { type: 'branch', branches: { x: { a: { type: 'const', value: 1 } } } } }, /"a" appears twice/],
      [{ a: { type: 'nope' } as never }, /unknown type/],
      [{ a: { type: 'float', low: Number.NaN, high: 1 } }, /finite/],
    ];
    for (const [space, re] of cases) {
      const msg = code(() => validateSpace(space));
      expect(msg, JSON.stringify(space)).toMatch(/^INVALID_SPACE: /);
      expect(msg).toMatch(re);
    }
  });

  test('default spaces validate and survive a JSON round trip', () => {
    for (const numRows of [1000, 20_000, 1_000_000]) {
      const s = defaultSearchSpace({ numRows });
      expect(JSON.parse(JSON.stringify(s))).toEqual(s);
      expect(() => validateSpace(s)).not.toThrow();
    }
    // Leaf sizes scale with the data: a small cohort cannot ask for 1000-row leaves.
    const small = defaultSearchSpace({ numRows: 1000 }).algorithm;
    const large = defaultSearchSpace({ numRows: 1_000_000 }).algorithm;
    if (small?.type !== 'branch' || large?.type !== 'branch') throw new Error('expected branches');
    const hi = (s: typeof small, k: string): number => {
      const p = s.branches.gbdt![k]!;
      return p.type === 'int' ? p.high : NaN;
    };
    expect(hi(small, 'minDataInLeaf')).toBeLessThan(hi(large, 'minDataInLeaf'));
    expect(hi(small, 'numLeaves')).toBeLessThan(hi(large, 'numLeaves'));
    // Large data: rates that reach their best loss within a few hundred rounds, a lower round cap, shorter patience.
    const at = (numRows: number) => {
      const g = defaultGbdtSpace({ numRows });
      const lr = g.learningRate!;
      return {
        lr: lr.type === 'float' ? lr.low : NaN,
        trees: g.numTrees!.type === 'const' ? g.numTrees!.value : NaN,
        patience: g.earlyStoppingRounds!.type === 'const' ? g.earlyStoppingRounds!.value : NaN,
      };
    };
    expect(at(LARGE_DATA_ROWS)).toEqual({ lr: 0.01, trees: 1000, patience: 50 });
    expect(at(LARGE_DATA_ROWS + 1)).toEqual({ lr: 0.03, trees: 500, patience: 30 });
    expect(defaultGbdtSpace({ numRows: 80_000, maxTrees: 200 }).numTrees).toEqual({ type: 'const', value: 200 });
  });

  test('conditional parameters appear only under their branch, flat and within bounds', () => {
    const space = defaultSearchSpace();
    const root = compileSpace(space);
    expect(spaceNodes(root).map((n) => n.id)).toEqual([
      '',
      'algorithm=gbdt/',
      'algorithm=logreg/',
      'algorithm=logreg/penalty=l2/',
      'algorithm=logreg/penalty=elasticnet/',
    ]);
    const sampler = new RandomSampler({ space, seed: 3 });
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { params } = sampler.ask();
      const keys = Object.keys(params).sort().join(',');
      seen.add(keys);
      if (params.algorithm === 'gbdt') {
        expect(params.numTrees).toBe(1000);
        expect(Number.isInteger(params.numLeaves)).toBe(true);
        expect(params.learningRate as number).toBeGreaterThanOrEqual(0.01);
        expect(params.learningRate as number).toBeLessThanOrEqual(0.3);
        expect('C' in params).toBe(false);
      } else {
        expect(params.algorithm).toBe('logreg');
        expect('l1Ratio' in params).toBe(params.penalty === 'elasticnet');
        expect(params.C as number).toBeGreaterThanOrEqual(1e-4);
        expect(params.C as number).toBeLessThanOrEqual(100);
      }
    }
    expect(seen.size).toBe(3); // gbdt, logreg+l2, logreg+elasticnet
  });

  test('log, int and step dimensions stay on their grid and cover it', () => {
    const space: SearchSpace = {
      li: { type: 'int', low: 1, high: 1000, log: true },
      si: { type: 'int', low: 2, high: 20, step: 6 },
      sf: { type: 'float', low: 0, high: 1, step: 0.25 },
      lf: { type: 'float', low: 1e-4, high: 1, log: true },
    };
    const sampler = new RandomSampler({ space, seed: 1 });
    const si = new Set<number>();
    const sf = new Set<number>();
    let smallLi = 0;
    let smallLf = 0;
    for (let i = 0; i < 400; i++) {
      const p = sampler.ask().params as Record<string, number>;
      expect(Number.isInteger(p.li)).toBe(true);
      si.add(p.si!);
      sf.add(p.sf!);
      if (p.li! <= 31) smallLi++;
      if (p.lf! < 1e-2) smallLf++;
    }
    expect([...si].sort((a, b) => a - b)).toEqual([2, 8, 14, 20]);
    expect([...sf].sort()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // Log-uniform: the share below a point is its share of the log range (± 4 standard deviations of 400 draws).
    expect(Math.abs(smallLi - 400 * (Math.log(31.5 / 0.5) / Math.log(1000.5 / 0.5)))).toBeLessThan(40);
    expect(Math.abs(smallLf - 200)).toBeLessThan(40);
  });

  test('overrides replace, remove and merge branch by branch', () => {
    const base = defaultSearchSpace();
    const s = overrideSpace(base, {
      algorithm: {
        type: 'branch',
        branches: { gbdt: { maxDepth: null, learningRate: { type: 'const', value: 0.05 } }, logreg: null },
      },
      classWeight: { type: 'const', value: 'balanced' },
    });
    validateSpace(s);
    const root = compileSpace(s);
    const params = decodeParams(root, new RandomSampler({ space: s, seed: 2 }).ask().encoded);
    expect(params.algorithm).toBe('gbdt');
    expect(params.learningRate).toBe(0.05);
    expect('maxDepth' in params).toBe(false);
    expect(params.classWeight).toBe('balanced');
    expect(params.numLeaves).toBeDefined();
    // The input is untouched.
    expect(JSON.stringify(base)).toBe(JSON.stringify(defaultSearchSpace()));
  });
});
