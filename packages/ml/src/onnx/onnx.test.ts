// Runs every exported model in onnxruntime-node and compares with the native predictor on 10,000 rows with
// missing values and categories (max |Δ| < 1e-5), plus the float32 threshold rounding rule on its own.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { GbdtModelJson, GbdtTreeJson } from '../gbdt/model.js';
import { trainGbdt } from '../gbdt/train.js';
import { Frame } from '../frame.js';
import { trainLogistic } from '../logistic.js';
import { decodeModel } from './proto.js';
import { float32Threshold, modelToOnnx } from './index.js';

const N = 10_000;

/** Deterministic rows: float32-representable numerics with ~10 % missing, a 5-level category with ~8 % missing. */
function dataset(seed: number): { frame: Frame; labels: number[]; input: Float32Array } {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const lab = new Float64Array(N);
  const bmi = new Float64Array(N);
  const ward: (string | null)[] = [];
  const labels: number[] = [];
  const levels = ['ICU', 'ER', 'GEN', 'PED', 'OBS'];
  for (let i = 0; i < N; i++) {
    lab[i] = rand() < 0.1 ? NaN : Math.fround(rand() * 200 - 50);
    bmi[i] = rand() < 0.1 ? NaN : Math.fround(15 + rand() * 25);
    ward.push(rand() < 0.08 ? null : levels[Math.floor(rand() * 5)]!);
    const z =
      (Number.isNaN(lab[i]!) ? 0.5 : lab[i]! / 60) - (bmi[i]! > 30 ? 1 : 0) + (ward[i] === 'ICU' ? 1.5 : 0) - 0.5;
    labels.push(rand() < 1 / (1 + Math.exp(-z)) ? 1 : 0);
  }
  const frame = Frame.fromColumns({ lab, bmi, ward });
  const wc = frame.column('ward');
  const input = new Float32Array(N * 3);
  for (let i = 0; i < N; i++) {
    input[i * 3] = lab[i]!;
    input[i * 3 + 1] = bmi[i]!;
    const code = wc.kind === 'categorical' ? wc.codes[i]! : -1;
    input[i * 3 + 2] = code < 0 ? NaN : code;
  }
  return { frame, labels, input };
}

async function runOnnx(bytes: Uint8Array, input: Float32Array, F: number): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes);
  return (await session.run({ input: new ort.Tensor('float32', input, [input.length / F, F]) })) as Record<
    string,
    ort.Tensor
  >;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Column 1 of an [N, 2] probability tensor. */
function positive(t: ort.Tensor): Float64Array {
  const d = t.data as Float32Array;
  return Float64Array.from({ length: d.length / 2 }, (_, i) => d[2 * i + 1]!);
}

/** The tree JSON semantics written out directly: the reference for hand-built trees. */
function nativeMargin(json: GbdtModelJson, input: Float32Array, F: number): Float64Array {
  const n = input.length / F;
  const out = new Float64Array(n).fill(json.baseScore);
  for (let i = 0; i < n; i++) {
    for (const t of json.trees) {
      let j = 0;
      while (t.splitFeature[j]! >= 0) {
        const x = input[i * F + t.splitFeature[j]!]!;
        const cats = t.categories[j];
        const left = Number.isNaN(x) ? t.defaultLeft[j]! : cats ? cats.includes(x) : x <= t.threshold[j]!;
        j = left ? t.left[j]! : t.right[j]!;
      }
      out[i] = out[i]! + t.value[j]!;
    }
  }
  return out;
}

function tree(
  nodes: { f: number; thr?: number; cats?: number[]; dl?: boolean; l?: number; r?: number; v?: number }[],
): GbdtTreeJson {
  return {
    splitFeature: nodes.map((n) => n.f),
    threshold: nodes.map((n) => n.thr ?? 0),
    categories: nodes.map((n) => n.cats ?? null),
    defaultLeft: nodes.map((n) => n.dl ?? false),
    left: nodes.map((n) => n.l ?? -1),
    right: nodes.map((n) => n.r ?? -1),
    value: nodes.map((n) => n.v ?? 0),
    cover: nodes.map(() => 1),
    gain: nodes.map(() => 0),
  };
}

const handBuilt = (objective: 'binary' | 'regression'): GbdtModelJson =>
  ({
    format: 'ichigen.gbdt',
    objective,
    features: [
      { name: 'lab', kind: 'numeric', binEdges: [] },
      { name: 'bmi', kind: 'numeric', binEdges: [] },
      { name: 'ward', kind: 'categorical', dictionary: ['ICU', 'ER', 'GEN', 'PED', 'OBS'] },
    ],
    baseScore: -0.3,
    trees: [
      // Thresholds that are not float32 numbers (0.1, 27.3) and one exactly halfway-ish: rounding must hold.
      tree([
        { f: 0, thr: 0.1, dl: true, l: 1, r: 2 },
        { f: 2, cats: [0, 3], dl: false, l: 3, r: 4 },
        { f: 1, thr: 27.3, dl: false, l: 5, r: 6 },
        { f: -1, v: 0.7 },
        { f: 2, cats: [1], dl: true, l: 7, r: 8 },
        { f: -1, v: -0.2 },
        { f: -1, v: 0.35 },
        { f: -1, v: -0.9 },
        { f: -1, v: 0.05 },
      ]),
      tree([
        { f: 2, cats: [4, 2, 1], dl: true, l: 1, r: 2 },
        { f: 0, thr: Math.fround(42.5), dl: false, l: 3, r: 4 },
        { f: -1, v: 0.15 },
        { f: -1, v: -0.4 },
        { f: 1, thr: 1e-45, dl: true, l: 5, r: 6 },
        { f: -1, v: 0.25 },
        { f: -1, v: 0.6 },
      ]),
      tree([{ f: -1, v: 0.125 }]),
    ],
  }) as unknown as GbdtModelJson;

describe('ONNX export', () => {
  const { frame, labels, input } = dataset(12345);

  it('rounds thresholds to the largest float32 not above them', () => {
    for (const t of [0.1, 27.3, -0.1, 1e-45, -1e-46, 3.5e38, 1e300, -3.5e38, Math.fround(42.5), 0, Infinity]) {
      const r = float32Threshold(t);
      expect(Math.fround(r)).toBe(r);
      expect(r).toBeLessThanOrEqual(t);
      // No float32 lies strictly between r and t: the next float32 up is above t.
      const up = new Float32Array([r]);
      const bits = new Uint32Array(up.buffer);
      if (r >= 0) bits[0] = bits[0]! + 1;
      else if (r < 0) bits[0] = bits[0]! - 1;
      if (Number.isFinite(up[0]!) && !(r === 0 && Object.is(r, -0))) expect(up[0]!).toBeGreaterThan(t);
    }
  });

  it('logistic regression: LinearClassifier probabilities match predictProba (in-graph imputation and one-hot)', async () => {
    const model = await trainLogistic(frame, labels, { missingIndicator: true, C: 0.5 });
    const bytes = modelToOnnx(model);
    expect(model.toOnnx()).toEqual(bytes);
    expect(decodeModel(bytes).graph.node.map((n) => n.op_type)).toContain('LinearClassifier');
    const out = await runOnnx(bytes, input, 3);
    const diff = maxAbsDiff(positive(out.probabilities!), model.predictProba(frame));
    expect(diff).toBeLessThan(1e-5);
    // JSON in, same bytes out: the exporter only reads the saved form.
    expect(modelToOnnx(model.toJSON())).toEqual(bytes);
  });

  it('hand-built binary trees with categorical chains and missing values match the tree semantics', async () => {
    const json = handBuilt('binary');
    const out = await runOnnx(modelToOnnx(json), input, 3);
    const margin = nativeMargin(json, input, 3);
    const p = margin.map((m) => 1 / (1 + Math.exp(-m)));
    expect(maxAbsDiff(positive(out.probabilities!), p)).toBeLessThan(1e-5);
    const lbl = out.label!.data as BigInt64Array;
    let wrong = 0;
    for (let i = 0; i < N; i++) if (Number(lbl[i]) !== (p[i]! > 0.5 ? 1 : 0) && Math.abs(p[i]! - 0.5) > 1e-6) wrong++;
    expect(wrong).toBe(0);
  });

  it('inputs exactly at a non-float32 threshold go the same way as in float64', async () => {
    const json = handBuilt('regression');
    // lab values at and next to float32(0.1): the native rule says x <= 0.1 (float64).
    const xs = [Math.fround(0.1), 0.10000000149011612, 0.09999999403953552, Math.fround(27.3), 0, -0];
    const rows = new Float32Array(xs.length * 3);
    xs.forEach((x, i) => {
      rows[i * 3] = x;
      rows[i * 3 + 1] = x > 1 ? x : 27.3;
      rows[i * 3 + 2] = 2;
    });
    const out = await runOnnx(modelToOnnx(json), rows, 3);
    expect(maxAbsDiff(out.variable!.data as Float32Array, nativeMargin(json, rows, 3))).toBeLessThan(1e-6);
  });

  it('hand-built regression trees match through TreeEnsembleRegressor', async () => {
    const json = handBuilt('regression');
    const out = await runOnnx(modelToOnnx(json), input, 3);
    expect(out.variable!.dims).toEqual([N, 1]);
    expect(maxAbsDiff(out.variable!.data as Float32Array, nativeMargin(json, input, 3))).toBeLessThan(1e-5);
  });

  it('a trained GBDT (numeric and categorical splits) matches predictProba on 10,000 rows', async () => {
    const model = await trainGbdt(frame, labels, {
      objective: 'binary',
      numTrees: 40,
      numLeaves: 15,
      seed: 1,
      numThreads: 1,
    });
    const json = model.toJSON();
    expect(json.trees.some((t) => t.categories.some((c) => c !== null))).toBe(true);
    const bytes = model.toOnnx();
    expect(modelToOnnx(model)).toEqual(bytes);
    const out = await runOnnx(bytes, input, 3);
    expect(maxAbsDiff(positive(out.probabilities!), model.predictProba(frame))).toBeLessThan(1e-5);
  });

  it('a trained GBDT regressor matches predict', async () => {
    const target = labels.map((y, i) => y * 2 + (i % 7) / 7);
    const model = await trainGbdt(frame, target, {
      objective: 'regression',
      numTrees: 20,
      numLeaves: 15,
      seed: 2,
      numThreads: 1,
    });
    const out = await runOnnx(modelToOnnx(model), input, 3);
    expect(maxAbsDiff(out.variable!.data as Float32Array, model.predict(frame))).toBeLessThan(1e-5);
  });

  it('refuses unknown model formats', () => {
    expect(() => modelToOnnx({ format: 'sklearn.pickle' })).toThrow(expect.objectContaining({ code: 'MODEL_FORMAT' }));
  });
});
