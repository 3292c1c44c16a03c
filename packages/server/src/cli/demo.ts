// `ichigen demo`: the diabetes study end to end on a real server — synthetic EHR → pushes → HbA1c recipe → study →
// approval by a second person → CDS Hooks deployment with a FHIR mapping, plus the hepatitis B rule — and a ready
// curl with a signed JWT that returns cards for a sample patient. Everything goes through the public HTTP API.
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { ApiClient, CliError } from './client.js';

export interface DemoOptions {
  url: string;
  adminToken: string;
  project: string;
  patients: number;
  trials: number;
  workDir: string;
  say: (line: string) => void;
}

export interface DemoResult {
  project: string;
  model: { name: string; version: number; auc: number; aucCi: { lower: number; upper: number } };
  groundTruth: string;
  patient: string;
  curl: string;
  requestFile: string;
  cards: { summary: string; indicator: string }[];
}

const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_EXAMPLES = [path.join(HERE, '../rules/examples'), path.join(HERE, '../../src/rules/examples')];

/** Features of the recipe's cohort table that a FHIR record can supply at the point of care. */
const FEATURES = ['age_at_index', 'sex', 'bmi', 'hba1c_last', 'hba1c_mean', 'hba1c_n', 'egfr', 'ckd', 'hypertension'];

async function userToken(admin: ApiClient, name: string): Promise<string> {
  const created = await admin.request<{ password: string }>('POST', '/users', { json: { name } });
  const anon = new ApiClient(admin.baseUrl);
  const pw = randomBytes(18).toString('base64url');
  const r = await anon.request<{ token: string }>('POST', '/auth/login', {
    json: { user: name, password: created.password, newPassword: pw },
  });
  return r.token;
}

async function upload(
  api: ApiClient,
  project: string,
  dataset: string,
  file: string,
  encoding: string,
  message: string,
) {
  const st = await stat(file);
  return api.upload<{ version: { version: number; rowCount: number } }>(
    `/projects/${enc(project)}/datasets/${enc(dataset)}/versions`,
    createReadStream(file),
    {
      size: st.size,
      contentType: 'text/csv',
      query: { encoding, message },
    },
  );
}

function exampleFile(name: string): string {
  for (const d of SOURCE_EXAMPLES) if (existsSync(path.join(d, name))) return path.join(d, name);
  throw new CliError('DEMO_FILES_MISSING', `cannot find ${name} next to the installed CLI`);
}

/** Builds the prefetch a CDS client would send, from a patient's FHIR bundle and the discovered templates. */
export function prefetchFor(
  bundle: Bundle,
  patientId: string,
  templates: Record<string, string>,
): Record<string, unknown> {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r);
  const out: Record<string, unknown> = {};
  for (const [key, template] of Object.entries(templates)) {
    const t = template.replace('{{context.patientId}}', patientId);
    if (t.startsWith('Patient/')) {
      out[key] = resources.find((r) => r.resourceType === 'Patient') ?? null;
      continue;
    }
    const [type, query = ''] = t.split('?');
    const code = new URLSearchParams(query).get('code');
    const matches = resources.filter((r) => {
      if (r.resourceType !== type) return false;
      if (!code) return true;
      const [sys, c] = code.includes('|') ? code.split('|') : [undefined, code];
      const codings = (r as { code?: { coding?: { system?: string; code?: string }[] } }).code?.coding ?? [];
      return codings.some((x) => x.code === c && (!sys || x.system === sys));
    });
    out[key] = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: matches.length,
      entry: matches.map((resource) => ({ resource })),
    };
  }
  return out;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const say = o.say;
  const admin = new ApiClient(o.url, o.adminToken);
  const P = o.project;
  const t0 = Date.now();
  const step = (s: string) => say(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${s}`);

  const existing = await admin.request<{ projects: { slug: string }[] }>('GET', '/projects');
  if (existing.projects.some((p) => p.slug === P)) {
    throw new CliError(
      'DEMO_PROJECT_EXISTS',
      `project ${P} already exists on this server: use --project <another name> or a fresh --data directory`,
    );
  }
  step(`creating project ${P} and two users: sato (steward + scientist) and tanaka (approver)`);
  await admin.request('POST', '/projects', {
    json: { slug: P, name: 'Diabetes: oral hypoglycemic drug response (demo)', description: 'Synthetic demo data' },
  });
  const suffix = randomBytes(3).toString('hex');
  const sato = `sato-${suffix}`;
  const tanaka = `tanaka-${suffix}`;
  const satoApi = new ApiClient(o.url, await userToken(admin, sato));
  const tanakaApi = new ApiClient(o.url, await userToken(admin, tanaka));
  for (const [u, role] of [
    [sato, 'steward'],
    [sato, 'scientist'],
    [tanaka, 'approver'],
  ] as const) {
    await admin.request('POST', `/projects/${enc(P)}/members`, { json: { user: u, role } });
  }

  step(`generating a synthetic EHR for ${o.patients} patients (seed 7)`);
  const synthDir = path.join(o.workDir, 'synthetic-ehr');
  mkdirSync(synthDir, { recursive: true });
  const { writeDiabetesCohort } = await import('../synth/write.js');
  await writeDiabetesCohort({
    patients: o.patients,
    seed: 7,
    out: synthDir,
    fhirPatients: Math.min(o.patients, 200),
    cp932: true,
  });

  step('pushing the DWH extracts (labs as CP932 / Shift_JIS, as Japanese EHR vendors deliver them)');
  const v = {
    labs: (await upload(satoApi, P, 'labs', path.join(synthDir, 'labs.cp932.csv'), 'cp932', 'DWH lab extract (demo)'))
      .version.version,
    prescriptions: (
      await upload(
        satoApi,
        P,
        'prescriptions',
        path.join(synthDir, 'prescriptions.csv'),
        'auto',
        'DWH prescriptions (demo)',
      )
    ).version.version,
    patients: (
      await upload(satoApi, P, 'patients', path.join(synthDir, 'patients.csv'), 'auto', 'patient master (demo)')
    ).version.version,
    conditions: (
      await upload(satoApi, P, 'conditions', path.join(synthDir, 'conditions.csv'), 'auto', 'diagnoses (demo)')
    ).version.version,
  };

  step('labelling HbA1c control periods with the hba1c-control-periods recipe');
  const { run } = await satoApi.request<{ run: { id: string } }>(
    'POST',
    `/projects/${enc(P)}/recipes/hba1c-control-periods/runs`,
    {
      json: {
        inputs: Object.fromEntries(Object.entries(v).map(([role, version]) => [role, { dataset: role, version }])),
        params: {},
        output: 'cohort',
      },
    },
  );
  let cohortVersion = 0;
  for (;;) {
    const r = await satoApi.request<{
      status: string;
      error: string | null;
      output: { version: number | null };
      report: { rows?: number; positives?: number } | null;
    }>('GET', `/projects/${enc(P)}/recipe-runs/${enc(run.id)}`);
    if (r.status === 'failed' || r.status === 'cancelled')
      throw new CliError('DEMO_FAILED', `recipe run ${r.status}: ${r.error ?? ''}`);
    if (r.status === 'succeeded') {
      cohortVersion = r.output.version!;
      break;
    }
    await sleep(500);
  }

  step(
    `training: policy on ${P}/cohort, then a ${o.trials}-trial study (GBDT and logistic regression, patient-grouped CV)`,
  );
  await satoApi.request('PUT', `/projects/${enc(P)}/datasets/cohort/policy`, {
    json: {
      target: 'responder',
      positive: '1',
      group: 'patient_id',
      include: FEATURES,
      algorithms: ['gbdt', 'logreg'],
      trials: o.trials,
      folds: 4,
      model: 'oral-response',
      description:
        'Predicts which patients starting oral hypoglycemic drugs reach ≥ 365 days of HbA1c < 7.0 % (synthetic demo).',
      onNewVersion: true,
    },
  });
  const study = await satoApi.request<{ id: string }>('POST', `/projects/${enc(P)}/studies`, {
    json: { dataset: 'cohort', version: cohortVersion },
  });
  let last = '';
  let s: {
    status: string;
    trialsDone: number;
    trials: number;
    bestValue: number | null;
    error: string | null;
    modelVersion: { model: string; version: number } | null;
  };
  for (;;) {
    s = await satoApi.request('GET', `/projects/${enc(P)}/studies/${enc(study.id)}`);
    const line = `study ${s.status}: ${s.trialsDone}/${s.trials} trials, best CV AUC ${s.bestValue === null ? '–' : s.bestValue.toFixed(3)}`;
    if (line !== last) step(line);
    last = line;
    if (['succeeded', 'failed', 'cancelled'].includes(s.status)) break;
    await sleep(1000);
  }
  if (s.status !== 'succeeded' || !s.modelVersion)
    throw new CliError('DEMO_FAILED', `study ${s.status}: ${s.error ?? ''}`);
  const mv = s.modelVersion;
  const detail = await tanakaApi.request<{ metrics: { auc: number; aucCi: { lower: number; upper: number } } }>(
    'GET',
    `/projects/${enc(P)}/models/${enc(mv.model)}/versions/${mv.version}`,
  );

  step(`approval of ${mv.model}@${mv.version} by ${tanaka} (the two-person rule: not the person who trained it)`);
  await tanakaApi.request('POST', `/projects/${enc(P)}/models/${enc(mv.model)}/versions/${mv.version}/approve`, {
    json: { reason: 'Demo: reviewed the model card (holdout AUC, calibration, subgroups).' },
  });

  step('deploying it to CDS Hooks with a FHIR feature mapping, and the hepatitis B reactivation rule beside it');
  const loinc = (c: string) => `http://loinc.org|${c}`;
  await tanakaApi.request('PUT', `/projects/${enc(P)}/deployments/oral-response`, {
    json: {
      target: { model: mv.model, version: mv.version },
      hooks: ['patient-view', 'order-select'],
      service: 'ichigen',
      description: 'Likelihood of lasting HbA1c control on oral hypoglycemic drugs',
      applicability: { conditions: [{ system: 'icd10', code: 'E11' }], age: { min: 18, max: 110 } },
      mapping: [
        {
          feature: 'age_at_index',
          label: 'age',
          resource: 'Patient',
          expression: 'birthDate',
          aggregate: 'years_since',
        },
        { feature: 'sex', label: 'sex', resource: 'Patient', expression: 'gender', map: { female: 'F', male: 'M' } },
        { feature: 'bmi', label: 'BMI', resource: 'Observation', code: loinc('39156-5') },
        {
          feature: 'hba1c_last',
          label: 'latest HbA1c',
          resource: 'Observation',
          code: loinc('4548-4'),
          unit: '%',
          analyte: 'hba1c',
        },
        {
          feature: 'hba1c_mean',
          label: 'mean HbA1c',
          resource: 'Observation',
          code: loinc('4548-4'),
          unit: '%',
          analyte: 'hba1c',
          aggregate: 'mean',
          windowDays: 3650,
        },
        {
          feature: 'hba1c_n',
          label: 'number of HbA1c tests',
          resource: 'Observation',
          code: loinc('4548-4'),
          aggregate: 'count',
        },
        { feature: 'egfr', label: 'eGFR', resource: 'Observation', code: loinc('33914-3') },
        {
          feature: 'ckd',
          label: 'chronic kidney disease',
          resource: 'Condition',
          expression: "code.coding.where(code.startsWith('N18')).code",
          map: { 'N18*': 1 },
          aggregate: 'present',
        },
        {
          feature: 'hypertension',
          label: 'hypertension',
          resource: 'Condition',
          expression: "code.coding.where(code.startsWith('I10')).code",
          map: { 'I10*': 1 },
          aggregate: 'present',
        },
      ],
      card: {
        title: 'Oral hypoglycemic response',
        bands: [
          { atLeast: 0.5, indicator: 'info', summary: 'Likely lasting HbA1c control on oral therapy ({probability})' },
          {
            atLeast: 0,
            indicator: 'warning',
            summary: 'Low chance of lasting HbA1c control on oral therapy ({probability})',
          },
        ],
        topContributions: 3,
      },
    },
  });
  const rule = JSON.parse(readFileSync(exampleFile('hbv-reactivation.rule.json'), 'utf8')) as {
    spec: unknown;
    description?: string;
  };
  const ruleV = await satoApi.request<{ version: number }>(
    'POST',
    `/projects/${enc(P)}/rules/hbv-reactivation/versions`,
    { json: rule },
  );
  await tanakaApi.request('POST', `/projects/${enc(P)}/rules/hbv-reactivation/versions/${ruleV.version}/approve`, {
    json: { reason: 'Demo: hospital HBV reactivation-prevention protocol.' },
  });
  const hbvDeployment = JSON.parse(readFileSync(exampleFile('hbv-reactivation.deployment.json'), 'utf8')) as {
    target: { version: number };
    mapping: { feature: string; code?: string }[];
  };
  hbvDeployment.target.version = ruleV.version;
  // The synthetic lab system reports anti-HBc under LOINC 13952-7.
  for (const m of hbvDeployment.mapping) if (m.feature === 'anti_hbc') m.code = 'http://loinc.org|13952-7';
  await tanakaApi.request('PUT', `/projects/${enc(P)}/deployments/hbv-reactivation`, { json: hbvDeployment });

  step('trusting a demo EHR: an ES256 key pair, its JWKS registered as a CDS Hooks issuer');
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'demo-ehr', alg: 'ES256', use: 'sig' };
  const iss = `https://demo-ehr.invalid/${suffix}`;
  await admin.request('PUT', '/cds/issuers', { json: { iss, jwks: { keys: [jwk] }, projects: [P], baseUrl: o.url } });
  const sign = (aud: string, lifetime: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'demo-ehr', typ: 'JWT' })
      .setIssuer(iss)
      .setAudience(aud)
      .setSubject('demo-ehr-client')
      .setIssuedAt()
      .setExpirationTime(lifetime)
      .setJti(randomUUID())
      .sign(privateKey);

  step('choosing a sample patient with type 2 diabetes and calling patient-view as the EHR would');
  const discoveryAud = `${o.url}/cds-services`;
  const disc = await fetch(discoveryAud, { headers: { authorization: `Bearer ${await sign(discoveryAud, '5m')}` } });
  const services = (
    (await disc.json()) as { services: { id: string; hook: string; prefetch?: Record<string, string> }[] }
  ).services;
  const pv = services.find((x) => x.hook === 'patient-view');
  if (!pv) throw new CliError('DEMO_FAILED', 'the CDS discovery lists no patient-view service');
  const fhirDir = path.join(synthDir, 'fhir');
  const files = readdirSync(fhirDir).sort();
  const endpoint = `${o.url}/cds-services/${pv.id}`;
  let chosen: { patient: string; body: unknown; cards: { summary: string; indicator: string }[] } | undefined;
  for (const f of files.slice(0, 60)) {
    const bundle = JSON.parse(readFileSync(path.join(fhirDir, f), 'utf8')) as Bundle;
    const patient = (bundle.entry ?? []).find((e) => e.resource?.resourceType === 'Patient')?.resource as
      { id: string } | undefined;
    if (!patient) continue;
    const hasHba1c = JSON.stringify(bundle).includes('"4548-4"');
    const hasE11 = JSON.stringify(bundle).includes('"E11');
    if (!hasHba1c || !hasE11) continue;
    const body = {
      hook: 'patient-view',
      hookInstance: randomUUID(),
      context: { userId: 'Practitioner/demo', patientId: patient.id },
      prefetch: prefetchFor(bundle, patient.id, pv.prefetch ?? {}),
    };
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign(endpoint, '5m')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { cards?: { summary: string; indicator: string }[] };
    if (res.ok && json.cards && json.cards.length > 0) {
      chosen = { patient: patient.id, body, cards: json.cards };
      break;
    }
  }
  if (!chosen) throw new CliError('DEMO_FAILED', 'no sample patient produced a card');
  const requestFile = path.join(o.workDir, 'patient-view-request.json');
  writeFileSync(requestFile, JSON.stringify({ ...(chosen.body as object), hookInstance: randomUUID() }, null, 2));
  // CDS Hooks clients must use short-lived tokens: the service refuses lifetimes over 5 minutes.
  const jwt = await sign(endpoint, '5m');
  const curl = `curl -s -X POST '${endpoint}' -H 'Authorization: Bearer ${jwt}' -H 'Content-Type: application/json' --data @${requestFile}`;
  step('done');
  return {
    project: P,
    model: { name: mv.model, version: mv.version, auc: detail.metrics.auc, aucCi: detail.metrics.aucCi },
    groundTruth: path.join(synthDir, 'ground_truth.csv'),
    patient: chosen.patient,
    curl,
    requestFile,
    cards: chosen.cards,
  };
}
