// The behaviour every ObjectStore adapter must show, as a vitest suite that each adapter's test file registers
// with a factory for a fresh, empty store (fs.test.ts, s3.int.test.ts).
import { createHash, randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AppError } from '../../errors.js';
import type { Digest, ObjectStore } from './port.js';

export interface ContractHarness {
  store: ObjectStore;
  /** A store of the same kind whose backend cannot be reached: any I/O it attempts fails with a non-AppError. */
  unreachableStore: ObjectStore;
  /** Replaces the stored bytes of `digest` behind the store's back, to simulate corruption at rest. */
  tamper(digest: Digest, change: (original: Buffer) => Buffer): Promise<void>;
  /** Leaves a temporary object as a writer that crashed mid-upload would. */
  leaveTemporary(): Promise<void>;
  /** How many temporary objects exist now. */
  countTemporary(): Promise<number>;
  dispose(): Promise<void>;
}

export interface ContractOptions {
  /** Whether concurrent puts of identical content (from one store instance) report `existed: false` exactly once. */
  exclusivePublish: boolean;
  /** Upper bound on memory retained while a 50 MB object streams in and out (write batches, upload parts). */
  maxRetainedBytes: number;
}

const MiB = 1024 * 1024;

/** V8's gc(), made reachable at run time (vitest offers no way to pass --expose-gc to its workers). */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256 = (bytes: Uint8Array): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function* chunksOf(bytes: Buffer, chunkSize = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Consumes a stream to its end; returns how many bytes arrived and the error it ended with, if any. */
async function drain(stream: NodeJS.ReadableStream): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    return { bytes, error: undefined };
  } catch (error) {
    return { bytes, error };
  }
}

async function expectAppError(promise: Promise<unknown>, code: string, status?: number): Promise<AppError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected AppError ${code}`).toBeInstanceOf(AppError);
  const appError = err as AppError;
  expect(appError.code).toBe(code);
  if (status !== undefined) expect(appError.status).toBe(status);
  return appError;
}

async function listAll(store: ObjectStore): Promise<Digest[]> {
  const out: Digest[] = [];
  for await (const d of store.list()) out.push(d);
  return out;
}

export function objectStoreContract(
  name: string,
  createHarness: () => Promise<ContractHarness>,
  options: ContractOptions,
): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await createHarness();
    });
    afterEach(async () => {
      await h.store.close();
      await h.unreachableStore.close();
      await h.dispose();
    });

    test('round trip: put returns the sha256 of the bytes, and every read gives them back', async () => {
      const bytes = randomBytes(300_000);
      const result = await h.store.put(chunksOf(bytes));
      expect(result).toEqual({ digest: sha256(bytes), size: bytes.length, existed: false });
      expect(await h.store.has(result.digest)).toBe(true);
      expect(await h.store.stat(result.digest)).toEqual({ size: bytes.length });
      expect((await readAll(await h.store.get(result.digest))).equals(bytes)).toBe(true);
      expect((await h.store.getBytes(result.digest)).equals(bytes)).toBe(true);
      expect(await h.countTemporary()).toBe(0);
    });

    test('a Node Readable body works as well as an async iterable', async () => {
      const { Readable } = await import('node:stream');
      const bytes = randomBytes(10_000);
      const result = await h.store.put(Readable.from([bytes.subarray(0, 4000), bytes.subarray(4000)]));
      expect(result.digest).toBe(sha256(bytes));
      expect((await h.store.getBytes(result.digest)).equals(bytes)).toBe(true);
    });

    test('identical content is stored once and the second put reports existed', async () => {
      const bytes = randomBytes(50_000);
      const first = await h.store.put(chunksOf(bytes));
      const second = await h.store.put(chunksOf(bytes, 999));
      expect(first.existed).toBe(false);
      expect(second).toEqual({ digest: first.digest, size: bytes.length, existed: true });
      expect(await listAll(h.store)).toEqual([first.digest]);
      expect(await h.countTemporary()).toBe(0);
    });

    test('the empty object is an object like any other', async () => {
      const result = await h.store.put(chunksOf(Buffer.alloc(0)));
      expect(result).toEqual({ digest: EMPTY_DIGEST, size: 0, existed: false });
      expect(await h.store.stat(EMPTY_DIGEST)).toEqual({ size: 0 });
      expect((await readAll(await h.store.get(EMPTY_DIGEST))).length).toBe(0);
      expect((await h.store.getBytes(EMPTY_DIGEST)).length).toBe(0);
    });

    test('a 50 MB object generated on the fly streams in and out without holding it in memory', async () => {
      const total = 50 * MiB;
      const seed = randomBytes(MiB);
      const expectedHash = createHash('sha256');
      // Retained memory is measured after a forced collection, so garbage not yet collected does not count.
      const collect = gcFunction();
      const retained = (): number => {
        collect();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const baseline = retained();
      let peak = 0;
      let samples = 0;
      const sample = (): void => {
        if (++samples % 5 === 0) peak = Math.max(peak, retained() - baseline);
      };
      async function* generate(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < total / MiB; i++) {
          const chunk = Buffer.from(seed); // fresh buffer each time: the store may still hold the previous one
          chunk.writeUInt32LE(i, 0);
          expectedHash.update(chunk);
          sample();
          yield chunk;
        }
      }
      const result = await h.store.put(generate());
      expect(result.size).toBe(total);
      expect(result.digest).toBe(`sha256:${expectedHash.digest('hex')}`);

      const readHash = createHash('sha256');
      let read = 0;
      for await (const chunk of await h.store.get(result.digest)) {
        readHash.update(chunk as Buffer);
        read += (chunk as Buffer).length;
        sample();
      }
      expect(read).toBe(total);
      expect(`sha256:${readHash.digest('hex')}`).toBe(result.digest);
      // Buffering the whole object would cost > 50 MB; garbage not yet collected accounts for the rest.
      // Buffering the object would retain > 50 MB; streaming keeps a few write batches or upload parts.
      console.log('PEAK', peak / MiB);
      expect(peak).toBeLessThan(options.maxRetainedBytes);
    });

    test('a corrupted object never reads back whole: get errors with INTEGRITY_ERROR, getBytes throws', async () => {
      const bytes = randomBytes(3 * MiB + 123);
      const { digest } = await h.store.put(chunksOf(bytes));
      await h.tamper(digest, (original) => {
        const changed = Buffer.from(original);
        changed[1_500_000] = (changed[1_500_000] ?? 0) ^ 0x01; // one flipped bit
        return changed;
      });
      const streamed = await drain(await h.store.get(digest));
      expect(streamed.error).toBeInstanceOf(AppError);
      expect((streamed.error as AppError).code).toBe('INTEGRITY_ERROR');
      expect(streamed.bytes).toBeLessThan(bytes.length);
      await expectAppError(h.store.getBytes(digest), 'INTEGRITY_ERROR', 500);
    });

    test('a truncated object also fails verification', async () => {
      const bytes = randomBytes(200_000);
      const { digest } = await h.store.put(chunksOf(bytes));
      await h.tamper(digest, (original) => original.subarray(0, original.length - 1));
      const streamed = await drain(await h.store.get(digest));
      expect((streamed.error as AppError | undefined)?.code).toBe('INTEGRITY_ERROR');
      await expectAppError(h.store.getBytes(digest), 'INTEGRITY_ERROR');
    });

    test('an unknown digest is OBJECT_NOT_FOUND (404), has false, stat null', async () => {
      const digest = sha256(randomBytes(16));
      await expectAppError(h.store.get(digest), 'OBJECT_NOT_FOUND', 404);
      await expectAppError(h.store.getBytes(digest), 'OBJECT_NOT_FOUND', 404);
      expect(await h.store.has(digest)).toBe(false);
      expect(await h.store.stat(digest)).toBeNull();
    });

    test('exceeding maxBytes is UPLOAD_TOO_LARGE (413) and publishes nothing', async () => {
      const bytes = randomBytes(2 * MiB);
      await expectAppError(h.store.put(chunksOf(bytes), { maxBytes: MiB }), 'UPLOAD_TOO_LARGE', 413);
      expect(await h.store.has(sha256(bytes))).toBe(false);
      expect(await listAll(h.store)).toEqual([]);
      expect(await h.countTemporary()).toBe(0);
      // Exactly at the limit is allowed.
      const exact = await h.store.put(chunksOf(bytes.subarray(0, MiB)), { maxBytes: MiB });
      expect(exact.size).toBe(MiB);
    });

    test('a body that fails mid-upload publishes nothing and leaves no temporary object', async () => {
      const bytes = randomBytes(6 * MiB);
      async function* cutOff(): AsyncGenerator<Uint8Array> {
        yield* chunksOf(bytes.subarray(0, 5 * MiB + 17));
        throw new Error('connection reset by peer');
      }
      const err = await expectAppError(h.store.put(cutOff()), 'UPLOAD_INTERRUPTED', 400);
      expect((err.cause as Error).message).toBe('connection reset by peer');
      expect(await listAll(h.store)).toEqual([]);
      expect(await h.countTemporary()).toBe(0);
    });

    test('a Readable destroyed mid-upload (a client hanging up) publishes nothing', async () => {
      const { Readable } = await import('node:stream');
      const source = new Readable({ read() {} });
      source.push(randomBytes(2 * MiB));
      setTimeout(() => source.destroy(new Error('aborted')), 20);
      await expectAppError(h.store.put(source), 'UPLOAD_INTERRUPTED', 400);
      expect(await listAll(h.store)).toEqual([]);
      expect(await h.countTemporary()).toBe(0);
    });

    test('an abort signal stops a stalled upload; nothing is published or left behind', async () => {
      const controller = new AbortController();
      async function* stalls(): AsyncGenerator<Uint8Array> {
        yield randomBytes(1000);
        await new Promise(() => undefined); // the client stops sending but keeps the connection open
      }
      const put = h.store.put(stalls(), { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expectAppError(put, 'UPLOAD_ABORTED');
      expect(await listAll(h.store)).toEqual([]);
      expect(await h.countTemporary()).toBe(0);
    });

    test('expectedDigest: a mismatch is DIGEST_MISMATCH (400) and publishes nothing; a match stores', async () => {
      const bytes = randomBytes(100_000);
      const wrong = sha256(randomBytes(8));
      const err = await expectAppError(h.store.put(chunksOf(bytes), { expectedDigest: wrong }), 'DIGEST_MISMATCH', 400);
      expect(err.details).toEqual({ expected: wrong, actual: sha256(bytes) });
      expect(await h.store.has(sha256(bytes))).toBe(false);
      expect(await h.countTemporary()).toBe(0);
      const ok = await h.store.put(chunksOf(bytes), { expectedDigest: sha256(bytes) });
      expect(ok.digest).toBe(sha256(bytes));
    });

    test('concurrent puts of identical content all succeed and store one object', async () => {
      const bytes = randomBytes(3 * MiB);
      const results = await Promise.all(Array.from({ length: 4 }, (_, i) => h.store.put(chunksOf(bytes, 100_000 + i))));
      for (const r of results) expect(r.digest).toBe(sha256(bytes));
      const published = results.filter((r) => !r.existed).length;
      if (options.exclusivePublish) expect(published).toBe(1);
      else expect(published).toBeGreaterThanOrEqual(1);
      expect(await listAll(h.store)).toEqual([sha256(bytes)]);
      expect((await h.store.getBytes(sha256(bytes))).equals(bytes)).toBe(true);
      expect(await h.countTemporary()).toBe(0);
    });

    test('bad digest strings are rejected with BAD_DIGEST before any I/O', async () => {
      const hex = 'a'.repeat(64);
      const bad = [
        '../x',
        `sha256:../../${hex}`.slice(0, 71),
        'sha256:ZZ',
        `sha256:${hex.toUpperCase()}`,
        `SHA256:${hex}`,
        `sha256:${hex.slice(1)}`,
        `sha256:${hex}a`,
        `sha256:${hex}\n`,
        `md5:${hex}`,
        hex,
        '',
      ];
      // The unreachable store fails any I/O with a non-AppError, so BAD_DIGEST proves validation came first.
      const s = h.unreachableStore;
      let bodyRead = false;
      async function* body(): AsyncGenerator<Uint8Array> {
        bodyRead = true;
        yield Buffer.from('x');
      }
      for (const d of bad) {
        await expectAppError(s.get(d), 'BAD_DIGEST', 400);
        await expectAppError(s.getBytes(d), 'BAD_DIGEST', 400);
        await expectAppError(s.has(d), 'BAD_DIGEST', 400);
        await expectAppError(s.stat(d), 'BAD_DIGEST', 400);
        await expectAppError(s.put(body(), { expectedDigest: d }), 'BAD_DIGEST', 400);
      }
      expect(bodyRead).toBe(false);
      // And the unreachable store really does fail on I/O (otherwise the check above proves nothing).
      const io = await s.has(`sha256:${hex}`).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(io).toBeInstanceOf(Error);
      expect(io).not.toBeInstanceOf(AppError);
    });

    test('list yields every stored digest once, sorted, and nothing else', async () => {
      expect(await listAll(h.store)).toEqual([]);
      const digests = [];
      for (let i = 0; i < 5; i++) digests.push((await h.store.put(chunksOf(randomBytes(1000 + i)))).digest);
      await h.store.put(chunksOf(await h.store.getBytes(digests[0] as Digest)));
      await h.leaveTemporary();
      expect(await listAll(h.store)).toEqual([...digests].sort());
    });

    test('sweepTemporary removes old temporaries only, and never objects', async () => {
      const { digest } = await h.store.put(chunksOf(randomBytes(1000)));
      await h.leaveTemporary();
      await h.leaveTemporary();
      expect(await h.countTemporary()).toBe(2);
      expect(await h.store.sweepTemporary(60 * 60 * 1000)).toBe(0);
      expect(await h.store.sweepTemporary()).toBe(0); // the default keeps recent ones: a writer may be busy
      expect(await h.countTemporary()).toBe(2);
      await new Promise((r) => setTimeout(r, 20));
      expect(await h.store.sweepTemporary(0)).toBe(2);
      expect(await h.countTemporary()).toBe(0);
      expect(await listAll(h.store)).toEqual([digest]);
      expect(await h.store.has(digest)).toBe(true);
    });
  });
}
