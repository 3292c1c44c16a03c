// Pass 2 of tabular ingest: the same CSV bytes again → an Arrow IPC stream typed per the pass-1 profile,
// built straight into typed arrays (no per-cell objects), in record batches of up to 64 Ki rows.
//
// Types: integer → Float64 (JS numbers stay numbers, pandas gets float64 either way once a column has nulls;
// integers above 15 digits were already typed text in pass 1, so Float64 is exact), number → Float64,
// boolean → Bool, date → DateDay, datetime → TimestampMillisecond (no time zone; offsets normalized to UTC),
// categorical → Dictionary<Utf8, Int32> (dictionary = profile.categories), text → Utf8. Missing → null.
// Every field carries metadata `ichigen.type` = the profile type, so readers can tell integer from number.

import {
  AsyncByteQueue,
  Bool,
  DateDay,
  Dictionary,
  Field,
  Float64,
  Int32,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimestampMillisecond,
  Utf8,
  makeData,
  vectorFromArray,
  type Data,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { AppError } from '../../errors.js';
import { normalizeEncoding } from './decode.js';
import { resolveMaxColumns } from './profile.js';
import { TabularReader } from './reader.js';
import type { ColumnProfile, TabularProfile } from './types.js';
import { TextCounter } from './distinct.js';
import { isMissingBytes, parseBooleanBytes, parseDateTimeBytes, parseNumberBytes, scannedHasTime } from './values.js';

/** Rows per record batch (fewer for wide files: a batch holds at most ~8 M cells). */
export const ARROW_BATCH_ROWS = 65_536;
const MAX_BATCH_CELLS = 8_000_000;
const MS_PER_DAY = 86_400_000;

export function batchRowsFor(columns: number): number {
  return Math.max(1024, Math.min(ARROW_BATCH_ROWS, Math.floor(MAX_BATCH_CELLS / Math.max(1, columns))));
}

function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
}

function mismatch(message: string, details: Record<string, unknown>): AppError {
  return new AppError(
    'TABULAR_PROFILE_MISMATCH',
    422,
    `${message} The bytes are not the ones this profile was computed from; profile them again.`,
    details,
  );
}

/** One column of the batch being built. `add` takes the cell text of row `row` (0-based within the batch). */
abstract class ColumnBuilder {
  validity: Uint8Array;
  nulls = 0;
  constructor(
    readonly column: ColumnProfile,
    protected readonly rows: number,
  ) {
    this.validity = new Uint8Array((rows + 7) >> 3);
  }
  abstract readonly type: DataType;
  /** Adds the cell whose UTF-8 bytes are `s[a, b)` as row `row` of the batch; `line` is for error messages. */
  abstract add(s: Uint8Array, a: number, b: number, row: number, line: number): void;
  abstract data(length: number): Data;
  /** Fresh buffers for the next batch (the previous ones now belong to the emitted batch). */
  reset(): void {
    this.validity = new Uint8Array((this.rows + 7) >> 3);
    this.nulls = 0;
  }
  protected bad(s: Uint8Array, a: number, b: number, line: number): AppError {
    const cell = Buffer.from(s.buffer, s.byteOffset + a, b - a).toString('utf8');
    return mismatch(`Line ${line}: "${cell}" in column "${this.column.name}" is not ${this.column.type}.`, {
      line,
      column: this.column.name,
    });
  }
  protected get nullBitmap(): Uint8Array | undefined {
    return this.nulls > 0 ? this.validity : undefined;
  }
}

class Float64Builder extends ColumnBuilder {
  readonly type = new Float64();
  private values = new Float64Array(this.rows);
  add(s: Uint8Array, a: number, b: number, row: number, line: number): void {
    if (isMissingBytes(s, a, b)) {
      this.nulls++;
      return;
    }
    const v = parseNumberBytes(s, a, b);
    if (v !== v) throw this.bad(s, a, b, line);
    this.values[row] = v;
    setBit(this.validity, row);
  }
  data(length: number): Data {
    const d = makeData({
      type: this.type,
      length,
      nullCount: this.nulls,
      data: this.values,
      nullBitmap: this.nullBitmap,
    });
    this.values = new Float64Array(this.rows);
    return d;
  }
}

class BoolBuilder extends ColumnBuilder {
  readonly type = new Bool();
  private values = new Uint8Array((this.rows + 7) >> 3);
  add(s: Uint8Array, a: number, b: number, row: number, line: number): void {
    if (isMissingBytes(s, a, b)) {
      this.nulls++;
      return;
    }
    const v = parseBooleanBytes(s, a, b);
    if (v < 0) throw this.bad(s, a, b, line);
    if (v === 1) setBit(this.values, row);
    setBit(this.validity, row);
  }
  data(length: number): Data {
    const d = makeData({
      type: this.type,
      length,
      nullCount: this.nulls,
      data: this.values,
      nullBitmap: this.nullBitmap,
    });
    this.values = new Uint8Array((this.rows + 7) >> 3);
    return d;
  }
}

class DateDayBuilder extends ColumnBuilder {
  readonly type = new DateDay();
  private values = new Int32Array(this.rows);
  add(s: Uint8Array, a: number, b: number, row: number, line: number): void {
    if (isMissingBytes(s, a, b)) {
      this.nulls++;
      return;
    }
    const ms = parseDateTimeBytes(s, a, b);
    if (ms !== ms || scannedHasTime) throw this.bad(s, a, b, line);
    this.values[row] = ms / MS_PER_DAY;
    setBit(this.validity, row);
  }
  data(length: number): Data {
    const d = makeData({
      type: this.type,
      length,
      nullCount: this.nulls,
      data: this.values,
      nullBitmap: this.nullBitmap,
    });
    this.values = new Int32Array(this.rows);
    return d;
  }
}

class TimestampBuilder extends ColumnBuilder {
  readonly type = new TimestampMillisecond();
  private values = new BigInt64Array(this.rows);
  // Writes int64 as two 32-bit halves (little-endian): no BigInt allocation per cell.
  private words = new Uint32Array(this.values.buffer);
  add(s: Uint8Array, a: number, b: number, row: number, line: number): void {
    if (isMissingBytes(s, a, b)) {
      this.nulls++;
      return;
    }
    const ms = parseDateTimeBytes(s, a, b);
    if (ms !== ms) throw this.bad(s, a, b, line);
    const hi = Math.floor(ms / 4294967296);
    this.words[row * 2] = ms - hi * 4294967296;
    this.words[row * 2 + 1] = hi;
    setBit(this.validity, row);
  }
  data(length: number): Data {
    const d = makeData({
      type: this.type,
      length,
      nullCount: this.nulls,
      data: this.values,
      nullBitmap: this.nullBitmap,
    });
    this.values = new BigInt64Array(this.rows);
    this.words = new Uint32Array(this.values.buffer);
    return d;
  }
}

class DictionaryBuilder extends ColumnBuilder {
  readonly type: Dictionary<Utf8, Int32>;
  private indices = new Int32Array(this.rows);
  /** Category bytes → code (admission order = the profile's category order). */
  private readonly codes = new TextCounter(Infinity, Infinity);
  private readonly dictionary: Vector<Utf8>;
  constructor(column: ColumnProfile, rows: number, id: number) {
    super(column, rows);
    const categories = column.categories ?? [];
    for (const c of categories) this.codes.admit(c, 0);
    this.type = new Dictionary(new Utf8(), new Int32(), id, false);
    // One dictionary vector for the whole stream: the writer sends it once, before the first batch.
    this.dictionary = vectorFromArray(categories, new Utf8());
  }
  add(s: Uint8Array, a: number, b: number, row: number, line: number): void {
    if (isMissingBytes(s, a, b)) {
      this.nulls++;
      return;
    }
    const code = this.codes.find(s, a, b);
    if (code < 0) throw this.bad(s, a, b, line);
    this.indices[row] = code;
    setBit(this.validity, row);
  }
  data(length: number): Data {
    const d = makeData({
      type: this.type,
      length,
      nullCount: this.nulls,
      data: this.indices,
      nullBitmap: this.nullBitmap,
      dictionary: this.dictionary,
    });
    this.indices = new Int32Array(this.rows);
    return d;
  }
}

const utf8Encoder = new TextEncoder();

class Utf8Builder extends ColumnBuilder {
  readonly type = new Utf8();
  private offsets = new Int32Array(this.rows + 1);
  private bytes = new Uint8Array(64 * 1024);
  private used = 0;
  add(s: Uint8Array, a: number, b: number, row: number): void {
    if (isMissingBytes(s, a, b)) {
      this.nulls++;
      this.offsets[row + 1] = this.used;
      return;
    }
    const len = b - a;
    let used = this.used;
    if (used + len > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, used + len));
      grown.set(this.bytes.subarray(0, used));
      this.bytes = grown;
    }
    const out = this.bytes;
    // The cell's UTF-8 bytes are already what Arrow stores; short cells copy faster by hand than via subarray.
    if (len < 32) for (let i = a; i < b; i++) out[used++] = s[i] as number;
    else {
      out.set(s.subarray(a, b), used);
      used += len;
    }
    this.used = used;
    this.offsets[row + 1] = used;
    setBit(this.validity, row);
  }
  data(length: number): Data {
    const d = makeData({
      type: this.type,
      length,
      nullCount: this.nulls,
      data: this.bytes.slice(0, this.used),
      valueOffsets: this.offsets.slice(0, length + 1),
      nullBitmap: this.nullBitmap,
    });
    this.used = 0;
    return d;
  }
}

function builderFor(column: ColumnProfile, rows: number, index: number): ColumnBuilder {
  switch (column.type) {
    case 'integer':
    case 'number':
      return new Float64Builder(column, rows);
    case 'boolean':
      return new BoolBuilder(column, rows);
    case 'date':
      return new DateDayBuilder(column, rows);
    case 'datetime':
      return new TimestampBuilder(column, rows);
    case 'categorical':
      return new DictionaryBuilder(column, rows, index);
    case 'text':
      return new Utf8Builder(column, rows);
  }
}

/** Collects what the writer emits, so batches can be handed out as they are written. */
class CollectingSink extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  bytes = 0;
  override write(value: Uint8Array | ArrayBufferView | ArrayBuffer | string): void {
    const u =
      value instanceof Uint8Array
        ? value
        : typeof value === 'string'
          ? utf8Encoder.encode(value)
          : ArrayBuffer.isView(value)
            ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
            : new Uint8Array(value);
    if (u.byteLength > 0) {
      this.chunks.push(u);
      this.bytes += u.byteLength;
    }
  }
  /** Everything written since the last call, as one array (copied: the writer may reuse nothing, we own it). */
  take(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    this.chunks = [];
    this.bytes = 0;
    return out;
  }
}

/**
 * Pass 2: the same bytes again → an Arrow IPC *stream* (schema, dictionaries, record batches), typed per the
 * profile. Throws TABULAR_PROFILE_MISMATCH (422) if the bytes do not match the profile.
 */
export async function* tabularToArrow(
  source: AsyncIterable<Uint8Array>,
  profile: TabularProfile,
): AsyncGenerator<Uint8Array, void, undefined> {
  const columns = profile.columns;
  const rows = batchRowsFor(columns.length);
  const builders = columns.map((c, i) => builderFor(c, rows, i));
  const fields = builders.map(
    (b) => new Field(b.column.name, b.type, true, new Map([['ichigen.type', b.column.type]])),
  );
  const schema = new Schema(fields, new Map([['ichigen.format', 'tabular/1']]));
  const structType = new Struct(fields);
  const sink = new CollectingSink();
  const writer = new RecordBatchStreamWriter({ autoDestroy: false });
  writer.reset(sink, schema);

  let inBatch = 0;
  const ready: Uint8Array[] = [];
  const flush = (): void => {
    if (inBatch === 0) return;
    const children = builders.map((b) => b.data(inBatch));
    const data = makeData({ type: structType, length: inBatch, nullCount: 0, children });
    writer.write(new RecordBatch(schema, data));
    for (const b of builders) b.reset();
    inBatch = 0;
    ready.push(sink.take());
  };

  const reader = new TabularReader(
    {
      encoding: normalizeEncoding(profile.encoding === 'utf-8-bom' ? 'utf-8' : profile.encoding),
      delimiter: profile.delimiter,
      maxColumns: resolveMaxColumns(Math.max(columns.length, 1)),
    },
    (names) => {
      const expected = columns.map((c) => c.name);
      if (names.length !== expected.length || names.some((n, i) => n !== expected[i])) {
        throw mismatch('The header differs from the profiled one.', { header: names, expected });
      }
    },
    (row) => {
      const { buf, starts, ends, line } = row;
      for (let j = 0; j < builders.length; j++) {
        const a = starts[j] as number;
        const builder = builders[j] as ColumnBuilder;
        if (a >= 0) {
          builder.add(buf, a, ends[j] as number, inBatch, line);
        } else {
          const e = row.escaped[j] as Buffer;
          builder.add(e, 0, e.length, inBatch, line);
        }
      }
      if (++inBatch === rows) flush();
    },
  );

  for await (const chunk of source) {
    reader.write(chunk);
    while (ready.length > 0) yield ready.shift() as Uint8Array;
  }
  const summary = reader.end();
  if (summary.rowCount !== profile.rowCount) {
    throw mismatch(`The file has ${summary.rowCount} rows; the profile says ${profile.rowCount}.`, {
      rows: summary.rowCount,
      expected: profile.rowCount,
    });
  }
  flush();
  writer.finish();
  ready.push(sink.take());
  for (const out of ready) if (out.byteLength > 0) yield out;
}
