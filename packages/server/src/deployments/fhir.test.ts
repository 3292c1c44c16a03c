// FHIR → features: unit conversion (HbA1c NGSP/IFCC, glucose), FHIRPath mapping with aggregation windows, bundle
// checks, and applicability decisions with their reasons. Resources are typed FHIR R4 (@medplum/fhirtypes).
import type { Condition, MedicationRequest, Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../errors.js';
import { checkMapping, convertUnit, decideApplicability, mapFeature, resourcesOf, type PatientData } from './fhir.js';

const NOW = new Date('2024-06-01T00:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();

const a1c = (id: string, value: number, unit: string, days: number): Observation => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: {
    coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' }],
  },
  effectiveDateTime: daysAgo(days),
  valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
});
const patient: Patient = { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '1960-03-15' };
const t2dm: Condition = {
  resourceType: 'Condition',
  id: 'c1',
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  code: {
    coding: [
      {
        system: 'http://hl7.org/fhir/sid/icd-10',
        code: 'E11.9',
        display: 'Type 2 diabetes mellitus without complications',
      },
    ],
  },
  subject: { reference: 'Patient/p1' },
};
const data = (over: Partial<PatientData> = {}): PatientData => ({
  patient,
  conditions: [t2dm],
  observations: [a1c('o1', 8.1, '%', 400), a1c('o2', 64, 'mmol/mol', 30), a1c('o3', 7.2, '%', 100)],
  medications: [],
  draftOrders: [],
  now: NOW,
  ...over,
});
const errCode = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as AppError).code;
  }
  return 'no error';
};

describe('units', () => {
  it('converts HbA1c between IFCC mmol/mol and NGSP % with the master equation', () => {
    expect(convertUnit(53, 'mmol/mol', '%', 'hba1c', 'x')).toBeCloseTo(0.09148 * 53 + 2.152, 10);
    expect(convertUnit(53, 'mmol/mol', '%', 'hba1c', 'x')).toBeCloseTo(7.0, 1);
    expect(convertUnit(7.0, '%', 'mmol/mol', 'hba1c', 'x')).toBeCloseTo(53, 0);
  });
  it('converts glucose mg/dL ↔ mmol/L by 18.016, case-insensitively', () => {
    expect(convertUnit(180.16, 'mg/dL', 'mmol/L', 'glucose', 'x')).toBeCloseTo(10, 6);
    expect(convertUnit(10, 'mmol/l', 'mg/dL', 'glucose', 'x')).toBeCloseTo(180.16, 6);
    expect(convertUnit(5, 'mmol/L', 'mmol/L', undefined, 'x')).toBe(5);
  });
  it('refuses an unknown unit or a missing one, naming it', () => {
    expect(errCode(() => convertUnit(7, 'g/dL', '%', 'hba1c', 'Observation/o9'))).toBe('FHIR_UNKNOWN_UNIT');
    expect(errCode(() => convertUnit(7, undefined, '%', 'hba1c', 'Observation/o9'))).toBe('FHIR_UNKNOWN_UNIT');
    // mg/dL ↔ mmol/L without saying the analyte is glucose would be a guess
    expect(errCode(() => convertUnit(100, 'mg/dL', 'mmol/L', undefined, 'x'))).toBe('FHIR_UNKNOWN_UNIT');
  });
});

describe('feature mapping', () => {
  const m = {
    feature: 'hba1c',
    resource: 'Observation' as const,
    code: 'http://loinc.org|4548-4',
    unit: '%',
    analyte: 'hba1c' as const,
  };
  it('latest picks the newest observation and converts its unit', () => {
    expect(mapFeature({ ...m, aggregate: 'latest' }, data())).toBeCloseTo(0.09148 * 64 + 2.152, 6);
  });
  it('windows and mean/min/max/count work on converted values', () => {
    const v64 = 0.09148 * 64 + 2.152;
    expect(mapFeature({ ...m, aggregate: 'mean', windowDays: 365 }, data())).toBeCloseTo((v64 + 7.2) / 2, 6);
    expect(mapFeature({ ...m, aggregate: 'max' }, data())).toBeCloseTo(8.1, 6);
    expect(mapFeature({ ...m, aggregate: 'min', windowDays: 365 }, data())).toBeCloseTo(7.2, 6);
    expect(mapFeature({ ...m, aggregate: 'count', windowDays: 365 }, data())).toBe(2);
    expect(mapFeature({ ...m, aggregate: 'days_since' }, data())).toBe(30);
    expect(mapFeature({ ...m, aggregate: 'present', windowDays: 10 }, data())).toBe(false);
  });
  it('missing stays missing', () => {
    expect(mapFeature(m, data({ observations: [] }))).toBeNull();
    expect(mapFeature({ ...m, windowDays: 10 }, data())).toBeNull();
  });
  it('an observation in an unknown unit is an error, not a wrong number', () => {
    expect(errCode(() => mapFeature(m, data({ observations: [a1c('bad', 7, 'mg', 1)] })))).toBe('FHIR_UNKNOWN_UNIT');
    expect(() => mapFeature(m, data({ observations: [a1c('bad', 7, 'mg', 1)] }))).toThrow(
      'Observation/bad (http://loinc.org|4548-4) for feature hba1c has unit "mg"',
    );
  });
  it('age from Patient.birthDate, sex mapped to the model’s categories', () => {
    expect(
      mapFeature({ feature: 'age', resource: 'Patient', expression: 'birthDate', aggregate: 'years_since' }, data()),
    ).toBe(64);
    expect(
      mapFeature(
        { feature: 'sex', resource: 'Patient', expression: 'gender', map: { female: 'F', male: 'M' } },
        data(),
      ),
    ).toBe('F');
  });
  it('draft orders feed "proposed drug" features through prefix maps', () => {
    const order = (atc: string): MedicationRequest => ({
      resourceType: 'MedicationRequest',
      status: 'draft',
      intent: 'order',
      subject: { reference: 'Patient/p1' },
      medicationCodeableConcept: { coding: [{ system: 'http://www.whocc.no/atc', code: atc }] },
    });
    const drug = {
      feature: 'drug_class',
      resource: 'MedicationRequest' as const,
      source: 'draft' as const,
      expression: "medication.coding.where(system = 'http://www.whocc.no/atc').code",
      map: { 'A10BA*': 'metformin', 'A10BK*': 'sglt2' },
    };
    expect(mapFeature(drug, data({ draftOrders: [order('J01CA04'), order('A10BK01')] }))).toBe('sglt2');
    expect(mapFeature(drug, data({ draftOrders: [order('J01CA04')] }))).toBeNull();
    expect(mapFeature(drug, data({ medications: [order('A10BA02')] }))).toBeNull();
  });
  it('checks expressions at deployment time', () => {
    expect(
      errCode(() => checkMapping({ feature: 'x', resource: 'Observation', expression: 'value.where(' }, 'm')),
    ).toBe('FHIRPATH_INVALID');
    expect(errCode(() => checkMapping({ feature: 'x', resource: 'Patient' }, 'm'))).toBe('DEPLOYMENT_INVALID');
  });
});

describe('work shared within one patient data', () => {
  it("reads an Observation's valueQuantity as FHIRPath's `value` does, whatever else it carries", () => {
    const q = { value: 7.5, unit: '%', system: 'http://unitsofmeasure.org', code: '%' };
    const shapes: Record<string, unknown>[] = [
      { valueQuantity: q },
      { valueString: '8.0', valueQuantity: q },
      { valueCodeableConcept: { coding: [{ code: 'x' }] }, valueQuantity: q },
      { valueQuantity: q, _valueQuantity: { id: 'x' } },
      { valueQuantity: { value: 6.9, unit: 'mmol/mol' } },
      { valueQuantity: { value: 7 } },
      { valueQuantity: {} },
      { valueQuantity: [q] },
      { valueQuantity: null },
      { valueString: '7.1' },
      { valueInteger: 7 },
      {},
    ];
    // `(value)` is the same FHIRPath but not the default expression, so it is always evaluated by fhirpath.js.
    const m = { feature: 'v', resource: 'Observation' as const, code: 'http://loinc.org|4548-4' };
    for (const shape of shapes) {
      const { valueQuantity: _q, ...base } = a1c('s', 0, '%', 1);
      const obs = { ...base, ...shape } as Observation;
      const outcome = (f: () => unknown) => {
        try {
          return { value: f() };
        } catch (e) {
          return { error: (e as AppError).code };
        }
      };
      for (const extra of [{}, { unit: '%' }, { unit: '%', analyte: 'hba1c' as const }]) {
        const fast = outcome(() => mapFeature({ ...m, ...extra }, data({ observations: [obs] })));
        const evaluated = outcome(() =>
          mapFeature({ ...m, ...extra, expression: '(value)' }, data({ observations: [obs] })),
        );
        expect(fast, JSON.stringify({ shape, extra })).toEqual(evaluated);
      }
    }
  });
  it('equal criteria are decided once per patient data, each deployment getting its own copy', () => {
    const criteria = () => ({
      conditions: [{ system: 'icd10', code: 'E11' }],
      observations: [{ code: 'http://loinc.org|4548-4', withinDays: 365, display: 'HbA1c' }],
    });
    const d = data();
    const first = decideApplicability(criteria(), d);
    const second = decideApplicability(criteria(), d);
    expect(second).toEqual(first);
    expect(second.reasons).not.toBe(first.reasons);
    first.reasons.push('changed by one deployment');
    expect(decideApplicability(criteria(), d).reasons).toEqual(second.reasons);
    // Other criteria on the same data, and the same criteria on other data, are decided anew.
    expect(decideApplicability({ ...criteria(), observations: [] }, d).reasons).toHaveLength(1);
    expect(decideApplicability(criteria(), data({ observations: [] })).applies).toBe(false);
  });
  it('one code filter and one clinical time per resource serve every mapping and criterion of the call', () => {
    const d = data();
    const m = {
      feature: 'h',
      resource: 'Observation' as const,
      code: 'http://loinc.org|4548-4',
      unit: '%',
      analyte: 'hba1c' as const,
    };
    // Decided and mapped in either order on one data object, the answers are those of fresh data objects.
    const a = { observations: [{ code: 'http://loinc.org|4548-4', withinDays: 50 }] };
    expect(decideApplicability(a, d)).toEqual(decideApplicability(a, data()));
    expect(mapFeature({ ...m, windowDays: 365, aggregate: 'mean' }, d)).toBe(
      mapFeature({ ...m, windowDays: 365, aggregate: 'mean' }, data()),
    );
    expect(mapFeature({ ...m, aggregate: 'count', windowDays: 50 }, d)).toBe(1);
    expect(mapFeature({ ...m, code: 'http://loinc.org|62238-1', aggregate: 'count' }, d)).toBe(0);
  });
});

describe('FHIR input checks', () => {
  it('takes resources of one type from a Bundle or a single resource', () => {
    const b = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [{ resource: t2dm }, { resource: patient }, { fullUrl: 'x' }],
    };
    expect(resourcesOf(b, 'Condition', 'prefetch.conditions')).toEqual([t2dm]);
    expect(resourcesOf(patient, 'Patient', 'prefetch.patient')).toEqual([patient]);
  });
  it('refuses what is not FHIR, naming where', () => {
    expect(errCode(() => resourcesOf({ entry: [] }, 'Condition', 'prefetch.conditions'))).toBe('FHIR_INVALID');
    expect(errCode(() => resourcesOf('Bundle', 'Condition', 'p'))).toBe('FHIR_INVALID');
    expect(errCode(() => resourcesOf({ resourceType: 'Bundle', entry: {} }, 'Condition', 'p'))).toBe('FHIR_INVALID');
    expect(
      errCode(() => resourcesOf({ resourceType: 'Bundle', entry: [{ resource: { id: 1 } }] }, 'Condition', 'p')),
    ).toBe('FHIR_INVALID');
    expect(errCode(() => resourcesOf(t2dm, 'Patient', 'prefetch.patient'))).toBe('FHIR_INVALID');
  });
});

describe('applicability', () => {
  it('ICD-10 codes match by prefix, with the reason recorded', () => {
    const d = decideApplicability({ conditions: [{ system: 'icd10', code: 'E11' }] }, data());
    expect(d.applies).toBe(true);
    expect(d.reasons[0]).toMatch(/E11\.9.*matches icd10 E11/);
    expect(decideApplicability({ conditions: [{ system: 'icd10', code: 'E10' }] }, data()).applies).toBe(false);
    // A system named like an Object.prototype member is a literal system, not an alias matching any coding.
    expect(decideApplicability({ conditions: [{ system: 'constructor', code: 'E11.9' }] }, data()).applies).toBe(false);
  });
  it('ignores refuted and resolved conditions; SNOMED matches exactly', () => {
    const refuted: Condition = { ...t2dm, verificationStatus: { coding: [{ code: 'refuted' }] } };
    expect(
      decideApplicability({ conditions: [{ system: 'icd10', code: 'E11' }] }, data({ conditions: [refuted] })).applies,
    ).toBe(false);
    const resolved: Condition = { ...t2dm, clinicalStatus: { coding: [{ code: 'resolved' }] } };
    expect(
      decideApplicability({ conditions: [{ system: 'icd10', code: 'E11' }] }, data({ conditions: [resolved] })).applies,
    ).toBe(false);
    const sct: Condition = { ...t2dm, code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] } };
    expect(
      decideApplicability({ conditions: [{ system: 'snomed', code: '44054006' }] }, data({ conditions: [sct] }))
        .applies,
    ).toBe(true);
    expect(
      decideApplicability({ conditions: [{ system: 'snomed', code: '4405400' }] }, data({ conditions: [sct] })).applies,
    ).toBe(false);
  });
  it('requires recent observations, age range and sex, saying which failed', () => {
    const a = {
      observations: [{ code: 'http://loinc.org|4548-4', withinDays: 20, display: 'HbA1c' }],
      age: { min: 18, max: 60 },
      sex: ['female' as const],
    };
    const d = decideApplicability(a, data());
    expect(d.applies).toBe(false);
    expect(d.reasons).toEqual([
      `latest HbA1c on ${daysAgo(30).slice(0, 10)} is older than 20 days`,
      'age 64 outside 18–60',
      'sex female is one of female',
    ]);
    expect(
      decideApplicability({ ...a, observations: [{ ...a.observations[0]!, withinDays: 90 }], age: { min: 18 } }, data())
        .applies,
    ).toBe(true);
    expect(decideApplicability({ age: { min: 18 } }, data({ patient: null })).reasons).toEqual([
      'age unknown (no Patient.birthDate)',
    ]);
  });
});
