// The shared front half of both ingest passes: bytes → validated UTF-8 bytes → delimiter → records, with the
// header checked and every data row checked against it. Profiling and Arrow conversion only see well-formed rows.

import { badRequest } from '../../errors.js';
import { ByteDecoder, type FileEncoding, type RequestedEncoding } from './decode.js';
import { detectDelimiter } from './detect.js';
import { ChunkCutter } from './split.js';
import { CsvTokenizer, MAX_RECORD_BYTES, type Row } from './tokenizer.js';

export interface ReadOptions {
  encoding: RequestedEncoding;
  /** A delimiter character, or 'auto'. */
  delimiter: string;
  maxColumns: number;
}

export interface ReadSummary {
  encoding: FileEncoding;
  delimiter: string;
  rowCount: number;
  bytes: number;
}

/** Called for every data row; `row` is reused between calls and holds exactly `header.length` fields. */
export type RowHandler = (row: Row) => void;

/**
 * Takes over the records after the first bytes (see `TabularReader.split`): `records` gets chunks of whole
 * records, in order; each must come back, in order, as `advance` (read elsewhere) or `replay` (read here).
 */
export interface RecordSplitter {
  /** Bytes of whole records, the splitter's own copy. */
  records(bytes: Buffer): void;
  /** Every chunk handed over must be settled now (the reader goes on in this thread). */
  drain(): void;
}

/** Bytes gathered for delimiter detection before parsing starts. */
const SAMPLE_BYTES = 64 * 1024;
/** Detection waits for this many line breaks (or the end of the file, or MAX_SAMPLE_BYTES). */
const SAMPLE_LINES = 20;
const MAX_SAMPLE_BYTES = 4 * 1024 * 1024;

function countLines(s: Buffer, limit: number): number {
  let n = 0;
  for (let p = s.indexOf(10); p !== -1 && n < limit; p = s.indexOf(10, p + 1)) n++;
  return n;
}

function validateHeader(fields: string[], count: number, maxColumns: number): string[] {
  if (count > maxColumns) {
    throw badRequest(
      'CSV_TOO_MANY_COLUMNS',
      `The header has ${count} columns; the limit is ${maxColumns}. Raise maxColumns or check the delimiter.`,
      { columns: count, maxColumns },
    );
  }
  const names = fields.slice(0, count);
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    if (name.length === 0) {
      throw badRequest(
        'CSV_EMPTY_COLUMN_NAME',
        `Column ${i + 1} of the header has no name. Name every column (a trailing delimiter adds an unnamed one).`,
        { column: i + 1 },
      );
    }
    const first = seen.get(name);
    if (first !== undefined) {
      throw badRequest(
        'CSV_DUPLICATE_COLUMN',
        `Column name "${name}" appears twice in the header (columns ${first + 1} and ${i + 1}). Column names must be unique.`,
        { name, columns: [first + 1, i + 1] },
      );
    }
    seen.set(name, i);
  });
  return names;
}

/**
 * Push-style reader: `write` each chunk, then `end`. Calls `onHeader` once, then `onRow` per data row,
 * synchronously. Throws AppError for every malformed input (see docs/datasets.md, "Tabular ingest").
 */
export class TabularReader {
  private readonly decoder: ByteDecoder;
  private header: string[] | undefined;
  private width = 0;
  private rowCount = 0;
  private tokenizer: CsvTokenizer | undefined;
  private delimiter: string;
  private sample: Buffer = Buffer.alloc(0);
  private splitter: RecordSplitter | undefined;
  private splitAfter = 0;
  private chunkBytes = 0;
  private cutter: ChunkCutter | undefined;
  /** Bytes given to the tokenizer. */
  private tokenized = 0;

  constructor(
    private readonly opts: ReadOptions,
    private readonly onHeader: (names: string[], delimiter: string) => void,
    private readonly onRow: RowHandler,
  ) {
    this.decoder = new ByteDecoder(opts.encoding);
    this.delimiter = opts.delimiter;
  }

  write(chunk: Uint8Array): void {
    this.feed(this.decoder.writeBytes(chunk), false);
  }

  /**
   * Once the header and `after` bytes were read here, hands the records that follow to `splitter` in chunks of
   * about `chunkBytes`, cut at record ends (quotes respected). The end of the file is read here again.
   */
  split(splitter: RecordSplitter, after: number, chunkBytes: number): void {
    this.splitter = splitter;
    this.splitAfter = after;
    this.chunkBytes = chunkBytes;
  }

  /** Average bytes per record over the part read before the split. */
  bytesPerRow = 64;

  /** The header, once read. */
  get columns(): readonly string[] | undefined {
    return this.header;
  }

  /** The delimiter's byte (after detection). */
  get delimiterByte(): number {
    return this.delimiter.charCodeAt(0);
  }

  /** A chunk of `rows` well-formed records over `lines` physical lines was read elsewhere. */
  advance(rows: number, lines: number): void {
    this.rowCount += rows;
    (this.tokenizer as CsvTokenizer).skipLines(lines);
  }

  /** Reads a chunk here (with the checks and errors of a sequential read). */
  replay(bytes: Buffer): void {
    (this.tokenizer as CsvTokenizer).push(bytes);
  }

  /** Whether the records read here stopped inside a record (a chunk was cut inside a quoted field). */
  get midRecord(): boolean {
    return (this.tokenizer as CsvTokenizer).carrying;
  }

  /** Starts handing records over once the header and `splitAfter` bytes were read here. */
  private maybeSplit(): void {
    const tokenizer = this.tokenizer;
    if (this.splitter === undefined || this.header === undefined || tokenizer === undefined) return;
    if (this.tokenized < this.splitAfter) return;
    this.bytesPerRow = this.tokenized / Math.max(1, this.rowCount);
    this.cutter = new ChunkCutter(this.chunkBytes);
    this.cut(tokenizer.takeCarry());
  }

  private cut(bytes: Buffer): void {
    const cutter = this.cutter as ChunkCutter;
    cutter.push(bytes);
    for (let c = cutter.next(); c !== undefined; c = cutter.next()) (this.splitter as RecordSplitter).records(c);
    // No line break for a whole record's limit: read on here, where that limit is enforced (bounded memory).
    if (cutter.size > MAX_RECORD_BYTES) this.unsplit();
  }

  /** Ends the hand-over for good: settles every chunk, then reads what the cutter holds here. */
  private unsplit(): void {
    const cutter = this.cutter;
    if (cutter === undefined) return;
    this.cutter = undefined;
    const splitter = this.splitter as RecordSplitter;
    this.splitter = undefined;
    splitter.drain();
    (this.tokenizer as CsvTokenizer).push(cutter.rest());
  }

  end(): ReadSummary {
    this.feed(this.decoder.endBytes(), true);
    if (this.header === undefined) {
      throw badRequest('CSV_EMPTY', 'The file is empty: expected a header row and at least one data row.', {
        bytes: this.decoder.bytesRead,
      });
    }
    if (this.rowCount === 0) {
      throw badRequest('CSV_NO_ROWS', 'The file has a header row but no data rows.', { columns: this.width });
    }
    return {
      encoding: this.decoder.encoding ?? 'utf-8',
      delimiter: this.delimiter,
      rowCount: this.rowCount,
      bytes: this.decoder.bytesRead,
    };
  }

  private readonly onRecord = (row: Row): void => {
    const count = row.count;
    if (this.header === undefined) {
      this.header = validateHeader(row.toArray(), count, this.opts.maxColumns);
      this.width = count;
      // Data rows may be longer than the header only far enough to report how long they are.
      (this.tokenizer as CsvTokenizer).maxFields = count * 2 + 16;
      this.onHeader(this.header, this.delimiter);
      return;
    }
    if (count !== this.width) {
      const line = row.line;
      throw badRequest(
        'CSV_RAGGED_ROW',
        `Line ${line} has ${count} fields but the header has ${this.width}. ` +
          'Quote fields that contain the delimiter or line breaks, and check for missing or extra delimiters.',
        { line, expected: this.width, actual: count },
      );
    }
    this.rowCount++;
    this.onRow(row);
  };

  private readonly onTooMany = (line: number, limit: number): never => {
    if (this.header === undefined) {
      throw badRequest(
        'CSV_TOO_MANY_COLUMNS',
        `The header has more than ${this.opts.maxColumns} columns. Raise maxColumns or check the delimiter.`,
        { line, maxColumns: this.opts.maxColumns },
      );
    }
    throw badRequest(
      'CSV_RAGGED_ROW',
      `Line ${line} has more than ${limit} fields but the header has ${this.width}. ` +
        'Quote fields that contain the delimiter or line breaks.',
      { line, expected: this.width, actual: `>${limit}` },
    );
  };

  private start(final: boolean): CsvTokenizer {
    if (this.delimiter === 'auto') this.delimiter = detectDelimiter(this.sample.toString('utf8'), final);
    const tokenizer = new CsvTokenizer(
      this.delimiter.charCodeAt(0),
      this.opts.maxColumns,
      this.onRecord,
      this.onTooMany,
    );
    this.tokenizer = tokenizer;
    const bytes = this.sample;
    this.sample = Buffer.alloc(0);
    tokenizer.push(bytes);
    return tokenizer;
  }

  private feed(bytes: Buffer, final: boolean): void {
    if (bytes.length > 0) {
      if (this.cutter !== undefined) {
        this.cut(bytes);
      } else if (this.tokenizer !== undefined) {
        this.tokenizer.push(bytes);
        this.tokenized += bytes.length;
        this.maybeSplit();
      } else {
        this.sample = Buffer.concat([this.sample, bytes]);
        const sample = this.sample;
        if (
          sample.length >= MAX_SAMPLE_BYTES ||
          (sample.length >= SAMPLE_BYTES && countLines(sample, SAMPLE_LINES) >= SAMPLE_LINES)
        ) {
          this.start(false);
          this.tokenized += sample.length;
          this.maybeSplit();
        }
      }
    }
    const failure = this.decoder.failure;
    if (failure !== undefined) {
      this.unsplit();
      const line = (this.tokenizer ?? this.start(false)).pendingLine();
      const what = failure.encoding === 'cp932' ? 'CP932 (Shift_JIS)' : 'UTF-8';
      throw badRequest(
        'CSV_BAD_ENCODING',
        `Byte ${failure.offset} (line ${line}) is not valid ${what}. ` +
          (this.opts.encoding === 'auto'
            ? 'The encoding was chosen from the start of the file; re-export the whole file in one encoding, or declare the encoding.'
            : 'Check the declared encoding, or use encoding "auto".'),
        { offset: failure.offset, line, encoding: failure.encoding },
      );
    }
    if (final) {
      this.unsplit();
      (this.tokenizer ?? this.start(true)).end();
    }
  }
}

/** Reads a whole stream with a TabularReader. */
export async function readTabular(
  source: AsyncIterable<Uint8Array>,
  opts: ReadOptions,
  onHeader: (names: string[], delimiter: string) => void,
  onRow: RowHandler,
): Promise<ReadSummary> {
  const reader = new TabularReader(opts, onHeader, onRow);
  for await (const chunk of source) reader.write(chunk);
  return reader.end();
}
