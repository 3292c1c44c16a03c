// Queries compiled once and re-bound must return exactly what Kysely's freshly built query returns, on both dialects.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../test-support/platform.js';
import { migrate, openMetadataStore, type MetadataStore } from './database.js';
import { Precompiled, PrecompiledInserts } from './precompiled.js';

describe.each(DIALECTS)('precompiled queries (%s)', (dialect) => {
  let dir: string;
  let tdb: TestDatabase;
  let store: MetadataStore;
  const project = (i: number) => ({
    id: `p${i}`,
    slug: `slug-${i}`,
    name: `Project ${i}`,
    description: i % 2 ? 'odd' : "it's even",
    created_at: `2026-01-0${1 + (i % 9)}T00:00:00.000Z`,
    created_by: 'alice',
  });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-precompiled-'));
    tdb = await createTestDatabase(dialect, dir);
    store = openMetadataStore(tdb.url);
    await migrate(store);
  });
  afterAll(async () => {
    await store.close();
    await tdb.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('inserts rows of one shape like Kysely, and leaves other shapes to it', async () => {
    const pre = new PrecompiledInserts();
    const db = store.db as unknown as Kysely<never>;
    expect(await pre.insert(db, 'projects', [project(1), project(2), project(3)])).toBe(true);
    expect(await pre.insert(db, 'projects', [project(4), project(5), project(6)])).toBe(true); // same template
    expect(await pre.insert(db, 'projects', [project(7)])).toBe(true);
    // Keys in another order or an undefined value: refused (the caller then uses Kysely), nothing written.
    const { name, ...rest } = project(8);
    expect(await pre.insert(db, 'projects', [project(9), { name, ...rest }])).toBe(false);
    expect(await pre.insert(db, 'projects', [{ ...project(10), description: undefined }])).toBe(false);
    const rows = await store.db.selectFrom('projects').selectAll().where('id', 'like', 'p%').orderBy('id').execute();
    expect(rows).toEqual([1, 2, 3, 4, 5, 6, 7].map(project).sort((a, b) => a.id.localeCompare(b.id)));
  });

  it('inserts groups of any size through at most one template per power of two', async () => {
    const pre = new PrecompiledInserts();
    const db = store.db as unknown as Kysely<never>;
    let next = 100;
    for (let size = 1; size <= 40; size++) {
      const rows = Array.from({ length: size }, () => project(next++));
      expect(await pre.insert(db, 'projects', rows)).toBe(true);
    }
    expect(pre.size).toBe(6); // 1, 2, 4, 8, 16, 32 rows
    const ids = (await store.db.selectFrom('projects').select('id').execute())
      .map((r) => r.id)
      .filter((id) => /^p\d+$/.test(id) && Number(id.slice(1)) >= 100);
    expect(ids.sort()).toEqual(Array.from({ length: next - 100 }, (_, k) => `p${100 + k}`).sort());
    const one = await store.db.selectFrom('projects').selectAll().where('id', '=', 'p777').executeTakeFirst();
    expect(one).toEqual(project(777));
  });

  it('binds new values by name to a query compiled once, with the same rows as the query built anew', async () => {
    const q = new Precompiled((p: Record<'slug' | 'by', string>) =>
      store.db.selectFrom('projects').selectAll().where('slug', '=', p.slug).where('created_by', '=', p.by),
    );
    for (const slug of ['slug-1', 'slug-5', 'slug-7', 'nope']) {
      const built = await store.db
        .selectFrom('projects')
        .selectAll()
        .where('slug', '=', slug)
        .where('created_by', '=', 'alice')
        .execute();
      expect(await q.rows(store.db, { slug, by: 'alice' })).toEqual(built);
    }
    expect(await q.first(store.db, { slug: 'slug-1', by: 'bob' })).toBeUndefined();
    await expect(q.rows(store.db, { slug: 'slug-1' } as never)).rejects.toThrow(/no value for by/);
    // Inside a transaction, and an UPDATE's affected rows.
    const upd = new Precompiled((p: Record<'d' | 'id', string>) =>
      store.db.updateTable('projects').set({ description: p.d }).where('id', '=', p.id),
    );
    await store.db.transaction().execute(async (tx) => {
      expect(Number((await upd.execute(tx, { d: 'changed', id: 'p2' })).numAffectedRows)).toBe(1);
    });
    expect((await q.first(store.db, { slug: 'slug-2', by: 'alice' }))?.description).toBe('changed');
  });
});
