// HTTP routes for REST prediction (JSON rows or CSV) and the audited prediction log.
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import { API, requirePrincipal, type TypedApp } from '../http/app.js';
import type { Platform } from '../platform.js';
import { MAX_PREDICT_ROWS } from './service.js';
import { enqueueBatch, notFoundJob } from './batch.js';
import type { Row } from './predict.js';

const mv = z.object({
  project: z.string().max(300),
  model: z.string().max(300),
  version: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});
const MAX_CSV_BYTES = 32 * 1024 * 1024;
const rowsBody = z.object({ rows: z.array(z.record(z.string(), z.unknown())).max(MAX_PREDICT_ROWS) });

async function readText(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > MAX_CSV_BYTES)
      throw new AppError(
        'UPLOAD_TOO_LARGE',
        413,
        `a predict call may send at most ${MAX_CSV_BYTES} bytes of CSV; use batch scoring`,
      );
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
}

export function registerServingRoutes(app: TypedApp, platform: Platform): void {
  const { projects, predictions } = platform;

  app.post(
    `${API}/projects/:project/models/:model/versions/:version/predict`,
    {
      schema: {
        tags: ['predictions'],
        description:
          'Score rows: JSON {"rows":[{feature: value, …}]} or a CSV with a header. Returns one prediction per row, in input order.',
        params: mv,
        querystring: z.object({
          explain: z
            .enum(['true', 'false'])
            .optional()
            .describe('false: no contributions (faster; the prediction log then stores none)'),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'model.predict');
      let rows: Row[];
      let columns: string[];
      const body = req.body as unknown;
      if (body && typeof (body as { pipe?: unknown }).pipe === 'function') {
        const text = await readText(body as AsyncIterable<Uint8Array>);
        let records: string[][];
        try {
          records = parseCsv(text, { relax_column_count: false, skip_empty_lines: true }) as string[][];
        } catch (e) {
          // A row with another field count than the header: said as a dataset push says it (same code and details).
          const err = e as Error & { code?: string; lines?: number; record?: unknown[] };
          if (err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' && Array.isArray(err.record)) {
            const width = (parseCsv(text, { to_line: 1 }) as string[][])[0]?.length ?? 0;
            throw badRequest(
              'CSV_RAGGED_ROW',
              `Line ${err.lines} has ${err.record.length} fields but the header has ${width}. ` +
                'Quote fields that contain commas or line breaks, and check for missing or extra commas.',
              { line: err.lines, expected: width, actual: err.record.length },
            );
          }
          throw badRequest('CSV_INVALID', `the CSV cannot be parsed: ${err.message}`);
        }
        const header = records[0];
        if (!header) throw badRequest('PREDICT_NO_ROWS', 'the CSV is empty');
        if (records.length - 1 > MAX_PREDICT_ROWS)
          throw new AppError('PREDICT_TOO_MANY_ROWS', 413, `at most ${MAX_PREDICT_ROWS} rows per call`);
        columns = header;
        rows = records.slice(1).map((r) => Object.fromEntries(header.map((h, j) => [h, r[j] === '' ? null : r[j]])));
      } else {
        const parsed = rowsBody.safeParse(body);
        if (!parsed.success)
          throw badRequest('VALIDATION_ERROR', 'send {"rows": [{"feature": value, …}, …]} or text/csv');
        rows = parsed.data.rows;
        columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
        // Every row must carry every feature key (null for missing): a key absent from one row is a column mismatch.
        const first = new Set(Object.keys(rows[0] ?? {}));
        columns = columns.filter((c) => rows.every((r) => c in r) || !first.has(c));
      }
      return {
        predictions: await predictions.predict(p, a, req.params.model, req.params.version, rows, columns, req.ip, {
          explain: req.query.explain !== 'false',
        }),
      };
    },
  );

  app.get(
    `${API}/projects/:project/predictions`,
    {
      schema: {
        tags: ['predictions'],
        params: z.object({ project: z.string().max(300) }),
        querystring: z.object({
          model: z.string().max(300).optional(),
          deployment: z.string().max(64).optional(),
          source: z.enum(['rest', 'batch', 'cds']).optional(),
          limit: z.coerce.number().int().min(1).max(1000).optional(),
          before: z.string().max(64).optional(),
        }),
      },
    },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'predictions.read');
      return predictions.list(p, a, req.query, req.ip);
    },
  );

  app.post(
    `${API}/projects/:project/models/:model/versions/:version/score`,
    {
      schema: {
        tags: ['predictions'],
        description:
          'Batch-score a tabular dataset version as a job; the scores become a new version of the output dataset.',
        params: mv,
        body: z.object({
          dataset: z.string().max(300),
          datasetVersion: z.number().int().positive(),
          output: z.string().max(300),
          keep: z.array(z.string().max(256)).max(50).optional(),
        }),
      },
    },
    async (req, reply) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'batch.score');
      const job = await enqueueBatch(
        platform,
        p,
        a,
        {
          model: req.params.model,
          version: req.params.version,
          dataset: req.body.dataset,
          datasetVersion: req.body.datasetVersion,
          output: req.body.output,
          keep: req.body.keep ?? [],
        },
        req.ip,
      );
      return reply.status(202).send({ job: { id: job.id, state: job.state } });
    },
  );

  app.get(
    `${API}/projects/:project/jobs/:job`,
    { schema: { tags: ['jobs'], params: z.object({ project: z.string().max(300), job: z.string().max(64) }) } },
    async (req) => {
      const p = await requirePrincipal(platform, req);
      const a = await projects.access(p, req.params.project, 'project.read');
      const job = await platform.jobs.get(req.params.job).catch(() => null);
      if (!job || job.project !== a.project.slug) throw notFoundJob(req.params.job);
      return {
        id: job.id,
        kind: job.kind,
        state: job.state,
        attempts: job.attempts,
        progress: job.progress,
        result: job.result,
        lastError: job.lastError,
        createdAt: job.createdAt,
        finishedAt: job.finishedAt,
      };
    },
  );
}
