// The `hba1c-control-periods` recipe: labs + prescriptions + patients (+ conditions) → one labeled row per eligible
// patient, through the pure labeler. Version 1.0.0; bump it with any change to the definition or the output format.
import { defineRecipe } from '../recipe.js';
import { labelControlPeriods } from './labeler.js';
import { outputCsv } from './output.js';
import { hba1cParamsSchema } from './params.js';

export const hba1cControlPeriods = defineRecipe({
  name: 'hba1c-control-periods',
  version: '1.0.0',
  description:
    'Labels patients on oral hypoglycemic drugs as responders (an uncontrolled HbA1c period followed by a control period of at least minControlDays) with pre-index features. See docs/diabetes-study.md.',
  inputs: [
    {
      role: 'labs',
      description: 'long lab table: patient, date, test code, value, unit (HbA1c, eGFR, BMI)',
      required: true,
    },
    {
      role: 'prescriptions',
      description: 'patient, start, end (empty = ongoing), drug code, drug class',
      required: true,
    },
    { role: 'patients', description: 'patient, birth date, sex', required: true },
    {
      role: 'conditions',
      description: 'patient, onset date, ICD-10 code (diabetes record, CKD, hypertension)',
      required: false,
    },
  ],
  params: hba1cParamsSchema,
  async run({ inputs, params, progress }) {
    await progress({ stage: 'labeling' });
    const result = labelControlPeriods(
      inputs.labs!,
      inputs.prescriptions!,
      inputs.patients!,
      params,
      inputs.conditions,
    );
    await progress({ stage: 'writing', rows: result.rows.length });
    return {
      csv: outputCsv(result, params, inputs.conditions !== undefined),
      rows: result.rows.length,
      report: { ...result.report },
    };
  },
});
