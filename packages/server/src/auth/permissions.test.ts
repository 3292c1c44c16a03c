// Walks the whole role table of docs/security.md through the HTTP API: every role × every action, plus non-members.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { ACTIONS, ROLES, type Role } from './roles.js';

// The table as documented (docs/security.md), written out independently of the code's PERMISSIONS map.
const EXPECTED: Record<string, Role[]> = {
  'project.read': ['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'],
  'members.read': ['owner', 'steward', 'auditor'],
  'members.manage': ['owner'],
  'dataset.list': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'dataset.push': ['owner', 'steward'],
  'dataset.metadata': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'dataset.download': ['owner', 'steward', 'scientist'],
  'audit.read': ['owner', 'auditor'],
  'policy.manage': ['owner', 'scientist'],
  'study.run': ['owner', 'scientist'],
  'model.read': ['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'],
  'model.register': ['owner', 'scientist'],
  'model.approve': ['approver'],
  'model.retire': ['owner', 'approver'],
  'lineage.read': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'recipe.run': ['owner', 'steward', 'scientist'],
  'deployment.read': ['owner', 'steward', 'scientist', 'approver', 'auditor'],
  'deployment.manage': ['owner', 'approver'],
  'model.predict': ['owner', 'scientist', 'approver', 'clinician'],
  'predictions.read': ['owner', 'scientist', 'approver', 'auditor'],
  'batch.score': ['owner', 'steward', 'scientist'],
};

describe('role table', () => {
  it('the documented table covers every action the code knows', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...ACTIONS].sort());
  });

  let t: TestPlatform;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    t = await makeTestPlatform('sqlite');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects',
      headers: bearer(t.admin.token),
      payload: { slug: 'p', name: 'P' },
    });
    expect(res.statusCode).toBe(201);
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects/p/datasets/base/versions',
      headers: { ...bearer(t.admin.token), 'content-type': 'text/csv' },
      payload: 'id,x\n1,2\n2,3\n',
    });
    await t.app
      .inject({
        method: 'PUT',
        url: '/api/v1/projects/p/datasets/base/policy',
        headers: bearer(t.admin.token),
        payload: { target: 'x' },
      })
      .then((r) => {
        // the administrator is the project's owner (it created it), so it may set the policy studies need
        expect(r.statusCode, r.body).toBe(200);
      });
    for (const role of ROLES) {
      const u = await t.user(`u-${role}`);
      tokens.set(role, u.token);
      const r = await t.app.inject({
        method: 'POST',
        url: '/api/v1/projects/p/members',
        headers: bearer(t.admin.token),
        payload: { user: u.name, role },
      });
      expect(r.statusCode).toBe(201);
    }
    tokens.set('outsider', (await t.user('outsider')).token);
    await t.user('target');
  });
  afterAll(async () => t.close());

  const attempt = async (action: string, token: string, who: string) => {
    const h = bearer(token);
    switch (action) {
      case 'project.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p', headers: h });
      case 'members.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/members', headers: h });
      case 'members.manage':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/members',
          headers: h,
          payload: { user: 'target', role: 'clinician' },
        });
      case 'dataset.list':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/datasets', headers: h });
      case 'dataset.push':
        return t.app.inject({
          method: 'POST',
          url: `/api/v1/projects/p/datasets/by-${who}/versions`,
          headers: { ...h, 'content-type': 'text/csv' },
          payload: `a,b\n1,${who}\n`,
        });
      case 'dataset.metadata':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/datasets/base/versions/1', headers: h });
      case 'dataset.download':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/datasets/base/versions/1/content', headers: h });
      case 'audit.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/audit?project=p', headers: h });
      case 'policy.manage':
        return t.app.inject({
          method: 'PUT',
          url: '/api/v1/projects/p/datasets/base/policy',
          headers: h,
          payload: { target: 'x' },
        });
      case 'study.run':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/studies',
          headers: h,
          payload: { dataset: 'base', version: 1 },
        });
      case 'model.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/models', headers: h });
      case 'model.register':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/models/ext/versions?dataset=base&version=1&columns=x',
          headers: { ...h, 'content-type': 'application/octet-stream' },
          payload: Buffer.from('not onnx, but the role check comes first'),
        });
      case 'model.approve':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/models/m/versions/1/approve',
          headers: h,
          payload: { reason: 'r' },
        });
      case 'model.retire':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/models/m/versions/1/retire',
          headers: h,
          payload: { reason: 'r' },
        });
      case 'model.predict':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/models/m/versions/1/predict',
          headers: h,
          payload: { rows: [{ x: 1 }] },
        });
      case 'predictions.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/predictions', headers: h });
      case 'batch.score':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/models/m/versions/1/score',
          headers: h,
          payload: { dataset: 'base', datasetVersion: 1, output: 'scores' },
        });
      case 'lineage.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/lineage?dataset=base&version=1', headers: h });
      case 'recipe.run':
        return t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/recipes/hba1c-control-periods/runs',
          headers: h,
          payload: { inputs: {}, output: 'labels' },
        });
      case 'deployment.read':
        return t.app.inject({ method: 'GET', url: '/api/v1/projects/p/deployments', headers: h });
      case 'deployment.manage':
        return t.app.inject({
          method: 'PUT',
          url: `/api/v1/projects/p/deployments/d-${who}`,
          headers: h,
          payload: { target: { model: 'm', version: 1 }, applicability: {}, mapping: [], card: {} },
        });
      default:
        throw new Error(action);
    }
  };

  for (const [action, allowed] of Object.entries(EXPECTED)) {
    for (const role of ROLES) {
      const ok = allowed.includes(role);
      it(`${role} ${ok ? 'may' : 'may not'} ${action}`, async () => {
        const res = await attempt(action, tokens.get(role)!, role);
        // Allowed: anything but a refusal (the request itself may still be invalid, e.g. no such model version).
        if (ok) {
          expect(res.statusCode, res.body).not.toBe(403);
          expect(res.statusCode, res.body).not.toBe(401);
          if (res.statusCode === 404) expect(res.json().error.code).not.toBe('PROJECT_NOT_FOUND');
        } else {
          expect(res.statusCode, res.body).toBe(403);
          expect(res.json().error.code).toBe('FORBIDDEN');
        }
      });
    }
    it(`a non-member gets 404 for ${action}`, async () => {
      const res = await attempt(action, tokens.get('outsider')!, 'outsider');
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('PROJECT_NOT_FOUND');
    });
  }

  // Routes added for the web console reuse the actions above; trying a deployment needs two of them.
  const CONSOLE_ROUTES: { name: string; allowed: Role[]; send: (h: Record<string, string>) => Promise<Response> }[] = [
    {
      name: 'diff two dataset versions (dataset.metadata)',
      allowed: ['owner', 'steward', 'scientist', 'approver', 'auditor'],
      send: (h) =>
        t.app.inject({ method: 'GET', url: '/api/v1/projects/p/datasets/base/diff?from=1&to=1', headers: h }),
    },
    {
      name: 'read a study’s parameter importance (model.read)',
      allowed: ['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'],
      send: (h) => t.app.inject({ method: 'GET', url: '/api/v1/projects/p/studies/nope/importance', headers: h }),
    },
    {
      name: 'get a deployment’s sample patient (deployment.read)',
      allowed: ['owner', 'steward', 'scientist', 'approver', 'auditor'],
      send: (h) => t.app.inject({ method: 'GET', url: '/api/v1/projects/p/deployments/nope/sample', headers: h }),
    },
    {
      name: 'try a deployment (deployment.read and model.predict)',
      allowed: ['owner', 'scientist', 'approver'],
      send: (h) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/projects/p/deployments/nope/try',
          headers: h,
          payload: { bundle: [] },
        }),
    },
    {
      name: 'read the project’s recent activity (project.read; kinds filtered by role)',
      allowed: ['owner', 'steward', 'scientist', 'approver', 'clinician', 'auditor'],
      send: (h) => t.app.inject({ method: 'GET', url: '/api/v1/projects/p/activity', headers: h }),
    },
    {
      name: 'list user names to add as members (members.manage)',
      allowed: ['owner'],
      send: (h) => t.app.inject({ method: 'GET', url: '/api/v1/projects/p/users', headers: h }),
    },
  ];
  type Response = Awaited<ReturnType<TestPlatform['app']['inject']>>;

  for (const route of CONSOLE_ROUTES) {
    for (const role of ROLES) {
      const ok = route.allowed.includes(role);
      it(`console: ${role} ${ok ? 'may' : 'may not'} ${route.name}`, async () => {
        const res = await route.send(bearer(tokens.get(role)!));
        if (ok) {
          expect(res.statusCode, res.body).not.toBe(403);
          expect(res.statusCode, res.body).not.toBe(401);
          if (res.statusCode === 404) expect(res.json().error.code).not.toBe('PROJECT_NOT_FOUND');
        } else {
          expect(res.statusCode, res.body).toBe(403);
          expect(res.json().error.code).toBe('FORBIDDEN');
        }
      });
    }
    it(`console: a non-member gets 404 to ${route.name}`, async () => {
      const res = await route.send(bearer(tokens.get('outsider')!));
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('PROJECT_NOT_FOUND');
    });
  }

  it('an unknown project answers exactly like a project you are not in', async () => {
    const a = await t.app.inject({
      method: 'GET',
      url: '/api/v1/projects/nope/datasets',
      headers: bearer(tokens.get('outsider')!),
    });
    const b = await t.app.inject({
      method: 'GET',
      url: '/api/v1/projects/p/datasets',
      headers: bearer(tokens.get('outsider')!),
    });
    expect(a.statusCode).toBe(404);
    expect(b.statusCode).toBe(404);
    expect(a.json().error.code).toBe(b.json().error.code);
  });

  it('an administrator who is not a member manages members but cannot read data', async () => {
    const admin2 = await t.user('admin2', { admin: true });
    const m = await t.app.inject({ method: 'GET', url: '/api/v1/projects/p/members', headers: bearer(admin2.token) });
    expect(m.statusCode).toBe(200);
    const d = await t.app.inject({
      method: 'GET',
      url: '/api/v1/projects/p/datasets/base/versions/1/content',
      headers: bearer(admin2.token),
    });
    expect(d.statusCode).toBe(404);
  });

  it('requests without a token are refused', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/projects' });
    expect(r.statusCode).toBe(401);
    expect(r.json().error.code).toBe('AUTH_REQUIRED');
  });
});
