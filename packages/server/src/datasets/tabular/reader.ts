// The shared front half of both ingest passes: bytes → validated UTF-8 bytes → delimiter → records, with the
// header checked and every data row checked against it. Profiling and Arrow conversion only see well-formed rows.

import { badRequest } from '../../errors.js';
import { ByteDecoder, type FileEncoding, type RequestedEncoding } from './decode.js';
import { detectDelimiter } from './detect.js';
import { CsvTokenizer, type Row } from './tokenizer.js';

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
      if (this.tokenizer !== undefined) {
        this.tokenizer.push(bytes);
      } else {
        this.sample = Buffer.concat([this.sample, bytes]);
        const sample = this.sample;
        if (
          sample.length >= MAX_SAMPLE_BYTES ||
          (sample.length >= SAMPLE_BYTES && countLines(sample, SAMPLE_LINES) >= SAMPLE_LINES)
        ) {
          this.start(false);
        }
      }
    }
    const failure = this.decoder.failure;
    if (failure !== undefined) {
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
    if (final) (this.tokenizer ?? this.start(true)).end();
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
