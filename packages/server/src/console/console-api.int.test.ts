// The API the web console adds: dataset version diff, study parameter importance, deployment "try it" (through the
// CDS service, logged and audited as source 'console') with a synthetic sample, and the owners' user picker — with
// their access rules (404 for non-members, 403 for missing roles), on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diabeticPatient, dmDeployment, registerDiabetesModel } from '../cds/fixtures.js';
import { bearer, DIALECTS, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { nowIso } from '../util.js';
import { paramImportance } from './insights.js';
import { shiftToRecent } from './try.js';

const V1 = 'id,age,sex,hba1c,note\n1,50,F,7.0,a\n2,60,M,8.0,b\n3,70,F,,c\n4,55,M,9.0,d\n';
// v2: one more row, `note` removed, `egfr` added, age shifted up, hba1c now fully present, sex turned into text-ish codes.
const V2 = 'id,age,sex,hba1c,egfr\n1,60,F,7.5,80\n2,70,M,8.0,75\n3,80,F,6.5,60\n4,65,M,9.0,55\n5,75,F,7.2,70\n';

describe.each(DIALECTS)('console API on %s', (dialect) => {
  let t: TestPlatform;
  let owner: { name: string; token: string };
  let sci: { name: string; token: string };
  let appr: { name: string; token: string };
  let clin: { name: string; token: string };
  let steward: { name: string; token: string };
  let outsider: { name: string; token: string };
  let modelVersion: number;

  const api = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: bearer(token),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const push = async (csv: string) => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects/dm/datasets/cohort/versions',
      headers: { ...bearer(owner.token), 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(r.statusCode, r.body).toBe(201);
  };

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    owner = await t.user('olivia');
    sci = await t.user('sci');
    appr = await t.user('appr');
    clin = await t.user('clin');
    steward = await t.user('stew');
    outsider = await t.user('outsider');
    expect((await api('POST', '/projects', t.admin.token, { slug: 'dm', name: 'Diabetes' })).statusCode).toBe(201);
    expect((await api('POST', '/projects', t.admin.token, { slug: 'other', name: 'Other' })).statusCode).toBe(201);
    for (const [u, role] of [
      ['olivia', 'owner'],
      ['sci', 'scientist'],
      ['appr', 'approver'],
      ['clin', 'clinician'],
      ['stew', 'steward'],
    ])
      expect((await api('POST', '/projects/dm/members', t.admin.token, { user: u, role })).statusCode).toBe(201);
    expect(
      (await api('POST', '/projects/other/members', t.admin.token, { user: 'outsider', role: 'owner' })).statusCode,
    ).toBe(201);
    await push(V1);
    await push(V2);
    modelVersion = (await registerDiabetesModel(t.platform, 'dm', 'sci')).version;
    const ok = await api('POST', `/projects/dm/models/responder/versions/${modelVersion}/approve`, appr.token, {
      reason: 'validated',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    const dep = await api('PUT', '/projects/dm/deployments/dm-response', appr.token, dmDeployment(modelVersion));
    expect(dep.statusCode, dep.body).toBe(201);
  });
  afterAll(async () => t.close());

  // ---------- dataset diff ----------
  it('diffs two versions from their stored profiles', async () => {
    const r = await api('GET', '/projects/dm/datasets/cohort/diff?from=1&to=2', sci.token);
    expect(r.statusCode, r.body).toBe(200);
    const d = r.json();
    expect(d).toMatchObject({ dataset: 'cohort', from: 1, to: 2, rows: { from: 4, to: 5 } });
    expect(d.columnsAdded).toEqual(['egfr']);
    expect(d.columnsRemoved).toEqual(['note']);
    const byName = Object.fromEntries(d.stats.map((s: { name: string }) => [s.name, s]));
    expect(Object.keys(byName)).toEqual(['id', 'age', 'sex', 'hba1c']);
    expect(byName.age.meanFrom).toBeCloseTo(58.75, 10);
    expect(byName.age.meanTo).toBeCloseTo(70, 10);
    expect(byName.age.meanShiftStd).toBeCloseTo((70 - 58.75) / byName.age.stdFrom, 10);
    expect(byName.age.changed).toBe(true);
    expect(byName.hba1c.missingFrom).toBeCloseTo(0.25, 10);
    expect(byName.hba1c.missingTo).toBe(0);
    expect(byName.sex).toMatchObject({ missingFrom: 0, missingTo: 0, changed: false });
    // Reversed, the same facts the other way round.
    const back = (await api('GET', '/projects/dm/datasets/cohort/diff?from=2&to=1', sci.token)).json();
    expect(back.columnsAdded).toEqual(['note']);
    expect(back.columnsRemoved).toEqual(['egfr']);
    expect(back.rows).toEqual({ from: 5, to: 4 });
  });

  it('diff: same access rule as showing a version, no audit of patient data, clear errors', async () => {
    const before = (await t.platform.audit.list({ project: 'dm' })).events.length;
    expect((await api('GET', '/projects/dm/datasets/cohort/diff?from=1&to=2', appr.token)).statusCode).toBe(200);
    const after = (await t.platform.audit.list({ project: 'dm' })).events.length;
    expect(after).toBe(before);
    const clinR = await api('GET', '/projects/dm/datasets/cohort/diff?from=1&to=2', clin.token);
    expect(clinR.statusCode).toBe(403);
    const out = await api('GET', '/projects/dm/datasets/cohort/diff?from=1&to=2', outsider.token);
    expect(out.statusCode).toBe(404);
    expect(out.json().error.code).toBe('PROJECT_NOT_FOUND');
    const missing = await api('GET', '/projects/dm/datasets/cohort/diff?from=1&to=9', sci.token);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('VERSION_NOT_FOUND');
    const bad = await api('GET', '/projects/dm/datasets/cohort/diff?from=x&to=2', sci.token);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('VALIDATION_ERROR');
    expect((await api('GET', '/projects/dm/datasets/nope/diff?from=1&to=2', sci.token)).statusCode).toBe(404);
  });

  // ---------- study parameter importance ----------
  it('ranks the parameter that drove the objective first', async () => {
    const pol = await api('PUT', '/projects/dm/datasets/cohort/policy', sci.token, {
      target: 'sex',
      positive: 'F',
      include: ['age'],
      trials: 12,
    });
    expect(pol.statusCode, pol.body).toBe(200);
    const st = await api('POST', '/projects/dm/studies', sci.token, { dataset: 'cohort', version: 2 });
    expect(st.statusCode, st.body).toBe(201);
    const studyId = st.json().id as string;
    // Trials as the study runner records them: the objective follows learning_rate, max_depth is noise.
    const rows = Array.from({ length: 12 }, (_, i) => {
      const lr = [0.01, 0.03, 0.1, 0.3][i % 4]!;
      const depth = [3, 5, 7][Math.floor(i / 4)]!;
      return {
        study_id: studyId,
        number: i,
        algorithm: 'gbdt',
        params_json: JSON.stringify({ algorithm: 'gbdt', learning_rate: lr, max_depth: depth }),
        state: i === 11 ? 'pruned' : 'complete',
        value: i === 11 ? null : 0.6 + lr + (i % 2) * 0.001,
        folds_json: '[]',
        duration_ms: 10,
        error: null,
        finished_at: nowIso(),
      };
    });
    await t.platform.store.db.insertInto('trials').values(rows).execute();
    const r = await api('GET', `/projects/dm/studies/${studyId}/importance`, clin.token);
    expect(r.statusCode, r.body).toBe(200);
    const imp = r.json();
    expect(imp.trials).toBe(11);
    expect(imp.params.map((p: { name: string }) => p.name)).toEqual(['learning_rate', 'max_depth']);
    expect(imp.params[0].importance).toBeGreaterThan(0.9);
    expect(imp.params[0].importance + imp.params[1].importance).toBeCloseTo(1, 10);
    expect(imp.params[0].levels).toBe(4);
    // The trial table and history come with the study itself.
    const study = (await api('GET', `/projects/dm/studies/${studyId}`, sci.token)).json();
    expect(study.trialsList).toHaveLength(12);
    expect(study.trialsList[0]).toMatchObject({ number: 0, params: { learning_rate: 0.01 }, durationMs: 10 });
    expect((await api('GET', `/projects/dm/studies/${studyId}/importance`, outsider.token)).statusCode).toBe(404);
    expect((await api('GET', `/projects/dm/studies/nope/importance`, sci.token)).json().error.code).toBe(
      'STUDY_NOT_FOUND',
    );
  });

  // ---------- deployment try + sample ----------
  it('tries a deployment with a FHIR bundle through the CDS service and logs the prediction as console', async () => {
    const p = diabeticPatient('pt-try');
    const resources = [p.patient, ...p.conditions, ...p.hba1c, ...p.egfr, ...p.bmi, ...p.hbsag, ...p.antiHbc];
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) };
    const r = await api('POST', '/projects/dm/deployments/dm-response/try', appr.token, { bundle });
    expect(r.statusCode, r.body).toBe(200);
    const res = r.json();
    expect(res.patientId).toBe('pt-try');
    expect(res.hook).toBe('patient-view');
    expect(res.cards).toHaveLength(1);
    const card = res.cards[0];
    expect(['info', 'warning']).toContain(card.indicator);
    expect(card.summary).toMatch(/HbA1c response/);
    expect(card.source.label).toBeTruthy();
    const logged = await t.platform.store.db
      .selectFrom('predictions')
      .selectAll()
      .where('patient_ref', '=', 'Patient/pt-try')
      .execute();
    expect(logged).toHaveLength(1);
    expect(logged[0]!.source).toBe('console');
    expect(logged[0]!.caller).toBe('appr');
    const ev = (await t.platform.audit.list({ project: 'dm', action: 'cds.hook' })).events;
    const mine = ev.find((e) => e.details.patient === 'Patient/pt-try');
    expect(mine).toMatchObject({ actor: 'appr', outcome: 'success' });
    expect(mine!.details.source).toBe('console');
    // An array of resources works as well, and a patient the deployment does not apply to gets no card.
    const young = { ...p.patient, id: 'pt-young', birthDate: '2015-01-01' };
    const none = await api('POST', '/projects/dm/deployments/dm-response/try', appr.token, {
      bundle: [young, ...p.conditions, ...p.hba1c],
    });
    expect(none.statusCode, none.body).toBe(200);
    expect(none.json().cards).toEqual([]);
  });

  it('try: needs deployment.read and model.predict; bad input answers clearly', async () => {
    const p = diabeticPatient('pt-x');
    const bundle = [p.patient, ...p.conditions, ...p.hba1c];
    // steward reads deployments but may not predict; clinician predicts but may not read deployments.
    const s = await api('POST', '/projects/dm/deployments/dm-response/try', steward.token, { bundle });
    expect(s.statusCode).toBe(403);
    const c = await api('POST', '/projects/dm/deployments/dm-response/try', clin.token, { bundle });
    expect(c.statusCode).toBe(403);
    const o = await api('POST', '/projects/dm/deployments/dm-response/try', outsider.token, { bundle });
    expect(o.statusCode).toBe(404);
    expect(o.json().error.code).toBe('PROJECT_NOT_FOUND');
    const nodep = await api('POST', '/projects/dm/deployments/nope/try', appr.token, { bundle });
    expect(nodep.statusCode).toBe(404);
    const empty = await api('POST', '/projects/dm/deployments/dm-response/try', appr.token, {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('TRY_INPUT_REQUIRED');
    const junk = await api('POST', '/projects/dm/deployments/dm-response/try', appr.token, { bundle: { a: 1 } });
    expect(junk.statusCode).toBe(400);
    expect(junk.json().error.code).toBe('FHIR_INVALID');
    const noPatient = await api('POST', '/projects/dm/deployments/dm-response/try', appr.token, {
      bundle: p.hba1c,
    });
    expect(noPatient.json().error.code).toBe('CDS_CONTEXT_INVALID');
    // Nothing was logged by refused tries.
    const logged = await t.platform.store.db
      .selectFrom('predictions')
      .select('id')
      .where('patient_ref', '=', 'Patient/pt-x')
      .execute();
    expect(logged).toEqual([]);
  });

  it('offers a synthetic sample patient the deployment applies to, which then gets a card', async () => {
    const r = await api('GET', '/projects/dm/deployments/dm-response/sample', sci.token);
    expect(r.statusCode, r.body).toBe(200);
    const s = r.json();
    expect(s.synthetic).toBe(true);
    expect(s.bundle.resourceType).toBe('Bundle');
    expect(typeof s.patientId).toBe('string');
    expect(s.applies).toBe(true);
    expect((await api('GET', '/projects/dm/deployments/dm-response/sample', clin.token)).statusCode).toBe(403);
    expect((await api('GET', '/projects/dm/deployments/dm-response/sample', outsider.token)).statusCode).toBe(404);
    const tried = await api('POST', '/projects/dm/deployments/dm-response/try', sci.token, { bundle: s.bundle });
    expect(tried.statusCode, tried.body).toBe(200);
    expect(tried.json().patientId).toBe(s.patientId);
    expect(tried.json().cards.length).toBe(1);
  });

  it('a withdrawn deployment cannot be tried', async () => {
    const dep = await api('PUT', '/projects/dm/deployments/dm-old', appr.token, dmDeployment(modelVersion));
    expect(dep.statusCode, dep.body).toBe(201);
    expect(
      (await api('POST', '/projects/dm/deployments/dm-old/withdraw', appr.token, { reason: 'x' })).statusCode,
    ).toBe(200);
    const p = diabeticPatient('pt-w');
    const r = await api('POST', '/projects/dm/deployments/dm-old/try', appr.token, {
      bundle: [p.patient, ...p.conditions, ...p.hba1c],
    });
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe('DEPLOYMENT_NOT_ACTIVE');
  });

  // ---------- typed answers of the read routes the console uses ----------
  it('the read routes answer within their documented response schemas (the serializer checks every field)', async () => {
    const get = async (url: string, token = owner.token) => {
      const r = await api('GET', url, token);
      expect(r.statusCode, `${url}: ${r.body}`).toBe(200);
      return r.json();
    };
    expect((await get('/projects/dm')).roles).toEqual(['owner']);
    expect((await get('/projects/dm/members')).members.length).toBeGreaterThanOrEqual(5);
    expect((await get('/projects/dm/datasets')).datasets[0]).toMatchObject({ name: 'cohort', latestVersion: 2 });
    expect(
      (await get('/projects/dm/datasets/cohort/versions')).versions.map((v: { version: number }) => v.version),
    ).toEqual([2, 1]);
    const v2 = await get('/projects/dm/datasets/cohort/versions/2');
    expect(v2.schema.columns.map((c: { name: string }) => c.name)).toEqual(['id', 'age', 'sex', 'hba1c', 'egfr']);
    expect(v2.schema.columns[1].histogram.counts.length).toBeGreaterThan(0);
    expect((await get('/projects/dm/studies', sci.token)).studies.length).toBe(1);
    const models = (await get('/projects/dm/models', sci.token)).versions;
    expect(models[0]).toMatchObject({ model: 'responder', version: modelVersion, stage: 'approved' });
    expect(models[0].aucCi.lower).toBeLessThanOrEqual(models[0].auc);
    const mv = await get(`/projects/dm/models/responder/versions/${modelVersion}`, sci.token);
    expect(mv.metrics.roc.x.length).toBe(mv.metrics.roc.y.length);
    expect(mv.metrics.confusion).toHaveProperty('tp');
    expect(Array.isArray(mv.metrics.importance)).toBe(true); // the fixture model records none
    expect(mv.stageHistory.map((h: { to: string }) => h.to)).toContain('approved');
    expect(mv.card.model).toBe('responder');
    const lineage = await get(
      `/projects/dm/lineage?model=responder&modelVersion=${modelVersion}&direction=both`,
      sci.token,
    );
    expect(lineage.nodes.some((n: { kind: string }) => n.kind === 'deployment')).toBe(true);
    const deps = (await get('/projects/dm/deployments', sci.token)).deployments;
    const dm = deps.find((d: { name: string }) => d.name === 'dm-response');
    expect(dm.predictions).toBeGreaterThanOrEqual(1);
    expect(dm.spec.mapping.length).toBeGreaterThan(0);
    const dmDetail = await get('/projects/dm/deployments/dm-response', sci.token);
    expect(dmDetail.history.length).toBe(1);
    // The detail and the lineage node count the same predictions as the list.
    expect(dmDetail).toMatchObject({ predictions: dm.predictions, overrideRate: dm.overrideRate });
    const depNode = lineage.nodes.find((n: { kind: string; id: string }) => n.kind === 'deployment' && n.id === dm.id);
    expect(depNode.detail).toMatchObject({ predictions: dm.predictions });
    const page = await get('/audit?project=dm&limit=5');
    expect(page.events).toHaveLength(5);
    expect(typeof page.nextBefore).toBe('number');
    const verify = await get('/audit/verify', t.admin.token);
    expect(verify.ok).toBe(true);
  });

  // ---------- owners' user picker ----------
  it('lists active user names to owners (members.manage) only', async () => {
    const r = await api('GET', '/projects/dm/users', owner.token);
    expect(r.statusCode).toBe(200);
    const names = r.json().users.map((u: { name: string }) => u.name);
    expect(names).toEqual(expect.arrayContaining(['olivia', 'sci', 'outsider']));
    expect(Object.keys(r.json().users[0])).toEqual(['name']);
    expect((await api('GET', '/projects/dm/users', sci.token)).statusCode).toBe(403);
    expect((await api('GET', '/projects/dm/users', outsider.token)).statusCode).toBe(404);
  });

  // ---------- recent activity ----------
  it("shows the project's recent activity, newest first, only of kinds the caller may see", async () => {
    const ev = (await api('GET', '/projects/dm/activity', owner.token)).json().events as {
      at: string;
      actor: string;
      kind: string;
      subject: string;
      detail: Record<string, unknown>;
    }[];
    const kinds = new Set(ev.map((e) => e.kind));
    expect([...kinds].sort()).toEqual([
      'dataset.version',
      'deployment.version',
      'model.stage',
      'model.version',
      'study.start',
    ]);
    expect(ev.map((e) => e.at)).toEqual([...ev.map((e) => e.at)].sort().reverse());
    expect(ev).toContainEqual(
      expect.objectContaining({ kind: 'dataset.version', subject: 'cohort@2', actor: 'olivia' }),
    );
    expect(ev).toContainEqual(
      expect.objectContaining({
        kind: 'model.stage',
        subject: `responder@${modelVersion}`,
        actor: 'appr',
        detail: expect.objectContaining({ to: 'approved', reason: 'validated' }),
      }),
    );
    expect(ev).toContainEqual(expect.objectContaining({ kind: 'deployment.version', subject: 'dm-response@1' }));
    // A clinician sees models and studies but no datasets or deployments.
    const clinKinds = new Set(
      ((await api('GET', '/projects/dm/activity', clin.token)).json().events as { kind: string }[]).map((e) => e.kind),
    );
    expect(clinKinds.has('dataset.version')).toBe(false);
    expect(clinKinds.has('deployment.version')).toBe(false);
    expect(clinKinds.has('model.stage')).toBe(true);
    expect((await api('GET', '/projects/dm/activity?limit=2', owner.token)).json().events).toHaveLength(2);
    expect((await api('GET', '/projects/dm/activity?limit=0', owner.token)).statusCode).toBe(400);
    expect((await api('GET', '/projects/dm/activity', outsider.token)).statusCode).toBe(404);
  });

  // ---------- what the caller may do with a model version ----------
  it('says whether the caller may approve or retire a version, with the reason approving is not offered', async () => {
    const actions = async (version: number, token: string) =>
      (await api('GET', `/projects/dm/models/responder/versions/${version}`, token)).json().actions;
    // The approved version: nobody may approve it again; approvers and owners may retire it.
    expect(await actions(modelVersion, appr.token)).toEqual({
      approve: false,
      approveBlockedBy: 'stage',
      retire: true,
    });
    expect(await actions(modelVersion, owner.token)).toEqual({
      approve: false,
      approveBlockedBy: 'role',
      retire: true,
    });
    expect(await actions(modelVersion, sci.token)).toEqual({ approve: false, approveBlockedBy: 'role', retire: false });
    // A candidate the approver trained: the two-person rule keeps them from approving it, and the server agrees.
    const own = (await registerDiabetesModel(t.platform, 'dm', 'appr')).version;
    expect(await actions(own, appr.token)).toEqual({
      approve: false,
      approveBlockedBy: 'two-person-rule',
      retire: true,
    });
    const refused = await api('POST', `/projects/dm/models/responder/versions/${own}/approve`, appr.token, {
      reason: 'mine',
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('TWO_PERSON_RULE');
    // A candidate someone else trained: offered, and it works.
    const other = (await registerDiabetesModel(t.platform, 'dm', 'sci')).version;
    expect(await actions(other, appr.token)).toEqual({ approve: true, approveBlockedBy: null, retire: true });
    const ok = await api('POST', `/projects/dm/models/responder/versions/${other}/approve`, appr.token, {
      reason: 'fine',
    });
    expect(ok.statusCode, ok.body).toBe(200);
  });
});

describe('paramImportance', () => {
  const trial = (number: number, value: number | null, params: Record<string, unknown>, state = 'complete') => ({
    number,
    value,
    params,
    state,
  });

  it('needs a few completed trials and ignores failed or pruned ones', () => {
    const r = paramImportance([trial(0, 0.7, { a: 1 }), trial(1, 0.8, { a: 2 }), trial(2, null, { a: 3 }, 'failed')]);
    expect(r.params).toEqual([]);
    expect(r.trials).toBe(2);
    expect(r.note).toMatch(/at least/);
  });

  it('gives a constant parameter nothing and a categorical driver everything', () => {
    const ts = Array.from({ length: 8 }, (_, i) =>
      trial(i, i % 2 ? 0.9 : 0.6, { algorithm: i % 2 ? 'gbdt' : 'logistic', seed: 1 }),
    );
    const r = paramImportance(ts);
    expect(r.params.map((p) => p.name)).toEqual(['algorithm']);
    expect(r.params[0]!.importance).toBe(1);
    expect(r.params[0]!.etaSquared).toBeCloseTo(1, 12);
  });

  it('bins a continuous parameter and finds its monotone effect over a noise parameter', () => {
    const ts = Array.from({ length: 40 }, (_, i) => {
      const x = i / 40;
      const noise = ((i * 7919) % 13) / 13;
      return trial(i, x * x + 0.01 * noise, { x, noise });
    });
    const r = paramImportance(ts);
    expect(r.params[0]!.name).toBe('x');
    expect(r.params[0]!.levels).toBe(5);
    expect(r.params[0]!.etaSquared).toBeGreaterThan(0.8);
    expect(r.params[1]!.etaSquared).toBeLessThan(0.3);
  });

  it('says so when every trial reached the same value', () => {
    const r = paramImportance(Array.from({ length: 5 }, (_, i) => trial(i, 0.5, { a: i })));
    expect(r.note).toMatch(/same value/);
    expect(r.params.every((p) => p.importance === 0)).toBe(true);
  });
});

describe('shiftToRecent', () => {
  it('moves every date by whole days so the newest event is a week before now, ages kept', () => {
    const rec = {
      resourceType: 'Bundle',
      entry: [
        { resource: { resourceType: 'Patient', birthDate: '1960-03-01' } },
        { resource: { resourceType: 'Observation', effectiveDateTime: '2024-12-01T08:30:00Z', valueString: 'x' } },
        { resource: { resourceType: 'Condition', onsetDateTime: '2020-01-15' } },
      ],
    };
    const out = shiftToRecent(rec, new Date('2026-11-26T12:00:00Z'));
    const [pt, obs, cond] = out.entry.map((e) => e.resource as unknown as Record<string, string>);
    expect(obs!.effectiveDateTime).toBe('2026-11-19T08:30:00.000Z');
    const days = (Date.parse('2026-11-19T08:30:00Z') - Date.parse('2024-12-01T08:30:00Z')) / 86_400_000;
    expect(Number.isInteger(days)).toBe(true);
    expect(Date.parse(`${cond!.onsetDateTime}T00:00:00Z`) - Date.parse('2020-01-15T00:00:00Z')).toBe(days * 86_400_000);
    expect(Date.parse(`${pt!.birthDate}T00:00:00Z`) - Date.parse('1960-03-01T00:00:00Z')).toBe(days * 86_400_000);
    expect(obs!.valueString).toBe('x');
    // The input is not modified.
    expect(rec.entry[1]!.resource.effectiveDateTime).toBe('2024-12-01T08:30:00Z');
  });
});
