// The console's "try it" panel: sends a FHIR bundle (or a ready prefetch) through the CDS Hooks service for one
// deployment, exactly as an EHR call would run (CdsService.call, limited to that deployment), and a synthetic
// sample patient to try it with. Predictions are logged and audited like any others, marked source 'console'.
import type { Bundle, Condition, MedicationRequest, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import { allows } from '../auth/roles.js';
import type { Principal } from '../auth/service.js';
import { needsOf } from '../cds/service.js';
import type { CdsCaller } from '../cds/issuers.js';
import { decideApplicability, resourcesOf, type PatientData } from '../deployments/fhir.js';
import type { ActiveDeployment, DeploymentInfo } from '../deployments/service.js';
import type { CdsCard } from '../deployments/spec.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import type { Platform } from '../platform.js';
import type { Access } from '../projects/service.js';
import { synthPatient } from '../synth/diabetes.js';
import { fhirBundle } from '../synth/write.js';
import { newId } from '../util.js';

export const tryBodySchema = z.object({
  /** The patient's record: a FHIR R4 Bundle, or an array of resources. */
  bundle: z.unknown().optional(),
  /** A ready CDS Hooks prefetch (keys as in the service's discovery); used instead of `bundle`. */
  prefetch: z.record(z.string(), z.unknown()).optional(),
  /** Default: the id of the bundle's Patient. */
  patientId: z.string().min(1).max(200).optional(),
  /** Default: the deployment's first hook. */
  hook: z.enum(['patient-view', 'order-select']).optional(),
  /** order-select only: the orders being written (a Bundle of MedicationRequest). */
  draftOrders: z.unknown().optional(),
});
export type TryBody = z.infer<typeof tryBodySchema>;

/** A CDS Hooks card as the service renders it (deployments/spec.ts CdsCard), for the typed client. */
export const cdsCardSchema = z.object({
  uuid: z.string(),
  summary: z.string(),
  detail: z.string().optional(),
  indicator: z.enum(['info', 'warning', 'critical']),
  source: z.object({
    label: z.string(),
    url: z.string().optional(),
    topic: z.object({ system: z.string(), code: z.string(), display: z.string() }).optional(),
  }),
  suggestions: z
    .array(
      z.object({
        label: z.string(),
        uuid: z.string(),
        isRecommended: z.boolean().optional(),
        actions: z
          .array(
            z.object({
              type: z.string(),
              description: z.string(),
              resource: z.record(z.string(), z.unknown()).optional(),
              resourceId: z.array(z.string()).optional(),
            }),
          )
          .optional(),
      }),
    )
    .optional(),
  selectionBehavior: z.enum(['at-most-one', 'any']).optional(),
  overrideReasons: z
    .array(z.object({ system: z.string().optional(), code: z.string(), display: z.string() }))
    .optional(),
  links: z
    .array(
      z.object({
        label: z.string(),
        url: z.string(),
        type: z.enum(['absolute', 'smart']),
        appContext: z.string().optional(),
      }),
    )
    .optional(),
});

export const tryResultSchema = z.object({
  cards: z.array(cdsCardSchema),
  patientId: z.string(),
  service: z.string(),
  hook: z.string(),
});

export const sampleResultSchema = z.object({
  synthetic: z.literal(true),
  patientId: z.string(),
  applies: z.boolean(),
  reasons: z.array(z.string()),
  /** A FHIR R4 Bundle (type collection) of one synthetic patient. */
  bundle: z.record(z.string(), z.unknown()),
});

export interface TryResult {
  cards: CdsCard[];
  patientId: string;
  service: string;
  hook: string;
}

/** The resources of a bundle-ish value: a Bundle, an array of resources, or one resource. */
function resourcesIn(v: unknown): Resource[] {
  const isRes = (x: unknown): x is Resource =>
    !!x && typeof x === 'object' && typeof (x as { resourceType?: unknown }).resourceType === 'string';
  if (Array.isArray(v)) {
    const bad = v.findIndex((x) => !isRes(x));
    if (bad >= 0) throw badRequest('FHIR_INVALID', `bundle[${bad}] is not a FHIR resource (no "resourceType")`);
    return v as Resource[];
  }
  if (!isRes(v)) throw badRequest('FHIR_INVALID', 'bundle is not a FHIR Bundle, resource or array of resources');
  if (v.resourceType !== 'Bundle') return [v];
  const entries = (v as Bundle).entry ?? [];
  if (!Array.isArray(entries)) throw badRequest('FHIR_INVALID', 'bundle.entry is not an array');
  return entries.map((e) => e?.resource).filter((r): r is Resource => isRes(r));
}

const searchset = (rs: Resource[]) => ({
  resourceType: 'Bundle',
  type: 'searchset',
  total: rs.length,
  entry: rs.map((resource) => ({ resource })),
});

/** What an EHR would prefetch for these deployments from a patient's record. */
export function prefetchFromResources(
  deps: ActiveDeployment[],
  resources: Resource[],
  patientId: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of needsOf(deps)) {
    if (n.type === 'Patient') {
      out[n.key] = resources.find((r) => r.resourceType === 'Patient' && (!r.id || r.id === patientId)) ?? null;
      continue;
    }
    let rs = resources.filter((r) => r.resourceType === n.type);
    if (n.code) {
      const [sys, code] = n.code.includes('|') ? n.code.split('|') : [undefined, n.code];
      rs = rs.filter((r) =>
        ((r as Observation).code?.coding ?? []).some((c) => c.code === code && (!sys || c.system === sys)),
      );
    }
    out[n.key] = searchset(rs);
  }
  return out;
}

/** Checks the console user's right to try a deployment and finds it among the project's active deployments. */
export async function findTryable(platform: Platform, a: Access, name: string) {
  if (!allows(a.roles, 'model.predict'))
    throw forbidden('FORBIDDEN', `trying a deployment predicts: your roles in ${a.project.slug} do not allow it`);
  const active = (await platform.deployments.active([a.project.id])).find((d) => d.name === name);
  if (active) return active;
  // Only for the refusal: its current status (and 404 DEPLOYMENT_NOT_FOUND as for showing it).
  const info = await platform.deployments.get(a, name);
  throw conflict(
    'DEPLOYMENT_NOT_ACTIVE',
    `deployment ${name} is ${info.status}${info.statusReason ? ` (${info.statusReason})` : ''}: only an active deployment can be tried`,
  );
}

/** Runs one hook call for one deployment through the CDS service, as the console user. */
export async function tryDeployment(
  platform: Platform,
  p: Principal,
  d: ActiveDeployment,
  body: TryBody,
  base: string,
  client: string,
): Promise<TryResult> {
  const hook = body.hook ?? (d.hooks[0] as 'patient-view' | 'order-select');
  if (!d.hooks.includes(hook))
    throw badRequest('CDS_HOOK_MISMATCH', `deployment ${d.name} answers ${d.hooks.join(', ')}, not ${hook}`);
  let prefetch = body.prefetch;
  let patientId = body.patientId;
  if (!prefetch) {
    if (body.bundle === undefined) throw badRequest('TRY_INPUT_REQUIRED', 'send a FHIR bundle (or a prefetch)');
    const resources = resourcesIn(body.bundle);
    patientId ??= resources.find((r) => r.resourceType === 'Patient')?.id;
    if (!patientId) throw badRequest('CDS_CONTEXT_INVALID', 'the bundle has no Patient with an id: send patientId');
    prefetch = prefetchFromResources([d], resources, patientId);
  }
  if (!patientId) {
    const pt = prefetch.patient as Patient | null | undefined;
    patientId = pt?.id;
    if (!patientId) throw badRequest('CDS_CONTEXT_INVALID', 'send patientId (the prefetch names no Patient)');
  }
  const service = `${d.service}-${hook}`;
  // The console user calls as themselves; 'console' stands where an EHR's JWT issuer would.
  const caller: CdsCaller = {
    principal: p,
    issuer: 'console',
    jti: `console:${newId()}`,
    claims: {},
    baseUrl: null,
    jtiExpiresAt: new Date(Date.now() + 300_000).toISOString(),
  };
  const request = {
    hook,
    hookInstance: newId(),
    context: {
      userId: `Practitioner/console-${p.name}`,
      patientId,
      ...(hook === 'order-select' ? { draftOrders: body.draftOrders ?? searchset([]), selections: [] } : {}),
    },
    prefetch,
  };
  const r = await platform.cds.service.call(caller, service, request, base, client, {
    only: d.id,
    source: 'console',
  });
  return { cards: r.cards, patientId, service, hook };
}

/** Synthetic patients the sample is drawn from (the demo's generator; no real data). */
const SAMPLE_SEED = 20_240_601;
const SAMPLE_SCAN = 300;

export interface SampleResult {
  synthetic: true;
  patientId: string;
  /** Whether the deployment's applicability rules select this patient, and why. */
  applies: boolean;
  reasons: string[];
  bundle: Bundle;
}

function patientData(resources: Resource[]): PatientData {
  const b = searchset(resources);
  return {
    patient: resourcesOf<Patient>(b, 'Patient', 'sample')[0] ?? null,
    conditions: resourcesOf<Condition>(b, 'Condition', 'sample'),
    observations: resourcesOf<Observation>(b, 'Observation', 'sample'),
    medications: resourcesOf<MedicationRequest>(b, 'MedicationRequest', 'sample'),
    draftOrders: [],
    now: new Date(),
  };
}

const DAY_MS = 86_400_000;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Moves every date of a synthetic record (birth date included, so ages stay right) so that its newest clinical
 * event lies `ageDays` before `now`: the generator's history ends in the past, and deployments look at recent labs.
 */
export function shiftToRecent<T>(record: T, now: Date, ageDays = 7): T {
  let newest = -Infinity;
  const walk = (v: unknown, key: string | null, fn: (s: string, key: string | null) => unknown): unknown => {
    if (typeof v === 'string') return ISO_DATE.test(v) ? fn(v, key) : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, null, fn));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k, fn)]));
    return v;
  };
  walk(record, null, (s, key) => {
    if (key !== 'birthDate') newest = Math.max(newest, Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s));
    return s;
  });
  if (!Number.isFinite(newest)) return record;
  const days = Math.floor((now.getTime() - ageDays * DAY_MS - newest) / DAY_MS);
  return walk(record, null, (s) => {
    const t = Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s) + days * DAY_MS;
    return s.length === 10 ? new Date(t).toISOString().slice(0, 10) : new Date(t).toISOString();
  }) as T;
}

/**
 * The first synthetic patient the deployment applies to (else the first one, with the reasons it does not). The
 * record's dates are moved so that its newest event was a week ago.
 */
export function sampleFor(d: Pick<DeploymentInfo, 'spec'>, now = new Date()): SampleResult {
  let first: SampleResult | undefined;
  for (let i = 0; i < SAMPLE_SCAN; i++) {
    const bundle = shiftToRecent(fhirBundle(synthPatient(SAMPLE_SEED, i)), now);
    const resources = resourcesIn(bundle);
    const decision = decideApplicability(d.spec.applicability, patientData(resources));
    const patientId = resources.find((r) => r.resourceType === 'Patient')!.id!;
    const s: SampleResult = {
      synthetic: true,
      patientId,
      applies: decision.applies,
      reasons: decision.reasons,
      bundle,
    };
    if (decision.applies) return s;
    first ??= s;
  }
  if (!first) throw notFound('SAMPLE_NOT_FOUND', 'no synthetic sample patient could be generated');
  return first;
}
