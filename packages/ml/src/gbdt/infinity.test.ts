// Infinite feature values must be routed by every predictor (batched, per row, TreeSHAP, ONNX) exactly as training
// routed them. Training bins +Infinity into the last value bin, so a split that sends every value bin left (stored
// with the threshold Number.MAX_VALUE, as JSON has no Infinity) sends +Infinity left too.
import * as ort from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { fitBinMappers } from '../binning.js';
import { Frame } from '../frame.js';
import { modelToOnnx } from '../onnx/index.js';
import { compileTrees, setPredictKernel, TreePredictor } from './predict.js';
import { trainGbdt } from './train.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/**
 * Rows where missingness carries the label (so splits "missing vs every value" appear) and where +/-Infinity, the
 * largest double and ordinary values all occur. Values are float32 numbers so ONNX sees the same inputs.
 */
function data(seed: number, n: number): { frame: Frame; labels: number[]; input: Float32Array } {
  const r = rng(seed);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = r();
    a[i] = u < 0.3 ? NaN : u < 0.45 ? Infinity : u < 0.5 ? -Infinity : Math.fround(r() * 10 - 5);
    const w = r();
    b[i] = w < 0.2 ? NaN : w < 0.3 ? Infinity : w < 0.35 ? Number.MAX_VALUE : Math.fround(r() * 4);
    const z = (a[i] !== a[i] ? -1.5 : 1) + (a[i] === Infinity ? 0.7 : 0) + (b[i] !== b[i] ? 1 : -0.3 * (b[i]! % 4));
    labels.push(r() < 1 / (1 + Math.exp(-z)) ? 1 : 0);
  }
  const input = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    input[2 * i] = a[i]!;
    input[2 * i + 1] = b[i]!; // MAX_VALUE becomes +Infinity in float32: training treats the two alike
  }
  return { frame: Frame.fromColumns({ a, b }), labels, input };
}

describe('infinite feature values', () => {
  test('predictRaw, predictRow, explain and ONNX route +/-Infinity as training did', async () => {
    const n = 3000;
    const { frame, labels, input } = data(7, n);
    const margins = new Float64Array(n);
    const model = await trainGbdt(frame, labels, {
      objective: 'binary',
      numTrees: 30,
      numLeaves: 8,
      minDataInLeaf: 5,
      maxBins: 16,
      validation: { frame, labels },
      validationMargins: margins,
    });
    // The case under test must occur: some split sends every non-missing value of a feature left.
    const allValues = model.trees.some((t) =>
      t.threshold.some((thr, j) => t.splitFeature[j]! >= 0 && thr === Number.MAX_VALUE),
    );
    expect(allValues).toBe(true);
    const colA = frame.column('a');
    const colB = frame.column('b');
    const valueAt = (c: typeof colA, i: number): number => (c.kind === 'numeric' ? c.values[i]! : NaN);
    expect(Array.from({ length: n }, (_, i) => valueAt(colA, i)).some((v) => v === Infinity)).toBe(true);

    // Both batched kernels: the WebAssembly walk (this model is one it takes) and the JavaScript one.
    expect(new TreePredictor(compileTrees(model.features, model.trees)).kernel).toBe('wasm');
    for (const mode of ['auto', 'js'] as const) {
      setPredictKernel(mode);
      try {
        const raw = new Float64Array(n).fill(model.baseScore);
        new TreePredictor(compileTrees(model.features, model.trees)).addTrees(
          model.features.map((f) => {
            const c = frame.column(f.name);
            return c.kind === 'numeric' ? c.values : new Float64Array(0);
          }),
          n,
          raw,
        );
        const mismatches: number[] = [];
        for (let i = 0; i < n; i++) if (!Object.is(raw[i], margins[i])) mismatches.push(i);
        expect(mismatches, mode).toEqual([]);
      } finally {
        setPredictKernel('auto');
      }
    }
    const raw = model.predictRaw(frame);
    for (let i = 0; i < n; i++) expect(raw[i]).toBe(margins[i]);

    const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
    for (let i = 0; i < n; i++) {
      const p = model.predictRow({ a: valueAt(colA, i), b: valueAt(colB, i) });
      expect(p).toBe(sigmoid(margins[i]!));
    }

    const { baseValue, values } = model.explain(frame);
    for (let i = 0; i < n; i++) {
      let s = baseValue;
      for (const v of values[i]!) s += v;
      expect(Math.abs(s - margins[i]!)).toBeLessThan(1e-9);
    }

    const session = await ort.InferenceSession.create(modelToOnnx(model.toJSON()));
    const out = (await session.run({ input: new ort.Tensor('float32', input, [n, 2]) })) as Record<string, ort.Tensor>;
    const probs = out.probabilities!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(probs[2 * i + 1]! - sigmoid(margins[i]!)));
    expect(worst).toBeLessThan(1e-5);
  });

  test('bin edges next to +Infinity: the largest finite value as before, none between it and the largest double', () => {
    const edgesOf = (values: number[]): number[] => {
      const [m] = fitBinMappers(Frame.fromColumns({ x: Float64Array.from(values) }));
      return m!.kind === 'numeric' ? Array.from(m!.binEdges) : [];
    };
    expect(edgesOf([1, 2, Infinity, Infinity])).toEqual([1.5, 2]);
    expect(edgesOf([-Infinity, 1, 2])).toEqual([-Infinity, 1.5]);
    expect(edgesOf([1, Number.MAX_VALUE, Infinity])).toEqual([1 + (Number.MAX_VALUE - 1) / 2]);
  });

  test('the largest double and +Infinity share a bin, so a threshold of Number.MAX_VALUE means every value', async () => {
    // Only these two values differ in the label: a split between them would be the best one if it could exist.
    const n = 400;
    const x = new Float64Array(n);
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      x[i] = i % 4 === 0 ? Infinity : i % 4 === 1 ? Number.MAX_VALUE : i % 4 === 2 ? 1 : NaN;
      labels.push(i % 4 === 0 || (i % 4 === 1 && i % 8 === 1) ? 1 : 0);
    }
    const frame = Frame.fromColumns({ x });
    const margins = new Float64Array(n);
    const model = await trainGbdt(frame, labels, {
      objective: 'binary',
      numTrees: 5,
      numLeaves: 4,
      minDataInLeaf: 2,
      validation: { frame, labels },
      validationMargins: margins,
    });
    const raw = model.predictRaw(frame);
    expect(Array.from(raw)).toEqual(Array.from(margins));
    expect(model.predictRow({ x: Infinity })).toBe(model.predictRow({ x: Number.MAX_VALUE }));
  });
});
