import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDiabetesModel } from '../cds/fixtures.js';
import { DIALECTS, makeTestPlatform, pushPlaceholderCohort, type TestPlatform } from '../test-support/platform.js';

describe.each(DIALECTS)('REST predict under concurrency on %s', (dialect) => {
  let t: TestPlatform;
  let token: string;
  let url: string;
  const row = { age: 61, sex: 'F', hba1c_baseline: 7.9, egfr: 72, bmi: 28.5, drug_class: 'sglt2' };
  const predict = (body: unknown, query = '') =>
    t.app.inject({
      method: 'POST',
      url: `${url}${query}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: body as object,
    });
  const count = async (table: 'predictions' | 'audit_events') =>
    Number(
      (
        await t.platform.store.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    const sci = await t.user('sci');
    token = sci.token;
    const admin = { authorization: `Bearer ${t.admin.token}`, 'content-type': 'application/json' };
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: admin,
          payload: { slug: 'dm', name: 'dm' },
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/dm/members',
          headers: admin,
          payload: { user: 'sci', role: 'scientist' },
        })
      ).statusCode,
    ).toBe(201);
    const push = await pushPlaceholderCohort(t, 'dm');
    expect(push.statusCode, push.body).toBe(201);
    const version = (await registerDiabetesModel(t.platform, 'dm', 'sci')).version;
    url = `/api/v1/projects/dm/models/responder/versions/${version}/predict`;
  });
  afterAll(async () => t.close());

  it('answers concurrent calls only with their log rows and audit events committed, in shared transactions', async () => {
    const p0 = await count('predictions');
    const a0 = await count('audit_events');
    const c0 = { ...t.platform.audit.committer.stats };
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => predict({ rows: [{ ...row, age: 40 + i }] })));
    for (const r of rs) expect(r.statusCode, r.body).toBe(200);
    const ids = rs.map((r) => r.json().predictions[0].id as string);
    expect(new Set(ids).size).toBe(40);
    // Every answered prediction is in the log, with one audit event per call.
    const logged = await t.platform.store.db.selectFrom('predictions').select('id').where('id', 'in', ids).execute();
    expect(logged).toHaveLength(40);
    expect((await count('predictions')) - p0).toBe(40);
    expect((await count('audit_events')) - a0).toBe(40);
    const commits = t.platform.audit.committer.stats.commits - c0.commits;
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThan(40);
    expect((await t.platform.audit.verify()).ok).toBe(true);
  });

  it('computes contributions unless the caller asks for none (explain=false)', async () => {
    const withEx = await predict({ rows: [row] });
    expect(withEx.statusCode, withEx.body).toBe(200);
    const a = withEx.json().predictions[0];
    expect(a.contributions.length).toBeGreaterThan(0);
    const without = await predict({ rows: [row] }, '?explain=false');
    expect(without.statusCode, without.body).toBe(200);
    const b = without.json().predictions[0];
    expect(b.contributions).toBeNull();
    expect(b.probability).toBe(a.probability);
    const stored = await t.platform.store.db
      .selectFrom('predictions')
      .select(['id', 'explanation_json'])
      .where('id', 'in', [a.id, b.id])
      .execute();
    expect(stored.find((r) => r.id === a.id)!.explanation_json).not.toBeNull();
    expect(stored.find((r) => r.id === b.id)!.explanation_json).toBeNull();
    const bad = await predict({ rows: [row] }, '?explain=maybe');
    expect(bad.statusCode).toBe(400);
  });
});
