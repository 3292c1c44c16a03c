// Training policies and studies: set a policy per dataset, start a study by hand or when a new version lands,
// follow its trials, cancel it. The study itself runs as a durable job (see study-runner.ts).
import { defaultSearchSpace, MlError, overrideSpace, validateSpace, type SpaceOverrides } from '@ichigen/ml';
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { JobQueue } from '../jobs/queue.js';
import { addEdge } from '../lineage/lineage.js';
import type { Access } from '../projects/service.js';
import { validateName } from '../projects/service.js';
import { newId, nowIso } from '../util.js';
import { policySpecSchema, type Policy, type PolicyInput, type PolicySpec } from './policy.js';
import type { StudiesTable } from './tables.js';
import './tables.js';

export const STUDY_JOB = 'study.run';

export interface StudySummary {
  id: string;
  project: string;
  dataset: string;
  datasetVersion: number;
  status: string;
  trigger: string;
  trials: number;
  trialsDone: number;
  bestValue: number | null;
  bestTrial: number | null;
  metric: string;
  error: string | null;
  modelVersion: { model: string; version: number } | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  jobId: string | null;
}

export interface TrialInfo {
  number: number;
  algorithm: string;
  params: Record<string, unknown>;
  state: string;
  value: number | null;
  folds: unknown;
  durationMs: number;
  error: string | null;
  finishedAt: string;
}

export interface VersionCreatedEvent {
  principal: Principal;
  access: Access;
  datasetId: string;
  datasetName: string;
  versionId: string;
  version: number;
}

export class TrainingService {
  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly jobs: JobQueue,
    /** The server's `maxParallelTrials`: a policy asking for more trials at once is refused. */
    private readonly maxParallelTrials = 64,
  ) {}

  private get db() {
    return this.store.db;
  }

  /** The dataset row; `hint` ends the not-found message with what to do instead. */
  private async dataset(a: Access, name: string, hint = '') {
    validateName('dataset', name);
    const d = await this.db
      .selectFrom('datasets')
      .selectAll()
      .where('project_id', '=', a.project.id)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!d) throw notFound('DATASET_NOT_FOUND', `no dataset "${printable(name)}" in project ${a.project.slug}${hint}`);
    return d;
  }

  async setPolicy(p: Principal, a: Access, datasetName: string, input: PolicyInput, client: string): Promise<Policy> {
    const d = await this.dataset(a, datasetName, ': push its first version, then set its policy');
    if (d.kind !== 'tabular')
      throw badRequest('NOT_TABULAR', `dataset ${datasetName} holds files; training policies need tabular data`);
    const parsed = policySpecSchema.safeParse(input);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw badRequest('INVALID_POLICY', `policy field ${i.path.join('.') || '(policy)'}: ${i.message}`);
    }
    const spec = parsed.data;
    if (spec.parallelTrials !== undefined && spec.parallelTrials > this.maxParallelTrials) {
      throw badRequest(
        'INVALID_POLICY',
        `policy field parallelTrials: at most ${this.maxParallelTrials} on this server (its maxParallelTrials setting)`,
      );
    }
    if (spec.searchSpace) checkSearchSpace(spec);
    const existing = await this.db
      .selectFrom('training_policies')
      .selectAll()
      .where('dataset_id', '=', d.id)
      .executeTakeFirst();
    const now = nowIso();
    let id: string;
    let revision: number;
    if (existing) {
      id = existing.id;
      revision = Number(existing.revision) + 1;
      await this.db
        .updateTable('training_policies')
        .set({ spec_json: JSON.stringify(spec), revision, updated_by: p.name, updated_at: now })
        .where('id', '=', id)
        .execute();
    } else {
      id = newId();
      revision = 1;
      await this.db
        .insertInto('training_policies')
        .values({
          id,
          project_id: a.project.id,
          dataset_id: d.id,
          revision,
          spec_json: JSON.stringify(spec),
          updated_by: p.name,
          updated_at: now,
        })
        .execute();
    }
    await this.audit.append({
      actor: p.name,
      action: 'policy.set',
      target: `dataset:${a.project.slug}/${datasetName}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { revision, spec },
    });
    return { id, project: a.project.slug, dataset: datasetName, revision, spec, updatedBy: p.name, updatedAt: now };
  }

  async getPolicy(a: Access, datasetName: string): Promise<Policy> {
    const d = await this.dataset(a, datasetName);
    const r = await this.db
      .selectFrom('training_policies')
      .selectAll()
      .where('dataset_id', '=', d.id)
      .executeTakeFirst();
    if (!r)
      throw notFound(
        'POLICY_NOT_FOUND',
        `dataset ${a.project.slug}/${datasetName} has no training policy; set one with \`ichigen policy set\``,
      );
    return {
      id: r.id,
      project: a.project.slug,
      dataset: datasetName,
      revision: Number(r.revision),
      spec: JSON.parse(r.spec_json) as PolicySpec,
      updatedBy: r.updated_by,
      updatedAt: r.updated_at,
    };
  }

  /** Called after every new dataset version: starts a study when the dataset's policy asks for it. */
  async onVersionCreated(ev: VersionCreatedEvent): Promise<string[]> {
    const r = await this.db
      .selectFrom('training_policies')
      .selectAll()
      .where('dataset_id', '=', ev.datasetId)
      .executeTakeFirst();
    if (!r) return [];
    const spec = JSON.parse(r.spec_json) as PolicySpec;
    if (!spec.onNewVersion) return [];
    try {
      const s = await this.createStudy(ev.principal, ev.access, ev.datasetName, ev.version, 'new-version', '127.0.0.1');
      return [s.id];
    } catch (e) {
      // The version is committed either way; a study that could not be queued is recorded, not thrown at the pusher.
      await this.audit.append({
        actor: ev.principal.name,
        action: 'study.start',
        target: `dataset:${ev.access.project.slug}/${ev.datasetName}@${ev.version}`,
        project: ev.access.project.slug,
        outcome: 'failure',
        details: { error: e instanceof Error ? e.message : String(e) },
      });
      return [];
    }
  }

  /** Creates a study of one dataset version under the dataset's current policy and queues its job. */
  async createStudy(
    p: Principal,
    a: Access,
    datasetName: string,
    version: number,
    trigger: 'new-version' | 'manual',
    client: string,
  ): Promise<StudySummary> {
    const d = await this.dataset(a, datasetName);
    const policy = await this.getPolicy(a, datasetName);
    const v = await this.db
      .selectFrom('dataset_versions')
      .selectAll()
      .where('dataset_id', '=', d.id)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!v) throw notFound('VERSION_NOT_FOUND', `dataset ${a.project.slug}/${datasetName} has no version ${version}`);
    // One automatic study per (version, policy revision): a re-delivered event never starts a second one.
    if (trigger === 'new-version') {
      const dup = await this.db
        .selectFrom('studies')
        .selectAll()
        .where('dataset_version_id', '=', v.id)
        .where('policy_id', '=', policy.id)
        .where('policy_revision', '=', policy.revision)
        .where('trigger', '=', 'new-version')
        .executeTakeFirst();
      if (dup) return this.summary(dup);
    }
    const row: StudiesTable = {
      id: newId(),
      project_id: a.project.id,
      dataset_version_id: v.id,
      policy_id: policy.id,
      policy_revision: policy.revision,
      spec_json: JSON.stringify(policy.spec),
      status: 'queued',
      trigger,
      job_id: null,
      n_trials: policy.spec.trials,
      trials_done: 0,
      best_value: null,
      best_trial: null,
      error: null,
      report_json: null,
      model_version_id: null,
      created_by: p.name,
      policy_author: policy.updatedBy,
      created_at: nowIso(),
      started_at: null,
      finished_at: null,
    };
    await this.db.insertInto('studies').values(row).execute();
    await addEdge(this.db, { kind: 'dataset_version', id: v.id }, { kind: 'study', id: row.id }, 'studied-by');
    const { job } = await this.jobs.enqueue({
      kind: STUDY_JOB,
      project: a.project.slug,
      payload: { studyId: row.id },
      idempotencyKey: `study:${row.id}`,
      maxAttempts: 3,
      createdBy: p.name,
    });
    await this.db.updateTable('studies').set({ job_id: job.id }).where('id', '=', row.id).execute();
    await this.audit.append({
      actor: p.name,
      action: 'study.start',
      target: `study:${row.id}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { dataset: `${datasetName}@${version}`, trigger, policyRevision: policy.revision },
    });
    return this.summary({ ...row, job_id: job.id });
  }

  async list(a: Access, opts: { limit?: number; status?: string } = {}): Promise<StudySummary[]> {
    let q = this.db.selectFrom('studies').selectAll().where('project_id', '=', a.project.id);
    if (opts.status) q = q.where('status', '=', opts.status);
    const rows = await q
      .orderBy('created_at', 'desc')
      .limit(Math.min(opts.limit ?? 100, 500))
      .execute();
    return Promise.all(rows.map((r) => this.summary(r)));
  }

  async get(
    a: Access,
    id: string,
  ): Promise<StudySummary & { trialsList: TrialInfo[]; report: unknown; spec: PolicySpec }> {
    const r = await this.db
      .selectFrom('studies')
      .selectAll()
      .where('id', '=', id)
      .where('project_id', '=', a.project.id)
      .executeTakeFirst();
    if (!r) throw notFound('STUDY_NOT_FOUND', `no study ${printable(id)} in project ${a.project.slug}`);
    const trials = await this.db
      .selectFrom('trials')
      .selectAll()
      .where('study_id', '=', id)
      .orderBy('number')
      .execute();
    return {
      ...(await this.summary(r)),
      spec: JSON.parse(r.spec_json) as PolicySpec,
      report: r.report_json ? JSON.parse(r.report_json) : null,
      trialsList: trials.map((t) => ({
        number: Number(t.number),
        algorithm: t.algorithm,
        params: JSON.parse(t.params_json) as Record<string, unknown>,
        state: t.state,
        value: t.value === null ? null : Number(t.value),
        folds: JSON.parse(t.folds_json),
        durationMs: Number(t.duration_ms),
        error: t.error,
        finishedAt: t.finished_at,
      })),
    };
  }

  async cancel(p: Principal, a: Access, id: string, client: string): Promise<StudySummary> {
    const r = await this.db
      .selectFrom('studies')
      .selectAll()
      .where('id', '=', id)
      .where('project_id', '=', a.project.id)
      .executeTakeFirst();
    if (!r) throw notFound('STUDY_NOT_FOUND', `no study ${printable(id)} in project ${a.project.slug}`);
    if (['succeeded', 'failed', 'cancelled'].includes(r.status))
      throw conflict('STUDY_FINISHED', `study ${id} already ${r.status}`);
    if (r.job_id) await this.jobs.cancel(r.job_id, p.name);
    if (r.status === 'queued') {
      await this.db
        .updateTable('studies')
        .set({ status: 'cancelled', finished_at: nowIso() })
        .where('id', '=', id)
        .where('status', '=', 'queued')
        .execute();
    }
    await this.audit.append({
      actor: p.name,
      action: 'study.cancel',
      target: `study:${id}`,
      project: a.project.slug,
      outcome: 'success',
      client,
    });
    const now = await this.db.selectFrom('studies').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return this.summary(now);
  }

  async summary(r: StudiesTable): Promise<StudySummary> {
    const dv = await this.db
      .selectFrom('dataset_versions')
      .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
      .innerJoin('projects', 'projects.id', 'datasets.project_id')
      .select(['datasets.name', 'dataset_versions.version', 'projects.slug'])
      .where('dataset_versions.id', '=', r.dataset_version_id)
      .executeTakeFirstOrThrow();
    let mv: StudySummary['modelVersion'] = null;
    if (r.model_version_id) {
      const m = await this.db
        .selectFrom('model_versions')
        .innerJoin('models', 'models.id', 'model_versions.model_id')
        .select(['models.name', 'model_versions.version'])
        .where('model_versions.id', '=', r.model_version_id)
        .executeTakeFirst();
      if (m) mv = { model: m.name, version: Number(m.version) };
    }
    const spec = JSON.parse(r.spec_json) as PolicySpec;
    return {
      id: r.id,
      project: dv.slug,
      dataset: dv.name,
      datasetVersion: Number(dv.version),
      status: r.status,
      trigger: r.trigger,
      trials: Number(r.n_trials),
      trialsDone: Number(r.trials_done),
      bestValue: r.best_value === null ? null : Number(r.best_value),
      bestTrial: r.best_trial === null ? null : Number(r.best_trial),
      metric: spec.metric,
      error: r.error,
      modelVersion: mv,
      createdBy: r.created_by,
      createdAt: r.created_at,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      jobId: r.job_id,
    };
  }
}

/**
 * Search-space overrides are checked when the policy is set, with the same rules the study applies, so a bad one
 * is refused at `policy set` instead of failing the next study.
 */
function checkSearchSpace(spec: PolicySpec): void {
  try {
    const base = defaultSearchSpace({ numRows: 1000, algorithms: spec.algorithms });
    validateSpace(overrideSpace(base, spec.searchSpace as SpaceOverrides));
  } catch (e) {
    // Anything thrown here comes from the override's shape (e.g. a branch without branches).
    throw badRequest(
      'INVALID_POLICY',
      `policy field searchSpace: ${e instanceof MlError ? e.message : 'not a valid override of the search space'}`,
    );
  }
}
