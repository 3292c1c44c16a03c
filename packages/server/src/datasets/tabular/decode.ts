// Byte → text decoding for tabular ingest: UTF-8 (with or without BOM) and CP932 (Windows Shift_JIS), strict:
// undecodable bytes are an error naming their byte offset, never a silent U+FFFD. 'auto' defers the choice.
//
// 'auto': a BOM means UTF-8. Otherwise the text is ASCII (identical in both encodings) until the first
// non-ASCII byte; at that byte we look at the next 64 KB: valid UTF-8 → UTF-8, else CP932. So a file whose
// first megabytes are ASCII and whose Japanese text starts later is still detected correctly. If the chosen
// encoding fails later in the file, ingest stops with CSV_BAD_ENCODING (offset and line) — a file mixing both
// encodings cannot be decoded right, and the steward should re-export it or declare the encoding.
//
// CP932: the mapping is iconv-lite's `cp932` table, read once into a lookup table. We do not run iconv-lite's
// streaming decoder over the data: it substitutes U+FFFD for unmapped bytes (0x81 0x20 becomes "\uFFFD "), so
// errors would have to be found by searching its output, and it decoded ~40 MB/s here. The lookup table marks
// every byte or pair iconv-lite cannot map, so rejection is exact and the offset comes for free.

import { isAscii, isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import { badRequest } from '../../errors.js';

export type RequestedEncoding = 'auto' | 'utf-8' | 'cp932';
export type FileEncoding = 'utf-8' | 'utf-8-bom' | 'cp932';

const ENCODING_ALIASES: Record<string, RequestedEncoding> = {
  auto: 'auto',
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  cp932: 'cp932',
  shift_jis: 'cp932',
  'shift-jis': 'cp932',
  sjis: 'cp932',
  'windows-31j': 'cp932',
  ms932: 'cp932',
};

export function normalizeEncoding(name: string | undefined): RequestedEncoding {
  if (name === undefined) return 'auto';
  const e = ENCODING_ALIASES[name.toLowerCase()];
  if (e === undefined) {
    throw badRequest(
      'CSV_UNSUPPORTED_ENCODING',
      `Encoding "${name}" is not supported. Use utf-8, cp932 (Shift_JIS, Windows-31J) or auto.`,
      { encoding: name },
    );
  }
  return e;
}

/** How many bytes after the first non-ASCII byte 'auto' inspects before choosing UTF-8 or CP932. */
export const DETECT_WINDOW = 64 * 1024;

/** An undecodable byte at an absolute byte offset; the reader adds the line and turns it into an AppError. */
export interface DecodeFailure {
  offset: number;
  encoding: FileEncoding;
}

type Mode = 'start' | 'ascii' | 'detect' | 'utf8' | 'cp932';

const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function concatBytes(parts: Uint8Array[]): Buffer {
  return parts.length === 1 ? asBuffer(parts[0] as Uint8Array) : Buffer.concat(parts);
}

/** Length of the UTF-8 sequence a lead byte starts (0 = not a valid lead byte). */
function utf8SeqLen(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/**
 * Index of the first byte that is not part of valid UTF-8 (no overlongs, surrogates or > U+10FFFF), or -1.
 * With `allowTruncatedEnd`, a sequence cut off by the end of the bytes is fine (more bytes follow).
 */
export function firstInvalidUtf8(b: Uint8Array, allowTruncatedEnd: boolean): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    const len = utf8SeqLen(c);
    if (len === 0) return i;
    // Second-byte ranges that exclude overlongs, surrogates and code points above U+10FFFF.
    let lo = 0x80;
    let hi = 0xbf;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
    else if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
    for (let k = 1; k < len; k++) {
      if (i + k >= n) return allowTruncatedEnd ? -1 : i;
      const d = b[i + k] as number;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i;
    }
    i += len;
  }
  return -1;
}

let cp932Table: Uint16Array | undefined;

/** (lead << 8 | trail) → UTF-16 code unit, and single bytes at their own index; 0 = undecodable. */
function cp932Lookup(): Uint16Array {
  if (cp932Table !== undefined) return cp932Table;
  const table = new Uint16Array(65536);
  const one = (bytes: number[]): number => {
    const s = iconv.decode(Buffer.from(bytes), 'cp932');
    return s.length === 1 && s !== '\uFFFD' ? s.charCodeAt(0) : 0;
  };
  for (let b = 0; b < 256; b++) table[b] = b < 0x80 ? b : one([b]);
  for (let lead = 0x81; lead <= 0xfc; lead++) {
    if (lead > 0x9f && lead < 0xe0) continue;
    for (let trail = 0x40; trail <= 0xfc; trail++) {
      if (trail === 0x7f) continue;
      table[(lead << 8) | trail] = one([lead, trail]);
    }
  }
  cp932Table = table;
  return table;
}

const isCp932Lead = (b: number): boolean => (b >= 0x81 && b <= 0x9f) || (b >= 0xe0 && b <= 0xfc);
const EMPTY: Buffer = Buffer.alloc(0);

function joinBytes(a: Buffer, b: Buffer): Buffer {
  return a.length === 0 ? b : b.length === 0 ? a : Buffer.concat([a, b]);
}

/**
 * Incremental strict decoder to UTF-8 bytes. Bytes it holds on to between calls (the start of the file, the
 * encoding-detection window) are copies: the caller may reuse a chunk's memory as soon as `writeBytes` returns
 * (the ingest worker's chunks live in a shared ring that is refilled). Validated UTF-8 passes through uncopied;
 * CP932 is transcoded. `writeBytes` returns the bytes decoded so far; after an undecodable byte it returns the valid bytes before
 * it and sets `failure` (the caller processes them, then reports the failure). `write`/`end` return text.
 */
export class ByteDecoder {
  encoding: FileEncoding | undefined;
  failure: DecodeFailure | undefined;
  /** Absolute offset of the next byte `write` will see. */
  private offset = 0;
  private mode: Mode = 'start';
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Bytes of a UTF-8 sequence or CP932 pair split across chunks. */
  private tail: Uint8Array = new Uint8Array(0);

  constructor(private readonly requested: RequestedEncoding) {}

  get bytesRead(): number {
    return this.offset + this.pendingBytes + this.tail.length;
  }

  write(chunk: Uint8Array): string {
    return this.writeBytes(chunk).toString('utf8');
  }

  end(): string {
    return this.endBytes().toString('utf8');
  }

  writeBytes(chunk: Uint8Array): Buffer {
    if (this.failure !== undefined || chunk.length === 0) return EMPTY;
    switch (this.mode) {
      case 'start':
        this.pending.push(Buffer.from(chunk));
        this.pendingBytes += chunk.length;
        return this.pendingBytes < 3 ? EMPTY : this.begin();
      case 'ascii':
        return this.writeAscii(chunk);
      case 'detect':
        this.pending.push(Buffer.from(chunk));
        this.pendingBytes += chunk.length;
        return this.pendingBytes >= DETECT_WINDOW ? this.decide(false) : EMPTY;
      case 'utf8':
        return this.writeUtf8(chunk);
      case 'cp932':
        return this.writeCp932(chunk);
    }
  }

  endBytes(): Buffer {
    let out = EMPTY;
    if (this.mode === 'start') out = this.begin();
    if (this.failure === undefined && this.mode === 'detect') out = joinBytes(out, this.decide(true));
    if (this.failure === undefined && this.tail.length > 0) {
      // The file ends inside a multi-byte character.
      this.fail(this.offset);
    }
    if (this.encoding === undefined) this.encoding = this.requested === 'cp932' ? 'cp932' : 'utf-8';
    return out;
  }

  private fail(offset: number): void {
    this.failure = { offset, encoding: this.encoding ?? 'utf-8' };
  }

  private takePending(): Buffer {
    const buf = concatBytes(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return buf;
  }

  private begin(): Buffer {
    const buf = this.takePending();
    const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
    if (this.requested === 'cp932') {
      this.encoding = 'cp932';
      this.mode = 'cp932';
      return this.writeCp932(buf);
    }
    if (bom) {
      this.encoding = 'utf-8-bom';
      this.mode = 'utf8';
      this.offset = 3;
      return this.writeUtf8(buf.subarray(3));
    }
    if (this.requested === 'utf-8') {
      this.encoding = 'utf-8';
      this.mode = 'utf8';
      return this.writeUtf8(buf);
    }
    this.mode = 'ascii';
    return this.writeAscii(buf);
  }

  private writeAscii(chunk: Uint8Array): Buffer {
    const buf = asBuffer(chunk);
    if (isAscii(buf)) {
      this.offset += buf.length;
      return buf;
    }
    let p = 0;
    while ((buf[p] as number) < 0x80) p++;
    const head = buf.subarray(0, p);
    this.offset += p;
    this.mode = 'detect';
    this.pending = [Buffer.from(buf.subarray(p))];
    this.pendingBytes = buf.length - p;
    return this.pendingBytes >= DETECT_WINDOW ? joinBytes(head, this.decide(false)) : head;
  }

  private decide(final: boolean): Buffer {
    const buf = this.takePending();
    const window = buf.subarray(0, Math.min(buf.length, DETECT_WINDOW));
    const truncated = !final || window.length < buf.length;
    if (firstInvalidUtf8(window, truncated) === -1) {
      this.encoding = 'utf-8';
      this.mode = 'utf8';
      return this.writeUtf8(buf);
    }
    this.encoding = 'cp932';
    this.mode = 'cp932';
    return this.writeCp932(buf);
  }

  private writeUtf8(chunk: Uint8Array): Buffer {
    let buf = asBuffer(chunk);
    if (this.tail.length > 0) {
      // Finish the character split across chunks on its own, so the big chunk is never copied.
      const need = utf8SeqLen(this.tail[0] as number) - this.tail.length;
      const k = Math.min(need, buf.length);
      const joined = Buffer.concat([this.tail, buf.subarray(0, k)]);
      const start = this.offset;
      if (k < need) {
        this.tail = joined;
        return EMPTY;
      }
      this.tail = new Uint8Array(0);
      if (firstInvalidUtf8(joined, false) !== -1) {
        this.fail(start);
        return EMPTY;
      }
      this.offset += joined.length;
      return joinBytes(joined, this.writeUtf8(buf.subarray(k)));
    }
    // Hold back a sequence cut off by the end of this chunk.
    let cut = buf.length;
    for (let i = buf.length - 1; i >= 0 && i >= buf.length - 3; i--) {
      const b = buf[i] as number;
      if (b < 0x80) break;
      if (b >= 0xc0) {
        if (utf8SeqLen(b) > buf.length - i) cut = i;
        break;
      }
    }
    if (cut < buf.length) {
      this.tail = Uint8Array.from(buf.subarray(cut));
      buf = buf.subarray(0, cut);
    }
    if (isUtf8(buf)) {
      this.offset += buf.length;
      return buf;
    }
    const bad = firstInvalidUtf8(buf, false);
    this.tail = new Uint8Array(0);
    this.fail(this.offset + bad);
    return buf.subarray(0, bad);
  }

  /** CP932 → UTF-8 bytes (every CP932 character is in the BMP: at most 3 UTF-8 bytes per input byte). */
  private writeCp932(chunk: Uint8Array): Buffer {
    const table = cp932Lookup();
    let buf: Uint8Array = chunk;
    // `offset` is where a held-back lead byte starts, so it is also where `buf` starts.
    const base = this.offset;
    if (this.tail.length > 0) {
      buf = Buffer.concat([this.tail, chunk]);
      this.tail = new Uint8Array(0);
    }
    const n = buf.length;
    // A fresh buffer per chunk: the tokenizer and counters may still look at the previous one.
    const out = Buffer.allocUnsafe(n * 3);
    let j = 0;
    let i = 0;
    while (i < n) {
      const b = buf[i] as number;
      if (b < 0x80) {
        out[j++] = b;
        i++;
        continue;
      }
      let u: number;
      if (isCp932Lead(b)) {
        if (i + 1 === n) {
          this.tail = Uint8Array.from([b]);
          break;
        }
        u = table[(b << 8) | (buf[i + 1] as number)] as number;
        i += 2;
      } else {
        u = table[b] as number;
        i++;
      }
      if (u === 0) {
        this.fail(base + (isCp932Lead(b) ? i - 2 : i - 1));
        break;
      }
      if (u < 0x80) {
        out[j++] = u;
      } else if (u < 0x800) {
        out[j++] = 0xc0 | (u >> 6);
        out[j++] = 0x80 | (u & 0x3f);
      } else {
        out[j++] = 0xe0 | (u >> 12);
        out[j++] = 0x80 | ((u >> 6) & 0x3f);
        out[j++] = 0x80 | (u & 0x3f);
      }
    }
    this.offset = base + (this.failure === undefined ? n - this.tail.length : 0);
    return out.subarray(0, j);
  }
}
