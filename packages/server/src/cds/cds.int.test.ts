// The CDS Hooks 2.0 service end to end on SQLite and PostgreSQL: an EHR-shaped client with its own signing keys
// (generated here by jose) calls discovery, patient-view, order-select and feedback; every bad input and every bad
// JWT is refused with an OperationOutcome and stores nothing. A small FHIR server stub on 127.0.0.1 stands in for a
// vendor EHR's FHIR endpoint, and one test talks to a real listening server over a socket.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { GbdtModel } from '@ichigen/ml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { main } from '../cli/main.js';
import {
  bearer,
  DIALECTS,
  makeTestPlatform,
  pushPlaceholderCohort,
  type TestPlatform,
} from '../test-support/platform.js';
import { buildApp } from '../http/app.js';
import { inputsDigest } from '../serving/predict.js';
import {
  ATC,
  bundle,
  LOINC,
  diabeticPatient,
  dmDeployment,
  hookRequest,
  order,
  patient,
  prefetchFor,
  quantity,
  registerDiabetesModel,
} from './fixtures.js';

const ISS = 'https://ehr.example.org/cds-client';
const BASE = 'https://ichigen.hospital.example';
const hbvRule = JSON.parse(
  readFileSync(new URL('../rules/examples/hbv-reactivation.rule.json', import.meta.url), 'utf8'),
) as {
  spec: unknown;
  description: string;
};
const hbvDeployment = JSON.parse(
  readFileSync(new URL('../rules/examples/hbv-reactivation.deployment.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

type Key = { privateKey: CryptoKey; jwk: JWK; alg: string; kid: string };
const makeKey = async (alg: 'ES256' | 'ES384' | 'RS384', kid: string): Promise<Key> => {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, alg, kid };
};

/**
 * Every card field per the CDS Hooks 2.0 Card, Suggestion, Action, Coding and Link tables, and no empty strings or
 * arrays anywhere. With `patientId`, a created resource that has a subject must be about that patient.
 */
function expectSpecCard(card: Record<string, unknown>, patientId?: string) {
  const allowed = [
    'uuid',
    'summary',
    'detail',
    'indicator',
    'source',
    'suggestions',
    'selectionBehavior',
    'overrideReasons',
    'links',
  ];
  expect(
    Object.keys(card).every((k) => allowed.includes(k)),
    JSON.stringify(Object.keys(card)),
  ).toBe(true);
  expect(card.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(typeof card.summary).toBe('string');
  expect((card.summary as string).length).toBeLessThan(140);
  expect(['info', 'warning', 'critical']).toContain(card.indicator);
  const source = card.source as { label: string; url?: string; topic?: Record<string, string> };
  expect(source.label.length).toBeGreaterThan(0);
  if (source.url !== undefined) expect(source.url).toMatch(/^https?:\/\//);
  if (source.topic) expect(Object.keys(source.topic).sort()).toEqual(['code', 'display', 'system']);
  // Coding: code and system REQUIRED; display REQUIRED for override reasons.
  for (const c of (card.overrideReasons ?? []) as Record<string, unknown>[]) {
    expect(Object.keys(c).sort(), JSON.stringify(c)).toEqual(['code', 'display', 'system']);
    for (const k of ['code', 'display', 'system']) expect(typeof c[k], `overrideReasons ${k}`).toBe('string');
  }
  if (card.suggestions) {
    expect(card.selectionBehavior).toBe('at-most-one');
    for (const s of card.suggestions as Record<string, unknown>[]) {
      expect(Object.keys(s).every((k) => ['label', 'uuid', 'isRecommended', 'actions'].includes(k))).toBe(true);
      expect(typeof s.label).toBe('string');
      expect(typeof s.uuid).toBe('string');
      for (const a of (s.actions ?? []) as Record<string, unknown>[]) {
        expect(['create', 'update', 'delete']).toContain(a.type);
        expect(typeof a.description).toBe('string');
        const r = a.resource as Record<string, unknown> | undefined;
        // create: the new resource; update: the resource in its entirety (with its id); delete: resourceId.
        if (a.type !== 'delete') expect(typeof r?.resourceType, JSON.stringify(a)).toBe('string');
        if (a.type === 'update') expect(typeof r?.id).toBe('string');
        if (a.type === 'delete') {
          expect(r).toBeUndefined();
          expect(a.resourceId).toBeDefined();
        }
        if (a.type === 'create' && patientId !== undefined && r && 'subject' in r)
          expect(r.subject).toEqual({ reference: `Patient/${patientId}` });
      }
    }
  } else expect(card.selectionBehavior).toBeUndefined();
  for (const l of (card.links ?? []) as Record<string, unknown>[]) {
    expect(['absolute', 'smart']).toContain(l.type);
    expect(typeof l.label).toBe('string');
    expect(l.url).toMatch(/^https?:\/\//);
    // appContext is valid on smart links only.
    if (l.appContext !== undefined) expect(l.type).toBe('smart');
  }
  const walk = (v: unknown, at: string) => {
    if (v === '') throw new Error(`empty string at ${at}`);
    if (Array.isArray(v)) {
      if (v.length === 0) throw new Error(`empty array at ${at}`);
      v.forEach((x, i) => walk(x, `${at}[${i}]`));
    } else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
  };
  walk(card, 'card');
}

describe.each(DIALECTS)('CDS Hooks service (%s)', (dialect) => {
  let t: TestPlatform;
  let es256: Key;
  let es384: Key;
  let rs384: Key;
  let jkuKey: Key;
  let approver: { token: string; name: string };
  let scientist: { token: string; name: string };
  let stub: http.Server;
  let stubUrl = '';
  const stubSeen: { url: string; auth: string | undefined }[] = [];
  let stubMode: 'fhir' | 'junk' = 'fhir';
  let modelVersion = 0;

  const jwt = async (
    aud: string,
    o: { key?: Key; iss?: string; exp?: number; iat?: number; jti?: string; jku?: string; alg?: string } = {},
  ) => {
    const key = o.key ?? es256;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: o.alg ?? key.alg, kid: key.kid, typ: 'JWT', ...(o.jku ? { jku: o.jku } : {}) })
      .setIssuer(o.iss ?? ISS)
      .setSubject('client-id-123')
      .setAudience(aud)
      .setIssuedAt(o.iat ?? now)
      .setExpirationTime(o.exp ?? now + 300)
      .setJti(o.jti ?? crypto.randomUUID())
      .sign(key.privateKey);
  };
  const call = async (path: string, payload?: unknown, token?: string) =>
    t.app.inject({
      method: payload === undefined ? 'GET' : 'POST',
      url: path,
      headers: {
        authorization: `Bearer ${token ?? (await jwt(`${BASE}${path}`))}`,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
    });
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: bearer(token),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const predictionCount = async () =>
    Number(
      (
        await t.platform.store.db
          .selectFrom('predictions')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    [es256, es384, rs384, jkuKey] = await Promise.all([
      makeKey('ES256', 'k1'),
      makeKey('ES384', 'k2'),
      makeKey('RS384', 'k3'),
      makeKey('ES256', 'jku-1'),
    ]);
    scientist = await t.user('sci');
    approver = await t.user('appr');
    for (const slug of ['diabetes', 'hbv', 'oncology']) {
      expect((await api('POST', '/projects', t.admin.token, { slug, name: slug })).statusCode).toBe(201);
      for (const [u, role] of [
        ['sci', 'scientist'],
        ['appr', 'approver'],
      ])
        expect((await api('POST', `/projects/${slug}/members`, t.admin.token, { user: u, role })).statusCode).toBe(201);
    }
    const push = await pushPlaceholderCohort(t, 'diabetes');
    expect(push.statusCode, push.body).toBe(201);
    modelVersion = (await registerDiabetesModel(t.platform, 'diabetes', 'sci')).version;

    // A FHIR server and a JWKS host on loopback, standing in for the vendor EHR.
    stub = http.createServer((req, res) => {
      stubSeen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.url === '/jwks.json') {
        res.setHeader('content-type', 'application/json');
        return res.end(JSON.stringify({ keys: [jkuKey.jwk] }));
      }
      if (stubMode === 'junk') return res.end('<html>not fhir</html>');
      const p = diabeticPatient('pt-fetch');
      const u = new URL(req.url ?? '/', 'http://x');
      const out =
        u.pathname === '/fhir/Patient/pt-fetch'
          ? p.patient
          : u.pathname === '/fhir/Condition'
            ? bundle(p.conditions)
            : u.pathname === '/fhir/Observation'
              ? bundle(
                  [...p.hba1c, ...p.egfr, ...p.bmi].filter(
                    (o) => `http://loinc.org|${o.code.coding![0]!.code}` === u.searchParams.get('code'),
                  ),
                )
              : bundle([]);
      res.setHeader('content-type', 'application/fhir+json');
      res.end(JSON.stringify(out));
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;

    const iss = await api('PUT', '/cds/issuers', t.admin.token, {
      iss: ISS,
      jwks: { keys: [es256.jwk, es384.jwk, rs384.jwk] },
      jkuAllow: [`${stubUrl}/jwks.json`],
      projects: ['diabetes', 'hbv'],
      baseUrl: BASE,
    });
    expect(iss.statusCode, iss.body).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await new Promise((r) => stub?.close(r));
    await t?.close();
  });

  it('deploys only approved, fully mapped versions; rule models need a second person to approve', async () => {
    const candidate = await api(
      'PUT',
      '/projects/diabetes/deployments/dm-response',
      approver.token,
      dmDeployment(modelVersion),
    );
    expect(candidate.statusCode).toBe(409);
    expect(candidate.json().error.code).toBe('NOT_APPROVED');
    const ok = await api(
      'POST',
      `/projects/diabetes/models/responder/versions/${modelVersion}/approve`,
      approver.token,
      { reason: 'validated' },
    );
    expect(ok.statusCode, ok.body).toBe(200);
    const d = dmDeployment(modelVersion);
    const incomplete = await api('PUT', '/projects/diabetes/deployments/dm-response', approver.token, {
      ...d,
      mapping: d.mapping.slice(1),
    });
    expect(incomplete.statusCode).toBe(400);
    expect(incomplete.json().error).toMatchObject({
      code: 'DEPLOYMENT_MAPPING_INCOMPLETE',
      details: { missing: ['hba1c_baseline'] },
    });
    const byScientist = await api('PUT', '/projects/diabetes/deployments/dm-response', scientist.token, d);
    expect(byScientist.statusCode).toBe(403);
    const created = await api('PUT', '/projects/diabetes/deployments/dm-response', approver.token, d);
    expect(created.statusCode, created.body).toBe(201);
    expect((await api('PUT', '/projects/diabetes/deployments/dm-response', approver.token, d)).json()).toMatchObject({
      created: false,
      version: 1,
    });
    // A second diabetes deployment that does not apply to women: the patient below must get no card from it.
    const male = await api(
      'PUT',
      '/projects/diabetes/deployments/dm-men',
      approver.token,
      dmDeployment(modelVersion, {
        applicability: { sex: ['male'] },
        card: { ...d.card, title: 'Men only' },
      }),
    );
    expect(male.statusCode, male.body).toBe(201);
    // Deployments are versioned and audited: a changed spec is version 2, with both in the history; withdrawn after.
    const vSpec = dmDeployment(modelVersion, { applicability: { sex: ['male'] }, card: { ...d.card, title: 'V1' } });
    expect((await api('PUT', '/projects/diabetes/deployments/dm-versioned', approver.token, vSpec)).statusCode).toBe(
      201,
    );
    const v2 = await api('PUT', '/projects/diabetes/deployments/dm-versioned', approver.token, {
      ...vSpec,
      card: { ...vSpec.card, title: 'V2' },
    });
    expect(v2.statusCode, v2.body).toBe(201);
    expect(v2.json()).toMatchObject({ created: true, version: 2 });
    const shown = (await api('GET', '/projects/diabetes/deployments/dm-versioned', approver.token)).json();
    expect(shown.version).toBe(2);
    expect(shown.spec.card.title).toBe('V2');
    expect(shown.history.map((h: { version: number }) => h.version)).toEqual([2, 1]);
    const depEvents = (await t.platform.audit.list({ project: 'diabetes' })).events.filter(
      (e) => e.target?.includes('dm-versioned') && e.action.startsWith('deployment.'),
    );
    expect(depEvents.map((e) => e.action).sort()).toEqual(['deployment.create', 'deployment.update']);
    expect(depEvents.every((e) => e.actor === approver.name && e.outcome === 'success')).toBe(true);
    const gone = await api('POST', '/projects/diabetes/deployments/dm-versioned/withdraw', approver.token, {
      reason: 'test of versioning',
    });
    expect(gone.statusCode, gone.body).toBe(200);

    // Rule models: the author cannot approve; another approver can.
    const reg = await api('POST', '/projects/hbv/rules/hbv-reactivation/versions', approver.token, hbvRule);
    expect(reg.statusCode, reg.body).toBe(403); // approvers do not register models
    expect(
      (await api('POST', '/projects/hbv/rules/hbv-reactivation/versions', scientist.token, hbvRule)).statusCode,
    ).toBe(201);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects/hbv/members',
      headers: bearer(t.admin.token),
      payload: { user: 'sci', role: 'approver' },
    });
    const self = await api('POST', '/projects/hbv/rules/hbv-reactivation/versions/1/approve', scientist.token, {
      reason: 'mine',
    });
    expect(self.statusCode).toBe(403);
    expect(self.json().error.code).toBe('TWO_PERSON_RULE');
    expect(
      (
        await api('POST', '/projects/hbv/rules/hbv-reactivation/versions/1/approve', approver.token, {
          reason: 'JSH guideline',
        })
      ).statusCode,
    ).toBe(200);
    const hbv = await api('PUT', '/projects/hbv/deployments/hbv-reactivation', approver.token, hbvDeployment);
    expect(hbv.statusCode, hbv.body).toBe(201);
    // A project the EHR issuer may not reach: its deployment must never answer this EHR.
    expect(
      (
        await api('POST', '/projects/oncology/rules/everyone/versions', scientist.token, {
          spec: {
            features: [{ name: 'x', kind: 'boolean' }],
            output: { kind: 'boolean', rule: { not: { present: 'x' } } },
          },
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (await api('POST', '/projects/oncology/rules/everyone/versions/1/approve', approver.token, { reason: 'r' }))
        .statusCode,
    ).toBe(200);
    const onc = await api('PUT', '/projects/oncology/deployments/everyone', approver.token, {
      target: { rule: 'everyone', version: 1 },
      applicability: {},
      mapping: [{ feature: 'x', resource: 'Condition', aggregate: 'present' }],
      card: { title: 'Everyone', bands: [{ equals: true, indicator: 'info', summary: 'Should never reach this EHR' }] },
    });
    expect(onc.statusCode, onc.body).toBe(201);
  });

  it('refuses card templates that would break CDS Hooks 2.0, with the field named, and stores nothing', async () => {
    const card = hbvDeployment.card as { bands: Record<string, unknown>[]; links: Record<string, unknown>[] };
    const band = card.bands[0]!;
    const withAction = (action: Record<string, unknown>) => ({
      ...hbvDeployment,
      card: { ...card, bands: [{ ...band, suggestions: [{ label: 'Do it', actions: [action] }] }] },
    });
    const cases: [string, unknown, RegExp][] = [
      [
        'an override reason without system',
        { ...hbvDeployment, card: { ...card, overrideReasons: [{ code: 'x', display: 'Not now' }] } },
        /at card\.overrideReasons\.0\.system: /,
      ],
      [
        'a create action without resource',
        withAction({ type: 'create', description: 'Order HBV-DNA' }),
        /at card\.bands\.0\.suggestions\.0\.actions\.0\.resource: a "create" action needs the resource/,
      ],
      [
        'an update action without resource',
        withAction({ type: 'update', description: 'Change the order', resourceId: ['ServiceRequest/1'] }),
        /at card\.bands\.0\.suggestions\.0\.actions\.0\.resource: an "update" action needs the resource/,
      ],
      [
        'an update action whose resource has no id',
        withAction({ type: 'update', description: 'Change it', resource: { resourceType: 'ServiceRequest' } }),
        /actions\.0\.resource\.id: an "update" action needs the resource id/,
      ],
      [
        'a delete action naming nothing',
        withAction({ type: 'delete', description: 'Cancel the order' }),
        /actions\.0\.resourceId: a "delete" action needs "resourceId"/,
      ],
      [
        'appContext on an absolute link',
        { ...hbvDeployment, card: { ...card, links: [{ ...card.links[0], appContext: '{"tab":"hbv"}' }] } },
        /at card\.links\.0\.appContext: "appContext" is for "smart" links only/,
      ],
    ];
    for (const [what, spec, message] of cases) {
      const r = await api('PUT', '/projects/hbv/deployments/hbv-bad', approver.token, spec);
      expect(r.statusCode, `${what}: ${r.body}`).toBe(400);
      expect(r.json().error.code, what).toBe('DEPLOYMENT_INVALID');
      expect(r.json().error.message, what).toMatch(message);
    }
    expect((await api('GET', '/projects/hbv/deployments/hbv-bad', approver.token)).statusCode).toBe(404);
  });

  it('discovery lists one service per hook with the prefetch templates', async () => {
    const unsigned = await t.app.inject({ method: 'GET', url: '/cds-services' });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.json().resourceType).toBe('OperationOutcome');
    const res = await call('/cds-services');
    expect(res.statusCode, res.body).toBe(200);
    const services = res.json().services as { id: string; hook: string; prefetch: Record<string, string> }[];
    expect(services.map((s) => `${s.id}:${s.hook}`)).toEqual([
      'ichigen-order-select:order-select',
      'ichigen-patient-view:patient-view',
    ]);
    const pv = services.find((s) => s.hook === 'patient-view')!;
    expect(pv.prefetch['observation-4548-4']).toBe(
      'Observation?patient={{context.patientId}}&code=http://loinc.org|4548-4',
    );
    expect(pv.prefetch).toMatchObject({
      patient: 'Patient/{{context.patientId}}',
      conditions: 'Condition?patient={{context.patientId}}',
    });
    expect(services.find((s) => s.hook === 'order-select')!.prefetch['observation-16933-4']).toBeDefined();
  });

  it('patient-view: cards from every applicable model and none from the others, explained, logged and audited', async () => {
    const p = diabeticPatient();
    const req = hookRequest('patient-view', 'pt-dm', { prefetch: prefetchFor(p) });
    const before = await predictionCount();
    const res = await call('/cds-services/ichigen-patient-view', req);
    expect(res.statusCode, res.body).toBe(200);
    const cards = res.json().cards as Record<string, unknown>[];
    expect(cards).toHaveLength(1);
    const card = cards[0]!;
    expectSpecCard(card, 'pt-dm');
    expect((card.source as { topic: { code: string } }).topic.code).toBe('dm-response');
    expect(card.detail).toMatch(/Estimated probability: \d+ %/);
    expect(card.detail).toMatch(/(latest HbA1c|eGFR|age|BMI|sex) = .* (raised|lowered) the estimate/);
    expect((card.source as { url: string }).url).toBe(
      `${BASE}/api/v1/projects/diabetes/models/responder/versions/${modelVersion}/card.md`,
    );
    expect(await predictionCount()).toBe(before + 1);
    const log = await api('GET', '/projects/diabetes/predictions?source=cds', approver.token);
    const row = log.json().predictions[0];
    expect(row).toMatchObject({ hookInstance: req.hookInstance, patient: 'Patient/pt-dm', source: 'cds' });
    // IFCC 64 mmol/mol is older; the newest HbA1c (9.4 %) is what the model saw.
    expect(row.features.hba1c_baseline).toBeCloseTo(9.4, 6);
    expect(row.features).toMatchObject({ sex: 'F', egfr: 48, bmi: 31.2, drug_class: null });
    expect(row.output.card).toBe(card.uuid);
    const audit = await t.platform.store.db
      .selectFrom('audit_events')
      .select('details_json')
      .where('action', '=', 'cds.hook')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    const decisions = (
      JSON.parse(audit.details_json) as { decisions: { deployment: string; applies: boolean; reasons: string[] }[] }
    ).decisions;
    expect(decisions.find((x) => x.deployment === 'dm-men@1')).toMatchObject({
      applies: false,
      reasons: ['sex female is not one of male'],
    });
    expect(decisions.find((x) => x.deployment === 'dm-response@1')!.reasons[0]).toMatch(/E11\.9.*matches icd10 E11/);
  });

  it('a patient to whom no deployment applies gets 200 {"cards":[]}', async () => {
    const before = await predictionCount();
    const res = await call(
      '/cds-services/ichigen-patient-view',
      hookRequest('patient-view', 'pt-well', {
        prefetch: {
          patient: patient('pt-well', 'female', '1990-01-01'),
          conditions: null,
          'observation-4548-4': null,
          'observation-62238-1': null,
          'observation-39156-5': null,
          medications: null,
        },
      }),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ cards: [] });
    expect(await predictionCount()).toBe(before);
  });

  it('order-select: draft oral hypoglycemic feeds "proposed drug"; the HBV rule fires a critical card; feedback is stored', async () => {
    const p = diabeticPatient();
    const drafts = bundle([
      order('mr-1', 'pt-dm', 'A10BK01', 'dapagliflozin'),
      order('mr-2', 'pt-dm', 'L01XC02', 'rituximab'),
    ]);
    const req = hookRequest('order-select', 'pt-dm', {
      context: { selections: ['MedicationRequest/mr-1', 'MedicationRequest/mr-2'], draftOrders: drafts },
      prefetch: prefetchFor(p),
    });
    const res = await call('/cds-services/ichigen-order-select', req);
    expect(res.statusCode, res.body).toBe(200);
    const cards = res.json().cards as Record<string, unknown>[];
    for (const c of cards) expectSpecCard(c, 'pt-dm');
    const hbv = cards.find((c) => (c.source as { topic: { code: string } }).topic.code === 'hbv-reactivation')!;
    expect(hbv).toMatchObject({
      indicator: 'critical',
      summary: 'HBV reactivation risk: order HBV-DNA monitoring / consider prophylaxis',
    });
    expect(hbv.detail).toMatch(/anti-HBc = positive/);
    expect(hbv.detail).toMatch(/a chemotherapy order is present/);
    // The suggested order is for this patient: FHIR R4 requires ServiceRequest.subject, which the shipped rule's
    // template leaves to the card (it cannot know the patient).
    const suggested = (hbv.suggestions as { actions: { resource: Record<string, unknown> }[] }[])[0]!.actions[0]!
      .resource;
    expect(suggested).toMatchObject({
      resourceType: 'ServiceRequest',
      status: 'draft',
      intent: 'proposal',
      subject: { reference: 'Patient/pt-dm' },
    });
    const shipped = (hbvDeployment.card as { bands: { suggestions: { actions: { resource: object }[] }[] }[] })
      .bands[0]!.suggestions[0]!.actions[0]!.resource;
    expect(shipped).not.toHaveProperty('subject');
    const deployed = (await api('GET', '/projects/hbv/deployments/hbv-reactivation', approver.token)).json();
    expect(deployed.spec.card.bands[0].suggestions[0].actions[0].resource).not.toHaveProperty('subject');
    const dm = cards.find((c) => (c.source as { topic: { code: string } }).topic.code === 'dm-response')!;
    expect(dm).toBeDefined();
    expect(cards).toHaveLength(2);
    const log = (await api('GET', '/projects/diabetes/predictions?source=cds&limit=1', approver.token)).json()
      .predictions[0];
    expect(log.features.drug_class).toBe('sglt2');

    // Feedback: a batch with one unknown card stores nothing; a valid batch is stored per card.
    const fb = (card: string, outcome: 'accepted' | 'overridden') => ({
      card,
      outcome,
      outcomeTimestamp: new Date().toISOString(),
      ...(outcome === 'overridden'
        ? {
            overrideReason: {
              reason: {
                system: 'https://ichigen.dev/cds/override-reason',
                code: 'already-addressed',
                display: 'Already addressed',
              },
              userComment: 'HBV-DNA ordered last week',
            },
          }
        : { acceptedSuggestions: [{ id: 'x' }] }),
    });
    const bad = await call('/cds-services/ichigen-order-select/feedback', {
      feedback: [fb(hbv.uuid as string, 'overridden'), fb(crypto.randomUUID(), 'accepted')],
    });
    expect(bad.statusCode).toBe(404);
    expect(bad.json().issue[0].details.coding[0].code).toBe('CDS_CARD_NOT_FOUND');
    const none = await t.platform.store.db
      .selectFrom('predictions')
      .select('feedback_json')
      .where('feedback_json', 'is not', null)
      .execute();
    expect(none).toHaveLength(0);
    const good = await call('/cds-services/ichigen-order-select/feedback', {
      feedback: [fb(hbv.uuid as string, 'overridden'), fb(dm.uuid as string, 'accepted')],
    });
    expect(good.statusCode, good.body).toBe(200);
    const stored = await api('GET', '/projects/hbv/predictions?source=cds&limit=1', approver.token);
    expect(stored.json().predictions[0].feedback).toMatchObject({
      outcome: 'overridden',
      overrideReason: { reason: { code: 'already-addressed' }, userComment: 'HBV-DNA ordered last week' },
    });
    const deps = (await api('GET', '/projects/hbv/deployments', approver.token)).json().deployments;
    expect(deps[0]).toMatchObject({ name: 'hbv-reactivation', predictions: 1, overrideRate: 1 });
    // The detail carries the same counts (counted by the database for this deployment alone).
    const detail = (await api('GET', '/projects/hbv/deployments/hbv-reactivation', approver.token)).json();
    expect(detail).toMatchObject({ name: 'hbv-reactivation', predictions: 1, overrideRate: 1 });
    // Feedback through another service's endpoint does not reach these cards.
    const other = await call('/cds-services/ichigen-patient-view/feedback', {
      feedback: [fb(dm.uuid as string, 'accepted')],
    });
    expect(other.statusCode).toBe(404);
  });

  it('bad input: clear OperationOutcome errors and nothing stored', async () => {
    const p = diabeticPatient();
    const before = await predictionCount();
    const codeOf = (r: { json(): { issue: { details: { coding: { code: string }[] } }[] } }) =>
      r.json().issue[0]!.details.coding[0]!.code;
    const noPatient = await call('/cds-services/ichigen-patient-view', {
      ...hookRequest('patient-view', 'x', { prefetch: prefetchFor(p) }),
      context: { userId: 'Practitioner/1' },
    });
    expect(noPatient.statusCode).toBe(400);
    expect(noPatient.json().issue[0].diagnostics).toMatch(/context\.patientId is required/);
    // null = the EHR has no conditions: the diabetes deployment does not apply → no cards.
    const nul = await call(
      '/cds-services/ichigen-patient-view',
      hookRequest('patient-view', 'pt-dm', { prefetch: { ...prefetchFor(p), conditions: null } }),
    );
    expect(nul.statusCode, nul.body).toBe(200);
    expect(nul.json()).toEqual({ cards: [] });
    // a missing key = not provided, and no FHIR server to ask → 412.
    const { conditions: _omit, ...withoutConditions } = prefetchFor(p);
    void _omit;
    const missing = await call(
      '/cds-services/ichigen-patient-view',
      hookRequest('patient-view', 'pt-dm', { prefetch: withoutConditions }),
    );
    expect(missing.statusCode).toBe(412);
    expect(codeOf(missing)).toBe('CDS_PREFETCH_MISSING');
    expect(missing.json().issue[0].diagnostics).toMatch(/conditions/);
    const unit = await call(
      '/cds-services/ichigen-patient-view',
      hookRequest('patient-view', 'pt-dm', {
        prefetch: {
          ...prefetchFor(p),
          'observation-4548-4': bundle([quantity('a1c-x', 'pt-dm', '4548-4', 7.1, 'g/dL', 3)]),
        },
      }),
    );
    expect(unit.statusCode).toBe(422);
    expect(codeOf(unit)).toBe('FHIR_UNKNOWN_UNIT');
    expect(unit.json().issue[0].diagnostics).toMatch(/Observation\/a1c-x .*"g\/dL"/);
    const notJson = await call('/cds-services/ichigen-patient-view', '{"hook": "patient-view", ');
    expect(notJson.statusCode).toBe(400);
    expect(codeOf(notJson)).toBe('CDS_BODY_INVALID_JSON');
    const notFhir = await call(
      '/cds-services/ichigen-patient-view',
      hookRequest('patient-view', 'pt-dm', {
        prefetch: { ...prefetchFor(p), conditions: { entry: [{ code: 'E11' }] } },
      }),
    );
    expect(notFhir.statusCode).toBe(400);
    expect(codeOf(notFhir)).toBe('FHIR_INVALID');
    const wrongHook = await call('/cds-services/ichigen-patient-view', {
      ...hookRequest('patient-view', 'pt-dm', { prefetch: prefetchFor(p) }),
      hook: 'order-sign',
    });
    expect(codeOf(wrongHook)).toBe('CDS_HOOK_MISMATCH');
    expect((await call('/cds-services/nope', hookRequest('patient-view', 'pt-dm'))).statusCode).toBe(404);
    expect(await predictionCount()).toBe(before);
  });

  it('fetches what prefetch lacks from the EHR FHIR server with its token; unusable answers are 412', async () => {
    stubSeen.length = 0;
    stubMode = 'fhir';
    const req = hookRequest('patient-view', 'pt-fetch', {
      fhirServer: `${stubUrl}/fhir`,
      fhirAuthorization: {
        access_token: 'opaque-fhir-token',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'user/*.read',
        subject: 'cds-service',
      },
    });
    const res = await call('/cds-services/ichigen-patient-view', req);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().cards).toHaveLength(1);
    expect(
      stubSeen.some((s) => s.url.startsWith('/fhir/Observation?patient=pt-fetch&code=http://loinc.org|4548-4')),
    ).toBe(true);
    expect(stubSeen.every((s) => s.auth === 'Bearer opaque-fhir-token')).toBe(true);
    stubMode = 'junk';
    const junk = await call('/cds-services/ichigen-patient-view', { ...req, hookInstance: crypto.randomUUID() });
    expect(junk.statusCode).toBe(412);
    expect(junk.json().issue[0].details.coding[0].code).toBe('CDS_FHIR_UNAVAILABLE');
    stubMode = 'fhir';
  });

  it('refuses bad JWTs: expired, unknown issuer, wrong aud, alg none, HS256, replayed jti, jku off the allow-list', async () => {
    const path = '/cds-services';
    const aud = `${BASE}${path}`;
    const now = Math.floor(Date.now() / 1000);
    const codeOf = async (token: string) => {
      const r = await call(path, undefined, token);
      expect(r.statusCode).toBe(r.statusCode === 200 ? 200 : 401);
      return r.statusCode === 200 ? 'OK' : (r.json().issue[0].details.coding[0].code as string);
    };
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const claims = { iss: ISS, aud, iat: now, exp: now + 300, jti: crypto.randomUUID() };
    expect(await codeOf(await jwt(aud, { exp: now - 120, iat: now - 400 }))).toBe('CDS_JWT_EXPIRED');
    expect(await codeOf(await jwt(aud, { iss: 'https://evil.example' }))).toBe('CDS_JWT_UNKNOWN_ISSUER');
    expect(await codeOf(await jwt(`${BASE}/cds-services/other`))).toBe('CDS_JWT_AUDIENCE');
    expect(await codeOf(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`)).toBe('CDS_JWT_ALG');
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISS)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('h')
      .sign(new TextEncoder().encode('a shared secret of 32+ bytes....'));
    expect(await codeOf(hs)).toBe('CDS_JWT_ALG');
    expect(await codeOf(await jwt(aud, { iat: now + 600, exp: now + 700 }))).toBe('CDS_JWT_IAT');
    // A long-lived token is refused (the spec asks for short ones): one expiring in an hour.
    expect(await codeOf(await jwt(aud, { iat: now, exp: now + 3600 }))).toBe('CDS_JWT_LIFETIME');
    const once = await jwt(aud, { jti: 'once-only' });
    expect(await codeOf(once)).toBe('OK');
    expect(await codeOf(once)).toBe('CDS_JWT_REPLAYED');
    // The seen jti lives in the database: a second server instance on the same database refuses it too.
    const second = await buildApp(t.platform);
    const again = await second.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${once}` } });
    expect(again.statusCode).toBe(401);
    await second.close();
    expect(await codeOf(await jwt(aud, { key: jkuKey, jku: 'https://attacker.example/jwks.json' }))).toBe(
      'CDS_JWT_JKU_NOT_ALLOWED',
    );
    expect(await codeOf(await jwt(aud, { key: jkuKey, jku: `${stubUrl}/jwks.json` }))).toBe('OK');
    // ES256 (what the public sandbox uses), ES384 and RS384 are accepted.
    for (const key of [es256, es384, rs384]) expect(await codeOf(await jwt(aud, { key }))).toBe('OK');
    const denied = await t.platform.store.db
      .selectFrom('audit_events')
      .select('details_json')
      .where('action', '=', 'cds.auth')
      .execute();
    expect(denied.length).toBeGreaterThanOrEqual(8);
  });

  it('issuer key URLs (jwksUrl, jkuAllow) must be https; plain http only to a loopback host', async () => {
    const put = (body: Record<string, unknown>) =>
      api('PUT', '/cds/issuers', t.admin.token, {
        iss: 'https://ehr-http.example.org',
        projects: ['diabetes'],
        ...body,
      });
    for (const body of [
      { jwksUrl: 'http://ehr-http.example.org/jwks.json' },
      { jwksUrl: 'http://10.0.0.5/jwks.json' },
      { jwksUrl: 'http://127.0.0.1.nip.io/jwks.json' },
      { jwksUrl: 'ftp://ehr-http.example.org/jwks.json' },
      { jwks: { keys: [es256.jwk] }, jkuAllow: ['https://ehr-http.example.org/a', 'http://ehr-http.example.org/b'] },
    ]) {
      const r = await put(body);
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json().error.code).toBe('ISSUER_INVALID');
      expect(r.json().error.message).toMatch(
        /^the issuer is not valid at (jwksUrl|jkuAllow\.1): must be https \(plain http only to a loopback host/,
      );
    }
    expect((await api('GET', '/cds/issuers', t.admin.token)).json().issuers.map((i: { iss: string }) => i.iss)).toEqual(
      [ISS],
    );
    // Loopback (the test stubs' case): accepted, for IPv4 127/8, IPv6 ::1 and localhost.
    for (const url of [
      'http://127.0.0.1:8080/jwks.json',
      'http://127.1.2.3/jwks',
      'http://[::1]:9/j',
      'http://localhost/j',
    ]) {
      const r = await put({ jwksUrl: url });
      expect(r.statusCode, `${url}: ${r.body}`).toBe(200);
    }
  });

  it('over a real socket: CORS preflight, and aud is the URL the EHR called', async () => {
    const srv = await buildApp(t.platform);
    await srv.listen({ host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${(srv.server.address() as AddressInfo).port}`;
      const local = 'https://ehr-b.example.org';
      expect(
        (
          await api('PUT', '/cds/issuers', t.admin.token, {
            iss: local,
            jwks: { keys: [es256.jwk] },
            projects: ['diabetes'],
          })
        ).statusCode,
      ).toBe(200);
      const pre = await fetch(`${base}/cds-services`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://sandbox.cds-hooks.org',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/);
      const ok = await fetch(`${base}/cds-services`, {
        headers: { authorization: `Bearer ${await jwt(`${base}/cds-services`, { iss: local })}` },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe('*');
      // only the diabetes project is reachable for this issuer: no order-select HBV service prefetch for serology
      const services = ((await ok.json()) as { services: { id: string; prefetch: Record<string, string> }[] }).services;
      expect(services.find((s) => s.id === 'ichigen-order-select')!.prefetch['observation-16933-4']).toBeUndefined();
      // The CLI registers an issuer from a JWKS file, and deploys and lists through the same server.
      const jwksFile = path.join(t.dir, 'ehr-c.jwks.json');
      writeFileSync(jwksFile, JSON.stringify({ keys: [es384.jwk] }));
      const out: string[] = [];
      const io = {
        out: (x: string) => out.push(x),
        err: (x: string) => out.push(x),
        env: { ICHIGEN_URL: base, ICHIGEN_TOKEN: t.admin.token },
      };
      const cli = (...args: string[]) => main(['node', 'ichigen', ...args], io);
      expect(
        await cli(
          'cds',
          'add-issuer',
          'https://ehr-c.example.org',
          '--jwks',
          jwksFile,
          '--projects',
          'diabetes,hbv',
          '--jku-allow',
          'https://ehr-c.example.org/jwks',
        ),
        out.join('\n'),
      ).toBe(0);
      expect(out.at(-1)).toMatch(
        /^trusted https:\/\/ehr-c\.example\.org as cds-ehr-c-example-org-[0-9a-f]{8} \(clinician in diabetes, hbv\)$/,
      );
      expect(
        await cli(
          'cds',
          'add-issuer',
          'https://ehr-d.example.org',
          '--jwks',
          'http://ehr-d.example.org/jwks.json',
          '--projects',
          'diabetes',
        ),
      ).not.toBe(0);
      expect(out.at(-1)).toMatch(/jwksUrl: must be https/);
      expect(await cli('--json', 'deployment', 'list', 'hbv'), out.join('\n')).toBe(0);
      expect((JSON.parse(out.at(-1)!) as { deployments: { name: string }[] }).deployments.map((d) => d.name)).toEqual([
        'hbv-reactivation',
      ]);
      const c = await fetch(`${base}/cds-services`, {
        headers: {
          authorization: `Bearer ${await jwt(`${base}/cds-services`, { iss: 'https://ehr-c.example.org', key: es384 })}`,
        },
      });
      expect(c.status).toBe(200);
      const wrong = await fetch(`${base}/cds-services`, {
        headers: { authorization: `Bearer ${await jwt(`${BASE}/cds-services`, { iss: local })}` },
      });
      expect(wrong.status).toBe(401);
      // With publicUrl configured, an issuer without a base URL is held to it, whatever Host the request names.
      const publicUrl = 'https://ichigen.hospital.example';
      t.platform.config.publicUrl = publicUrl;
      try {
        const viaPublic = await fetch(`${base}/cds-services`, {
          headers: { authorization: `Bearer ${await jwt(`${publicUrl}/cds-services`, { iss: local })}` },
        });
        expect(viaPublic.status).toBe(200);
        const viaHost = await fetch(`${base}/cds-services`, {
          headers: { authorization: `Bearer ${await jwt(`${base}/cds-services`, { iss: local })}` },
        });
        expect(viaHost.status).toBe(401);
      } finally {
        t.platform.config.publicUrl = undefined;
      }
    } finally {
      await srv.close();
    }
  });

  it('two deployments of one model version: each its own card and log row, with the same scores as REST predict', async () => {
    const twin = dmDeployment(modelVersion, { card: { ...dmDeployment(modelVersion).card, title: 'Twin' } });
    expect((await api('PUT', '/projects/diabetes/deployments/dm-twin', approver.token, twin)).statusCode).toBe(201);
    try {
      const before = await predictionCount();
      const explain = vi.spyOn(GbdtModel.prototype, 'explain');
      let res;
      try {
        res = await call(
          '/cds-services/ichigen-patient-view',
          hookRequest('patient-view', 'pt-dm', { prefetch: prefetchFor(diabeticPatient()) }),
        );
        // One prediction and explanation serve both deployments of the version.
        expect(explain).toHaveBeenCalledTimes(1);
      } finally {
        explain.mockRestore();
      }
      expect(res.statusCode, res.body).toBe(200);
      const cards = res.json().cards as { uuid: string; summary: string }[];
      expect(cards).toHaveLength(2);
      expect(new Set(cards.map((c) => c.uuid)).size).toBe(2);
      expect(await predictionCount()).toBe(before + 2);
      const rows = (await api('GET', '/projects/diabetes/predictions?source=cds&limit=2', approver.token)).json()
        .predictions as {
        deploymentId: string;
        features: Record<string, unknown>;
        inputsDigest: string;
        output: { probability: number; card: string };
        explanation: unknown;
      }[];
      expect(new Set(rows.map((r) => r.deploymentId)).size).toBe(2);
      // The twins map alike and share one features object: each row still carries its digest, computed once.
      for (const r of rows) expect(r.inputsDigest).toBe(inputsDigest(r.features));
      expect(rows.map((r) => r.output.card).sort()).toEqual(cards.map((c) => c.uuid).sort());
      // Scored once for both: the same features give exactly what a separate REST predict gives.
      const rest = await api(
        'POST',
        `/projects/diabetes/models/responder/versions/${modelVersion}/predict`,
        approver.token,
        { rows: [rows[0]!.features] },
      );
      expect(rest.statusCode, rest.body).toBe(200);
      const [pred] = rest.json().predictions as { probability: number; contributions: unknown }[];
      for (const r of rows) {
        expect(r.features).toEqual(rows[0]!.features);
        expect(r.output.probability).toBe(pred!.probability);
        expect(r.explanation).toEqual(pred!.contributions);
      }
    } finally {
      const gone = await api('POST', '/projects/diabetes/deployments/dm-twin/withdraw', approver.token, {
        reason: 'test of shared scoring',
      });
      expect(gone.statusCode, gone.body).toBe(200);
    }
  });

  it('shared scoring keys features by their exact values: Infinity and missing are scored apart', async () => {
    // dm-inf averages two BMI values of 1e308 (the mean overflows to Infinity); dm-none maps BMI from a code the
    // patient has none of (missing). JSON writes both as null, so a key built with JSON.stringify shares one score.
    const bmiMapping = (code: string, extra: Record<string, unknown> = {}) => ({
      feature: 'bmi',
      label: 'BMI',
      resource: 'Observation',
      code: `${LOINC}|${code}`,
      unit: 'kg/m2',
      windowDays: 730,
      ...extra,
    });
    const withBmi = (m: Record<string, unknown>) => {
      const base = dmDeployment(modelVersion);
      return { ...base, mapping: base.mapping.map((x) => (x.feature === 'bmi' ? m : x)) };
    };
    const deps = {
      'dm-inf': withBmi(bmiMapping('39156-5', { aggregate: 'mean' })),
      'dm-none': withBmi(bmiMapping('59574-4')),
    };
    for (const [slug, spec] of Object.entries(deps))
      expect((await api('PUT', `/projects/diabetes/deployments/${slug}`, approver.token, spec)).statusCode).toBe(201);
    try {
      const p = diabeticPatient();
      p.bmi = [
        quantity('bmi-1', 'pt-dm', '39156-5', 1e308, 'kg/m2', 60),
        quantity('bmi-2', 'pt-dm', '39156-5', 1e308, 'kg/m2', 61),
      ];
      const prefetch = { ...prefetchFor(p), 'observation-59574-4': bundle([]) };
      const explain = vi.spyOn(GbdtModel.prototype, 'explain');
      const seen: number[] = [];
      try {
        const res = await call(
          '/cds-services/ichigen-patient-view',
          hookRequest('patient-view', 'pt-dm', { prefetch }),
        );
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().cards).toHaveLength(3);
        for (const [frame] of explain.mock.calls) {
          const bmi = frame.column('bmi');
          seen.push(bmi.kind === 'numeric' ? bmi.values[0]! : -1);
        }
      } finally {
        explain.mockRestore();
      }
      // dm-response (BMI 1e308, the latest value), dm-inf and dm-none: three feature vectors, three scorings.
      expect(seen.sort()).toEqual([1e308, Infinity, NaN].sort());
    } finally {
      for (const slug of Object.keys(deps)) {
        const gone = await api('POST', `/projects/diabetes/deployments/${slug}/withdraw`, approver.token, {
          reason: 'test of scoring keys',
        });
        expect(gone.statusCode, gone.body).toBe(200);
      }
    }
  });

  it('retiring the model withdraws its deployments; the service stops answering with it', async () => {
    const r = await api('POST', `/projects/diabetes/models/responder/versions/${modelVersion}/retire`, approver.token, {
      reason: 'drift',
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().withdrawnDeployments.sort()).toEqual(['dm-men', 'dm-response']);
    const dep = (await api('GET', '/projects/diabetes/deployments/dm-response', approver.token)).json();
    expect(dep.status).toBe('withdrawn');
    const services = (await call('/cds-services')).json().services as { id: string }[];
    expect(services.map((s) => s.id)).toEqual(['ichigen-order-select']);
    const pv = await call(
      '/cds-services/ichigen-patient-view',
      hookRequest('patient-view', 'pt-dm', { prefetch: prefetchFor(diabeticPatient()) }),
    );
    expect(pv.statusCode).toBe(404);
    const lineage = await api(
      'GET',
      `/projects/diabetes/lineage?model=responder&modelVersion=${modelVersion}&direction=downstream`,
      approver.token,
    );
    expect(lineage.statusCode, lineage.body).toBe(200);
    const node = lineage.json().nodes.find((n: { kind: string }) => n.kind === 'deployment');
    expect(node.detail).toMatchObject({ status: 'withdrawn' });
    // Lineage reaches the version's predictions: the CDS cards and the REST predict of this file, by source.
    const preds = lineage.json().nodes.find((n: { kind: string }) => n.kind === 'predictions');
    const logged = await t.platform.store.db
      .selectFrom('predictions')
      .select(['source', 'created_at'])
      .where('model_version_id', '=', preds.id)
      .orderBy('created_at')
      .execute();
    const cds = logged.filter((r) => r.source === 'cds').length;
    expect(cds).toBeGreaterThanOrEqual(5);
    expect(preds.detail).toEqual({
      count: logged.length,
      bySource: { rest: 1, batch: 0, cds },
      withFeedback: 1,
      first: logged[0]!.created_at,
      last: logged.at(-1)!.created_at,
    });
    expect(lineage.json().edges).toContainEqual({
      from: { kind: 'model_version', id: preds.id },
      to: { kind: 'predictions', id: preds.id },
      relation: 'predicted',
    });
    void ATC;
  });
});
