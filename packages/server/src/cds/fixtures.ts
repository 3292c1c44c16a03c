// Test fixtures for the CDS Hooks service, shaped on the request/response examples of the CDS Hooks 2.0
// specification (written here, not copied): FHIR R4 resources typed with @medplum/fhirtypes, hook requests, and a
// small trained diabetes model registered and approved the way the platform does it.
import type { Bundle, Condition, MedicationRequest, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { Frame, trainGbdt, ENGINE_VERSION } from '@ichigen/ml';
import { evaluateHoldout } from '../models/evaluation.js';
import { renderCardMarkdown } from '../models/card.js';
import type { Platform } from '../platform.js';

const day = 86_400_000;
export const daysAgo = (d: number) => new Date(Date.now() - d * day).toISOString();
export const LOINC = 'http://loinc.org';
export const ATC = 'http://www.whocc.no/atc';

export const patient = (id: string, gender: 'male' | 'female', birthDate: string): Patient => ({
  resourceType: 'Patient',
  id,
  active: true,
  gender,
  birthDate,
  name: [{ family: 'Yamada', given: ['Hanako'] }],
});

export const condition = (id: string, patientId: string, system: string, code: string, display: string): Condition => ({
  resourceType: 'Condition',
  id,
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  verificationStatus: {
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
  },
  code: { coding: [{ system, code, display }] },
  subject: { reference: `Patient/${patientId}` },
  recordedDate: daysAgo(800),
});

export const quantity = (
  id: string,
  patientId: string,
  loinc: string,
  value: number,
  unit: string,
  days: number,
): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: LOINC, code: loinc }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: daysAgo(days),
  valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
});

export const serology = (
  id: string,
  patientId: string,
  loinc: string,
  positive: boolean,
  days: number,
): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: LOINC, code: loinc }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: daysAgo(days),
  valueCodeableConcept: {
    coding: [
      {
        system: 'http://snomed.info/sct',
        code: positive ? '10828004' : '260385009',
        display: positive ? 'Positive' : 'Negative',
      },
    ],
  },
});

export const order = (id: string, patientId: string, atc: string, display: string): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  id,
  status: 'draft',
  intent: 'order',
  subject: { reference: `Patient/${patientId}` },
  medicationCodeableConcept: { coding: [{ system: ATC, code: atc, display }] },
});

export const bundle = (resources: Resource[]): Bundle => ({
  resourceType: 'Bundle',
  type: 'searchset',
  total: resources.length,
  entry: resources.map((resource) => ({ fullUrl: `urn:uuid:${resource.id ?? 'x'}`, resource })),
});

/** A patient with type 2 diabetes, recent HbA1c (one in IFCC units), eGFR, BMI, and hepatitis B serology. */
export function diabeticPatient(id = 'pt-dm') {
  return {
    patient: patient(id, 'female', '1961-04-02'),
    conditions: [
      condition(
        'c-e11',
        id,
        'http://hl7.org/fhir/sid/icd-10',
        'E11.9',
        'Type 2 diabetes mellitus without complications',
      ),
    ],
    hba1c: [quantity('a1c-1', id, '4548-4', 9.4, '%', 20), quantity('a1c-0', id, '4548-4', 64, 'mmol/mol', 200)],
    egfr: [quantity('egfr-1', id, '62238-1', 48, 'mL/min/{1.73_m2}', 20)],
    bmi: [quantity('bmi-1', id, '39156-5', 31.2, 'kg/m2', 60)],
    hbsag: [serology('hbsag-1', id, '5196-1', false, 300)],
    antiHbc: [serology('hbc-1', id, '16933-4', true, 300)],
  };
}

/** The prefetch a CDS client would send for the discovery templates of our services. */
export function prefetchFor(p: ReturnType<typeof diabeticPatient>, meds: MedicationRequest[] = []) {
  return {
    patient: p.patient,
    conditions: bundle(p.conditions),
    medications: bundle(meds),
    'observation-4548-4': bundle(p.hba1c),
    'observation-62238-1': bundle(p.egfr),
    'observation-39156-5': bundle(p.bmi),
    'observation-5196-1': bundle(p.hbsag),
    'observation-16933-4': bundle(p.antiHbc),
  };
}

export function hookRequest(
  hook: 'patient-view' | 'order-select',
  patientId: string,
  extra: Record<string, unknown> = {},
) {
  const { context, ...rest } = extra as { context?: Record<string, unknown> };
  return {
    hookInstance: crypto.randomUUID(),
    hook,
    context: { userId: 'Practitioner/example', patientId, encounterId: '89284', ...(context ?? {}) },
    ...rest,
  };
}

/** Trains a small GBDT on the synthetic cohort and registers it in `project` as a candidate; returns its name. */
export async function registerDiabetesModel(platform: Platform, projectSlug: string, scientist: string) {
  const db = platform.store.db;
  const project = await db.selectFrom('projects').selectAll().where('slug', '=', projectSlug).executeTakeFirstOrThrow();
  const dv = await db
    .selectFrom('dataset_versions')
    .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
    .select(['dataset_versions.id', 'dataset_versions.content_digest', 'dataset_versions.created_at'])
    .where('datasets.project_id', '=', project.id)
    .executeTakeFirstOrThrow();
  // A deterministic synthetic cohort: response falls with HbA1c and age, rises with eGFR and with SGLT2 at good eGFR.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const drugs = ['metformin', 'dpp4', 'sglt2', 'su'];
  const cols = {
    age: [] as number[],
    sex: [] as string[],
    hba1c_baseline: [] as number[],
    egfr: [] as number[],
    bmi: [] as (number | null)[],
    drug_class: [] as string[],
  };
  const y: number[] = [];
  for (let i = 0; i < 400; i++) {
    const age = 40 + Math.floor(rnd() * 45);
    const a1c = 6.5 + rnd() * 5;
    const egfr = 30 + rnd() * 80;
    const drug = drugs[Math.floor(rnd() * 4)]!;
    const logit =
      2 - 0.9 * (a1c - 7.5) + 0.015 * (egfr - 70) - 0.02 * (age - 60) + (drug === 'sglt2' && egfr > 60 ? 0.8 : 0);
    cols.age.push(age);
    cols.sex.push(rnd() < 0.5 ? 'M' : 'F');
    cols.hba1c_baseline.push(a1c);
    cols.egfr.push(egfr);
    cols.bmi.push(rnd() < 0.1 ? null : 20 + rnd() * 15);
    cols.drug_class.push(drug);
    y.push(rnd() < 1 / (1 + Math.exp(-logit)) ? 1 : 0);
  }
  const frame = Frame.fromColumns(cols);
  const model = await trainGbdt(frame, y, {
    objective: 'binary',
    numTrees: 30,
    numLeaves: 8,
    learningRate: 0.2,
    minDataInLeaf: 10,
  });
  const scores = model.predictProba(frame);
  const metrics = evaluateHoldout(Float64Array.from(y), scores, {
    threshold: { method: 'youden' },
    subgroups: [],
    importance: [],
  });
  const modelDigest = await platform.registry.putArtifact(Buffer.from(JSON.stringify(model.toJSON())));
  const features = Object.keys(cols);
  const reg = await platform.registry.register({
    projectId: project.id,
    projectSlug,
    modelName: 'responder',
    source: 'external',
    datasetVersionId: dv.id,
    datasetDigest: dv.content_digest,
    policyId: null,
    studyId: null,
    engineVersion: ENGINE_VERSION,
    algorithm: 'gbdt',
    seed: 1,
    params: { numTrees: 30 },
    features,
    modelDigest,
    onnxDigest: null,
    threshold: metrics.threshold.value,
    metrics,
    card: {
      model: 'responder',
      createdAt: new Date().toISOString(),
      intendedUse: 'Chance that HbA1c falls below 7 % within 6 months of starting an oral hypoglycemic drug.',
      data: {
        project: projectSlug,
        dataset: 'cohort',
        datasetVersion: 1,
        datasetDigest: dv.content_digest,
        datasetCreatedAt: dv.created_at,
        dateRanges: [],
        rows: y.length,
        trainingRows: y.length,
        holdoutRows: y.length,
        patients: null,
        holdoutPatients: null,
        prevalence: y.reduce((s, v) => s + v, 0) / y.length,
        droppedMissingTarget: 0,
        target: 'responder',
        positive: '1',
        features,
      },
      method: {
        source: 'external',
        algorithm: 'gbdt',
        engineVersion: ENGINE_VERSION,
        seed: 1,
        params: {},
        search: null,
      },
      metrics,
      limitations: ['Test fixture: evaluated on its training rows.'],
      comparison: null,
    },
    renderCard: renderCardMarkdown,
    trainedBy: scientist,
    responsible: [scientist],
  });
  return { name: 'responder', version: reg.version };
}

/** The diabetes deployment: who it serves, how FHIR maps to each feature, and what the card says. */
export const dmDeployment = (version: number, overrides: Record<string, unknown> = {}) => ({
  target: { model: 'responder', version },
  hooks: ['patient-view', 'order-select'],
  applicability: {
    conditions: [
      { system: 'icd10', code: 'E11', display: 'Type 2 diabetes' },
      { system: 'snomed', code: '44054006', display: 'Diabetes mellitus type 2' },
    ],
    observations: [{ code: `${LOINC}|4548-4`, withinDays: 365, display: 'HbA1c' }],
    age: { min: 18, max: 100 },
  },
  mapping: [
    {
      feature: 'hba1c_baseline',
      label: 'latest HbA1c',
      resource: 'Observation',
      code: `${LOINC}|4548-4`,
      unit: '%',
      analyte: 'hba1c',
      windowDays: 365,
    },
    {
      feature: 'egfr',
      label: 'eGFR',
      resource: 'Observation',
      code: `${LOINC}|62238-1`,
      unit: 'mL/min/{1.73_m2}',
      windowDays: 365,
    },
    { feature: 'bmi', label: 'BMI', resource: 'Observation', code: `${LOINC}|39156-5`, unit: 'kg/m2', windowDays: 730 },
    { feature: 'age', label: 'age', resource: 'Patient', expression: 'birthDate', aggregate: 'years_since' },
    { feature: 'sex', label: 'sex', resource: 'Patient', expression: 'gender', map: { female: 'F', male: 'M' } },
    {
      feature: 'drug_class',
      label: 'proposed drug',
      resource: 'MedicationRequest',
      source: 'draft',
      expression: `medication.coding.where(system = '${ATC}').code`,
      map: { 'A10BA*': 'metformin', 'A10BH*': 'dpp4', 'A10BK*': 'sglt2', 'A10BB*': 'su' },
    },
  ],
  card: {
    title: 'Oral hypoglycemic response',
    bands: [
      { atLeast: 0.6, indicator: 'info', summary: 'Likely HbA1c response ({probability}) to oral therapy' },
      {
        atLeast: 0,
        indicator: 'warning',
        summary: 'Low chance of HbA1c response ({probability}): review the regimen',
        suggestions: [
          {
            label: 'Refer to diabetes educator',
            actions: [
              {
                type: 'create',
                description: 'Referral to diabetes education',
                resource: { resourceType: 'ServiceRequest', status: 'draft', intent: 'proposal' },
              },
            ],
          },
        ],
      },
    ],
    topContributions: 3,
  },
  ...overrides,
});
