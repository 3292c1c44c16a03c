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
