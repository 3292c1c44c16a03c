// Runs the ObjectStore contract against the filesystem adapter, plus checks of its on-disk layout and
// durability habits that only make sense for files.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { objectStoreContract } from './contract.js';
import { FsObjectStore } from './fs.js';
import { digestHex, type Digest } from './port.js';

async function* bodyOf(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function objectFile(root: string, digest: Digest): string {
  const hex = digestHex(digest);
  return join(root, 'objects', 'sha256', hex.slice(0, 2), hex.slice(2));
}

for (const directIo of [true, false]) {
  objectStoreContract(
    directIo ? 'fs' : 'fs (buffered writes)',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'ichigen-fs-store-'));
      const blocker = join(root, 'not-a-directory');
      await writeFile(blocker, 'x');
      return {
        store: new FsObjectStore(join(root, 'store'), { directIo }),
        // A root below a regular file: every filesystem call fails with ENOTDIR.
        unreachableStore: new FsObjectStore(join(blocker, 'store')),
        async tamper(digest, change) {
          const file = objectFile(join(root, 'store'), digest);
          const original = await readFile(file);
          await chmod(file, 0o644);
          await writeFile(file, change(original));
          await chmod(file, 0o444);
        },
        async leaveTemporary() {
          const tmp = join(root, 'store', 'tmp');
          await writeFile(join(tmp, `${randomBytes(16).toString('hex')}.part`), randomBytes(100));
        },
        async countTemporary() {
          return (await readdir(join(root, 'store', 'tmp')).catch(() => [])).length;
        },
        async dispose() {
          await rm(root, { recursive: true, force: true });
        },
      };
    },
    { exclusivePublish: true, maxRetainedBytes: 24 * 1024 * 1024 },
  );
}

describe('FsObjectStore on disk', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ichigen-fs-layout-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('objects live at objects/sha256/ab/<rest>, read-only, and temporaries under tmp/', async () => {
    const store = new FsObjectStore(root);
    const { digest } = await store.put(bodyOf(Buffer.from('hello hospital')));
    const file = objectFile(root, digest);
    const info = await stat(file);
    expect(info.mode & 0o777).toBe(0o444);
    expect(await readFile(file, 'utf8')).toBe('hello hospital');
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  test('a stored object of the wrong size is replaced by a verified put of the same content', async () => {
    const store = new FsObjectStore(root);
    const bytes = randomBytes(5000);
    const { digest } = await store.put(bodyOf(bytes));
    const file = objectFile(root, digest);
    await chmod(file, 0o644);
    await writeFile(file, bytes.subarray(0, 10));
    const again = await store.put(bodyOf(bytes));
    expect(again.existed).toBe(false);
    expect((await store.getBytes(digest)).equals(bytes)).toBe(true);
  });

  test('direct and buffered writes store the same bytes at every block and batch boundary', async () => {
    const batch = 4 * 1024 * 1024;
    const sizes = [0, 1, 4095, 4096, 4097, 65_537, batch - 1, batch, batch + 1, 2 * batch + 12_345];
    const source = randomBytes(2 * batch + 12_345);
    async function* pieces(bytes: Buffer): AsyncGenerator<Uint8Array> {
      // Odd piece sizes, so batches fill across piece boundaries.
      for (let at = 0; at < bytes.length; at += 65_537) yield bytes.subarray(at, at + 65_537);
    }
    for (const directIo of [true, false]) {
      const dir = join(root, directIo ? 'direct' : 'buffered');
      const store = new FsObjectStore(dir, { directIo });
      for (const size of sizes) {
        const bytes = source.subarray(0, size);
        const { digest, size: stored } = await store.put(pieces(bytes));
        expect(stored).toBe(size);
        const file = objectFile(dir, digest);
        expect((await stat(file)).size).toBe(size);
        expect((await readFile(file)).equals(bytes)).toBe(true);
        expect(digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      }
      expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    }
  });

  test('sweep judges age by modification time', async () => {
    const store = new FsObjectStore(root);
    await store.put(bodyOf(Buffer.from('x'))); // creates the directories
    const old = join(root, 'tmp', 'old.part');
    const fresh = join(root, 'tmp', 'fresh.part');
    await writeFile(old, 'a');
    await writeFile(fresh, 'b');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    expect(await store.sweepTemporary()).toBe(1);
    expect(await readdir(join(root, 'tmp'))).toEqual(['fresh.part']);
  });

  test('a process whose address space is limited (no aligned staging memory) still stores, through the page cache', async () => {
    // Direct I/O stages each batch in a WebAssembly memory for its alignment; V8 reserves several GB of address
    // space for each, which `ulimit -v` refuses. The built module runs in a child under such a limit.
    const dist = fileURLToPath(new URL('../../../dist/storage/object-store/fs.js', import.meta.url));
    const script = `
      const { FsObjectStore } = await import(${JSON.stringify(pathToFileURL(dist).href)});
      let aligned = true;
      try { new WebAssembly.Memory({ initial: 64, maximum: 64 }); } catch { aligned = false; }
      const data = Buffer.alloc(9_000_001, 7);
      const store = new FsObjectStore(${JSON.stringify(root)});
      const put = await store.put((async function* () { yield data.subarray(0, 5_000_000); yield data.subarray(5_000_000); })());
      const back = [];
      for await (const c of await store.get(put.digest)) back.push(c);
      console.log(JSON.stringify({ aligned, size: put.size, same: Buffer.concat(back).equals(data) }));`;
    const out = execFileSync(
      'bash',
      ['-c', 'ulimit -v 4000000 && exec "$0" --input-type=module -e "$1"', process.execPath, script],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out)).toEqual({ aligned: false, size: 9_000_001, same: true });
  });

  test('reads on a store that was never written find nothing instead of failing', async () => {
    const store = new FsObjectStore(join(root, 'empty'));
    const list = [];
    for await (const d of store.list()) list.push(d);
    expect(list).toEqual([]);
    expect(await store.sweepTemporary(0)).toBe(0);
  });
});
