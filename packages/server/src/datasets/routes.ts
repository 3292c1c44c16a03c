// HTTP routes for datasets: push (CSV stream or a files manifest), version log, show, and verified downloads.
import { PassThrough, pipeline, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError, badRequest, notFound } from '../errors.js';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import { datasetLogSchema, datasetsSchema, datasetVersionDetailSchema } from '../http/schemas.js';
import type { Platform } from '../platform.js';
import type { Digest } from '../storage/object-store/port.js';
import { parseDigest } from '../storage/object-store/port.js';
import { datasetDiff, datasetDiffSchema } from '../console/insights.js';
import type { TabularProfile } from './tabular/index.js';

const params = z.object({ project: z.string().max(300), dataset: z.string().max(300) });
const versionParams = params.extend({
  version: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});
// The names the ingest accepts (docs/datasets.md, Options): everything but auto and UTF-8 means CP932.
const encodings = ['auto', 'utf-8', 'utf8', 'cp932', 'shift_jis', 'shift-jis', 'sjis', 'windows-31j', 'ms932'] as const;
const delimiters = ['auto', ',', '\t', ';', '|', 'comma', 'tab', 'semicolon', 'pipe'] as const;
const DELIM: Record<string, ',' | '\t' | ';' | '|' | 'auto'> = { comma: ',', tab: '\t', semicolon: ';', pipe: '|' };

const filesBody = z.object({
  kind: z.literal('files'),
  message: z.string().max(2000).optional(),
  files: z.array(z.object({ path: z.string().max(1100), digest: z.string().max(100) })).max(1_000_000),
});

export function registerDatasetRoutes(app: TypedApp, platform: Platform): void {
  const { projects, datasets } = platform;

  app.get(
    `${API}/projects/:project/datasets`,
    { schema: { tags: ['datasets'], params: params.pick({ project: true }), response: { 200: datasetsSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.list');
      return { datasets: await datasets.list(a) };
    },
  );

  app.post(
    `${API}/projects/:project/blobs`,
    {
      schema: {
        tags: ['datasets'],
        params: params.pick({ project: true }),
        querystring: z.object({ digest: z.string().max(100).optional() }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      await projects.access(p, req.params.project, 'dataset.push');
      if (!isStream(req.body)) throw badRequest('BODY_REQUIRED', 'send the file as application/octet-stream');
      const r = await datasets.putBlob(req.body, req.query.digest);
      return reply.status(r.existed ? 200 : 201).send(r);
    },
  );

  app.post(
    `${API}/projects/:project/datasets/:dataset/versions`,
    {
      schema: {
        tags: ['datasets'],
        description:
          'Push a new version. Body: a CSV (text/csv or application/octet-stream) for tabular data, or JSON {kind:"files", files:[{path,digest}]} after uploading each file to /blobs.',
        params,
        querystring: z.object({
          encoding: z.enum(encodings).optional(),
          delimiter: z.enum(delimiters).optional(),
          message: z.string().max(2000).optional(),
        }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.push');
      let result;
      if (isStream(req.body)) {
        const ctl = new AbortController();
        req.raw.on('close', () => {
          if (!req.raw.complete)
            ctl.abort(
              new AppError(
                'UPLOAD_INTERRUPTED',
                400,
                'the upload was cut off before it was complete; nothing was stored',
              ),
            );
        });
        const enc = req.query.encoding;
        const delim = req.query.delimiter;
        result = await datasets.pushTabular(p, a, req.params.dataset, req.body, {
          encoding:
            enc === undefined || enc === 'auto' ? 'auto' : enc === 'utf8' || enc === 'utf-8' ? 'utf-8' : 'cp932',
          delimiter: delim === undefined ? 'auto' : (DELIM[delim] ?? (delim as ',' | '\t' | ';' | '|' | 'auto')),
          message: req.query.message ?? '',
          client: req.ip,
          signal: ctl.signal,
        });
      } else {
        const parsed = filesBody.safeParse(req.body);
        if (!parsed.success) {
          throw badRequest(
            'VALIDATION_ERROR',
            `a files push needs {kind:"files", files:[{path, digest}]}: ${parsed.error.issues[0]!.message}`,
          );
        }
        result = await datasets.pushFiles(p, a, req.params.dataset, parsed.data.files, {
          message: parsed.data.message ?? req.query.message ?? '',
          client: req.ip,
        });
      }
      return reply.status(result.created ? 201 : 200).send(result);
    },
  );

  app.get(
    `${API}/projects/:project/datasets/:dataset/versions`,
    {
      schema: {
        tags: ['datasets'],
        params,
        response: { 200: datasetLogSchema },
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(500).optional(),
          before: z.coerce.number().int().positive().optional(),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.metadata');
      return datasets.log(a, req.params.dataset, req.query);
    },
  );

  app.get(
    `${API}/projects/:project/datasets/:dataset/versions/:version`,
    { schema: { tags: ['datasets'], params: versionParams, response: { 200: datasetVersionDetailSchema } } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.metadata');
      const v = await datasets.version(a, req.params.dataset, req.params.version);
      const manifest = await datasets.manifest(v.row.manifest_digest);
      await datasets.recordRead(
        p,
        a,
        `dataset:${a.project.slug}/${req.params.dataset}@${req.params.version}`,
        'dataset.metadata',
        req.ip,
      );
      return {
        ...v.info,
        schema: manifest.tabular ?? null,
        arrow: manifest.arrow ?? null,
        files: manifest.files.length <= 10_000 ? manifest.files : undefined,
      };
    },
  );

  app.get(
    `${API}/projects/:project/datasets/:dataset/diff`,
    {
      schema: {
        tags: ['datasets'],
        description:
          'What changed between two tabular versions (rows, added/removed columns, type changes, missingness and mean shifts), from their stored profiles: no data is read.',
        params,
        querystring: z.object({
          from: z.coerce
            .number()
            .int()
            .positive()
            .max(2 ** 31),
          to: z.coerce
            .number()
            .int()
            .positive()
            .max(2 ** 31),
        }),
        response: { 200: datasetDiffSchema },
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'dataset.metadata');
      const [from, to] = await Promise.all([
        datasets.version(a, req.params.dataset, req.query.from),
        datasets.version(a, req.params.dataset, req.query.to),
      ]);
      if (!from.row.schema_json || !to.row.schema_json)
        throw badRequest('NOT_TABULAR', 'only tabular versions can be compared column by column');
      return datasetDiff(
        req.params.dataset,
        req.query.from,
        req.query.to,
        JSON.parse(from.row.schema_json) as TabularProfile,
        JSON.parse(to.row.schema_json) as TabularProfile,
      );
    },
  );

  /**
   * Streams one stored object of a version, verified, with its digest in a header. Each download is audited exactly
   * once, with its outcome: `success` once every byte has been read and verified — written before the last chunk
   * leaves, so no client receives a whole object whose read went unaudited — or `failure` with the error code
   * (INTEGRITY_ERROR for stored bytes that no longer match their digest, CLIENT_CLOSED when the client went away).
   */
  const sendObject = async (
    req: FastifyRequest,
    reply: FastifyReply,
    which: (manifest: Awaited<ReturnType<typeof datasets.manifest>>) => {
      digest: Digest;
      size: number;
      name: string;
      type: string;
    },
  ) => {
    const prm = versionParams.parse(req.params);
    const p = await requirePrincipal(platform, req);
    const a = await projects.access(p, prm.project, 'dataset.download');
    const v = await datasets.version(a, prm.dataset, prm.version);
    const obj = which(await datasets.manifest(v.row.manifest_digest));
    const target = `dataset:${a.project.slug}/${prm.dataset}@${prm.version}`;
    const record = (outcome: 'success' | 'failure', details: Record<string, unknown> = {}): Promise<void> =>
      datasets.recordRead(
        p,
        a,
        target,
        'dataset.download',
        req.ip,
        { digest: obj.digest, path: obj.name, ...details },
        outcome,
      );
    const codeOf = (err: unknown): string =>
      err instanceof AppError
        ? err.code
        : (err as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE'
          ? 'CLIENT_CLOSED'
          : 'READ_ERROR';
    let source: Readable;
    try {
      source = (await datasets.readVerified(obj.digest)) as unknown as Readable;
    } catch (err) {
      await record('failure', { code: codeOf(err) });
      throw err;
    }
    // Patient data leaves only once its read is on the audit trail: a download whose event cannot be written is
    // refused before its first byte. A transfer that then breaks off (a stored object failing its digest mid-stream,
    // a client going away) adds one failure event with the code.
    try {
      await record('success');
    } catch (err) {
      source.destroy();
      throw err;
    }
    const body = new PassThrough();
    pipeline(source, body, (err) => {
      if (!err) return;
      record('failure', { code: codeOf(err) }).catch((auditErr: unknown) =>
        req.log.error({ err: auditErr, target, code: codeOf(err) }, 'could not audit a failed download'),
      );
    });
    return reply
      .header('content-type', obj.type)
      .header('content-length', String(obj.size))
      .header('x-ichigen-digest', obj.digest)
      .header('content-disposition', `attachment; filename="${obj.name.replace(/[^A-Za-z0-9._-]/g, '_')}"`)
      .send(body);
  };

  app.get(
    `${API}/projects/:project/datasets/:dataset/versions/:version/content`,
    { schema: { tags: ['datasets'], params: versionParams } },
    (req, reply) =>
      sendObject(req, reply, (m) => {
        if (m.kind !== 'tabular')
          throw badRequest('NOT_TABULAR', 'this is a files dataset: download its files one by one (/files/{digest})');
        const f = m.files[0]!;
        return { digest: f.digest, size: f.size, name: f.path.split('/').pop()!, type: 'text/csv' };
      }),
  );

  app.get(
    `${API}/projects/:project/datasets/:dataset/versions/:version/arrow`,
    { schema: { tags: ['datasets'], params: versionParams } },
    (req, reply) =>
      sendObject(req, reply, (m) => {
        if (!m.arrow) throw badRequest('NOT_TABULAR', 'only tabular versions have a columnar (Arrow) copy');
        return {
          digest: m.arrow.digest,
          size: m.arrow.size,
          name: 'data.arrows',
          type: 'application/vnd.apache.arrow.stream',
        };
      }),
  );

  app.get(
    `${API}/projects/:project/datasets/:dataset/versions/:version/files/:digest`,
    { schema: { tags: ['datasets'], params: versionParams.extend({ digest: z.string().max(100) }) } },
    (req, reply) =>
      sendObject(req, reply, (m) => {
        const digest = parseDigest(req.params.digest);
        const f = m.files.find((x) => x.digest === digest);
        if (!f) throw notFound('FILE_NOT_FOUND', `this version has no file with digest ${digest}`);
        return { digest: f.digest, size: f.size, name: f.path.split('/').pop()!, type: 'application/octet-stream' };
      }),
  );
}

function isStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === 'object' && body !== null && typeof (body as { pipe?: unknown }).pipe === 'function';
}
