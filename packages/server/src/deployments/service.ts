// Deployments: an approved model version or rule version bound to applicability rules, a FHIR feature mapping and a
// card template. Versioned (every change is a new immutable version), audited, validated at creation, withdrawn
// when their target is retired.
import type { Transaction } from 'kysely';
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { addEdge } from '../lineage/lineage.js';
import type { Access } from '../projects/service.js';
import { validateName } from '../projects/service.js';
import type { RuleSpec } from '../rules/rule.js';
import type { RuleService } from '../rules/service.js';
import '../training/tables.js';
import { canonicalJson, newId, nowIso } from '../util.js';
import { checkMapping } from './fhir.js';
import { checkCardTemplate, DEFAULT_SERVICE, deploymentSpecSchema, HOOKS, type DeploymentSpec } from './spec.js';
import './tables.js';

export interface DeploymentInfo {
  id: string;
  name: string;
  project: string;
  version: number;
  status: string;
  statusReason: string;
  target: { kind: 'model' | 'rule'; name: string; version: number; id: string };
  service: string;
  hooks: string[];
  spec: DeploymentSpec;
  createdBy: string;
  updatedAt: string;
}

/** What the CDS service needs of an active deployment. */
export interface ActiveDeployment extends DeploymentInfo {
  projectId: string;
  versionId: string;
}

type Tx = Transaction<Database>;

/**
 * How long the active-deployment list of a set of projects is reused. Changes made through this process (deploy,
 * withdraw, retiring a target) take effect at once; changes made by another server process within this time.
 */
export const ACTIVE_CACHE_MS = 2_000;

export class DeploymentService {
  /** Bumped by every change to deployments made here; cached lists from an older generation are dropped. */
  private generation = 0;
  private readonly activeCache = new Map<string, { gen: number; until: number; deps: ActiveDeployment[] }>();

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly rules: RuleService,
  ) {}

  private get db() {
    return this.store.db;
  }

  /** Parses and checks a spec: shape, target approved, one mapping per model feature, expressions, card bands. */
  async validate(a: Access, raw: unknown) {
    const r = deploymentSpecSchema.safeParse(raw);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw badRequest(
        'DEPLOYMENT_INVALID',
        `the deployment is not valid at ${i.path.join('.') || '(root)'}: ${i.message}`,
      );
    }
    const spec = r.data;
    let target: {
      kind: 'model' | 'rule';
      id: string;
      features: string[];
      categories: string[];
      outputKind: 'probability' | 'rule';
    };
    if ('model' in spec.target) {
      const mv = await this.db
        .selectFrom('model_versions')
        .innerJoin('models', 'models.id', 'model_versions.model_id')
        .select(['model_versions.id', 'model_versions.stage', 'model_versions.features_json'])
        .where('models.project_id', '=', a.project.id)
        .where('models.name', '=', spec.target.model)
        .where('model_versions.version', '=', spec.target.version)
        .executeTakeFirst();
      if (!mv)
        throw notFound(
          'MODEL_VERSION_NOT_FOUND',
          `no model version ${printable(spec.target.model)}@${spec.target.version} in ${a.project.slug}`,
        );
      if (mv.stage !== 'approved')
        throw conflict(
          'NOT_APPROVED',
          `${spec.target.model}@${spec.target.version} is ${mv.stage}; only approved versions can be deployed`,
        );
      target = {
        kind: 'model',
        id: mv.id,
        features: JSON.parse(mv.features_json) as string[],
        categories: [],
        outputKind: 'probability',
      };
    } else {
      const rv = await this.rules.approvedRow(a, spec.target.rule, spec.target.version);
      const out = rv.spec.output;
      target = {
        kind: 'rule',
        id: rv.id,
        features: rv.spec.features.map((f) => f.name),
        categories:
          out.kind === 'category'
            ? [...out.cases.map((c) => c.category), ...(out.otherwise ? [out.otherwise] : [])]
            : [],
        outputKind: 'rule',
      };
    }
    const mapped = new Map<string, number>();
    spec.mapping.forEach((m, i) => {
      if (mapped.has(m.feature))
        throw badRequest('DEPLOYMENT_INVALID', `mapping[${i}]: feature ${m.feature} is mapped twice`);
      mapped.set(m.feature, i);
      checkMapping(m, `mapping[${i}] (${m.feature})`);
    });
    const missing = target.features.filter((f) => !mapped.has(f));
    if (missing.length)
      throw badRequest(
        'DEPLOYMENT_MAPPING_INCOMPLETE',
        `every model feature needs a mapping; missing: ${missing.join(', ')}`,
        { missing },
      );
    const extra = [...mapped.keys()].filter((f) => !target.features.includes(f));
    if (extra.length)
      throw badRequest(
        'DEPLOYMENT_INVALID',
        `the mapping names feature(s) the target does not use: ${extra.join(', ')}`,
        { extra },
      );
    checkCardTemplate(spec.card, target.outputKind, target.categories);
    return { spec, target };
  }

  /**
   * Creates a deployment, or a new version of it. An identical spec on an active deployment is a no-op (idempotent);
   * a new version reactivates a withdrawn deployment.
   */
  async put(p: Principal, a: Access, name: string, raw: unknown, client: string) {
    validateName('deployment', name);
    const { spec, target } = await this.validate(a, raw);
    const specJson = canonicalJson(spec);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.db.transaction().execute(async (tx) => {
          const d = await tx
            .selectFrom('deployments')
            .selectAll()
            .where('project_id', '=', a.project.id)
            .where('name', '=', name)
            .executeTakeFirst();
          if (d) {
            const cur = await tx
              .selectFrom('deployment_versions')
              .select('spec_json')
              .where('deployment_id', '=', d.id)
              .where('version', '=', d.current_version)
              .executeTakeFirstOrThrow();
            if (cur.spec_json === specJson && d.status === 'active')
              return { id: d.id, version: Number(d.current_version), created: false };
          }
          // The target must still be approved when the row is written (a retirement may have raced us).
          const stage =
            target.kind === 'model'
              ? (
                  await tx
                    .selectFrom('model_versions')
                    .select('stage')
                    .where('id', '=', target.id)
                    .executeTakeFirstOrThrow()
                ).stage
              : (
                  await tx
                    .selectFrom('rule_versions')
                    .select('stage')
                    .where('id', '=', target.id)
                    .executeTakeFirstOrThrow()
                ).stage;
          if (stage !== 'approved') throw conflict('NOT_APPROVED', 'the target was retired meanwhile');
          const now = nowIso();
          const id = d?.id ?? newId();
          const version = d ? Number(d.current_version) + 1 : 1;
          if (d)
            await tx
              .updateTable('deployments')
              .set({ current_version: version, status: 'active', status_reason: '', updated_at: now })
              .where('id', '=', id)
              .execute();
          else
            await tx
              .insertInto('deployments')
              .values({
                id,
                project_id: a.project.id,
                name,
                current_version: version,
                status: 'active',
                status_reason: '',
                created_at: now,
                created_by: p.name,
                updated_at: now,
              })
              .execute();
          await tx
            .insertInto('deployment_versions')
            .values({
              id: newId(),
              deployment_id: id,
              version,
              target_kind: target.kind,
              model_version_id: target.kind === 'model' ? target.id : null,
              rule_version_id: target.kind === 'rule' ? target.id : null,
              spec_json: specJson,
              created_by: p.name,
              created_at: now,
            })
            .execute();
          if (target.kind === 'model')
            await addEdge(tx, { kind: 'model_version', id: target.id }, { kind: 'deployment', id }, 'deployed-as');
          return { id, version, created: true };
        });
        if (r.created)
          await this.audit.append({
            actor: p.name,
            action: r.version === 1 ? 'deployment.create' : 'deployment.update',
            target: `deployment:${a.project.slug}/${name}@${r.version}`,
            project: a.project.slug,
            outcome: 'success',
            client,
            details: { target: spec.target, hooks: spec.hooks ?? HOOKS, service: spec.service ?? DEFAULT_SERVICE },
          });
        this.changed();
        return { deployment: name, ...r, status: 'active' };
      } catch (e) {
        if (!isUniqueViolation(e) || attempt >= 5) throw e;
      }
    }
  }

  private query() {
    return this.db
      .selectFrom('deployments')
      .innerJoin('deployment_versions', (j) =>
        j
          .onRef('deployment_versions.deployment_id', '=', 'deployments.id')
          .onRef('deployment_versions.version', '=', 'deployments.current_version'),
      )
      .innerJoin('projects', 'projects.id', 'deployments.project_id')
      .leftJoin('model_versions', 'model_versions.id', 'deployment_versions.model_version_id')
      .leftJoin('models', 'models.id', 'model_versions.model_id')
      .leftJoin('rule_versions', 'rule_versions.id', 'deployment_versions.rule_version_id')
      .leftJoin('rule_models', 'rule_models.id', 'rule_versions.rule_model_id')
      .select([
        'deployments.id',
        'deployments.name',
        'deployments.project_id',
        'deployments.current_version',
        'deployments.status',
        'deployments.status_reason',
        'deployments.updated_at',
        'deployment_versions.id as version_id',
        'deployment_versions.target_kind',
        'deployment_versions.spec_json',
        'deployment_versions.created_by',
        'deployment_versions.model_version_id',
        'deployment_versions.rule_version_id',
        'projects.slug',
        'models.name as model_name',
        'model_versions.version as model_version',
        'rule_models.name as rule_name',
        'rule_versions.version as rule_version',
      ]);
  }

  private toInfo(
    r: Awaited<ReturnType<ReturnType<DeploymentService['query']>['executeTakeFirstOrThrow']>>,
  ): ActiveDeployment {
    const spec = JSON.parse(r.spec_json) as DeploymentSpec;
    return {
      id: r.id,
      name: r.name,
      project: r.slug,
      projectId: r.project_id,
      version: Number(r.current_version),
      versionId: r.version_id,
      status: r.status,
      statusReason: r.status_reason,
      target:
        r.target_kind === 'model'
          ? { kind: 'model', name: r.model_name ?? '?', version: Number(r.model_version), id: r.model_version_id! }
          : { kind: 'rule', name: r.rule_name ?? '?', version: Number(r.rule_version), id: r.rule_version_id! },
      service: spec.service ?? DEFAULT_SERVICE,
      hooks: spec.hooks ?? [...HOOKS],
      spec,
      createdBy: r.created_by,
      updatedAt: r.updated_at,
    };
  }

  async list(a: Access): Promise<DeploymentInfo[]> {
    const rows = await this.query()
      .where('deployments.project_id', '=', a.project.id)
      .orderBy('deployments.name')
      .execute();
    return rows.map((r) => this.toInfo(r));
  }

  async get(
    a: Access,
    name: string,
  ): Promise<
    DeploymentInfo & { history: { version: number; createdBy: string; createdAt: string; target: string }[] }
  > {
    const r = await this.query()
      .where('deployments.project_id', '=', a.project.id)
      .where('deployments.name', '=', name)
      .executeTakeFirst();
    if (!r) throw notFound('DEPLOYMENT_NOT_FOUND', `no deployment ${printable(name)} in ${a.project.slug}`);
    const h = await this.db
      .selectFrom('deployment_versions')
      .select(['version', 'created_by', 'created_at', 'spec_json'])
      .where('deployment_id', '=', r.id)
      .orderBy('version', 'desc')
      .execute();
    return {
      ...this.toInfo(r),
      history: h.map((v) => {
        const t = (JSON.parse(v.spec_json) as DeploymentSpec).target;
        return {
          version: Number(v.version),
          createdBy: v.created_by,
          createdAt: v.created_at,
          target: 'model' in t ? `model ${t.model}@${t.version}` : `rule ${t.rule}@${t.version}`,
        };
      }),
    };
  }

  /** Active deployments in the given projects (the CDS service's view). */
  async active(projectIds: string[]): Promise<ActiveDeployment[]> {
    if (projectIds.length === 0) return [];
    const key = [...projectIds].sort().join(',');
    const now = Date.now();
    const hit = this.activeCache.get(key);
    if (hit && hit.gen === this.generation && now < hit.until) return hit.deps;
    const gen = this.generation;
    const rows = await this.query()
      .where('deployments.status', '=', 'active')
      .where('deployments.project_id', 'in', projectIds)
      .orderBy('projects.slug')
      .orderBy('deployments.name')
      .execute();
    const deps = rows.map((r) => this.toInfo(r));
    if (this.activeCache.size > 1000) this.activeCache.clear();
    this.activeCache.set(key, { gen, until: now + ACTIVE_CACHE_MS, deps });
    return deps;
  }

  /** Drops the cached active-deployment lists (after any change to deployments). */
  private changed(): void {
    this.generation++;
    this.activeCache.clear();
  }

  async withdraw(p: Principal, a: Access, name: string, reason: string, client: string) {
    const why = reason.trim();
    if (!why) throw badRequest('REASON_REQUIRED', 'withdrawing a deployment needs a reason');
    const u = await this.db
      .updateTable('deployments')
      .set({ status: 'withdrawn', status_reason: why, updated_at: nowIso() })
      .where('project_id', '=', a.project.id)
      .where('name', '=', name)
      .where('status', '=', 'active')
      .executeTakeFirst();
    this.changed();
    if (Number(u.numUpdatedRows) !== 1) {
      await this.get(a, name); // 404 if it does not exist
      throw conflict('INVALID_STATUS', `deployment ${name} is already withdrawn`);
    }
    await this.audit.append({
      actor: p.name,
      action: 'deployment.withdraw',
      target: `deployment:${a.project.slug}/${name}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { reason: why },
    });
    return { deployment: name, status: 'withdrawn' as const };
  }

  /** Withdraws every active deployment whose current version uses one of these targets (inside the caller's tx). */
  async withdrawFor(tx: Tx, kind: 'model' | 'rule', ids: string[], reason: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const col = kind === 'model' ? 'deployment_versions.model_version_id' : 'deployment_versions.rule_version_id';
    const rows = await tx
      .selectFrom('deployments')
      .innerJoin('deployment_versions', (j) =>
        j
          .onRef('deployment_versions.deployment_id', '=', 'deployments.id')
          .onRef('deployment_versions.version', '=', 'deployments.current_version'),
      )
      .select(['deployments.id', 'deployments.name'])
      .where('deployments.status', '=', 'active')
      .where(col, 'in', ids)
      .execute();
    for (const r of rows)
      await tx
        .updateTable('deployments')
        .set({ status: 'withdrawn', status_reason: `target retired: ${reason}`, updated_at: nowIso() })
        .where('id', '=', r.id)
        .execute();
    this.changed();
    return rows.map((r) => r.name);
  }
}

export type { RuleSpec };
