// Writes a synthetic cohort the way a hospital would hand it over: DWH-style CSVs in UTF-8 and CP932, a ground-truth
// file for evaluation, and FHIR R4 collection bundles per patient (Patient, Condition, Observation, MedicationRequest).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  Bundle,
  BundleEntry,
  Condition,
  MedicationRequest,
  Observation,
  Patient,
  Resource,
} from '@medplum/fhirtypes';
import iconv from 'iconv-lite';
import { formatDay, toCsv } from '../recipes/table.js';
import { HEADERS, synthPatient, TESTS, toTables, type SynthOptions, type SynthPatient } from './diabetes.js';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const UCUM_CODE: Record<string, string> = {
  '%': '%',
  'mmol/mol': 'mmol/mol',
  'mL/min/1.73m2': 'mL/min/{1.73_m2}',
  'kg/m2': 'kg/m2',
  'IU/mL': '[IU]/mL',
  'S/CO': '{s_co_ratio}',
};

/** One patient as a FHIR R4 collection bundle with stable, patient-scoped resource ids. */
export function fhirBundle(p: SynthPatient): Bundle {
  const subject = { reference: `Patient/${p.id}` };
  const entries: Resource[] = [];
  const patient: Patient = {
    resourceType: 'Patient',
    id: p.id,
    identifier: [{ system: 'urn:ichigen:synthetic:patient', value: p.id }],
    gender: p.sex === 'M' ? 'male' : 'female',
    birthDate: formatDay(p.birthDay),
  };
  entries.push(patient);
  p.conditions.forEach((c, i) => {
    const cond: Condition = {
      resourceType: 'Condition',
      id: `${p.id}-c${i + 1}`,
      clinicalStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
      },
      code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: c.code, display: c.name }], text: c.name },
      subject,
      onsetDateTime: formatDay(c.day),
    };
    entries.push(cond);
  });
  p.labs.forEach((l, i) => {
    const t = TESTS[l.test];
    const obs: Observation = {
      resourceType: 'Observation',
      id: `${p.id}-o${i + 1}`,
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }],
        },
      ],
      code: { coding: [{ system: LOINC, code: t.code, display: t.name }], text: t.name },
      subject,
      effectiveDateTime: formatDay(l.day),
      valueQuantity: { value: Number(l.value), unit: t.unit, system: UCUM, code: UCUM_CODE[t.unit] ?? t.unit },
    };
    // Serology carries its reading too, as laboratories report it (HBsAg ≥ 0.05 IU/mL, anti-HBc ≥ 1.0 S/CO).
    const cutoff = l.test === 'hbsag' ? 0.05 : l.test === 'antiHbc' ? 1.0 : null;
    if (cutoff !== null) {
      const pos = Number(l.value) >= cutoff;
      obs.interpretation = [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
              code: pos ? 'POS' : 'NEG',
              display: pos ? 'Positive' : 'Negative',
            },
          ],
        },
      ];
    }
    entries.push(obs);
  });
  p.prescriptions.forEach((x, i) => {
    const mr: MedicationRequest = {
      resourceType: 'MedicationRequest',
      id: `${p.id}-m${i + 1}`,
      status: x.end === null ? 'active' : 'completed',
      intent: 'order',
      medicationCodeableConcept: {
        coding: [{ system: 'http://www.whocc.no/atc', code: x.drug.code, display: x.drug.name }],
        text: x.drug.name,
      },
      subject,
      authoredOn: formatDay(x.start),
      dispenseRequest: {
        validityPeriod: { start: formatDay(x.start), ...(x.end === null ? {} : { end: formatDay(x.end) }) },
      },
    };
    entries.push(mr);
  });
  const entry: BundleEntry[] = entries.map((resource) => ({
    fullUrl: `urn:ichigen:${resource.resourceType}/${resource.id ?? ''}`,
    resource,
  }));
  return { resourceType: 'Bundle', id: `${p.id}-bundle`, type: 'collection', entry };
}

export interface WriteOptions extends SynthOptions {
  out: string;
  /** FHIR bundles for the first N patients (all when undefined or ≥ patients); 0 writes none. */
  fhirPatients?: number;
  /** Also write CP932 (Shift_JIS) copies of the CSVs, as Japanese EHR vendors deliver them. Default true. */
  cp932?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface WriteSummary {
  patients: number;
  files: Record<string, { rows: number; bytes: number }>;
  fhirBundles: number;
  ms: number;
}

/** Generates and writes the cohort; the same options always produce the same bytes. */
export async function writeDiabetesCohort(opts: WriteOptions): Promise<WriteSummary> {
  const t0 = Date.now();
  if (!Number.isInteger(opts.patients) || opts.patients < 1 || opts.patients > 1_000_000)
    throw new RangeError('patients must be an integer from 1 to 1,000,000');
  await mkdir(opts.out, { recursive: true });
  const fhirN = Math.min(opts.fhirPatients ?? opts.patients, opts.patients);
  if (fhirN > 0) await mkdir(path.join(opts.out, 'fhir'), { recursive: true });
  // Patients are generated in chunks so memory stays bounded by the tables, not by patient objects.
  const chunk = 2000;
  const tables = {
    patients: [] as string[][],
    labs: [] as string[][],
    prescriptions: [] as string[][],
    conditions: [] as string[][],
    groundTruth: [] as string[][],
  };
  for (let start = 0; start < opts.patients; start += chunk) {
    const ps: SynthPatient[] = [];
    for (let i = start; i < Math.min(opts.patients, start + chunk); i++) ps.push(synthPatient(opts.seed, i));
    const t = toTables(ps);
    for (const k of Object.keys(tables) as (keyof typeof tables)[]) for (const row of t[k]) tables[k].push(row);
    const writes = ps
      .filter((_, j) => start + j < fhirN)
      .map((p) => writeFile(path.join(opts.out, 'fhir', `${p.id}.json`), JSON.stringify(fhirBundle(p)) + '\n'));
    await Promise.all(writes);
    opts.onProgress?.(Math.min(opts.patients, start + chunk), opts.patients);
  }
  const files: WriteSummary['files'] = {};
  const names = {
    patients: 'patients',
    labs: 'labs',
    prescriptions: 'prescriptions',
    conditions: 'conditions',
    groundTruth: 'ground_truth',
  } as const;
  for (const k of Object.keys(names) as (keyof typeof names)[]) {
    const csv = toCsv(HEADERS[k], tables[k]);
    const utf8 = Buffer.from(csv, 'utf8');
    await writeFile(path.join(opts.out, `${names[k]}.csv`), utf8);
    files[`${names[k]}.csv`] = { rows: tables[k].length, bytes: utf8.length };
    if (opts.cp932 !== false && k !== 'groundTruth') {
      const sjis = iconv.encode(csv, 'cp932');
      await writeFile(path.join(opts.out, `${names[k]}.cp932.csv`), sjis);
      files[`${names[k]}.cp932.csv`] = { rows: tables[k].length, bytes: sjis.length };
    }
  }
  return { patients: opts.patients, files, fhirBundles: fhirN, ms: Date.now() - t0 };
}
