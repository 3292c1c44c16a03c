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

/** The buffers of one column of one record batch, as a lane hands them over (transferable across threads). */
export interface ColumnBuffers {
  index: number;
  nullCount: number;
  validity: Uint8Array | undefined;
  /** Float64Array, Int32Array (dates, dictionary codes), BigInt64Array (timestamps), Uint8Array (bools, UTF-8). */
  values: Float64Array | Int32Array | BigInt64Array | Uint8Array;
  /** Utf8 only. */
  offsets: Int32Array | undefined;
}

/** One column of the batch being built. `add` takes the cell bytes of row `row` (0-based within the batch). */
abstract class ColumnBuilder {
  validity: Uint8Array;
  nulls = 0;
  constructor(
    readonly column: ColumnProfile,
    readonly index: number,
    protected readonly rows: number,
  ) {
    this.validity = new Uint8Array((rows + 7) >> 3);
  }
  /** Adds the cell whose UTF-8 bytes are `s[a, b)` as row `row` of the batch; `line` is for error messages. */
  abstract add(s: Uint8Array, a: number, b: number, row: number, line: number): void;
  /** The batch's buffers; the builder starts fresh ones (the returned ones now belong to the batch). */
  abstract take(length: number): ColumnBuffers;
  protected buffers(values: ColumnBuffers['values'], offsets?: Int32Array): ColumnBuffers {
    const out: ColumnBuffers = {
      index: this.index,
      nullCount: this.nulls,
      validity: this.nulls > 0 ? this.validity : undefined,
      values,
      offsets,
    };
    this.validity = new Uint8Array((this.rows + 7) >> 3);
    this.nulls = 0;
    return out;
  }
  protected bad(s: Uint8Array, a: number, b: number, line: number): AppError {
    const cell = Buffer.from(s.buffer, s.byteOffset + a, b - a).toString('utf8');
    return mismatch(`Line ${line}: "${cell}" in column "${this.column.name}" is not ${this.column.type}.`, {
      line,
      column: this.column.name,
    });
  }
}

class Float64Builder extends ColumnBuilder {
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
  take(length: number): ColumnBuffers {
    const values = length === this.rows ? this.values : this.values.slice(0, length);
    this.values = new Float64Array(this.rows);
    return this.buffers(values);
  }
}

class BoolBuilder extends ColumnBuilder {
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
  take(): ColumnBuffers {
    const values = this.values;
    this.values = new Uint8Array((this.rows + 7) >> 3);
    return this.buffers(values);
  }
}

class DateDayBuilder extends ColumnBuilder {
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
  take(length: number): ColumnBuffers {
    const values = length === this.rows ? this.values : this.values.slice(0, length);
    this.values = new Int32Array(this.rows);
    return this.buffers(values);
  }
}

class TimestampBuilder extends ColumnBuilder {
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
  take(length: number): ColumnBuffers {
    const values = length === this.rows ? this.values : this.values.slice(0, length);
    this.values = new BigInt64Array(this.rows);
    this.words = new Uint32Array(this.values.buffer);
    return this.buffers(values);
  }
}

class DictionaryBuilder extends ColumnBuilder {
  private indices = new Int32Array(this.rows);
  /** Category bytes → code (admission order = the profile's category order). */
  private readonly codes = new TextCounter(Infinity, Infinity);
  constructor(column: ColumnProfile, index: number, rows: number) {
    super(column, index, rows);
    for (const c of column.categories ?? []) this.codes.admit(c, 0);
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
  take(length: number): ColumnBuffers {
    const values = length === this.rows ? this.indices : this.indices.slice(0, length);
    this.indices = new Int32Array(this.rows);
    return this.buffers(values);
  }
}

class Utf8Builder extends ColumnBuilder {
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
  take(length: number): ColumnBuffers {
    const values = this.bytes.slice(0, this.used);
    const offsets = this.offsets.slice(0, length + 1);
    this.used = 0;
    return this.buffers(values, offsets);
  }
}

function builderFor(column: ColumnProfile, index: number, rows: number): ColumnBuilder {
  switch (column.type) {
    case 'integer':
    case 'number':
      return new Float64Builder(column, index, rows);
    case 'boolean':
      return new BoolBuilder(column, index, rows);
    case 'date':
      return new DateDayBuilder(column, index, rows);
    case 'datetime':
      return new TimestampBuilder(column, index, rows);
    case 'categorical':
      return new DictionaryBuilder(column, index, rows);
    case 'text':
      return new Utf8Builder(column, index, rows);
  }
}

/** The buffers of one record batch from one lane: `rows` rows of the columns the lane owns. */
export interface LaneBatch {
  rows: number;
  columns: ColumnBuffers[];
}

/**
 * Pass 2 over the columns `lane, lane + lanes, …`: every lane reads every byte and checks every row, and cuts
 * batches at the same rows, so batch k of every lane together make record batch k.
 */
export class ArrowLane {
  private readonly reader: TabularReader;
  private inBatch = 0;
  private readonly builders: ColumnBuilder[];

  constructor(
    private readonly profile: TabularProfile,
    private readonly onBatch: (batch: LaneBatch) => void,
    lane = 0,
    lanes = 1,
  ) {
    const columns = profile.columns;
    const rows = batchRowsFor(columns.length);
    const builders: ColumnBuilder[] = [];
    for (let j = lane; j < columns.length; j += lanes) builders.push(builderFor(columns[j] as ColumnProfile, j, rows));
    this.builders = builders;
    this.reader = new TabularReader(
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
        const inBatch = this.inBatch;
        for (let k = 0; k < builders.length; k++) {
          const builder = builders[k] as ColumnBuilder;
          const j = builder.index;
          const a = starts[j] as number;
          if (a >= 0) {
            builder.add(buf, a, ends[j] as number, inBatch, line);
          } else {
            const e = row.escaped[j] as Buffer;
            builder.add(e, 0, e.length, inBatch, line);
          }
        }
        if ((this.inBatch = inBatch + 1) === rows) this.flush();
      },
    );
  }

  private flush(): void {
    const n = this.inBatch;
    if (n === 0) return;
    this.inBatch = 0;
    this.onBatch({ rows: n, columns: this.builders.map((b) => b.take(n)) });
  }

  write(chunk: Uint8Array): void {
    this.reader.write(chunk);
  }

  end(): void {
    const summary = this.reader.end();
    if (summary.rowCount !== this.profile.rowCount) {
      throw mismatch(`The file has ${summary.rowCount} rows; the profile says ${this.profile.rowCount}.`, {
        rows: summary.rowCount,
        expected: this.profile.rowCount,
      });
    }
    this.flush();
  }
}

function arrowTypeFor(column: ColumnProfile, index: number): DataType {
  switch (column.type) {
    case 'integer':
    case 'number':
      return new Float64();
    case 'boolean':
      return new Bool();
    case 'date':
      return new DateDay();
    case 'datetime':
      return new TimestampMillisecond();
    case 'categorical':
      return new Dictionary(new Utf8(), new Int32(), index, false);
    case 'text':
      return new Utf8();
  }
}

const utf8Encoder = new TextEncoder();

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
 * Turns lane batches into one Arrow IPC *stream* (schema, dictionaries, record batches), in order. `add` takes
 * batch k of one lane; when every lane has delivered batch k, record batch k is written.
 */
export class ArrowAssembler {
  private readonly schema: Schema;
  private readonly structType: Struct;
  private readonly types: DataType[];
  private readonly dictionaries: (Vector<Utf8> | undefined)[];
  private readonly sink = new CollectingSink();
  private readonly writer = new RecordBatchStreamWriter({ autoDestroy: false });
  /** Per lane, batches not yet written. */
  private readonly pending: LaneBatch[][];
  private readonly ready: Uint8Array[] = [];

  constructor(profile: TabularProfile, lanes = 1) {
    const columns = profile.columns;
    this.types = columns.map((c, i) => arrowTypeFor(c, i));
    // One dictionary vector per categorical column for the whole stream: the writer sends it once.
    this.dictionaries = columns.map((c) =>
      c.type === 'categorical' ? vectorFromArray(c.categories ?? [], new Utf8()) : undefined,
    );
    const fields = columns.map(
      (c, i) => new Field(c.name, this.types[i] as DataType, true, new Map([['ichigen.type', c.type]])),
    );
    this.schema = new Schema(fields, new Map([['ichigen.format', 'tabular/1']]));
    this.structType = new Struct(fields);
    this.writer.reset(this.sink, this.schema);
    this.pending = Array.from({ length: lanes }, () => []);
  }

  add(lane: number, batch: LaneBatch): void {
    (this.pending[lane] as LaneBatch[]).push(batch);
    while (this.pending.every((q) => q.length > 0)) {
      const parts = this.pending.map((q) => q.shift() as LaneBatch);
      const length = (parts[0] as LaneBatch).rows;
      const buffers = parts.flatMap((p) => p.columns).sort((x, y) => x.index - y.index);
      const children = buffers.map((b) => this.data(b, length));
      const data = makeData({ type: this.structType, length, nullCount: 0, children });
      this.writer.write(new RecordBatch(this.schema, data));
      this.ready.push(this.sink.take());
    }
  }

  private data(b: ColumnBuffers, length: number): Data {
    const type = this.types[b.index] as DataType;
    const common = { length, nullCount: b.nullCount, nullBitmap: b.validity };
    // makeData is typed per DataType; the buffers were built for exactly this column's type by its lane.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one call site for every column type
    const props: any = { type, ...common, data: b.values };
    if (b.offsets !== undefined) props.valueOffsets = b.offsets;
    const dictionary = this.dictionaries[b.index];
    if (dictionary !== undefined) props.dictionary = dictionary;
    return makeData(props);
  }

  /** Serialized bytes ready to be stored, in order. */
  takeReady(): Uint8Array[] {
    return this.ready.splice(0);
  }

  /** Ends the stream; every lane must have delivered all its batches. */
  finish(): Uint8Array[] {
    if (this.pending.some((q) => q.length > 0)) throw new Error('ArrowAssembler: lanes delivered unequal batches');
    this.writer.finish();
    this.ready.push(this.sink.take());
    return this.takeReady().filter((b) => b.byteLength > 0);
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
  const assembler = new ArrowAssembler(profile, 1);
  const lane = new ArrowLane(profile, (batch) => assembler.add(0, batch));
  for await (const chunk of source) {
    lane.write(chunk);
    for (const out of assembler.takeReady()) yield out;
  }
  lane.end();
  for (const out of assembler.finish()) yield out;
}
