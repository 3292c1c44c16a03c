import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Frame } from '../frame.js';
import type { GbdtModel, GbdtTreeJson } from './model.js';
import { ShapScratch, TreeShapTable, treeShap } from './shap.js';
import { trainGbdt } from './train.js';

/** Brute-force path-dependent expectation E[f(x) | x_S]: follow x on features in S, average by cover elsewhere. */
function condExpect(
  t: GbdtTreeJson,
  node: number,
  goesLeft: (node: number) => boolean,
  inS: (f: number) => boolean,
): number {
  if (t.left[node] === -1) return t.value[node]!;
  const l = t.left[node]!;
  const r = t.right[node]!;
  if (inS(t.splitFeature[node]!)) return condExpect(t, goesLeft(node) ? l : r, goesLeft, inS);
  const cl = t.cover[l]!;
  const cr = t.cover[r]!;
  return (cl * condExpect(t, l, goesLeft, inS) + cr * condExpect(t, r, goesLeft, inS)) / (cl + cr);
}

/** Exact Shapley values by enumerating every feature subset (small F only). */
function bruteForceShap(model: GbdtModel, row: Record<string, number | string | null>): number[] {
  const F = model.features.length;
  const v = (mask: number): number => {
    let s = model.baseScore;
    for (const t of model.trees) {
      const goesLeft = (node: number): boolean => {
        const feat = model.features[t.splitFeature[node]!]!;
        const x = row[feat.name];
        if (x === null || x === undefined || (typeof x === 'number' && Number.isNaN(x))) return t.defaultLeft[node]!;
        if (feat.kind === 'numeric') return (x as number) <= t.threshold[node]!;
        const code = feat.dictionary.indexOf(String(x));
        if (code < 0) return t.defaultLeft[node]!;
        return (t.categories[node] ?? []).includes(code);
      };
      s += condExpect(t, 0, goesLeft, (f) => (mask & (1 << f)) !== 0);
    }
    return s;
  };
  const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1));
  const phi = new Array<number>(F).fill(0);
  for (let i = 0; i < F; i++) {
    for (let mask = 0; mask < 1 << F; mask++) {
      if (mask & (1 << i)) continue;
      let size = 0;
      for (let b = 0; b < F; b++) if (mask & (1 << b)) size++;
      const w = (fact(size) * fact(F - size - 1)) / fact(F);
      phi[i] += w * (v(mask | (1 << i)) - v(mask));
    }
  }
  return phi;
}

function makeData(n: number, seed: number, withCat: boolean) {
  let s = seed >>> 0 || 1;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const d = new Float64Array(n);
  const c: string[] = [];
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = r() < 0.1 ? NaN : r();
    b[i] = Math.floor(r() * 5);
    d[i] = r();
    c.push(['u', 'v', 'w', 'x', 'y', 'z'][Math.floor(r() * 6)]!);
    const z = 3 * (a[i]! > 0.5 ? 1 : -1) + b[i]! * d[i]! - (c[i] === 'v' || c[i] === 'y' ? 1.5 : 0);
    y[i] = r() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const frame = withCat ? Frame.fromColumns({ a, b, d, c }) : Frame.fromColumns({ a, b, d });
  return { frame, y };
}

describe('TreeSHAP', () => {
  test('property: SHAP values plus base value equal the raw margin (1e-9)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 2, max: 24 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.constantFrom<'binary' | 'regression'>('binary', 'regression'),
        async (seed, numLeaves, numTrees, withCat, objective) => {
          const { frame, y } = makeData(300, seed, withCat);
          const model = await trainGbdt(frame, y, {
            objective,
            numLeaves,
            numTrees,
            minDataInLeaf: 3,
            baggingFraction: 0.8,
            minDataPerGroup: 1,
            seed,
          });
          const rows = frame.take([0, 1, 2, 3, 4, 5, 6, 7]);
          const raw = model.predictRaw(rows);
          const { baseValue, values } = model.explain(rows);
          for (let i = 0; i < raw.length; i++) {
            const sum = baseValue + values[i]!.reduce((s, v) => s + v, 0);
            expect(Math.abs(sum - raw[i]!)).toBeLessThan(1e-9);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  test('matches exact Shapley values of the cover-weighted expectation (brute force over subsets)', async () => {
    const { frame, y } = makeData(400, 17, true);
    const model = await trainGbdt(frame, y, {
      objective: 'binary',
      numTrees: 3,
      numLeaves: 12,
      minDataInLeaf: 5,
      minDataPerGroup: 1,
    });
    const { values } = model.explain(frame.take([0, 1, 2, 3, 4]));
    for (let i = 0; i < 5; i++) {
      const expected = bruteForceShap(model, frame.row(i));
      for (let f = 0; f < expected.length; f++) expect(values[i]![f]!).toBeCloseTo(expected[f]!, 10);
    }
  });

  test('the leaf tables give the values of the recursive algorithm, with repeated features on a path', async () => {
    const { frame, y } = makeData(600, 29, false);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 8, numLeaves: 31, minDataInLeaf: 3 });
    const F = model.features.length;
    for (let i = 0; i < 40; i++) {
      const row = frame.row(i) as Record<string, number | null>;
      const x = model.features.map((f) => row[f.name] ?? NaN);
      const slow = new Float64Array(F);
      const fast = new Float64Array(F);
      for (const t of model.trees) {
        const depth = (j: number): number =>
          t.left[j] === -1 ? 0 : 1 + Math.max(depth(t.left[j]!), depth(t.right[j]!));
        const tree = {
          feature: Int32Array.from(t.splitFeature),
          left: Int32Array.from(t.left),
          right: Int32Array.from(t.right),
          value: Float64Array.from(t.value),
          cover: Float64Array.from(t.cover),
          maxDepth: depth(0),
        };
        const goesLeft = (j: number) => {
          const v = x[t.splitFeature[j]!]!;
          return Number.isNaN(v) ? t.defaultLeft[j]! : v <= t.threshold[j]!;
        };
        treeShap(tree, goesLeft, slow, new ShapScratch(tree.maxDepth));
        const dec = Uint8Array.from(t.splitFeature, (f, j) => (f >= 0 && goesLeft(j) ? 1 : 0));
        TreeShapTable.build(tree, 1 << 20)!.add(dec, 0, fast);
        expect(TreeShapTable.build(tree, 1)).toBeNull(); // over the budget: the caller keeps the recursion
      }
      for (let f = 0; f < F; f++) expect(fast[f]!).toBeCloseTo(slow[f]!, 12);
    }
  });

  test('mean |SHAP| importance ranks the strongest feature first', async () => {
    const { frame, y } = makeData(800, 3, false);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 20, numLeaves: 8 });
    const imp = model.featureImportance('shap', frame.take(Array.from({ length: 200 }, (_, i) => i)));
    expect(imp.a!).toBeGreaterThan(imp.d!);
    expect(imp.a!).toBeGreaterThan(imp.b!);
    expect(() => model.featureImportance('shap')).toThrow(/needs a frame/);
  });
});
