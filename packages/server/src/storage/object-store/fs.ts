// Content-addressed object store on a local directory (the embedded default).
// Layout: root/objects/sha256/ab/<62 hex>, temporaries in root/tmp/ on the same filesystem so publishing is a link.
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream';
import { AppError } from '../../errors.js';
import {
  DEFAULT_SWEEP_AGE_MS,
  digestHex,
  objectNotFound,
  parseDigest,
  type Digest,
  type ObjectBody,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './port.js';
import {
  CHUNK_BYTES,
  DigestVerifier,
  checkMaxBytes,
  digestMismatch,
  meteredChunks,
  sha256Digest,
  verifyBytes,
} from './streams.js';

const SHARD_NAME = /^[0-9a-f]{2}$/;
const OBJECT_NAME = /^[0-9a-f]{62}$/;
/** Upload chunks are gathered into batches this large before one writev, so small network chunks cost few syscalls. */
const WRITE_BATCH_BYTES = 4 * CHUNK_BYTES;

const errorCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;

function storageError(err: unknown, action: string): unknown {
  if (err instanceof AppError) return err;
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new AppError('STORAGE_FULL', 507, `The object store has no space left while ${action}.`, undefined, err);
  }
  return err;
}

/** Writes every byte of `buffers`, looping on short writes (which writev may legally return). */
async function writeAll(fh: FileHandle, buffers: Uint8Array[], total: number): Promise<void> {
  let written = (await fh.writev(buffers)).bytesWritten;
  while (written < total) {
    let skip = written;
    const rest: Uint8Array[] = [];
    for (const b of buffers) {
      if (skip >= b.byteLength) skip -= b.byteLength;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    const n = (await fh.writev(rest)).bytesWritten;
    if (n === 0) throw new Error('writev wrote 0 bytes');
    written += n;
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  readonly root: string;
  private readonly objectsDir: string;
  private readonly tmpDir: string;
  private ready: Promise<void> | undefined;
  private readonly knownShards = new Set<string>();

  constructor(rootDir: string) {
    this.root = resolve(rootDir);
    this.objectsDir = join(this.root, 'objects', 'sha256');
    this.tmpDir = join(this.root, 'tmp');
  }

  /** Path of a digest that parseDigest accepted: only hex reaches the filesystem. */
  private objectPath(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.objectsDir, hex.slice(0, 2), hex.slice(2));
  }

  private ensureDirs(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.objectsDir, { recursive: true, mode: 0o750 });
      await mkdir(this.tmpDir, { recursive: true, mode: 0o750 });
    })().catch((err: unknown) => {
      this.ready = undefined; // let a later call retry (e.g. after an operator fixed permissions)
      throw err;
    });
    return this.ready;
  }

  private async ensureShard(shard: string): Promise<string> {
    const dir = join(this.objectsDir, shard);
    if (this.knownShards.has(shard)) return dir;
    const created = await mkdir(dir, { mode: 0o750 }).then(
      () => true,
      (err: unknown) => {
        if (errorCode(err) === 'EEXIST') return false;
        throw err;
      },
    );
    // A new shard directory is itself a directory entry that must survive a crash.
    if (created) await fsyncDirectory(this.objectsDir);
    this.knownShards.add(shard);
    return dir;
  }

  async put(body: ObjectBody, opts: PutOptions = {}): Promise<PutResult> {
    const expected = opts.expectedDigest === undefined ? undefined : parseDigest(opts.expectedDigest);
    checkMaxBytes(opts.maxBytes);
    await this.ensureDirs();
    const tmpPath = join(this.tmpDir, `${randomBytes(16).toString('hex')}.part`);
    let fh: FileHandle | undefined = await open(tmpPath, 'wx', 0o600);
    let pendingWrite: Promise<void> | undefined;
    try {
      const hash = createHash('sha256');
      let size = 0;
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      for await (const chunk of meteredChunks(body, opts)) {
        hash.update(chunk);
        size += chunk.byteLength;
        batch.push(chunk);
        batchBytes += chunk.byteLength;
        if (batchBytes >= WRITE_BATCH_BYTES) {
          // One write in flight while the next batch is read and hashed: disk and CPU overlap.
          if (pendingWrite !== undefined) await pendingWrite;
          pendingWrite = writeAll(fh, batch, batchBytes);
          batch = [];
          batchBytes = 0;
        }
      }
      if (pendingWrite !== undefined) await pendingWrite;
      pendingWrite = undefined;
      if (batchBytes > 0) await writeAll(fh, batch, batchBytes);
      await fh.chmod(0o444);
      await fh.sync();
      await fh.close();
      fh = undefined;

      const digest = sha256Digest(hash);
      if (expected !== undefined && expected !== digest) throw digestMismatch(expected, digest);
      const existed = await this.publish(tmpPath, digest, size);
      return { digest, size, existed };
    } catch (err) {
      throw storageError(err, 'writing an object');
    } finally {
      if (pendingWrite !== undefined) await pendingWrite.catch(() => undefined);
      if (fh !== undefined) await fh.close().catch(() => undefined);
      // After a successful link the temporary name is a second link to the object; either way it goes.
      await rm(tmpPath, { force: true }).catch(() => undefined);
    }
  }

  /** Links the finished temporary file under its digest without ever replacing a good object. Returns `existed`. */
  private async publish(tmpPath: string, digest: Digest, size: number): Promise<boolean> {
    const hex = digestHex(digest);
    const shardDir = await this.ensureShard(hex.slice(0, 2));
    const target = join(shardDir, hex.slice(2));
    let existed: boolean;
    try {
      // link() fails with EEXIST instead of overwriting, so of two concurrent identical puts exactly one publishes.
      await link(tmpPath, target);
      existed = false;
    } catch (err) {
      const code = errorCode(err);
      if (code === 'EEXIST') {
        const current = await stat(target);
        if (current.size === size) {
          existed = true;
        } else {
          // A stored object with the wrong size is corrupt; replace it with the verified bytes we just wrote.
          await rename(tmpPath, target);
          existed = false;
        }
      } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        // Filesystems without hard links: rename is still atomic, it just cannot tell a concurrent twin apart.
        existed = await stat(target).then(
          (s) => s.size === size,
          () => false,
        );
        if (!existed) await rename(tmpPath, target);
      } else {
        throw err;
      }
    }
    if (!existed) await fsyncDirectory(shardDir);
    return existed;
  }

  private async openObject(digest: Digest): Promise<FileHandle> {
    try {
      return await open(this.objectPath(digest), 'r');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw objectNotFound(digest);
      throw err;
    }
  }

  async get(digest: Digest): Promise<NodeJS.ReadableStream> {
    const d = parseDigest(digest);
    const fh = await this.openObject(d);
    const size = (await fh.stat()).size;
    const source = fh.createReadStream({ highWaterMark: CHUNK_BYTES });
    // pipeline destroys both sides on error or early close, which closes the file descriptor.
    return pipeline(source, new DigestVerifier(d, size), () => undefined);
  }

  async getBytes(digest: Digest): Promise<Buffer> {
    const d = parseDigest(digest);
    const fh = await this.openObject(d);
    try {
      return verifyBytes(d, await fh.readFile());
    } finally {
      await fh.close();
    }
  }

  async stat(digest: Digest): Promise<{ size: number } | null> {
    const d = parseDigest(digest);
    try {
      return { size: (await stat(this.objectPath(d))).size };
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== null;
  }

  async *list(): AsyncIterable<Digest> {
    const shards = await readdir(this.objectsDir).catch((err: unknown) => {
      if (errorCode(err) === 'ENOENT') return [];
      throw err;
    });
    for (const shard of shards.filter((s) => SHARD_NAME.test(s)).sort()) {
      const names = await readdir(join(this.objectsDir, shard));
      for (const name of names.filter((n) => OBJECT_NAME.test(n)).sort()) yield `sha256:${shard}${name}`;
    }
  }

  async sweepTemporary(olderThanMs: number = DEFAULT_SWEEP_AGE_MS): Promise<number> {
    const names = await readdir(this.tmpDir).catch((err: unknown) => {
      if (errorCode(err) === 'ENOENT') return [];
      throw err;
    });
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of names) {
      const path = join(this.tmpDir, name);
      const info = await lstat(path).catch(() => undefined);
      // Writers touch their temporary file with every batch, so an old mtime means nobody is writing it.
      if (info === undefined || info.mtimeMs > cutoff) continue;
      await rm(path, { force: true, recursive: true });
      removed += 1;
    }
    return removed;
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}
