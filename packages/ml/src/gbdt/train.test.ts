import { describe, expect, test } from 'vitest';
import { Frame } from '../frame.js';
import { rocAuc } from '../metrics/index.js';
import { loadModel } from '../model.js';
import { GbdtModel } from './model.js';
import { GbdtBinCache, trainGbdt } from './train.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/** Logistic data with a known signal: p = sigmoid(2 x0 − 1.5 x1² + [c = 'b'] − 0.5 + x2 x3). */
function signalData(n: number, seed: number) {
  const r = lcg(seed);
  const cols = { x0: new Float64Array(n), x1: new Float64Array(n), x2: new Float64Array(n), x3: new Float64Array(n) };
  const c: string[] = [];
  const y = new Float64Array(n);
  const truth = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x0 = r() * 2 - 1;
    const x1 = r() * 2 - 1;
    const x2 = r() * 2 - 1;
    const x3 = r() * 2 - 1;
    const cat = ['a', 'b', 'c'][Math.floor(r() * 3)]!;
    cols.x0[i] = r() < 0.05 ? NaN : x0;
    cols.x1[i] = x1;
    cols.x2[i] = x2;
    cols.x3[i] = x3;
    c.push(cat);
    const z = 2 * x0 - 1.5 * x1 * x1 + (cat === 'b' ? 1 : 0) - 0.5 + 2 * x2 * x3;
    truth[i] = 1 / (1 + Math.exp(-z));
    y[i] = r() < truth[i]! ? 1 : 0;
  }
  return { frame: Frame.fromColumns({ ...cols, c }), y, truth };
}

describe('trainGbdt on hand-checkable data', () => {
  test('one split recovers a step function (regression)', async () => {
    const x = Float64Array.from({ length: 40 }, (_, i) => i / 40);
    const y = Float64Array.from(x, (v) => (v < 0.5 ? 1 : 3));
    const model = await trainGbdt(Frame.fromColumns({ x }), y, {
      objective: 'regression',
      numTrees: 1,
      numLeaves: 2,
      learningRate: 1,
      minDataInLeaf: 1,
    });
    const t = model.trees[0]!;
    expect(t.splitFeature[0]).toBe(0);
    // The cut lies between the last x below 0.5 and the first at or above it.
    expect(t.threshold[0]!).toBeGreaterThanOrEqual(19 / 40);
    expect(t.threshold[0]!).toBeLessThan(20 / 40);
    const p = model.predict(Frame.fromColumns({ x: [0.1, 0.45, 0.5, 0.9] }));
    expect(Array.from(p).map((v) => +v.toFixed(12))).toEqual([1, 1, 3, 3]);
  });

  test.each([
    ['high', 3, false],
    ['low', 1, true],
  ])('missing values learn their direction (missing behaves like %s values)', async (_, missingY, wantLeft) => {
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 60; i++) {
      const v = i % 3 === 0 ? NaN : i / 60;
      x.push(v);
      y.push(Number.isNaN(v) ? missingY : v < 0.5 ? 1 : 3);
    }
    const model = await trainGbdt(Frame.fromColumns({ x }), y, {
      objective: 'regression',
      numTrees: 1,
      numLeaves: 2,
      learningRate: 1,
      minDataInLeaf: 1,
    });
    expect(model.trees[0]!.defaultLeft[0]).toBe(wantLeft);
    expect(model.predictRow({ x: null })).toBeCloseTo(missingY, 9);
  });

  test('a categorical split separates the classes (many-vs-many)', async () => {
    const cats = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const positive = new Set(['b', 'd', 'f', 'g']);
    const c: string[] = [];
    const y: number[] = [];
    for (let i = 0; i < 400; i++) {
      const v = cats[i % 8]!;
      c.push(v);
      y.push(positive.has(v) ? 1 : 0);
    }
    const model = await trainGbdt(Frame.fromColumns({ c }), y, {
      objective: 'binary',
      numTrees: 1,
      numLeaves: 2,
      learningRate: 1,
      minDataInLeaf: 1,
    });
    const t = model.trees[0]!;
    const left = new Set((t.categories[0] ?? []).map((code) => cats[code]));
    const sideOfPositives = left.has('b');
    for (const v of cats) expect(left.has(v)).toBe(positive.has(v) === sideOfPositives);
    const p = model.predict(Frame.fromColumns({ c: cats }));
    for (let k = 0; k < 8; k++) {
      if (positive.has(cats[k]!)) expect(p[k]!).toBeGreaterThan(0.6);
      else expect(p[k]!).toBeLessThan(0.4);
    }
    // An unseen category is treated as missing.
    expect(model.predictRow({ c: 'zzz' })).toBeCloseTo(
      t.defaultLeft[0] ? p[cats.indexOf([...left][0]!)]! : p[k0(cats, left)]!,
      12,
    );
  });

  test('a level in the dictionary but absent from the training rows predicts like a missing value', async () => {
    const codes = Int32Array.from({ length: 200 }, (_, i) => i % 2);
    const frame = new Frame([{ name: 'c', kind: 'categorical', codes, dictionary: ['a', 'b', 'never'] }]);
    const model = await trainGbdt(frame, Float64Array.from(codes), {
      objective: 'binary',
      numTrees: 1,
      numLeaves: 2,
      learningRate: 1,
      minDataInLeaf: 1,
      maxCatThreshold: 1,
    });
    expect(model.features[0]).toEqual({ name: 'c', kind: 'categorical', dictionary: ['a', 'b'] });
    expect(model.predictRow({ c: 'never' })).toBe(model.predictRow({ c: null }));
    expect(model.predictRow({ c: 'a' })).not.toBe(model.predictRow({ c: 'b' }));
  });

  test('categoricalFeatures turns a numeric code column into categories', async () => {
    const code = Float64Array.from({ length: 300 }, (_, i) => (i % 6) * 10);
    const y = Float64Array.from(code, (v) => (v === 10 || v === 40 || v === 50 ? 1 : 0));
    const model = await trainGbdt(Frame.fromColumns({ code }), y, {
      objective: 'binary',
      numTrees: 1,
      numLeaves: 2,
      learningRate: 1,
      minDataInLeaf: 1,
      categoricalFeatures: ['code'],
    });
    expect(model.features[0]!.kind).toBe('categorical');
    const p = model.predict(Frame.fromColumns({ code: [10, 20, 40] }));
    expect(p[0]!).toBeGreaterThan(0.6);
    expect(p[1]!).toBeLessThan(0.4);
    expect(p[2]!).toBeGreaterThan(0.6);
  });
});

function k0(cats: string[], left: Set<string | undefined>): number {
  return cats.findIndex((c) => !left.has(c));
}

describe('trainGbdt quality and controls', () => {
  test('AUC close to the known signal on held-out data', async () => {
    const train = signalData(4000, 1);
    const test = signalData(2000, 2);
    const model = await trainGbdt(train.frame, train.y, { objective: 'binary', numTrees: 40, numLeaves: 15, seed: 1 });
    const auc = rocAuc(test.y, model.predictProba(test.frame));
    const oracle = rocAuc(test.y, test.truth);
    expect(auc).toBeGreaterThan(oracle - 0.03);
    // The importances see the signal: x0 (strongest) has gain, and the interaction feature x2 is split on.
    const gain = model.featureImportance('gain');
    expect(gain.x0!).toBeGreaterThan(0);
    expect(model.featureImportance('split').x2!).toBeGreaterThan(0);
  });

  test('regression fits a smooth function', async () => {
    const r = lcg(5);
    const n = 4000;
    const a = Float64Array.from({ length: n }, () => r() * 6);
    const b = Float64Array.from({ length: n }, () => r());
    const y = Float64Array.from(a, (v, i) => Math.sin(v) + b[i]! + 0.05 * (r() - 0.5));
    const model = await trainGbdt(Frame.fromColumns({ a, b }), y, {
      objective: 'regression',
      numTrees: 100,
      numLeaves: 15,
    });
    const p = model.predict(Frame.fromColumns({ a, b }));
    let se = 0;
    for (let i = 0; i < n; i++) se += (p[i]! - y[i]!) ** 2;
    expect(Math.sqrt(se / n)).toBeLessThan(0.06);
  });

  test('same seed gives the same JSON; bagging with another seed gives another model', async () => {
    const { frame, y } = signalData(2000, 3);
    const opts = {
      objective: 'binary' as const,
      numTrees: 10,
      numLeaves: 8,
      baggingFraction: 0.7,
      featureFraction: 0.6,
    };
    const a = await trainGbdt(frame, y, { ...opts, seed: 11 });
    const b = await trainGbdt(frame, y, { ...opts, seed: 11 });
    const c = await trainGbdt(frame, y, { ...opts, seed: 12 });
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
    expect(JSON.stringify(a.toJSON().trees)).not.toBe(JSON.stringify(c.toJSON().trees));
  });

  test('1 thread and 2 threads give bit-identical predictions', async () => {
    const { frame, y } = signalData(20_000, 4);
    const opts = { objective: 'binary' as const, numTrees: 4, numLeaves: 16, baggingFraction: 0.8, seed: 3 };
    const one = await trainGbdt(frame, y, { ...opts, numThreads: 1 });
    const two = await trainGbdt(frame, y, { ...opts, numThreads: 2 });
    expect(Array.from(two.predictRaw(frame))).toEqual(Array.from(one.predictRaw(frame)));
    expect(JSON.stringify(two.toJSON())).toBe(JSON.stringify(one.toJSON()));
  });

  test('1 and 2 threads stay bit-identical when builds and partitions are split between the threads', async () => {
    // 60,000 rows × 5 features: the root's histogram (300,000 updates) and its partition (60,000 rows) are large
    // enough to be split in halves; feature sampling changes the generated kernel per tree.
    const { frame, y } = signalData(60_000, 21);
    const opts = { objective: 'binary' as const, numTrees: 3, numLeaves: 24, featureFraction: 0.8, seed: 5 };
    const one = await trainGbdt(frame, y, { ...opts, numThreads: 1 });
    const two = await trainGbdt(frame, y, { ...opts, numThreads: 2 });
    expect(JSON.stringify(two.toJSON())).toBe(JSON.stringify(one.toJSON()));
    expect(one.toJSON().trees.every((t) => t.splitFeature.filter((f) => f >= 0).length === 23)).toBe(true);
  });

  test('1 and 2 threads stay bit-identical when the gradients of a bagging sample are split between the threads', async () => {
    // 90,000 rows, bagging 0.8: the 72,000 sampled rows' gradient pass is cut in two chunks (one per thread), and
    // 18,000 out-of-bag rows are routed through every tree.
    const { frame, y } = signalData(90_000, 23);
    const opts = { objective: 'binary' as const, numTrees: 3, numLeaves: 8, baggingFraction: 0.8, seed: 6 };
    const one = await trainGbdt(frame, y, { ...opts, numThreads: 1 });
    const two = await trainGbdt(frame, y, { ...opts, numThreads: 2 });
    expect(JSON.stringify(two.toJSON())).toBe(JSON.stringify(one.toJSON()));
    expect(Array.from(two.predictRaw(frame))).toEqual(Array.from(one.predictRaw(frame)));
  });

  test('histogram subtraction gives the same trees as building every histogram', async () => {
    const { frame, y } = signalData(3000, 5);
    const opts = { objective: 'binary' as const, numTrees: 5, numLeaves: 20, seed: 1 };
    const sub = await trainGbdt(frame, y, opts);
    const full = await trainGbdt(frame, y, { ...opts, histogramSubtraction: false });
    const a = sub.toJSON().trees;
    const b = full.toJSON().trees;
    expect(a.map((t) => t.splitFeature)).toEqual(b.map((t) => t.splitFeature));
    expect(a.map((t) => t.threshold)).toEqual(b.map((t) => t.threshold));
    const pa = sub.predictRaw(frame);
    const pb = full.predictRaw(frame);
    for (let i = 0; i < pa.length; i++) expect(Math.abs(pa[i]! - pb[i]!)).toBeLessThan(1e-9);
  });

  test('early stopping keeps the best round and stops after earlyStoppingRounds without gain', async () => {
    // Pure noise labels: validation loss stops improving almost at once.
    const r = lcg(9);
    const mk = (n: number) => ({
      frame: Frame.fromColumns({
        a: Float64Array.from({ length: n }, () => r()),
        b: Float64Array.from({ length: n }, () => r()),
      }),
      y: Float64Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0)),
    });
    const train = mk(2000);
    const valid = mk(1000);
    const seen: number[] = [];
    const model = await trainGbdt(train.frame, train.y, {
      objective: 'binary',
      numTrees: 200,
      numLeaves: 31,
      learningRate: 0.3,
      minDataInLeaf: 5,
      validation: { frame: valid.frame, labels: valid.y },
      earlyStoppingRounds: 5,
      onIteration: (iter, m) => {
        expect(m.validLoss).toBeGreaterThan(0);
        seen.push(iter);
      },
    });
    expect(model.trees.length).toBe(model.bestIteration + 1);
    expect(seen.length).toBe(model.bestIteration + 1 + 5);
    expect(seen.length).toBeLessThan(200);
  });

  test('the validation log loss each round is the exact log loss of the model so far (kept exponentials)', async () => {
    const { frame, y } = signalData(3000, 12);
    const valid = signalData(1500, 13);
    const losses: number[] = [];
    // 150 rounds cross two exact recomputations of the kept e^−f; a high learning rate makes large margins.
    const model = await trainGbdt(frame, y, {
      objective: 'binary',
      numTrees: 150,
      numLeaves: 15,
      learningRate: 0.5,
      baggingFraction: 0.7,
      validation: { frame: valid.frame, labels: valid.y },
      onIteration: (_iter, m) => {
        losses.push(m.validLoss!);
      },
    });
    const exact = (trees: number): number => {
      const z = new GbdtModel({ ...model, trees: model.trees.slice(0, trees) }).predictRaw(valid.frame);
      let s = 0;
      for (let i = 0; i < z.length; i++)
        s += Math.log1p(Math.exp(-Math.abs(z[i]!))) + Math.max(z[i]!, 0) - valid.y[i]! * z[i]!;
      return s / z.length;
    };
    for (const k of [1, 2, 63, 64, 65, 100, 150])
      expect(Math.abs(losses[k - 1]! - exact(k)) / exact(k)).toBeLessThan(1e-12);
  });

  test('the kept-exponential validation loss stays exact on separable data (confident rows, tiny losses)', async () => {
    // Classes apart on x0: every row becomes confident (|margin| ~ 10–40, losses ~1e-5…1e-17), where
    // a difference of large terms would lose it and 1 + e would round it away.
    const rows = (n: number, seed: number) => {
      const r = lcg(seed);
      const x0 = new Float64Array(n);
      const x1 = new Float64Array(n);
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = i % 2;
        x0[i] = y[i] === 1 ? 0.6 + 0.4 * r() : 0.4 * r(); // a gap between the classes
        x1[i] = r();
      }
      return { frame: Frame.fromColumns({ x0, x1 }), y };
    };
    const train = rows(2000, 21);
    const valid = rows(600, 22);
    const losses: number[] = [];
    const margins = new Float64Array(600);
    const model = await trainGbdt(train.frame, train.y, {
      objective: 'binary',
      numTrees: 120,
      numLeaves: 4,
      learningRate: 1,
      lambdaL2: 0,
      validationMargins: margins,
      validation: { frame: valid.frame, labels: valid.y },
      onIteration: (_iter, m) => {
        losses.push(m.validLoss!);
      },
    });
    // The exact loss of the training's own last-round margins (the numbers the kept exponentials follow), each row
    // as log1p(e^∓z): no term cancels (the usual stable form, log1p(e^−|z|) + max(z, 0) − y z, adds and subtracts
    // |z| and is itself off by ~1e-9 relative here).
    let s = 0;
    for (let i = 0; i < margins.length; i++) s += Math.log1p(Math.exp(valid.y[i] === 1 ? -margins[i]! : margins[i]!));
    const exact = s / margins.length;
    expect(exact).toBeLessThan(1e-5); // confident: the regime where a cancelling formula loses digits
    expect(Math.abs(losses[model.trees.length - 1]! - exact) / exact).toBeLessThan(1e-13);
  });

  test('onIteration returning false stops training', async () => {
    const { frame, y } = signalData(500, 6);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 50, onIteration: (iter) => iter < 2 });
    expect(model.trees.length).toBe(3);
  });

  test('scalePosWeight raises predicted probabilities', async () => {
    const { frame, y } = signalData(2000, 7);
    const plain = await trainGbdt(frame, y, { objective: 'binary', numTrees: 10 });
    const weighted = await trainGbdt(frame, y, { objective: 'binary', numTrees: 10, scalePosWeight: 4 });
    const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(weighted.predict(frame))).toBeGreaterThan(mean(plain.predict(frame)) + 0.1);
  });

  test('maxDepth limits the tree depth', async () => {
    const { frame, y } = signalData(3000, 8);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 3, numLeaves: 64, maxDepth: 3 });
    for (const t of model.trees) {
      const depth = new Array<number>(t.left.length).fill(0);
      for (let j = 0; j < t.left.length; j++) {
        if (t.left[j]! >= 0) {
          depth[t.left[j]!] = depth[j]! + 1;
          depth[t.right[j]!] = depth[j]! + 1;
        }
      }
      expect(Math.max(...depth)).toBeLessThanOrEqual(3);
      expect(t.left.filter((l) => l === -1).length).toBeLessThanOrEqual(8);
    }
  });
});

describe('bad input', () => {
  const ok = Frame.fromColumns({ x: [1, 2, 3, 4] });
  const fail = (p: Promise<unknown>, code: string, msg: RegExp) =>
    expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(msg) });

  test('empty frame', async () => {
    await fail(trainGbdt(Frame.fromColumns({ x: [] }), [], { objective: 'binary' }), 'EMPTY_FRAME', /no rows/);
  });
  test('a single class in the target', async () => {
    await fail(trainGbdt(ok, [1, 1, 1, 1], { objective: 'binary' }), 'SINGLE_CLASS', /both classes/);
  });
  test('NaN or Infinity in the target', async () => {
    await fail(trainGbdt(ok, [0, NaN, 1, 0], { objective: 'binary' }), 'LABEL_NOT_FINITE', /row 1/);
    await fail(
      trainGbdt(ok, [0, 1, Infinity, 0], { objective: 'regression' }),
      'LABEL_NOT_FINITE',
      /row 2 is Infinity/,
    );
  });
  test('labels that are not 0/1 for binary', async () => {
    await fail(trainGbdt(ok, [0, 1, 2, 0], { objective: 'binary' }), 'LABEL_NOT_BINARY', /0 or 1/);
  });
  test('label count must match rows', async () => {
    await fail(trainGbdt(ok, [0, 1], { objective: 'binary' }), 'LABEL_LENGTH', /2 labels for 4 rows/);
  });
  test('invalid parameters are named', async () => {
    await fail(trainGbdt(ok, [0, 1, 0, 1], { objective: 'binary', learningRate: -1 }), 'INVALID_PARAM', /learningRate/);
    await fail(
      trainGbdt(ok, [0, 1, 0, 1], { objective: 'binary', earlyStoppingRounds: 3 }),
      'INVALID_PARAM',
      /validation/,
    );
  });

  test('constant and all-missing features train fine and are never split on', async () => {
    const { frame, y } = signalData(1000, 10);
    const withJunk = new Frame([
      ...frame.columns,
      { name: 'const', kind: 'numeric', values: new Float64Array(1000).fill(7) },
      { name: 'empty', kind: 'numeric', values: new Float64Array(1000).fill(NaN) },
    ]);
    const model = await trainGbdt(withJunk, y, { objective: 'binary', numTrees: 10 });
    const split = model.featureImportance('split');
    expect(split.const).toBe(0);
    expect(split.empty).toBe(0);
    expect(split.x0!).toBeGreaterThan(0);
  });

  test('more features than rows works', async () => {
    const r = lcg(12);
    const cols: Record<string, Float64Array> = {};
    for (let f = 0; f < 50; f++) cols[`f${f}`] = Float64Array.from({ length: 30 }, () => r());
    const y = Float64Array.from({ length: 30 }, (_, i) => (cols.f3![i]! > 0.5 ? 1 : 0));
    const model = await trainGbdt(Frame.fromColumns(cols), y, { objective: 'binary', numTrees: 5, minDataInLeaf: 3 });
    expect(model.predict(Frame.fromColumns(cols)).length).toBe(30);
  });

  test('mismatched feature names at predict time name the missing feature', async () => {
    const model = await trainGbdt(Frame.fromColumns({ age: [1, 2, 3, 4], sbp: [4, 3, 2, 1] }), [0, 1, 0, 1], {
      objective: 'binary',
      numTrees: 1,
      minDataInLeaf: 1,
    });
    expect(() => model.predict(Frame.fromColumns({ age: [1], SBP: [2] }))).toThrow(/"sbp"/);
    expect(() => model.predictRow({ age: 3 })).toThrow(/"sbp"/);
    expect(() => model.predict(Frame.fromColumns({ age: [1], sbp: ['high'] }))).toThrow(/numeric in the model/);
  });
});

describe('model JSON', () => {
  test('round trip through JSON text gives identical predictions and explanations', async () => {
    const { frame, y } = signalData(1500, 13);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 15, numLeaves: 10 });
    const text = JSON.stringify(model.toJSON());
    const back = loadModel(text);
    expect(back).toBeInstanceOf(GbdtModel);
    expect(Array.from(back.predictRaw(frame))).toEqual(Array.from(model.predictRaw(frame)));
    expect(back.explain(frame.take([0, 1])).values).toEqual(model.explain(frame.take([0, 1])).values);
    expect(JSON.stringify(back.toJSON())).toBe(text);
    const json = model.toJSON();
    expect(json.format).toBe('ichigen.gbdt');
    expect(json.formatVersion).toBe(1);
    expect(json.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(json.features.map((f) => f.name)).toEqual(['x0', 'x1', 'x2', 'x3', 'c']);
  });

  test('truncated, tampered, foreign and future models fail clearly', async () => {
    const model = await trainGbdt(Frame.fromColumns({ x: [1, 2, 3, 4, 5, 6] }), [0, 0, 0, 1, 1, 1], {
      objective: 'binary',
      numTrees: 2,
      minDataInLeaf: 1,
    });
    const text = JSON.stringify(model.toJSON());
    expect(() => loadModel(text.slice(0, text.length - 20))).toThrow(
      expect.objectContaining({ code: 'MODEL_CORRUPT' }),
    );
    const tampered = model.toJSON();
    tampered.trees[0]!.value[1] = 123;
    expect(() => loadModel(tampered)).toThrow(expect.objectContaining({ code: 'MODEL_CHECKSUM' }));
    expect(() => loadModel({ ...model.toJSON(), format: 'xgboost' })).toThrow(
      expect.objectContaining({ code: 'MODEL_FORMAT' }),
    );
    expect(() => loadModel({ ...model.toJSON(), formatVersion: 2 })).toThrow(
      expect.objectContaining({ code: 'MODEL_VERSION' }),
    );
    expect(() => loadModel({ ...model.toJSON(), engineVersion: '9.0.0' })).toThrow(/engine 9\.0\.0/);
    expect(() => GbdtModel.fromJSON({ ...model.toJSON(), checksum: undefined })).toThrow(/checksum/);
  });
});

describe('worker threads', () => {
  test('an error during threaded training rejects and still lets training run again', async () => {
    const { frame, y } = signalData(20_000, 14);
    const boom = new Error('stop here');
    await expect(
      trainGbdt(frame, y, {
        objective: 'binary',
        numTrees: 5,
        numThreads: 2,
        onIteration: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 2, numThreads: 2 });
    expect(model.trees.length).toBe(2);
  });
});

describe('onIteration metrics', () => {
  test('trainLoss read in the callback is the log loss of the margins so far; read later it is frozen', async () => {
    const { frame, y } = signalData(2000, 11);
    const seen: { iter: number; train: number; metrics: { trainLoss: number } }[] = [];
    const opts = { objective: 'binary' as const, numLeaves: 8, seed: 3 };
    await trainGbdt(frame, y, {
      ...opts,
      numTrees: 6,
      onIteration: (iter, m) => {
        if (iter % 2 === 0) seen.push({ iter, train: m.trainLoss, metrics: m });
        else seen.push({ iter, train: NaN, metrics: m });
      },
    });
    // Read inside the callback: the mean log loss on the training rows of the first iter + 1 trees (the same seed
    // grows the same first trees when fewer are asked for).
    const probs = async (trees: number) =>
      (await trainGbdt(frame, y, { ...opts, numTrees: trees })).predictProba(frame);
    for (const s of seen.filter((x) => x.iter % 2 === 0)) {
      const p = await probs(s.iter + 1);
      let want = 0;
      for (let i = 0; i < y.length; i++) want -= y[i] === 1 ? Math.log(p[i]!) : Math.log(1 - p[i]!);
      want /= y.length;
      expect(s.train).toBeCloseTo(want, 9);
      expect(s.metrics.trainLoss).toBe(s.train); // frozen afterwards
    }
    // Never read in the callback: NaN afterwards, not a loss of later margins.
    for (const s of seen.filter((x) => x.iter % 2 === 1)) expect(s.metrics.trainLoss).toBeNaN();
    const losses = seen.filter((x) => x.iter % 2 === 0).map((x) => x.train);
    expect(losses[2]!).toBeLessThan(losses[0]!);
  });
});

describe('bin cache', () => {
  class Counting extends GbdtBinCache {
    made = 0;
    override train(...[frame, key, make]: Parameters<GbdtBinCache['train']>) {
      return super.train(frame, key, () => {
        this.made++;
        return make();
      });
    }
  }

  test('reuses the bins of the same frames and gives the same models as without it', async () => {
    const tr = signalData(3000, 11);
    const va = signalData(1000, 12);
    const opts = {
      objective: 'binary' as const,
      numTrees: 30,
      numLeaves: 15,
      validation: { frame: va.frame, labels: va.y },
    };
    const plain = await trainGbdt(tr.frame, tr.y, opts);
    const cache = new Counting();
    const first = await trainGbdt(tr.frame, tr.y, { ...opts, binCache: cache });
    const second = await trainGbdt(tr.frame, tr.y, { ...opts, learningRate: 0.2, binCache: cache });
    expect(cache.made).toBe(1);
    expect(first.predictProba(va.frame)).toEqual(plain.predictProba(va.frame));
    const fresh = await trainGbdt(tr.frame, tr.y, { ...opts, learningRate: 0.2 });
    expect(second.predictProba(va.frame)).toEqual(fresh.predictProba(va.frame));
    // Other binning settings, or another frame, bin again; only the latest settings' bins are kept per frame.
    await trainGbdt(tr.frame, tr.y, { ...opts, maxBins: 31, binCache: cache });
    const other = signalData(3000, 13);
    await trainGbdt(other.frame, other.y, { ...opts, binCache: cache });
    expect(cache.made).toBe(3);
    await trainGbdt(tr.frame, tr.y, { ...opts, maxBins: 31, binCache: cache });
    expect(cache.made).toBe(3);
    await trainGbdt(tr.frame, tr.y, { ...opts, binCache: cache });
    expect(cache.made).toBe(4);
  });
});

describe('validationMargins', () => {
  test('are bit for bit the margins predictRaw gives the returned model on the validation rows', async () => {
    const { frame, y } = signalData(3000, 21);
    const { frame: vFrame, y: vy } = signalData(900, 22);
    // A category the training rows never had: routed like a missing value by training and by prediction alike.
    const cv = vFrame.column('c');
    const cats = cv.kind === 'categorical' ? Array.from(cv.codes, (k) => (k < 0 ? null : cv.dictionary[k]!)) : [];
    cats[5] = 'never-seen';
    const cols: Record<string, Float64Array | (string | null)[]> = { c: cats };
    for (const name of ['x0', 'x1', 'x2', 'x3']) {
      const col = vFrame.column(name);
      if (col.kind === 'numeric') cols[name] = col.values;
    }
    const valid = Frame.fromColumns(cols);
    const cases = [
      // Early stopping keeps the best round's margins; bagging routes the out-of-bag training rows.
      { numTrees: 200, earlyStoppingRounds: 5, baggingFraction: 0.6, featureFraction: 0.75, learningRate: 0.3 },
      { numTrees: 12, baggingFraction: 0.8 },
      { numTrees: 8, numThreads: 2, baggingFraction: 0.7, numLeaves: 40, minDataInLeaf: 5 },
      { numTrees: 6, maxDepth: 2, categoricalFeatures: [] },
      // Trees that are a single leaf (no split clears the gain bar).
      { numTrees: 3, minGainToSplit: 1e9, baggingFraction: 0.5 },
    ];
    for (const c of cases) {
      const margins = new Float64Array(valid.numRows).fill(NaN);
      const model = await trainGbdt(frame, y, {
        objective: 'binary',
        numLeaves: 16,
        seed: 4,
        ...c,
        validation: { frame: valid, labels: vy },
        validationMargins: margins,
      });
      if (c.earlyStoppingRounds) expect(model.trees.length).toBeLessThan(c.numTrees);
      expect(Array.from(margins)).toEqual(Array.from(model.predictRaw(valid)));
    }
  });

  test('out-of-bag training rows get the same margins as predictRaw (the training loss reads them)', async () => {
    const { frame, y } = signalData(2500, 31);
    let last = NaN;
    const opts = { objective: 'binary' as const, numTrees: 10, numLeaves: 24, baggingFraction: 0.55, seed: 9 };
    const model = await trainGbdt(frame, y, {
      ...opts,
      onIteration: (iter, m) => {
        if (iter === opts.numTrees - 1) last = m.trainLoss;
      },
    });
    const raw = model.predictRaw(frame);
    let want = 0;
    for (let i = 0; i < raw.length; i++) {
      const z = raw[i]!;
      want += Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - y[i]! * z;
    }
    expect(last).toBe(want / raw.length);
  });

  test('need a validation set with one number per row', async () => {
    const { frame, y } = signalData(200, 3);
    await expect(
      trainGbdt(frame, y, { objective: 'binary', numTrees: 2, validationMargins: new Float64Array(200) }),
    ).rejects.toThrow(/validationMargins/);
    await expect(
      trainGbdt(frame, y, {
        objective: 'binary',
        numTrees: 2,
        validation: { frame, labels: y },
        validationMargins: new Float64Array(199),
      }),
    ).rejects.toThrow(/validationMargins/);
  });
});
