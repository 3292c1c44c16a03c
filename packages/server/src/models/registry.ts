// The model registry: immutable model versions with their artifacts, platform-computed metrics and card, and the
// stage machine candidate → approved → retired with the two-person rule. Every transition is audited.
import { Readable } from 'node:stream';
import type { Transaction } from 'kysely';
import { loadModel, type LoadedModel } from '@ichigen/ml';
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { allows } from '../auth/roles.js';
import { AppError, badRequest, conflict, forbidden, notFound } from '../errors.js';
import { addEdge } from '../lineage/lineage.js';
import type { Access } from '../projects/service.js';
import type { ObjectStore } from '../storage/object-store/port.js';
import { parseDigest } from '../storage/object-store/port.js';
import type { ModelVersionsTable } from '../training/tables.js';
import '../training/tables.js';
import { newId, nowIso } from '../util.js';
import type { ModelCard } from './card.js';
import type { HoldoutMetrics } from './evaluation.js';

export type Stage = 'candidate' | 'approved' | 'retired';

export interface ModelVersionSummary {
  id: string;
  model: string;
  version: number;
  stage: Stage;
  source: string;
  algorithm: string;
  dataset: string;
  datasetVersion: number;
  datasetDigest: string;
  studyId: string | null;
  auc: number;
  aucCi: { lower: number; upper: number };
  trainedBy: string;
  createdAt: string;
}

/** The two-person rule: whoever trained a version or is responsible for its study may not approve it. */
function isResponsible(r: { responsible_json: string; trained_by: string }, user: string): boolean {
  return r.trained_by === user || (JSON.parse(r.responsible_json) as string[]).includes(user);
}

export interface ModelVersionDetail extends ModelVersionSummary {
  policyId: string | null;
  engineVersion: string;
  seed: number | null;
  params: Record<string, unknown>;
  features: string[];
  threshold: number;
  metrics: HoldoutMetrics;
  card: ModelCard;
  cardMarkdown: string;
  modelDigest: string | null;
  onnxDigest: string | null;
  stageHistory: { from: string; to: string; by: string; reason: string; at: string }[];
}

export interface RegisterInput {
  projectId: string;
  projectSlug: string;
  modelName: string;
  source: 'study' | 'external';
  datasetVersionId: string;
  datasetDigest: string;
  policyId: string | null;
  studyId: string | null;
  engineVersion: string;
  algorithm: string;
  seed: number | null;
  params: Record<string, unknown>;
  features: string[];
  modelDigest: string | null;
  onnxDigest: string | null;
  threshold: number;
  metrics: HoldoutMetrics;
  /** Filled with the final version number and rendered inside the registering transaction. */
  card: Omit<ModelCard, 'version'>;
  renderCard: (card: ModelCard) => string;
  trainedBy: string;
  responsible: string[];
}

type Db = Transaction<Database>;

export class ModelRegistry {
  private readonly loaded = new Map<string, Promise<LoadedModel>>();
  /**
   * Set by the platform: called inside every retiring transaction so a retired version's deployments are withdrawn
   * atomically with it; returns the names of the deployments withdrawn (for the audit trail).
   */
  onRetire: ((tx: Db, modelVersionIds: string[], reason: string) => Promise<string[]>) | null = null;

  constructor(
    private readonly store: MetadataStore,
    private readonly objects: ObjectStore,
    private readonly audit: AuditLog,
  ) {}

  private get db() {
    return this.store.db;
  }

  /** Stores a JSON/bytes artifact in the object store and returns its digest. */
  async putArtifact(bytes: Uint8Array): Promise<string> {
    return (await this.objects.put(Readable.from([Buffer.from(bytes)]))).digest;
  }

  /**
   * Registers a new version as a candidate. Idempotent per study: a second registration for the same study (a
   * re-run after a crash) returns the existing version, so a study never yields two model versions.
   */
  async register(input: RegisterInput): Promise<{ id: string; version: number; created: boolean }> {
    for (let attempt = 0; ; attempt++) {
      if (input.studyId) {
        const existing = await this.db
          .selectFrom('model_versions')
          .select(['id', 'version'])
          .where('study_id', '=', input.studyId)
          .executeTakeFirst();
        if (existing) return { id: existing.id, version: Number(existing.version), created: false };
      }
      try {
        const r = await this.db.transaction().execute(async (tx) => {
          const modelId = await this.ensureModel(tx, input.projectId, input.modelName, input.trainedBy);
          const last = await tx
            .selectFrom('model_versions')
            .select((eb) => eb.fn.max('version').as('v'))
            .where('model_id', '=', modelId)
            .executeTakeFirst();
          const version = (last?.v === null || last?.v === undefined ? 0 : Number(last.v)) + 1;
          const card: ModelCard = { ...input.card, version };
          const row: ModelVersionsTable = {
            id: newId(),
            model_id: modelId,
            version,
            stage: 'candidate',
            source: input.source,
            dataset_version_id: input.datasetVersionId,
            dataset_digest: input.datasetDigest,
            policy_id: input.policyId,
            study_id: input.studyId,
            engine_version: input.engineVersion,
            algorithm: input.algorithm,
            seed: input.seed,
            params_json: JSON.stringify(input.params),
            features_json: JSON.stringify(input.features),
            model_digest: input.modelDigest,
            onnx_digest: input.onnxDigest,
            threshold: input.threshold,
            metrics_json: JSON.stringify(input.metrics),
            card_json: JSON.stringify(card),
            card_md: input.renderCard(card),
            trained_by: input.trainedBy,
            responsible_json: JSON.stringify([...new Set(input.responsible)]),
            created_at: nowIso(),
          };
          await tx.insertInto('model_versions').values(row).execute();
          await addEdge(
            tx,
            { kind: 'dataset_version', id: input.datasetVersionId },
            { kind: input.studyId ? 'study' : 'model_version', id: input.studyId ?? row.id },
            input.studyId ? 'trained-by-study' : 'evaluated-on',
          );
          if (input.studyId)
            await addEdge(tx, { kind: 'study', id: input.studyId }, { kind: 'model_version', id: row.id }, 'produced');
          return { id: row.id, version };
        });
        await this.audit.append({
          actor: input.trainedBy,
          action: 'model.register',
          target: `model:${input.projectSlug}/${input.modelName}@${r.version}`,
          project: input.projectSlug,
          outcome: 'success',
          details: {
            source: input.source,
            study: input.studyId,
            datasetDigest: input.datasetDigest,
            auc: input.metrics.auc,
          },
        });
        return { ...r, created: true };
      } catch (e) {
        if (!isUniqueViolation(e) || attempt >= 5) throw e;
      }
    }
  }

  private async ensureModel(tx: Db, projectId: string, name: string, by: string): Promise<string> {
    const found = await tx
      .selectFrom('models')
      .select('id')
      .where('project_id', '=', projectId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (found) return found.id;
    const id = newId();
    await tx
      .insertInto('models')
      .values({ id, project_id: projectId, name, created_at: nowIso(), created_by: by })
      .execute();
    return id;
  }

  private baseQuery(projectId: string) {
    return this.db
      .selectFrom('model_versions')
      .innerJoin('models', 'models.id', 'model_versions.model_id')
      .innerJoin('dataset_versions', 'dataset_versions.id', 'model_versions.dataset_version_id')
      .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
      .selectAll('model_versions')
      .select([
        'models.name as model_name',
        'datasets.name as dataset_name',
        'dataset_versions.version as dataset_version',
      ])
      .where('models.project_id', '=', projectId);
  }

  async list(a: Access, model?: string): Promise<ModelVersionSummary[]> {
    let q = this.baseQuery(a.project.id);
    if (model) q = q.where('models.name', '=', model);
    const rows = await q.orderBy('models.name').orderBy('model_versions.version', 'desc').execute();
    return rows.map((r) => summarize(r));
  }

  private async row(a: Access, name: string, version: number) {
    const r = await this.baseQuery(a.project.id)
      .where('models.name', '=', name)
      .where('model_versions.version', '=', version)
      .executeTakeFirst();
    if (!r)
      throw notFound(
        'MODEL_VERSION_NOT_FOUND',
        `no model version ${printable(name)}@${version} in project ${a.project.slug}`,
      );
    return r;
  }

  async get(a: Access, name: string, version: number): Promise<ModelVersionDetail> {
    return this.detail(await this.row(a, name, version));
  }

  /**
   * A version's detail plus what `p` may do with it: the same conditions approve/retire enforce (role, stage, the
   * two-person rule), so the console offers only what the server would accept.
   */
  async getWithActions(p: Principal, a: Access, name: string, version: number) {
    const r = await this.row(a, name, version);
    const d = await this.detail(r);
    const approveBlockedBy = !allows(a.roles, 'model.approve')
      ? ('role' as const)
      : d.stage !== 'candidate'
        ? ('stage' as const)
        : isResponsible(r, p.name)
          ? ('two-person-rule' as const)
          : null;
    return {
      ...d,
      actions: {
        approve: approveBlockedBy === null,
        approveBlockedBy,
        retire: allows(a.roles, 'model.retire') && d.stage !== 'retired',
      },
    };
  }

  private async detail(r: Awaited<ReturnType<ModelRegistry['row']>>): Promise<ModelVersionDetail> {
    const history = await this.db
      .selectFrom('model_stage_events')
      .selectAll()
      .where('model_version_id', '=', r.id)
      .orderBy('at')
      .execute();
    return {
      ...summarize(r),
      policyId: r.policy_id,
      engineVersion: r.engine_version,
      seed: r.seed === null ? null : Number(r.seed),
      params: JSON.parse(r.params_json) as Record<string, unknown>,
      features: JSON.parse(r.features_json) as string[],
      threshold: Number(r.threshold),
      metrics: JSON.parse(r.metrics_json) as HoldoutMetrics,
      card: JSON.parse(r.card_json) as ModelCard,
      cardMarkdown: r.card_md,
      modelDigest: r.model_digest,
      onnxDigest: r.onnx_digest,
      stageHistory: history.map((h) => ({ from: h.from_stage, to: h.to_stage, by: h.by, reason: h.reason, at: h.at })),
    };
  }

  /** The approved version of a model, if any (the newest when several are approved). */
  async approvedVersion(projectId: string, name: string) {
    return this.db
      .selectFrom('model_versions')
      .innerJoin('models', 'models.id', 'model_versions.model_id')
      .selectAll('model_versions')
      .where('models.project_id', '=', projectId)
      .where('models.name', '=', name)
      .where('model_versions.stage', '=', 'approved')
      .orderBy('model_versions.version', 'desc')
      .executeTakeFirst();
  }

  /** Loads (and caches) the native model of a version for prediction; the object store verifies its digest. */
  async loadNative(modelDigest: string): Promise<LoadedModel> {
    let p = this.loaded.get(modelDigest);
    if (!p) {
      p = this.objects
        .getBytes(parseDigest(modelDigest))
        .then((b) => loadModel(JSON.parse(b.toString('utf8')) as never));
      this.loaded.set(modelDigest, p);
      p.catch(() => this.loaded.delete(modelDigest));
    }
    return p;
  }

  /**
   * Approves a candidate. Needs the approver role (checked by the caller's access), a reason, and an approver who
   * did not train the model nor author its policy (two-person rule). Retires other approved versions only if asked.
   */
  async approve(
    p: Principal,
    a: Access,
    name: string,
    version: number,
    reason: string,
    opts: { retirePrevious?: boolean; client: string },
  ) {
    const r = await this.row(a, name, version);
    const why = reason.trim();
    if (!why) throw badRequest('REASON_REQUIRED', 'an approval needs a reason (--reason)');
    if (r.stage !== 'candidate')
      throw conflict('INVALID_STAGE', `${name}@${version} is ${r.stage}; only candidates can be approved`);
    if (isResponsible(r, p.name)) {
      await this.audit.append({
        actor: p.name,
        action: 'model.approve',
        target: `model:${a.project.slug}/${name}@${version}`,
        project: a.project.slug,
        outcome: 'denied',
        client: opts.client,
        details: { reason: 'two-person rule' },
      });
      throw forbidden(
        'TWO_PERSON_RULE',
        `you trained ${name}@${version} or wrote its training policy: another approver must approve it`,
      );
    }
    const retired: number[] = [];
    let withdrawn: string[] = [];
    await this.db.transaction().execute(async (tx) => {
      const upd = await tx
        .updateTable('model_versions')
        .set({ stage: 'approved' })
        .where('id', '=', r.id)
        .where('stage', '=', 'candidate')
        .executeTakeFirst();
      if (Number(upd.numUpdatedRows) !== 1)
        throw conflict('INVALID_STAGE', `${name}@${version} changed stage meanwhile`);
      await tx
        .insertInto('model_stage_events')
        .values({
          id: newId(),
          model_version_id: r.id,
          from_stage: 'candidate',
          to_stage: 'approved',
          by: p.name,
          reason: why,
          at: nowIso(),
        })
        .execute();
      if (opts.retirePrevious) {
        const others = await tx
          .selectFrom('model_versions')
          .select(['id', 'version'])
          .where('model_id', '=', r.model_id)
          .where('stage', '=', 'approved')
          .where('id', '!=', r.id)
          .execute();
        for (const o of others) {
          await tx.updateTable('model_versions').set({ stage: 'retired' }).where('id', '=', o.id).execute();
          await tx
            .insertInto('model_stage_events')
            .values({
              id: newId(),
              model_version_id: o.id,
              from_stage: 'approved',
              to_stage: 'retired',
              by: p.name,
              reason: `superseded by v${version}: ${why}`,
              at: nowIso(),
            })
            .execute();
          retired.push(Number(o.version));
        }
        if (this.onRetire && others.length)
          withdrawn = await this.onRetire(
            tx,
            others.map((o) => o.id),
            `superseded by v${version}`,
          );
      }
    });
    await this.audit.append({
      actor: p.name,
      action: 'model.approve',
      target: `model:${a.project.slug}/${name}@${version}`,
      project: a.project.slug,
      outcome: 'success',
      client: opts.client,
      details: { reason: why, retired, ...(withdrawn.length ? { withdrawnDeployments: withdrawn } : {}) },
    });
    for (const v of retired) {
      await this.audit.append({
        actor: p.name,
        action: 'model.retire',
        target: `model:${a.project.slug}/${name}@${v}`,
        project: a.project.slug,
        outcome: 'success',
        client: opts.client,
        details: { reason: `superseded by v${version}` },
      });
    }
    return { model: name, version, stage: 'approved' as const, retired };
  }

  async retire(p: Principal, a: Access, name: string, version: number, reason: string, client: string) {
    const r = await this.row(a, name, version);
    const why = reason.trim();
    if (!why) throw badRequest('REASON_REQUIRED', 'retiring a model version needs a reason (--reason)');
    if (r.stage === 'retired') throw conflict('INVALID_STAGE', `${name}@${version} is already retired`);
    const withdrawn = await this.db.transaction().execute(async (tx) => {
      await tx.updateTable('model_versions').set({ stage: 'retired' }).where('id', '=', r.id).execute();
      await tx
        .insertInto('model_stage_events')
        .values({
          id: newId(),
          model_version_id: r.id,
          from_stage: r.stage,
          to_stage: 'retired',
          by: p.name,
          reason: why,
          at: nowIso(),
        })
        .execute();
      return this.onRetire ? this.onRetire(tx, [r.id], why) : [];
    });
    await this.audit.append({
      actor: p.name,
      action: 'model.retire',
      target: `model:${a.project.slug}/${name}@${version}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { reason: why, from: r.stage, withdrawnDeployments: withdrawn },
    });
    return { model: name, version, stage: 'retired' as const, withdrawnDeployments: withdrawn };
  }

  async artifact(a: Access, name: string, version: number, kind: 'native' | 'onnx'): Promise<Buffer> {
    const r = await this.row(a, name, version);
    const d = kind === 'native' ? r.model_digest : r.onnx_digest;
    if (!d) throw new AppError('ARTIFACT_NOT_AVAILABLE', 404, `${name}@${version} has no ${kind} artifact`);
    return this.objects.getBytes(parseDigest(d));
  }
}

function summarize(
  r: ModelVersionsTable & { model_name: string; dataset_name: string; dataset_version: number },
): ModelVersionSummary {
  const m = JSON.parse(r.metrics_json) as HoldoutMetrics;
  return {
    id: r.id,
    model: r.model_name,
    version: Number(r.version),
    stage: r.stage as Stage,
    source: r.source,
    algorithm: r.algorithm,
    dataset: r.dataset_name,
    datasetVersion: Number(r.dataset_version),
    datasetDigest: r.dataset_digest,
    studyId: r.study_id,
    auc: m.auc,
    aucCi: { lower: m.aucCi.lower, upper: m.aucCi.upper },
    trainedBy: r.trained_by,
    createdAt: r.created_at,
  };
}
