// From a patient's FHIR R4 resources to model features: resource checks, unit conversion, FHIRPath feature mapping
// with aggregation over time windows, and applicability rules that record a reason for every decision.
import type { Condition, MedicationRequest, Observation, Patient, Resource } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { z } from 'zod';
import { AppError, badRequest } from '../errors.js';
import { cached } from '../util.js';

export type FeatureValue = number | string | boolean | null;

/** Everything the mapping may look at for one patient, at one moment. */
export interface PatientData {
  patient: Patient | null;
  conditions: Condition[];
  observations: Observation[];
  /** Orders already in the record. */
  medications: MedicationRequest[];
  /** Orders being written now (order-select `context.draftOrders`). */
  draftOrders: MedicationRequest[];
  now: Date;
}

export const RESOURCE_TYPES = ['Patient', 'Condition', 'Observation', 'MedicationRequest'] as const;
export type MappedResourceType = (typeof RESOURCE_TYPES)[number];

const DAY = 86_400_000;
const printable = (v: unknown) => JSON.stringify(v)?.slice(0, 60) ?? String(v);

/**
 * Checks that a value is FHIR (a resource, or a Bundle of resources) and returns the resources of `type` in it.
 * `where` names the value in errors (e.g. `prefetch.conditions`).
 */
export function resourcesOf<T extends Resource>(value: unknown, type: MappedResourceType, where: string): T[] {
  const isResource = (x: unknown): x is Resource =>
    !!x &&
    typeof x === 'object' &&
    !Array.isArray(x) &&
    typeof (x as { resourceType?: unknown }).resourceType === 'string';
  if (!isResource(value))
    throw badRequest(
      'FHIR_INVALID',
      `${where} is not a FHIR resource or Bundle (no "resourceType"): ${printable(value)}`,
    );
  if (value.resourceType !== 'Bundle') {
    if (value.resourceType === type) return [value as T];
    if (value.resourceType === 'OperationOutcome') return [];
    throw badRequest('FHIR_INVALID', `${where} is a ${value.resourceType}, expected ${type} or a Bundle of them`);
  }
  const entries = (value as { entry?: unknown }).entry;
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw badRequest('FHIR_INVALID', `${where}.entry is not an array`);
  const out: T[] = [];
  entries.forEach((e: unknown, i) => {
    const r = (e as { resource?: unknown } | null)?.resource;
    if (r === undefined) return; // an entry may carry only a fullUrl / response
    if (!isResource(r)) throw badRequest('FHIR_INVALID', `${where}.entry[${i}].resource has no "resourceType"`);
    if (r.resourceType === type) out.push(r as T);
  });
  return out;
}

// ---------- units ----------

const normalizedUnits = new Map<string, string>();
/** A unit spelled for comparison (trimmed, one pair of brackets dropped, lower case); memoized, units are few. */
const normUnit = (u: string): string => {
  if (normalizedUnits.size > 1000 && !normalizedUnits.has(u)) normalizedUnits.clear();
  return cached(normalizedUnits, u, () =>
    u
      .trim()
      .replace(/^\[?(.*?)\]?$/, '$1')
      .toLowerCase(),
  );
};

/** Conversions FHIR data needs in practice; keyed by analyte because mg/dL ↔ mmol/L depends on the molecule. */
const CONVERSIONS: Record<'hba1c' | 'glucose', Record<string, (x: number) => number>> = {
  // NGSP % = 0.09148 × IFCC mmol/mol + 2.152 (the IFCC–NGSP master equation).
  hba1c: {
    'mmol/mol>%': (x) => 0.09148 * x + 2.152,
    '%>mmol/mol': (x) => (x - 2.152) / 0.09148,
  },
  // Glucose: 1 mmol/L = 18.016 mg/dL (molar mass 180.16 g/mol).
  glucose: {
    'mg/dl>mmol/l': (x) => x / 18.016,
    'mmol/l>mg/dl': (x) => x * 18.016,
  },
};

/** Converts a quantity to `to`; an unknown unit is an error (a wrong number is worse than no number). */
export function convertUnit(
  value: number,
  from: string | undefined,
  to: string,
  analyte: 'hba1c' | 'glucose' | undefined,
  /** Names the value in errors; a function when building the words costs more than converting. */
  at: string | (() => string),
): number {
  const where = () => (typeof at === 'string' ? at : at());
  if (from === undefined || from.trim() === '')
    throw new AppError('FHIR_UNKNOWN_UNIT', 422, `${where()} has a value ${value} without a unit; expected ${to}`);
  const f = normUnit(from);
  const t = normUnit(to);
  if (f === t) return value;
  const conv = analyte ? CONVERSIONS[analyte][`${f}>${t}`] : undefined;
  if (!conv) {
    const known = analyte
      ? [...new Set(Object.keys(CONVERSIONS[analyte]).flatMap((k) => k.split('>')))].join(', ')
      : to;
    throw new AppError(
      'FHIR_UNKNOWN_UNIT',
      422,
      `${where()} has unit "${from}", which cannot be converted to "${to}"${analyte ? ` for ${analyte}` : ''} (known: ${known})`,
      { unit: from, expected: to },
    );
  }
  return conv(value);
}

// ---------- feature mapping ----------

const AGGREGATES = ['latest', 'mean', 'min', 'max', 'count', 'days_since', 'years_since', 'present'] as const;

export const mappingSchema = z
  .object({
    feature: z.string().min(1).max(128),
    resource: z.enum(RESOURCE_TYPES),
    /** `system|code` that the resource's `code` must carry (e.g. `http://loinc.org|4548-4`). */
    code: z
      .string()
      .regex(/^[^|\s]+\|[^|\s]+$/, 'must be system|code, e.g. http://loinc.org|4548-4')
      .optional(),
    /** MedicationRequest only: orders in the record, draft orders of order-select, or both. */
    source: z.enum(['record', 'draft', 'both']).optional(),
    /** FHIRPath evaluated on each resource; its first item is the value. Default for Observation: `value`. */
    expression: z.string().min(1).max(2000).optional(),
    aggregate: z.enum(AGGREGATES).optional(),
    /** Only resources from the last N days count (by their clinical time). */
    windowDays: z.number().positive().max(36500).optional(),
    /** The unit the model was trained in; quantities are converted to it. */
    unit: z.string().min(1).max(40).optional(),
    analyte: z.enum(['hba1c', 'glucose']).optional(),
    /** Value translation (codes → model categories); a key ending in `*` matches by prefix. Unmatched → missing. */
    map: z.record(z.string().max(200), z.union([z.string().max(200), z.number(), z.boolean()])).optional(),
    /** Words for the card ("baseline HbA1c"). */
    label: z.string().max(200).optional(),
  })
  .strict();
export type FeatureMapping = z.infer<typeof mappingSchema>;

type Compiled = (resource: unknown) => unknown[];
const compiledCache = new Map<string, Compiled>();

/** Compiles a FHIRPath expression (cached); a syntax error is a 400 naming the expression. */
export function compileFhirPath(expression: string, where: string): Compiled {
  let f = compiledCache.get(expression);
  if (!f) {
    try {
      const c = fhirpath.compile(expression, r4);
      f = (r: unknown) => c(r as never) as unknown[];
    } catch (e) {
      throw badRequest(
        'FHIRPATH_INVALID',
        `${where}: the FHIRPath "${expression}" does not parse: ${(e as Error).message.split('\n')[0]}`,
      );
    }
    if (compiledCache.size > 2000) compiledCache.clear();
    compiledCache.set(expression, f);
  }
  return f;
}

const defaultExpression = (m: FeatureMapping): string | undefined =>
  m.expression ?? (m.resource === 'Observation' ? 'value' : undefined);

/** Checks one mapping at deployment time (expression present and parsing, options fit the resource). */
export function checkMapping(m: FeatureMapping, where: string): void {
  const expr = defaultExpression(m);
  const agg = m.aggregate ?? 'latest';
  if (!expr && !['count', 'present', 'days_since', 'years_since'].includes(agg))
    throw badRequest('DEPLOYMENT_INVALID', `${where}: a ${m.resource} mapping needs an "expression"`);
  if (expr) compileFhirPath(expr, where);
  if (m.source && m.resource !== 'MedicationRequest')
    throw badRequest('DEPLOYMENT_INVALID', `${where}: "source" applies to MedicationRequest only`);
  if (m.analyte && !m.unit) throw badRequest('DEPLOYMENT_INVALID', `${where}: "analyte" needs a target "unit"`);
  if (m.analyte && m.unit && !Object.keys(CONVERSIONS[m.analyte]).some((k) => k.endsWith(`>${normUnit(m.unit!)}`)))
    throw badRequest('DEPLOYMENT_INVALID', `${where}: ${m.analyte} cannot be converted to "${m.unit}"`);
}

export const codeMatches = (
  cc: { coding?: { system?: string; code?: string }[] } | undefined,
  token: string,
): boolean => {
  const bar = token.indexOf('|');
  const system = token.slice(0, bar);
  const code = token.slice(bar + 1);
  return !!cc?.coding?.some((c) => c.system === system && c.code === code);
};

/**
 * What a hook call looks up again and again in one patient's data, kept with that data (a `PatientData` and its
 * resources are not changed once gathered): each resource's clinical time, the resources carrying a code, and the
 * applicability decisions already taken (deployments of one family often share their criteria).
 */
interface PatientIndex {
  times: Map<Resource, number | null>;
  byCode: Map<Resource[], Map<string, Resource[]>>;
  decisions: Map<string, Decision>;
}
// Kept on the data object itself rather than in a WeakMap keyed by it: a WeakMap entry per call made every garbage
// collection pay for an ephemeron (~+30 µs of GC per patient-view call in the in-process profile).
const INDEX = Symbol('patient index');
function indexOf(d: PatientData): PatientIndex {
  const holder = d as PatientData & { [INDEX]?: PatientIndex };
  let ix = holder[INDEX];
  if (!ix) {
    ix = { times: new Map(), byCode: new Map(), decisions: new Map() };
    Object.defineProperty(holder, INDEX, { value: ix });
  }
  return ix;
}

/** `resourceTime`, parsed once per resource of this patient's data. */
function timeIn(d: PatientData, r: Resource): number | null {
  if (r.resourceType === 'Patient') return d.now.getTime();
  return cached(indexOf(d).times, r, () => resourceTime(r, d.now));
}

/** The resources of `list` (conditions or observations of `d`) whose `code` carries `token`, filtered once. */
function withCode<T extends Condition | Observation>(d: PatientData, list: T[], token: string): T[] {
  const ofList = cached(indexOf(d).byCode, list, () => new Map<string, Resource[]>());
  return cached(ofList, token, () => list.filter((x) => codeMatches(x.code, token))) as T[];
}

/** The clinical time of a resource (ms), or null when it carries none. */
export function resourceTime(r: Resource, now: Date): number | null {
  const t = (s: string | undefined) => {
    if (!s) return null;
    const ms = Date.parse(s);
    return Number.isFinite(ms) ? ms : null;
  };
  switch (r.resourceType) {
    case 'Observation':
      return t(r.effectiveDateTime ?? r.effectiveInstant ?? r.effectivePeriod?.start ?? r.issued);
    case 'Condition':
      return t(r.onsetDateTime ?? r.recordedDate ?? r.onsetPeriod?.start);
    case 'MedicationRequest':
      return t(r.authoredOn);
    case 'Patient':
      return now.getTime();
    default:
      return null;
  }
}

function candidates(m: FeatureMapping, d: PatientData): Resource[] {
  switch (m.resource) {
    case 'Patient':
      return d.patient ? [d.patient] : [];
    case 'Condition':
      return m.code ? withCode(d, d.conditions, m.code) : d.conditions;
    case 'Observation':
      return m.code ? withCode(d, d.observations, m.code) : d.observations;
    case 'MedicationRequest': {
      const src = m.source ?? 'record';
      const all = [...(src !== 'draft' ? d.medications : []), ...(src !== 'record' ? d.draftOrders : [])];
      return m.code ? all.filter((o) => codeMatches(o.medicationCodeableConcept, m.code!)) : all;
    }
  }
}

function translate(m: FeatureMapping, v: unknown): unknown {
  if (!m.map || v === null || v === undefined) return v;
  const key = typeof v === 'object' ? String((v as { code?: unknown }).code ?? '') : String(v);
  if (key in m.map) return m.map[key];
  let best: string | undefined;
  for (const k of Object.keys(m.map))
    if (k.endsWith('*') && key.startsWith(k.slice(0, -1)) && (!best || k.length > best.length)) best = k;
  return best === undefined ? null : m.map[best];
}

const isQuantity = (v: unknown): v is { value: number; unit?: string; code?: string } =>
  !!v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number';

/**
 * The items of `expr` on `r`. An Observation's `value` (the default expression) with a `valueQuantity` object is that
 * object — what FHIRPath answers, whatever other `value[x]` the resource carries, since Quantity comes first among
 * Observation's value types — so it is read directly; everything else is evaluated.
 */
function itemsOf(expr: string, r: Resource, where: string): unknown[] {
  if (expr === 'value' && r.resourceType === 'Observation') {
    const q: unknown = r.valueQuantity;
    if (q !== null && typeof q === 'object' && !Array.isArray(q)) return [q];
  }
  return compileFhirPath(expr, where)(r);
}

/** The value of one resource for a mapping: FHIRPath, value translation, unit conversion. */
function valueOf(m: FeatureMapping, r: Resource, where: string): FeatureValue {
  const expr = defaultExpression(m);
  if (!expr) return true;
  let items: unknown[];
  try {
    items = itemsOf(expr, r, where);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError(
      'FHIRPATH_FAILED',
      422,
      `${where}: "${expr}" failed on ${r.resourceType}/${r.id ?? '?'}: ${(e as Error).message}`,
    );
  }
  let v: unknown = items.find((x) => x !== null && x !== undefined);
  if (v === undefined) return null;
  v = translate(m, v);
  if (v === null || v === undefined) return null;
  const at = () => `${r.resourceType}/${r.id ?? '?'}${m.code ? ` (${m.code})` : ''} for feature ${m.feature}`;
  if (isQuantity(v)) {
    return m.unit ? convertUnit(v.value, v.code ?? v.unit, m.unit, m.analyte, at) : v.value;
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  // Codings / CodeableConcepts without a map: their code is the value.
  const code =
    (v as { code?: unknown; coding?: { code?: unknown }[] }).code ??
    (v as { coding?: { code?: unknown }[] }).coding?.[0]?.code;
  return typeof code === 'string' ? code : null;
}

/** Maps one feature: candidate resources (by type, code, source, window), per-resource values, aggregation. */
export function mapFeature(m: FeatureMapping, d: PatientData): FeatureValue {
  const now = d.now.getTime();
  const where = `mapping of ${m.feature}`;
  const rows: { t: number; v: FeatureValue }[] = [];
  for (const r of candidates(m, d)) {
    const t = m.source === 'draft' || d.draftOrders.includes(r as MedicationRequest) ? now : timeIn(d, r);
    if (m.windowDays !== undefined && (t === null || now - t > m.windowDays * DAY)) continue;
    const v = valueOf(m, r, where);
    if (v === null || v === false) continue;
    rows.push({ t: t ?? -Infinity, v });
  }
  const agg = m.aggregate ?? 'latest';
  if (agg === 'present') return rows.length > 0;
  if (agg === 'count') return rows.length;
  if (rows.length === 0) return null;
  rows.sort((a, b) => b.t - a.t);
  const latest = rows[0]!;
  switch (agg) {
    case 'latest':
      return latest.v;
    case 'days_since':
    case 'years_since': {
      // A date value (birthDate, onset) counts from itself; otherwise from the resource's clinical time.
      const fromValue = typeof latest.v === 'string' ? Date.parse(latest.v) : NaN;
      const t = Number.isFinite(fromValue) ? fromValue : latest.t;
      if (!Number.isFinite(t)) return null;
      const days = (now - t) / DAY;
      return agg === 'days_since' ? Math.floor(days) : Math.floor(days / 365.2425);
    }
    default: {
      const nums = rows.map((r) => (typeof r.v === 'number' ? r.v : Number(r.v))).filter((x) => Number.isFinite(x));
      if (nums.length === 0) return null;
      if (agg === 'mean') return nums.reduce((s, x) => s + x, 0) / nums.length;
      return agg === 'min' ? Math.min(...nums) : Math.max(...nums);
    }
  }
}

// ---------- applicability ----------

export const applicabilitySchema = z
  .object({
    /** Any one of these (active) conditions. `icd10` codes match by prefix ("E11" ⊇ "E11.9"), others exactly. */
    conditions: z
      .array(
        z
          .object({
            system: z.string().min(1).max(300),
            code: z.string().min(1).max(100),
            display: z.string().max(200).optional(),
          })
          .strict(),
      )
      .max(200)
      .optional(),
    /** Every one of these observations, recent enough. */
    observations: z
      .array(
        z
          .object({
            code: z.string().regex(/^[^|\s]+\|[^|\s]+$/, 'must be system|code'),
            withinDays: z.number().positive().max(36500),
            display: z.string().max(200).optional(),
          })
          .strict(),
      )
      .max(50)
      .optional(),
    age: z
      .object({ min: z.number().min(0).optional(), max: z.number().max(150).optional() })
      .strict()
      .optional(),
    sex: z
      .array(z.enum(['male', 'female', 'other', 'unknown']))
      .min(1)
      .optional(),
  })
  .strict();
export type Applicability = z.infer<typeof applicabilitySchema>;

export interface Decision {
  applies: boolean;
  reasons: string[];
}

// A Map, not an object literal: a system named like an Object.prototype member ("constructor") is no alias.
const SYSTEM_ALIASES = new Map<string, (s: string) => boolean>([
  ['icd10', (s) => /icd-?10/i.test(s)],
  ['snomed', (s) => s === 'http://snomed.info/sct'],
]);

const icdNorm = (c: string) => c.replace(/\./g, '').toUpperCase();

function conditionIsActive(c: Condition): boolean {
  const clinical = c.clinicalStatus?.coding?.map((x) => x.code) ?? [];
  const verification = c.verificationStatus?.coding?.map((x) => x.code) ?? [];
  if (verification.some((v) => v === 'refuted' || v === 'entered-in-error')) return false;
  return clinical.length === 0 || clinical.some((v) => v === 'active' || v === 'recurrence' || v === 'relapse');
}

/** Applicability criteria as text that tells them apart (they are JSON: finite numbers, strings, arrays). */
const criteriaKeys = new WeakMap<Applicability, string>();

/**
 * Decides whether a deployment serves this patient, with a reason in words for every criterion checked. Deployments
 * with the same criteria get the same decision: it is taken once per patient data (a fresh copy each time).
 */
export function decideApplicability(a: Applicability, d: PatientData): Decision {
  const key = cached(criteriaKeys, a, () => JSON.stringify(a));
  const decision = cached(indexOf(d).decisions, key, () => decide(a, d));
  return { applies: decision.applies, reasons: [...decision.reasons] };
}

function decide(a: Applicability, d: PatientData): Decision {
  const reasons: string[] = [];
  let applies = true;
  if (a.conditions?.length) {
    let hit: string | null = null;
    for (const c of d.conditions) {
      if (!conditionIsActive(c)) continue;
      for (const coding of c.code?.coding ?? []) {
        if (!coding.system || !coding.code) continue;
        for (const want of a.conditions) {
          const alias = SYSTEM_ALIASES.get(want.system);
          const systemOk = alias ? alias(coding.system) : coding.system === want.system;
          if (!systemOk) continue;
          const ok =
            want.system === 'icd10' || /icd-?10/i.test(want.system)
              ? icdNorm(coding.code).startsWith(icdNorm(want.code))
              : coding.code === want.code;
          if (ok && !hit)
            hit = `condition ${coding.code}${coding.display ? ` (${coding.display})` : ''} matches ${want.system} ${want.code}`;
        }
      }
    }
    if (hit) reasons.push(hit);
    else {
      applies = false;
      reasons.push(`no active condition among ${a.conditions.map((c) => `${c.system} ${c.code}`).join(', ')}`);
    }
  }
  for (const o of a.observations ?? []) {
    const times = withCode(d, d.observations, o.code)
      .map((x) => timeIn(d, x))
      .filter((t): t is number => t !== null);
    const latest = times.length ? Math.max(...times) : null;
    const label = o.display ?? o.code;
    if (latest !== null && d.now.getTime() - latest <= o.withinDays * DAY) {
      reasons.push(`${label} on ${new Date(latest).toISOString().slice(0, 10)} (within ${o.withinDays} days)`);
    } else {
      applies = false;
      reasons.push(
        latest === null
          ? `no ${label} observation`
          : `latest ${label} on ${new Date(latest).toISOString().slice(0, 10)} is older than ${o.withinDays} days`,
      );
    }
  }
  if (a.age) {
    const birth = d.patient?.birthDate ? Date.parse(d.patient.birthDate) : NaN;
    if (!Number.isFinite(birth)) {
      applies = false;
      reasons.push('age unknown (no Patient.birthDate)');
    } else {
      const age = Math.floor((d.now.getTime() - birth) / DAY / 365.2425);
      const ok = (a.age.min === undefined || age >= a.age.min) && (a.age.max === undefined || age <= a.age.max);
      if (!ok) applies = false;
      reasons.push(`age ${age} ${ok ? 'within' : 'outside'} ${a.age.min ?? 0}–${a.age.max ?? '∞'}`);
    }
  }
  if (a.sex) {
    const g = d.patient?.gender;
    const ok = !!g && (a.sex as string[]).includes(g);
    if (!ok) applies = false;
    reasons.push(g ? `sex ${g} ${ok ? 'is' : 'is not'} one of ${a.sex.join(', ')}` : 'sex unknown (no Patient.gender)');
  }
  if (reasons.length === 0) reasons.push('no applicability criteria: serves every patient');
  return { applies, reasons };
}
