// Row-range split of a parse: the bytes after the first megabytes are cut into chunks at line breaks
// (`ChunkCutter`), each chunk is parsed on its own (`parseChunk`, in this thread or another), and the results
// are merged into the file's accumulators in file order (`TabularIngest`). A chunk whose cells the file's
// accumulators would have read differently (a column changed type inside it, a cut inside a quoted field, an
// error) is read again, sequentially, so the profile, the row count, the errors and the columnar copy are those
// of one sequential read.

import { TextCounter, type ChunkKeys, type FrozenTexts } from './distinct.js';
import { ColumnAccumulator, K_CODE, K_MISSING } from './profile.js';
import { CsvTokenizer, type Row } from './tokenizer.js';

const LF = 10;

/**
 * Cuts a stream of UTF-8 bytes into chunks of at least `chunkBytes`, each ending just after the first line break
 * from there on. That line break may lie inside a quoted field: the chunk's parse then ends inside the quotes and
 * fails, and the ingest reads that chunk, and the next ones until a chunk ends on a record end, sequentially
 * (`TabularIngest.merge`). So no quote is scanned here: the tokenizer that parses the chunk is the check.
 */
export class ChunkCutter {
  private buf = Buffer.allocUnsafe(0);
  private used = 0;

  constructor(private readonly chunkBytes: number) {}

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.used + bytes.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.used + bytes.length, this.chunkBytes * 2, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** The next chunk (a copy on its own ArrayBuffer: it may be moved to another thread), or undefined. */
  next(): Buffer | undefined {
    if (this.used < this.chunkBytes) return undefined;
    const lf = this.buf.indexOf(LF, this.chunkBytes - 1);
    if (lf === -1 || lf >= this.used) return undefined;
    const cut = lf + 1;
    const chunk = Buffer.from(new ArrayBuffer(cut));
    chunk.set(this.buf.subarray(0, cut));
    this.buf.copyWithin(0, cut, this.used);
    this.used -= cut;
    return chunk;
  }

  /** Bytes held (not handed out). */
  get size(): number {
    return this.used;
  }

  /** Everything not handed out (the last, possibly incomplete records). */
  rest(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.used));
  }
}

/** One column of a parsed chunk. */
export interface ChunkColumn {
  acc: ColumnAccumulator;
  /** Numbers and dates (epoch ms), NaN = missing; set when the column's cells were numbers or dates. */
  values?: Float64Array;
  /**
   * Codes into `acc.textCounter`, -1 = missing, -2 = a text the file's frozen counter does not hold (its bytes
   * are the next of `refused`); set when the column's cells were text.
   */
  codes?: Int32Array;
  /** Bytes of the refused texts, back to back, and where each ends. */
  refused?: { bytes: Uint8Array; ends: Int32Array };
  /** Distinct numbers or dates, first texts as positions in the chunk's bytes (see `NumberCounter.chunkKeys`). */
  keys?: ChunkKeys;
}

export interface ChunkResult {
  /** False: the chunk must be read again sequentially (an error, or a record the checks refuse). */
  ok: boolean;
  rows: number;
  /** Physical lines the chunk spans. */
  lines: number;
  columns: ChunkColumn[];
}

export interface ChunkJob {
  bytes: Uint8Array;
  /** Per column, the file's accumulator's `hint()` when the chunk was handed out. */
  hints: Int32Array;
  delimiter: number;
  distinctCap: number;
  /** Rows to allocate for at first. */
  rowsHint: number;
  /** Per column, the distinct values the file's accumulator counted so far. */
  distinct: Int32Array;
  /** Frozen text counters (`TextCounter.frozen`) the other thread has not been sent yet, by column. */
  frozen?: (FrozenTexts | undefined)[];
}

const never = (): never => {
  throw new Error('record too wide');
};

/** Parses a chunk of whole records (see `ColumnAccumulator.forChunk`). */
export function parseChunk(job: ChunkJob, frozen: readonly (TextCounter | undefined)[] = []): ChunkResult {
  const { hints, distinctCap } = job;
  const width = hints.length;
  const input = job.bytes;
  // One Buffer object: the tokenizer's records point into it, and number counters keep positions in it.
  const base = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const accs = Array.from({ length: width }, (_, j) =>
    ColumnAccumulator.forChunk(j, distinctCap, hints[j] as number, frozen[j], job.distinct[j] as number, base),
  );
  const columns: ChunkColumn[] = accs.map((acc) => ({ acc }));
  const refusedBytes: (Uint8Array | undefined)[] = [];
  const refusedEnds: (Int32Array | undefined)[] = [];
  const refusedCount = new Int32Array(width);
  const refusedUsed = new Int32Array(width);
  /** Keeps the bytes of a text the frozen counter does not hold. */
  const refuse = (j: number, s: Uint8Array, a: number, b: number): void => {
    const n = refusedCount[j] as number;
    let ends = refusedEnds[j] ?? (refusedEnds[j] = new Int32Array(256));
    if (n === ends.length) {
      const g = new Int32Array(n * 2);
      g.set(ends);
      ends = refusedEnds[j] = g;
    }
    const used = refusedUsed[j] as number;
    let bytes = refusedBytes[j] ?? (refusedBytes[j] = new Uint8Array(4096));
    if (used + b - a > bytes.length) {
      const g = new Uint8Array(Math.max(bytes.length * 2, used + b - a));
      g.set(bytes);
      bytes = refusedBytes[j] = g;
    }
    let o = used;
    for (let p = a; p < b; p++) bytes[o++] = s[p] as number;
    refusedUsed[j] = o;
    ends[n] = o;
    refusedCount[j] = n + 1;
  };
  let capacity = Math.max(64, job.rowsHint);
  const values: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(width);
  const codes: (Int32Array | undefined)[] = new Array<Int32Array | undefined>(width);
  let rows = 0;
  let ok = true;
  const grow = (): void => {
    capacity *= 2;
    for (let j = 0; j < width; j++) {
      const v = values[j];
      if (v !== undefined) {
        const g = new Float64Array(capacity);
        g.set(v);
        values[j] = g;
      }
      const c = codes[j];
      if (c !== undefined) {
        const g = new Int32Array(capacity);
        g.set(c);
        codes[j] = g;
      }
    }
  };
  const onRecord = (row: Row): void => {
    if (row.count !== width) throw new Error('ragged');
    if (rows === capacity) grow();
    const { buf, starts, ends } = row;
    const r = rows;
    for (let j = 0; j < width; j++) {
      let s: Uint8Array = buf;
      let a = starts[j] as number;
      let b: number;
      if (a >= 0) b = ends[j] as number;
      else {
        s = row.escaped[j] as Buffer;
        a = 0;
        b = s.length;
      }
      const acc = accs[j] as ColumnAccumulator;
      const kind = acc.add(s, a, b);
      if (kind === K_MISSING) {
        const v = values[j];
        if (v !== undefined) v[r] = NaN;
        else {
          const c = codes[j];
          if (c !== undefined) c[r] = -1;
        }
      } else if (kind < K_CODE) {
        let v = values[j];
        if (v === undefined) {
          if (codes[j] !== undefined) throw new Error('mixed');
          v = values[j] = new Float64Array(capacity).fill(NaN, 0, r);
        }
        v[r] = acc.value;
      } else if (kind === K_CODE) {
        let c = codes[j];
        if (c === undefined) {
          if (values[j] !== undefined) throw new Error('mixed');
          c = codes[j] = new Int32Array(capacity).fill(-1, 0, r);
        }
        c[r] = acc.code;
      } else {
        // K_TEXT: not in the file's frozen counter (kept as bytes); an uncapped counter never refuses but a key
        // longer than its limit, which only a sequential read handles.
        if (!acc.frozenMode) throw new Error('text refused');
        let c = codes[j];
        if (c === undefined) {
          if (values[j] !== undefined) throw new Error('mixed');
          c = codes[j] = new Int32Array(capacity).fill(-1, 0, r);
        }
        c[r] = -2;
        refuse(j, s, a, b);
      }
    }
    rows = r + 1;
  };
  const tokenizer = new CsvTokenizer(job.delimiter, width * 2 + 16, onRecord, never);
  try {
    tokenizer.push(base);
    tokenizer.end();
  } catch {
    ok = false;
  }
  // A column that changed type inside the chunk was read from a state the file's accumulator never had.
  if (accs.some((acc) => acc.textsGeneration !== 0)) ok = false;
  for (let j = 0; j < width; j++) {
    const c = columns[j] as ChunkColumn;
    const v = values[j];
    if (v !== undefined) c.values = v;
    const k = codes[j];
    if (k !== undefined) c.codes = k;
    const keys = c.acc.takeChunkKeys();
    if (keys !== undefined) c.keys = keys;
    const rb = refusedBytes[j];
    const re = refusedEnds[j];
    if (rb !== undefined && re !== undefined) c.refused = { bytes: rb, ends: re };
  }
  return { ok, rows, lines: tokenizer.nextLine - 1, columns: ok ? columns : [] };
}

/** Prepares a result to be sent back: frozen counters stay behind (the receiver has the original). */
export function forTransfer(result: ChunkResult): ChunkResult {
  for (const c of result.columns) {
    if (c.acc.frozenMode) (c.acc as unknown as { texts?: unknown }).texts = undefined;
  }
  return result;
}

/** Buffers of a result sent to another thread (moved, not copied). */
export function transferablesOf(result: ChunkResult): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const c of result.columns) {
    if (c.values !== undefined) out.push(c.values.buffer as ArrayBuffer);
    if (c.codes !== undefined) out.push(c.codes.buffer as ArrayBuffer);
    if (c.refused !== undefined) out.push(c.refused.bytes.buffer as ArrayBuffer, c.refused.ends.buffer as ArrayBuffer);
    const k = c.keys;
    if (k !== undefined) {
      for (const a of [k.keys, k.counts, k.starts, k.ends]) out.push(a.buffer as ArrayBuffer);
    }
  }
  return out;
}

/** A result that crossed threads (a structured clone) with its classes restored. */
export function reviveChunk(result: ChunkResult, frozen: readonly (TextCounter | undefined)[]): ChunkResult {
  for (let j = 0; j < result.columns.length; j++) {
    const c = result.columns[j] as ChunkColumn;
    Object.setPrototypeOf(c.acc, ColumnAccumulator.prototype);
    const raw = c.acc as unknown as { texts?: { arena: Uint8Array }; frozenCounts?: Float64Array };
    if (raw.frozenCounts !== undefined) {
      // The chunk looked keys up in a copy of this thread's counter; merge against the counter itself.
      (raw as { texts?: unknown }).texts = frozen[j];
      continue;
    }
    if (raw.texts !== undefined) {
      Object.setPrototypeOf(raw.texts, TextCounter.prototype);
      const a = raw.texts.arena;
      raw.texts.arena = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }
  }
  return result;
}

/** Parses chunks in another thread (see ingest-worker.ts); results come back in the order the jobs went. */
export interface ChunkPort {
  /** Hands `job` over (its bytes are moved); false when enough jobs wait there (parse this one here). */
  post(job: ChunkJob): boolean;
  /**
   * The oldest result not yet taken, with its chunk's bytes; undefined when none arrived and not `block`.
   * `frozen`: this thread's text counters, by column (see `reviveChunk`).
   */
  take(
    block: boolean,
    frozen: readonly (TextCounter | undefined)[],
  ): { result: ChunkResult; bytes: Buffer } | undefined;
  close(): void;
}
