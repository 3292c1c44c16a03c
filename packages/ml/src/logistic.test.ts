// Logistic regression: coefficients agree with scikit-learn's LogisticRegression on the shared fixture,
// explanations add up to the logit, JSON round-trips and tampering is caught, bad input is rejected.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Frame } from './frame.js';
import { LogisticModel, trainLogistic, type LogisticOptions } from './logistic.js';

interface Fit {
  name: string;
  params: { C?: number; penalty: string | null; l1_ratio?: number; class_weight?: 'balanced' | Record<string, number> };
  designNames: string[];
  coef: number[];
  intercept: number;
  proba: number[];
}
const fx = JSON.parse(readFileSync(new URL('../test/fixtures/logistic.json', import.meta.url), 'utf8')) as {
  columns: Record<string, (number | null)[] | string[]>;
  labels: number[];
  means: Record<string, number>;
  stds: Record<string, number>;
  fits: Fit[];
};

function fixtureFrame(numericOnly: boolean): Frame {
  const cols = { ...fx.columns } as Record<string, (number | null)[] | string[]>;
  if (numericOnly) delete cols.ward;
  return Frame.fromColumns(cols);
}

function optionsFor(fit: Fit): LogisticOptions {
  const cw = fit.params.class_weight;
  return {
    penalty: (fit.params.penalty ?? 'none') as LogisticOptions['penalty'],
    ...(fit.params.C !== undefined && fit.params.penalty !== null ? { C: fit.params.C } : {}),
    ...(fit.params.l1_ratio !== undefined ? { l1Ratio: fit.params.l1_ratio } : {}),
    ...(cw === 'balanced'
      ? { classWeight: 'balanced' as const }
      : cw
        ? { classWeight: { 0: cw['0']!, 1: cw['1']! } }
        : {}),
    missingIndicator: fit.designNames.includes('egfr__missing'),
    tol: 1e-10,
  };
}

describe('trainLogistic vs scikit-learn LogisticRegression', () => {
  it.each(fx.fits)('$name: coefficients within 1e-6 and probabilities within 1e-8', async (fit) => {
    const numericOnly = fit.designNames.length === 4;
    const frame = fixtureFrame(numericOnly);
    const model = await trainLogistic(frame, fx.labels, optionsFor(fit));
    expect(model.training).toMatchObject({ converged: true });
    // Same design columns; ours follow the dictionary's first-appearance order, so compare by name.
    expect([...model.designNames].sort()).toEqual([...fit.designNames].sort());
    const mine = new Map(model.designNames.map((name, j) => [name, model.coefficients[j]!]));
    const coef = fit.designNames.map((name) => mine.get(name)!);
    for (let j = 0; j < fit.coef.length; j++) expect(Math.abs(coef[j]! - fit.coef[j]!)).toBeLessThan(1e-6);
    expect(Math.abs(model.intercept - fit.intercept)).toBeLessThan(1e-6);
    const p = model.predictProba(frame);
    let maxDiff = 0;
    for (let i = 0; i < p.length; i++) maxDiff = Math.max(maxDiff, Math.abs(p[i]! - fit.proba[i]!));
    expect(maxDiff).toBeLessThan(1e-8);
    // Exact zeros of the L1 solution are exact zeros here too.
    if (fit.name === 'l1') for (let j = 0; j < fit.coef.length; j++) if (fit.coef[j] === 0) expect(coef[j]).toBe(0);
  });

  it('keeps training mean and population std as the standardization', async () => {
    const model = await trainLogistic(fixtureFrame(false), fx.labels, { missingIndicator: true });
    for (const f of model.features) {
      if (f.kind !== 'numeric') continue;
      expect(f.mean).toBeCloseTo(fx.means[f.name]!, 12);
      expect(f.std).toBeCloseTo(fx.stds[f.name]!, 12);
    }
  });
});

describe('LogisticModel', () => {
  const frame = fixtureFrame(false);

  it('constant and all-missing features get no weight; more features than rows still fits', async () => {
    const n = fx.labels.length;
    const withJunk = new Frame([
      ...frame.columns,
      { name: 'const', kind: 'numeric', values: new Float64Array(n).fill(7) },
      { name: 'empty', kind: 'numeric', values: new Float64Array(n).fill(Number.NaN) },
    ]);
    for (const penalty of ['l2', 'l1'] as const) {
      const model = await trainLogistic(withJunk, fx.labels, { penalty, missingIndicator: true });
      const p = model.predictProba(withJunk);
      expect(p.every((x) => Number.isFinite(x) && x > 0 && x < 1)).toBe(true);
      // The same probabilities as without the two columns: they carry no information and get none of the fit.
      const plain = await trainLogistic(frame, fx.labels, { penalty, missingIndicator: true });
      const q = plain.predictProba(frame);
      expect(Math.max(...p.map((x, i) => Math.abs(x - q[i]!)))).toBeLessThan(1e-6);
      const { values } = model.explain(withJunk);
      const at = (name: string) => model.features.findIndex((f) => f.name === name);
      expect(values.every((row) => row[at('const')] === 0 && row[at('empty')] === 0)).toBe(true);
    }
    // 40 rows, 60 features (L2 keeps the problem well posed): fits, and separates the training rows.
    const rows = 40;
    let seed = 5;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const cols: Record<string, Float64Array> = {};
    for (let f = 0; f < 60; f++) cols[`f${f}`] = Float64Array.from({ length: rows }, rnd);
    const y = Float64Array.from({ length: rows }, (_, i) => (cols.f3![i]! + cols.f7![i]! > 1 ? 1 : 0));
    const wide = Frame.fromColumns(cols);
    const m = await trainLogistic(wide, y, { penalty: 'l2', C: 1 });
    const pw = m.predictProba(wide);
    expect(pw.every((x) => Number.isFinite(x))).toBe(true);
    const correct = pw.reduce((a, x, i) => a + ((x >= 0.5 ? 1 : 0) === y[i] ? 1 : 0), 0);
    expect(correct).toBeGreaterThanOrEqual(36);
  });

  it('explain: contributions plus intercept equal the logit for every row', async () => {
    const model = await trainLogistic(frame, fx.labels, { missingIndicator: true, C: 0.5 });
    const { baseValue, values } = model.explain(frame);
    const p = model.predictProba(frame);
    let worst = 0;
    values.forEach((row, i) => {
      const logit = baseValue + row.reduce((a, b) => a + b, 0);
      worst = Math.max(worst, Math.abs(1 / (1 + Math.exp(-logit)) - p[i]!));
    });
    expect(worst).toBeLessThan(1e-12);
    // A row with missing eGFR gets the indicator's coefficient as that feature's contribution.
    const egfr = frame.column('egfr');
    const missingRow = egfr.kind === 'numeric' ? egfr.values.findIndex((v) => Number.isNaN(v)) : -1;
    expect(missingRow).toBeGreaterThanOrEqual(0);
    const f = model.features.find((g) => g.name === 'egfr');
    expect(values[missingRow]![3]).toBe(f?.kind === 'numeric' ? f.missingCoef : NaN);
  });

  it('predictRow agrees with predictProba, maps categories by name and treats unseen ones as missing', async () => {
    const model = await trainLogistic(frame, fx.labels);
    const p = model.predictProba(frame);
    for (const i of [0, 5, 17]) expect(model.predictRow(frame.row(i))).toBeCloseTo(p[i]!, 14);
    // A frame whose dictionary lists the wards in another order gives the same answers.
    const reordered = Frame.fromColumns({ ...fx.columns, ward: (fx.columns.ward as string[]).map((w) => w) });
    const wardCol = reordered.column('ward');
    const rev = Frame.fromColumns({ ...fx.columns, ward: [...(fx.columns.ward as string[])].reverse() });
    expect(wardCol.kind).toBe('categorical');
    const pr = model.predictProba(rev);
    const flipped = model.predictProba(
      Frame.fromColumns({ ...fx.columns, ward: [...(fx.columns.ward as string[])].reverse() }),
    );
    expect(pr).toEqual(flipped);
    const row = { ...frame.row(3), ward: 'Z' };
    const asMissing = { ...frame.row(3), ward: null };
    expect(model.predictRow(row)).toBe(model.predictRow(asMissing));
  });

  it('round-trips through JSON text exactly and rejects tampered, truncated or foreign files', async () => {
    const model = await trainLogistic(frame, fx.labels, { penalty: 'elasticnet', C: 0.2, missingIndicator: true });
    const text = JSON.stringify(model);
    const back = LogisticModel.fromJSON(text);
    expect(back.predictProba(frame)).toEqual(model.predictProba(frame));
    expect(back.toJSON()).toEqual(model.toJSON());
    const j = JSON.parse(text) as { intercept: number; format: string; formatVersion: number; engineVersion: string };
    expect(() => LogisticModel.fromJSON({ ...j, intercept: j.intercept + 1e-9 })).toThrow(
      expect.objectContaining({ code: 'MODEL_CHECKSUM' }),
    );
    expect(() => LogisticModel.fromJSON(text.slice(0, text.length - 10))).toThrow(
      expect.objectContaining({ code: 'MODEL_CORRUPT' }),
    );
    expect(() => LogisticModel.fromJSON({ ...j, format: 'ichigen.gbdt' })).toThrow(
      expect.objectContaining({ code: 'MODEL_FORMAT' }),
    );
    expect(() => LogisticModel.fromJSON({ ...j, formatVersion: 2 })).toThrow(
      expect.objectContaining({ code: 'MODEL_VERSION' }),
    );
    expect(() => LogisticModel.fromJSON({ ...j, engineVersion: '99.0.0' })).toThrow(
      expect.objectContaining({ code: 'MODEL_VERSION' }),
    );
  });

  it('rejects bad training input and frames without the model features', async () => {
    const empty = Frame.fromColumns({ a: [] as number[] });
    await expect(trainLogistic(empty, [])).rejects.toMatchObject({ code: 'EMPTY_FRAME' });
    const f = Frame.fromColumns({ a: [1, 2, 3, 4] });
    await expect(trainLogistic(f, [1, 1, 1, 1])).rejects.toMatchObject({ code: 'SINGLE_CLASS' });
    await expect(trainLogistic(f, [0, 1, NaN, 1])).rejects.toMatchObject({ code: 'LABEL_NOT_FINITE' });
    await expect(trainLogistic(f, [0, 1, Infinity, 1])).rejects.toMatchObject({ code: 'LABEL_NOT_FINITE' });
    await expect(trainLogistic(f, [0, 1, 2, 1])).rejects.toMatchObject({ code: 'LABEL_NOT_BINARY' });
    await expect(trainLogistic(f, [0, 1, 1])).rejects.toMatchObject({ code: 'LABEL_LENGTH' });
    await expect(trainLogistic(f, [0, 1, 0, 1], { C: -1 })).rejects.toMatchObject({ code: 'INVALID_PARAM' });
    const model = await trainLogistic(f, [0, 1, 0, 1]);
    expect(() => model.predictProba(Frame.fromColumns({ b: [1] }))).toThrow(
      expect.objectContaining({ code: 'FEATURE_MISSING' }),
    );
    expect(() => model.predictProba(Frame.fromColumns({ a: ['x'] }))).toThrow(
      expect.objectContaining({ code: 'FEATURE_KIND_MISMATCH' }),
    );
    expect(() => model.predictRow({ b: 1 })).toThrow(expect.objectContaining({ code: 'FEATURE_MISSING' }));
  });

  it('balanced class weights raise the predicted prevalence of a rare class', async () => {
    const numeric = fixtureFrame(true);
    const rare = fx.labels.map((v, i) => (v === 1 && i % 4 === 0 ? 1 : 0));
    const plain = await trainLogistic(numeric, rare);
    const balanced = await trainLogistic(numeric, rare, { classWeight: 'balanced' });
    const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(balanced.predictProba(numeric))).toBeGreaterThan(0.4);
    expect(mean(plain.predictProba(numeric))).toBeLessThan(0.15);
  });
});

describe('loadModel', () => {
  it('reads a logistic model file by its format field', async () => {
    const { loadModel } = await import('./model.js');
    const frame = fixtureFrame(true);
    const model = await trainLogistic(frame, fx.labels);
    const loaded = loadModel(JSON.stringify(model));
    expect(loaded).toBeInstanceOf(LogisticModel);
    expect(loaded.predictProba(frame)).toEqual(model.predictProba(frame));
  });
});
