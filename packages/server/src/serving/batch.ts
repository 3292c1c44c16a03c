// Batch scoring: a job that scores every row of a tabular dataset version with a model version and writes the
// scores as a new dataset version (lineage: model version + input version → output), with one summary in the
// prediction log. Rows keep their input order; `keep` columns (e.g. patient_id) are copied next to the scores.
import { Readable } from 'node:stream';
import type { Table } from 'apache-arrow';
import { z } from 'zod';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import { AppError, badRequest, notFound } from '../errors.js';
import { defineHandler } from '../jobs/handlers.js';
import { NonRetryableError, type JobHandler } from '../jobs/worker.js';
import { addEdge } from '../lineage/lineage.js';
import type { Platform } from '../platform.js';
import type { Access, Project } from '../projects/service.js';
import { readArrowTable } from '../training/data.js';
import '../training/tables.js';
import { nameSchema } from '../util.js';
import { checkColumns, type Row } from './predict.js';

export const BATCH_JOB = 'batch.score';
const CHUNK_ROWS = 5_000;

export const batchPayload = z
  .object({
    project: nameSchema,
    model: nameSchema,
    version: z.number().int().positive(),
    dataset: nameSchema,
    datasetVersion: z.number().int().positive(),
    output: nameSchema,
    keep: z.array(z.string().max(256)).max(50).default([]),
    requestedBy: z.string().min(1).max(200),
  })
  .strict();
export type BatchRequest = z.input<typeof batchPayload>;

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString().slice(0, 10) : typeof v === 'bigint' ? v.toString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export async function enqueueBatch(
  platform: Platform,
  p: Principal,
  a: Access,
  req: Omit<BatchRequest, 'project' | 'requestedBy'>,
  client: string,
) {
  const payload = batchPayload.parse({ ...req, project: a.project.slug, requestedBy: p.name });
  await platform.predictions.modelVersionRow(a, payload.model, payload.version);
  const { job, created } = await platform.jobs.enqueue({
    kind: BATCH_JOB,
    project: a.project.slug,
    payload,
    idempotencyKey: `batch:${a.project.slug}:${payload.model}@${payload.version}:${payload.dataset}@${payload.datasetVersion}:${payload.output}:${payload.keep.join(',')}`,
    maxAttempts: 3,
    createdBy: p.name,
  });
  if (created) {
    await platform.audit.append({
      actor: p.name,
      action: 'batch.start',
      target: `model:${a.project.slug}/${payload.model}@${payload.version}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { input: `${payload.dataset}@${payload.datasetVersion}`, output: payload.output, job: job.id },
    });
  }
  return job;
}

export function batchHandler(platform: Platform): JobHandler {
  return defineHandler(batchPayload, async (q, _job, ctx) => {
    const db = platform.store.db;
    const proj = await db.selectFrom('projects').selectAll().where('slug', '=', q.project).executeTakeFirst();
    if (!proj) throw new NonRetryableError(`project ${q.project} no longer exists`);
    const user = await db
      .selectFrom('users')
      .select(['id', 'name', 'is_admin'])
      .where('name', '=', q.requestedBy)
      .executeTakeFirst();
    if (!user) throw new NonRetryableError(`user ${q.requestedBy} no longer exists`);
    const principal: Principal = { userId: user.id, name: user.name, isAdmin: !!user.is_admin, tokenId: 'job' };
    const project: Project = {
      id: proj.id,
      slug: proj.slug,
      name: proj.name,
      description: proj.description,
      createdAt: proj.created_at,
      createdBy: proj.created_by,
    };
    const access: Access = { project, roles: ['owner'] };
    const mv = await platform.predictions.modelVersionRow(access, q.model, q.version);
    if (mv.stage === 'retired') throw new NonRetryableError(`${q.model}@${q.version} is retired`);
    const input = await platform.datasets.version(access, q.dataset, q.datasetVersion).catch((e: unknown) => {
      throw e instanceof AppError && e.status === 404 ? new NonRetryableError(e.message) : e;
    });
    const manifest = await platform.datasets.manifest(input.row.manifest_digest);
    const table: Table = await readArrowTable(platform.objects, manifest);
    const names = table.schema.fields.map((f) => f.name);
    const scorer = await platform.predictions.scorers.get(mv);
    try {
      checkColumns(
        scorer.features.map((f) => f.name),
        names,
      );
      const missingKeep = q.keep.filter((k) => !names.includes(k));
      if (missingKeep.length)
        throw badRequest('BATCH_KEEP_MISSING', `the input has no column(s) ${missingKeep.join(', ')} to keep`);
    } catch (e) {
      throw new NonRetryableError(e instanceof Error ? e.message : String(e));
    }
    const featureCols = scorer.features.map((f) => table.getChild(f.name)!);
    const keepCols = q.keep.map((k) => table.getChild(k)!);
    const n = table.numRows;
    let positives = 0;
    let sum = 0;
    async function* csv(): AsyncGenerator<Uint8Array> {
      yield Buffer.from([...q.keep, 'probability', 'label'].map(csvCell).join(',') + '\n');
      for (let start = 0; start < n; start += CHUNK_ROWS) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const end = Math.min(n, start + CHUNK_ROWS);
        const rows: Row[] = [];
        for (let i = start; i < end; i++) {
          const r: Row = {};
          scorer.features.forEach((f, j) => {
            const v: unknown = featureCols[j]!.get(i);
            r[f.name] = v instanceof Date ? v.getTime() : typeof v === 'bigint' ? Number(v) : v;
          });
          rows.push(r);
        }
        const preds = await scorer.predict(rows, { explain: false });
        let out = '';
        for (let k = 0; k < preds.length; k++) {
          const pr = preds[k]!;
          positives += pr.label;
          sum += pr.probability;
          out +=
            [...keepCols.map((c) => csvCell(c.get(start + k))), pr.probability.toFixed(6), String(pr.label)].join(',') +
            '\n';
        }
        yield Buffer.from(out);
        await ctx.progress({ rowsDone: end, rows: n });
      }
    }
    const pushed = await platform.datasets.pushTabular(principal, access, q.output, Readable.from(csv()), {
      encoding: 'utf-8',
      delimiter: ',',
      message: `scores of ${q.model}@${q.version} on ${q.dataset}@${q.datasetVersion}`,
      client: 'batch-job',
    });
    const out = pushed.version;
    await addEdge(db, { kind: 'model_version', id: mv.id }, { kind: 'dataset_version', id: out.id }, 'scored-into');
    await addEdge(
      db,
      { kind: 'dataset_version', id: input.row.id },
      { kind: 'dataset_version', id: out.id },
      'scored-into',
    );
    await platform.predictions.log(
      [
        {
          projectId: proj.id,
          modelVersionId: mv.id,
          source: 'batch',
          caller: q.requestedBy,
          features: { input: `${q.dataset}@${q.datasetVersion}`, rows: n },
          output: { output: `${q.output}@${out.version}`, rows: n, positives, meanProbability: n ? sum / n : null },
        },
      ],
      [
        {
          actor: q.requestedBy,
          action: 'prediction.create',
          target: `model:${q.project}/${q.model}@${q.version}`,
          project: q.project,
          outcome: 'success',
          details: { source: 'batch', rows: n, output: `${q.output}@${out.version}` },
        },
      ],
    );
    return { output: q.output, version: out.version, rows: n, positives };
  });
}

export function notFoundJob(id: string) {
  return notFound('JOB_NOT_FOUND', `no job ${printable(id)} in this project`);
}
