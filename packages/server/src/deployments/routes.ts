// HTTP routes for deployments (create / new version, list, show, withdraw) and rule models (register, list, show,
// approve, retire), inside a project.
import { z } from 'zod';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import { deploymentDetailSchema, deploymentsSchema } from '../http/schemas.js';
import type { Platform } from '../platform.js';
import {
  findTryable,
  sampleFor,
  sampleResultSchema,
  tryBodySchema,
  tryDeployment,
  tryResultSchema,
} from '../console/try.js';

const proj = z.object({ project: z.string().max(300) });
const dep = proj.extend({ name: z.string().max(300) });
const rv = dep.extend({
  version: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});
const reason = z.object({ reason: z.string().max(2000) });

export function registerDeploymentRoutes(app: TypedApp, platform: Platform): void {
  const { projects, deployments, rules } = platform;

  app.put(
    `${API}/projects/:project/deployments/:name`,
    {
      schema: {
        tags: ['deployments'],
        description:
          'Create a deployment, or a new version of it: target (approved model or rule version), hooks, applicability, FHIR feature mapping, card template.',
        params: dep,
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'deployment.manage');
      const r = await deployments.put(p, a, req.params.name, req.body, req.ip);
      return reply.status(r.created ? 201 : 200).send(r);
    },
  );
  app.get(
    `${API}/projects/:project/deployments`,
    { schema: { tags: ['deployments'], params: proj, response: { 200: deploymentsSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'deployment.read');
      const [list, rates] = await Promise.all([deployments.list(a), platform.predictions.overrideRates(a)]);
      const byId = new Map(rates.map((r) => [r.deploymentId, r]));
      return {
        deployments: list.map((d) => ({
          ...d,
          predictions: byId.get(d.id)?.predictions ?? 0,
          overrideRate: byId.get(d.id)?.overrideRate ?? null,
        })),
      };
    },
  );
  app.get(
    `${API}/projects/:project/deployments/:name`,
    { schema: { tags: ['deployments'], params: dep, response: { 200: deploymentDetailSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'deployment.read');
      const d = await deployments.get(a, req.params.name);
      const [u] = await platform.predictions.overrideRates(a, d.id);
      return { ...d, predictions: u?.predictions ?? 0, overrideRate: u?.overrideRate ?? null };
    },
  );
  app.post(
    `${API}/projects/:project/deployments/:name/withdraw`,
    { schema: { tags: ['deployments'], params: dep, body: reason } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'deployment.manage');
      return deployments.withdraw(p, a, req.params.name, req.body.reason, req.ip);
    },
  );

  // ---------- the web console's "try it" (through the CDS service, as the console user) ----------
  app.post(
    `${API}/projects/:project/deployments/:name/try`,
    {
      schema: {
        tags: ['deployments'],
        description:
          'Send a FHIR R4 bundle (or a prefetch) through the CDS Hooks service for this deployment only and answer the cards an EHR would get. Needs deployment.read and model.predict; the predictions are logged and audited (source "console").',
        params: dep,
        body: tryBodySchema,
        response: { 200: tryResultSchema },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'deployment.read');
      const d = await findTryable(platform, a, req.params.name);
      return tryDeployment(platform, p, d, req.body, `${req.protocol}://${req.host}`, req.ip);
    },
  );
  app.get(
    `${API}/projects/:project/deployments/:name/sample`,
    {
      schema: {
        tags: ['deployments'],
        description:
          'A synthetic sample patient (FHIR R4 bundle from the demo generator, no real data) to try the deployment with: the first one its applicability rules select.',
        params: dep,
        response: { 200: sampleResultSchema },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'deployment.read');
      const s = sampleFor(await deployments.get(a, req.params.name));
      return { ...s, bundle: s.bundle as unknown as Record<string, unknown> };
    },
  );

  // ---------- rule models ----------
  app.post(
    `${API}/projects/:project/rules/:name/versions`,
    {
      schema: {
        tags: ['rules'],
        description: 'Register a new candidate version of a declarative rule model',
        params: dep,
        body: z.object({ spec: z.unknown(), description: z.string().max(5000).optional() }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.register');
      const body =
        req.body.description === undefined
          ? { spec: req.body.spec }
          : { spec: req.body.spec, description: req.body.description };
      return reply.status(201).send(await rules.register(p, a, req.params.name, body, req.ip));
    },
  );
  app.get(`${API}/projects/:project/rules`, { schema: { tags: ['rules'], params: proj } }, async (req) => {
    const p = await requirePrincipal(platform, req);
    const a = await projects.access(p, req.params.project, 'model.read');
    return { versions: await rules.list(a) };
  });
  app.get(
    `${API}/projects/:project/rules/:name/versions/:version`,
    { schema: { tags: ['rules'], params: rv } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return rules.get(a, req.params.name, req.params.version);
    },
  );
  app.post(
    `${API}/projects/:project/rules/:name/versions/:version/approve`,
    { schema: { tags: ['rules'], params: rv, body: reason } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.approve');
      return rules.approve(p, a, req.params.name, req.params.version, req.body.reason, req.ip);
    },
  );
  app.post(
    `${API}/projects/:project/rules/:name/versions/:version/retire`,
    { schema: { tags: ['rules'], params: rv, body: reason } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.retire');
      return rules.retire(p, a, req.params.name, req.params.version, req.body.reason, req.ip);
    },
  );
}
