// Batched GBDT prediction in WebAssembly. A module generated per model (the model's constants baked into the code)
// bins a block of rows (column-major, one byte a value), walks each tree's first levels 16 rows at a time with SIMD
// (as many levels as stay thin, whole trees for small ones), finishes the deeper levels 8 rows in lockstep, and adds
// each tree's leaf value to the row's margin in f64, tree by tree, exactly as the JS kernel in ../predict.ts does
// (bit-identical sums). The bytes come from the small emitter in emit.ts: no toolchain, no dependency.
import type { CompiledTrees } from '../predict.js';
import { encodeModule, F64, FunctionBody, I32, Op, Simd, V128 } from './emit.js';

/** The parts of the WebAssembly JS API used here (the package's TypeScript libs do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
}

/** The WebAssembly API when this process has it (not under `--jitless`, for instance), else null. */
function wasmApi(): WasmApi | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  return api && typeof api.Module === 'function' ? api : null;
}

/** Rows walked in lockstep: GROUPS groups of GROUP rows, each group refilled as soon as all its rows are done. */
const GROUP = 4;
const GROUPS = 2;
const LANES = GROUP * GROUPS;
/** Lockstep steps per loop test (a leaf loops to itself, so extra steps are harmless). */
const UNROLL = 3;
/** Most levels of a tree walked with SIMD, 16 rows at a time (positions at level 8 still fit a byte). */
const MAX_TOP = 8;
/** Most internal nodes a level may have to be walked in SIMD (16, 24 and 32 measured alike at 255 leaves). */
const TOP_NODES = 16;
/** Code bytes after which the SIMD levels go on in a new function (V8 refuses functions above ~7.6 MB). */
const TOPS_FUNCTION_BYTES = 512 * 1024;
/** Bin limit (record byte 6) of a leaf: no bin is above it, so a leaf sends every row to itself. */
const LEAF_HI = 0xff;
/**
 * Bins are stored XOR 0x80 and node limits too (the record's byte 7): a signed comparison of biased bytes is the
 * unsigned comparison of the bins, and x64 has a signed byte compare for SIMD (i8x16.gt_s, one instruction) but not an
 * unsigned one (i8x16.gt_u takes three or four).
 */
const BIAS = 0x80;

/** A model's batched prediction in WebAssembly: copy inputs into `input`, margins into `acc`, call `run(m)`. */
export interface WasmWalk {
  /** Per used feature f, rows' values at [f * rows, f * rows + m): a view of the module's memory. */
  readonly input: Float64Array;
  /** The margins of the block's rows, a view of the module's memory: the walk adds every tree's leaf value. */
  readonly acc: Float64Array;
  /** Bins rows [0, m) of `input`, then routes them through every tree in order, adding leaf values onto acc[0..m). */
  run(m: number): void;
  /** How many functions the SIMD levels' code was split into (see TOPS_FUNCTION_BYTES). */
  readonly simdFunctions: number;
}

/**
 * Why `c` cannot be predicted in WebAssembly (null: it can): one-byte bins, bin columns and bin limits, numeric
 * splits only.
 */
export function wasmUnsupported(c: CompiledTrees): string | null {
  if (!(c.walkCol instanceof Uint8Array)) return 'categorical splits, more than 254 split points or 128 features';
  return null;
}

/**
 * The memory layout of one model's module, in bytes: node records from 0, RECORD bytes a node (i32 address of the
 * left child's record, the right child's follows it; u16 offset of the node's bin column in the bin block; u8 bin
 * limit; the limit XOR BIAS; a leaf points to itself with limit 0xff), then each tree's entry table offset (i32),
 * leaf values (f64 a node, at `leaves` + the node's record address), each numeric feature's padded split points (f64)
 * and lookup table (u16), the input block (f64, feature-major), the bin block (u8 XOR BIAS, column-major: column j of
 * row i at j * stride + i), the margins (f64), the SIMD positions (u8, a row of `stride` per tree) and the entry
 * tables (per tree, the node record address of each position).
 */
interface Layout {
  readonly rows: number;
  /** Rows per bin column and position row: rows rounded up to whole SIMD groups of 16. */
  readonly stride: number;
  readonly pos: number;
  readonly entry: number;
  /** Per tree: levels walked in SIMD, and where its entry table starts (bytes from `entry`). */
  readonly top: readonly number[];
  readonly entryAt: readonly number[];
  readonly trees: number;
  readonly leaves: number;
  readonly cuts: readonly number[];
  readonly luts: readonly number[];
  readonly input: number;
  readonly bins: number;
  readonly acc: number;
  readonly bytes: number;
}

const RECORD = 8;

function layout(c: CompiledTrees, rows: number): Layout {
  const align = (n: number): number => Math.ceil(n / 64) * 64;
  const nodes = c.child.length;
  const trees = align(RECORD * nodes);
  const leaves = align(trees + 8 * c.numTrees);
  let at = align(leaves + 8 * nodes);
  const cuts: number[] = [];
  const luts: number[] = [];
  for (let f = 0; f < c.numFeatures; f++) {
    cuts.push(at);
    at = align(at + 8 * (c.cuts[f]?.length ?? 0));
    luts.push(at);
    at = align(at + 2 * (c.lut[f]?.length ?? 0));
  }
  const stride = Math.ceil(rows / 16) * 16;
  const input = at;
  const bins = align(input + 8 * rows * c.numFeatures);
  const acc = align(bins + stride * 2 * c.numFeatures);
  const pos = align(acc + 8 * (rows + 2 * GROUP));
  const entry = align(pos + stride * c.numTrees);
  const top: number[] = [];
  const entryAt: number[] = [];
  let entryBytes = 0;
  for (let t = 0; t < c.numTrees; t++) {
    top.push(simdLevels(c, t));
    entryAt.push(entryBytes);
    entryBytes += 4 << top[t]!;
  }
  const bytes = align(entry + entryBytes);
  return { rows, stride, pos, entry, top, entryAt, trees, leaves, cuts, luts, input, bins, acc, bytes };
}

/**
 * The binning function: for every used feature, rows [0, m) of its input to bins in columns 2f (missing = 0) and
 * 2f + 1 (missing = missingHigh), by the same lookup table and comparisons, or binary search, as the JS kernel.
 */
function binFunction(c: CompiledTrees, L: Layout): FunctionBody {
  const R = L.stride;
  const f = new FunctionBody(1);
  const m = 0;
  const i = f.local(I32);
  const pos = f.local(I32);
  const x = f.local(F64);
  const t = f.local(F64);
  for (let feat = 0; feat < c.numFeatures; feat++) {
    const cut = c.cuts[feat];
    if (c.usedColumns[feat] === 0 || !cut) continue;
    const table = c.lut[feat];
    const cutAt = L.cuts[feat]!;
    f.i32(0).set(i);
    f.block().loop();
    f.get(i).get(m).op(Op.i32GeU).brIf(1);
    f.get(i)
      .i32(3)
      .op(Op.i32Shl)
      .mem(Op.f64Load, 3, L.input + 8 * L.rows * feat)
      .set(x);
    if (table) {
      const last = table.length - 1;
      // t = (x - lo) * scale; bucket = t > 0 ? (t < last ? trunc(t) : last) : 0
      f.get(x).f64(c.lutLo[feat]!).op(Op.f64Sub).f64(c.lutScale[feat]!).op(Op.f64Mul).set(t);
      f.get(t).op(Op.i32TruncSatF64S).i32(last).get(t).f64(last).op(Op.f64Lt).op(Op.select);
      f.i32(0).get(t).f64(0).op(Op.f64Gt).op(Op.select);
      f.i32(1).op(Op.i32Shl).mem(Op.i32Load16U, 1, L.luts[feat]!).set(pos);
      for (let s = 0; s < c.lutSteps[feat]!; s++) {
        f.get(pos).get(pos).i32(3).op(Op.i32Shl).mem(Op.f64Load, 3, cutAt).get(x).op(Op.f64Lt).op(Op.i32Add).set(pos);
      }
    } else {
      f.i32(0).set(pos);
      for (let h = cut.length >> 1; h > 0; h >>= 1) {
        f.get(pos).i32(h).i32(0);
        f.get(pos)
          .i32(3)
          .op(Op.i32Shl)
          .mem(Op.f64Load, 3, cutAt + 8 * (h - 1))
          .get(x)
          .op(Op.f64Lt)
          .op(Op.select);
        f.op(Op.i32Add).set(pos);
      }
    }
    // Missing (x !== x): 0 in column 2f, missingHigh in column 2f + 1; only the columns some node reads.
    if ((c.usedColumns[feat]! & 1) !== 0) {
      f.get(i).get(pos).i32(1).op(Op.i32Add).i32(0).get(x).get(x).op(Op.f64Eq).op(Op.select);
      f.i32(BIAS).op(Op.i32Xor);
      f.mem(Op.i32Store8, 0, L.bins + 2 * feat * R);
    }
    if ((c.usedColumns[feat]! & 2) !== 0) {
      f.get(i).get(pos).i32(1).op(Op.i32Add).i32(c.missingHigh).get(x).get(x).op(Op.f64Eq).op(Op.select);
      f.i32(BIAS).op(Op.i32Xor);
      f.mem(Op.i32Store8, 0, L.bins + (2 * feat + 1) * R);
    }
    f.get(i).i32(1).op(Op.i32Add).set(i);
    f.br(0).end().end();
  }
  return f;
}

/**
 * The nodes of tree t's first `depth` levels as a complete binary tree: level d has 2^d positions, position j's
 * children are 2j and 2j + 1; below a leaf, every position is that leaf again (a leaf sends every row left, to itself).
 */
function topLevels(c: CompiledTrees, t: number, depth: number): number[][] {
  const levels: number[][] = [[c.roots[t]!]];
  for (let d = 1; d <= depth; d++) {
    const above = levels[d - 1]!;
    const level: number[] = [];
    for (const g of above) {
      if (c.internal[g] === 1) level.push(c.child[g]!, c.child[g]! + 1);
      else level.push(g, g);
    }
    levels.push(level);
  }
  return levels;
}

/**
 * How many levels of tree t to walk in SIMD: levels from the root while each has at most TOP_NODES internal nodes
 * (a level's SIMD cost grows with its nodes, a scalar step's does not), at most MAX_TOP (positions fit a byte), and
 * no deeper than the tree.
 */
function simdLevels(c: CompiledTrees, t: number): number {
  let level = [c.roots[t]!];
  let depth = 0;
  while (depth < MAX_TOP) {
    const internal = level.filter((g) => c.internal[g] === 1);
    if (internal.length === 0 || internal.length > TOP_NODES) break;
    level = internal.flatMap((g) => [c.child[g]!, c.child[g]! + 1]);
    depth++;
  }
  return depth;
}

/**
 * The SIMD part: for every tree, 16 rows at a time, the position each row reaches after its SIMD levels. At each
 * level, every internal node of the level compares its bin column with its limit for all 16 rows (i8x16.gt_s on biased
 * bytes), keeps the lanes whose position is that node (i8x16.eq), and the lanes going right add one to their doubled
 * position. The tree's nodes are constants in the code. Positions go to pos[t][row]; entry[t][position] is the node to
 * go on from. Trees follow each other in one function until its code passes TOPS_FUNCTION_BYTES, then in the next.
 */
function topsFunctions(c: CompiledTrees, L: Layout): FunctionBody[] {
  const R = L.stride;
  const functions: FunctionBody[] = [];
  let f = new FunctionBody(1);
  const m = 0;
  let i = f.local(I32);
  let p = f.local(V128);
  let right = f.local(V128);
  for (let t = 0; t < c.numTrees; t++) {
    if (f.bytes.length > TOPS_FUNCTION_BYTES) {
      functions.push(f);
      f = new FunctionBody(1);
      i = f.local(I32);
      p = f.local(V128);
      right = f.local(V128);
    }
    const depth = L.top[t]!;
    const levels = topLevels(c, t, depth);
    f.i32(0).set(i);
    f.block().loop();
    f.get(i).get(m).op(Op.i32GeU).brIf(1);
    f.splat8(0).set(p);
    for (let d = 0; d < depth; d++) {
      let any = false;
      levels[d]!.forEach((g, j) => {
        if (c.internal[g] !== 1) return;
        f.get(i)
          .simdMem(Simd.v128Load, 0, L.bins + c.col[g]! * R)
          .splat8(c.hi[g]! ^ BIAS)
          .simd(Simd.i8x16GtS);
        if (d > 0) f.get(p).splat8(j).simd(Simd.i8x16Eq).simd(Simd.v128And);
        if (any) f.get(right).simd(Simd.v128Or);
        f.set(right);
        any = true;
      });
      f.get(p).get(p).simd(Simd.i8x16Add);
      if (any) f.get(right).simd(Simd.i8x16Sub);
      f.set(p);
    }
    f.get(i)
      .get(p)
      .simdMem(Simd.v128Store, 0, L.pos + t * R);
    f.get(i).i32(16).op(Op.i32Add).set(i);
    f.br(0).end().end();
  }
  functions.push(f);
  return functions;
}

/**
 * The walk function: for every tree, two groups of GROUP rows step together (LANES lanes), and each group, as soon as
 * all its rows stand on a leaf (leaves loop to themselves, so a row that is done waits in place), adds its leaf values
 * and takes the next GROUP rows, while the other group goes on. A group that finds no whole group of rows left parks
 * on a leaf with its row index at `park` (scratch margins past the block); when both are parked, the last m % GROUP
 * rows go one at a time.
 */
function walkFunction(c: CompiledTrees, L: Layout): FunctionBody {
  const f = new FunctionBody(1);
  const m = 0;
  const t = f.local(I32);
  const i = f.local(I32);
  const next = f.local(I32);
  const posAt = f.local(I32);
  const entryAt = f.local(I32);
  const rowOf = Array.from({ length: GROUPS }, () => f.local(I32));
  const g = Array.from({ length: LANES }, () => f.local(I32));
  const park = L.rows;
  let leaf = 0;
  while (c.internal[leaf] === 1) leaf++;

  // The unsigned bin limit of node g (0xff: a leaf), for the group test.
  const limit = (gk: number): void => {
    f.get(gk).mem(Op.i32Load8U, 0, 6);
  };
  // g = child + RECORD * (bin > limit), bin read from the node's column for row `row` + k (both biased, signed).
  const step = (row: number, k: number, gk: number): void => {
    f.get(gk).mem(Op.i32Load, 2, 0);
    f.get(gk).mem(Op.i32Load8S, 0, 7);
    f.get(row)
      .get(gk)
      .mem(Op.i32Load16U, 1, 4)
      .op(Op.i32Add)
      .mem(Op.i32Load8S, 0, L.bins + k);
    f.op(Op.i32LtS).i32(3).op(Op.i32Shl).op(Op.i32Add).set(gk);
  };
  // acc[row + k] += leafValue[node g].
  const accumulate = (row: number, k: number, gk: number): void => {
    f.get(row).i32(3).op(Op.i32Shl);
    f.get(row)
      .i32(3)
      .op(Op.i32Shl)
      .mem(Op.f64Load, 3, L.acc + 8 * k);
    f.get(gk).mem(Op.f64Load, 3, L.leaves);
    f.op(Op.f64Add).mem(Op.f64Store, 3, L.acc + 8 * k);
  };
  // g = entry[t][pos[t][row + k]]
  const enter = (row: number, k: number, gk: number): void => {
    f.get(entryAt)
      .get(posAt)
      .get(row)
      .op(Op.i32Add)
      .mem(Op.i32Load8U, 0, L.pos + k);
    f.i32(2).op(Op.i32Shl).op(Op.i32Add).mem(Op.i32Load, 2, L.entry).set(gk);
  };

  f.block().loop(); // trees
  f.get(t).i32(c.numTrees).op(Op.i32GeU).brIf(1);
  f.get(t).i32(L.stride).op(Op.i32Mul).set(posAt);
  f.get(t).i32(2).op(Op.i32Shl).mem(Op.i32Load, 2, L.trees).set(entryAt);
  f.i32(0).set(next);
  // A tree its SIMD levels walk whole (every entry node a leaf): each row adds its leaf value, no lockstep.
  f.get(t)
    .i32(2)
    .op(Op.i32Shl)
    .mem(Op.i32Load, 2, L.trees + 4 * c.numTrees)
    .op(Op.i32Eqz)
    .if();
  f.get(m).set(next);
  f.i32(0).set(i);
  f.block().loop();
  f.get(i).get(m).op(Op.i32GeU).brIf(1);
  enter(i, 0, g[0]!);
  accumulate(i, 0, g[0]!);
  f.get(i).i32(1).op(Op.i32Add).set(i);
  f.br(0).end().end();
  f.end();
  for (const r of rowOf) f.i32(park + GROUP).set(r);
  for (const gk of g) f.i32(RECORD * leaf).set(gk);

  f.block().loop(); // lockstep steps
  for (let h = 0; h < GROUPS; h++) {
    const row = rowOf[h]!;
    const lanes = g.slice(h * GROUP, (h + 1) * GROUP);
    // While the group is done (and not parked): add its leaf values, take the next GROUP rows or park.
    f.block().loop();
    f.get(row).i32(park).op(Op.i32Eq).brIf(1);
    limit(lanes[0]!);
    for (let k = 1; k < GROUP; k++) {
      limit(lanes[k]!);
      f.op(Op.i32And);
    }
    f.i32(LEAF_HI).op(Op.i32Ne).brIf(1);
    lanes.forEach((gk, k) => accumulate(row, k, gk));
    f.get(next).i32(GROUP).op(Op.i32Add).get(m).op(Op.i32GtU).if();
    f.i32(park).set(row);
    f.br(2);
    f.end();
    f.get(next).set(row);
    f.get(next).i32(GROUP).op(Op.i32Add).set(next);
    lanes.forEach((gk, k) => enter(row, k, gk));
    f.br(0).end().end();
  }
  f.get(rowOf[0]!);
  for (let h = 1; h < GROUPS; h++) f.get(rowOf[h]!).op(Op.i32Add);
  f.i32(GROUPS * park)
    .op(Op.i32Eq)
    .brIf(1);
  for (let u = 0; u < UNROLL; u++) for (let k = 0; k < LANES; k++) step(rowOf[(k / GROUP) | 0]!, k % GROUP, g[k]!);
  f.br(0).end().end();

  f.get(next).set(i);
  f.block().loop(); // the last rows, one at a time
  f.get(i).get(m).op(Op.i32GeU).brIf(1);
  enter(i, 0, g[0]!);
  f.block().loop();
  limit(g[0]!);
  f.i32(LEAF_HI).op(Op.i32Eq).brIf(1);
  step(i, 0, g[0]!);
  f.br(0).end().end();
  accumulate(i, 0, g[0]!);
  f.get(i).i32(1).op(Op.i32Add).set(i);
  f.br(0).end().end();

  f.get(t).i32(1).op(Op.i32Add).set(t);
  f.br(0).end().end();
  return f;
}

/** Writes the node records, tree roots, leaf values, split points and lookup tables of `c` at layout `L`. */
function writeModel(c: CompiledTrees, L: Layout, mem: ArrayBuffer): void {
  const nodes = c.child.length;
  const words = new Int32Array(mem, 0, (RECORD / 4) * nodes);
  const halves = new Uint16Array(mem, 0, (RECORD / 2) * nodes);
  const bytes = new Uint8Array(mem, 0, RECORD * nodes);
  const treeStart = new Int32Array(mem, L.trees, c.numTrees);
  const deep = new Int32Array(mem, L.trees + 4 * c.numTrees, c.numTrees);
  const leaves = new Float64Array(mem, L.leaves, nodes);
  for (let t = 0; t < c.numTrees; t++) {
    treeStart[t] = L.entryAt[t]!;
    const entry = new Int32Array(mem, L.entry + L.entryAt[t]!, 1 << L.top[t]!);
    const bottom = topLevels(c, t, L.top[t]!)[L.top[t]!]!;
    bottom.forEach((g, j) => (entry[j] = RECORD * g));
    deep[t] = bottom.some((g) => c.internal[g] === 1) ? 1 : 0;
  }
  for (let g = 0; g < nodes; g++) {
    const internal = c.internal[g] === 1;
    words[(RECORD / 4) * g] = RECORD * c.child[g]!;
    halves[(RECORD / 2) * g + 2] = internal ? c.col[g]! * L.stride : 0;
    bytes[RECORD * g + 6] = internal ? c.hi[g]! : LEAF_HI;
    bytes[RECORD * g + 7] = (internal ? c.hi[g]! : LEAF_HI) ^ BIAS;
    leaves[g] = c.leafValue[g]!;
  }
  for (let f = 0; f < c.numFeatures; f++) {
    const cut = c.cuts[f];
    if (cut) new Float64Array(mem, L.cuts[f]!, cut.length).set(cut);
    const table = c.lut[f];
    if (table) new Uint16Array(mem, L.luts[f]!, table.length).set(table);
  }
}

/**
 * The WebAssembly prediction of `c` for blocks of up to `rows` rows, or null where it cannot run (see
 * wasmUnsupported; no WebAssembly in this process; memory or compilation refused).
 */
export function wasmWalk(c: CompiledTrees, rows: number): WasmWalk | null {
  const api = wasmApi();
  if (!api || wasmUnsupported(c) !== null || 2 * c.numFeatures * (rows + 15) > 0xffff) return null;
  try {
    const L = layout(c, rows);
    const pages = Math.ceil(L.bytes / 65536);
    const memory = new api.Memory({ initial: pages, maximum: pages });
    writeModel(c, L, memory.buffer);
    const tops = topsFunctions(c, L);
    const bytes = encodeModule(pages, [
      { name: 'bin', params: [I32], results: [], body: binFunction(c, L) },
      { name: 'walk', params: [I32], results: [], body: walkFunction(c, L) },
      ...tops.map((body, k) => ({ name: `tops${k}`, params: [I32], results: [], body })),
    ]);
    const instance = new api.Instance(new api.Module(bytes), { env: { memory } });
    const bin = instance.exports['bin'] as (m: number) => void;
    const walk = instance.exports['walk'] as (m: number) => void;
    const top0 = instance.exports['tops0'] as (m: number) => void;
    const more = tops.slice(1).map((_, k) => instance.exports[`tops${k + 1}`] as (m: number) => void);
    return {
      input: new Float64Array(memory.buffer, L.input, rows * c.numFeatures),
      acc: new Float64Array(memory.buffer, L.acc, rows),
      simdFunctions: tops.length,
      run(m: number): void {
        bin(m);
        top0(m);
        for (const tops of more) tops(m);
        walk(m);
      },
    };
  } catch {
    return null;
  }
}
