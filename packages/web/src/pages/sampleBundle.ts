// A sample FHIR R4 bundle for the "try it" panel: an adult with type 2 diabetes, HbA1c, BMI and eGFR results, as the
// synthetic EHR and most Japanese EHR gateways deliver them (LOINC codes, ICD-10 diagnoses).
export function sampleBundle(today = new Date()): Record<string, unknown> {
  const day = (daysAgo: number) => new Date(today.getTime() - daysAgo * 86_400_000).toISOString().slice(0, 10);
  const pid = 'sample-patient';
  const subject = { reference: `Patient/${pid}` };
  const lab = (id: string, code: string, display: string, value: number, unit: string, daysAgo: number) => ({
    resource: {
      resourceType: 'Observation',
      id,
      status: 'final',
      category: [
        {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }],
        },
      ],
      code: { coding: [{ system: 'http://loinc.org', code, display }], text: display },
      subject,
      effectiveDateTime: day(daysAgo),
      valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
    },
  });
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { resource: { resourceType: 'Patient', id: pid, gender: 'female', birthDate: '1961-04-12' } },
      {
        resource: {
          resourceType: 'Condition',
          id: 'sample-c1',
          clinicalStatus: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
          },
          code: {
            coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'E11.9', display: '2型糖尿病' }],
            text: '2型糖尿病',
          },
          subject,
          onsetDateTime: day(900),
        },
      },
      lab('sample-o1', '4548-4', 'HbA1c', 8.4, '%', 400),
      lab('sample-o2', '4548-4', 'HbA1c', 7.9, '%', 210),
      lab('sample-o3', '4548-4', 'HbA1c', 7.6, '%', 30),
      lab('sample-o4', '39156-5', 'BMI', 27.3, 'kg/m2', 30),
      lab('sample-o5', '33914-3', 'eGFR', 68.5, 'mL/min/{1.73_m2}', 30),
    ],
  };
}
