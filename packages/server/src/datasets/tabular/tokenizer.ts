// RFC 4180 record splitter over UTF-8 bytes: quotes, "" escapes, embedded delimiters and newlines, LF or CRLF
// line ends, 1-based physical line numbers for error messages. Fields are byte ranges: no string per cell.
//
// Why our own and not csv-parse: on a generated 200 MB numeric+text CSV (9 columns, 3.1 M rows, 28 M fields)
// csv-parse 6.2.1 parsed 7.6 MB/s on this machine (sha256sum: ~190 MB/s, cp: ~800 MB/s), while the platform
// must ingest at half the speed of sha256sum + cp. Why bytes and not decoded text: every delimiter, quote and
// line break is ASCII, so UTF-8 (and CP932 transcoded to UTF-8) can be split without decoding; cells are then
// parsed from bytes and only text cells that are kept ever become strings. This tokenizer is property-tested
// against csv-parse (tokenizer.test.ts) on random inputs with quotes, delimiters, CR/LF and embedded newlines.

import { badRequest } from '../../errors.js';

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * One record, as byte ranges of `buf` (UTF-8). Field j is `buf[starts[j], ends[j])`; a quoted field that
 * contained doubled quotes has `starts[j] === -1` and its unescaped bytes in `escaped[j]`. Reused between
 * records: read it in the handler.
 */
export class Row {
  buf: Buffer = EMPTY;
  starts = new Int32Array(16);
  ends = new Int32Array(16);
  escaped: Buffer[] = [];
  count = 0;
  /** 1-based physical line on which the record starts. */
  line = 0;

  get(j: number): string {
    const a = this.starts[j] as number;
    return a >= 0 ? this.buf.toString('utf8', a, this.ends[j]) : (this.escaped[j] as Buffer).toString('utf8');
  }

  toArray(): string[] {
    return Array.from({ length: this.count }, (_, j) => this.get(j));
  }

  grow(): void {
    const starts = new Int32Array(this.starts.length * 2);
    starts.set(this.starts);
    const ends = new Int32Array(this.ends.length * 2);
    ends.set(this.ends);
    this.starts = starts;
    this.ends = ends;
  }
}

export type RecordHandler = (row: Row) => void;

/** A single record may not exceed this many bytes (bounds memory and re-scanning on chunk boundaries). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const QUOTE = 34;
const LF = 10;
const CR = 13;

const asBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export class CsvTokenizer {
  private carry: Buffer = EMPTY;
  /** A high surrogate that ended the last string chunk (string input only: tests and delimiter detection). */
  private pendingSurrogate = '';
  /** Physical line (1-based) at which the next record starts. */
  private line = 1;
  private readonly row = new Row();

  /** A record may hold at most this many fields; the reader lowers it once the header is known. */
  maxFields: number;
  /** The larger of the delimiter and LF. */
  private readonly specialMax: number;

  constructor(
    private readonly delimiter: number,
    maxFields: number,
    private readonly onRecord: RecordHandler,
    /** Throws the error for a record with more than `maxFields` fields (the caller knows which error fits). */
    private readonly onTooManyFields: (line: number, maxFields: number) => never,
  ) {
    this.maxFields = maxFields;
    this.specialMax = Math.max(delimiter, LF);
  }

  /** Physical line (1-based) at which the next record starts. */
  get nextLine(): number {
    return this.line;
  }

  /** Records of `lines` physical lines were read elsewhere (parsed in chunks apart from this tokenizer). */
  skipLines(lines: number): void {
    this.line += lines;
  }

  /** Whether bytes of an incomplete record are held back. */
  get carrying(): boolean {
    return this.carry.length > 0;
  }

  /** The bytes of the incomplete record held back (a copy), which this tokenizer forgets. */
  takeCarry(): Buffer {
    const carry = this.carry;
    this.carry = EMPTY;
    return carry;
  }

  /** Line on which the unparsed remainder starts, plus the line breaks inside it (for decode errors). */
  pendingLine(): number {
    let lines = this.line;
    for (let p = this.carry.indexOf(LF); p !== -1; p = this.carry.indexOf(LF, p + 1)) lines++;
    return lines;
  }

  /** Adds UTF-8 bytes (the caller validated them), or text. */
  push(chunk: Uint8Array | string): void {
    let bytes: Buffer;
    if (typeof chunk === 'string') {
      let s = this.pendingSurrogate + chunk;
      this.pendingSurrogate = '';
      const last = s.charCodeAt(s.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.pendingSurrogate = s.slice(-1);
        s = s.slice(0, -1);
      }
      bytes = Buffer.from(s, 'utf8');
    } else {
      bytes = asBuffer(chunk);
    }
    if (bytes.length === 0) return;
    if (this.carry.length > 0) {
      // Only the record cut at the chunk's start needs the held-back bytes: join them with the chunk's first line,
      // not with the whole chunk (a copy of every chunk, and a fresh 1 MiB buffer each for the collector, was ~5 %
      // of a parse). Parsing the chunk in two pieces reads exactly what one piece would.
      const k = bytes.indexOf(LF);
      if (k !== -1 && k + 1 < bytes.length) {
        this.parse(Buffer.concat([this.carry, bytes.subarray(0, k + 1)]), false);
        bytes = bytes.subarray(k + 1);
      }
    }
    this.parse(this.carry.length === 0 ? bytes : Buffer.concat([this.carry, bytes]), false);
  }

  end(): void {
    if (this.pendingSurrogate !== '') {
      // A lone high surrogate at the very end of the text: encoded as U+FFFD, as any encoder would.
      this.carry = Buffer.concat([this.carry, Buffer.from(this.pendingSurrogate, 'utf8')]);
      this.pendingSurrogate = '';
    }
    this.parse(this.carry, true);
    this.carry = EMPTY;
  }

  private parse(s: Buffer, final: boolean): void {
    const n = s.length;
    this.row.buf = s;
    let pos = 0;
    while (pos < n) {
      // One call per record: a per-chunk loop would run mostly unoptimized (V8 compiles it on-stack and
      // deoptimizes at each chunk's end), which measured 3x slower than this.
      const next = this.parseRecord(s, n, pos, final);
      if (next < 0) break;
      pos = next;
    }
    // An incomplete record at the end of a chunk waits for the next chunk (copied: the chunk is not ours).
    this.carry = pos < n ? Buffer.from(s.subarray(pos)) : EMPTY;
    if (this.carry.length > MAX_RECORD_BYTES) this.tooLarge(this.line);
  }

  /** Parses the record starting at `pos`; returns the position after it, or -1 if it is incomplete. */
  private parseRecord(s: Buffer, n: number, pos: number, final: boolean): number {
    const delim = this.delimiter;
    const row = this.row;
    let starts = row.starts;
    let ends = row.ends;
    const line = this.line;
    let extraLines = 0;
    let nf = 0;
    let quotedAny = false;
    for (;;) {
      let a: number;
      let b: number;
      let c = -1;
      if (pos < n && s[pos] === QUOTE) {
        quotedAny = true;
        const open = pos;
        let p = pos + 1;
        let segStart = p;
        let acc: Buffer[] | undefined;
        for (;;) {
          const q = s.indexOf(QUOTE, p);
          if (q === -1 || (q + 1 === n && !final)) {
            if (!final) return -1;
            throw badRequest(
              'CSV_BAD_QUOTE',
              `Line ${line}: a quoted field is never closed (a '"' opens it and the file ends first). ` +
                'Check for a stray quote, or quote the whole field and double quotes inside it ("").',
              { line },
            );
          }
          if (q + 1 < n && s[q + 1] === QUOTE) {
            (acc ??= []).push(s.subarray(segStart, q + 1));
            p = q + 2;
            segStart = p;
            continue;
          }
          if (acc === undefined) {
            a = open + 1;
            b = q;
          } else {
            a = -1;
            b = -1;
            acc.push(s.subarray(segStart, q));
            row.escaped[nf] = Buffer.concat(acc);
          }
          pos = q + 1;
          break;
        }
        for (let k = s.indexOf(LF, open); k !== -1 && k < pos; k = s.indexOf(LF, k + 1)) extraLines++;
        if (pos < n) {
          c = s[pos] as number;
          if (c === CR) {
            if (pos + 1 < n && s[pos + 1] === LF) {
              pos++;
              c = LF;
            } else if (pos + 1 === n && final) {
              c = -1;
            } else if (pos + 1 === n) {
              return -1;
            }
          }
          if (c !== delim && c !== LF && c !== -1) {
            throw badRequest(
              'CSV_BAD_QUOTE',
              `Line ${line + extraLines}: text follows the closing quote of a field. ` +
                'Inside a quoted field, write a quote as two quotes ("").',
              { line: line + extraLines },
            );
          }
        } else if (!final) {
          return -1;
        }
      } else {
        a = pos;
        // Most bytes of a field (digits, letters, UTF-8) are above both the delimiter and LF: one compare each.
        const top = this.specialMax;
        while (pos < n) {
          c = s[pos] as number;
          if (c <= top && (c === delim || c === LF)) break;
          pos++;
        }
        if (pos === n) {
          if (!final) return -1;
          c = -1;
        }
        b = pos;
        if (c !== delim && b > a && s[b - 1] === CR) b--;
      }
      if (nf >= this.maxFields) this.onTooManyFields(line, this.maxFields);
      if (nf + 1 >= starts.length) {
        row.grow();
        starts = row.starts;
        ends = row.ends;
      }
      starts[nf] = a;
      ends[nf] = b;
      nf++;
      if (c === delim) {
        pos++;
        if (pos === n && final) {
          // A delimiter just before the end of the file opens one last, empty field.
          starts[nf] = pos;
          ends[nf] = pos;
          nf++;
        } else {
          continue;
        }
      } else {
        pos++;
      }
      // End of record. A blank line (one empty unquoted field) is skipped.
      this.line = line + 1 + extraLines;
      if (!(nf === 1 && !quotedAny && b === a)) {
        row.count = nf;
        row.line = line;
        this.onRecord(row);
      }
      return pos;
    }
  }

  private tooLarge(line: number): never {
    throw badRequest(
      'CSV_RECORD_TOO_LARGE',
      `Line ${line}: one record is longer than ${MAX_RECORD_BYTES} bytes. Check for an unclosed quote.`,
      { line },
    );
  }
}
