// Exact path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2): per-feature contributions to one
// prediction's raw margin, using node covers (hessian sums) as the background distribution.

/** One tree in flat form, shared with the predictor: children are node indices, -1 at leaves. */
export interface ShapTree {
  readonly feature: Int32Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  readonly value: Float64Array;
  readonly cover: Float64Array;
  readonly maxDepth: number;
}

/** Decides whether `node` sends the current row left. */
export type GoesLeft = (node: number) => boolean;

/** Working memory for one tree depth; reuse it across rows. */
export class ShapScratch {
  feat: Int32Array;
  zero: Float64Array;
  one: Float64Array;
  weight: Float64Array;
  constructor(maxDepth: number) {
    const size = ((maxDepth + 2) * (maxDepth + 3)) / 2;
    this.feat = new Int32Array(size);
    this.zero = new Float64Array(size);
    this.one = new Float64Array(size);
    this.weight = new Float64Array(size);
  }
}

/** Adds the tree's SHAP values for the current row into `phi` (indexed by feature). */
export function treeShap(tree: ShapTree, goesLeft: GoesLeft, phi: Float64Array, s: ShapScratch): void {
  if (tree.left[0] === -1) return;
  recurse(tree, goesLeft, phi, s, 0, 0, 0, 1, 1, -1);
}

function extend(s: ShapScratch, p: number, depth: number, zero: number, one: number, feature: number): void {
  const { feat, weight } = s;
  feat[p + depth] = feature;
  s.zero[p + depth] = zero;
  s.one[p + depth] = one;
  weight[p + depth] = depth === 0 ? 1 : 0;
  for (let i = depth - 1; i >= 0; i--) {
    weight[p + i + 1] = weight[p + i + 1]! + (one * weight[p + i]! * (i + 1)) / (depth + 1);
    weight[p + i] = (zero * weight[p + i]! * (depth - i)) / (depth + 1);
  }
}

function unwind(s: ShapScratch, p: number, depth: number, index: number): void {
  const { feat, weight } = s;
  const one = s.one[p + index]!;
  const zero = s.zero[p + index]!;
  let next = weight[p + depth]!;
  for (let i = depth - 1; i >= 0; i--) {
    if (one !== 0) {
      const tmp = weight[p + i]!;
      weight[p + i] = (next * (depth + 1)) / ((i + 1) * one);
      next = tmp - (weight[p + i]! * zero * (depth - i)) / (depth + 1);
    } else {
      weight[p + i] = (weight[p + i]! * (depth + 1)) / (zero * (depth - i));
    }
  }
  for (let i = index; i < depth; i++) {
    feat[p + i] = feat[p + i + 1]!;
    s.zero[p + i] = s.zero[p + i + 1]!;
    s.one[p + i] = s.one[p + i + 1]!;
  }
}

function unwoundSum(s: ShapScratch, p: number, depth: number, index: number): number {
  const weight = s.weight;
  const one = s.one[p + index]!;
  const zero = s.zero[p + index]!;
  let next = weight[p + depth]!;
  let total = 0;
  if (one !== 0) {
    for (let i = depth - 1; i >= 0; i--) {
      const tmp = next / ((i + 1) * one);
      total += tmp;
      next = weight[p + i]! - tmp * zero * (depth - i);
    }
  } else {
    for (let i = depth - 1; i >= 0; i--) total += weight[p + i]! / (zero * (depth - i));
  }
  return total * (depth + 1);
}

function recurse(
  tree: ShapTree,
  goesLeft: GoesLeft,
  phi: Float64Array,
  s: ShapScratch,
  node: number,
  parentPath: number,
  depthIn: number,
  parentZero: number,
  parentOne: number,
  parentFeature: number,
): void {
  // Each level works on its own copy of the path, placed right after the parent's.
  const p = depthIn === 0 ? parentPath : parentPath + depthIn;
  if (depthIn > 0) {
    // Plain loops: the paths are at most a few entries long, where copyWithin's call overhead dominates.
    const { feat, zero, one, weight } = s;
    for (let i = 0; i < depthIn; i++) {
      feat[p + i] = feat[parentPath + i]!;
      zero[p + i] = zero[parentPath + i]!;
      one[p + i] = one[parentPath + i]!;
      weight[p + i] = weight[parentPath + i]!;
    }
  }
  let depth = depthIn;
  extend(s, p, depth, parentZero, parentOne, parentFeature);
  const l = tree.left[node]!;
  if (l === -1) {
    const v = tree.value[node]!;
    for (let i = 1; i <= depth; i++) {
      const w = unwoundSum(s, p, depth, i);
      phi[s.feat[p + i]!] = phi[s.feat[p + i]!]! + w * (s.one[p + i]! - s.zero[p + i]!) * v;
    }
    return;
  }
  const r = tree.right[node]!;
  const f = tree.feature[node]!;
  const left = goesLeft(node);
  const hot = left ? l : r;
  const cold = left ? r : l;
  const w = tree.cover[node]!;
  const hotZero = tree.cover[hot]! / w;
  const coldZero = tree.cover[cold]! / w;
  let inZero = 1;
  let inOne = 1;
  let k = 0;
  for (; k <= depth; k++) if (s.feat[p + k] === f) break;
  if (k !== depth + 1) {
    inZero = s.zero[p + k]!;
    inOne = s.one[p + k]!;
    unwind(s, p, depth, k);
    depth -= 1;
  }
  recurse(tree, goesLeft, phi, s, hot, p, depth + 1, hotZero * inZero, inOne, f);
  recurse(tree, goesLeft, phi, s, cold, p, depth + 1, coldZero * inZero, 0, f);
}

/**
 * Depth-first over a tree's root→leaf paths. At a split, `onSplit` gets the bit of the node's feature among the
 * unique features of the path from the root to it (the same bit for every leaf below); at a leaf, `onLeaf` gets
 * the path's unique features in order of first use and, for each, the product of the cover fractions of its
 * splits along the path (the arrays are reused: copy them to keep them). `onLeaf` returns false to stop the walk.
 */
export function walkPaths(
  tree: ShapTree,
  onSplit: (node: number, bit: number) => void,
  onLeaf: (node: number, feats: readonly number[], zeros: readonly number[]) => boolean,
): void {
  const feats: number[] = [];
  const zeros: number[] = [];
  let stop = false;
  const visit = (node: number): void => {
    if (stop) return;
    if (tree.left[node] === -1) {
      stop = !onLeaf(node, feats, zeros);
      return;
    }
    const f = tree.feature[node]!;
    let k = feats.indexOf(f);
    const added = k < 0;
    if (added) {
      k = feats.length;
      feats.push(f);
      zeros.push(1);
    }
    onSplit(node, k);
    const z = zeros[k]!;
    for (const child of [tree.left[node]!, tree.right[node]!]) {
      zeros[k] = z * (tree.cover[child]! / tree.cover[node]!);
      visit(child);
    }
    zeros[k] = z;
    if (added) {
      feats.pop();
      zeros.pop();
    }
  };
  if (tree.left[0] !== -1) visit(0);
}

/**
 * The per-leaf tables: for each leaf (its unique path features, their cover fractions and its value) and each
 * subset `mask` of those k features the row follows, the k contributions at `leafTable[l] + mask * k`, computed
 * with treeShap's arithmetic. `size` is the total count of numbers.
 */
export function leafTableValues(
  leaves: readonly { feats: readonly number[]; zeros: readonly number[]; value: number }[],
  maxDepth: number,
  size: number,
): { values: Float64Array; leafTable: number[] } {
  const values = new Float64Array(size);
  const s = new ShapScratch(maxDepth + 1);
  const leafTable: number[] = [];
  let off = 0;
  for (const leaf of leaves) {
    leafTable.push(off);
    const k = leaf.feats.length;
    for (let mask = 0; mask < 1 << k; mask++) {
      // The leaf's path as treeShap has it at this leaf: the root's dummy element, then each unique feature
      // with its cover fraction and whether the row follows the path on it (1) or not (0).
      extend(s, 0, 0, 1, 1, -1);
      for (let u = 0; u < k; u++) extend(s, 0, u + 1, leaf.zeros[u]!, (mask >> u) & 1, leaf.feats[u]!);
      for (let u = 0; u < k; u++) {
        const w = unwoundSum(s, 0, k, u + 1);
        values[off + mask * k + u] = w * (((mask >> u) & 1) - leaf.zeros[u]!) * leaf.value;
      }
    }
    off += (1 << k) * k;
  }
  return { values, leafTable };
}

/**
 * TreeSHAP with per-leaf tables (the precomputation of "Fast TreeSHAP v2", Yang 2021): a leaf's contribution to
 * each feature depends on the row only through which of the leaf's path features the row agrees with, so for every
 * leaf and every subset of its (at most depth) path features the contributions are computed once, with the same
 * arithmetic as `treeShap`'s leaves. Explaining a row (`ForestShap`, over every tree's tables at once) then routes
 * the row once per split node, clearing a feature's bit on the side the row does not take, and reads one table row
 * per leaf, instead of the recursion over every node with its O(depth²) leaf sums. Exact (same values as treeShap
 * up to rounding).
 */
export class TreeShapTable {
  private constructor(
    /**
     * Per split node: the bit of its feature among the unique features of the path from the root to it (the same
     * bit in the table of every leaf below). Per leaf: the leaf's index.
     */
    readonly nodeBit: Int32Array,
    /** Per leaf: range of its unique path features in `uFeature` (leafU[l] .. leafU[l + 1]). */
    readonly leafU: Int32Array,
    readonly uFeature: Int32Array,
    /** Per leaf: offset of its table (2^k rows of k contributions) in `values`. */
    readonly leafTable: Int32Array,
    readonly values: Float64Array,
    readonly size: number,
  ) {}

  /**
   * Builds the tables of one tree, or null when they would hold more than `maxValues` numbers (deep trees: the
   * caller then uses `treeShap`).
   */
  static build(tree: ShapTree, maxValues: number): TreeShapTable | null {
    const nodeBit = new Int32Array(tree.left.length);
    const leafU: number[] = [0];
    const uFeature: number[] = [];
    const leaves: { feats: number[]; zeros: number[]; value: number }[] = [];
    let size = 0;
    let tooBig = false;
    walkPaths(
      tree,
      (node, bit) => (nodeBit[node] = bit),
      (node, feats, zeros) => {
        const k = feats.length;
        size += (1 << k) * k;
        if (size > maxValues || k > 24) {
          tooBig = true;
          return false;
        }
        nodeBit[node] = leaves.length;
        uFeature.push(...feats);
        leafU.push(uFeature.length);
        leaves.push({ feats: feats.slice(), zeros: zeros.slice(), value: tree.value[node]! });
        return true;
      },
    );
    if (tooBig) return null;
    const { values, leafTable } = leafTableValues(leaves, tree.maxDepth, size);
    return new TreeShapTable(
      nodeBit,
      Int32Array.from(leafU),
      Int32Array.from(uFeature),
      Int32Array.from(leafTable),
      values,
      size,
    );
  }
}

/** A model's trees flattened for routing (global node g = tree offset + node), as compiled in model.ts. */
export interface ShapForest {
  readonly numFeatures: number;
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly defaultLeft: Uint8Array;
  /** Offset of a categorical node's membership table in `catMember`, -1 for numeric nodes. */
  readonly catOffset: Int32Array;
  readonly catMember: Uint8Array;
  readonly shapTrees: readonly (ShapTree & { readonly offset: number })[];
}

/** Whether flat node g sends value x (categorical code as a number, NaN when missing) left. */
function routeLeft(c: ShapForest, g: number, x: number): boolean {
  if (x !== x) return c.defaultLeft[g] === 1;
  const co = c.catOffset[g]!;
  if (co < 0) return x <= c.threshold[g]!;
  return c.catMember[co + x] === 1;
}

/**
 * TreeSHAP for a whole model, one row at a time, built once per model. The leaf tables of every tree
 * (`TreeShapTable`) are merged into forest-wide arrays, so a row costs one pass over the split nodes (routing the
 * row and passing each child its parent's mask of followed features, minus the split feature's bit on the side the
 * row does not take) and one pass over the leaves (one table row each), with no per-row allocation, closure or
 * per-tree call. Trees whose tables do not fit in the budget keep the recursive `treeShap`. Same values as
 * `treeShap` up to rounding.
 */
export class ForestShap {
  private constructor(
    private readonly c: ShapForest,
    /**
     * Split nodes of the tabled trees, parents before children; split i's own data at index i (its feature, threshold,
     * categorical offset or -1, default direction, 1 << its feature's bit in the tables below it) and the positions of
     * its children in `mask`, so the split loop reads everything in order (cold caches prefetch it).
     */
    private readonly sFeature: Int32Array,
    private readonly sThreshold: Float64Array,
    private readonly sCat: Int32Array,
    private readonly sDefault: Uint8Array,
    private readonly sBit: Int32Array,
    private readonly sLeft: Int32Array,
    private readonly sRight: Int32Array,
    /**
     * The current row's masks (bit set = the row follows the path on that feature): split i at position i, tabled leaf
     * l at position (number of splits) + l. Roots are nobody's child: theirs stay full.
     */
    private readonly mask: Int32Array,
    /** Per tabled leaf: number of path features k, 2^k − 1, start in `uFeature` and `values`. */
    private readonly leafK: Int32Array,
    private readonly leafFull: Int32Array,
    private readonly leafU: Int32Array,
    private readonly leafStart: Int32Array,
    private readonly uFeature: Int32Array,
    private readonly values: Float64Array,
    /** Trees over the table budget, for `treeShap`, with scratch sized for the deepest of them. */
    private readonly slowTrees: readonly (ShapTree & { readonly offset: number })[],
    private readonly scratch: ShapScratch,
  ) {}

  /** Builds the tables of `c`'s trees, in order, while they fit in `maxValues` numbers in all. */
  static build(c: ShapForest, maxValues: number): ForestShap {
    const total = c.feature.length;
    const bit = new Int32Array(total);
    const childL = new Int32Array(total);
    const childR = new Int32Array(total);
    const roots: number[] = [];
    const order: number[] = [];
    const leafNode: number[] = [];
    const leafK: number[] = [];
    const leafU: number[] = [];
    const leafStart: number[] = [];
    const uFeature: number[] = [];
    const tables: TreeShapTable[] = [];
    const slowTrees: (ShapTree & { offset: number })[] = [];
    let left = maxValues;
    let size = 0;
    let slowDepth = 0;
    for (const t of c.shapTrees) {
      if (t.left[0] === -1) continue; // a lone leaf explains nothing
      const table = left > 0 ? TreeShapTable.build(t, left) : null;
      if (!table) {
        slowTrees.push(t);
        slowDepth = Math.max(slowDepth, t.maxDepth);
        continue;
      }
      left -= table.size;
      tables.push(table);
      roots.push(t.offset);
      const stack = [0];
      while (stack.length) {
        const j = stack.pop()!;
        const g = t.offset + j;
        if (t.left[j] !== -1) {
          order.push(g);
          bit[g] = 1 << table.nodeBit[j]!;
          childL[g] = t.offset + t.left[j]!;
          childR[g] = t.offset + t.right[j]!;
          stack.push(t.right[j]!, t.left[j]!);
          continue;
        }
        const leaf = table.nodeBit[j]!;
        const u0 = table.leafU[leaf]!;
        const k = table.leafU[leaf + 1]! - u0;
        leafNode.push(g);
        leafK.push(k);
        leafU.push(uFeature.length);
        for (let u = 0; u < k; u++) uFeature.push(table.uFeature[u0 + u]!);
        leafStart.push(size + table.leafTable[leaf]!);
      }
      size += table.size;
    }
    const values = new Float64Array(size);
    let off = 0;
    for (const table of tables) {
      values.set(table.values, off);
      off += table.size;
    }
    // Positions in `mask`: splits in order, then leaves in order.
    const n = order.length;
    const pos = new Int32Array(total);
    order.forEach((g, i) => (pos[g] = i));
    leafNode.forEach((g, l) => (pos[g] = n + l));
    const mask = new Int32Array(n + leafNode.length);
    for (const g of roots) mask[pos[g]!] = -1;
    return new ForestShap(
      c,
      Int32Array.from(order, (g) => c.feature[g]!),
      Float64Array.from(order, (g) => c.threshold[g]!),
      Int32Array.from(order, (g) => c.catOffset[g]!),
      Uint8Array.from(order, (g) => c.defaultLeft[g]!),
      Int32Array.from(order, (g) => bit[g]!),
      Int32Array.from(order, (g) => pos[childL[g]!]!),
      Int32Array.from(order, (g) => pos[childR[g]!]!),
      mask,
      Int32Array.from(leafK),
      Int32Array.from(leafK, (k) => (1 << k) - 1),
      Int32Array.from(leafU),
      Int32Array.from(leafStart),
      Int32Array.from(uFeature),
      values,
      slowTrees,
      new ShapScratch(slowDepth),
    );
  }

  /**
   * Adds the SHAP values of one row into `phi` (indexed by feature). `x` holds the row's features in model order:
   * numeric values, categorical dictionary codes as numbers, NaN when missing.
   */
  addRow(x: Float64Array, phi: Float64Array): void {
    const { sFeature, sThreshold, sCat, sDefault, sBit, sLeft, sRight, mask } = this;
    const { catMember } = this.c;
    const n = sFeature.length;
    for (let i = 0; i < n; i++) {
      const v = x[sFeature[i]!]!;
      const co = sCat[i]!;
      // Numeric nodes without a branch on the value (the comparison goes either way about half the time, and a
      // mispredicted branch cost ~15 % of the whole row): NaN compares false, so a missing value goes left exactly
      // when defaultLeft says so. Categorical nodes (a minority, fixed per node) keep the branch.
      const goLeft =
        co < 0 ? +(v <= sThreshold[i]!) | (+(v !== v) & sDefault[i]!) : v !== v ? sDefault[i]! : catMember[co + v]!;
      // The child the row does not take loses the split feature's bit; the other keeps the parent's mask.
      const m = mask[i]!;
      const b = sBit[i]!;
      const keepLeft = -goLeft; // all ones when the row goes left
      mask[sLeft[i]!] = m & ~(b & ~keepLeft);
      mask[sRight[i]!] = m & ~(b & keepLeft);
    }
    const { leafK, leafFull, leafU, leafStart, uFeature, values } = this;
    const leaves = leafK.length;
    for (let l = 0; l < leaves; l++) {
      const k = leafK[l]!;
      const row = leafStart[l]! + (mask[n + l]! & leafFull[l]!) * k;
      const u0 = leafU[l]!;
      for (let u = 0; u < k; u++) {
        const f = uFeature[u0 + u]!;
        phi[f] = phi[f]! + values[row + u]!;
      }
    }
    const slow = this.slowTrees;
    const c = this.c;
    const feature = c.feature;
    for (let i = 0; i < slow.length; i++) {
      const t = slow[i]!;
      const offset = t.offset;
      treeShap(t, (node) => routeLeft(c, offset + node, x[feature[offset + node]!]!), phi, this.scratch);
    }
  }
}
