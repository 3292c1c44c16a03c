// The labeler's output table: fixed columns and fixed number formats, so the same cohort always gives the same bytes
// (and the dataset push dedupes a re-run to the same version).
import { fixed, formatDay, toCsv } from '../table.js';
import { periodSummary, type LabelResult } from './labeler.js';
import type { Hba1cParams } from './params.js';

/** Output column for an oral class: `on_` + the class in lower case, non-alphanumerics as `_`. */
export const classColumn = (c: string): string =>
  `on_${c
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')}`;

export function outputTable(
  result: LabelResult,
  params: Hba1cParams,
  withConditions: boolean,
): { header: string[]; rows: string[][] } {
  const classes = [...new Set(params.oralClasses.map((c) => c.trim().toLowerCase()))].sort();
  const header = [
    'patient_id',
    'index_date',
    params.labelColumn,
    'age_at_index',
    'sex',
    'bmi',
    'hba1c_last',
    'hba1c_mean',
    'hba1c_n',
    'hba1c_slope_per_year',
    'egfr',
    'drug_classes',
    'n_drug_classes',
    'n_drug_classes_ever',
    'n_prescriptions',
    ...classes.map(classColumn),
    'years_since_first_diabetes_record',
    ...(withConditions ? ['ckd', 'hypertension'] : []),
    'outcome_periods',
    'outcome_control_start',
    'outcome_longest_control_days',
  ];
  const rows = result.rows.map((r) => {
    const f = r.features;
    const active = new Set(f.drugClasses);
    return [
      r.patient,
      formatDay(r.indexDay),
      String(r.label),
      fixed(f.ageAtIndex, 1),
      f.sex ?? '',
      fixed(f.bmi, 1),
      fixed(f.hba1cLast, 2),
      fixed(f.hba1cMean, 2),
      String(f.hba1cCount),
      fixed(f.hba1cSlopePerYear, 3),
      fixed(f.egfr, 1),
      f.drugClasses.join('|'),
      String(f.drugClasses.length),
      String(f.drugClassesEver),
      String(f.prescriptions),
      ...classes.map((c) => (active.has(c) ? '1' : '0')),
      fixed(f.yearsSinceFirstDiabetesRecord, 2),
      ...(withConditions ? [f.ckd ? '1' : '0', f.hypertension ? '1' : '0'] : []),
      periodSummary(r),
      r.controlStart === null ? '' : formatDay(r.controlStart),
      String(r.longestControlDays),
    ];
  });
  return { header, rows };
}

export function outputCsv(result: LabelResult, params: Hba1cParams, withConditions: boolean): string {
  const t = outputTable(result, params, withConditions);
  return toCsv(t.header, t.rows);
}
