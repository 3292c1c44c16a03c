// Property tests: on random inputs with many ties, the fast AUC and DeLong variance equal their definitions
// computed by brute force over all positive–negative pairs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { delongCi, pairedDelong, rocAuc } from './index.js';

/** ψ(x, y) = 1 if the positive outranks the negative, ½ on a tie. */
const psi = (x: number, y: number): number => (x > y ? 1 : x === y ? 0.5 : 0);

function bruteForce(labels: number[], a: number[], b: number[]): { aucA: number; varA: number; varDiff: number } {
  const P = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const N = labels.flatMap((l, i) => (l === 0 ? [i] : []));
  const comp = (s: number[]): { v10: number[]; v01: number[] } => ({
    v10: P.map((i) => N.reduce((acc, j) => acc + psi(s[i]!, s[j]!), 0) / N.length),
    v01: N.map((j) => P.reduce((acc, i) => acc + psi(s[i]!, s[j]!), 0) / P.length),
  });
  const cov = (u: number[], v: number[]): number => {
    const mu = u.reduce((x, y) => x + y, 0) / u.length;
    const mv = v.reduce((x, y) => x + y, 0) / v.length;
    return u.reduce((acc, x, k) => acc + (x - mu) * (v[k]! - mv), 0) / (u.length - 1);
  };
  const ca = comp(a);
  const cb = comp(b);
  const aucA = ca.v10.reduce((x, y) => x + y, 0) / P.length;
  const varA = cov(ca.v10, ca.v10) / P.length + cov(ca.v01, ca.v01) / N.length;
  const d10 = ca.v10.map((x, k) => x - cb.v10[k]!);
  const d01 = ca.v01.map((x, k) => x - cb.v01[k]!);
  return { aucA, varA, varDiff: cov(d10, d10) / P.length + cov(d01, d01) / N.length };
}

const cases = fc
  .array(fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })), {
    minLength: 4,
    maxLength: 60,
  })
  .filter((rows) => rows.filter((r) => r[0] === 1).length >= 2 && rows.filter((r) => r[0] === 0).length >= 2);

describe('AUC and DeLong properties', () => {
  it('match the pairwise definitions on random tied scores', () => {
    fc.assert(
      fc.property(cases, (rows) => {
        const labels = rows.map((r) => r[0]);
        const a = rows.map((r) => r[1] / 6);
        const b = rows.map((r) => r[2] / 6);
        const ref = bruteForce(labels, a, b);
        expect(rocAuc(labels, a)).toBeCloseTo(ref.aucA, 12);
        const ci = delongCi(labels, a);
        expect(ci.variance).toBeCloseTo(ref.varA, 12);
        expect(ci.lower).toBeLessThanOrEqual(ci.auc);
        expect(ci.upper).toBeGreaterThanOrEqual(ci.auc);
        expect(pairedDelong(labels, a, b).variance).toBeCloseTo(Math.max(0, ref.varDiff), 12);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
