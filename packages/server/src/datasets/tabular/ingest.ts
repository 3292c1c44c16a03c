// Single-pass tabular ingest: one parse of the CSV yields the profile (pass 1) AND the columnar copy.
//
// The Arrow stream cannot be written while parsing: its schema (types, `ichigen.type`) and its dictionaries
// (every category, most frequent first) are known only at the end of the file. So while pass 1 parses and
// profiles each cell, the value it parsed is written into a per-column batch buffer in the encoding the column
// has at that moment — Float64 for numbers and dates (epoch ms), Int32 codes into the column's distinct-text
// counter for text and booleans, UTF-8 bytes for text past the distinct cap — and each full batch is spilled to
// an unlinked temporary file. At the end `toArrow()` reads the batches back and converts each to the final type
// (dates → days, codes → categories in profile order, codes → text bytes, codes → booleans): the bytes are
// exactly those pass 2 (`tabularToArrow`) writes, without tokenizing or parsing the CSV again.
//
// When a column changed type after values were spilled in an encoding the final type cannot use (e.g. numbers
// for 10 M rows, then a word: the column is text, but its early cells were kept only as doubles), `arrow` is
// undefined and the caller runs pass 2 over the stored CSV instead. That costs time, never correctness.

import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ArrowAssembler, batchRowsFor, type ColumnBuffers } from './arrow.js';
import { normalizeEncoding } from './decode.js';
import type { TextCounter } from './distinct.js';
import {
  ColumnAccumulator,
  K_CODE,
  K_MISSING,
  limitsFor,
  mergeProfileLanes,
  resolveDelimiter,
  resolveMaxColumns,
} from './profile.js';
import { TabularReader } from './reader.js';
import { parseChunk, type ChunkColumn, type ChunkJob, type ChunkPort, type ChunkResult } from './split.js';
import type { ColumnProfile, TabularOptions, TabularProfile } from './types.js';
import { parseBooleanBytes } from './values.js';

const MS_PER_DAY = 86_400_000;

/** Encodings of one spilled column batch. */
const M_NULL = 0; // every cell missing
const M_F64 = 1; // numbers, or dates/datetimes as epoch ms
const M_CODE = 2; // Int32 index into the column's distinct-text counter, -1 = missing
const M_UTF8 = 3; // Arrow Utf8 (offsets + bytes)

interface SpilledColumn {
  mode: number;
  nulls: number;
  /** `textsGeneration` of the column's accumulator when its codes were written (M_CODE only). */
  generation: number;
  validityBytes: number;
  valueBytes: number;
  offsetBytes: number;
}

interface SpilledBatch {
  rows: number;
  columns: SpilledColumn[];
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_U8 = new Uint8Array(0);
/** Scratch slots of a converter. */
const S_VALIDITY = 0;
const S_IN = 1;
const S_OUT = 2;
const S_OFFSETS = 3;

function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
}

/**
 * One column of the batch being filled. Buffers are reused: a full batch is written to the spill file at once.
 * A missing cell is marked in the values themselves (NaN for doubles — no accepted number or date is NaN —, -1
 * for codes, 0 in `valid` for UTF-8), so a present cell costs one store; `validityBits` derives the bitmap.
 */
class SpillColumn {
  mode = M_NULL;
  nulls = 0;
  generation = 0;
  readonly validity: Uint8Array;
  // Allocated on first use: a column normally only ever needs one of them (wide files have many columns).
  f64 = EMPTY_F64;
  codes = EMPTY_I32;
  offsets = EMPTY_I32;
  /** UTF-8 mode: 1 per present row, 0 per missing row. */
  valid = EMPTY_U8;
  bytes = new Uint8Array(0);
  used = 0;

  constructor(
    private readonly rows: number,
    readonly acc: ColumnAccumulator,
  ) {
    this.validity = new Uint8Array((rows + 7) >> 3);
  }

  reset(): void {
    this.mode = M_NULL;
    this.nulls = 0;
    this.used = 0;
  }

  /** Starts encoding `mode` at row `row` (every earlier row of the batch was missing). */
  begin(mode: number, row: number): void {
    this.mode = mode;
    if (mode === M_F64) {
      if (this.f64.length === 0) this.f64 = new Float64Array(this.rows);
      this.f64.fill(NaN, 0, row);
    } else if (mode === M_CODE) {
      if (this.codes.length === 0) this.codes = new Int32Array(this.rows);
      this.codes.fill(-1, 0, row);
      this.generation = this.acc.textsGeneration;
    } else {
      if (this.offsets.length === 0) {
        this.offsets = new Int32Array(this.rows + 1);
        this.valid = new Uint8Array(this.rows);
      }
      this.offsets.fill(0, 0, row + 1);
      this.valid.fill(0, 0, row);
    }
  }

  missing(row: number): void {
    this.nulls++;
    const mode = this.mode;
    if (mode === M_F64) this.f64[row] = NaN;
    else if (mode === M_CODE) this.codes[row] = -1;
    else if (mode === M_UTF8) {
      this.offsets[row + 1] = this.used;
      this.valid[row] = 0;
    }
  }

  /**
   * The validity bitmap of rows [0, rows) (call only when `nulls > 0`); missing doubles become 0, as pass 2
   * leaves them.
   */
  validityBits(rows: number): Uint8Array {
    const bits = this.validity;
    bits.fill(0);
    const mode = this.mode;
    if (mode === M_F64) {
      const f64 = this.f64;
      for (let i = 0; i < rows; i++) {
        const v = f64[i] as number;
        if (v === v) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
        else f64[i] = 0;
      }
    } else if (mode === M_CODE) {
      const codes = this.codes;
      for (let i = 0; i < rows; i++)
        if ((codes[i] as number) >= 0) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
    } else if (mode === M_UTF8) {
      const valid = this.valid;
      for (let i = 0; i < rows; i++) if (valid[i] === 1) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
    }
    return bits;
  }

  appendBytes(s: Uint8Array, a: number, b: number, row: number): void {
    const len = b - a;
    let used = this.used;
    if (used + len > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, used + len, 1024));
      grown.set(this.bytes.subarray(0, used));
      this.bytes = grown;
    }
    const out = this.bytes;
    if (len < 32) for (let i = a; i < b; i++) out[used++] = s[i] as number;
    else {
      out.set(s.subarray(a, b), used);
      used += len;
    }
    this.used = used;
    this.offsets[row + 1] = used;
    this.valid[row] = 1;
  }

  /** The column's counter overflowed mid-batch: rewrite rows [0, row) from codes to UTF-8 bytes. */
  codesToUtf8(row: number): void {
    const texts = this.acc.textCounter as TextCounter;
    const arena = texts.keyArena();
    this.begin(M_UTF8, 0);
    for (let r = 0; r < row; r++) {
      const k = this.codes[r] as number;
      if (k < 0) {
        this.offsets[r + 1] = this.used;
        this.valid[r] = 0;
      } else this.appendBytes(arena, texts.keyStartOf(k), texts.keyEndOf(k), r);
    }
  }
}

/** How a parse is split over row ranges (see split.ts). */
export interface SplitOptions {
  /** Bytes read sequentially first (column types settle; the header and delimiter are known). */
  after: number;
  /** Bytes per chunk of records. */
  chunkBytes: number;
  /** Parses chunks in another thread; without it every chunk is parsed here (tests). */
  port?: ChunkPort;
}

/** Chunks handed out and not yet merged, at most, before waiting for the oldest. */
const MAX_QUEUED = 10;

/**
 * Pass 1 plus the spilled columnar copy. `write` each chunk, then `end()` for the profile; then `arrow` is the
 * columnar copy (or undefined: run pass 2), and `close()` must be called in every case (it frees the spill).
 */
export class TabularIngest {
  private cols: ColumnAccumulator[] = [];
  private spill: SpillColumn[] = [];
  private readonly reader: TabularReader;
  private batchRows = 0;
  private inBatch = 0;
  private readonly batches: SpilledBatch[] = [];
  private fd = -1;
  private written = 0;
  /** Set when some column's spilled cells cannot be converted to its type: the copy needs pass 2. */
  private failed = false;
  private profile: TabularProfile | undefined;
  private distinctCap = 0;
  /** Chunks handed out, in file order: `result` is undefined while the other thread parses it. */
  private readonly queue: { bytes: Buffer; result: ChunkResult | undefined }[] = [];
  /** Chunks merged as parsed, and read again here (for the benchmark's notes and the tests). */
  readonly chunks = { merged: 0, replayed: 0 };
  /** Columns whose frozen text counter the other thread has. */
  private readonly sentFrozen: boolean[] = [];

  constructor(
    opts: TabularOptions,
    private readonly spillDir = tmpdir(),
    private readonly split?: SplitOptions,
  ) {
    this.reader = new TabularReader(
      {
        encoding: normalizeEncoding(opts.encoding),
        delimiter: resolveDelimiter(opts.delimiter),
        maxColumns: resolveMaxColumns(opts.maxColumns),
      },
      (names) => {
        const { distinctCap, reservoirCap, keyChars } = limitsFor(names.length);
        this.distinctCap = distinctCap;
        this.cols = names.map((name, i) => new ColumnAccumulator(name, i, distinctCap, reservoirCap, keyChars));
        this.batchRows = batchRowsFor(names.length);
        this.spill = this.cols.map((c) => new SpillColumn(this.batchRows, c));
      },
      (row) => {
        const { buf, starts, ends } = row;
        const cols = this.cols;
        const spill = this.spill;
        const r = this.inBatch;
        let failed = this.failed;
        for (let j = 0; j < cols.length; j++) {
          let s: Uint8Array = buf;
          let a = starts[j] as number;
          let b: number;
          if (a >= 0) {
            b = ends[j] as number;
          } else {
            s = row.escaped[j] as Buffer;
            a = 0;
            b = s.length;
          }
          const col = cols[j] as ColumnAccumulator;
          const kind = col.add(s, a, b);
          if (failed) continue;
          const sc = spill[j] as SpillColumn;
          if (kind === K_MISSING) {
            sc.missing(r);
            continue;
          }
          let mode = sc.mode;
          if (kind < K_CODE) {
            // A number or a date.
            if (mode === M_NULL) sc.begin((mode = M_F64), r);
            if (mode !== M_F64) {
              this.fail();
              failed = true;
              continue;
            }
            sc.f64[r] = col.value;
          } else if (kind === K_CODE && mode !== M_UTF8) {
            if (mode === M_NULL) sc.begin((mode = M_CODE), r);
            if (mode !== M_CODE || sc.generation !== col.textsGeneration) {
              this.fail();
              failed = true;
              continue;
            }
            sc.codes[r] = col.code;
          } else {
            // Text the counter did not admit (or a column already past it): the column is text from now on.
            if (mode === M_F64) {
              this.fail();
              failed = true;
              continue;
            }
            if (mode === M_CODE) sc.codesToUtf8(r);
            else if (mode === M_NULL) sc.begin(M_UTF8, r);
            sc.appendBytes(s, a, b, r);
          }
        }
        if ((this.inBatch = r + 1) === this.batchRows) this.flush();
      },
    );
    if (split !== undefined) {
      this.reader.split(
        { records: (bytes) => this.records(bytes), drain: () => this.settle(true) },
        split.after,
        split.chunkBytes,
      );
    }
  }

  /** A chunk of whole records: parsed in the other thread when it has room, else here; merged in order. */
  private records(bytes: Buffer): void {
    const hints = new Int32Array(this.cols.length);
    const distinct = new Int32Array(this.cols.length);
    for (let j = 0; j < hints.length; j++) {
      const col = this.cols[j] as ColumnAccumulator;
      hints[j] = col.hint();
      distinct[j] = col.distinctSoFar;
    }
    const job: ChunkJob = {
      bytes,
      hints,
      delimiter: this.reader.delimiterByte,
      distinctCap: this.distinctCap,
      rowsHint: Math.ceil((bytes.length / this.reader.bytesPerRow) * 1.1) + 64,
      distinct,
    };
    const frozen = this.cols.map((c) => (c.textCounter?.overflow === true ? c.textCounter : undefined));
    const port = this.split?.port;
    if (port !== undefined) {
      // Frozen counters go to the other thread once each, with the first job it takes after they froze.
      const fresh = frozen.map((t, j) => (t !== undefined && this.sentFrozen[j] !== true ? t.frozen() : undefined));
      if (fresh.some((f) => f !== undefined)) job.frozen = fresh;
      if (port.post(job)) {
        fresh.forEach((f, j) => {
          if (f !== undefined) this.sentFrozen[j] = true;
        });
        this.queue.push({ bytes, result: undefined });
        this.settle(this.queue.length > MAX_QUEUED);
        return;
      }
      delete job.frozen;
    }
    this.queue.push({ bytes, result: parseChunk(job, frozen) });
    this.settle(this.queue.length > MAX_QUEUED);
  }

  /** Merges the chunks at the head of the queue whose results are in (`block`: wait for all of them). */
  private settle(block: boolean): void {
    const queue = this.queue;
    while (queue.length > 0) {
      const head = queue[0] as { bytes: Buffer; result: ChunkResult | undefined };
      if (head.result === undefined) {
        const got = (this.split?.port as ChunkPort).take(
          block || queue.length > MAX_QUEUED,
          this.cols.map((c) => c.textCounter),
        );
        if (got === undefined) return;
        head.result = got.result;
        head.bytes = got.bytes;
      }
      queue.shift();
      this.merge(head.bytes, head.result);
    }
  }

  /** Takes a parsed chunk as if its rows had been read here, or reads them here when that would differ. */
  private merge(bytes: Buffer, res: ChunkResult): void {
    const cols = this.cols;
    // After a chunk cut inside a quoted field, this one starts inside it: only a sequential read can go on.
    let ok = res.ok && !this.reader.midRecord;
    for (let j = 0; ok && j < cols.length; j++) {
      if (!(cols[j] as ColumnAccumulator).mergeable((res.columns[j] as ChunkColumn).acc)) ok = false;
    }
    if (!ok) {
      this.chunks.replayed++;
      this.reader.replay(bytes);
      return;
    }
    this.chunks.merged++;
    const remaps: (Int32Array | undefined)[] = [];
    for (let j = 0; j < cols.length; j++) {
      const c = res.columns[j] as ChunkColumn;
      const col = cols[j] as ColumnAccumulator;
      if (c.codes !== undefined) remaps[j] = col.mergeTexts(c.acc);
      else col.mergeValues(c.acc, c.values ?? EMPTY_F64, res.rows, c.keys, bytes);
    }
    this.reader.advance(res.rows, res.lines);
    const rows = res.rows;
    const refusedAt = new Int32Array(cols.length);
    let i0 = 0;
    while (i0 < rows) {
      const n = Math.min(rows - i0, this.batchRows - this.inBatch);
      for (let j = 0; j < cols.length && !this.failed; j++) {
        this.spillRange(j, res.columns[j] as ChunkColumn, remaps[j], i0, n, refusedAt);
      }
      i0 += n;
      if ((this.inBatch += n) === this.batchRows) this.flush();
    }
  }

  /** Spills rows [i0, i0 + n) of a merged chunk's column `j` at the batch's next rows (as the row handler would). */
  private spillRange(
    j: number,
    c: ChunkColumn,
    remap: Int32Array | undefined,
    i0: number,
    n: number,
    refusedAt: Int32Array,
  ): void {
    const sc = this.spill[j] as SpillColumn;
    const r0 = this.inBatch - i0;
    const values = c.values;
    const codes = c.codes;
    if (values !== undefined && (sc.mode === M_F64 || sc.mode === M_NULL)) {
      // Numbers and dates: missing cells are NaN in both; copy the range, count the missing.
      let nulls = 0;
      let first = -1;
      for (let i = i0; i < i0 + n; i++) {
        if ((values[i] as number) !== (values[i] as number)) nulls++;
        else if (first < 0) first = i;
      }
      if (first >= 0 && sc.mode === M_NULL) sc.begin(M_F64, r0 + first);
      if (sc.mode === M_F64) sc.f64.set(values.subarray(i0, i0 + n), r0 + i0);
      sc.nulls += nulls;
    } else if (values !== undefined) {
      for (let i = i0; i < i0 + n; i++) {
        const v = values[i] as number;
        const r = r0 + i;
        if (v !== v) {
          sc.missing(r);
          continue;
        }
        if (sc.mode === M_NULL) sc.begin(M_F64, r);
        if (sc.mode !== M_F64) {
          this.fail();
          return;
        }
        sc.f64[r] = v;
      }
    } else if (codes !== undefined) {
      const col = this.cols[j] as ColumnAccumulator;
      const texts = c.acc.textCounter as TextCounter;
      const arena = texts.keyArena();
      const refused = c.refused;
      for (let i = i0; i < i0 + n; i++) {
        const k = codes[i] as number;
        const r = r0 + i;
        if (k === -1) {
          sc.missing(r);
          continue;
        }
        if (k === -2) {
          // A text the frozen counter does not hold: the column is past its cap, the cell goes as bytes.
          // The next refused text of this column (`refusedAt` is per column, over the chunk's segments).
          const at = refusedAt[j] as number;
          const ends = (refused as { ends: Int32Array }).ends;
          const a = at === 0 ? 0 : (ends[at - 1] as number);
          refusedAt[j] = at + 1;
          if (sc.mode === M_F64) {
            this.fail();
            return;
          }
          if (sc.mode === M_CODE) sc.codesToUtf8(r);
          else if (sc.mode === M_NULL) sc.begin(M_UTF8, r);
          sc.appendBytes((refused as { bytes: Uint8Array }).bytes, a, ends[at] as number, r);
          continue;
        }
        const g = remap === undefined ? k : (remap[k] as number);
        let mode = sc.mode;
        if (g >= 0 && mode !== M_UTF8) {
          if (mode === M_NULL) sc.begin((mode = M_CODE), r);
          if (mode !== M_CODE || sc.generation !== col.textsGeneration) {
            this.fail();
            return;
          }
          sc.codes[r] = g;
        } else {
          if (mode === M_F64) {
            this.fail();
            return;
          }
          if (mode === M_CODE) sc.codesToUtf8(r);
          else if (mode === M_NULL) sc.begin(M_UTF8, r);
          sc.appendBytes(arena, texts.keyStartOf(k), texts.keyEndOf(k), r);
        }
      }
    } else {
      for (let i = i0; i < i0 + n; i++) sc.missing(r0 + i);
    }
  }

  private fail(): void {
    this.failed = true;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.batches.length = 0;
  }

  private writeAll(bytes: Uint8Array): number {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(this.fd, bytes, off, bytes.byteLength - off);
    this.written += bytes.byteLength;
    return bytes.byteLength;
  }

  private flush(): void {
    const rows = this.inBatch;
    this.inBatch = 0;
    if (rows === 0 || this.failed) return;
    if (this.fd < 0) {
      // Unlinked at once: the file lives as long as the descriptor, so no crash can leave it behind.
      const path = join(this.spillDir, `ichigen-ingest-${randomBytes(8).toString('hex')}.spill`);
      this.fd = openSync(path, 'w+', 0o600);
      unlinkSync(path);
    }
    const columns: SpilledColumn[] = [];
    for (const sc of this.spill) {
      const c: SpilledColumn = {
        mode: sc.mode,
        nulls: sc.nulls,
        generation: sc.generation,
        validityBytes: 0,
        valueBytes: 0,
        offsetBytes: 0,
      };
      if (sc.mode !== M_NULL) {
        if (sc.nulls > 0) c.validityBytes = this.writeAll(sc.validityBits(rows));
        if (sc.mode === M_F64) c.valueBytes = this.writeAll(new Uint8Array(sc.f64.buffer, 0, rows * 8));
        else if (sc.mode === M_CODE) c.valueBytes = this.writeAll(new Uint8Array(sc.codes.buffer, 0, rows * 4));
        else {
          c.offsetBytes = this.writeAll(new Uint8Array(sc.offsets.buffer, 0, (rows + 1) * 4));
          c.valueBytes = this.writeAll(sc.bytes.subarray(0, sc.used));
        }
      }
      columns.push(c);
      sc.reset();
    }
    this.batches.push({ rows, columns });
  }

  write(chunk: Uint8Array): void {
    this.reader.write(chunk);
  }

  /** Ends the input and returns the profile (throws the AppError of any malformed input). */
  end(): TabularProfile {
    const summary = this.reader.end();
    // Every chunk is merged: the second parser's thread is no longer needed (its memory goes before the copy).
    this.split?.port?.close();
    this.flush();
    const columns = this.cols.map((c, index) => ({ index, profile: c.profile(), exact: c.exact }));
    this.profile = mergeProfileLanes([
      { encoding: summary.encoding, delimiter: summary.delimiter, rowCount: summary.rowCount, columns },
    ]);
    if (!this.failed) {
      this.profile.columns.forEach((c, j) => {
        if (!this.failed && !this.batches.every((b) => fits(b.columns[j] as SpilledColumn, c, this.cols[j]!)))
          this.fail();
      });
    }
    return this.profile;
  }

  /** Whether `arrow()` can produce the columnar copy (else pass 2 must). Valid after `end()`. */
  get hasArrow(): boolean {
    return this.profile !== undefined && !this.failed;
  }

  /** The Arrow IPC stream, byte for byte what `tabularToArrow` writes for this profile. */
  *arrow(): Generator<Uint8Array, void, undefined> {
    const profile = this.profile;
    if (profile === undefined || this.failed) throw new Error('TabularIngest: no columnar copy');
    const assembler = new ArrowAssembler(profile, 1);
    const converters = profile.columns.map((c, j) => new Converter(c, j, this.cols[j]!, this.batchRows));
    let pos = 0;
    const read = (out: Uint8Array): void => {
      const n = out.byteLength;
      let off = 0;
      while (off < n) {
        const got = readSync(this.fd, out, off, n - off, pos + off);
        if (got === 0) throw new Error('ingest spill file ended early');
        off += got;
      }
      pos += n;
    };
    for (const batch of this.batches) {
      const columns = batch.columns.map((c, j) => (converters[j] as Converter).convert(c, batch.rows, read));
      assembler.add(0, { rows: batch.rows, columns });
      yield* assembler.takeReady();
    }
    for (const out of assembler.finish()) yield out;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.batches.length = 0;
    this.queue.length = 0;
    this.split?.port?.close();
  }
}

/** Whether a spilled column batch can be converted to the column's final type. */
function fits(c: SpilledColumn, p: ColumnProfile, acc: ColumnAccumulator): boolean {
  if (c.mode === M_NULL) return true;
  switch (p.type) {
    case 'integer':
    case 'number':
    case 'date':
    case 'datetime':
      return c.mode === M_F64;
    case 'boolean':
    case 'categorical':
      return c.mode === M_CODE && c.generation === acc.textsGeneration;
    case 'text':
      return c.mode === M_UTF8 || (c.mode === M_CODE && c.generation === acc.textsGeneration);
  }
}

/** Converts spilled batches of one column to the Arrow buffers of its final type (as pass 2 builds them). */
class Converter {
  /** Code (admission order) → category index, or → 1/0 for booleans. */
  private readonly map: Int32Array | undefined;
  private readonly texts: TextCounter | undefined;

  constructor(
    private readonly column: ColumnProfile,
    private readonly index: number,
    acc: ColumnAccumulator,
    private readonly capacity: number,
  ) {
    const texts = acc.textCounter;
    this.texts = texts;
    if (texts !== undefined && (column.type === 'categorical' || column.type === 'boolean')) {
      const entries = texts.entries();
      const map = new Int32Array(entries.length);
      if (column.type === 'categorical') {
        const position = new Map((column.categories ?? []).map((c, i) => [c, i]));
        entries.forEach((e, k) => (map[k] = position.get(e.text) ?? 0));
      } else {
        const arena = texts.keyArena();
        for (let k = 0; k < entries.length; k++) {
          map[k] = parseBooleanBytes(arena, texts.keyStartOf(k), texts.keyEndOf(k));
        }
      }
      this.map = map;
    }
  }

  /**
   * Buffers reused from batch to batch (the assembler copies each record batch out before the next one is
   * converted): a fresh set per batch made ~60 MB of dead buffers pile up in the worker between collections.
   */
  private readonly scratch: ArrayBuffer[] = [];
  private space(slot: number, bytes: number): ArrayBuffer {
    let b = this.scratch[slot];
    if (b === undefined || b.byteLength < bytes) {
      b = new ArrayBuffer(Math.max(bytes, (b?.byteLength ?? 0) * 2, 64));
      this.scratch[slot] = b;
    }
    return b;
  }

  convert(c: SpilledColumn, rows: number, read: (into: Uint8Array) => void): ColumnBuffers {
    const nullCount = c.mode === M_NULL ? rows : c.nulls;
    const bitmapBytes = (this.capacity + 7) >> 3;
    let validity: Uint8Array | undefined;
    if (nullCount > 0) {
      validity = new Uint8Array(this.space(S_VALIDITY, bitmapBytes), 0, bitmapBytes);
      if (c.validityBytes > 0) read(validity);
      else validity.fill(0);
    }
    const out: ColumnBuffers = { index: this.index, nullCount, validity, values: EMPTY_U8, offsets: undefined };
    const input = (): ArrayBuffer => {
      const b = this.space(S_IN, c.valueBytes);
      read(new Uint8Array(b, 0, c.valueBytes));
      return b;
    };
    const f64 = (): Float64Array => {
      if (c.mode !== M_NULL) return new Float64Array(input(), 0, rows);
      return new Float64Array(this.space(S_IN, rows * 8), 0, rows).fill(0);
    };
    const codes = (): Int32Array => {
      if (c.mode !== M_NULL) return new Int32Array(input(), 0, rows);
      return new Int32Array(this.space(S_IN, rows * 4), 0, rows).fill(-1);
    };
    switch (this.column.type) {
      case 'integer':
      case 'number':
        out.values = f64();
        break;
      case 'date': {
        const ms = f64();
        const days = new Int32Array(this.space(S_OUT, rows * 4), 0, rows);
        for (let i = 0; i < rows; i++) days[i] = (ms[i] as number) / MS_PER_DAY;
        out.values = days;
        break;
      }
      case 'datetime': {
        const ms = f64();
        const buf = this.space(S_OUT, rows * 8);
        const words = new Uint32Array(buf, 0, rows * 2);
        for (let i = 0; i < rows; i++) {
          const v = ms[i] as number;
          const hi = Math.floor(v / 4294967296);
          words[i * 2] = v - hi * 4294967296;
          words[i * 2 + 1] = hi;
        }
        out.values = new BigInt64Array(buf, 0, rows);
        break;
      }
      case 'categorical': {
        const k = codes();
        const map = this.map as Int32Array;
        const values = new Int32Array(this.space(S_OUT, rows * 4), 0, rows);
        for (let i = 0; i < rows; i++) {
          const code = k[i] as number;
          values[i] = code < 0 ? 0 : (map[code] as number);
        }
        out.values = values;
        break;
      }
      case 'boolean': {
        const k = codes();
        const map = this.map as Int32Array;
        const bits = new Uint8Array(this.space(S_OUT, bitmapBytes), 0, bitmapBytes).fill(0);
        for (let i = 0; i < rows; i++) {
          const code = k[i] as number;
          if (code >= 0 && map[code] === 1) setBit(bits, i);
        }
        out.values = bits;
        break;
      }
      case 'text': {
        const offsets = new Int32Array(this.space(S_OFFSETS, (rows + 1) * 4), 0, rows + 1);
        out.offsets = offsets;
        if (c.mode === M_UTF8) {
          read(new Uint8Array(offsets.buffer, 0, c.offsetBytes));
          out.values = new Uint8Array(input(), 0, c.valueBytes);
          break;
        }
        const k = codes();
        const texts = this.texts;
        offsets[0] = 0;
        let size = 0;
        if (texts !== undefined) {
          for (let i = 0; i < rows; i++) {
            const code = k[i] as number;
            if (code >= 0) size += texts.keyEndOf(code) - texts.keyStartOf(code);
          }
        }
        const bytes = new Uint8Array(this.space(S_OUT, size), 0, size);
        let used = 0;
        const arena = texts?.keyArena();
        for (let i = 0; i < rows; i++) {
          const code = k[i] as number;
          if (code >= 0 && texts !== undefined && arena !== undefined) {
            const b = texts.keyEndOf(code);
            for (let a = texts.keyStartOf(code); a < b; a++) bytes[used++] = arena[a] as number;
          }
          offsets[i + 1] = used;
        }
        out.values = bytes;
        break;
      }
    }
    return out;
  }
}

/** Single-pass ingest of a whole stream (tests and tools); the caller must `close()` the result. */
export async function ingestTabular(
  source: AsyncIterable<Uint8Array>,
  opts: TabularOptions = {},
  spillDir?: string,
): Promise<{ profile: TabularProfile; ingest: TabularIngest }> {
  const ingest = new TabularIngest(opts, spillDir);
  try {
    for await (const chunk of source) ingest.write(chunk);
    return { profile: ingest.end(), ingest };
  } catch (e) {
    ingest.close();
    throw e;
  }
}
