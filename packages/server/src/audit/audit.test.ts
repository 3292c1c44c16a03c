import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { eventHash, stableRead } from './audit.js';

it('a checkpoint read that overlapped a write is read again until two reads agree', () => {
  const seen = ['{"seq":12,"hash":"new-old-mix"}', '{"seq":12,"hash":"new"}', '{"seq":12,"hash":"new"}'];
  let reads = 0;
  expect(stableRead(() => seen[Math.min(reads++, seen.length - 1)]!)).toBe('{"seq":12,"hash":"new"}');
  expect(reads).toBe(3);
  reads = 0;
  expect(stableRead(() => (reads++, 'same'))).toBe('same');
  expect(reads).toBe(2);
});

describe.each(DIALECTS)('audit chain on %s', (dialect) => {
  let t: TestPlatform;
  const appendN = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await t.platform.audit.append({
        actor: 'alice',
        action: 'dataset.download',
        target: `dataset:p/d@${i}`,
        project: 'p',
        outcome: 'success',
        client: '127.0.0.1',
        details: { i },
      });
    }
  };
  const rows = () => t.platform.store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
  });
  afterAll(async () => t.close());

  it('verifies an intact chain and links every event to the one before', async () => {
    await appendN(5);
    const r = await t.platform.audit.verify();
    expect(r.ok).toBe(true);
    expect(r.events).toBeGreaterThanOrEqual(5);
    const all = await rows();
    for (let i = 1; i < all.length; i++) expect(all[i]!.prev_hash).toBe(all[i - 1]!.hash);
  });

  it('keeps order under concurrent appends', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.platform.audit.append({ actor: 'bob', action: 'x', outcome: 'success', details: { i } }),
      ),
    );
    const r = await t.platform.audit.verify();
    expect(r.ok).toBe(true);
  });

  it('detects an edited row', async () => {
    const all = await rows();
    const victim = all[2]!;
    await t.platform.store.db
      .updateTable('audit_events')
      .set({ actor: 'mallory' })
      .where('seq', '=', victim.seq)
      .execute();
    const r = await t.platform.audit.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBroken?.seq).toBe(Number(victim.seq));
    expect(r.firstBroken?.reason).toMatch(/edited/);
    await t.platform.store.db
      .updateTable('audit_events')
      .set({ actor: victim.actor })
      .where('seq', '=', victim.seq)
      .execute();
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('detects a row rewritten with a recomputed hash (no audit key)', async () => {
    const all = await rows();
    const victim = all[3]!;
    const forged = { ...victim, seq: Number(victim.seq), outcome: 'failure' };
    const hash = eventHash(victim.prev_hash, forged);
    await t.platform.store.db
      .updateTable('audit_events')
      .set({ outcome: 'failure', hash })
      .where('seq', '=', victim.seq)
      .execute();
    const r = await t.platform.audit.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBroken?.seq).toBe(Number(victim.seq));
    await t.platform.store.db
      .updateTable('audit_events')
      .set({ outcome: victim.outcome, hash: victim.hash })
      .where('seq', '=', victim.seq)
      .execute();
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('detects a deleted row in the middle', async () => {
    const all = await rows();
    const victim = all[1]!;
    await t.platform.store.db.deleteFrom('audit_events').where('seq', '=', victim.seq).execute();
    const r = await t.platform.audit.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBroken?.seq).toBe(Number(victim.seq));
    expect(r.firstBroken?.reason).toMatch(/missing/);
    await t.platform.store.db.insertInto('audit_events').values(victim).execute();
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('detects deletion of the newest rows even when the head row is rewound too', async () => {
    const all = await rows();
    const last = all[all.length - 1]!;
    const prev = all[all.length - 2]!;
    await t.platform.store.db.deleteFrom('audit_events').where('seq', '=', last.seq).execute();
    let r = await t.platform.audit.verify();
    expect(r.ok).toBe(false);
    // An attacker with database access also rewinds the head row: the checkpoint outside the database still knows.
    await t.platform.store.db
      .updateTable('audit_head')
      .set({ seq: prev.seq, hash: prev.hash })
      .where('id', '=', 1)
      .execute();
    r = await t.platform.audit.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBroken?.reason).toMatch(/checkpoint/);
    expect(r.firstBroken?.seq).toBe(Number(last.seq));
    await t.platform.store.db.insertInto('audit_events').values(last).execute();
    await t.platform.store.db
      .updateTable('audit_head')
      .set({ seq: last.seq, hash: last.hash })
      .where('id', '=', 1)
      .execute();
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('detects a checkpoint that disagrees with the database (an event replaced wholesale)', async () => {
    const cpPath = `${t.config.secretsDir}/audit-head.json`;
    const saved = readFileSync(cpPath, 'utf8');
    const cp = JSON.parse(saved) as { seq: number; hash: string };
    writeFileSync(cpPath, JSON.stringify({ ...cp, hash: 'f'.repeat(64) }));
    const r = await t.platform.audit.verify();
    expect(r.ok).toBe(false);
    expect(r.firstBroken?.reason).toMatch(/checkpoint/);
    writeFileSync(cpPath, saved);
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('writes the checkpoint forward only, and follows a checkpoint file replaced or rewritten by someone else', async () => {
    const cpPath = `${t.config.secretsDir}/audit-head.json`;
    const read = () => JSON.parse(readFileSync(cpPath, 'utf8')) as { seq: number; hash: string; mac: string };
    const head = async () => {
      const all = await rows();
      return all[all.length - 1]!;
    };
    await appendN(1);
    expect(statSync(cpPath).mode & 0o777).toBe(0o600);
    expect(read()).toMatchObject({ seq: Number((await head()).seq), hash: (await head()).hash });
    // Another server process sharing secretsDir is ahead: never moved back.
    const ahead = { ...read(), seq: Number((await head()).seq) + 100 };
    writeFileSync(cpPath, JSON.stringify(ahead));
    await appendN(1);
    expect(read()).toEqual(ahead);
    // Replaced through a rename (a new file) holding an older head, with a long tail: rewritten whole, no leftovers.
    writeFileSync(
      `${cpPath}.new`,
      JSON.stringify({ seq: 1, hash: 'a'.repeat(64), mac: 'b', at: 'x', pad: 'y'.repeat(3000) }),
    );
    renameSync(`${cpPath}.new`, cpPath);
    await appendN(1);
    const last = await head();
    expect(read()).toMatchObject({ seq: Number(last.seq), hash: last.hash, mac: last.mac });
    expect(readFileSync(cpPath, 'utf8').length).toBeLessThan(1000);
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('pages and filters events newest first', async () => {
    await appendN(3);
    const page1 = await t.platform.audit.list({ project: 'p', limit: 4 });
    expect(page1.events).toHaveLength(4);
    expect(page1.events[0]!.seq).toBeGreaterThan(page1.events[3]!.seq);
    expect(page1.nextBefore).toBe(page1.events[3]!.seq);
    const page2 = await t.platform.audit.list({ project: 'p', limit: 4, before: page1.nextBefore! });
    expect(page2.events[0]!.seq).toBeLessThan(page1.events[3]!.seq);
    const none = await t.platform.audit.list({ project: 'p', since: '2999-01-01T00:00:00.000Z' });
    expect(none.events).toHaveLength(0);
    const bobs = await t.platform.audit.list({ actor: 'bob' });
    expect(bobs.events.every((e) => e.actor === 'bob')).toBe(true);
    const n = await t.platform.store.db
      .selectFrom('audit_events')
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBeGreaterThan(20);
  });
});
