// A deployment's definition (target, hooks, applicability, feature mapping, card template), validated with zod, and
// the rendering of one prediction into a CDS Hooks 2.0 card that follows the specification to the letter.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { badRequest } from '../errors.js';
import type { Contribution } from '../serving/predict.js';
import { applicabilitySchema, mappingSchema, type FeatureMapping, type FeatureValue } from './fhir.js';

export const HOOKS = ['patient-view', 'order-select'] as const;
export type Hook = (typeof HOOKS)[number];

const text = (max: number) => z.string().trim().min(1).max(max);

/**
 * FHIR R4 resource types that have a `subject` reference to the patient (the ones a suggestion is likely to create).
 * Not Task (its patient is `for`) nor NutritionOrder (`patient`): a template creating those must name the patient.
 */
export const SUBJECT_RESOURCES = new Set([
  'CarePlan',
  'CareTeam',
  'ClinicalImpression',
  'Communication',
  'CommunicationRequest',
  'Condition',
  'DeviceRequest',
  'DiagnosticReport',
  'DocumentReference',
  'Encounter',
  'Goal',
  'MedicationAdministration',
  'MedicationRequest',
  'MedicationStatement',
  'Observation',
  'Procedure',
  'QuestionnaireResponse',
  'RiskAssessment',
  'ServiceRequest',
]);

/**
 * The card template's schemas. `strict` is what a new deployment must satisfy: CDS Hooks 2.0 requires `system` in
 * every Coding, a `resource` in create and update actions, and `appContext` on smart links only. Specs stored before
 * these rules were enforced are read (and shown) with `strict` off, so an existing deployment still lists.
 */
function cardSchemas(strict: boolean) {
  // Typed as the strict schema: the loose one only describes stored specs in answers, never code's input.
  const system = (strict ? text(300) : text(300).optional()) as ReturnType<typeof text>;
  const codingSchema = z.object({ system, code: text(100), display: text(200) }).strict();
  const actionSchema = z
    .object({
      type: z.enum(['create', 'update', 'delete']),
      description: text(500),
      resource: z
        .record(z.string(), z.unknown())
        .refine((r) => typeof r.resourceType === 'string', 'a suggested resource needs a resourceType')
        .optional(),
      resourceId: z.array(text(300)).min(1).optional(),
    })
    .strict()
    .superRefine((a, ctx) => {
      if (!strict) return;
      if ((a.type === 'create' || a.type === 'update') && !a.resource)
        ctx.addIssue({
          code: 'custom',
          path: ['resource'],
          message:
            a.type === 'create'
              ? 'a "create" action needs the resource to create (CDS Hooks 2.0, Action)'
              : 'an "update" action needs the resource in its entirety (CDS Hooks 2.0, Action)',
        });
      if (a.type === 'update' && a.resource && typeof a.resource.id !== 'string')
        ctx.addIssue({ code: 'custom', path: ['resource', 'id'], message: 'an "update" action needs the resource id' });
      if (a.type === 'delete' && a.resource)
        ctx.addIssue({
          code: 'custom',
          path: ['resource'],
          message: 'a "delete" action names what it deletes in "resourceId", not "resource" (deprecated)',
        });
      if (a.type === 'delete' && !a.resourceId)
        ctx.addIssue({
          code: 'custom',
          path: ['resourceId'],
          message: 'a "delete" action needs "resourceId" (relative references, e.g. ServiceRequest/123)',
        });
    });
  const suggestionSchema = z
    .object({
      label: text(200),
      isRecommended: z.boolean().optional(),
      actions: z.array(actionSchema).min(1).max(10).optional(),
    })
    .strict();

  const bandSchema = z
    .object({
      /** Probability models: the band applies when the probability is at least this. */
      atLeast: z.number().min(0).max(1).optional(),
      /** Rule models: the band applies when the output equals this (true, or a category). */
      equals: z.union([z.boolean(), text(100)]).optional(),
      indicator: z.enum(['info', 'warning', 'critical']),
      /** Under 140 characters once `{probability}` / `{output}` are filled in. */
      summary: text(139),
      /** Extra Markdown placed before the explanation. */
      detail: text(4000).optional(),
      suggestions: z.array(suggestionSchema).min(1).max(10).optional(),
    })
    .strict();

  const linkSchema = z
    .object({
      label: text(200),
      url: z.string().url().max(2000),
      type: z.enum(['absolute', 'smart']),
      appContext: text(2000).optional(),
    })
    .strict()
    .refine((l) => !strict || l.appContext === undefined || l.type === 'smart', {
      path: ['appContext'],
      message: '"appContext" is for "smart" links only (CDS Hooks 2.0, Link)',
    });

  return z
    .object({
      title: text(120),
      bands: z.array(bandSchema).min(1).max(10),
      topContributions: z.number().int().min(0).max(10).optional(),
      links: z.array(linkSchema).min(1).max(10).optional(),
      overrideReasons: z.array(codingSchema).min(1).max(20).optional(),
    })
    .strict();
}

export const cardTemplateSchema = cardSchemas(true);
export type CardTemplate = z.infer<typeof cardTemplateSchema>;

const specSchema = (strict: boolean) =>
  z
    .object({
      target: z.union([
        z.object({ model: text(128), version: z.number().int().positive() }).strict(),
        z.object({ rule: text(128), version: z.number().int().positive() }).strict(),
      ]),
      /** The CDS service family this deployment answers in: service ids are `<service>-<hook>`. */
      service: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and "-"')
        .optional(),
      hooks: z.array(z.enum(HOOKS)).min(1).optional(),
      description: z.string().max(2000).optional(),
      applicability: applicabilitySchema,
      mapping: z.array(mappingSchema).min(1).max(500),
      card: strict ? cardTemplateSchema : cardSchemas(false),
    })
    .strict();

/** What a new deployment version must satisfy. */
export const deploymentSpecSchema = specSchema(true);
/** A spec as stored, for answers: one accepted before the CDS Hooks card rules were enforced still shows. */
export const storedDeploymentSpecSchema = specSchema(false);
export type DeploymentSpec = z.infer<typeof deploymentSpecSchema>;

export const DEFAULT_SERVICE = 'ichigen';
export const DEFAULT_OVERRIDE_REASONS = [
  { system: 'https://ichigen.dev/cds/override-reason', code: 'not-relevant', display: 'Not relevant for this patient' },
  { system: 'https://ichigen.dev/cds/override-reason', code: 'already-addressed', display: 'Already addressed' },
  { system: 'https://ichigen.dev/cds/override-reason', code: 'disagree', display: 'Clinical judgement differs' },
];

const pct = (p: number) => `${Math.round(p * 100)} %`;

export function fillSummary(s: string, output: number | boolean | string): string {
  return s
    .replace(/\{probability\}/g, typeof output === 'number' ? pct(output) : String(output))
    .replace(/\{output\}/g, typeof output === 'number' ? pct(output) : String(output));
}

/** Checks a template against its target kind: bands of the right kind, summaries that stay under 140 characters. */
export function checkCardTemplate(t: CardTemplate, kind: 'probability' | 'rule', categories: string[]): void {
  t.bands.forEach((b, i) => {
    const at = `card.bands[${i}]`;
    if (kind === 'probability' && (b.atLeast === undefined || b.equals !== undefined))
      throw badRequest('DEPLOYMENT_INVALID', `${at}: a model's bands use "atLeast" (a probability)`);
    if (kind === 'rule' && (b.equals === undefined || b.atLeast !== undefined))
      throw badRequest('DEPLOYMENT_INVALID', `${at}: a rule's bands use "equals" (true or a category)`);
    if (kind === 'rule' && typeof b.equals === 'string' && !categories.includes(b.equals))
      throw badRequest('DEPLOYMENT_INVALID', `${at}: the rule has no category "${b.equals}"`);
    const longest =
      kind === 'probability' ? 1 : [...categories, 'false'].reduce((a, c) => (c.length > a.length ? c : a), '');
    if (fillSummary(b.summary, longest).length >= 140)
      throw badRequest('DEPLOYMENT_INVALID', `${at}.summary is 140 characters or more once filled in`);
    if (kind === 'probability' && i > 0 && b.atLeast! >= t.bands[i - 1]!.atLeast!)
      throw badRequest('DEPLOYMENT_INVALID', 'card.bands must be ordered by "atLeast", highest first');
  });
}

export type Band = CardTemplate['bands'][number];

/** The band an output falls in, or null (no card). */
export function chooseBand(t: CardTemplate, output: number | boolean | string | null): Band | null {
  if (output === null) return null;
  for (const b of t.bands) {
    if (b.atLeast !== undefined && typeof output === 'number' && output >= b.atLeast) return b;
    if (b.equals !== undefined && b.equals === output) return b;
  }
  return null;
}

// ---------- cards (CDS Hooks 2.0, "Card" and "Suggestion") ----------

export interface CdsCard {
  uuid: string;
  summary: string;
  detail?: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; url?: string; topic?: { system: string; code: string; display: string } };
  suggestions?: {
    label: string;
    uuid: string;
    isRecommended?: boolean;
    actions?: { type: string; description: string; resource?: Record<string, unknown>; resourceId?: string[] }[];
  }[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: { system: string; code: string; display: string }[];
  links?: { label: string; url: string; type: 'absolute' | 'smart'; appContext?: string }[];
}

const fmt = (v: FeatureValue | undefined, unit: string | undefined): string => {
  if (v === null || v === undefined) return 'not recorded';
  if (typeof v === 'number') {
    const s = Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
    return unit ? `${s} ${unit}` : s;
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return v;
};

const md = (s: string) => s.replace(/([\\`*_[\]<>|])/g, '\\$1');

export interface CardInput {
  template: CardTemplate;
  band: Band;
  deploymentName: string;
  deploymentVersion: number;
  /** The FHIR id of the patient in context: a created resource that has a `subject` is about this patient. */
  patientId: string;
  targetLabel: string;
  /** Model card link (absolute), if the target has one. */
  cardUrl: string | null;
  output: number | boolean | string;
  threshold: number | null;
  contributions: Contribution[] | null;
  ruleReasons: string[] | null;
  mapping: FeatureMapping[];
  features: Record<string, FeatureValue>;
}

/**
 * A create action's resource with `subject` set to the patient in context when its type has a subject and the
 * template names none (FHIR R4 requires it on e.g. ServiceRequest); the template's object is left as it is.
 */
export function withSubject(
  type: string,
  resource: Record<string, unknown>,
  patientId: string,
): Record<string, unknown> {
  if (type !== 'create' || resource.subject !== undefined) return resource;
  if (!SUBJECT_RESOURCES.has(resource.resourceType as string)) return resource;
  return { ...resource, subject: { reference: `Patient/${patientId}` } };
}

/** Renders one card; omits every optional field that would be empty (the spec forbids empty strings and arrays). */
export function renderCard(c: CardInput): CdsCard {
  const labels = new Map(c.mapping.map((m) => [m.feature, m]));
  const lines: string[] = [];
  if (c.band.detail) lines.push(c.band.detail, '');
  if (typeof c.output === 'number') {
    lines.push(
      `**Estimated probability: ${pct(c.output)}**${c.threshold !== null ? ` (decision threshold ${pct(c.threshold)})` : ''}.`,
    );
    const top = (c.contributions ?? []).slice(0, c.template.topContributions ?? 3);
    if (top.length) {
      lines.push('', 'What weighed most for this patient:');
      for (const k of top) {
        const m = labels.get(k.feature);
        lines.push(
          `- ${md(m?.label ?? k.feature)} = ${md(fmt(c.features[k.feature], m?.unit))} ${k.contribution > 0 ? 'raised' : 'lowered'} the estimate`,
        );
      }
    }
  } else {
    lines.push(`**Rule result: ${md(String(c.output))}**.`);
    if (c.ruleReasons?.length) {
      lines.push('', 'Because:');
      for (const r of c.ruleReasons) {
        const f = r.split(' ')[0]!;
        const m = labels.get(f);
        lines.push(`- ${md(m?.label ? r.replace(f, m.label) : r)}`);
      }
    }
  }
  lines.push('', `Source: ${md(c.targetLabel)}, deployment ${md(c.deploymentName)} v${c.deploymentVersion}.`);
  if (c.cardUrl) lines.push(`[Model card](${c.cardUrl})`);
  const card: CdsCard = {
    uuid: randomUUID(),
    summary: fillSummary(c.band.summary, c.output),
    detail: lines.join('\n'),
    indicator: c.band.indicator,
    source: {
      label: `Ichigen: ${c.template.title}`,
      ...(c.cardUrl ? { url: c.cardUrl } : {}),
      topic: { system: 'https://ichigen.dev/cds/deployment', code: c.deploymentName, display: c.template.title },
    },
  };
  if (c.band.suggestions?.length) {
    card.suggestions = c.band.suggestions.map((s) => ({
      label: s.label,
      uuid: randomUUID(),
      ...(s.isRecommended !== undefined ? { isRecommended: s.isRecommended } : {}),
      ...(s.actions?.length
        ? {
            actions: s.actions.map((a) => ({
              type: a.type,
              description: a.description,
              ...(a.resource ? { resource: withSubject(a.type, a.resource, c.patientId) } : {}),
              ...(a.resourceId?.length ? { resourceId: a.resourceId } : {}),
            })),
          }
        : {}),
    }));
    card.selectionBehavior = 'at-most-one';
  }
  card.overrideReasons = c.template.overrideReasons ?? DEFAULT_OVERRIDE_REASONS;
  const links = [...(c.template.links ?? [])];
  if (links.length) card.links = links;
  return card;
}
