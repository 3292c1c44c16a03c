// The registry of rule models: immutable, versioned JSON rules with the same stage machine as model versions
// (candidate → approved → retired), the two-person rule for approval, and withdrawal of deployments on retirement.
import type { Transaction } from 'kysely';
import type { AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import type { Database } from '../db/schema.js';
import '../deployments/tables.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import type { Access } from '../projects/service.js';
import { validateName } from '../projects/service.js';
import { newId, nowIso } from '../util.js';
import { parseRuleSpec, type RuleSpec } from './rule.js';

export interface RuleVersionInfo {
  id: string;
  rule: string;
  version: number;
  stage: string;
  description: string;
  spec: RuleSpec;
  createdBy: string;
  createdAt: string;
  stageHistory: { from: string; to: string; by: string; reason: string; at: string }[];
}

/** Called inside the retiring transaction; returns the names of the deployments it withdrew. */
export type WithdrawHook = (tx: Transaction<Database>, ruleVersionIds: string[], reason: string) => Promise<string[]>;

export class RuleService {
  /** Set by the platform: retiring a rule version withdraws its deployments in the same transaction. */
  onRetire: WithdrawHook | null = null;

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
  ) {}

  private get db() {
    return this.store.db;
  }

  /** Registers a new candidate version of a rule model (creating the rule model on first use). */
  async register(p: Principal, a: Access, name: string, body: { spec: unknown; description?: string }, client: string) {
    validateName('rule', name);
    const spec = parseRuleSpec(body.spec);
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.db.transaction().execute(async (tx) => {
          let rm = await tx
            .selectFrom('rule_models')
            .select('id')
            .where('project_id', '=', a.project.id)
            .where('name', '=', name)
            .executeTakeFirst();
          if (!rm) {
            rm = { id: newId() };
            await tx
              .insertInto('rule_models')
              .values({ id: rm.id, project_id: a.project.id, name, created_at: nowIso(), created_by: p.name })
              .execute();
          }
          const last = await tx
            .selectFrom('rule_versions')
            .select((eb) => eb.fn.max('version').as('v'))
            .where('rule_model_id', '=', rm.id)
            .executeTakeFirst();
          const version = (last?.v === null || last?.v === undefined ? 0 : Number(last.v)) + 1;
          const id = newId();
          await tx
            .insertInto('rule_versions')
            .values({
              id,
              rule_model_id: rm.id,
              version,
              stage: 'candidate',
              spec_json: JSON.stringify(spec),
              description: body.description ?? '',
              created_by: p.name,
              created_at: nowIso(),
            })
            .execute();
          return { id, version };
        });
        await this.audit.append({
          actor: p.name,
          action: 'rule.register',
          target: `rule:${a.project.slug}/${name}@${r.version}`,
          project: a.project.slug,
          outcome: 'success',
          client,
        });
        return { rule: name, version: r.version, stage: 'candidate' as const };
      } catch (e) {
        if (!isUniqueViolation(e) || attempt >= 5) throw e;
      }
    }
  }

  private async row(a: Access, name: string, version: number) {
    const r = await this.db
      .selectFrom('rule_versions')
      .innerJoin('rule_models', 'rule_models.id', 'rule_versions.rule_model_id')
      .selectAll('rule_versions')
      .select('rule_models.name as rule_name')
      .where('rule_models.project_id', '=', a.project.id)
      .where('rule_models.name', '=', name)
      .where('rule_versions.version', '=', version)
      .executeTakeFirst();
    if (!r)
      throw notFound('RULE_VERSION_NOT_FOUND', `no rule version ${printable(name)}@${version} in ${a.project.slug}`);
    return r;
  }

  /** The approved version row, or an error saying why it cannot be deployed. */
  async approvedRow(a: Access, name: string, version: number) {
    const r = await this.row(a, name, version);
    if (r.stage !== 'approved')
      throw conflict('NOT_APPROVED', `rule ${name}@${version} is ${r.stage}; only approved versions can be deployed`);
    return { id: r.id, spec: JSON.parse(r.spec_json) as RuleSpec };
  }

  async get(a: Access, name: string, version: number): Promise<RuleVersionInfo> {
    const r = await this.row(a, name, version);
    const h = await this.db
      .selectFrom('rule_stage_events')
      .selectAll()
      .where('rule_version_id', '=', r.id)
      .orderBy('at')
      .execute();
    return {
      id: r.id,
      rule: r.rule_name,
      version: Number(r.version),
      stage: r.stage,
      description: r.description,
      spec: JSON.parse(r.spec_json) as RuleSpec,
      createdBy: r.created_by,
      createdAt: r.created_at,
      stageHistory: h.map((e) => ({ from: e.from_stage, to: e.to_stage, by: e.by, reason: e.reason, at: e.at })),
    };
  }

  async list(a: Access) {
    const rows = await this.db
      .selectFrom('rule_versions')
      .innerJoin('rule_models', 'rule_models.id', 'rule_versions.rule_model_id')
      .select([
        'rule_models.name',
        'rule_versions.version',
        'rule_versions.stage',
        'rule_versions.created_by',
        'rule_versions.created_at',
      ])
      .where('rule_models.project_id', '=', a.project.id)
      .orderBy('rule_models.name')
      .orderBy('rule_versions.version', 'desc')
      .execute();
    return rows.map((r) => ({
      rule: r.name,
      version: Number(r.version),
      stage: r.stage,
      createdBy: r.created_by,
      createdAt: r.created_at,
    }));
  }

  /** Approval: the approver role (checked by access), a reason, and someone other than the rule's author. */
  async approve(p: Principal, a: Access, name: string, version: number, reason: string, client: string) {
    const r = await this.row(a, name, version);
    const why = reason.trim();
    if (!why) throw badRequest('REASON_REQUIRED', 'an approval needs a reason');
    if (r.stage !== 'candidate')
      throw conflict('INVALID_STAGE', `${name}@${version} is ${r.stage}; only candidates can be approved`);
    const target = `rule:${a.project.slug}/${name}@${version}`;
    if (r.created_by === p.name) {
      await this.audit.append({
        actor: p.name,
        action: 'rule.approve',
        target,
        project: a.project.slug,
        outcome: 'denied',
        client,
        details: { reason: 'two-person rule' },
      });
      throw forbidden('TWO_PERSON_RULE', `you wrote ${name}@${version}: another approver must approve it`);
    }
    await this.stage(r.id, 'candidate', 'approved', p.name, why);
    await this.audit.append({
      actor: p.name,
      action: 'rule.approve',
      target,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { reason: why },
    });
    return { rule: name, version, stage: 'approved' as const };
  }

  async retire(p: Principal, a: Access, name: string, version: number, reason: string, client: string) {
    const r = await this.row(a, name, version);
    const why = reason.trim();
    if (!why) throw badRequest('REASON_REQUIRED', 'retiring a rule version needs a reason');
    if (r.stage === 'retired') throw conflict('INVALID_STAGE', `${name}@${version} is already retired`);
    const withdrawn = await this.stage(r.id, r.stage, 'retired', p.name, why);
    await this.audit.append({
      actor: p.name,
      action: 'rule.retire',
      target: `rule:${a.project.slug}/${name}@${version}`,
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { reason: why, from: r.stage, withdrawnDeployments: withdrawn },
    });
    return { rule: name, version, stage: 'retired' as const, withdrawnDeployments: withdrawn };
  }

  private async stage(id: string, from: string, to: string, by: string, reason: string): Promise<string[]> {
    return this.db.transaction().execute(async (tx) => {
      const u = await tx
        .updateTable('rule_versions')
        .set({ stage: to })
        .where('id', '=', id)
        .where('stage', '=', from)
        .executeTakeFirst();
      if (Number(u.numUpdatedRows) !== 1) throw conflict('INVALID_STAGE', 'the rule version changed stage meanwhile');
      await tx
        .insertInto('rule_stage_events')
        .values({ id: newId(), rule_version_id: id, from_stage: from, to_stage: to, by, reason, at: nowIso() })
        .execute();
      return to === 'retired' && this.onRetire ? this.onRetire(tx, [id], reason) : [];
    });
  }
}
