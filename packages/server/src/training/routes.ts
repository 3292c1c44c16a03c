// HTTP routes for training policies and studies.
import { z } from 'zod';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import { studiesSchema, studyDetailSchema } from '../http/schemas.js';
import type { Platform } from '../platform.js';
import { paramImportance, paramImportanceSchema } from '../console/insights.js';

const ds = z.object({ project: z.string().max(300), dataset: z.string().max(300) });
const studyParams = z.object({ project: z.string().max(300), study: z.string().max(64) });

export function registerTrainingRoutes(app: TypedApp, platform: Platform): void {
  const { projects, training } = platform;

  app.put(
    `${API}/projects/:project/datasets/:dataset/policy`,
    {
      schema: {
        tags: ['training'],
        params: ds,
        body: z.record(z.string(), z.unknown()),
        description: 'Set (replace) the training policy of a dataset.',
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'policy.manage');
      return training.setPolicy(p, a, req.params.dataset, req.body as never, req.ip);
    },
  );

  app.get(
    `${API}/projects/:project/datasets/:dataset/policy`,
    { schema: { tags: ['training'], params: ds } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return training.getPolicy(a, req.params.dataset);
    },
  );

  app.post(
    `${API}/projects/:project/studies`,
    {
      schema: {
        tags: ['training'],
        params: ds.pick({ project: true }),
        body: z.object({ dataset: z.string().max(300), version: z.number().int().positive() }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'study.run');
      return reply
        .status(201)
        .send(await training.createStudy(p, a, req.body.dataset, req.body.version, 'manual', req.ip));
    },
  );

  app.get(
    `${API}/projects/:project/studies`,
    {
      schema: {
        tags: ['training'],
        params: ds.pick({ project: true }),
        response: { 200: studiesSchema },
        querystring: z.object({
          status: z.string().max(20).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return { studies: await training.list(a, req.query) };
    },
  );

  app.get(
    `${API}/projects/:project/studies/:study`,
    { schema: { tags: ['training'], params: studyParams, response: { 200: studyDetailSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return training.get(a, req.params.study);
    },
  );

  app.get(
    `${API}/projects/:project/studies/:study/importance`,
    {
      schema: {
        tags: ['training'],
        description:
          "How much each hyperparameter's value explained the objective across the study's completed trials (main-effect eta-squared, normalised).",
        params: studyParams,
        response: { 200: paramImportanceSchema },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return paramImportance((await training.get(a, req.params.study)).trialsList);
    },
  );

  app.post(
    `${API}/projects/:project/studies/:study/cancel`,
    { schema: { tags: ['training'], params: studyParams } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'study.run');
      return training.cancel(p, a, req.params.study, req.ip);
    },
  );
}
