// Turns a tabular dataset version into what a study needs: the feature frame, 0/1 labels, patient groups and the
// columns for subgroup metrics — validating the policy against the version's columns with clear errors.
import { tableFromIPC, type Table } from 'apache-arrow';
import { Frame } from '@ichigen/ml';
import { AppError } from '../errors.js';
import type { VersionManifest } from '../datasets/service.js';
import type { ObjectStore } from '../storage/object-store/port.js';
import { parseDigest } from '../storage/object-store/port.js';
import type { SubgroupColumn } from '../models/evaluation.js';
import { DEFAULT_FOLDS, featureColumns, missingColumns, type PolicySpec } from './policy.js';

/** A study that cannot succeed on this data (bad policy, one class, too few rows): fails at once, no retry. */
export const studyInputError = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(code, 422, message, details);

export interface StudyData {
  frame: Frame;
  labels: Float64Array;
  groups: string[];
  features: string[];
  subgroups: SubgroupColumn[];
  rows: number;
  droppedMissingTarget: number;
  ignoredColumns: { name: string; reason: string }[];
  /** The kept rows' positions in the version (for predictions on the holdout of later versions). */
  keptRows: Int32Array;
}

export async function readArrowTable(objects: ObjectStore, manifest: VersionManifest): Promise<Table> {
  if (!manifest.arrow)
    throw studyInputError('NOT_TABULAR', 'this dataset version has no columnar copy: studies need a tabular dataset');
  const bytes = await objects.getBytes(parseDigest(manifest.arrow.digest));
  return tableFromIPC(bytes);
}

const cell = (v: unknown): number | string | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isNaN(v) ? null : v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.getTime();
  return String(v);
};

export function prepareStudyData(
  table: Table,
  manifest: VersionManifest,
  spec: PolicySpec,
  minRows: number,
): StudyData {
  const schemaCols = manifest.tabular?.columns ?? [];
  const names = table.schema.fields.map((f) => f.name);
  const missing = missingColumns(spec, names);
  if (missing.length) {
    throw studyInputError(
      'POLICY_COLUMNS_MISSING',
      `the policy names column(s) this dataset version does not have: ${missing.join(', ')} (it has: ${names.join(', ')})`,
      { missing },
    );
  }
  const typeOf = new Map(schemaCols.map((c) => [c.name, c.type]));
  const ignored: { name: string; reason: string }[] = [];
  const features = featureColumns(spec, names).filter((n) => {
    const t = typeOf.get(n);
    if (spec.include?.includes(n)) return true;
    if (t === 'text')
      ignored.push({ name: n, reason: 'free text (many distinct values); include it explicitly to use it' });
    else if (t === 'date' || t === 'datetime')
      ignored.push({ name: n, reason: 'calendar date (rarely generalizes); include it explicitly to use it' });
    else return true;
    return false;
  });
  if (features.length === 0)
    throw studyInputError(
      'NO_FEATURES',
      'no feature columns remain after include/exclude and ignoring text and date columns',
    );

  const target = table.getChild(spec.target)!;
  const n = table.numRows;
  const kept: number[] = [];
  const labels: number[] = [];
  let dropped = 0;
  for (let i = 0; i < n; i++) {
    const v = cell(target.get(i));
    if (v === null || v === '') {
      if (spec.missingTarget === 'fail') {
        throw studyInputError(
          'TARGET_MISSING',
          `the target column ${spec.target} is empty on row ${i + 2} of the CSV (the policy says to fail on missing targets)`,
        );
      }
      dropped++;
      continue;
    }
    kept.push(i);
    labels.push(String(v) === spec.positive ? 1 : 0);
  }
  const pos = labels.reduce((s, x) => s + x, 0);
  if (pos === 0 || pos === labels.length) {
    const seen = [...new Set(kept.slice(0, 1000).map((i) => String(cell(target.get(i)))))].slice(0, 5);
    throw studyInputError(
      'SINGLE_CLASS',
      `the target ${spec.target} has only one class once missing values are dropped (positive value "${spec.positive}"; values seen: ${seen.join(', ')})`,
    );
  }
  if (labels.length < minRows) {
    throw studyInputError(
      'TOO_FEW_ROWS',
      `only ${labels.length} usable rows; a study with ${spec.folds ?? DEFAULT_FOLDS} folds and a holdout needs at least ${minRows}`,
    );
  }
  const keptRows = Int32Array.from(kept);
  const frame = Frame.fromArrow(table, features).take(keptRows);
  const groupCol = spec.group ? table.getChild(spec.group)! : null;
  const groups = kept.map((i) => (groupCol ? String(cell(groupCol.get(i)) ?? `row-${i}`) : `row-${i}`));
  const subgroupNames = new Set<string>(spec.subgroups);
  for (const c of names) if (/^(sex|gender|性別|age|age_years|年齢)$/i.test(c)) subgroupNames.add(c);
  const subgroups: SubgroupColumn[] = [...subgroupNames].map((name) => {
    const col = table.getChild(name)!;
    return { name, values: kept.map((i) => cell(col.get(i))) };
  });
  return {
    frame,
    labels: Float64Array.from(labels),
    groups,
    features,
    subgroups,
    rows: n,
    droppedMissingTarget: dropped,
    ignoredColumns: ignored,
    keptRows,
  };
}
