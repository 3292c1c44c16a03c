// A project's recent activity for its home page: new dataset versions, studies, model versions and their stage
// changes, and deployment versions — each kind only if the caller's roles may see it. Built from the domain tables
// (not the audit trail, which is for auditors), newest first.
import { z } from 'zod';
import { allows } from '../auth/roles.js';
import type { MetadataStore } from '../db/database.js';
import '../deployments/tables.js';
import type { Access } from '../projects/service.js';
import '../training/tables.js';

export const activitySchema = z.object({
  events: z.array(
    z.object({
      at: z.string(),
      actor: z.string(),
      kind: z.enum(['dataset.version', 'study.start', 'model.version', 'model.stage', 'deployment.version']),
      /** What it concerns, e.g. `cohort@3`, `responder@2`, `dm-response@1`, a study id. */
      subject: z.string(),
      /** Kind-specific facts: a study's status, a stage change's from/to and reason, a version's message. */
      detail: z.record(z.string(), z.unknown()),
    }),
  ),
});
export type Activity = z.infer<typeof activitySchema>;
type Event = Activity['events'][number];

export async function projectActivity(store: MetadataStore, a: Access, limit: number): Promise<Activity> {
  const db = store.db;
  const pid = a.project.id;
  const can = (action: Parameters<typeof allows>[1]) => allows(a.roles, action);
  const parts: Promise<Event[]>[] = [];
  if (can('dataset.list'))
    parts.push(
      db
        .selectFrom('dataset_versions')
        .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
        .select([
          'datasets.name',
          'dataset_versions.version',
          'dataset_versions.created_at',
          'dataset_versions.created_by',
          'dataset_versions.message',
          'dataset_versions.row_count',
        ])
        .where('datasets.project_id', '=', pid)
        .orderBy('dataset_versions.created_at', 'desc')
        .limit(limit)
        .execute()
        .then((rows) =>
          rows.map((r) => ({
            at: r.created_at,
            actor: r.created_by,
            kind: 'dataset.version' as const,
            subject: `${r.name}@${Number(r.version)}`,
            detail: { message: r.message, rows: r.row_count === null ? null : Number(r.row_count) },
          })),
        ),
    );
  if (can('model.read')) {
    parts.push(
      db
        .selectFrom('studies')
        .select(['id', 'created_at', 'created_by', 'status', 'trigger'])
        .where('project_id', '=', pid)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute()
        .then((rows) =>
          rows.map((r) => ({
            at: r.created_at,
            actor: r.created_by,
            kind: 'study.start' as const,
            subject: r.id,
            detail: { status: r.status, trigger: r.trigger },
          })),
        ),
      db
        .selectFrom('model_versions')
        .innerJoin('models', 'models.id', 'model_versions.model_id')
        .select(['models.name', 'model_versions.version', 'model_versions.created_at', 'model_versions.trained_by'])
        .where('models.project_id', '=', pid)
        .orderBy('model_versions.created_at', 'desc')
        .limit(limit)
        .execute()
        .then((rows) =>
          rows.map((r) => ({
            at: r.created_at,
            actor: r.trained_by,
            kind: 'model.version' as const,
            subject: `${r.name}@${Number(r.version)}`,
            detail: {},
          })),
        ),
      db
        .selectFrom('model_stage_events')
        .innerJoin('model_versions', 'model_versions.id', 'model_stage_events.model_version_id')
        .innerJoin('models', 'models.id', 'model_versions.model_id')
        .select([
          'models.name',
          'model_versions.version',
          'model_stage_events.at',
          'model_stage_events.by',
          'model_stage_events.from_stage',
          'model_stage_events.to_stage',
          'model_stage_events.reason',
        ])
        .where('models.project_id', '=', pid)
        .orderBy('model_stage_events.at', 'desc')
        .limit(limit)
        .execute()
        .then((rows) =>
          rows.map((r) => ({
            at: r.at,
            actor: r.by,
            kind: 'model.stage' as const,
            subject: `${r.name}@${Number(r.version)}`,
            detail: { from: r.from_stage, to: r.to_stage, reason: r.reason },
          })),
        ),
    );
  }
  if (can('deployment.read'))
    parts.push(
      db
        .selectFrom('deployment_versions')
        .innerJoin('deployments', 'deployments.id', 'deployment_versions.deployment_id')
        .select([
          'deployments.name',
          'deployment_versions.version',
          'deployment_versions.created_at',
          'deployment_versions.created_by',
          'deployment_versions.target_kind',
        ])
        .where('deployments.project_id', '=', pid)
        .orderBy('deployment_versions.created_at', 'desc')
        .limit(limit)
        .execute()
        .then((rows) =>
          rows.map((r) => ({
            at: r.created_at,
            actor: r.created_by,
            kind: 'deployment.version' as const,
            subject: `${r.name}@${Number(r.version)}`,
            detail: { target: r.target_kind },
          })),
        ),
    );
  const events = (await Promise.all(parts))
    .flat()
    .sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : x.kind.localeCompare(y.kind)))
    .slice(0, limit);
  return { events };
}
