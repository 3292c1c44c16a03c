// Stream plumbing shared by the object-store adapters: metering an upload body (size limit, abort, errors)
// and a pass-through that verifies a digest while the bytes flow to the reader.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError, integrityError } from '../../errors.js';
import type { Digest, ObjectBody, PutOptions } from './port.js';

/** Read and write in 1 MiB pieces: large enough that per-chunk overhead vanishes next to hashing and I/O. */
export const CHUNK_BYTES = 1024 * 1024;

export const uploadTooLarge = (maxBytes: number): AppError =>
  new AppError('UPLOAD_TOO_LARGE', 413, `The upload exceeds the limit of ${maxBytes} bytes.`, { maxBytes });

export const digestMismatch = (expected: Digest, actual: Digest): AppError =>
  new AppError(
    'DIGEST_MISMATCH',
    400,
    `The uploaded content hashes to ${actual}, not the expected ${expected}; nothing was stored. Resend the data.`,
    { expected, actual },
  );

function uploadAborted(reason: unknown): AppError {
  return new AppError(
    'UPLOAD_ABORTED',
    400,
    'The upload was aborted before it was complete; nothing was stored.',
    undefined,
    reason,
  );
}

export function checkMaxBytes(maxBytes: number | undefined): void {
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
    throw new TypeError(`maxBytes must be a non-negative integer, got ${String(maxBytes)}`);
  }
}

/**
 * Yields the chunks of an upload body, enforcing `maxBytes` and `signal`. Errors raised by the body itself (a
 * client that hung up) become AppError UPLOAD_INTERRUPTED so the HTTP edge answers with a stable code.
 */
export async function* meteredChunks(body: ObjectBody, opts: PutOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const { maxBytes, signal } = opts;
  if (signal?.aborted) throw uploadAborted(signal.reason);
  const iterable = body as Partial<AsyncIterable<unknown>>;
  if (typeof iterable[Symbol.asyncIterator] !== 'function') {
    throw new TypeError('An object body must be a Readable stream or an async iterable of Uint8Array chunks');
  }
  const iterator = (body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  // A stalled body would never notice an abort between chunks, so each read races the signal. The race uses a
  // fresh promise per read whose listener is removed afterwards: racing one long-lived pending promise would add a
  // reaction to it per chunk, and each reaction keeps that chunk alive (memory grew with the upload's size).
  const raceAbort = async (
    next: Promise<IteratorResult<unknown>>,
    s: AbortSignal,
  ): Promise<IteratorResult<unknown>> => {
    if (s.aborted) throw uploadAborted(s.reason);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(uploadAborted(s.reason));
      s.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([next, aborted]);
    } finally {
      s.removeEventListener('abort', onAbort!);
    }
  };
  let size = 0;
  let finished = false;
  let readPending = false;
  try {
    for (;;) {
      let step: IteratorResult<unknown>;
      try {
        if (signal === undefined) {
          step = await iterator.next();
        } else {
          const next = iterator.next();
          next.catch(() => undefined); // if the abort wins, a later failure of this read must not go unhandled
          readPending = true;
          step = await raceAbort(next, signal);
          readPending = false;
        }
      } catch (err) {
        if (err instanceof AppError) throw err;
        finished = true; // the body already failed; calling return() on it again is pointless
        throw new AppError(
          'UPLOAD_INTERRUPTED',
          400,
          'The upload stream failed before it was complete; nothing was stored.',
          undefined,
          err,
        );
      }
      if (step.done) {
        finished = true;
        return;
      }
      const chunk = step.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError('Object bodies must yield bytes (Buffer/Uint8Array); do not set an encoding on the stream');
      }
      size += chunk.byteLength;
      if (maxBytes !== undefined && size > maxBytes) throw uploadTooLarge(maxBytes);
      yield chunk;
    }
  } finally {
    // Stop the producer (destroys a Readable) when we leave early; ignore its complaints, we already failed.
    if (!finished) {
      const closing = Promise.resolve(iterator.return?.()).catch(() => undefined);
      // A read still pending after an abort may never settle (a stalled generator queues return() behind it),
      // so only wait for the producer to close when it is not stuck mid-read.
      if (!readPending) await closing;
    }
  }
}

export const sha256Digest = (hash: Hash): Digest => `sha256:${hash.digest('hex')}`;

/**
 * Passes an object's bytes through while hashing them. It holds back the most recent chunk until the next one
 * arrives, and releases the final chunk only after the digest matched, so a reader never gets a complete copy of
 * corrupted bytes: on mismatch the stream errors with INTEGRITY_ERROR instead of ending.
 */
export class DigestVerifier extends Transform {
  private readonly hash = createHash('sha256');
  private held: Buffer | undefined;
  private bytes = 0;

  constructor(
    private readonly expected: Digest,
    private readonly expectedSize?: number,
  ) {
    super({ readableHighWaterMark: CHUNK_BYTES, writableHighWaterMark: CHUNK_BYTES });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    const actual = sha256Digest(this.hash);
    if (actual !== this.expected || (this.expectedSize !== undefined && this.bytes !== this.expectedSize)) {
      this.held = undefined;
      callback(
        integrityError(`Stored object ${this.expected} is corrupted: its bytes hash to ${actual}.`, {
          digest: this.expected,
          actual,
          size: this.bytes,
        }),
      );
      return;
    }
    const last = this.held;
    this.held = undefined;
    callback(null, last);
  }
}

/** Verifies a whole in-memory object; throws INTEGRITY_ERROR on mismatch. */
export function verifyBytes(expected: Digest, bytes: Buffer): Buffer {
  const actual = sha256Digest(createHash('sha256').update(bytes));
  if (actual !== expected) {
    throw integrityError(`Stored object ${expected} is corrupted: its bytes hash to ${actual}.`, {
      digest: expected,
      actual,
      size: bytes.length,
    });
  }
  return bytes;
}
