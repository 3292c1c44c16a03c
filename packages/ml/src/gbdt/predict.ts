// Compiled GBDT predictor: trees flattened into typed arrays with sibling children adjacent, inputs quantised once
// per row to the model's own split points, and blocks of rows routed level by level without unpredictable branches.
// Batches run in the per-model WebAssembly kernel of wasm/walk.ts where the model and the process allow it, else in
// the JS kernels below; both give the same margins bit for bit.
import type { GbdtFeatureJson, GbdtTreeJson } from './model.js';
import { wasmWalk } from './wasm/walk.js';
import type { WasmWalk } from './wasm/walk.js';

/** Most distinct split points (or categories) a feature may have for the binned path; beyond that, floats. */
const MAX_BINNED = 0xffff - 1;
/** Most split points per feature (and categories) for one-byte bins. */
const MAX_BYTE_BINNED = 0xff - 1;
/**
 * Flat form of every tree. Node g is internal when `internal[g]` is 1; then its children are `child[g]` (left) and
 * `child[g] + 1` (right). A numeric node sends a row left when its bin in column `col[g]` is <= `hi[g]`; a categorical
 * node has `hi[g] = ~offset` and sends the row left when `catLeft[offset + bin]` is 1 (bin 0 = missing).
 */
export interface CompiledTrees {
  readonly numFeatures: number;
  readonly numTrees: number;
  /** Root node of each tree. */
  readonly roots: Int32Array;
  readonly col: Int32Array;
  readonly hi: Int32Array;
  readonly child: Int32Array;
  readonly internal: Uint8Array;
  /** Raw threshold of numeric nodes (the row-at-a-time float path compares against it directly). */
  readonly threshold: Float64Array;
  readonly leafValue: Float64Array;
  readonly catLeft: Uint8Array;
  /** Per feature: sorted distinct split points, padded with +Infinity to a power of two (numeric features only). */
  readonly cuts: (Float64Array | null)[];
  /**
   * Per numeric feature, a lookup table that replaces the binary search (null where the split points are too uneven):
   * bucket `bucketOf(x)` (see `lutLo`, `lutScale`) holds how many split points lie in lower buckets, and at most
   * `lutSteps[f]` split points share a bucket, so that many comparisons finish the search.
   */
  readonly lut: (Uint16Array | null)[];
  readonly lutLo: Float64Array;
  readonly lutScale: Float64Array;
  readonly lutSteps: Int32Array;
  /** Per feature: which bin columns (bit 1: missing low, bit 2: missing high) any node reads. */
  readonly usedColumns: Uint8Array;
  /**
   * `col` and `hi` as the batched walk reads them: bytes where every value fits one (byte bins, at most 128
   * features, no categorical splits), which halves the walk's node data, else the Int32 arrays themselves.
   */
  readonly walkCol: Uint8Array | Int32Array;
  readonly walkHi: Uint8Array | Int32Array;
  readonly categorical: Uint8Array;
  readonly hasCategorical: boolean;
  /** False when some feature has too many split points or categories for 16-bit bins: predict with floats. */
  readonly binnable: boolean;
  /**
   * The largest bin value, 0xff (bins fit a byte) or 0xffff: where the input is missing, a node that sends missing
   * values right reads it (above every `hi`, so `bin <= hi` is false; the other column of a numeric feature holds 0
   * there, below every `hi`). The top value bin may equal it, which is harmless: both go right everywhere.
   */
  readonly missingHigh: number;
}

/**
 * The threshold a predictor compares values with (`x <= t` goes left) for a numeric split stored with threshold
 * `thr`. Training bins +Infinity with the largest values, so a split that sends every value bin left sends +Infinity
 * left too; the model stores that split with the threshold Number.MAX_VALUE (JSON has no Infinity), which is +Infinity
 * here. No other split has that threshold: no bin edge equals the largest double (binning drops the one edge that
 * could, between Number.MAX_VALUE and +Infinity, so the two share a bin).
 */
export function splitThreshold(thr: number): number {
  return thr === Number.MAX_VALUE ? Infinity : thr;
}

/** Flattens `trees` for prediction; node order is depth first with each node's two children side by side. */
export function compileTrees(features: readonly GbdtFeatureJson[], trees: readonly GbdtTreeJson[]): CompiledTrees {
  const F = features.length;
  let total = 0;
  let catTotal = 0;
  const splitPoints: Set<number>[] = features.map(() => new Set<number>());
  for (const t of trees) {
    total += t.splitFeature.length;
    for (let j = 0; j < t.splitFeature.length; j++) {
      const f = t.splitFeature[j]!;
      if (f < 0) continue;
      const feat = features[f]!;
      if (feat.kind === 'categorical') catTotal += feat.dictionary.length + 1;
      else splitPoints[f]!.add(splitThreshold(t.threshold[j]!));
    }
  }
  let binnable = true;
  let bytes = true;
  const finite = new Int32Array(F);
  const cuts: (Float64Array | null)[] = features.map((feat, f) => {
    if (feat.kind === 'categorical') {
      if (feat.dictionary.length > MAX_BINNED) binnable = false;
      if (feat.dictionary.length > MAX_BYTE_BINNED) bytes = false;
      return null;
    }
    // An +Infinity split point (last after sorting) counts towards the bin width (its bin, above every finite
    // point's, must stay below missingHigh) but not in the lookup table, whose buckets span the finite points.
    const points = Float64Array.from(splitPoints[f]!).sort();
    finite[f] = points.length > 0 && points[points.length - 1] === Infinity ? points.length - 1 : points.length;
    if (points.length > MAX_BINNED) binnable = false;
    if (points.length > MAX_BYTE_BINNED) bytes = false;
    // Padding with +Infinity makes a branch-free binary search of fixed length possible; no input is above it.
    let size = 1;
    while (size <= points.length) size *= 2;
    const padded = new Float64Array(size).fill(Infinity);
    padded.set(points);
    return padded;
  });
  const lutLo = new Float64Array(F);
  const lutScale = new Float64Array(F);
  const lutSteps = new Int32Array(F);
  const lut = cuts.map((cut, f) => (cut ? lookupTable(finite[f]!, cut, f, lutLo, lutScale, lutSteps) : null));
  const roots = new Int32Array(trees.length);
  const col = new Int32Array(total);
  const hi = new Int32Array(total);
  const child = new Int32Array(total);
  const internal = new Uint8Array(total);
  const threshold = new Float64Array(total);
  const leafValue = new Float64Array(total);
  const catLeft = new Uint8Array(catTotal);
  const usedColumns = new Uint8Array(F);
  const missingHigh = bytes ? 0xff : 0xffff;
  const categorical = new Uint8Array(F);
  features.forEach((f, i) => (categorical[i] = f.kind === 'categorical' ? 1 : 0));
  let next = 0;
  let catNext = 0;
  // Places the subtree of tree node j at flat slot g; its children get the next free pair of slots.
  const stack: number[] = [];
  for (let ti = 0; ti < trees.length; ti++) {
    const t = trees[ti]!;
    roots[ti] = next;
    stack.push(0, next++);
    while (stack.length > 0) {
      const g = stack.pop()!;
      const j = stack.pop()!;
      const f = t.splitFeature[j]!;
      leafValue[g] = t.value[j]!;
      if (f < 0) {
        // A leaf sends every row to itself (no bin exceeds missingHigh), so lockstep walks can overshoot it.
        hi[g] = missingHigh;
        child[g] = g;
        continue;
      }
      internal[g] = 1;
      const l = next;
      next += 2;
      child[g] = l;
      const feat = features[f]!;
      if (feat.kind === 'categorical') {
        col[g] = 2 * f;
        usedColumns[f] = usedColumns[f]! | 1;
        hi[g] = ~catNext;
        catLeft[catNext] = t.defaultLeft[j] ? 1 : 0;
        for (const code of t.categories[j] ?? []) catLeft[catNext + 1 + code] = 1;
        catNext += feat.dictionary.length + 1;
      } else {
        const thr = splitThreshold(t.threshold[j]!);
        threshold[g] = thr;
        hi[g] = 1 + lowerBound(cuts[f]!, thr);
        const missingLow = t.defaultLeft[j] === true;
        col[g] = 2 * f + (missingLow ? 0 : 1);
        usedColumns[f] = usedColumns[f]! | (missingLow ? 1 : 2);
      }
      // Right pushed first so the left subtree is laid out right after this node's children.
      stack.push(t.right[j]!, l + 1, t.left[j]!, l);
    }
  }
  const narrow = bytes && catTotal === 0 && 2 * F <= 0x100;
  return {
    numFeatures: F,
    numTrees: trees.length,
    roots,
    col,
    hi,
    child,
    internal,
    threshold,
    leafValue,
    catLeft,
    cuts,
    lut,
    lutLo,
    lutScale,
    lutSteps,
    usedColumns,
    walkCol: narrow ? Uint8Array.from(col) : col,
    walkHi: narrow ? Uint8Array.from(hi) : hi,
    categorical,
    hasCategorical: catTotal > 0,
    binnable,
    missingHigh,
  };
}

/** Most buckets of a feature's lookup table, and most comparisons after the lookup before a binary search is used. */
const LUT_MAX_BUCKETS = 4096;
/** The batched kernel writes out at most three comparisons after the lookup: keep the two in step. */
const LUT_MAX_STEPS = 3;

/**
 * Bucket of x in a lookup table of `size` buckets over [lo, ...): floor((x - lo) * scale) clamped to [0, size - 1],
 * NaN in bucket 0. Monotone in x (subtraction and multiplication round monotonically), which is all exactness needs:
 * every split point in a lower bucket than x is below x, every one in a higher bucket above it. The batched kernel
 * repeats this expression verbatim.
 */
function bucketOf(x: number, lo: number, scale: number, top: number): number {
  const t = (x - lo) * scale;
  return t > 0 ? (t < top ? t | 0 : top) : 0;
}

/**
 * The lookup table of one numeric feature with `p` split points (`cut`, padded): the fewest buckets (a power of two up
 * to LUT_MAX_BUCKETS) spread evenly between the first and last split point such that at most LUT_MAX_STEPS points
 * share a bucket; null when no size manages that (very uneven split points keep the binary search).
 */
function lookupTable(
  p: number,
  cut: Float64Array,
  f: number,
  lutLo: Float64Array,
  lutScale: Float64Array,
  lutSteps: Int32Array,
): Uint16Array | null {
  if (p === 0) return null;
  const lo = cut[0]!;
  const span = cut[p - 1]! - lo;
  for (let size = 16; size <= LUT_MAX_BUCKETS; size *= 2) {
    const scale = span > 0 && Number.isFinite(span) ? size / span : 0;
    const top = size - 1;
    const count = new Uint16Array(size);
    let most = 0;
    for (let j = 0; j < p; j++) {
      const b = bucketOf(cut[j]!, lo, scale, top);
      count[b] = count[b]! + 1;
      most = Math.max(most, count[b]!);
    }
    if (most > LUT_MAX_STEPS) continue;
    const table = new Uint16Array(size);
    for (let b = 1; b < size; b++) table[b] = table[b - 1]! + count[b - 1]!;
    lutLo[f] = lo;
    lutScale[f] = scale;
    lutSteps[f] = most;
    return table;
  }
  return null;
}

/** Number of cuts strictly below x (x not NaN); `cuts.length` is a power of two ending in +Infinity. */
function lowerBound(cuts: Float64Array, x: number): number {
  let pos = 0;
  for (let h = cuts.length >> 1; h > 0; h >>= 1) pos += cuts[pos + h - 1]! < x ? h : 0;
  return pos;
}

/** The inputs of the model, one array per feature: numbers (NaN = missing) or dictionary codes (-1 = missing). */
export type InputColumns = readonly (Float64Array | Int32Array)[];

/** One block of bins, row-major: one byte each when the model allows it (see missingHigh), else two. */
type Bins = Uint8Array | Uint16Array;

interface Kernels {
  /** Fills the row-major bin block for rows [r0, r0 + m): column 2f has missing = 0, column 2f + 1 missing = high. */
  bin(cols: InputColumns, r0: number, m: number, bins: Bins, C: number): void;
  /** Adds each tree's leaf value for the m rows of the block to out[r0 + i], tree by tree. */
  walk(bins: Bins, m: number, C: number, out: Float64Array, r0: number): void;
}

/**
 * The batched hot loops over one compiled model. This function must not refer to anything outside itself (not even
 * module constants): `specialisedKernels` compiles a private copy of it per model.
 */
function kernelsFor(c: CompiledTrees): Kernels {
  return {
    bin(cols, r0, m, bins, C) {
      const { cuts, lut, lutLo, lutScale, lutSteps, usedColumns, numFeatures, missingHigh } = c;
      for (let f = 0; f < numFeatures; f++) {
        if (usedColumns[f] === 0) continue;
        const values = cols[f]!;
        const cut = cuts[f];
        let at = 2 * f;
        if (!cut) {
          for (let i = 0; i < m; i++, at += C) {
            const code = values[r0 + i]!;
            bins[at] = code >= 0 ? code + 1 : 0;
          }
          continue;
        }
        const table = lut[f];
        if (table) {
          // The lookup table finds the bucket of x, whose few split points (steps of them at most) finish the count.
          const lo = lutLo[f]!;
          const scale = lutScale[f]!;
          const steps = lutSteps[f]!;
          const last = table.length - 1;
          for (let i = 0; i < m; i++, at += C) {
            const x = values[r0 + i]!;
            const t = (x - lo) * scale;
            let pos = table[t > 0 ? (t < last ? t | 0 : last) : 0]!;
            // One to three comparisons, written out: a loop of one to three rounds measured ~5 % slower overall.
            pos -= -(cut[pos]! < x);
            if (steps > 1) {
              pos -= -(cut[pos]! < x);
              if (steps > 2) pos -= -(cut[pos]! < x);
            }
            const present = -(x === x);
            bins[at] = (pos + 1) & present;
            bins[at + 1] = ((pos + 1) & present) | (missingHigh & ~present);
          }
          continue;
        }
        const top = cut.length >> 1;
        for (let i = 0; i < m; i++, at += C) {
          const x = values[r0 + i]!;
          // Branch-free binary search: -(a < b) is 0 or -1, so each step adds h or nothing without a jump.
          let pos = 0;
          for (let h = top; h > 0; h >>= 1) pos += h & -(cut[pos + h - 1]! < x);
          // present is -1 for a number, 0 for NaN: missing values become 0 and missingHigh without a branch, which
          // matters on clinical data where a third of the values can be missing.
          const present = -(x === x);
          bins[at] = (pos + 1) & present;
          bins[at + 1] = ((pos + 1) & present) | (missingHigh & ~present);
        }
      }
    },

    // Routes the block through every tree, four rows at a time in lockstep: the four paths are independent, so the
    // CPU overlaps their loads, and the child is picked by arithmetic, so a hard-to-predict split costs no branch
    // miss. Leaves point at themselves, so a row that is done waits in place until the other three are.
    walk(bins, m, C, out, r0) {
      const { roots, child, internal, leafValue, catLeft, hasCategorical } = c;
      const col = c.walkCol;
      const hi = c.walkHi;
      for (let t = 0; t < roots.length; t++) {
        const root = roots[t]!;
        let i = 0;
        if (!hasCategorical) {
          // Eight rows in lockstep: more independent load chains in flight than four.
          for (; i + 7 < m; i += 8) {
            const b0 = i * C;
            const b1 = b0 + C;
            const b2 = b1 + C;
            const b3 = b2 + C;
            const b4 = b3 + C;
            const b5 = b4 + C;
            const b6 = b5 + C;
            const b7 = b6 + C;
            let g0 = root;
            let g1 = root;
            let g2 = root;
            let g3 = root;
            let g4 = root;
            let g5 = root;
            let g6 = root;
            let g7 = root;
            while (
              (internal[g0]! |
                internal[g1]! |
                internal[g2]! |
                internal[g3]! |
                internal[g4]! |
                internal[g5]! |
                internal[g6]! |
                internal[g7]!) !==
              0
            ) {
              g0 = child[g0]! + ((hi[g0]! - bins[b0 + col[g0]!]!) >>> 31);
              g1 = child[g1]! + ((hi[g1]! - bins[b1 + col[g1]!]!) >>> 31);
              g2 = child[g2]! + ((hi[g2]! - bins[b2 + col[g2]!]!) >>> 31);
              g3 = child[g3]! + ((hi[g3]! - bins[b3 + col[g3]!]!) >>> 31);
              g4 = child[g4]! + ((hi[g4]! - bins[b4 + col[g4]!]!) >>> 31);
              g5 = child[g5]! + ((hi[g5]! - bins[b5 + col[g5]!]!) >>> 31);
              g6 = child[g6]! + ((hi[g6]! - bins[b6 + col[g6]!]!) >>> 31);
              g7 = child[g7]! + ((hi[g7]! - bins[b7 + col[g7]!]!) >>> 31);
            }
            out[r0 + i + 0] = out[r0 + i + 0]! + leafValue[g0]!;
            out[r0 + i + 1] = out[r0 + i + 1]! + leafValue[g1]!;
            out[r0 + i + 2] = out[r0 + i + 2]! + leafValue[g2]!;
            out[r0 + i + 3] = out[r0 + i + 3]! + leafValue[g3]!;
            out[r0 + i + 4] = out[r0 + i + 4]! + leafValue[g4]!;
            out[r0 + i + 5] = out[r0 + i + 5]! + leafValue[g5]!;
            out[r0 + i + 6] = out[r0 + i + 6]! + leafValue[g6]!;
            out[r0 + i + 7] = out[r0 + i + 7]! + leafValue[g7]!;
          }
          for (; i + 3 < m; i += 4) {
            const b0 = i * C;
            const b1 = b0 + C;
            const b2 = b1 + C;
            const b3 = b2 + C;
            let g0 = root;
            let g1 = root;
            let g2 = root;
            let g3 = root;
            // (hi - bin) >>> 31 is 1 exactly when bin > hi: both are small non-negative integers.
            while ((internal[g0]! | internal[g1]! | internal[g2]! | internal[g3]!) !== 0) {
              g0 = child[g0]! + ((hi[g0]! - bins[b0 + col[g0]!]!) >>> 31);
              g1 = child[g1]! + ((hi[g1]! - bins[b1 + col[g1]!]!) >>> 31);
              g2 = child[g2]! + ((hi[g2]! - bins[b2 + col[g2]!]!) >>> 31);
              g3 = child[g3]! + ((hi[g3]! - bins[b3 + col[g3]!]!) >>> 31);
            }
            out[r0 + i] = out[r0 + i]! + leafValue[g0]!;
            out[r0 + i + 1] = out[r0 + i + 1]! + leafValue[g1]!;
            out[r0 + i + 2] = out[r0 + i + 2]! + leafValue[g2]!;
            out[r0 + i + 3] = out[r0 + i + 3]! + leafValue[g3]!;
          }
        } else {
          // With categorical splits, each step computes both answers and keeps one by the node's kind (hi < 0 holds
          // ~offset of the node's category table; kind = hi >> 31 is 0 or -1), again without a branch. A numeric
          // node looks up catLeft[0], which exists and is ignored.
          for (; i + 3 < m; i += 4) {
            const b0 = i * C;
            const b1 = b0 + C;
            const b2 = b1 + C;
            const b3 = b2 + C;
            let g0 = root;
            let g1 = root;
            let g2 = root;
            let g3 = root;
            while ((internal[g0]! | internal[g1]! | internal[g2]! | internal[g3]!) !== 0) {
              const h0 = hi[g0]!;
              const v0 = bins[b0 + col[g0]!]!;
              const k0 = h0 >> 31;
              const n0 = (h0 - v0) >>> 31;
              g0 = child[g0]! + (n0 ^ ((n0 ^ (1 - catLeft[(~h0 + v0) & k0]!)) & k0));
              const h1 = hi[g1]!;
              const v1 = bins[b1 + col[g1]!]!;
              const k1 = h1 >> 31;
              const n1 = (h1 - v1) >>> 31;
              g1 = child[g1]! + (n1 ^ ((n1 ^ (1 - catLeft[(~h1 + v1) & k1]!)) & k1));
              const h2 = hi[g2]!;
              const v2 = bins[b2 + col[g2]!]!;
              const k2 = h2 >> 31;
              const n2 = (h2 - v2) >>> 31;
              g2 = child[g2]! + (n2 ^ ((n2 ^ (1 - catLeft[(~h2 + v2) & k2]!)) & k2));
              const h3 = hi[g3]!;
              const v3 = bins[b3 + col[g3]!]!;
              const k3 = h3 >> 31;
              const n3 = (h3 - v3) >>> 31;
              g3 = child[g3]! + (n3 ^ ((n3 ^ (1 - catLeft[(~h3 + v3) & k3]!)) & k3));
            }
            out[r0 + i] = out[r0 + i]! + leafValue[g0]!;
            out[r0 + i + 1] = out[r0 + i + 1]! + leafValue[g1]!;
            out[r0 + i + 2] = out[r0 + i + 2]! + leafValue[g2]!;
            out[r0 + i + 3] = out[r0 + i + 3]! + leafValue[g3]!;
          }
        }
        // The last rows of the block, one at a time: a node's kind picks a comparison or a category lookup.
        for (; i < m; i++) {
          const b0 = i * C;
          let g = root;
          while (internal[g] === 1) {
            const h = hi[g]!;
            const v = bins[b0 + col[g]!]!;
            g = child[g]! + (h >= 0 ? (h - v) >>> 31 : 1 - catLeft[~h + v]!);
          }
          out[r0 + i] = out[r0 + i]! + leafValue[g]!;
        }
      }
    },
  };
}

/** Kernel copies compiled so far by this module (each gets its own source text, see kernelSource). */
let kernelCopies = 0;
/** Tells this module's copies from those of another instance of the package loaded into the same process. */
const MODULE_TOKEN = Math.random().toString(36).slice(2);

/**
 * The text `new Function` compiles for kernel copy number `serial`: kernelsFor's source plus a comment naming the
 * copy. The comment is what makes each copy its own function: V8 caches compilations from strings by their text, so
 * identical texts share one compiled function (SharedFunctionInfo), and from the second model on its kernels were
 * one more closure of the first model's, the very loss of specialisation the copies exist to avoid (a model measured
 * ~2x slower when it was not the first compiled in the process).
 */
export function kernelSource(serial: number): string {
  return `return ${kernelsFor.toString()}\n// kernel copy ${serial} of ${MODULE_TOKEN}`;
}

/** Kernels with the text they were compiled from (null: the plain closures of this module). */
type CompiledKernels = Kernels & { readonly source: string | null };

/**
 * kernelsFor compiled afresh for this model. V8 optimises a closure for the values it captured only while that
 * function has a single closure; one shared kernel used by several models loses that, and the typed arrays'
 * addresses and lengths then take registers in the inner loop, which measured about half as fast. The copy is
 * compiled from kernelsFor's own source text (no model data enters the text) and checked against the plain copy on
 * a probe row; where code generation from strings is off, or the check fails, the plain closures are used.
 */
function specialisedKernels(c: CompiledTrees): CompiledKernels {
  const plain = { ...kernelsFor(c), source: null };
  let copy: Kernels;
  const source = kernelSource(++kernelCopies);
  try {
    const factory = new Function(source)() as typeof kernelsFor;
    copy = factory(c);
  } catch {
    return plain;
  }
  try {
    const C = 2 * c.numFeatures;
    const probe: InputColumns = c.cuts.map((cut, f) =>
      cut ? Float64Array.of(f % 2 === 0 ? NaN : cut[f % cut.length]!) : Int32Array.of(f % 3 === 0 ? -1 : 0),
    );
    const bins = [newBins(c, Math.max(C, 1)), newBins(c, Math.max(C, 1))] as const;
    const out = [Float64Array.of(0), Float64Array.of(0)] as const;
    plain.bin(probe, 0, 1, bins[0], C);
    copy.bin(probe, 0, 1, bins[1], C);
    plain.walk(bins[0], 1, C, out[0], 0);
    copy.walk(bins[1], 1, C, out[1], 0);
    return out[0][0] === out[1][0] ? { ...copy, source } : plain;
  } catch {
    return plain;
  }
}

function newBins(c: CompiledTrees, length: number): Bins {
  return c.missingHigh === 0xff ? new Uint8Array(length) : new Uint16Array(length);
}

/** Bytes of bin block a traversal works over: small enough to stay in L1 next to the tree being walked. */
const BLOCK_BYTES = 24 * 1024;

/** Rows per block: BLOCK_BYTES of bins, 16 to 1,024 rows. */
function blockRows(c: CompiledTrees): number {
  const width = c.missingHigh === 0xff ? 1 : 2;
  return Math.max(16, Math.min(1024, Math.floor(BLOCK_BYTES / (width * Math.max(2 * c.numFeatures, 1)))));
}

/** Which batched walk predictors use: 'auto' = WebAssembly where the model and process allow it, else JS. */
export type PredictKernel = 'auto' | 'js';
let kernelMode: PredictKernel = 'auto';

/**
 * Forces the JS walk ('js') or restores the default ('auto') for every predictor in this module instance, from the
 * next batch on. For benchmarks and tests (A/B of the two walks in one process); the results are the same bit for bit.
 */
export function setPredictKernel(mode: PredictKernel): void {
  kernelMode = mode;
}

/** Batched and single-row prediction over one compiled model. */
export class TreePredictor {
  private bins: Bins | null = null;
  private readonly row: Float64Array;
  private kernels: CompiledKernels | null = null;
  /** The WebAssembly walk (undefined: not tried yet; null: not available for this model or process). */
  private wasm: WasmWalk | null | undefined = undefined;

  constructor(readonly c: CompiledTrees) {
    this.row = new Float64Array(c.numFeatures);
  }

  /** Whether batched prediction runs on this model's own compiled copy of the kernels (see specialisedKernels). */
  get specialised(): boolean {
    return this.kernelSource !== null;
  }

  /** The text this predictor's kernel copy was compiled from (see kernelSource); null for the plain closures. */
  get kernelSource(): string | null {
    this.kernels ??= specialisedKernels(this.c);
    return this.kernels.source;
  }

  /** Adds every tree's leaf value to `out[i]` (which holds the base score), tree by tree in order. */
  addTrees(cols: InputColumns, n: number, out: Float64Array): void {
    const c = this.c;
    if (!c.binnable) {
      for (let i = 0; i < n; i++) {
        for (let f = 0; f < c.numFeatures; f++) this.row[f] = cols[f]![i]!;
        out[i] = this.sumRow(this.row, out[i]!);
      }
      return;
    }
    const C = 2 * c.numFeatures;
    const rows = blockRows(c);
    const w = kernelMode === 'auto' ? this.wasmWalk(rows) : null;
    if (w) {
      // The WebAssembly kernel bins and walks the block in its own memory (see wasm/walk.ts): same sums, bit for bit.
      const { input, acc } = w;
      const used = c.usedColumns;
      for (let r0 = 0; r0 < n; r0 += rows) {
        const m = Math.min(rows, n - r0);
        for (let f = 0; f < c.numFeatures; f++) if (used[f] !== 0) input.set(cols[f]!.subarray(r0, r0 + m), f * rows);
        acc.set(out.subarray(r0, r0 + m));
        w.run(m);
        out.set(m === rows ? acc : acc.subarray(0, m), r0);
      }
      return;
    }
    this.kernels ??= specialisedKernels(c);
    const k = this.kernels;
    if (!this.bins || this.bins.length !== rows * C) this.bins = newBins(c, rows * C);
    const bins = this.bins;
    for (let r0 = 0; r0 < n; r0 += rows) {
      const m = Math.min(rows, n - r0);
      k.bin(cols, r0, m, bins, C);
      k.walk(bins, m, C, out, r0);
    }
  }

  /** Which walk the next batch uses: 'wasm' or 'js' (see setPredictKernel, wasmWalk). */
  get kernel(): 'wasm' | 'js' {
    if (kernelMode !== 'auto' || !this.c.binnable) return 'js';
    return this.wasmWalk(blockRows(this.c)) ? 'wasm' : 'js';
  }

  /** The model's WebAssembly walk for blocks of `rows` rows, built on first use; null where it cannot run. */
  private wasmWalk(rows: number): WasmWalk | null {
    if (this.wasm === undefined) this.wasm = wasmWalk(this.c, rows);
    return this.wasm;
  }

  /**
   * `start` plus the trees' leaf values, added in tree order, for one row given as numbers per feature
   * (categorical: the code, -1 or NaN = missing), walked with float comparisons: no binning cost for a single row.
   */
  sumRow(x: Float64Array, start: number): number {
    const { roots, col, hi, child, internal, threshold, leafValue, catLeft } = this.c;
    let sum = start;
    for (let t = 0; t < roots.length; t++) {
      let g = roots[t]!;
      while (internal[g] === 1) {
        const k = col[g]!;
        const v = x[k >> 1]!;
        const h = hi[g]!;
        let right: number;
        if (h >= 0) right = v <= threshold[g]! ? 0 : v !== v ? k & 1 : 1;
        else right = 1 - catLeft[~h + (v >= 0 ? v + 1 : 0)]!;
        g = child[g]! + right;
      }
      sum += leafValue[g]!;
    }
    return sum;
  }
}
