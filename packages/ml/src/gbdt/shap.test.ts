import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Frame } from '../frame.js';
import type { GbdtModel, GbdtTreeJson } from './model.js';
import { ForestShap, ShapScratch, TreeShapTable, leafTableValues, treeShap } from './shap.js';
import type { ShapForest, ShapTree } from './shap.js';
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

/** Six features (two categorical), missing values in numeric and categorical columns. */
function makeWideData(n: number, seed: number) {
  let s = seed >>> 0 || 1;
  const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const cols = {
    a: new Float64Array(n),
    b: new Float64Array(n),
    d: new Float64Array(n),
    e: new Float64Array(n),
    c: [] as (string | null)[],
    g: [] as (string | null)[],
  };
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    cols.a[i] = r() < 0.1 ? NaN : r();
    cols.b[i] = Math.floor(r() * 7);
    cols.d[i] = r() * 10;
    cols.e[i] = r() < 0.2 ? NaN : r();
    cols.c.push(r() < 0.1 ? null : 'uvwxyzq'[Math.floor(r() * 7)]!);
    cols.g.push(r() < 0.05 ? null : 'klmno'[Math.floor(r() * 5)]!);
    const z =
      2 * (cols.a[i]! > 0.5 ? 1 : -1) +
      (cols.b[i]! * cols.d[i]!) / 20 -
      (cols.c[i] === 'v' || cols.c[i] === 'y' ? 1.5 : 0) +
      (cols.g[i] === 'm' ? 1 : 0) +
      Math.sin(6 * (cols.e[i]! || 0));
    y[i] = r() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { frame: Frame.fromColumns(cols), y };
}

/** The model's compiled trees and one frame row as ForestShap reads it (the model's private helpers). */
function modelInputs(model: GbdtModel, frame: Frame) {
  const m = model as unknown as {
    compile(): CompiledForTest;
    inputColumns(f: Frame): (Float64Array | Int32Array)[];
  };
  const c = m.compile();
  const cols = m.inputColumns(frame);
  const row = (i: number): Float64Array =>
    Float64Array.from(cols, (col) => (col instanceof Int32Array && col[i]! < 0 ? NaN : col[i]!));
  return { c, row };
}

// ---- Reference: the per-row explanation as it was before ForestShap (leaf tables checked step by step against
// the row's direction at every split, routed up front; treeShap for trees over the budget). Kept verbatim as the
// yardstick for the new path (only the table fill, which ForestShap did not change, is shared); do not optimise it.
/**
 * One tree's SHAP values for a row from its tables (what `TreeShapTable.add` did before ForestShap took over):
 * walk the tree with the row's decisions `dec`, clearing a feature's bit on the side the row does not take, then
 * read one table row per leaf.
 */
function addFromTable(table: TreeShapTable, tree: ShapTree, dec: Uint8Array, phi: Float64Array): void {
  const { nodeBit, leafU, uFeature, leafTable, values } = table;
  const stack: [number, number][] = [];
  let node = 0;
  let mask = -1;
  for (;;) {
    const l = tree.left[node]!;
    if (l !== -1) {
      const r = tree.right[node]!;
      const off = mask & ~(1 << nodeBit[node]!);
      const goLeft = dec[node] === 1;
      stack.push([goLeft ? r : l, off]);
      node = goLeft ? l : r;
      continue;
    }
    const leaf = nodeBit[node]!;
    const k = leafU[leaf + 1]! - leafU[leaf]!;
    const row = leafTable[leaf]! + (mask & ((1 << k) - 1)) * k;
    for (let u = leafU[leaf]!, j = row; u < leafU[leaf + 1]!; u++, j++) phi[uFeature[u]!] += values[j]!;
    const next = stack.pop();
    if (!next) break;
    [node, mask] = next;
  }
}

class OldTreeShapTable {
  private constructor(
    /** Per leaf: range of its unique path features in `uFeature` (leafU[l] .. leafU[l + 1]). */
    private readonly leafU: Int32Array,
    private readonly uFeature: Int32Array,
    /** Per leaf: range of its path steps (leafS[l] .. leafS[l + 1]): node, direction, and its feature's bit. */
    private readonly leafS: Int32Array,
    private readonly stepNode: Int32Array,
    private readonly stepLeft: Uint8Array,
    private readonly stepBit: Int32Array,
    /** Per leaf: offset of its table (2^k rows of k contributions) in `values`. */
    private readonly leafTable: Int32Array,
    private readonly values: Float64Array,
    readonly size: number,
  ) {}

  /**
   * Builds the tables of one tree, or null when they would hold more than `maxValues` numbers (deep trees: the
   * caller then uses `treeShap`).
   */
  static build(tree: ShapTree, maxValues: number): OldTreeShapTable | null {
    const leafU: number[] = [0];
    const uFeature: number[] = [];
    const leafS: number[] = [0];
    const stepNode: number[] = [];
    const stepLeft: number[] = [];
    const stepBit: number[] = [];
    const leaves: { feats: number[]; zeros: number[]; value: number }[] = [];
    let size = 0;
    let tooBig = false;
    // Depth-first over root→leaf paths; `path` holds (node, went left) pairs.
    const path: { node: number; left: boolean }[] = [];
    const visit = (node: number): void => {
      if (tooBig) return;
      if (tree.left[node] === -1) {
        const feats: number[] = [];
        const zeros: number[] = [];
        for (const st of path) {
          const f = tree.feature[st.node]!;
          const child = st.left ? tree.left[st.node]! : tree.right[st.node]!;
          let k = feats.indexOf(f);
          if (k < 0) {
            k = feats.length;
            feats.push(f);
            zeros.push(1);
          }
          zeros[k] = zeros[k]! * (tree.cover[child]! / tree.cover[st.node]!);
          stepNode.push(st.node);
          stepLeft.push(st.left ? 1 : 0);
          stepBit.push(k);
        }
        leafS.push(stepNode.length);
        const k = feats.length;
        size += (1 << k) * k;
        if (size > maxValues || k > 24) {
          tooBig = true;
          return;
        }
        uFeature.push(...feats);
        leafU.push(uFeature.length);
        leaves.push({ feats, zeros, value: tree.value[node]! });
        return;
      }
      path.push({ node, left: true });
      visit(tree.left[node]!);
      path[path.length - 1] = { node, left: false };
      visit(tree.right[node]!);
      path.pop();
    };
    if (tree.left[0] !== -1) visit(0);
    if (tooBig) return null;
    // The tables themselves are unchanged by ForestShap: the same fill as production.
    const { values, leafTable } = leafTableValues(leaves, tree.maxDepth, size);
    return new OldTreeShapTable(
      Int32Array.from(leafU),
      Int32Array.from(uFeature),
      Int32Array.from(leafS),
      Int32Array.from(stepNode),
      Uint8Array.from(stepLeft),
      Int32Array.from(stepBit),
      Int32Array.from(leafTable),
      values,
      size,
    );
  }

  /**
   * Adds the tree's SHAP values for the current row into `phi`. `dec[base + node]` is 1 when the row goes left at
   * this tree's split `node` (the caller routes the row once for all trees).
   */
  add(dec: Uint8Array, base: number, phi: Float64Array): void {
    const { leafU, uFeature, leafS, stepNode, stepLeft, stepBit, leafTable, values } = this;
    const leaves = leafTable.length;
    for (let l = 0; l < leaves; l++) {
      const u0 = leafU[l]!;
      const k = leafU[l + 1]! - u0;
      // A path feature counts as followed when the row takes the path's direction at every one of its splits.
      let mask = (1 << k) - 1;
      for (let j = leafS[l]!, end = leafS[l + 1]!; j < end; j++)
        if (dec[base + stepNode[j]!] !== stepLeft[j]) mask &= ~(1 << stepBit[j]!);
      const row = leafTable[l]! + mask * k;
      for (let u = 0; u < k; u++) {
        const f = uFeature[u0 + u]!;
        phi[f] = phi[f]! + values[row + u]!;
      }
    }
  }
}

interface CompiledForTest extends ShapForest {
  shapTrees: (ShapTree & { offset: number })[];
}

function oldRouteLeft(c: CompiledForTest, g: number, x: number): boolean {
  if (x !== x) return c.defaultLeft[g] === 1;
  const co = c.catOffset[g]!;
  if (co < 0) return x <= c.threshold[g]!;
  return c.catMember[co + x] === 1;
}

function oldExplainRow(c: CompiledForTest, x: Float64Array, budget: number): Float64Array {
  let maxDepth = 0;
  for (const t of c.shapTrees) maxDepth = Math.max(maxDepth, t.maxDepth);
  const scratch = new ShapScratch(maxDepth);
  let offset = 0;
  const goesLeft = (node: number): boolean => oldRouteLeft(c, offset + node, x[c.feature[offset + node]!]!);
  let left = budget;
  const tables = c.shapTrees.map((t) => {
    const table = left > 0 ? OldTreeShapTable.build(t, left) : null;
    if (table) left -= table.size;
    return table;
  });
  const dec = new Uint8Array(c.feature.length);
  for (let g = 0; g < dec.length; g++) {
    const f = c.feature[g]!;
    if (f >= 0) dec[g] = oldRouteLeft(c, g, x[f]!) ? 1 : 0;
  }
  const phi = new Float64Array(c.numFeatures);
  for (let ti = 0; ti < c.shapTrees.length; ti++) {
    const t = c.shapTrees[ti]!;
    const table = tables[ti];
    if (table) table.add(dec, t.offset, phi);
    else {
      offset = t.offset;
      treeShap(t, goesLeft, phi, scratch);
    }
  }
  return phi;
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
        addFromTable(TreeShapTable.build(tree, 1 << 20)!, tree, dec, fast);
        expect(TreeShapTable.build(tree, 1)).toBeNull(); // over the budget: the caller keeps the recursion
      }
      for (let f = 0; f < F; f++) expect(fast[f]!).toBeCloseTo(slow[f]!, 12);
    }
  });

  test('property: ForestShap gives the values of the previous per-row path (1e-12): missing values, categorical splits, depth up to 12, tables and recursion', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 2, max: 200 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom(0, 200, 1 << 20),
        fc.constantFrom<'binary' | 'regression'>('binary', 'regression'),
        async (seed, numLeaves, maxDepth, numTrees, budget, objective) => {
          const { frame, y } = makeWideData(400, seed);
          const model = await trainGbdt(frame, y, {
            objective,
            numLeaves,
            maxDepth,
            numTrees,
            minDataInLeaf: 2,
            minDataPerGroup: 1,
            baggingFraction: 0.8,
            seed,
          });
          const { c, row } = modelInputs(model, frame);
          const forest = ForestShap.build(c, budget);
          for (let i = 0; i < 30; i++) {
            const x = row(i);
            const want = oldExplainRow(c, x, budget);
            const got = new Float64Array(c.numFeatures);
            forest.addRow(x, got);
            for (let f = 0; f < c.numFeatures; f++) expect(Math.abs(got[f]! - want[f]!)).toBeLessThanOrEqual(1e-12);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test('ForestShap reuses its working memory: explaining rows in any order gives the same values', async () => {
    const { frame, y } = makeWideData(500, 7);
    const model = await trainGbdt(frame, y, { objective: 'binary', numTrees: 20, numLeaves: 31, maxDepth: 6 });
    const { c, row } = modelInputs(model, frame);
    const forest = ForestShap.build(c, 1 << 22);
    const once = (i: number) => {
      const phi = new Float64Array(c.numFeatures);
      forest.addRow(row(i), phi);
      return Array.from(phi);
    };
    const forward = Array.from({ length: 20 }, (_, i) => once(i));
    for (let i = 19; i >= 0; i--) expect(once(i)).toEqual(forward[i]);
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
