// HTTP routes for the model registry (list, show, card, artifacts, approve, retire, external ONNX upload) and lineage.
import { z } from 'zod';
import { credentialOf } from '../auth/service.js';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import { lineageGraphSchema, modelVersionViewSchema, modelVersionsSchema } from '../http/schemas.js';
import type { NodeKind } from '../lineage/lineage.js';
import { AppError, badRequest, notFound } from '../errors.js';

const MAX_ONNX_BYTES = 512 * 1024 * 1024;
import type { Platform } from '../platform.js';
import { externalSchema, registerExternalModel } from './external.js';

const proj = z.object({ project: z.string().max(300) });
const mv = proj.extend({
  model: z.string().max(300),
  version: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});

export function registerModelRoutes(app: TypedApp, platform: Platform): void {
  const { projects, registry } = platform;

  app.get(
    `${API}/projects/:project/models`,
    {
      schema: {
        tags: ['models'],
        params: proj,
        querystring: z.object({ model: z.string().max(300).optional() }),
        response: { 200: modelVersionsSchema },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return { versions: await registry.list(a, req.query.model) };
    },
  );

  app.get(
    `${API}/projects/:project/models/:model/versions/:version`,
    { schema: { tags: ['models'], params: mv, response: { 200: modelVersionViewSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      return registry.getWithActions(p, a, req.params.model, req.params.version);
    },
  );

  app.get(
    `${API}/projects/:project/models/:model/versions/:version/card.md`,
    { schema: { tags: ['models'], params: mv } },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      const d = await registry.get(a, req.params.model, req.params.version);
      return reply.header('content-type', 'text/markdown; charset=utf-8').send(d.cardMarkdown);
    },
  );

  app.get(
    `${API}/projects/:project/models/:model/versions/:version/artifact`,
    {
      schema: {
        tags: ['models'],
        params: mv,
        querystring: z.object({ format: z.enum(['native', 'onnx']).default('native') }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.read');
      const bytes = await registry.artifact(a, req.params.model, req.params.version, req.query.format);
      await platform.audit.append({
        actor: p.name,
        action: 'model.download',
        target: `model:${a.project.slug}/${req.params.model}@${req.params.version}`,
        project: a.project.slug,
        outcome: 'success',
        client: req.ip,
        details: { format: req.query.format, via: credentialOf(p) },
      });
      return reply
        .header('content-type', req.query.format === 'onnx' ? 'application/octet-stream' : 'application/json')
        .send(bytes);
    },
  );

  app.post(
    `${API}/projects/:project/models/:model/versions/:version/approve`,
    {
      schema: {
        tags: ['models'],
        params: mv,
        body: z.object({ reason: z.string().max(5000), retirePrevious: z.boolean().optional() }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.approve');
      return registry.approve(p, a, req.params.model, req.params.version, req.body.reason, {
        retirePrevious: req.body.retirePrevious ?? false,
        client: req.ip,
      });
    },
  );

  app.post(
    `${API}/projects/:project/models/:model/versions/:version/retire`,
    { schema: { tags: ['models'], params: mv, body: z.object({ reason: z.string().max(5000) }) } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.retire');
      return registry.retire(p, a, req.params.model, req.params.version, req.body.reason, req.ip);
    },
  );

  app.post(
    `${API}/projects/:project/models/:model/versions`,
    {
      schema: {
        tags: ['models'],
        description:
          "Register an external ONNX model (body: the .onnx file as application/octet-stream); the platform evaluates it on the dataset version's holdout.",
        params: proj.extend({ model: z.string().max(300) }),
        querystring: externalSchema,
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.register');
      const body = req.body as AsyncIterable<Uint8Array> | undefined;
      if (!body || typeof (body as { pipe?: unknown }).pipe !== 'function')
        throw badRequest('BODY_REQUIRED', 'send the .onnx file as application/octet-stream');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of body) {
        size += c.length;
        if (size > MAX_ONNX_BYTES)
          throw new AppError('UPLOAD_TOO_LARGE', 413, `an ONNX model may have at most ${MAX_ONNX_BYTES} bytes`);
        chunks.push(Buffer.from(c));
      }
      const r = await registerExternalModel(platform, p, a, req.params.model, Buffer.concat(chunks), req.query, req.ip);
      return reply.status(201).send(r);
    },
  );

  app.get(
    `${API}/projects/:project/lineage`,
    {
      schema: {
        tags: ['lineage'],
        params: proj,
        response: { 200: lineageGraphSchema },
        querystring: z.object({
          dataset: z.string().max(300).optional(),
          version: z.coerce.number().int().positive().optional(),
          model: z.string().max(300).optional(),
          modelVersion: z.coerce.number().int().positive().optional(),
          study: z.string().max(64).optional(),
          direction: z.enum(['downstream', 'upstream', 'both']).optional(),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'lineage.read');
      const q = req.query;
      const db = platform.store.db;
      let root: { kind: NodeKind; id: string };
      if (q.dataset && q.version) {
        const r = await db
          .selectFrom('dataset_versions')
          .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
          .select('dataset_versions.id')
          .where('datasets.project_id', '=', a.project.id)
          .where('datasets.name', '=', q.dataset)
          .where('dataset_versions.version', '=', q.version)
          .executeTakeFirst();
        if (!r) throw notFound('VERSION_NOT_FOUND', `no version ${q.dataset}@${q.version} in ${a.project.slug}`);
        root = { kind: 'dataset_version', id: r.id };
      } else if (q.model && q.modelVersion) {
        const r = await db
          .selectFrom('model_versions')
          .innerJoin('models', 'models.id', 'model_versions.model_id')
          .select('model_versions.id')
          .where('models.project_id', '=', a.project.id)
          .where('models.name', '=', q.model)
          .where('model_versions.version', '=', q.modelVersion)
          .executeTakeFirst();
        if (!r)
          throw notFound(
            'MODEL_VERSION_NOT_FOUND',
            `no model version ${q.model}@${q.modelVersion} in ${a.project.slug}`,
          );
        root = { kind: 'model_version', id: r.id };
      } else if (q.study) {
        const r = await db
          .selectFrom('studies')
          .select('id')
          .where('project_id', '=', a.project.id)
          .where('id', '=', q.study)
          .executeTakeFirst();
        if (!r) throw notFound('STUDY_NOT_FOUND', `no study ${q.study} in ${a.project.slug}`);
        root = { kind: 'study', id: r.id };
      } else {
        throw badRequest('LINEAGE_ROOT_REQUIRED', 'name a root: dataset+version, model+modelVersion, or study');
      }
      const direction =
        q.direction ??
        (root.kind === 'dataset_version' ? 'downstream' : root.kind === 'model_version' ? 'upstream' : 'both');
      return platform.lineage.graph(root, direction);
    },
  );
}
