// The ObjectStore port: a content-addressed store for immutable bytes (dataset versions, model artifacts).
// Adapters (fs.ts, s3.ts) implement it; callers only ever hold this interface and validated digests.
import { AppError, badRequest } from '../../errors.js';

/** 'sha256:' followed by 64 lowercase hex characters. Only `parseDigest` should produce one from outside input. */
export type Digest = string;

export interface PutResult {
  digest: Digest;
  size: number;
  /** true when identical content was already stored; nothing new was written. */
  existed: boolean;
}

export interface PutOptions {
  /** If the content hashes to anything else, nothing is published and AppError DIGEST_MISMATCH (400) is thrown. */
  expectedDigest?: Digest;
  /** More bytes than this aborts the write and throws AppError UPLOAD_TOO_LARGE (413). */
  maxBytes?: number;
  /** Aborting stops the write and throws AppError UPLOAD_ABORTED; nothing is published. */
  signal?: AbortSignal;
}

export type ObjectBody = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

export interface ObjectStore {
  readonly kind: 'fs' | 's3';
  /**
   * Streams `body` into the store: hashes while writing to a temporary object, makes it durable, then publishes
   * it atomically under its digest. Identical content is stored once (`existed: true` the second time).
   * Chunks yielded by `body` must not be reused or mutated by the producer after they are yielded (they may be
   * written after the next chunk is hashed). A body that errors, a signal that aborts, or `maxBytes` exceeded
   * leave no visible object and (best effort) no temporary object; `sweepTemporary` removes what a crash leaves.
   */
  put(body: ObjectBody, opts?: PutOptions): Promise<PutResult>;
  /**
   * The object's bytes as a stream that verifies the digest while streaming. On a mismatch the stream errors
   * with AppError INTEGRITY_ERROR before the last chunk is delivered, so a caller never receives all of a
   * corrupted object; a caller writing the bytes to a file must still delete that file when the stream errors.
   * Unknown digest → AppError OBJECT_NOT_FOUND (404).
   */
  get(digest: Digest): Promise<NodeJS.ReadableStream>;
  /** The whole object in memory, verified (INTEGRITY_ERROR on mismatch). For small objects: manifests, models. */
  getBytes(digest: Digest): Promise<Buffer>;
  has(digest: Digest): Promise<boolean>;
  stat(digest: Digest): Promise<{ size: number } | null>;
  /** Every stored digest. Order is adapter-defined (both current adapters yield sorted hex order). */
  list(): AsyncIterable<Digest>;
  /** Removes temporary objects older than `olderThanMs` (default one hour) left by a crash mid-write. */
  sweepTemporary(olderThanMs?: number): Promise<number>;
  close(): Promise<void>;
}

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** Validates a digest string strictly; AppError BAD_DIGEST (400) otherwise. Nothing else may build storage keys. */
export function parseDigest(s: string): Digest {
  if (typeof s !== 'string' || !DIGEST_PATTERN.test(s)) {
    const shown = typeof s === 'string' ? JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s) : typeof s;
    throw badRequest('BAD_DIGEST', `Not a valid digest: ${shown}. Expected "sha256:" followed by 64 lowercase hex.`);
  }
  return s;
}

/** The 64 hex characters of a digest that `parseDigest` has already accepted. */
export const digestHex = (digest: Digest): string => digest.slice('sha256:'.length);

export const objectNotFound = (digest: Digest): AppError =>
  new AppError('OBJECT_NOT_FOUND', 404, `No stored object has digest ${digest}.`, { digest });

export const DEFAULT_SWEEP_AGE_MS = 60 * 60 * 1000;
