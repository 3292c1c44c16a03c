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
 * TreeSHAP with per-leaf tables (the precomputation of "Fast TreeSHAP v2", Yang 2021): a leaf's contribution to
 * each feature depends on the row only through which of the leaf's path features the row agrees with, so for every
 * leaf and every subset of its (at most depth) path features the contributions are computed once, with the same
 * arithmetic as `treeShap`'s leaves. Explaining a row then costs one routing decision per node plus a table read
 * per leaf, instead of the recursion over every node with its O(depth²) leaf sums. Exact (same values as treeShap
 * up to floating-point rounding).
 */
export class TreeShapTable {
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
  static build(tree: ShapTree, maxValues: number): TreeShapTable | null {
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
    const values = new Float64Array(size);
    const s = new ShapScratch(tree.maxDepth + 1);
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
    return new TreeShapTable(
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
