// A kernel whose filesystem refuses O_DIRECT only after creating the file (older tmpfs, some FUSE and 9p mounts)
// cannot be had on this machine, so `open` is wrapped to behave like one: an O_DIRECT open creates the file, then
// fails with EINVAL. The store must still write through the page cache and leave no temporary behind.
import { constants } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import type * as FsPromises from 'node:fs/promises';

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const O_DIRECT = (constants as { O_DIRECT?: number }).O_DIRECT ?? 0;
  return {
    ...real,
    open: async (path: string, flags: string | number, mode?: number) => {
      if (typeof flags === 'number' && O_DIRECT !== 0 && (flags & O_DIRECT) !== 0) {
        await (await real.open(path, flags & ~O_DIRECT, mode)).close();
        throw Object.assign(new Error(`EINVAL: invalid argument, open '${path}'`), { code: 'EINVAL' });
      }
      return real.open(path, flags, mode);
    },
  };
});

const { FsObjectStore } = await import('./fs.js');

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ichigen-fs-refused-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

test('a filesystem that creates the file and then refuses O_DIRECT still gets the object, through the page cache', async () => {
  const store = new FsObjectStore(root);
  const data = Buffer.alloc(5_000_123, 3);
  const put = await store.put(
    (async function* () {
      yield data;
    })(),
  );
  expect(put).toMatchObject({ size: data.length, existed: false });
  const chunks: Buffer[] = [];
  for await (const c of await store.get(put.digest)) chunks.push(c as Buffer);
  expect(Buffer.concat(chunks).equals(data)).toBe(true);
  expect(await readdir(join(root, 'tmp'))).toEqual([]);
  const hex = put.digest.slice('sha256:'.length);
  expect((await readFile(join(root, 'objects', 'sha256', hex.slice(0, 2), hex.slice(2)))).length).toBe(data.length);
});
