// Training of gradient-boosted decision trees: leaf-wise growth on binned features with histogram subtraction,
// bagging, feature sampling, early stopping, and optional worker threads for histogram construction.
import {
  binFrame,
  fitBinMappers,
  numericToCategorical,
  MISSING_BIN,
  QUANTILE_SAMPLE_ROWS,
  type BinMapper,
  type BinnedData,
} from '../binning.js';
import { MlError } from '../errors.js';
import { Frame } from '../frame.js';
import type { Column } from '../frame.js';
import { BIN_STRIDE, HIST_CHUNKS, HistogramBuilder, PAD_BINS, resolveThreads } from './histogram.js';
import { GbdtModel } from './model.js';
import type { GbdtFeatureJson, GbdtObjective, GbdtTreeJson } from './model.js';
import { Rng } from './rng.js';
import { SplitInfo, findBestSplit } from './split.js';
import type { SplitParams } from './split.js';

export interface IterationMetrics {
  /**
   * Loss on the training rows: log loss (binary) or RMSE (regression). Computed when first read inside
   * `onIteration` (a pass with exp/log over every training row, so a callback that does not read it does not pay
   * for it); read for the first time after the callback has returned, it is NaN.
   */
  trainLoss: number;
  /** The same loss on the validation set, when one is given. */
  validLoss?: number;
}

export interface GbdtOptions {
  objective: GbdtObjective;
  /** Boosting rounds. Default 100. */
  numTrees?: number;
  /** Most leaves per tree (leaf-wise growth). Default 31. */
  numLeaves?: number;
  /** Deepest a leaf may be; 0 or negative = no limit. Default 0. */
  maxDepth?: number;
  learningRate?: number;
  /** Value bins per numeric feature (plus one bin for missing), 2..255. Default 255. */
  maxBins?: number;
  minDataInLeaf?: number;
  minSumHessianInLeaf?: number;
  lambdaL2?: number;
  minGainToSplit?: number;
  /** Fraction of rows drawn (without replacement) for each tree. Default 1. */
  baggingFraction?: number;
  /** Fraction of features drawn for each tree. Default 1. */
  featureFraction?: number;
  /** Weight of positive rows (binary). Default 1. */
  scalePosWeight?: number;
  /** Numeric columns to treat as categories (string columns always are). */
  categoricalFeatures?: string[];
  /** Most categories sent left by one categorical split. Default 32. */
  maxCatThreshold?: number;
  /** Added to the hessian when ordering categories, to damp rare ones. Default 10. */
  catSmooth?: number;
  /** Extra L2 regularisation for categorical splits. Default 10. */
  catL2?: number;
  /** Categories below this count are not separated from the rest. Default 10. */
  minDataPerGroup?: number;
  /**
   * Derive the larger child's histogram as parent − smaller child (default true). Off builds both children from
   * rows; only useful to check the two agree.
   */
  histogramSubtraction?: boolean;
  /** Histogram threads: 1 = none (default), 0 = every core. */
  numThreads?: number;
  seed?: number;
  validation?: { frame: Frame; labels: ArrayLike<number> };
  /** Stop when the validation loss has not improved for this many rounds (needs `validation`). */
  earlyStoppingRounds?: number;
  /**
   * Filled with the validation rows' margins under the returned model (one per validation row): the base score plus
   * the kept trees' leaf values in tree order, the numbers `predictRaw(validation.frame)` gives, without walking
   * the trees again (training keeps these margins up to date for the validation loss anyway).
   */
  validationMargins?: Float64Array;
  /** Called after every round; return false to stop training (the model keeps the rounds so far). */
  onIteration?: (iteration: number, metrics: IterationMetrics) => void | boolean;
  /**
   * Reuse the binning of the same training and validation frames across trainings (e.g. the many fits of one fold
   * in a hyperparameter search): pass one `GbdtBinCache` to each. The frames must not change in between.
   */
  binCache?: GbdtBinCache;
}

/**
 * Binned training and validation data by frame, for `GbdtOptions.binCache`: the latest binning settings' bins per
 * frame (memory stays one binned copy per frame). Holds its frames weakly.
 */
export class GbdtBinCache {
  private readonly byFrame = new WeakMap<Frame, CachedBins>();

  /**
   * The binning of the training `frame` under `key`, made by `make` when the frame has none under that key. One
   * binning per frame: a search that varies maxBins re-bins rather than keeping a copy per value tried.
   */
  train(frame: Frame, key: string, make: () => { mappers: BinMapper[]; data: BinnedData }): CachedBins {
    let v = this.byFrame.get(frame);
    if (v?.key !== key) this.byFrame.set(frame, (v = { key, ...make(), valid: new WeakMap() }));
    return v;
  }

  /** The bins of a validation frame under the mappers of `bins` (a `train` entry), made the first time. */
  valid(bins: CachedBins, frame: Frame, make: () => BinnedData): BinnedData {
    let v = bins.valid.get(frame);
    if (!v) bins.valid.set(frame, (v = make()));
    return v;
  }
}

interface CachedBins {
  /** The binning settings these bins were made under. */
  key: string;
  mappers: BinMapper[];
  data: BinnedData;
  /** Validation frames binned with these mappers. */
  valid: WeakMap<Frame, BinnedData>;
}

interface Resolved {
  objective: GbdtObjective;
  numTrees: number;
  numLeaves: number;
  maxDepth: number;
  learningRate: number;
  maxBins: number;
  baggingFraction: number;
  featureFraction: number;
  scalePosWeight: number;
  numThreads: number;
  seed: number;
  earlyStoppingRounds: number;
  histogramSubtraction: boolean;
  split: SplitParams;
}

function num(v: number | undefined, def: number, name: string, min: number, max: number, integer = false): number {
  const x = v ?? def;
  if (typeof x !== 'number' || Number.isNaN(x) || x < min || x > max || (integer && !Number.isInteger(x))) {
    throw new MlError(
      'INVALID_PARAM',
      `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(v)}`,
    );
  }
  return x;
}

function resolveOptions(o: GbdtOptions): Resolved {
  if (o.objective !== 'binary' && o.objective !== 'regression') {
    throw new MlError('INVALID_PARAM', `objective must be 'binary' or 'regression', got ${String(o.objective)}`);
  }
  const inf = Number.POSITIVE_INFINITY;
  return {
    objective: o.objective,
    numTrees: num(o.numTrees, 100, 'numTrees', 1, 1e6, true),
    numLeaves: num(o.numLeaves, 31, 'numLeaves', 2, 131072, true),
    maxDepth: num(o.maxDepth, 0, 'maxDepth', -1, 1000, true),
    learningRate: num(o.learningRate, 0.1, 'learningRate', 1e-12, 1e6),
    maxBins: num(o.maxBins, 255, 'maxBins', 2, 255, true),
    baggingFraction: num(o.baggingFraction, 1, 'baggingFraction', 1e-9, 1),
    featureFraction: num(o.featureFraction, 1, 'featureFraction', 1e-9, 1),
    scalePosWeight: num(o.scalePosWeight, 1, 'scalePosWeight', 1e-12, inf),
    numThreads: resolveThreads(num(o.numThreads, 1, 'numThreads', 0, 1024, true)),
    seed: num(o.seed, 0, 'seed', -(2 ** 31), 2 ** 32, true),
    earlyStoppingRounds: num(o.earlyStoppingRounds, 0, 'earlyStoppingRounds', 0, 1e6, true),
    histogramSubtraction: o.histogramSubtraction ?? true,
    split: {
      lambdaL2: num(o.lambdaL2, 0, 'lambdaL2', 0, inf),
      minDataInLeaf: num(o.minDataInLeaf, 20, 'minDataInLeaf', 1, inf, true),
      minSumHessianInLeaf: num(o.minSumHessianInLeaf, 1e-3, 'minSumHessianInLeaf', 0, inf),
      minGainToSplit: num(o.minGainToSplit, 0, 'minGainToSplit', 0, inf),
      maxCatThreshold: num(o.maxCatThreshold, 32, 'maxCatThreshold', 1, 256, true),
      catSmooth: num(o.catSmooth, 10, 'catSmooth', 0, inf),
      catL2: num(o.catL2, 10, 'catL2', 0, inf),
      maxCatToOnehot: 4,
      minDataPerGroup: num(o.minDataPerGroup, 10, 'minDataPerGroup', 1, inf, true),
    },
  };
}

function checkLabels(labels: ArrayLike<number>, n: number, objective: GbdtObjective, what: string): Float64Array {
  if (labels.length !== n) {
    throw new MlError('LABEL_LENGTH', `${what} has ${labels.length} labels for ${n} rows`);
  }
  const y = new Float64Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const v = labels[i]!;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new MlError(
        'LABEL_NOT_FINITE',
        `${what}: label at row ${i} is ${String(v)}; labels must be finite numbers`,
      );
    }
    if (objective === 'binary') {
      if (v !== 0 && v !== 1) {
        throw new MlError('LABEL_NOT_BINARY', `${what}: label at row ${i} is ${v}; binary labels must be 0 or 1`);
      }
      pos += v;
    }
    y[i] = v;
  }
  if (objective === 'binary' && what === 'training data' && (pos === 0 || pos === n)) {
    throw new MlError(
      'SINGLE_CLASS',
      `training labels are all ${pos === 0 ? 0 : 1}; binary training needs both classes`,
    );
  }
  return y;
}

/** String columns, plus the numeric ones named in categoricalFeatures (converted to categories). */
function prepareFrame(frame: Frame, categorical: readonly string[] | undefined): Frame {
  if (!categorical || categorical.length === 0) return frame;
  for (const name of categorical) {
    if (!frame.has(name))
      throw new MlError('FEATURE_MISSING', `categoricalFeatures names "${name}", which is not a column`);
  }
  return new Frame(
    frame.columns.map((c): Column =>
      c.kind === 'numeric' && categorical.includes(c.name) ? numericToCategorical(c.name, c.values) : c,
    ),
  );
}

/** Per-tree growth state, allocated once per training and reused by every tree. */
class TreeGrower {
  readonly leafStart: Int32Array;
  readonly leafCount: Int32Array;
  readonly leafSlot: Int32Array;
  readonly leafDepth: Int32Array;
  readonly leafNode: Int32Array;
  readonly leafG: Float64Array;
  readonly leafH: Float64Array;
  readonly leafC: Float64Array;
  readonly best: SplitInfo[];
  readonly cand = new SplitInfo();
  readonly slotLen: number;

  constructor(
    readonly data: BinnedData,
    readonly rows: Int32Array,
    readonly hist: Float64Array,
    readonly builder: HistogramBuilder,
    readonly p: Resolved,
  ) {
    const L = p.numLeaves;
    this.leafStart = new Int32Array(L);
    this.leafCount = new Int32Array(L);
    this.leafSlot = new Int32Array(L);
    this.leafDepth = new Int32Array(L);
    this.leafNode = new Int32Array(L);
    this.leafG = new Float64Array(L);
    this.leafH = new Float64Array(L);
    this.leafC = new Float64Array(L);
    this.best = Array.from({ length: L }, () => new SplitInfo());
    this.slotLen = (data.binOffsets[data.numFeatures]! + PAD_BINS) * BIN_STRIDE;
  }

  private findSplit(leaf: number): void {
    const p = this.p;
    const best = this.best[leaf]!;
    best.reset();
    if (p.maxDepth > 0 && this.leafDepth[leaf]! >= p.maxDepth) return;
    if (this.leafCount[leaf]! < 2 * p.split.minDataInLeaf) return;
    findBestSplit(
      this.hist,
      this.leafSlot[leaf]! * this.slotLen,
      this.data.binOffsets,
      this.data.mappers,
      this.builder.features,
      this.builder.nFeats,
      this.leafG[leaf]!,
      this.leafH[leaf]!,
      this.leafC[leaf]!,
      p.split,
      best,
      this.cand,
    );
  }

  /**
   * Grows one tree over rows[0..m) into `tree` and returns its number of leaves; the leaves' row ranges stay in
   * leafStart/leafCount for the score update.
   */
  grow(m: number, tree: TreeBuild): number {
    const { data, hist, slotLen, leafStart, leafCount, leafSlot, leafDepth, leafNode, leafG, leafH, leafC } = this;
    const lambda = this.p.split.lambdaL2;
    this.builder.build(0, m, 0);
    // Totals from the first active feature's histogram (every row is in exactly one of its bins).
    let G = 0;
    let H = 0;
    {
      const f0 = this.builder.features[0]!;
      const a = data.binOffsets[f0]! * BIN_STRIDE;
      const b = data.binOffsets[f0 + 1]! * BIN_STRIDE;
      for (let i = a; i < b; i += BIN_STRIDE) {
        G += hist[i]!;
        H += hist[i + 1]!;
      }
    }
    tree.reset();
    const root = tree.addLeaf(-G / (H + lambda), H);
    leafStart[0] = 0;
    leafCount[0] = m;
    leafSlot[0] = 0;
    leafDepth[0] = 0;
    leafNode[0] = root;
    leafG[0] = G;
    leafH[0] = H;
    leafC[0] = m;
    this.findSplit(0);
    let numLeaves = 1;
    const maxLeaves = this.p.numLeaves;
    while (numLeaves < maxLeaves) {
      let bestLeaf = -1;
      let bestGain = 0;
      for (let l = 0; l < numLeaves; l++) {
        const s = this.best[l]!;
        if (s.feature >= 0 && s.gain > bestGain) {
          bestGain = s.gain;
          bestLeaf = l;
        }
      }
      if (bestLeaf < 0) break;
      const s = this.best[bestLeaf]!;
      const f = s.feature;
      // Partition the leaf's rows in place: left rows keep their order at the front, right rows follow. Column-major
      // bins here: one feature's column (n bytes) stays in cache while the leaf's rows are scanned.
      s.fillLookup(this.builder.lut);
      const start = leafStart[bestLeaf]!;
      const count = leafCount[bestLeaf]!;
      const nl = this.builder.partition(start, count, f);
      const nr = count - nl;
      const node = leafNode[bestLeaf]!;
      const newLeaf = numLeaves++;
      const lNode = tree.addLeaf(-s.gl / (s.hl + lambda), s.hl);
      const rNode = tree.addLeaf(-s.gr / (s.hr + lambda), s.hr);
      tree.setSplit(node, s, lNode, rNode, data.mappers[f]!, this.builder.lut);
      const depth = leafDepth[bestLeaf]! + 1;
      const parentSlot = leafSlot[bestLeaf]!;
      // Left child keeps the parent's leaf index; the right child takes the new one.
      leafStart[newLeaf] = start + nl;
      leafCount[newLeaf] = nr;
      leafDepth[newLeaf] = depth;
      leafNode[newLeaf] = rNode;
      leafG[newLeaf] = s.gr;
      leafH[newLeaf] = s.hr;
      leafC[newLeaf] = nr;
      leafCount[bestLeaf] = nl;
      leafDepth[bestLeaf] = depth;
      leafNode[bestLeaf] = lNode;
      leafG[bestLeaf] = s.gl;
      leafH[bestLeaf] = s.hl;
      leafC[bestLeaf] = nl;
      // Histogram subtraction: build the smaller child, derive the larger as parent − smaller in the parent's slot.
      const smallIsLeft = nl <= nr;
      const small = smallIsLeft ? bestLeaf : newLeaf;
      const large = smallIsLeft ? newLeaf : bestLeaf;
      const freshSlot = newLeaf;
      const childrenSplittable = this.p.maxDepth <= 0 || depth < this.p.maxDepth;
      leafSlot[small] = freshSlot;
      leafSlot[large] = parentSlot;
      const minData = this.p.split.minDataInLeaf;
      // The larger child is the only one that can be split when the smaller is too small; if neither can, skip.
      if (numLeaves < maxLeaves && childrenSplittable && leafCount[large]! >= 2 * minData) {
        const sStart = leafStart[small]!;
        const sCount = leafCount[small]!;
        this.builder.build(sStart, sCount, freshSlot * slotLen);
        if (this.p.histogramSubtraction) this.subtract(parentSlot * slotLen, freshSlot * slotLen);
        else {
          const lStart = leafStart[large]!;
          const lCount = leafCount[large]!;
          this.builder.build(lStart, lCount, parentSlot * slotLen);
        }
        this.findSplit(small);
        this.findSplit(large);
      } else {
        this.best[small]!.reset();
        this.best[large]!.reset();
      }
    }
    return numLeaves;
  }

  private subtract(parentBase: number, childBase: number): void {
    const { hist, data } = this;
    const feats = this.builder.features;
    const nf = this.builder.nFeats;
    for (let k = 0; k < nf; k++) {
      const f = feats[k]!;
      const a = data.binOffsets[f]! * BIN_STRIDE;
      const b = data.binOffsets[f + 1]! * BIN_STRIDE;
      for (let i = a; i < b; i++) hist[parentBase + i] = hist[parentBase + i]! - hist[childBase + i]!;
    }
  }
}

/** A tree under construction, kept in the JSON layout plus a bin-level router for training-time scoring. */
class TreeBuild {
  /**
   * Router, per node: whether it is a leaf, its split feature, its two children (a leaf's are itself, and its
   * feature 0, so a walk that has arrived stays), and "bin goes left" (256 per node).
   */
  private readonly nodeLeaf: Uint8Array;
  private readonly nodeFeature: Int32Array;
  private readonly nodeChild: Int32Array;
  private readonly nodeLut: Uint8Array;

  constructor(maxLeaves: number) {
    const maxNodes = Math.max(1, 2 * maxLeaves - 1);
    this.nodeLeaf = new Uint8Array(maxNodes);
    this.nodeFeature = new Int32Array(maxNodes);
    this.nodeChild = new Int32Array(2 * maxNodes);
    this.nodeLut = new Uint8Array(256 * maxNodes);
  }

  splitFeature: number[] = [];
  threshold: number[] = [];
  categories: (number[] | null)[] = [];
  defaultLeft: boolean[] = [];
  left: number[] = [];
  right: number[] = [];
  value: number[] = [];
  cover: number[] = [];
  gain: number[] = [];

  reset(): void {
    this.splitFeature = [];
    this.threshold = [];
    this.categories = [];
    this.defaultLeft = [];
    this.left = [];
    this.right = [];
    this.value = [];
    this.cover = [];
    this.gain = [];
  }

  addLeaf(value: number, cover: number): number {
    this.splitFeature.push(-1);
    this.threshold.push(0);
    this.categories.push(null);
    this.defaultLeft.push(false);
    this.left.push(-1);
    this.right.push(-1);
    this.value.push(value);
    this.cover.push(cover);
    this.gain.push(0);
    const node = this.value.length - 1;
    this.nodeLeaf[node] = 1;
    this.nodeFeature[node] = 0;
    this.nodeChild[2 * node] = node;
    this.nodeChild[2 * node + 1] = node;
    return node;
  }

  /** Makes `node` a split on `s` with children l and r; `lut` is the split's "bin goes left" (fillLookup). */
  setSplit(node: number, s: SplitInfo, l: number, r: number, mapper: BinMapper, lut: Uint8Array): void {
    this.splitFeature[node] = s.feature;
    this.left[node] = l;
    this.right[node] = r;
    this.gain[node] = s.gain;
    this.defaultLeft[node] = s.defaultLeft;
    this.nodeLeaf[node] = 0;
    this.nodeFeature[node] = s.feature;
    this.nodeChild[2 * node] = l;
    this.nodeChild[2 * node + 1] = r;
    this.nodeLut.set(lut.subarray(0, 256), node << 8);
    if (mapper.kind === 'numeric') {
      // The last value bin has no upper edge: "every non-missing value" is expressed with the largest double.
      this.threshold[node] =
        s.thresholdBin - 1 < mapper.binEdges.length ? mapper.binEdges[s.thresholdBin - 1]! : Number.MAX_VALUE;
    } else {
      const codes: number[] = [];
      for (let code = 0; code < mapper.codeToBin.length; code++) {
        const b = mapper.codeToBin[code]!;
        if (b !== MISSING_BIN && s.leftBins[b] === 1) codes.push(code);
      }
      this.categories[node] = codes;
      this.threshold[node] = 0;
    }
  }

  /**
   * Adds the value of the leaf each row reaches to its margin, `f[i] += value[leaf of row i]`, for the rows i listed
   * in `list[0..count)` (or i < count when `list` is null), where row i's bin of feature j is `bins[j * n + i]`
   * (column-major, as BinnedData). `value` is per node, as `finish` returns it. Four rows walk the tree in lockstep
   * (a leaf loops to itself), so their chains of dependent loads overlap. With `scale`, also `scale[i] *= factor[leaf
   * of row i]` (the validation rows' e^−f, kept so the log loss needs no exponential per row).
   */
  addToMargins(
    bins: Uint8Array,
    n: number,
    f: Float64Array,
    value: ArrayLike<number>,
    list: Int32Array | null,
    count: number,
    scale: Float64Array | null = null,
    factor: ArrayLike<number> | null = null,
  ): void {
    const { nodeFeature: feature, nodeChild: child, nodeLut: lut, nodeLeaf: leaf } = this;
    let q = 0;
    for (; q + 4 <= count; q += 4) {
      const i0 = list === null ? q : list[q]!;
      const i1 = list === null ? q + 1 : list[q + 1]!;
      const i2 = list === null ? q + 2 : list[q + 2]!;
      const i3 = list === null ? q + 3 : list[q + 3]!;
      let a = 0;
      let b = 0;
      let c = 0;
      let d = 0;
      while ((leaf[a]! & leaf[b]! & leaf[c]! & leaf[d]!) === 0) {
        a = child[(a << 1) + 1 - lut[(a << 8) + bins[feature[a]! * n + i0]!]!]!;
        b = child[(b << 1) + 1 - lut[(b << 8) + bins[feature[b]! * n + i1]!]!]!;
        c = child[(c << 1) + 1 - lut[(c << 8) + bins[feature[c]! * n + i2]!]!]!;
        d = child[(d << 1) + 1 - lut[(d << 8) + bins[feature[d]! * n + i3]!]!]!;
      }
      f[i0] = f[i0]! + value[a]!;
      f[i1] = f[i1]! + value[b]!;
      f[i2] = f[i2]! + value[c]!;
      f[i3] = f[i3]! + value[d]!;
      if (scale !== null) {
        scale[i0] = scale[i0]! * factor![a]!;
        scale[i1] = scale[i1]! * factor![b]!;
        scale[i2] = scale[i2]! * factor![c]!;
        scale[i3] = scale[i3]! * factor![d]!;
      }
    }
    for (; q < count; q++) {
      const i = list === null ? q : list[q]!;
      let a = 0;
      while (leaf[a] === 0) a = child[(a << 1) + 1 - lut[(a << 8) + bins[feature[a]! * n + i]!]!]!;
      f[i] = f[i]! + value[a]!;
      if (scale !== null) scale[i] = scale[i]! * factor![a]!;
    }
  }

  /** Applies the learning rate to leaves, makes covers additive and internal values cover-weighted means. */
  finish(lr: number): GbdtTreeJson {
    const m = this.value.length;
    for (let j = 0; j < m; j++) if (this.left[j] === -1) this.value[j] = this.value[j]! * lr;
    // Children always have larger indices than their parent, so a reverse sweep sees children first.
    for (let j = m - 1; j >= 0; j--) {
      const l = this.left[j]!;
      if (l === -1) continue;
      const r = this.right[j]!;
      const cl = this.cover[l]!;
      const cr = this.cover[r]!;
      this.cover[j] = cl + cr;
      this.value[j] = cl + cr > 0 ? (cl * this.value[l]! + cr * this.value[r]!) / (cl + cr) : 0;
    }
    return {
      splitFeature: this.splitFeature,
      threshold: this.threshold,
      categories: this.categories,
      defaultLeft: this.defaultLeft,
      left: this.left,
      right: this.right,
      value: this.value,
      cover: this.cover,
      gain: this.gain,
    };
  }
}

function loss(objective: GbdtObjective, y: Float64Array, f: Float64Array): number {
  const n = y.length;
  let s = 0;
  if (objective === 'binary') {
    for (let i = 0; i < n; i++) {
      const z = f[i]!;
      // log(1 + e^-|z|) + max(z, 0) - y z: the stable form of the log loss on margins.
      s += Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - y[i]! * z;
    }
    return s / n;
  }
  for (let i = 0; i < n; i++) {
    const d = f[i]! - y[i]!;
    s += d * d;
  }
  return Math.sqrt(s / n);
}

/**
 * The binary log loss from kept e = e^−z per row (labels 0 or 1): log(1 + t) with t = e for a positive and 1 / e for
 * a negative, so no term cancels (a confident row's loss is not the difference of two large numbers). Per 32 rows
 * it takes one log1p of q = Π(1 + t) − 1, kept as q ← q + t + q·t, so that a product near 1 (rows with tiny
 * losses) keeps its full relative precision instead of being rounded into 1 + t. Within ~1e-13 of the exact log loss
 * (e is multiplied by one factor per tree and recomputed every `EXP_REFRESH` rounds) — closer than `loss`, whose
 * stable form adds and subtracts |z| — and NaN when a term or product overflows (margins past ~709 on the wrong
 * side), where the caller falls back to `loss`.
 */
function binaryLossFromExp(y: Float64Array, e: Float64Array): number {
  const n = y.length;
  let s = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    const t = y[i] === 1 ? e[i]! : 1 / e[i]!;
    q += t + q * t;
    if ((i & 31) === 31 || q > 1e250) {
      s += Math.log1p(q);
      q = 0;
    }
  }
  s += Math.log1p(q);
  return Number.isFinite(s) ? s / n : NaN;
}

/** Rounds between exact recomputations of the validation rows' kept e^−f (bounds the products' rounding). */
const EXP_REFRESH = 64;

/** Trains a gradient-boosted trees model (binary log loss or squared-error regression). */
export async function trainGbdt(frame: Frame, labels: ArrayLike<number>, options: GbdtOptions): Promise<GbdtModel> {
  const p = resolveOptions(options);
  if (frame.numRows === 0) throw new MlError('EMPTY_FRAME', 'the training frame has no rows');
  if (frame.numColumns === 0) throw new MlError('EMPTY_FRAME', 'the training frame has no feature columns');
  const y = checkLabels(labels, frame.numRows, p.objective, 'training data');
  if (p.earlyStoppingRounds > 0 && !options.validation) {
    throw new MlError('INVALID_PARAM', 'earlyStoppingRounds needs a validation set');
  }
  const threads = p.numThreads;
  const shared = threads > 1;
  // What the binning depends on (the seed only samples quantiles of large frames).
  const binKey = [
    p.maxBins,
    frame.numRows > QUANTILE_SAMPLE_ROWS ? p.seed : '',
    shared,
    JSON.stringify(options.categoricalFeatures ?? []),
  ].join('|');
  const binTrain = () => {
    const train = prepareFrame(frame, options.categoricalFeatures);
    const m = fitBinMappers(train, { maxBins: p.maxBins, seed: p.seed });
    return { mappers: m, data: binFrame(train, m, shared) };
  };
  const cached = options.binCache?.train(frame, binKey, binTrain);
  const { mappers, data } = cached ?? binTrain();
  let valid: { data: BinnedData; y: Float64Array; f: Float64Array } | null = null;
  if (options.validation) {
    const vf = options.validation.frame;
    const vy = checkLabels(options.validation.labels, vf.numRows, p.objective, 'validation data');
    if (vf.numRows === 0) throw new MlError('EMPTY_FRAME', 'the validation frame has no rows');
    const binValid = () => binFrame(prepareFrame(vf, options.categoricalFeatures), mappers);
    const vd = cached ? options.binCache!.valid(cached, vf, binValid) : binValid();
    valid = { data: vd, y: vy, f: new Float64Array(vf.numRows) };
  }
  if (options.validationMargins && options.validationMargins.length !== (valid?.f.length ?? -1)) {
    throw new MlError('INVALID_PARAM', 'validationMargins needs a validation set and one number per validation row');
  }
  const n = data.numRows;
  const F = data.numFeatures;
  const alloc = (bytes: number): ArrayBufferLike => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  // Row-major copy of the bins for training, padded to whole 32-bit words: a leaf's scattered rows then cost one
  // cache line each, not one per feature, and the kernel reads four bins per load.
  const words = (F + 3) >> 2;
  // The builder fills it from the column-major bins (transposeBins).
  const rowWords = new Uint32Array(alloc(Math.max(n * words * 4, 4)));
  const rows = new Int32Array(alloc(n * 4));
  const grad = new Float64Array(alloc(n * 16));
  // Labels and margins shared with the worker, which computes half of the gradients.
  const ys = shared ? new Float64Array(alloc(n * 8)) : y;
  if (shared) ys.set(y);
  const f = new Float64Array(alloc(n * 8));
  const slotLen = (data.binOffsets[F]! + PAD_BINS) * BIN_STRIDE;
  // One slot per leaf plus scratch slots for the chunks of split builds.
  const hist = new Float64Array(alloc((p.numLeaves + HIST_CHUNKS - 1) * slotLen * 8));
  const builder = await HistogramBuilder.start(
    {
      rowWords,
      words,
      rows,
      grad,
      hist,
      binOffsets: data.binOffsets,
      slotLen,
      scratchBase: p.numLeaves * slotLen,
      colBins: data.bins,
      numRows: n,
      tmp: new Int32Array(alloc(n * 4)),
      y: ys,
      f,
      maxLeaves: p.numLeaves,
    },
    threads,
  );
  try {
    builder.transposeBins();
    return await boost(p, options, data, y, valid, rows, f, hist, builder);
  } finally {
    await builder.close();
  }
}

async function boost(
  p: Resolved,
  options: GbdtOptions,
  data: BinnedData,
  y: Float64Array,
  valid: { data: BinnedData; y: Float64Array; f: Float64Array } | null,
  rows: Int32Array,
  f: Float64Array,
  hist: Float64Array,
  builder: HistogramBuilder,
): Promise<GbdtModel> {
  const n = data.numRows;
  const F = data.numFeatures;
  const spw = p.scalePosWeight;
  // Boost from the (weighted) average: log-odds of the positive rate, or the mean target.
  let baseScore: number;
  if (p.objective === 'binary') {
    let wp = 0;
    let wn = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] === 1) wp += spw;
      else wn += 1;
    }
    baseScore = Math.log(wp / wn);
  } else {
    let s = 0;
    for (let i = 0; i < n; i++) s += y[i]!;
    baseScore = s / n;
  }
  f.fill(baseScore);
  if (valid) valid.f.fill(baseScore);
  // Binary validation loss: e^−f per validation row, multiplied by e^−(leaf value) as each tree is added.
  const validExp =
    valid && p.objective === 'binary' ? new Float64Array(valid.f.length).fill(Math.exp(-baseScore)) : null;
  const leafExp = new Float64Array(Math.max(1, 2 * p.numLeaves - 1));
  // The kept model's validation margins: the best round's with early stopping, else the last round's.
  const margins = options.validationMargins ?? null;
  const keepBest = valid !== null && p.earlyStoppingRounds > 0;
  margins?.fill(baseScore);
  const rng = new Rng(p.seed);
  const grower = new TreeGrower(data, rows, hist, builder, p);
  const tree = new TreeBuild(p.numLeaves);
  const trees: GbdtTreeJson[] = [];
  // Bagging: inBag[i] = 1 for the rows of this round's sample (which rows[0..m) lists, in increasing order).
  const inBag = new Uint8Array(n);
  const outOfBag = new Int32Array(n);
  const bagSize = Math.max(1, Math.round(p.baggingFraction * n));
  const bagging = p.baggingFraction < 1 && bagSize < n;
  const leafValue = new Float64Array(p.numLeaves);
  let bestLoss = Number.POSITIVE_INFINITY;
  let bestIter = -1;
  const allFeats = Int32Array.from({ length: F }, (_, i) => i);
  // Feature sampling: featSize of the F features per tree (all of them, without a draw, when that rounds to F).
  const featSize = p.featureFraction < 1 ? Math.max(1, Math.round(p.featureFraction * F)) : F;
  const featSample = new Int32Array(F);
  const featChosen = new Uint8Array(F);
  for (let iter = 0; iter < p.numTrees; iter++) {
    let m = n;
    if (bagging) {
      rng.sampleInto(n, bagSize, rows, inBag);
      m = bagSize;
    } else {
      for (let i = 0; i < n; i++) rows[i] = i;
    }
    // Gradients and hessians, interleaved so one cache line serves both; only the rows of the sample are read.
    builder.gradients(p.objective === 'binary', spw, m);
    if (featSize < F) {
      rng.sampleInto(F, featSize, featSample, featChosen);
      builder.setFeatures(featSample.subarray(0, featSize));
    } else if (iter === 0) builder.setFeatures(allFeats);
    const numLeaves = grower.grow(m, tree);
    const json = tree.finish(p.learningRate);
    // Score update: in-bag rows by their leaf range, out-of-bag rows by routing through the tree.
    for (let l = 0; l < numLeaves; l++) leafValue[l] = json.value[grower.leafNode[l]!]!;
    builder.addLeafValues(numLeaves, grower.leafStart, grower.leafCount, leafValue, m);
    if (m < n) {
      // The out-of-bag rows, in increasing order.
      let o = 0;
      for (let i = 0; i < n; i++) {
        outOfBag[o] = i;
        o += 1 - inBag[i]!;
      }
      tree.addToMargins(data.bins, n, f, json.value, outOfBag, o);
    }
    // The training loss costs a pass with exp/log per row: only computed when the callback reads it.
    let trainLoss = NaN;
    let trainLossRead = false;
    const metrics = {
      get trainLoss(): number {
        if (!trainLossRead) {
          trainLossRead = true;
          trainLoss = loss(p.objective, y, f);
        }
        return trainLoss;
      },
    } as IterationMetrics;
    if (valid) {
      const nv = valid.data.numRows;
      if (validExp) {
        for (let j = 0; j < json.value.length; j++) leafExp[j] = Math.exp(-json.value[j]!);
        tree.addToMargins(valid.data.bins, nv, valid.f, json.value, null, nv, validExp, leafExp);
        if (iter % EXP_REFRESH === EXP_REFRESH - 1) for (let i = 0; i < nv; i++) validExp[i] = Math.exp(-valid.f[i]!);
        const l = binaryLossFromExp(valid.y, validExp);
        metrics.validLoss = Number.isNaN(l) ? loss(p.objective, valid.y, valid.f) : l;
      } else {
        tree.addToMargins(valid.data.bins, nv, valid.f, json.value, null, nv);
        metrics.validLoss = loss(p.objective, valid.y, valid.f);
      }
    }
    trees.push(json);
    let stop = false;
    const current = metrics.validLoss ?? NaN;
    if (current < bestLoss) {
      bestLoss = current;
      bestIter = iter;
      if (keepBest && margins) margins.set(valid!.f);
    } else if (valid && p.earlyStoppingRounds > 0 && iter - bestIter >= p.earlyStoppingRounds) {
      stop = true;
    }
    if (options.onIteration && options.onIteration(iter, metrics) === false) stop = true;
    // Freeze the training loss: later rounds change the margins it would be computed from.
    Object.defineProperty(metrics, 'trainLoss', { value: trainLoss, enumerable: true });
    if (stop) break;
    // Let timers and I/O of the host process run between rounds (HPO heartbeats, cancellation).
    if ((iter & 7) === 7) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const kept = keepBest ? trees.slice(0, bestIter + 1) : trees;
  if (!keepBest && margins) margins.set(valid!.f);
  // The saved dictionary keeps only levels seen in the training rows, so any other level (even one present in the
  // training frame's dictionary) is unknown at prediction time and follows the missing-value direction, as in training.
  const newCodes: (Int32Array | null)[] = [];
  const features: GbdtFeatureJson[] = data.mappers.map((m) => {
    if (m.kind === 'numeric') {
      newCodes.push(null);
      return { name: m.name, kind: 'numeric', binEdges: Array.from(m.binEdges) };
    }
    const map = new Int32Array(m.dictionary.length).fill(-1);
    const dictionary: string[] = [];
    for (let code = 0; code < m.dictionary.length; code++) {
      if (m.codeToBin[code] !== MISSING_BIN) {
        map[code] = dictionary.length;
        dictionary.push(m.dictionary[code]!);
      }
    }
    newCodes.push(map);
    return { name: m.name, kind: 'categorical', dictionary };
  });
  for (const t of kept) {
    for (let j = 0; j < t.categories.length; j++) {
      const cats = t.categories[j];
      const map = newCodes[t.splitFeature[j]!];
      if (cats && map) t.categories[j] = cats.map((c) => map[c]!);
    }
  }
  return new GbdtModel({
    objective: p.objective,
    features,
    baseScore,
    trees: kept,
    params: {
      objective: p.objective,
      numTrees: p.numTrees,
      numLeaves: p.numLeaves,
      maxDepth: p.maxDepth,
      learningRate: p.learningRate,
      maxBins: p.maxBins,
      minDataInLeaf: p.split.minDataInLeaf,
      minSumHessianInLeaf: p.split.minSumHessianInLeaf,
      lambdaL2: p.split.lambdaL2,
      minGainToSplit: p.split.minGainToSplit,
      baggingFraction: p.baggingFraction,
      featureFraction: p.featureFraction,
      scalePosWeight: p.scalePosWeight,
      maxCatThreshold: p.split.maxCatThreshold,
      catSmooth: p.split.catSmooth,
      catL2: p.split.catL2,
      minDataPerGroup: p.split.minDataPerGroup,
      seed: p.seed,
      earlyStoppingRounds: p.earlyStoppingRounds,
      categoricalFeatures: options.categoricalFeatures ? [...options.categoricalFeatures] : null,
    },
    bestIteration: kept.length - 1,
  });
}
