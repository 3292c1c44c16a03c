// The compiled GBDT predictor must route every row exactly as the model's trees say: these tests compare it (===)
// with a plain tree walk over the JSON trees on random models, including missing values and categorical splits.
import fc from 'fast-check';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Frame } from '../frame.js';
import { GbdtModel } from './model.js';
import type { GbdtFeatureJson, GbdtTreeJson } from './model.js';
import { compileTrees, kernelSource, setPredictKernel, TreePredictor } from './predict.js';
import { sleb, uleb } from './wasm/emit.js';
import { wasmUnsupported, wasmWalk } from './wasm/walk.js';
import { trainGbdt } from './train.js';

type Cell = number | string | null;

/** The reference: walk each JSON tree from the root for one row, summing leaf values onto baseScore in tree order. */
function referenceRaw(model: GbdtModel, row: Record<string, Cell>): number {
  let raw = model.baseScore;
  for (const t of model.trees) {
    let node = 0;
    while (t.left[node] !== -1) {
      const feat = model.features[t.splitFeature[node]!]!;
      const x = row[feat.name];
      let goLeft: boolean;
      if (feat.kind === 'numeric') {
        const v = x === null || x === undefined ? NaN : Number(x);
        goLeft = Number.isNaN(v) ? t.defaultLeft[node]! : v <= t.threshold[node]!;
      } else {
        const code = x === null || x === undefined ? -1 : feat.dictionary.indexOf(String(x));
        goLeft = code < 0 ? t.defaultLeft[node]! : (t.categories[node] ?? []).includes(code);
      }
      node = goLeft ? t.left[node]! : t.right[node]!;
    }
    raw += t.value[node]!;
  }
  return raw;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Small deterministic generator, so a failing fast-check seed reproduces the same model and rows. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/** A random model: trees of random shape, thresholds that repeat across nodes, categorical sets, both defaults. */
function randomModel(seed: number, opts: { numFeatures: number; numTrees: number; maxLeaves: number }): GbdtModel {
  const r = rng(seed);
  const features: GbdtFeatureJson[] = [];
  for (let f = 0; f < opts.numFeatures; f++) {
    if (r() < 0.35) {
      const k = 1 + Math.floor(r() * 12);
      features.push({ name: `c${f}`, kind: 'categorical', dictionary: Array.from({ length: k }, (_, j) => `k${j}`) });
    } else {
      // Few distinct thresholds per feature, so rows often sit exactly on one.
      const edges = Array.from({ length: 1 + Math.floor(r() * 6) }, () => Math.round((r() * 20 - 10) * 4) / 4);
      features.push({ name: `x${f}`, kind: 'numeric', binEdges: [...new Set(edges)].sort((a, b) => a - b) });
    }
  }
  const trees: GbdtTreeJson[] = [];
  for (let ti = 0; ti < opts.numTrees; ti++) {
    const t: GbdtTreeJson = {
      splitFeature: [-1],
      threshold: [0],
      categories: [null],
      defaultLeft: [false],
      left: [-1],
      right: [-1],
      value: [r() - 0.5],
      cover: [1],
      gain: [0],
    };
    const leaves = Math.floor(r() * opts.maxLeaves) + 1;
    for (let split = 1; split < leaves; split++) {
      // Split a random leaf; children are appended, so they come after their parent as the format requires.
      const candidates = t.splitFeature.flatMap((f, j) => (f === -1 ? [j] : []));
      const j = candidates[Math.floor(r() * candidates.length)]!;
      const f = Math.floor(r() * features.length);
      const feat = features[f]!;
      t.splitFeature[j] = f;
      t.defaultLeft[j] = r() < 0.5;
      if (feat.kind === 'numeric') {
        t.threshold[j] =
          r() < 0.8 ? feat.binEdges[Math.floor(r() * feat.binEdges.length)]! : Math.round(r() * 2000 - 1000) / 97;
      } else {
        t.categories[j] = feat.dictionary.flatMap((_, code) => (r() < 0.5 ? [code] : []));
      }
      t.left[j] = t.splitFeature.length;
      t.right[j] = t.splitFeature.length + 1;
      for (let c = 0; c < 2; c++) {
        t.splitFeature.push(-1);
        t.threshold.push(0);
        t.categories.push(null);
        t.defaultLeft.push(false);
        t.left.push(-1);
        t.right.push(-1);
        t.value.push((r() - 0.5) / 7);
        t.cover.push(1);
        t.gain.push(0);
      }
    }
    trees.push(t);
  }
  return new GbdtModel({
    objective: r() < 0.5 ? 'binary' : 'regression',
    features,
    baseScore: r() - 0.5,
    trees,
    params: {},
    bestIteration: trees.length - 1,
  });
}

/** Rows that hit thresholds exactly, fall between and beyond them, are missing, infinite, or unseen categories. */
function randomRows(model: GbdtModel, n: number, seed: number): Record<string, Cell>[] {
  const r = rng(seed);
  const thresholds = model.features.map((_, f) =>
    model.trees.flatMap((t) => t.threshold.filter((_, j) => t.splitFeature[j] === f)),
  );
  const rows: Record<string, Cell>[] = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, Cell> = {};
    model.features.forEach((feat, f) => {
      const u = r();
      if (u < 0.12) row[feat.name] = null;
      else if (feat.kind === 'categorical') {
        row[feat.name] = u < 0.18 ? 'never-seen' : feat.dictionary[Math.floor(r() * feat.dictionary.length)]!;
      } else {
        const th = thresholds[f]!;
        if (u < 0.5 && th.length > 0) {
          const base = th[Math.floor(r() * th.length)]!;
          const w = r();
          // Exactly on a threshold, or one ulp-ish either side of it.
          row[feat.name] = w < 0.5 ? base : w < 0.75 ? base + 1e-12 : base - 1e-12;
        } else if (u < 0.53) row[feat.name] = r() < 0.5 ? Infinity : -Infinity;
        else row[feat.name] = r() * 24 - 12;
      }
    });
    rows.push(row);
  }
  return rows;
}

function frameOf(model: GbdtModel, rows: Record<string, Cell>[]): Frame {
  const cols: Record<string, (number | null)[] | (string | null)[]> = {};
  for (const feat of model.features) {
    if (feat.kind === 'numeric') cols[feat.name] = rows.map((row) => (row[feat.name] as number | null) ?? NaN);
    else cols[feat.name] = rows.map((row) => row[feat.name] as string | null);
  }
  return Frame.fromColumns(cols);
}

function expectMatchesReference(model: GbdtModel, rows: Record<string, Cell>[]): void {
  const frame = frameOf(model, rows);
  const raw = model.predictRaw(frame);
  const pred = model.predict(frame);
  for (let i = 0; i < rows.length; i++) {
    const want = referenceRaw(model, rows[i]!);
    const wantPred = model.objective === 'binary' ? sigmoid(want) : want;
    if (raw[i] !== want) expect({ row: i, raw: raw[i] }).toEqual({ row: i, raw: want });
    if (pred[i] !== wantPred) expect({ row: i, pred: pred[i] }).toEqual({ row: i, pred: wantPred });
    const single = model.predictRow(rows[i]!);
    if (single !== wantPred) expect({ row: i, single }).toEqual({ row: i, single: wantPred });
  }
}

describe('compiled GBDT predictor', () => {
  test('property: batched, per-row and reference predictions are identical on random models', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 40 }),
        (seed, numFeatures, numTrees, maxLeaves) => {
          const model = randomModel(seed, { numFeatures, numTrees, maxLeaves });
          // 1 000 rows span several blocks and leave a ragged tail for the lockstep walk.
          expectMatchesReference(model, randomRows(model, 1003, seed ^ 0x5bd1e995));
        },
      ),
      { numRuns: 60 },
    );
  });

  test('numeric-only and categorical-only models take the fast paths and still agree', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const model = randomModel(seed, { numFeatures: 6, numTrees: 8, maxLeaves: 64 });
      const numericOnly = new GbdtModel({
        ...model,
        features: model.features.map((f) =>
          f.kind === 'numeric' ? f : { name: f.name, kind: 'numeric', binEdges: [] },
        ),
        trees: model.trees.map((t) => ({
          ...t,
          categories: t.categories.map(() => null),
          threshold: t.threshold.map((v, j) =>
            model.features[t.splitFeature[j]!]?.kind === 'categorical' ? j % 3 : v,
          ),
        })),
        params: {},
      });
      const compiled = compileTrees(numericOnly.features, numericOnly.trees);
      expect(compiled.hasCategorical).toBe(false);
      // Byte bins and no categorical splits: the walk reads one-byte copies of col and hi.
      expect([compiled.walkCol, compiled.walkHi].map((a) => a.BYTES_PER_ELEMENT)).toEqual([1, 1]);
      expect(Array.from(compiled.walkHi)).toEqual(Array.from(compiled.hi));
      expectMatchesReference(numericOnly, randomRows(numericOnly, 300, seed));
    }
  });

  test('trained models with missing values and categorical features predict exactly like the reference', async () => {
    const r = rng(7);
    const n = 1500;
    const a = new Float64Array(n);
    const b = new Float64Array(n);
    const c: (string | null)[] = [];
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = r() < 0.15 ? NaN : r() * 10;
      b[i] = Math.floor(r() * 7);
      c.push(r() < 0.1 ? null : ['lab', 'ward', 'icu', 'er', 'opd'][Math.floor(r() * 5)]!);
      const z = (a[i]! > 5 ? 1.5 : -1) + 0.3 * b[i]! - (c[i] === 'icu' ? 2 : 0) + (Number.isNaN(a[i]!) ? 1 : 0);
      y[i] = r() < sigmoid(z) ? 1 : 0;
    }
    const frame = Frame.fromColumns({ a, b, c });
    for (const numLeaves of [4, 31, 255]) {
      const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 15, numLeaves, minDataInLeaf: 2 });
      const rows: Record<string, Cell>[] = [];
      for (let i = 0; i < n; i++) rows.push({ a: Number.isNaN(a[i]!) ? null : a[i]!, b: b[i]!, c: c[i]! });
      expectMatchesReference(model, rows);
      // And a model read back from its JSON text predicts the same numbers.
      const back = GbdtModel.fromJSON(JSON.stringify(model.toJSON()));
      expect(back.predictRaw(frame)).toEqual(model.predictRaw(frame));
    }
  });

  test('predictRow converts fields like Frame.fromRow: strings, empty strings, undefined, unknown categories', () => {
    const model = randomModel(12345, { numFeatures: 5, numTrees: 6, maxLeaves: 20 });
    const rows = randomRows(model, 50, 99);
    for (const row of rows) {
      const asText: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) asText[k] = v === null ? '' : typeof v === 'number' ? String(v) : v;
      const like = model.features.map((f) =>
        f.kind === 'numeric'
          ? { name: f.name, kind: 'numeric' as const, values: new Float64Array(0) }
          : { name: f.name, kind: 'categorical' as const, codes: new Int32Array(0), dictionary: f.dictionary },
      );
      // '' is missing for numeric fields, but a category named '' for categorical ones: unknown, so also missing.
      expect(model.predictRow(asText)).toBe(model.predict(Frame.fromRow(asText, like))[0]);
    }
    const first = model.features[0]!.name;
    expect(() => model.predictRow({})).toThrow(new RegExp(`no field "${first}"`));
  });

  test('single-leaf trees and a model with no trees', () => {
    const stump = randomModel(3, { numFeatures: 3, numTrees: 5, maxLeaves: 1 });
    expectMatchesReference(stump, randomRows(stump, 20, 1));
    const empty = new GbdtModel({ ...stump, trees: [], params: {} });
    expectMatchesReference(empty, randomRows(empty, 5, 2));
  });

  test('bin width follows the number of split points: bytes up to 254, 16 bits beyond, floats past 65 534', () => {
    for (const [k, missingHigh, binnable] of [
      [254, 0xff, true],
      [255, 0xffff, true],
      [3000, 0xffff, true],
      [70_000, 0xffff, false],
    ] as const) {
      const t = chainTree(k);
      const features: GbdtFeatureJson[] = [{ name: 'x', kind: 'numeric', binEdges: [] }];
      const model = new GbdtModel({
        objective: 'regression',
        features,
        baseScore: 0.25,
        trees: [t, chainTree(7)],
        params: {},
        bestIteration: 1,
      });
      const compiled = compileTrees(features, model.trees);
      expect([compiled.missingHigh, compiled.binnable]).toEqual([missingHigh, binnable]);
      // Two-byte bins keep the Int32 node arrays for the walk.
      expect(compiled.walkHi.BYTES_PER_ELEMENT).toBe(missingHigh === 0xff ? 1 : 4);
      const xs = [-5, 0, 0.5, 3, 6.5, 17, 253, 253.5, 254, 254.5, 2999, 3000, 69_999, 70_000.5, null, 12_345, Infinity];
      expectMatchesReference(
        model,
        [...xs, ...xs.map((x) => (x === null ? 1 : -x))].map((x) => ({ x })),
      );
    }
  });

  test('binning by lookup table: even, skewed and clustered split points, out-of-range and boundary inputs', () => {
    const r = rng(2024);
    // Per feature: many split points spread evenly, skewed like a heavy tail, clustered far below a few outliers (too
    // uneven for any table: the binary search stays), huge magnitudes, and a single split point.
    const shapes: number[][] = [
      Array.from({ length: 200 }, (_, j) => j / 7 - 10),
      Array.from({ length: 230 }, (_, j) => Math.exp(j / 80) - 1),
      [...Array.from({ length: 40 }, (_, j) => 1 + j * 1e-9), 1e6, 2e6],
      Array.from({ length: 50 }, (_, j) => (j - 25) * 1e300),
      [0],
    ];
    const features: GbdtFeatureJson[] = shapes.map((_, f) => ({ name: `x${f}`, kind: 'numeric', binEdges: [] }));
    const trees: GbdtTreeJson[] = [];
    for (let ti = 0; ti < 30; ti++) {
      const f = ti % shapes.length;
      const points = shapes[f]!;
      // A chain over a random sample of the feature's split points, both default directions.
      const t = chainTree(Math.min(points.length, 12));
      for (let j = 0; j < t.splitFeature.length; j++) {
        if (t.splitFeature[j] === -1) continue;
        t.splitFeature[j] = f;
        t.threshold[j] = points[Math.floor(r() * points.length)]!;
      }
      trees.push(t);
    }
    // Every split point of every shape used somewhere, so the compiled cut lists are the whole shapes.
    shapes.forEach((points, f) => {
      const t = chainTree(points.length);
      for (let j = 0; j < t.splitFeature.length; j++) {
        if (t.splitFeature[j] === -1) continue;
        t.splitFeature[j] = f;
        t.threshold[j] = points[j >> 1]!;
      }
      trees.push(t);
    });
    const model = new GbdtModel({
      objective: 'regression',
      features,
      baseScore: 0,
      trees,
      params: {},
      bestIteration: trees.length - 1,
    });
    const compiled = compileTrees(features, trees);
    expect(compiled.lut.map((t) => t !== null)).toEqual([true, true, false, true, true]);
    // Buckets with one, two and three split points: every written-out comparison of the kernel is exercised.
    expect(new Set(compiled.lutSteps)).toEqual(new Set([0, 1, 2, 3]));
    const rows: Record<string, Cell>[] = [];
    for (let i = 0; i < 4000; i++) {
      const row: Record<string, Cell> = {};
      shapes.forEach((points, f) => {
        const u = r();
        const p = points[Math.floor(r() * points.length)]!;
        row[`x${f}`] =
          u < 0.3
            ? p
            : u < 0.4
              ? p * (1 + 1e-15)
              : u < 0.5
                ? p - 1e-9
                : u < 0.55
                  ? null
                  : u < 0.6
                    ? -Infinity
                    : u < 0.65
                      ? Infinity
                      : u < 0.7
                        ? -0
                        : (r() - 0.5) * 10 ** Math.floor(r() * 40 - 10);
      });
      rows.push(row);
    }
    expectMatchesReference(model, rows);
  });

  test('the predictor reuses its scratch across calls and blocks without leaking state between rows', () => {
    const model = randomModel(77, { numFeatures: 4, numTrees: 10, maxLeaves: 30 });
    const p = new TreePredictor(compileTrees(model.features, model.trees));
    const rows = randomRows(model, 2500, 5);
    const frame = frameOf(model, rows);
    const cols = model.features.map((f) => {
      const col = frame.column(f.name);
      return col.kind === 'numeric' ? col.values : remapped(col.codes, col.dictionary, f);
    });
    const once = new Float64Array(rows.length).fill(model.baseScore);
    p.addTrees(cols, rows.length, once);
    const twice = new Float64Array(rows.length).fill(model.baseScore);
    p.addTrees(cols, rows.length, twice);
    expect(twice).toEqual(once);
    expect(p.specialised).toBe(true);
    for (let i = 0; i < rows.length; i++) expect(once[i]).toBe(referenceRaw(model, rows[i]!));
  });

  test('every predictor compiles its kernels from a text of its own, so V8 cannot share one compiled copy', () => {
    // V8 caches compilations from strings by their text: equal texts would make a later model's kernels another
    // closure of an earlier model's compiled function, losing the per-model specialisation (a model that was not
    // the first in the process measured about half as fast). Two models, and the same model twice, all differ.
    const a = randomModel(5, { numFeatures: 4, numTrees: 6, maxLeaves: 20 });
    const b = randomModel(6, { numFeatures: 4, numTrees: 6, maxLeaves: 20 });
    const predictors = [a, b, a].map((m) => new TreePredictor(compileTrees(m.features, m.trees)));
    const texts = predictors.map((p) => p.kernelSource);
    for (const text of texts) expect(text).toContain('kernel copy');
    expect(new Set(texts).size).toBe(predictors.length);
    expect(kernelSource(7)).not.toBe(kernelSource(8));
    // And each copy still predicts exactly like the reference.
    [a, b, a].forEach((m, k) => {
      const rows = randomRows(m, 200, 11 + k);
      const frame = frameOf(m, rows);
      const cols = m.features.map((f) => {
        const col = frame.column(f.name);
        return col.kind === 'numeric' ? col.values : remapped(col.codes, col.dictionary, f);
      });
      const out = new Float64Array(rows.length).fill(m.baseScore);
      predictors[k]!.addTrees(cols, rows.length, out);
      for (let i = 0; i < rows.length; i++) expect(out[i]).toBe(referenceRaw(m, rows[i]!));
    });
  });
});

/** `model` with its categorical features turned numeric (their splits become numeric splits at 0, 1 or 2). */
function numericOnly(model: GbdtModel): GbdtModel {
  return new GbdtModel({
    ...model,
    features: model.features.map((f) => (f.kind === 'numeric' ? f : { name: f.name, kind: 'numeric', binEdges: [] })),
    trees: model.trees.map((t) => ({
      ...t,
      categories: t.categories.map(() => null),
      threshold: t.threshold.map((v, j) => (model.features[t.splitFeature[j]!]?.kind === 'categorical' ? j % 3 : v)),
    })),
    params: {},
  });
}

/** The margins of `rows` from a fresh predictor of `model` with the given kernel mode, and the kernel it used. */
function marginsWith(model: GbdtModel, rows: Record<string, Cell>[], mode: 'auto' | 'js') {
  const p = new TreePredictor(compileTrees(model.features, model.trees));
  const frame = frameOf(model, rows);
  const cols = model.features.map((f) => {
    const col = frame.column(f.name);
    return col.kind === 'numeric' ? col.values : remapped(col.codes, col.dictionary, f);
  });
  const out = new Float64Array(rows.length).fill(model.baseScore);
  setPredictKernel(mode);
  try {
    p.addTrees(cols, rows.length, out);
    return { out, kernel: p.kernel };
  } finally {
    setPredictKernel('auto');
  }
}

describe('WebAssembly prediction kernel', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    setPredictKernel('auto');
  });

  test('LEB128 encodings of the emitter', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(2 ** 32 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb(0)).toEqual([0]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(0xff000000 | 0)).toEqual([0x80, 0x80, 0x80, 0x78]);
  });

  test('property: WebAssembly and JS kernels give the same margins bit for bit on random numeric models', () => {
    let wasmRuns = 0;
    const numRuns = 80;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 1500 }),
        (seed, numFeatures, numTrees, maxLeaves, n) => {
          const model = numericOnly(randomModel(seed, { numFeatures, numTrees, maxLeaves }));
          // Row counts cover empty batches, ragged SIMD groups (16), lockstep groups (8) and several blocks.
          const rows = randomRows(model, n, seed ^ 0x2545f491);
          const wasm = marginsWith(model, rows, 'auto');
          const js = marginsWith(model, rows, 'js');
          // A feature with more than 254 distinct split points (many random thresholds on few features) keeps JS.
          const supported = wasmUnsupported(compileTrees(model.features, model.trees)) === null;
          expect([wasm.kernel, js.kernel]).toEqual([supported ? 'wasm' : 'js', 'js']);
          if (supported) wasmRuns++;
          for (let i = 0; i < n; i++) {
            if (!Object.is(wasm.out[i], js.out[i])) expect({ i, wasm: wasm.out[i] }).toEqual({ i, wasm: js.out[i] });
          }
          for (let i = 0; i < Math.min(n, 50); i++) expect(wasm.out[i]).toBe(referenceRaw(model, rows[i]!));
        },
      ),
      { numRuns },
    );
    // Not vacuous: nearly every random model is one the WebAssembly kernel takes.
    expect(wasmRuns).toBeGreaterThan(numRuns * 0.75);
  });

  test('deep trees, ties, infinities and every row count from 0 to 70 agree with the JS kernel', () => {
    // Chains are as deep as trees get (the first levels run in SIMD, the rest in the scalar walk).
    const features: GbdtFeatureJson[] = [{ name: 'x', kind: 'numeric', binEdges: [] }];
    const model = new GbdtModel({
      objective: 'regression',
      features,
      baseScore: -0.125,
      trees: [chainTree(40), chainTree(3), chainTree(1), chainTree(200), chainTree(0)],
      params: {},
      bestIteration: 4,
    });
    const xs = [-1, 0, 0.5, 1, 2, 2.5, 3, 4, 39, 39.5, 40, 199, 200, 1e9, Infinity, -Infinity, null, -0];
    for (let n = 0; n <= 70; n++) {
      const rows = Array.from({ length: n }, (_, i) => ({ x: xs[(i * 7) % xs.length]! }));
      const wasm = marginsWith(model, rows, 'auto');
      const js = marginsWith(model, rows, 'js');
      expect(wasm.kernel).toBe('wasm');
      expect(wasm.out).toEqual(js.out);
      for (let i = 0; i < n; i++) expect(wasm.out[i]).toBe(referenceRaw(model, rows[i]!));
    }
  });

  test('a forest whose SIMD code is split over several functions predicts like the JS kernel', () => {
    const random = numericOnly(randomModel(4242, { numFeatures: 5, numTrees: 700, maxLeaves: 60 }));
    // Thresholds on a quarter grid, so that no feature has more than 254 split points (one-byte bins).
    const trees = random.trees.map((t) => ({ ...t, threshold: t.threshold.map((v) => Math.round(v * 4) / 4) }));
    const model = new GbdtModel({ ...random, features: [...random.features], trees, params: {} });
    expect(wasmWalk(compileTrees(model.features, model.trees), 64)?.simdFunctions).toBeGreaterThan(1);
    const rows = randomRows(model, 301, 8);
    const wasm = marginsWith(model, rows, 'auto');
    expect(wasm.kernel).toBe('wasm');
    expect(wasm.out).toEqual(marginsWith(model, rows, 'js').out);
  });

  test('models it cannot take (categorical splits, more than 254 split points) fall back to the JS kernel', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const model = randomModel(seed, { numFeatures: 5, numTrees: 6, maxLeaves: 40 });
      const c = compileTrees(model.features, model.trees);
      if (!c.hasCategorical) continue;
      expect(wasmUnsupported(c)).toMatch(/categorical/);
      const rows = randomRows(model, 257, seed);
      const got = marginsWith(model, rows, 'auto');
      expect(got.kernel).toBe('js');
      for (let i = 0; i < rows.length; i++) expect(got.out[i]).toBe(referenceRaw(model, rows[i]!));
    }
    const features: GbdtFeatureJson[] = [{ name: 'x', kind: 'numeric', binEdges: [] }];
    const wide = new GbdtModel({
      objective: 'regression',
      features,
      baseScore: 0,
      trees: [chainTree(255)],
      params: {},
      bestIteration: 0,
    });
    const rows = [-1, 0, 100, 254, 254.5, 255, null].map((x) => ({ x }));
    const got = marginsWith(wide, rows, 'auto');
    expect(got.kernel).toBe('js');
    for (let i = 0; i < rows.length; i++) expect(got.out[i]).toBe(referenceRaw(wide, rows[i]!));
  });

  test('without WebAssembly (as under --jitless), or with its memory or compilation refused, the JS kernel runs', () => {
    const model = numericOnly(randomModel(99, { numFeatures: 6, numTrees: 10, maxLeaves: 60 }));
    const rows = randomRows(model, 333, 4);
    const want = marginsWith(model, rows, 'js').out;
    expect(marginsWith(model, rows, 'auto').kernel).toBe('wasm');
    const real = (globalThis as unknown as { WebAssembly: Record<string, unknown> }).WebAssembly;
    const refusing = (what: string) =>
      class {
        constructor() {
          throw new RangeError(`${what} refused`);
        }
      };
    for (const api of [
      undefined,
      { ...real, Module: real['Module'], Instance: real['Instance'], Memory: refusing('memory') },
      { ...real, Module: refusing('compilation'), Instance: real['Instance'], Memory: real['Memory'] },
    ]) {
      vi.stubGlobal('WebAssembly', api);
      const got = marginsWith(model, rows, 'auto');
      expect(got.kernel).toBe('js');
      expect(got.out).toEqual(want);
      vi.unstubAllGlobals();
    }
    // setPredictKernel('js') forces the JS kernel for a predictor that has its WebAssembly walk already.
    const p = new TreePredictor(compileTrees(model.features, model.trees));
    expect(p.kernel).toBe('wasm');
    setPredictKernel('js');
    expect(p.kernel).toBe('js');
  });
});

/** Codes of a frame column re-expressed in the model's dictionary (-1 where the model never saw the category). */
function remapped(codes: Int32Array, dictionary: readonly string[], f: GbdtFeatureJson): Int32Array {
  if (f.kind !== 'categorical') throw new Error('not categorical');
  return codes.map((code) => (code < 0 ? -1 : f.dictionary.indexOf(dictionary[code]!)));
}

/** A chain-shaped tree with k splits at 0, 1, …, k - 1: node 2j splits, its left child is a leaf. */
function chainTree(k: number): GbdtTreeJson {
  const t: GbdtTreeJson = {
    splitFeature: [],
    threshold: [],
    categories: [],
    defaultLeft: [],
    left: [],
    right: [],
    value: [],
    cover: [],
    gain: [],
  };
  const push = (f: number, thr: number, dl: boolean, l: number, r: number, v: number): void => {
    t.splitFeature.push(f);
    t.threshold.push(thr);
    t.categories.push(null);
    t.defaultLeft.push(dl);
    t.left.push(l);
    t.right.push(r);
    t.value.push(v);
    t.cover.push(1);
    t.gain.push(0);
  };
  for (let j = 0; j < k; j++) {
    push(0, j, j % 2 === 0, 2 * j + 1, 2 * j + 2, 0);
    push(-1, 0, false, -1, -1, j / 1000);
  }
  push(-1, 0, false, -1, -1, -1);
  return t;
}
