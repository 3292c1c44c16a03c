// Holdout evaluation computed by the platform (never taken from a trainer): clinical metrics with CIs, the chosen
// threshold and its confusion matrix, curves, subgroups (sex, age band, named columns), importance, comparison.
import { chooseThreshold, evaluateBinary, metricsAt, pairedDelong, delongCi, type ThresholdMethod } from '@ichigen/ml';

export interface CurvePoints {
  x: number[];
  y: number[];
  thresholds?: number[];
}

export interface SubgroupMetrics {
  column: string;
  group: string;
  n: number;
  positives: number;
  prevalence: number;
  auc: number | null;
  aucCi: { lower: number; upper: number } | null;
  sensitivity: number | null;
  specificity: number | null;
  ppv: number | null;
  /** Too few patients (< 30) or too few of one class (< 5) for stable estimates. */
  flagged: boolean;
  flagReason?: string;
}

export interface HoldoutMetrics {
  n: number;
  positives: number;
  prevalence: number;
  auc: number;
  aucCi: { lower: number; upper: number; level: number };
  averagePrecision: number;
  accuracy: number;
  sensitivity: number;
  specificity: number;
  ppv: number;
  npv: number;
  f1: number;
  brier: number | null;
  logLoss: number | null;
  calibration: {
    slope: number;
    intercept: number;
    curve: { meanPredicted: number[]; fractionPositive: number[]; count: number[] };
  } | null;
  threshold: { value: number; method: string; target?: number };
  confusion: { tp: number; fp: number; tn: number; fn: number };
  roc: CurvePoints;
  pr: CurvePoints;
  subgroups: SubgroupMetrics[];
  importance: {
    feature: string;
    gain: number | null;
    split: number | null;
    meanAbsShap: number | null;
    coefficient: number | null;
  }[];
}

export interface ComparisonResult {
  against: { model: string; version: number };
  n: number;
  candidateAuc: number;
  approvedAuc: number;
  difference: number;
  pValue: number;
  note: string;
}

const num = (x: number) => (Number.isFinite(x) ? x : 0);

/** Keeps at most `max` points of a curve (always the first and last), so cards and the UI stay small. */
export function thin(xs: ArrayLike<number>, ys: ArrayLike<number>, ts?: ArrayLike<number>, max = 201): CurvePoints {
  const n = xs.length;
  const step = Math.max(1, Math.ceil(n / (max - 1)));
  const idx: number[] = [];
  for (let i = 0; i < n; i += step) idx.push(i);
  if (idx[idx.length - 1] !== n - 1 && n > 0) idx.push(n - 1);
  return {
    x: idx.map((i) => xs[i]!),
    y: idx.map((i) => ys[i]!),
    ...(ts ? { thresholds: idx.map((i) => (Number.isFinite(ts[i]!) ? ts[i]! : 1)) } : {}),
  };
}

export interface SubgroupColumn {
  name: string;
  values: ArrayLike<number | string | null>;
}

/** Bands a column's values into subgroups: categories as they are, ages in clinical decades, other numbers in quartiles. */
export function subgroupLabels(col: SubgroupColumn): (string | null)[] {
  const vals = Array.from(col.values);
  const numeric = vals.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (numeric.length === 0 || numeric.length < vals.filter((v) => v !== null).length) {
    return vals.map((v) =>
      v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v)) ? null : String(v),
    );
  }
  if (/^(age|age_years|年齢)$/i.test(col.name)) {
    return vals.map((v) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) return null;
      if (v < 40) return '<40';
      if (v >= 80) return '80+';
      const lo = Math.floor(v / 10) * 10;
      return `${lo}-${lo + 9}`;
    });
  }
  const distinct = new Set(numeric);
  if (distinct.size <= 10) return vals.map((v) => (typeof v === 'number' && Number.isFinite(v) ? String(v) : null));
  const sorted = [...numeric].sort((a, b) => a - b);
  const q = [0.25, 0.5, 0.75].map((p) => sorted[Math.floor(p * (sorted.length - 1))]!);
  return vals.map((v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    const k = v <= q[0]! ? 0 : v <= q[1]! ? 1 : v <= q[2]! ? 2 : 3;
    return `Q${k + 1}`;
  });
}

export function subgroupMetrics(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
  cols: SubgroupColumn[],
): SubgroupMetrics[] {
  const out: SubgroupMetrics[] = [];
  for (const col of cols) {
    const bands = subgroupLabels(col);
    const groups = new Map<string, number[]>();
    bands.forEach((b, i) => {
      const g = b ?? '(missing)';
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push(i);
    });
    const ordered = [...groups.entries()].sort((a, b) => b[1].length - a[1].length).slice(0, 30);
    for (const [group, idx] of ordered.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const y = Float64Array.from(idx, (i) => labels[i]!);
      const s = Float64Array.from(idx, (i) => scores[i]!);
      const pos = y.reduce((a, b) => a + b, 0);
      const neg = y.length - pos;
      let auc: number | null = null;
      let aucCi: SubgroupMetrics['aucCi'] = null;
      if (pos > 0 && neg > 0) {
        const ci = delongCi(y, s);
        auc = ci.auc;
        aucCi = { lower: ci.lower, upper: ci.upper };
      }
      const m = metricsAt(y, s, threshold);
      const flagReason =
        y.length < 30
          ? 'fewer than 30 patients'
          : pos < 5 || neg < 5
            ? 'fewer than 5 patients in one outcome class'
            : undefined;
      out.push({
        column: col.name,
        group,
        n: y.length,
        positives: pos,
        prevalence: y.length ? pos / y.length : 0,
        auc,
        aucCi,
        sensitivity: pos > 0 ? m.sensitivity : null,
        specificity: neg > 0 ? m.specificity : null,
        ppv: m.tp + m.fp > 0 ? m.ppv : null,
        flagged: flagReason !== undefined,
        ...(flagReason ? { flagReason } : {}),
      });
    }
  }
  return out;
}

export function evaluateHoldout(
  labels: Float64Array,
  scores: Float64Array,
  opts: { threshold: ThresholdMethod; subgroups: SubgroupColumn[]; importance: HoldoutMetrics['importance'] },
): HoldoutMetrics {
  const chosen = chooseThreshold(labels, scores, opts.threshold);
  const ev = evaluateBinary(labels, scores, { threshold: chosen.threshold });
  const cal = ev.calibration;
  return {
    n: ev.n,
    positives: ev.positives,
    prevalence: ev.prevalence,
    auc: ev.auc,
    aucCi: { lower: ev.aucCi.lower, upper: ev.aucCi.upper, level: ev.aucCi.level },
    averagePrecision: ev.averagePrecision,
    accuracy: ev.accuracy,
    sensitivity: ev.sensitivity,
    specificity: ev.specificity,
    ppv: num(ev.ppv),
    npv: num(ev.npv),
    f1: num(ev.f1),
    brier: ev.brier,
    logLoss: ev.logLoss,
    calibration: cal
      ? {
          slope: cal.fit.slope,
          intercept: cal.fit.intercept,
          curve: {
            meanPredicted: Array.from(cal.uniform.meanPredicted),
            fractionPositive: Array.from(cal.uniform.fractionPositive),
            count: Array.from(cal.uniform.count),
          },
        }
      : null,
    threshold: {
      value: chosen.threshold,
      method: opts.threshold.method,
      ...('target' in opts.threshold ? { target: opts.threshold.target } : {}),
    },
    confusion: { tp: ev.tp, fp: ev.fp, tn: ev.tn, fn: ev.fn },
    roc: thin(ev.roc.fpr, ev.roc.tpr, ev.roc.thresholds),
    pr: thin(ev.pr.recall, ev.pr.precision, ev.pr.thresholds),
    subgroups: subgroupMetrics(labels, scores, chosen.threshold, opts.subgroups),
    importance: opts.importance,
  };
}

/** Compares a candidate with the approved version on the same holdout rows (paired DeLong). */
export function compareOnHoldout(
  labels: Float64Array,
  candidate: Float64Array,
  approved: Float64Array,
  against: { model: string; version: number },
  note: string,
): ComparisonResult {
  const r = pairedDelong(labels, candidate, approved);
  return {
    against,
    n: labels.length,
    candidateAuc: r.aucA,
    approvedAuc: r.aucB,
    difference: r.aucA - r.aucB,
    pValue: r.pValue,
    note,
  };
}
