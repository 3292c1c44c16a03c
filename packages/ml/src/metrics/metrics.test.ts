// Checks every binary and regression metric against scikit-learn's values on the shared fixtures
// (packages/ml/test/fixtures/metrics.json, made by make_fixtures.py), plus properties the fixtures cannot show.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  averagePrecision,
  brierScore,
  calibrationCurve,
  calibrationSlopeIntercept,
  chooseThreshold,
  confusionAt,
  delongCi,
  evaluateBinary,
  evaluateRegression,
  logLoss,
  metricsAt,
  midranks,
  normalCdf,
  normalQuantile,
  normalSf,
  pairedDelong,
  precisionRecallCurve,
  rocAuc,
  rocCurve,
} from './index.js';

type Num = number | 'inf';
interface Case {
  name: string;
  labels: number[];
  scores: number[];
  scores2?: number[];
  threshold: number;
  nBins: number;
  auc: number;
  roc: { fpr: number[]; tpr: number[]; thresholds: Num[] };
  rocFull: { fpr: number[]; tpr: number[]; thresholds: Num[] };
  youden: { threshold: number; j: number };
  sens80: { threshold: number; sensitivity: number; specificity: number };
  sens90: { threshold: number; sensitivity: number; specificity: number };
  pr: { precision: number[]; recall: number[]; thresholds: number[] };
  averagePrecision: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  accuracy: number;
  f1: number;
  ppv: number;
  npv: number;
  sensitivity: number;
  specificity: number;
  brier?: number;
  logLoss?: number;
  calibration?: Record<'uniform' | 'quantile', { fractionPositive: number[]; meanPredicted: number[] }>;
  calibrationSlope?: number;
  calibrationIntercept?: number;
  calibrationInterceptWithSlope?: number;
  delong: { auc: number; variance: number; lower: number; upper: number };
  pairedDelong?: { aucA: number; aucB: number; difference: number; z: number; pValue: number };
}
const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/metrics.json', import.meta.url), 'utf8')) as {
  binary: Case[];
  regression: { yTrue: number[]; yPred: number[]; rmse: number; mae: number; r2: number };
};

function close(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(tol);
}

describe.each(fixture.binary)('binary metrics vs scikit-learn: $name', (c) => {
  const y = c.labels;
  const s = c.scores;

  it('AUC equals roc_auc_score and the fast DeLong AUC', () => {
    expect(rocAuc(y, s)).toBeCloseTo(c.auc, 12);
    expect(delongCi(y, s).auc).toBeCloseTo(c.auc, 12);
  });

  it('ROC curve equals roc_curve (drop_intermediate true and false)', () => {
    for (const [mine, ref] of [
      [rocCurve(y, s), c.roc],
      [rocCurve(y, s, { dropIntermediate: false }), c.rocFull],
    ] as const) {
      close(mine.fpr, ref.fpr);
      close(mine.tpr, ref.tpr);
      // sklearn 1.2 puts max+1 first; we put +Infinity (sklearn >= 1.3). The rest must be identical.
      expect(mine.thresholds[0]).toBe(Infinity);
      close(mine.thresholds.subarray(1), ref.thresholds.slice(1) as number[]);
    }
  });

  it('precision-recall curve and average precision equal sklearn', () => {
    const pr = precisionRecallCurve(y, s);
    close(pr.precision, c.pr.precision);
    close(pr.recall, c.pr.recall);
    close(pr.thresholds, c.pr.thresholds);
    expect(averagePrecision(y, s)).toBeCloseTo(c.averagePrecision, 12);
  });

  it('confusion matrix, accuracy, F1, sensitivity, specificity, PPV and NPV at the threshold equal sklearn', () => {
    expect(confusionAt(y, s, c.threshold)).toEqual(c.confusion);
    const m = metricsAt(y, s, c.threshold);
    expect(m.accuracy).toBeCloseTo(c.accuracy, 14);
    expect(m.f1).toBeCloseTo(c.f1, 14);
    // sklearn: recall and precision of each class.
    expect(m.sensitivity).toBeCloseTo(c.sensitivity, 14);
    expect(m.specificity).toBeCloseTo(c.specificity, 14);
    expect(m.ppv).toBeCloseTo(c.ppv, 14);
    expect(m.npv).toBeCloseTo(c.npv, 14);
  });

  it('thresholds chosen by Youden and by target sensitivity match the full ROC curve', () => {
    const yj = chooseThreshold(y, s, { method: 'youden' });
    expect(yj.threshold).toBe(c.youden.threshold);
    expect(yj.youden).toBeCloseTo(c.youden.j, 12);
    for (const [target, ref] of [
      [0.8, c.sens80],
      [0.9, c.sens90],
    ] as const) {
      const t = chooseThreshold(y, s, { method: 'sensitivity', target });
      expect(t.threshold).toBe(ref.threshold);
      expect(t.sensitivity).toBeCloseTo(ref.sensitivity, 12);
      expect(t.specificity).toBeCloseTo(ref.specificity, 12);
    }
  });

  it('DeLong variance and CI equal the O(n²) reference', () => {
    const ci = delongCi(y, s);
    expect(ci.variance).toBeCloseTo(c.delong.variance, 14);
    expect(ci.lower).toBeCloseTo(c.delong.lower, 12);
    expect(ci.upper).toBeCloseTo(c.delong.upper, 12);
  });

  it.runIf(c.pairedDelong !== undefined)('paired DeLong test equals the O(n²) reference', () => {
    const r = pairedDelong(y, s, c.scores2!);
    const ref = c.pairedDelong!;
    expect(r.aucA).toBeCloseTo(ref.aucA, 12);
    expect(r.aucB).toBeCloseTo(ref.aucB, 12);
    expect(r.z).toBeCloseTo(ref.z, 10);
    expect(Math.abs(r.pValue - ref.pValue) / ref.pValue).toBeLessThan(1e-10);
  });

  it.runIf(c.brier !== undefined)('Brier, log loss and calibration curves equal sklearn', () => {
    expect(brierScore(y, s)).toBeCloseTo(c.brier!, 14);
    expect(logLoss(y, s)).toBeCloseTo(c.logLoss!, 12);
    for (const strategy of ['uniform', 'quantile'] as const) {
      const cc = calibrationCurve(y, s, { nBins: c.nBins, strategy });
      close(cc.fractionPositive, c.calibration![strategy].fractionPositive);
      close(cc.meanPredicted, c.calibration![strategy].meanPredicted);
    }
  });

  it.runIf(c.calibrationSlope !== undefined)('calibration slope and intercepts equal the Newton reference', () => {
    const f = calibrationSlopeIntercept(y, s);
    expect(f.converged).toBe(true);
    expect(f.slope).toBeCloseTo(c.calibrationSlope!, 8);
    expect(f.intercept).toBeCloseTo(c.calibrationIntercept!, 8);
    expect(f.interceptWithSlope).toBeCloseTo(c.calibrationInterceptWithSlope!, 8);
  });

  it('evaluateBinary agrees with the single-metric functions', () => {
    const e = evaluateBinary(y, s, { threshold: c.threshold, calibrationBins: c.nBins });
    expect(e.auc).toBeCloseTo(c.auc, 12);
    expect(e.aucCi.lower).toBeCloseTo(c.delong.lower, 12);
    expect(e.tp).toBe(c.confusion.tp);
    expect(e.averagePrecision).toBeCloseTo(c.averagePrecision, 12);
    if (c.brier === undefined) expect(e.brier).toBeNull();
    else expect(e.brier).toBeCloseTo(c.brier, 14);
  });
});

describe('metric properties', () => {
  it('regression metrics equal sklearn', () => {
    const r = evaluateRegression(fixture.regression.yTrue, fixture.regression.yPred);
    expect(r.rmse).toBeCloseTo(fixture.regression.rmse, 12);
    expect(r.mae).toBeCloseTo(fixture.regression.mae, 12);
    expect(r.r2).toBeCloseTo(fixture.regression.r2, 12);
    expect(evaluateRegression([2, 2], [2, 2]).r2).toBe(1);
    expect(evaluateRegression([2, 2], [2, 3]).r2).toBe(0);
  });

  it('midranks average tied ranks', () => {
    expect(Array.from(midranks(Float64Array.of(3, 1, 3, 2, 3)))).toEqual([4, 1, 4, 2, 4]);
  });

  it('normal distribution functions agree with known values', () => {
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 14);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(1e-10)).toBeCloseTo(-6.361340902404056, 9);
    // scipy.stats.norm.sf(6) = 9.865876450376946e-10: the tail keeps its relative precision.
    expect(Math.abs(normalSf(6) - 9.865876450376946e-10) / 9.865876450376946e-10).toBeLessThan(1e-12);
  });

  it('AUC is invariant to monotone transforms and flips to 1 − AUC when scores are negated', () => {
    const y = fixture.binary[0]!.labels;
    const s = fixture.binary[0]!.scores;
    const auc = rocAuc(y, s);
    expect(
      rocAuc(
        y,
        s.map((v) => Math.exp(3 * v)),
      ),
    ).toBeCloseTo(auc, 14);
    expect(
      rocAuc(
        y,
        s.map((v) => -v),
      ),
    ).toBeCloseTo(1 - auc, 14);
  });

  it('paired DeLong of a model with itself has p = 1', () => {
    const c = fixture.binary[0]!;
    const r = pairedDelong(c.labels, c.scores, c.scores);
    expect(r.difference).toBe(0);
    expect(r.pValue).toBe(1);
  });

  it('calibration slope is not reported for separated data', () => {
    const f = calibrationSlopeIntercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]);
    expect(f.converged).toBe(false);
    expect(f.slope).toBeNaN();
    expect(f.intercept).toBeCloseTo(0, 12); // symmetric predictions: calibration-in-the-large is perfect
  });

  it('rejects bad input with stable codes', () => {
    expect(() => rocAuc([], [])).toThrow(expect.objectContaining({ code: 'EMPTY_INPUT' }));
    expect(() => rocAuc([1, 1], [0.2, 0.3])).toThrow(expect.objectContaining({ code: 'SINGLE_CLASS' }));
    expect(() => rocAuc([0, 2], [0.2, 0.3])).toThrow(expect.objectContaining({ code: 'LABEL_NOT_BINARY' }));
    expect(() => rocAuc([0, 1], [0.2, NaN])).toThrow(expect.objectContaining({ code: 'SCORE_NOT_FINITE' }));
    expect(() => rocAuc([0, 1], [0.2])).toThrow(expect.objectContaining({ code: 'LENGTH_MISMATCH' }));
    expect(() => brierScore([0, 1], [0.2, 1.5])).toThrow(expect.objectContaining({ code: 'SCORE_NOT_PROBABILITY' }));
    expect(() => chooseThreshold([0, 1], [0.2, 0.3], { method: 'sensitivity', target: 2 })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    );
  });
});
