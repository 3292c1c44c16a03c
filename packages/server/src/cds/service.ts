// The CDS Hooks 2.0 service: discovery of one service per deployment family and hook, hook calls that gather the
// patient's FHIR data (prefetch, else the EHR's FHIR server, else 412), pick the deployments that apply, map
// features, predict, explain and answer cards; feedback on cards goes to the prediction log.
import type { Condition, MedicationRequest, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { AuditInput, AuditLog } from '../audit/audit.js';
import type { InsertRows } from '../audit/commit.js';
import { allows, type Role } from '../auth/roles.js';
import type { MetadataStore } from '../db/database.js';
import { Precompiled } from '../db/precompiled.js';
import {
  decideApplicability,
  mapFeature,
  resourcesOf,
  type Decision,
  type FeatureMapping,
  type FeatureValue,
  type MappedResourceType,
  type PatientData,
} from '../deployments/fhir.js';
import type { ActiveDeployment, DeploymentService } from '../deployments/service.js';
import { chooseBand, renderCard, type CdsCard, type Hook } from '../deployments/spec.js';
import '../deployments/tables.js';
import { AppError, badRequest, notFound } from '../errors.js';
import { evaluateRule, type RuleSpec } from '../rules/rule.js';
import type { ModelVersionsTable } from '../training/tables.js';
import type { Contribution } from '../serving/predict.js';
import type { PredictionService } from '../serving/service.js';
import { cached, nowIso } from '../util.js';
import { jtiClaim, type CdsCaller } from './issuers.js';

export interface ServiceDefinition {
  id: string;
  hook: Hook;
  title: string;
  description: string;
  prefetch: Record<string, string>;
  usageRequirements?: string;
}

interface Need {
  key: string;
  template: string;
  type: MappedResourceType;
  /** system|code for per-code Observation keys. */
  code?: string;
}

const PID = '{{context.patientId}}';

/**
 * A mapping without its feature name, as text: two mappings with the same key compute the same value from the same
 * patient data. Kept per mapping object (the active-deployment list is reused for a while, its specs unchanged).
 */
const mappingKeys = new WeakMap<FeatureMapping, string>();
function mappingKey(m: FeatureMapping): string {
  return cached(mappingKeys, m, () => {
    const { feature: _name, ...how } = m;
    return JSON.stringify(how);
  });
}

/** A whole mapping (names, order and how), as text: deployments with equal keys get equal features. */
const mappingListKeys = new WeakMap<FeatureMapping[], string>();
const mappingListKey = (mapping: FeatureMapping[]): string =>
  cached(mappingListKeys, mapping, () => JSON.stringify(mapping));

/**
 * A key that tells feature vectors apart exactly as scoring does: names and values in order, each value tagged with
 * its type, numbers by String (which round-trips every double, and spells NaN and ±Infinity, which JSON.stringify
 * would all write as null) with -0 kept apart from 0.
 */
function featuresKey(features: Record<string, FeatureValue>): string {
  let key = '';
  for (const [name, v] of Object.entries(features)) {
    const value =
      v === null
        ? 'z'
        : typeof v === 'number'
          ? Object.is(v, -0)
            ? 'n-0'
            : `n${String(v)}`
          : typeof v === 'boolean'
            ? `b${v ? 1 : 0}`
            : `s${JSON.stringify(v)}`;
    key += `${JSON.stringify(name)}:${value},`;
  }
  return key;
}

/** The prefetch keys a set of deployments needs, with their templates. */
export function needsOf(deps: ActiveDeployment[]): Need[] {
  const out = new Map<string, Need>();
  const add = (n: Need) => {
    if (!out.has(n.key)) out.set(n.key, n);
  };
  const obs = (code: string | undefined) => {
    if (!code) return add({ key: 'observations', template: `Observation?patient=${PID}`, type: 'Observation' });
    const c = code.slice(code.indexOf('|') + 1).replace(/[^A-Za-z0-9]+/g, '-');
    add({ key: `observation-${c}`, template: `Observation?patient=${PID}&code=${code}`, type: 'Observation', code });
  };
  for (const d of deps) {
    const a = d.spec.applicability;
    if (a.age || a.sex) add({ key: 'patient', template: `Patient/${PID}`, type: 'Patient' });
    if (a.conditions?.length) add({ key: 'conditions', template: `Condition?patient=${PID}`, type: 'Condition' });
    for (const o of a.observations ?? []) obs(o.code);
    for (const m of d.spec.mapping) {
      if (m.resource === 'Patient') add({ key: 'patient', template: `Patient/${PID}`, type: 'Patient' });
      else if (m.resource === 'Condition')
        add({ key: 'conditions', template: `Condition?patient=${PID}`, type: 'Condition' });
      else if (m.resource === 'Observation') obs(m.code);
      else if ((m.source ?? 'record') !== 'draft')
        add({ key: 'medications', template: `MedicationRequest?patient=${PID}`, type: 'MedicationRequest' });
    }
  }
  // A key for all observations makes the per-code keys redundant.
  if (out.has('observations')) for (const k of [...out.keys()]) if (k.startsWith('observation-')) out.delete(k);
  return [...out.values()].sort((a, b) => a.key.localeCompare(b.key));
}

const fhirAuthSchema = z
  .object({
    access_token: z.string().min(1).max(20_000),
    token_type: z.string().max(50),
    expires_in: z.number().optional(),
    scope: z.string().max(5000).optional(),
    subject: z.string().max(500).optional(),
  })
  .passthrough();

const hookRequestSchema = z
  .object({
    hook: z.string().min(1).max(100),
    hookInstance: z.string().min(1).max(200),
    fhirServer: z.string().url().max(2000).optional(),
    fhirAuthorization: fhirAuthSchema.nullable().optional(),
    context: z.record(z.string(), z.unknown()),
    prefetch: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .passthrough();

const feedbackSchema = z
  .object({
    feedback: z
      .array(
        z
          .object({
            card: z.string().min(1).max(100),
            outcome: z.enum(['accepted', 'overridden']),
            acceptedSuggestions: z
              .array(z.object({ id: z.string().max(100) }).passthrough())
              .max(20)
              .optional(),
            overrideReason: z
              .object({
                reason: z
                  .object({
                    code: z.string().max(100),
                    system: z.string().max(300).optional(),
                    display: z.string().max(300).optional(),
                  })
                  .passthrough()
                  .optional(),
                userComment: z.string().max(2000).optional(),
              })
              .passthrough()
              .optional(),
            outcomeTimestamp: z.string().max(64),
          })
          .passthrough(),
      )
      .min(1)
      .max(100),
  })
  .passthrough();

const firstIssue = (e: z.ZodError) => {
  const i = e.issues[0]!;
  return `${i.path.join('.') || '(body)'}: ${i.message}`;
};

export class CdsService {
  /** Read on every hook call (membership changes apply at once): compiled once. */
  private readonly membershipsOf = new Precompiled((p: Record<'user', string>) =>
    this.db.selectFrom('members').select(['project_id', 'role']).where('user_id', '=', p.user),
  );
  private readonly ruleSpecs = new Map<string, RuleSpec>();
  private readonly modelVersions = new Map<
    string,
    Pick<ModelVersionsTable, 'id' | 'model_digest' | 'onnx_digest' | 'features_json' | 'threshold'>
  >();

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly deployments: DeploymentService,
    private readonly predictions: PredictionService,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private get db() {
    return this.store.db;
  }

  /** Active deployments in the projects where the caller's service account may predict. */
  private async reachable(caller: CdsCaller): Promise<ActiveDeployment[]> {
    const rows = await this.membershipsOf.rows(this.db, { user: caller.principal.userId });
    const roles = new Map<string, Role[]>();
    for (const r of rows) roles.set(r.project_id, [...(roles.get(r.project_id) ?? []), r.role as Role]);
    const ids = [...roles].filter(([, rs]) => allows(rs, 'model.predict')).map(([id]) => id);
    return this.deployments.active(ids);
  }

  /**
   * The services of an active-deployment list, and the prefetch keys of a service's deployments, kept with the list
   * they were computed from (`DeploymentService.active` hands out the same list until it reads a new one).
   */
  private readonly servicesCache = new WeakMap<
    ActiveDeployment[],
    Map<string, { hook: Hook; deps: ActiveDeployment[] }>
  >();
  private readonly needsCache = new WeakMap<ActiveDeployment[], Need[]>();

  private servicesOf(deps: ActiveDeployment[]): Map<string, { hook: Hook; deps: ActiveDeployment[] }> {
    return cached(this.servicesCache, deps, () => this.computeServices(deps));
  }

  private computeServices(deps: ActiveDeployment[]): Map<string, { hook: Hook; deps: ActiveDeployment[] }> {
    const out = new Map<string, { hook: Hook; deps: ActiveDeployment[] }>();
    for (const d of deps)
      for (const hook of d.hooks as Hook[]) {
        const id = `${d.service}-${hook}`;
        const s = out.get(id) ?? { hook, deps: [] };
        s.deps.push(d);
        out.set(id, s);
      }
    return out;
  }

  async discovery(caller: CdsCaller): Promise<{ services: ServiceDefinition[] }> {
    const services = [...this.servicesOf(await this.reachable(caller))].sort(([a], [b]) => a.localeCompare(b));
    return {
      services: services.map(([id, s]) => ({
        hook: s.hook,
        id,
        title: `Ichigen ${s.hook === 'order-select' ? 'order checks' : 'patient summary'} (${s.deps.length} model${s.deps.length === 1 ? '' : 's'})`,
        description:
          `Runs the disease models that apply to the patient: ${s.deps.map((d) => d.spec.card.title).join('; ')}.`.slice(
            0,
            1000,
          ),
        prefetch: Object.fromEntries(needsOf(s.deps).map((n) => [n.key, n.template])),
        usageRequirements: 'Sign every call with a JWT from an issuer registered with `ichigen cds add-issuer`.',
      })),
    };
  }

  /**
   * Handles one hook call. `base` is the URL the EHR reached us at (for model card links). The web console's
   * "try it" passes `only` (one deployment of the service) and `source: 'console'` (how its predictions are logged).
   */
  async call(
    caller: CdsCaller,
    serviceId: string,
    body: unknown,
    base: string,
    client: string,
    opts: { only?: string; source?: 'cds' | 'console' } = {},
  ): Promise<{ cards: CdsCard[] }> {
    const found = this.servicesOf(await this.reachable(caller)).get(serviceId);
    const service =
      found && opts.only !== undefined ? { ...found, deps: found.deps.filter((d) => d.id === opts.only) } : found;
    if (!service || service.deps.length === 0)
      throw notFound('CDS_SERVICE_NOT_FOUND', `no CDS service "${serviceId.slice(0, 100)}" (see GET /cds-services)`);
    const parsed = hookRequestSchema.safeParse(body);
    if (!parsed.success)
      throw badRequest('CDS_REQUEST_INVALID', `the hook request is not valid at ${firstIssue(parsed.error)}`);
    const req = parsed.data;
    if (req.hook !== service.hook)
      throw badRequest(
        'CDS_HOOK_MISMATCH',
        `service ${serviceId} answers "${service.hook}", not "${req.hook.slice(0, 100)}"`,
      );
    const patientId = req.context.patientId;
    if (typeof patientId !== 'string' || patientId.trim() === '' || patientId.length > 200)
      throw badRequest('CDS_CONTEXT_INVALID', 'context.patientId is required (the FHIR id of the patient in context)');
    let draftOrders: MedicationRequest[] = [];
    if (service.hook === 'order-select') {
      if (req.context.draftOrders === undefined)
        throw badRequest(
          'CDS_CONTEXT_INVALID',
          'order-select needs context.draftOrders (a Bundle of the orders being written)',
        );
      draftOrders = resourcesOf<MedicationRequest>(req.context.draftOrders, 'MedicationRequest', 'context.draftOrders');
    }
    const data = await this.gather(service.deps, req, patientId, draftOrders);

    // Decide, map and predict for every deployment before storing anything: an error stores nothing.
    type Outcome = {
      d: ActiveDeployment;
      decision: Decision;
      features?: Record<string, FeatureValue>;
      result?: Scored;
      card?: CdsCard;
    };
    const outcomes: Outcome[] = [];
    // Deployments often map the same feature the same way (age, latest HbA1c, …): evaluate each mapping once per call.
    const mapped = new Map<string, FeatureValue>();
    const mapOnce = (m: FeatureMapping): FeatureValue => {
      const key = mappingKey(m);
      if (mapped.has(key)) return mapped.get(key)!;
      const v = mapFeature(m, data);
      mapped.set(key, v);
      return v;
    };
    // Deployments of the same model or rule version given the same features get the same answer (scoring is
    // deterministic): predicted and explained once per call, each deployment still logs and cards its own.
    // Deployments that map alike share one features object (never changed once built): its key, JSON and digest
    // are then computed once too.
    const featureRows = new Map<string, Record<string, FeatureValue>>();
    const featuresFor = (mapping: FeatureMapping[]): Record<string, FeatureValue> =>
      cached(featureRows, mappingListKey(mapping), () =>
        Object.fromEntries(mapping.map((m) => [m.feature, mapOnce(m)])),
      );
    const featureKeys = new Map<Record<string, FeatureValue>, string>();
    const scores = new Map<string, Promise<Scored>>();
    const scoreOnce = (d: ActiveDeployment, features: Record<string, FeatureValue>): Promise<Scored> => {
      const key = `${d.target.kind}:${d.target.id}:${cached(featureKeys, features, () => featuresKey(features))}`;
      let s = scores.get(key);
      if (!s) {
        s = this.score(d, features);
        scores.set(key, s);
      }
      return s;
    };
    for (const d of service.deps) {
      const decision = decideApplicability(d.spec.applicability, data);
      if (!decision.applies) {
        outcomes.push({ d, decision });
        continue;
      }
      const features = featuresFor(d.spec.mapping);
      const result = await scoreOnce(d, features);
      const band = chooseBand(d.spec.card, result.output);
      const card = band
        ? renderCard({
            template: d.spec.card,
            band,
            deploymentName: d.name,
            deploymentVersion: d.version,
            patientId,
            targetLabel: `${d.project}/${d.target.name} ${d.target.kind === 'rule' ? 'rule ' : ''}v${d.target.version}`,
            cardUrl:
              d.target.kind === 'model'
                ? `${base}/api/v1/projects/${encodeURIComponent(d.project)}/models/${encodeURIComponent(d.target.name)}/versions/${d.target.version}/card.md`
                : null,
            output: result.output!,
            threshold: result.threshold,
            contributions: result.contributions,
            ruleReasons: result.reasons,
            mapping: d.spec.mapping,
            features,
          })
        : undefined;
      outcomes.push({ d, decision, features, result, ...(card ? { card } : {}) });
    }

    const scored = outcomes.filter((o) => o.result);
    const predictionRows = this.predictions.rowsFor(
      scored.map((o) => ({
        projectId: o.d.projectId,
        modelVersionId: o.d.target.id,
        deploymentId: o.d.id,
        source: opts.source ?? ('cds' as const),
        caller: caller.principal.name,
        hookInstance: req.hookInstance,
        patientRef: `Patient/${patientId}`,
        features: o.features!,
        output: {
          target: o.d.target.kind,
          deploymentVersion: o.d.version,
          hook: service.hook,
          service: serviceId,
          ...(o.result!.probability !== null
            ? { probability: o.result!.probability, label: o.result!.label }
            : { value: o.result!.output }),
          indicator: o.card?.indicator ?? null,
          card: o.card?.uuid ?? null,
          applicability: o.decision.reasons,
        },
        explanation: o.result!.contributions ?? o.result!.reasons,
      })),
    );
    const ids = predictionRows.map((r) => r.id);
    const now = nowIso();
    const cardRows = scored.flatMap((o, i) =>
      o.card
        ? [
            {
              uuid: o.card.uuid,
              prediction_id: ids[i]!,
              deployment_id: o.d.id,
              service_id: serviceId,
              issuer: caller.issuer,
              hook_instance: req.hookInstance,
              created_at: now,
              feedback_at: null,
            },
          ]
        : [],
    );
    const byProject = new Map<string, Outcome[]>();
    for (const o of outcomes) byProject.set(o.d.project, [...(byProject.get(o.d.project) ?? []), o]);
    const audit: AuditInput[] = [...byProject].map(([project, os]) => ({
      actor: caller.principal.name,
      action: 'cds.hook',
      target: `cds-service:${serviceId}`,
      project,
      outcome: 'success',
      client,
      details: {
        hook: service.hook,
        hookInstance: req.hookInstance,
        patient: `Patient/${patientId}`,
        user: typeof req.context.userId === 'string' ? req.context.userId : null,
        issuer: caller.issuer,
        ...(opts.source === 'console' ? { source: 'console' } : {}),
        decisions: os.map((o) => ({
          deployment: `${o.d.name}@${o.d.version}`,
          applies: o.decision.applies,
          reasons: o.decision.reasons,
          prediction: o.result ? ids[scored.indexOf(o)] : null,
          card: o.card ? { uuid: o.card.uuid, indicator: o.card.indicator } : null,
        })),
      },
    }));
    // One durable unit, group-committed with other calls: the jti record (a replay fails here and writes nothing),
    // the prediction rows, the cards, and the audit events. The cards are answered only after it is on disk.
    await this.audit.commit({
      claim: jtiClaim(caller),
      inserts: [
        { table: 'predictions', rows: predictionRows as unknown as Record<string, unknown>[] },
        { table: 'cds_cards', rows: cardRows },
      ].filter((x) => x.rows.length > 0) as InsertRows[],
      audit,
    });
    return { cards: outcomes.flatMap((o) => (o.card ? [o.card] : [])) };
  }

  private async score(d: ActiveDeployment, features: Record<string, FeatureValue>): Promise<Scored> {
    if (d.target.kind === 'rule') {
      let spec = this.ruleSpecs.get(d.target.id);
      if (!spec) {
        const r = await this.db
          .selectFrom('rule_versions')
          .select('spec_json')
          .where('id', '=', d.target.id)
          .executeTakeFirstOrThrow();
        spec = JSON.parse(r.spec_json) as RuleSpec;
        this.ruleSpecs.set(d.target.id, spec);
      }
      const r = evaluateRule(spec, features);
      return {
        output: r.output,
        probability: null,
        label: null,
        threshold: null,
        contributions: null,
        reasons: r.reasons,
      };
    }
    // A version's artifact, features and threshold never change (only its stage does, and retiring withdraws
    // its deployments), so the row is read once.
    let mv = this.modelVersions.get(d.target.id);
    if (!mv) {
      mv = await this.db
        .selectFrom('model_versions')
        .select(['id', 'model_digest', 'onnx_digest', 'features_json', 'threshold'])
        .where('id', '=', d.target.id)
        .executeTakeFirstOrThrow();
      if (this.modelVersions.size > 1000) this.modelVersions.clear();
      this.modelVersions.set(d.target.id, mv);
    }
    const scorer = await this.predictions.scorers.get(mv);
    const [p] = await scorer.predict([features], { top: 5 });
    return {
      output: p!.probability,
      probability: p!.probability,
      label: p!.label,
      threshold: scorer.threshold,
      contributions: p!.contributions,
      reasons: null,
    };
  }

  /** Prefetch first; a missing key is fetched from the EHR's FHIR server if it gave one; else 412. */
  private async gather(
    deps: ActiveDeployment[],
    req: z.infer<typeof hookRequestSchema>,
    patientId: string,
    draftOrders: MedicationRequest[],
  ): Promise<PatientData> {
    const needs = cached(this.needsCache, deps, () => needsOf(deps));
    const prefetch = req.prefetch ?? {};
    const got = new Map<string, Resource[]>();
    const missing: Need[] = [];
    for (const n of needs) {
      if (!(n.key in prefetch)) {
        missing.push(n);
        continue;
      }
      const v = prefetch[n.key];
      // null means the EHR looked and found nothing; an OperationOutcome means it failed to look.
      if (v === null) got.set(n.key, []);
      else if ((v as { resourceType?: unknown } | undefined)?.resourceType === 'OperationOutcome') missing.push(n);
      else got.set(n.key, resourcesOf(v, n.type, `prefetch.${n.key}`));
    }
    if (missing.length) {
      if (!req.fhirServer || !req.fhirAuthorization)
        throw new AppError(
          'CDS_PREFETCH_MISSING',
          412,
          `prefetch lacks ${missing.map((n) => n.key).join(', ')} and no fhirServer with fhirAuthorization was given to fetch ${missing.length === 1 ? 'it' : 'them'}`,
          { missing: missing.map((n) => n.key) },
        );
      for (const n of missing)
        got.set(n.key, await this.fetchFhir(req.fhirServer, req.fhirAuthorization, n, patientId));
    }
    const all = (type: MappedResourceType) => needs.filter((n) => n.type === type).flatMap((n) => got.get(n.key) ?? []);
    const patients = all('Patient') as Patient[];
    const patient = patients[0] ?? null;
    if (patient?.id && patient.id !== patientId)
      throw badRequest(
        'CDS_PATIENT_MISMATCH',
        `prefetch.patient is Patient/${patient.id.slice(0, 100)} but context.patientId is ${patientId.slice(0, 100)}`,
      );
    // The same Observation may come through several keys; keep one copy per id.
    const dedupe = <T extends Resource>(xs: T[]) => {
      const seen = new Set<string>();
      return xs.filter((x) => !x.id || (seen.has(x.id) ? false : (seen.add(x.id), true)));
    };
    return {
      patient,
      conditions: dedupe(all('Condition') as Condition[]),
      observations: dedupe(all('Observation') as Observation[]),
      medications: dedupe(all('MedicationRequest') as MedicationRequest[]),
      draftOrders,
      now: new Date(),
    };
  }

  private async fetchFhir(
    server: string,
    auth: z.infer<typeof fhirAuthSchema>,
    n: Need,
    patientId: string,
  ): Promise<Resource[]> {
    const base = server.replace(/\/+$/, '');
    const origin = new URL(base).origin;
    let url: string | null = `${base}/${n.template.replace(PID, encodeURIComponent(patientId))}`;
    const out: Resource[] = [];
    const unavailable = (why: string) =>
      new AppError('CDS_FHIR_UNAVAILABLE', 412, `prefetch key ${n.key} was not given and the FHIR server ${why}`, {
        missing: [n.key],
      });
    for (let page = 0; url && page < 20; page++) {
      let res: Response;
      try {
        res = await this.fetchImpl(url, {
          headers: { authorization: `Bearer ${auth.access_token}`, accept: 'application/fhir+json' },
          signal: AbortSignal.timeout(5000),
          redirect: 'error',
        });
      } catch (e) {
        throw unavailable(`could not be reached (${(e as Error).message})`);
      }
      if (n.type === 'Patient' && res.status === 404) return [];
      if (!res.ok) throw unavailable(`answered ${res.status} to ${url.split('?')[0]}`);
      let json: unknown;
      try {
        json = await res.json();
      } catch {
        throw unavailable('answered something that is not JSON');
      }
      try {
        out.push(...resourcesOf(json, n.type, `the FHIR server's answer for ${n.key}`));
      } catch (e) {
        throw unavailable(`answered something that is not FHIR: ${(e as Error).message}`);
      }
      const next = (json as { link?: { relation?: string; url?: string }[] }).link?.find(
        (l) => l.relation === 'next',
      )?.url;
      // Follow paging only on the same server: a bundle must not send us elsewhere with the EHR's token.
      url = next && new URL(next, base).origin === origin ? new URL(next, base).toString() : null;
    }
    return out;
  }

  /** Records feedback on cards this issuer received from this service; all or nothing. */
  async feedback(caller: CdsCaller, serviceId: string, body: unknown, client: string): Promise<{ recorded: number }> {
    const parsed = feedbackSchema.safeParse(body);
    if (!parsed.success)
      throw badRequest('CDS_FEEDBACK_INVALID', `the feedback is not valid at ${firstIssue(parsed.error)}`);
    const items = parsed.data.feedback;
    const rows = await this.db
      .selectFrom('cds_cards')
      .selectAll()
      .where(
        'uuid',
        'in',
        items.map((f) => f.card),
      )
      .where('issuer', '=', caller.issuer)
      .where('service_id', '=', serviceId)
      .execute();
    const byUuid = new Map(rows.map((r) => [r.uuid, r]));
    const unknown = items.filter((f) => !byUuid.has(f.card)).map((f) => f.card);
    if (unknown.length)
      throw notFound(
        'CDS_CARD_NOT_FOUND',
        `no card ${unknown.join(', ').slice(0, 300)} was issued by ${serviceId} to this client`,
      );
    for (const f of items)
      if (f.outcome === 'accepted' && f.overrideReason)
        throw badRequest('CDS_FEEDBACK_INVALID', `card ${f.card}: an accepted card has no overrideReason`);
    const now = nowIso();
    // Everything was checked above, so the writes below cannot be refused half-way for a bad item.
    for (const f of items) {
      const r = byUuid.get(f.card)!;
      await this.predictions.feedback(r.prediction_id, {
        outcome: f.outcome,
        card: f.card,
        ...(f.acceptedSuggestions ? { acceptedSuggestions: f.acceptedSuggestions.map((s) => s.id) } : {}),
        ...(f.overrideReason ? { overrideReason: f.overrideReason } : {}),
        outcomeTimestamp: f.outcomeTimestamp,
        by: caller.principal.name,
      });
    }
    await this.db
      .updateTable('cds_cards')
      .set({ feedback_at: now })
      .where(
        'uuid',
        'in',
        items.map((f) => f.card),
      )
      .execute();
    const projects = await this.db
      .selectFrom('predictions')
      .innerJoin('projects', 'projects.id', 'predictions.project_id')
      .select(['predictions.id', 'projects.slug'])
      .where(
        'predictions.id',
        'in',
        rows.map((r) => r.prediction_id),
      )
      .execute();
    for (const slug of new Set(projects.map((p) => p.slug)))
      await this.audit.append({
        actor: caller.principal.name,
        action: 'cds.feedback',
        target: `cds-service:${serviceId}`,
        project: slug,
        outcome: 'success',
        client,
        details: {
          cards: items.map((f) => ({
            card: f.card,
            outcome: f.outcome,
            reason: f.overrideReason?.reason?.code ?? null,
          })),
        },
      });
    return { recorded: items.length };
  }
}

interface Scored {
  output: number | boolean | string | null;
  probability: number | null;
  label: 0 | 1 | null;
  threshold: number | null;
  contributions: Contribution[] | null;
  reasons: string[] | null;
}
