import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetadataStore } from '../db/database.js';
import { AppError } from '../errors.js';
import { DIALECTS, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { newId, nowIso } from '../util.js';
import { AuditLog, AuditSecrets, type AuditInput } from './audit.js';
import { GroupCommitter, type CommitUnit } from './commit.js';

describe.each(DIALECTS)('group commit on %s', (dialect) => {
  let t: TestPlatform;
  const projectId = newId();

  const prediction = (tag: string) => ({
    id: newId(),
    project_id: projectId,
    model_version_id: 'mv',
    deployment_id: null,
    source: 'rest',
    caller: tag,
    hook_instance: null,
    patient_ref: null,
    inputs_digest: 'sha256:0',
    features_json: '{}',
    output_json: '{}',
    explanation_json: null,
    feedback_json: null,
    feedback_at: null,
    created_at: nowIso(),
  });
  const unit = (tag: string): CommitUnit<AuditInput> => ({
    inserts: [{ table: 'predictions', rows: [prediction(tag)] }],
    audit: [{ actor: tag, action: 'prediction.create', outcome: 'success', details: { tag } }],
  });
  const db = () => t.platform.store.db;
  const predictionsOf = async (prefix: string) =>
    (await db().selectFrom('predictions').select('caller').where('caller', 'like', `${prefix}%`).execute()).length;
  const auditOf = async (prefix: string) =>
    (await db().selectFrom('audit_events').select('seq').where('actor', 'like', `${prefix}%`).execute()).length;
  const head = async () =>
    db().selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    await db()
      .insertInto('projects')
      .values({ id: projectId, slug: 'gc', name: 'gc', description: '', created_at: nowIso(), created_by: 'test' })
      .execute();
  });
  afterAll(async () => t.close());

  it('commits concurrent units in few transactions, each fully, and the chain verifies', async () => {
    const c = t.platform.audit.committer;
    const before = { ...c.stats };
    await Promise.all(Array.from({ length: 200 }, (_, i) => t.platform.audit.commit(unit(`many-${i}`))));
    expect(c.stats.units - before.units).toBe(200);
    // 200 units submitted in one turn of the event loop share at most a handful of transactions.
    expect(c.stats.commits - before.commits).toBeLessThanOrEqual(5);
    expect(await predictionsOf('many-')).toBe(200);
    expect(await auditOf('many-')).toBe(200);
    const v = await t.platform.audit.verify();
    expect(v.ok).toBe(true);
    expect(v.events).toBe(Number((await head()).seq));
  });

  it('a failed commit fails every waiting unit and writes nothing of any of them', async () => {
    const h0 = await head();
    const bad = unit('fail-bad');
    // A row for a project that does not exist violates the foreign key: the whole group's transaction fails.
    (bad.inserts![0]!.rows[0] as { project_id: string }).project_id = 'no-such-project';
    const results = await Promise.allSettled([
      t.platform.audit.commit(unit('fail-a')),
      t.platform.audit.commit(bad),
      t.platform.audit.append({ actor: 'fail-c', action: 'x', outcome: 'success' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await predictionsOf('fail-')).toBe(0);
    expect(await auditOf('fail-')).toBe(0);
    expect(await head()).toEqual(h0);
    expect((await t.platform.audit.verify()).ok).toBe(true);
    // The committer goes on working afterwards.
    await t.platform.audit.commit(unit('after-fail'));
    expect(await predictionsOf('after-fail')).toBe(1);
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('rolls back rows already written when the audit append fails mid-transaction', async () => {
    const h0 = await head();
    const broken = new GroupCommitter<AuditInput>(t.platform.store, async (tx, inputs) => {
      await tx
        .insertInto('audit_events')
        .values({
          seq: Number(h0.seq) + 1,
          id: newId(),
          at: nowIso(),
          actor: inputs[0]!.actor,
          action: 'x',
          target: null,
          project: null,
          outcome: 'success',
          client: null,
          details_json: '{}',
          prev_hash: h0.hash,
          hash: 'h',
          mac: 'm',
        })
        .execute();
      throw new Error('crash in the middle of the commit');
    });
    const results = await Promise.allSettled([broken.submit(unit('mid-a')), broken.submit(unit('mid-b'))]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect((results[0] as PromiseRejectedResult).reason.message).toMatch(/crash in the middle/);
    expect(await predictionsOf('mid-')).toBe(0);
    expect(await auditOf('mid-')).toBe(0);
    expect(await head()).toEqual(h0);
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('a claim that exists already fails only its own unit, which writes nothing', async () => {
    const claim = (jti: string) => ({
      table: 'cds_seen_jti' as const,
      row: { iss: 'https://ehr.test', jti, expires_at: new Date(Date.now() + 60_000).toISOString() },
      conflict: () => new AppError('CDS_JWT_REPLAYED', 401, 'replayed'),
    });
    await t.platform.audit.commit({ claim: claim('seen-before') });
    const results = await Promise.allSettled([
      t.platform.audit.commit({ ...unit('claim-ok'), claim: claim('fresh-1') }),
      t.platform.audit.commit({ ...unit('claim-old'), claim: claim('seen-before') }),
      t.platform.audit.commit({ ...unit('claim-twice-1'), claim: claim('fresh-2') }),
      t.platform.audit.commit({ ...unit('claim-twice-2'), claim: claim('fresh-2') }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(((results[1] as PromiseRejectedResult).reason as AppError).code).toBe('CDS_JWT_REPLAYED');
    expect(await predictionsOf('claim-ok')).toBe(1);
    expect(await predictionsOf('claim-old')).toBe(0);
    expect(await auditOf('claim-old')).toBe(0);
    expect(await predictionsOf('claim-twice-')).toBe(1);
    expect(await auditOf('claim-twice-')).toBe(1);
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('keeps one chain when several server processes (own connections, own committers) commit at once', async () => {
    // A second store and audit log on the same database stand for a second server process.
    const other = openMetadataStore(t.config.databaseUrl);
    try {
      const otherAudit = new AuditLog(other, AuditSecrets.open(t.config.secretsDir));
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          i % 2 ? t.platform.audit.commit(unit(`multi-a-${i}`)) : otherAudit.commit(unit(`multi-b-${i}`)),
        ),
      );
      await otherAudit.close();
    } finally {
      await other.close();
    }
    expect(await predictionsOf('multi-')).toBe(60);
    expect(await auditOf('multi-')).toBe(60);
    const v = await t.platform.audit.verify();
    expect(v.ok).toBe(true);
  });
});
