// Pass 1 of tabular ingest: one streaming pass that infers each column's type and computes its statistics
// in bounded memory (Welford moments, capped distinct maps, a deterministic reservoir for quantiles/histograms).

import { badRequest } from '../../errors.js';
import { normalizeEncoding } from './decode.js';
import { DELIMITER_CANDIDATES } from './detect.js';
import { NumberCounter, TextCounter, type ChunkKeys } from './distinct.js';
import { TabularReader } from './reader.js';
import type { ColumnProfile, ColumnType, Quantiles, TabularOptions, TabularProfile } from './types.js';
import {
  formatDate,
  isMissingBytes,
  parseBooleanBytes,
  parseDateTimeBytes,
  parseNumberBytes,
  scannedHasTime,
  scannedInteger,
} from './values.js';

export const DEFAULT_MAX_COLUMNS = 2000;
/** A column with at most this many distinct values is categorical, whatever the row count. */
export const CATEGORICAL_MAX_ALWAYS = 50;
/** Above that, categorical needs distinct ≤ this share of the non-missing values and ≤ CATEGORICAL_MAX. */
export const CATEGORICAL_SHARE = 0.05;
export const CATEGORICAL_MAX = 1000;
/** Distinct values tracked per column, at most (the budget is shared by all columns, see `limitsFor`). */
export const DISTINCT_CAP = 10_000;
/** Values sampled per numeric column for quantiles and histograms, at most. */
export const RESERVOIR_CAP = 100_000;
/** Values longer than this are not kept as distinct keys (bounds memory for free-text columns). */
export const MAX_DISTINCT_KEY_CHARS = 256;
export const HISTOGRAM_BINS = 20;
export const TOP_VALUES = 10;

/**
 * Per-column caps so that wide files stay within a fixed memory budget: ~64 MB of samples, ~2 M distinct
 * keys and ~32 M key characters over all columns (never so low that the categorical rule cannot be decided).
 */
export function limitsFor(columns: number): { distinctCap: number; reservoirCap: number; keyChars: number } {
  const c = Math.max(1, columns);
  return {
    distinctCap: Math.max(CATEGORICAL_MAX + 1, Math.min(DISTINCT_CAP, Math.floor(2_000_000 / c))),
    reservoirCap: Math.max(1000, Math.min(RESERVOIR_CAP, Math.floor(8_000_000 / c))),
    keyChars: Math.max(32 * 1024, Math.floor(32_000_000 / c)),
  };
}

// Candidate-type bits: a column keeps a bit while every non-missing value so far fits that type.
const C_INT = 1;
const C_NUM = 2;
const C_BOOL = 4;
const C_DATE = 8;
const C_NUMERIC = C_INT | C_NUM;
const C_ALL = C_INT | C_NUM | C_BOOL | C_DATE;
/** Hint bits (see `ColumnAccumulator.hint`) above the candidate bits. */
const H_SEEN = 16;
const H_OVERFLOW = 32;
/** The text counter admits no more keys: a chunk looks keys up in a copy of it and counts them per key. */
export const H_FROZEN = 64;

/** What `ColumnAccumulator.add` took a cell as. */
export const K_MISSING = 0;
export const K_NUMBER = 1;
export const K_DATE = 2;
/** Text (or boolean) admitted to the column's distinct counter: `code` is its index there. */
export const K_CODE = 3;
/** Text not admitted (the counter overflowed: the column is text). */
export const K_TEXT = 4;

export class ColumnAccumulator {
  missing = 0;
  count = 0;
  private cand = C_INT | C_NUM | C_BOOL | C_DATE;
  private hasTime = false;
  // Numeric moments (shifted sums) and range (also the date range), valid while the type allows.
  private shift = 0;
  private sum = 0;
  private sumSq = 0;
  private min = Infinity;
  private max = -Infinity;
  private sample = new Float64Array(0);
  private sampleLen = 0;
  /** State of a mulberry32 PRNG, seeded per column: the same file always yields the same profile. */
  private rngState: number;
  private trues = 0;
  /** Distinct values while the column is numeric or date (by value), then as text. */
  private nums: NumberCounter | undefined;
  private texts: TextCounter | undefined;
  private distinctOverflow = false;
  /** Distinct values counted when tracking stopped (numeric columns stop tracking at the cap). */
  private distinctAtOverflow = 0;

  /** A chunk's accumulator (see `forChunk`): no moments or sample (the merge computes them in file order). */
  private chunk = false;
  /** A chunk's bytes (its number counter keeps positions in them). */
  private base: Uint8Array | undefined;

  /** A chunk's distinct numbers, taken out of its counter for the merge (see `NumberCounter.chunkKeys`). */
  takeChunkKeys(): ChunkKeys | undefined {
    const nums = this.nums;
    this.nums = undefined;
    this.base = undefined;
    return nums?.chunkKeys();
  }

  constructor(
    readonly name: string,
    index: number,
    private readonly distinctCap: number,
    private readonly reservoirCap: number,
    private readonly keyChars = Infinity,
  ) {
    this.rngState = (0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  }

  /**
   * The state a chunk parsed elsewhere starts from (`forChunk`): candidate types, whether any value was met, and
   * whether distinct counting by value stopped.
   */
  hint(): number {
    return (
      this.cand |
      (this.count > 0 ? H_SEEN : 0) |
      (this.distinctOverflow ? H_OVERFLOW : 0) |
      (this.texts?.overflow === true ? H_FROZEN : 0)
    );
  }

  /** Frozen-counter mode of a chunk: counts per key of the file's counter (which it shares, read-only). */
  private frozenCounts: Float64Array | undefined;

  /**
   * An accumulator for one chunk of rows parsed apart from the file's accumulator (in another thread), starting
   * from the file's `hint()`. It counts every text it meets (no cap: the merge decides what the file's counter
   * admits) and leaves moments and the sample to the merge. `mergeable` tells whether the file's accumulator can
   * take its results as if it had read the chunk's cells itself.
   */
  static forChunk(
    index: number,
    distinctCap: number,
    hint: number,
    frozen: TextCounter | undefined,
    distinct: number,
    base: Uint8Array,
  ): ColumnAccumulator {
    const c = new ColumnAccumulator('', index, distinctCap, 0);
    c.chunk = true;
    c.base = base;
    c.cand = hint & C_ALL;
    c.distinctOverflow = (hint & H_OVERFLOW) !== 0;
    if (!c.distinctOverflow && c.cand & (C_NUMERIC | C_DATE) && distinct > 0) {
      c.nums = new NumberCounter(distinctCap, Math.min(distinct, distinctCap), base);
    }
    if (hint & H_SEEN && !(c.cand & (C_NUMERIC | C_DATE))) {
      if (hint & H_FROZEN && frozen !== undefined) {
        c.texts = frozen;
        c.frozenCounts = new Float64Array(frozen.size);
      } else c.texts = new TextCounter(Infinity, MAX_DISTINCT_KEY_CHARS, Infinity);
    }
    return c;
  }

  /** Whether this chunk accumulator counted keys of the file's frozen counter (codes are the file's codes). */
  get frozenMode(): boolean {
    return this.frozenCounts !== undefined;
  }

  /**
   * Whether `chunk` (a `forChunk` accumulator over the rows that follow this one's) read every cell the way this
   * accumulator would have: no change of type inside the chunk, the same mode (numbers, dates, or text) here, and
   * no text its counter refused. Else the chunk's rows must be read again by this accumulator.
   */
  mergeable(chunk: ColumnAccumulator): boolean {
    if (chunk.frozenCounts !== undefined) return chunk.textsGeneration === 0 && this.texts?.overflow === true;
    if (chunk.textsGeneration !== 0 || chunk.texts?.overflow === true) return false;
    if (chunk.count === 0) return true;
    if (chunk.texts !== undefined)
      return this.texts !== undefined && this.count > 0 && !(this.cand & (C_NUMERIC | C_DATE));
    if (this.count === 0) return true;
    if (chunk.cand & C_NUMERIC) return (this.cand & C_NUMERIC) !== 0;
    return (chunk.cand & C_DATE) !== 0 && !(this.cand & C_NUMERIC) && (this.cand & C_DATE) !== 0;
  }

  /**
   * Takes a mergeable chunk whose cells were numbers or dates: `values` holds the chunk's cells in order (NaN =
   * missing). Moments, range and sample are computed here, value by value, exactly as `add` would have.
   */
  mergeValues(
    chunk: ColumnAccumulator,
    values: Float64Array,
    rows: number,
    keys: ChunkKeys | undefined,
    bytes: Uint8Array,
  ): void {
    this.missing += chunk.missing;
    if (chunk.count === 0) return;
    this.cand &= chunk.cand;
    if (chunk.hasTime) this.hasTime = true;
    if (this.cand & C_NUMERIC) {
      for (let i = 0; i < rows; i++) {
        const v = values[i] as number;
        if (v !== v) continue;
        this.count++;
        this.addNumber(v);
      }
    } else {
      this.count += chunk.count;
      if (chunk.min < this.min) this.min = chunk.min;
      if (chunk.max > this.max) this.max = chunk.max;
    }
    if (this.distinctOverflow) return;
    if (chunk.distinctOverflow) {
      // The chunk alone met more distinct values than the cap: counting stopped when the cap was reached here.
      this.distinctOverflow = true;
      this.distinctAtOverflow = this.distinctCap;
      this.nums = undefined;
      return;
    }
    if (keys === undefined) return;
    const nums = this.nums ?? (this.nums = new NumberCounter(this.distinctCap));
    const { keys: values2, counts, starts, ends } = keys;
    for (let k = 0; k < values2.length; k++) {
      if (
        !nums.addCountedAt(values2[k] as number, counts[k] as number, bytes, starts[k] as number, ends[k] as number)
      ) {
        this.distinctOverflow = true;
        this.distinctAtOverflow = nums.size;
        this.nums = undefined;
        return;
      }
    }
  }

  /**
   * Takes a mergeable chunk whose cells were text: its distinct texts, in the order the chunk met them, are
   * counted here. Returns, per chunk code, this counter's code (-1: not admitted, the cell is kept as bytes).
   */
  mergeTexts(chunk: ColumnAccumulator): Int32Array | undefined {
    this.missing += chunk.missing;
    const from = chunk.texts;
    if (chunk.count === 0 || from === undefined) return new Int32Array(0);
    this.count += chunk.count;
    this.cand &= chunk.cand;
    this.trues += chunk.trues;
    const texts = this.texts as TextCounter;
    const counts = chunk.frozenCounts;
    if (counts !== undefined) {
      // Keys of this very counter (frozen: it admits no more): add the counts; codes are this counter's.
      for (let k = 0; k < counts.length; k++) {
        const n = counts[k] as number;
        if (n > 0) texts.addCountAt(k, n);
      }
      return undefined;
    }
    const arena = from.keyArena();
    const remap = new Int32Array(from.size);
    for (let k = 0; k < from.size; k++) {
      remap[k] = texts.addCounted(arena, from.keyStartOf(k), from.keyEndOf(k), from.countOf(k));
    }
    return remap;
  }

  /** mulberry32, inline (a closure call per draw showed up in profiles). */
  private random(): number {
    const a = (this.rngState = (this.rngState + 0x6d2b79f5) >>> 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Set by `add` for K_NUMBER (the number) and K_DATE (epoch ms). */
  value = 0;
  /** Set by `add` for K_CODE: the value's index in `texts` (admission order). */
  code = -1;
  /** Incremented whenever `texts` is replaced (codes of an older generation mean nothing in the new one). */
  textsGeneration = 0;

  /**
   * Adds the cell whose UTF-8 bytes are `s[a, b)` (most cells never become strings). Returns what the cell was
   * taken as (K_*), so a single-pass ingest can write the parsed value straight into its columnar copy.
   */
  add(s: Uint8Array, a: number, b: number): number {
    if (isMissingBytes(s, a, b)) {
      this.missing++;
      return K_MISSING;
    }
    this.count++;
    const cand = this.cand;
    if (cand & C_NUMERIC) {
      const v = parseNumberBytes(s, a, b);
      if (v === v) {
        if (!scannedInteger) this.cand = C_NUM;
        else if (cand !== C_NUMERIC) this.cand = cand & C_NUMERIC;
        if (!this.chunk) this.addNumber(v);
        this.countNumber(v, s, a, b);
        this.value = v;
        return K_NUMBER;
      }
      this.leaveNumeric();
    }
    if (this.cand & C_DATE) {
      const ms = parseDateTimeBytes(s, a, b);
      if (ms === ms) {
        this.cand = C_DATE;
        if (scannedHasTime) this.hasTime = true;
        if (ms < this.min) this.min = ms;
        if (ms > this.max) this.max = ms;
        this.countNumber(ms, s, a, b);
        this.value = ms;
        return K_DATE;
      }
      this.leaveDate();
    }
    if (this.cand & C_BOOL) {
      const v = parseBooleanBytes(s, a, b);
      if (v >= 0) {
        this.cand = C_BOOL;
        this.trues += v;
      } else {
        this.cand &= ~C_BOOL;
      }
    }
    const texts = this.texts as TextCounter;
    const frozen = this.frozenCounts;
    if (frozen !== undefined) {
      const k = texts.find(s, a, b);
      this.code = k;
      if (k < 0) return K_TEXT;
      frozen[k] = (frozen[k] as number) + 1;
      return K_CODE;
    }
    const code = texts.addBytes(s, a, b);
    this.code = code;
    return code >= 0 ? K_CODE : K_TEXT;
  }

  /** The distinct-text counter (once the column is neither numeric nor date). */
  get textCounter(): TextCounter | undefined {
    return this.texts;
  }

  private addNumber(v: number): void {
    const n = this.count;
    // Sums shifted by the first value: one pass, no division per value, and no catastrophic cancellation
    // unless the spread is tiny compared with the distance from the first value.
    if (n === 1) this.shift = v;
    const d = v - this.shift;
    this.sum += d;
    this.sumSq += d * d;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    // Reservoir sampling (Algorithm R) with a fixed seed. Li's Algorithm L draws fewer random numbers, but
    // each of its ~k·ln(n/k) replacements costs logs and exps; measured here, one inline draw per value was
    // cheaper for files up to tens of millions of rows.
    const k = this.sampleLen;
    if (k < this.reservoirCap) {
      if (k === this.sample.length) {
        const grown = new Float64Array(Math.min(this.reservoirCap, Math.max(1024, k * 2)));
        grown.set(this.sample);
        this.sample = grown;
      }
      this.sample[k] = v;
      this.sampleLen = k + 1;
    } else {
      const j = Math.floor(this.random() * n);
      if (j < k) this.sample[j] = v;
    }
  }

  /** Distinct tracking by value for numeric and date columns; stops (for good) at the cap. */
  private countNumber(v: number, s: Uint8Array, a: number, b: number): void {
    if (this.distinctOverflow) return;
    let nums = this.nums;
    if (nums === undefined) {
      nums = this.nums = new NumberCounter(this.distinctCap, 0, this.base);
    }
    if (!nums.addBytes(v, s, a, b)) {
      this.distinctOverflow = true;
      this.distinctAtOverflow = nums.size;
      this.nums = undefined;
    }
  }

  /** The column met a value that is not a number: drop numeric state, keep what was counted as text. */
  private leaveNumeric(): void {
    const first = this.count === 1;
    this.cand &= ~C_NUMERIC;
    this.sample = new Float64Array(0);
    this.sampleLen = 0;
    this.min = Infinity;
    this.max = -Infinity;
    // Numbers met before are not booleans or dates either.
    if (!first) this.cand = 0;
    this.toText();
  }

  /** The column met a value that is not a date. */
  private leaveDate(): void {
    if (this.count > 1) this.cand = 0;
    else this.cand &= ~C_DATE;
    this.toText();
  }

  private toText(): void {
    this.textsGeneration++;
    const texts = new TextCounter(this.distinctCap, MAX_DISTINCT_KEY_CHARS, this.keyChars);
    if (this.distinctOverflow) texts.overflow = true;
    // Values counted by number keep the text of their first occurrence ("1.50" and "1.5" count as one).
    for (const e of this.nums?.entries() ?? []) texts.admit(e.text, e.count);
    this.nums = undefined;
    this.texts = texts;
  }

  get type(): ColumnType {
    if (this.count === 0) return 'text';
    const cand = this.cand;
    if (cand & C_INT) return 'integer';
    if (cand & C_NUM) return 'number';
    if (cand & C_BOOL) return 'boolean';
    if (cand & C_DATE) return this.hasTime ? 'datetime' : 'date';
    const distinct = this.distinctSize();
    if (this.distinctOverflow || this.texts?.overflow === true) return 'text';
    if (distinct <= CATEGORICAL_MAX_ALWAYS) return 'categorical';
    return distinct <= CATEGORICAL_SHARE * this.count && distinct <= CATEGORICAL_MAX ? 'categorical' : 'text';
  }

  /** Distinct values counted so far (a chunk's counter is sized for as many). */
  get distinctSoFar(): number {
    return this.nums?.size ?? this.texts?.size ?? 0;
  }

  private distinctSize(): number {
    return Math.max(this.distinctAtOverflow, this.nums?.size ?? this.texts?.size ?? 0);
  }

  /** Whether quantiles/histogram came from every value (not a sample). */
  get exact(): boolean {
    return !(this.cand & C_NUMERIC) || this.count <= this.reservoirCap;
  }

  profile(): ColumnProfile {
    const type = this.type;
    const p: ColumnProfile = { name: this.name, type, missing: this.missing, count: this.count };
    const overflow = this.distinctOverflow || this.texts?.overflow === true;
    p.distinct = overflow ? { atLeast: this.distinctSize() } : this.distinctSize();
    if ((type === 'integer' || type === 'number') && this.count > 0) {
      p.min = this.min;
      p.max = this.max;
      const n = this.count;
      p.mean = this.shift + this.sum / n;
      p.std = n > 1 ? Math.sqrt(Math.max(0, (this.sumSq - (this.sum * this.sum) / n) / (n - 1))) : 0;
      const sorted = this.sample.slice(0, this.sampleLen).sort();
      p.quantiles = quantiles(sorted);
      p.histogram = histogram(sorted, this.min, this.max, type === 'integer', this.count);
    } else if ((type === 'date' || type === 'datetime') && this.count > 0) {
      p.min = formatDate(this.min, type === 'datetime');
      p.max = formatDate(this.max, type === 'datetime');
    } else if (type === 'boolean') {
      p.mean = this.trues / this.count;
    }
    if (type === 'categorical' || type === 'boolean' || type === 'text') {
      const entries = (this.texts?.entries() ?? [])
        .map((e): [string, number] => [e.text, e.count])
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      p.top = entries.slice(0, TOP_VALUES).map(([value, count]) => ({ value, count }));
      if (type === 'categorical') p.categories = entries.map(([value]) => value);
    }
    return p;
  }
}

/** Quantile with linear interpolation between order statistics (NumPy's default, "type 7"). */
export function quantile(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(n - 1, lo + 1)] as number;
  return a + (h - lo) * (b - a);
}

function quantiles(sorted: Float64Array): Quantiles {
  return {
    p01: quantile(sorted, 0.01),
    p05: quantile(sorted, 0.05),
    p25: quantile(sorted, 0.25),
    p50: quantile(sorted, 0.5),
    p75: quantile(sorted, 0.75),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
  };
}

/**
 * ~20 equal-width bins over [min, max] (integers with a small range get one bin per value, edges at ±0.5).
 * Counts come from the sample, scaled to the column's count when the sample is not every value.
 */
export function histogram(
  sorted: Float64Array,
  min: number,
  max: number,
  integer: boolean,
  total: number,
): { edges: number[]; counts: number[] } {
  let edges: number[];
  if (integer && max - min < HISTOGRAM_BINS) {
    edges = [];
    for (let v = min; v <= max + 1; v++) edges.push(v - 0.5);
  } else if (max === min || !Number.isFinite(max - min)) {
    edges = [min, max];
  } else {
    const w = (max - min) / HISTOGRAM_BINS;
    edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) => (i === HISTOGRAM_BINS ? max : min + i * w));
  }
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  const lo = edges[0] as number;
  const width = ((edges[bins] as number) - lo) / bins;
  for (const v of sorted) {
    const i = width > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width))) : 0;
    counts[i] = (counts[i] as number) + 1;
  }
  if (sorted.length > 0 && sorted.length < total) {
    const scale = total / sorted.length;
    for (let i = 0; i < bins; i++) counts[i] = Math.round((counts[i] as number) * scale);
  }
  return { edges, counts };
}

export function resolveDelimiter(d: string | undefined): string {
  if (d === undefined || d === 'auto') return 'auto';
  if (!(DELIMITER_CANDIDATES as readonly string[]).includes(d)) {
    throw badRequest('CSV_BAD_DELIMITER', `Delimiter ${JSON.stringify(d)} is not supported. Use , ; | tab or auto.`, {
      delimiter: d,
    });
  }
  return d;
}

export function resolveMaxColumns(n: number | undefined): number {
  if (n === undefined) return DEFAULT_MAX_COLUMNS;
  if (!Number.isInteger(n) || n < 1) {
    throw badRequest('CSV_BAD_OPTION', `maxColumns must be a positive integer, got ${n}.`, { maxColumns: n });
  }
  return n;
}

/** What one lane of pass 1 found: the file's shape, and the profiles of the columns it owns. */
export interface ProfileLaneResult {
  encoding: TabularProfile['encoding'];
  delimiter: string;
  rowCount: number;
  /** Column index → profile, for columns `lane, lane + lanes, …`. */
  columns: { index: number; profile: ColumnProfile; exact: boolean }[];
}

/**
 * Pass 1 over the columns `lane, lane + lanes, …` of a file (every lane reads every byte and checks every row;
 * columns are independent, so lanes in separate threads give exactly the single-lane profile).
 */
export class ProfileLane {
  private cols: ColumnAccumulator[] = [];
  private readonly reader: TabularReader;

  constructor(opts: TabularOptions, lane = 0, lanes = 1) {
    this.reader = new TabularReader(
      {
        encoding: normalizeEncoding(opts.encoding),
        delimiter: resolveDelimiter(opts.delimiter),
        maxColumns: resolveMaxColumns(opts.maxColumns),
      },
      (names) => {
        const { distinctCap, reservoirCap, keyChars } = limitsFor(names.length);
        this.cols = names.map((name, i) => new ColumnAccumulator(name, i, distinctCap, reservoirCap, keyChars));
      },
      (row) => {
        const { buf, starts, ends } = row;
        const cols = this.cols;
        for (let j = lane; j < cols.length; j += lanes) {
          const a = starts[j] as number;
          const col = cols[j] as ColumnAccumulator;
          if (a >= 0) {
            col.add(buf, a, ends[j] as number);
          } else {
            const e = row.escaped[j] as Buffer;
            col.add(e, 0, e.length);
          }
        }
      },
    );
    this.lane = lane;
    this.lanes = lanes;
  }

  private readonly lane: number;
  private readonly lanes: number;

  write(chunk: Uint8Array): void {
    this.reader.write(chunk);
  }

  end(): ProfileLaneResult {
    const summary = this.reader.end();
    const columns: ProfileLaneResult['columns'] = [];
    for (let j = this.lane; j < this.cols.length; j += this.lanes) {
      const c = this.cols[j] as ColumnAccumulator;
      columns.push({ index: j, profile: c.profile(), exact: c.exact });
    }
    return { encoding: summary.encoding, delimiter: summary.delimiter, rowCount: summary.rowCount, columns };
  }
}

/** The profile from the results of lanes that together own every column. */
export function mergeProfileLanes(results: ProfileLaneResult[]): TabularProfile {
  const first = results[0] as ProfileLaneResult;
  const all = results.flatMap((r) => r.columns).sort((x, y) => x.index - y.index);
  return {
    encoding: first.encoding,
    delimiter: first.delimiter,
    rowCount: first.rowCount,
    columns: all.map((c) => c.profile),
    quantilesExact: all.every((c) => c.exact),
  };
}

/** Pass 1: decode, parse, validate, infer types and statistics in one streaming pass (bounded memory). */
export async function profileTabular(
  source: AsyncIterable<Uint8Array>,
  opts: TabularOptions = {},
): Promise<TabularProfile> {
  const lane = new ProfileLane(opts);
  for await (const chunk of source) lane.write(chunk);
  return mergeProfileLanes([lane.end()]);
}
