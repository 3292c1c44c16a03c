// Predictions: score rows with a model version (REST), log every prediction with its inputs, output, explanation
// and caller, read the log (audited), record clinician feedback, and report override rates per deployment.
import type { AuditInput, AuditLog } from '../audit/audit.js';
import type { Principal } from '../auth/service.js';
import { credentialOf, printable } from '../auth/service.js';
import type { MetadataStore } from '../db/database.js';
import { Precompiled } from '../db/precompiled.js';
import { AppError, notFound } from '../errors.js';
import type { Access } from '../projects/service.js';
import '../training/tables.js';
import { cached, newId, nowIso } from '../util.js';
import { checkColumns, inputsDigest, type Row, type RowPrediction, type ScorerCache } from './predict.js';
import type { PredictionsTable } from './tables.js';
import './tables.js';

export const MAX_PREDICT_ROWS = 10_000;

/**
 * Feedback is stored as JSON whose first key is the outcome (`feedback` below writes it so, from the CDS feedback
 * route's enum), so "overridden" is a prefix test the database can count without parsing JSON.
 */
export const OVERRIDDEN_PREFIX = '{"outcome":"overridden"';

export interface DeploymentUsage {
  deploymentId: string;
  predictions: number;
  withFeedback: number;
  overridden: number;
  overrideRate: number | null;
}

export interface LoggedPrediction extends RowPrediction {
  id: string;
}

export interface LogEntry {
  projectId: string;
  modelVersionId: string;
  deploymentId?: string | null;
  source: 'rest' | 'batch' | 'cds' | 'console';
  caller: string;
  hookInstance?: string | null;
  patientRef?: string | null;
  features: Row;
  output: Record<string, unknown>;
  explanation?: unknown;
}

export class PredictionService {
  /**
   * Read on every REST predict call: compiled once (its stage is read every time, nothing is cached). Only the
   * columns scoring needs: the row's metrics and card JSON (~40 KB) cost more to convert than the lookup itself.
   */
  private readonly versionQuery = new Precompiled((p: Record<'project' | 'model' | 'version', string>) =>
    this.db
      .selectFrom('model_versions')
      .innerJoin('models', 'models.id', 'model_versions.model_id')
      .select([
        'model_versions.id',
        'model_versions.stage',
        'model_versions.model_digest',
        'model_versions.onnx_digest',
        'model_versions.features_json',
        'model_versions.threshold',
      ])
      .where('models.project_id', '=', p.project)
      .where('models.name', '=', p.model)
      .where('model_versions.version', '=', p.version as unknown as number),
  );

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    readonly scorers: ScorerCache,
  ) {}

  private get db() {
    return this.store.db;
  }

  async modelVersionRow(a: Access, model: string, version: number) {
    const r = await this.versionQuery.first(this.db, { project: a.project.id, model, version });
    if (!r)
      throw notFound(
        'MODEL_VERSION_NOT_FOUND',
        `no model version ${printable(model)}@${version} in project ${a.project.slug}`,
      );
    return r;
  }

  /**
   * Prediction log rows for entries (ids assigned here), ready for `audit.commit`. Entries of one CDS call often
   * share one features object (deployments mapping alike) and one explanation object (scored once): each object is
   * serialized and digested once (the entries' objects are not changed while this runs).
   */
  rowsFor(entries: LogEntry[]): PredictionsTable[] {
    const now = nowIso();
    const inputs = new Map<Row, { json: string; digest: string }>();
    const explanations = new Map<unknown, string | null>();
    return entries.map((e) => {
      const { json: featuresJson, digest } = cached(inputs, e.features, () => ({
        json: JSON.stringify(e.features),
        digest: inputsDigest(e.features),
      }));
      const explanationJson = cached(explanations, e.explanation, () =>
        e.explanation === undefined || e.explanation === null ? null : JSON.stringify(e.explanation),
      );
      return this.row(e, now, digest, featuresJson, explanationJson);
    });
  }

  private row(
    e: LogEntry,
    now: string,
    digest: string,
    featuresJson: string,
    explanationJson: string | null,
  ): PredictionsTable {
    return {
      id: newId(),
      project_id: e.projectId,
      model_version_id: e.modelVersionId,
      deployment_id: e.deploymentId ?? null,
      source: e.source,
      caller: e.caller,
      hook_instance: e.hookInstance ?? null,
      patient_ref: e.patientRef ?? null,
      inputs_digest: digest,
      features_json: featuresJson,
      output_json: JSON.stringify(e.output),
      explanation_json: explanationJson,
      feedback_json: null,
      feedback_at: null,
      created_at: now,
    };
  }

  /**
   * Writes prediction log rows and the audit events that describe them in one transaction (group-committed with
   * other requests'), before the caller answers; returns the rows' ids in order.
   */
  async log(entries: LogEntry[], audit: AuditInput[] = []): Promise<string[]> {
    const rows = this.rowsFor(entries);
    await this.audit.commit({
      inserts: [{ table: 'predictions', rows: rows as unknown as Record<string, unknown>[] }],
      audit,
    });
    return rows.map((r) => r.id);
  }

  /**
   * REST prediction: rows in input order → probability, label at the model's threshold, top contributions.
   * Clinicians may only use approved versions; scientists may validate candidates. Every row is logged; the call is audited.
   */
  async predict(
    p: Principal,
    a: Access,
    model: string,
    version: number,
    rows: Row[],
    columns: string[],
    client: string,
    opts: { explain?: boolean } = {},
  ): Promise<LoggedPrediction[]> {
    if (rows.length === 0) throw new AppError('PREDICT_NO_ROWS', 400, 'send at least one row');
    if (rows.length > MAX_PREDICT_ROWS)
      throw new AppError(
        'PREDICT_TOO_MANY_ROWS',
        413,
        `at most ${MAX_PREDICT_ROWS} rows per call; use batch scoring for more`,
      );
    const mv = await this.modelVersionRow(a, model, version);
    const onlyClinical = a.roles.every((r) => r === 'clinician');
    if (mv.stage === 'retired' || (onlyClinical && mv.stage !== 'approved')) {
      throw new AppError(
        'MODEL_NOT_APPROVED',
        403,
        `${model}@${version} is ${mv.stage}; ${mv.stage === 'retired' ? 'retired versions do not predict' : 'clinical use needs an approved version'}`,
      );
    }
    const scorer = await this.scorers.get(mv);
    checkColumns(
      scorer.features.map((f) => f.name),
      columns,
    );
    // Contributions (exact TreeSHAP) cost ~20× the prediction itself: computed unless the caller opts out.
    const preds = await scorer.predict(rows, { explain: opts.explain !== false });
    const features = scorer.features.map((f) => f.name);
    const ids = await this.log(
      preds.map((pr, i) => ({
        projectId: a.project.id,
        modelVersionId: mv.id,
        source: 'rest' as const,
        caller: p.name,
        features: Object.fromEntries(features.map((f) => [f, rows[i]![f] ?? null])),
        output: { probability: pr.probability, label: pr.label },
        explanation: pr.contributions,
      })),
      [
        {
          actor: p.name,
          action: 'prediction.create',
          target: `model:${a.project.slug}/${model}@${version}`,
          project: a.project.slug,
          outcome: 'success',
          client,
          details: { rows: rows.length, source: 'rest', via: credentialOf(p) },
        },
      ],
    );
    return preds.map((pr, i) => ({ id: ids[i]!, ...pr }));
  }

  /** Pages the prediction log (newest first); every read is audited. */
  async list(
    p: Principal,
    a: Access,
    q: { model?: string; deployment?: string; source?: string; limit?: number; before?: string },
    client: string,
  ) {
    let query = this.db.selectFrom('predictions').selectAll().where('project_id', '=', a.project.id);
    if (q.deployment) query = query.where('deployment_id', '=', q.deployment);
    if (q.source) query = query.where('source', '=', q.source);
    if (q.before) query = query.where('id', '<', q.before);
    if (q.model) {
      const ids = (
        await this.db
          .selectFrom('model_versions')
          .innerJoin('models', 'models.id', 'model_versions.model_id')
          .select('model_versions.id')
          .where('models.project_id', '=', a.project.id)
          .where('models.name', '=', q.model)
          .execute()
      ).map((r) => r.id);
      query = query.where('model_version_id', 'in', ids.length ? ids : ['-']);
    }
    const limit = Math.min(q.limit ?? 100, 1000);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    await this.audit.append({
      actor: p.name,
      action: 'prediction.read',
      project: a.project.slug,
      outcome: 'success',
      client,
      details: { filter: q, rows: page.length, via: credentialOf(p) },
    });
    return {
      predictions: page.map((r) => ({
        id: r.id,
        modelVersionId: r.model_version_id,
        deploymentId: r.deployment_id,
        source: r.source,
        caller: r.caller,
        hookInstance: r.hook_instance,
        patient: r.patient_ref,
        inputsDigest: r.inputs_digest,
        features: JSON.parse(r.features_json) as Row,
        output: JSON.parse(r.output_json) as Record<string, unknown>,
        explanation: r.explanation_json ? (JSON.parse(r.explanation_json) as unknown) : null,
        feedback: r.feedback_json ? (JSON.parse(r.feedback_json) as unknown) : null,
        createdAt: r.created_at,
      })),
      nextBefore: rows.length > limit ? page[page.length - 1]!.id : null,
    };
  }

  /** Records feedback (accepted / overridden with a reason) on a logged prediction. */
  async feedback(
    predictionId: string,
    feedback: { outcome: 'accepted' | 'overridden' } & Record<string, unknown>,
  ): Promise<boolean> {
    const { outcome, ...rest } = feedback;
    const r = await this.db
      .updateTable('predictions')
      // The outcome first, always (see OVERRIDDEN_PREFIX).
      .set({ feedback_json: JSON.stringify({ outcome, ...rest }), feedback_at: nowIso() })
      .where('id', '=', predictionId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Predictions per deployment and the share of those with feedback that were overridden (a human–AI team signal),
   * counted by the database: the log can hold millions of rows, none of which is read into the server for this.
   * Every deployment of the project, or only `deploymentId`.
   */
  overrideRates(a: Access, deploymentId?: string): Promise<DeploymentUsage[]> {
    return deploymentUsage(this.db, a.project.id, deploymentId);
  }
}

/** See `PredictionService.overrideRates`; also used by the lineage graph for a deployment node. */
export async function deploymentUsage(
  db: MetadataStore['db'],
  projectId: string,
  deploymentId?: string,
): Promise<DeploymentUsage[]> {
  let q = db
    .selectFrom('predictions')
    .select((eb) => [
      'deployment_id',
      eb.fn.countAll<number | string | bigint>().as('predictions'),
      eb.fn.count<number | string | bigint>('feedback_json').as('with_feedback'),
      eb.fn
        .sum<number | string | bigint | null>(
          eb
            .case()
            .when('feedback_json', 'like', OVERRIDDEN_PREFIX + '%')
            .then(1)
            .else(0)
            .end(),
        )
        .as('overridden'),
    ])
    .where('project_id', '=', projectId)
    .where('deployment_id', 'is not', null)
    .groupBy('deployment_id');
  if (deploymentId !== undefined) q = q.where('deployment_id', '=', deploymentId);
  const rows = await q.execute();
  return rows.map((r) => {
    const withFeedback = Number(r.with_feedback);
    const overridden = Number(r.overridden ?? 0);
    return {
      deploymentId: r.deployment_id!,
      predictions: Number(r.predictions),
      withFeedback,
      overridden,
      overrideRate: withFeedback ? overridden / withFeedback : null,
    };
  });
}
