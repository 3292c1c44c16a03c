// Views the web console needs that are computed from what the platform already stores: the difference between two
// dataset versions (from their stored profiles: no data is read) and a study's parameter importance (from its trials).
import { z } from 'zod';
import { diffProfiles, type ColumnProfile, type TabularProfile } from '../datasets/tabular/index.js';

export const datasetDiffSchema = z.object({
  dataset: z.string(),
  from: z.number(),
  to: z.number(),
  rows: z.object({ from: z.number(), to: z.number() }),
  columnsAdded: z.array(z.string()),
  columnsRemoved: z.array(z.string()),
  typeChanged: z.array(z.object({ name: z.string(), from: z.string(), to: z.string() })),
  stats: z.array(
    z.object({
      name: z.string(),
      typeFrom: z.string(),
      typeTo: z.string(),
      missingFrom: z.number(),
      missingTo: z.number(),
      meanFrom: z.number().nullable(),
      meanTo: z.number().nullable(),
      stdFrom: z.number().nullable(),
      stdTo: z.number().nullable(),
      meanShiftStd: z.number().nullable(),
      distinctFrom: z.number().nullable(),
      distinctTo: z.number().nullable(),
      changed: z.boolean(),
    }),
  ),
});

export const paramImportanceSchema = z.object({
  method: z.string(),
  trials: z.number(),
  params: z.array(z.object({ name: z.string(), importance: z.number(), etaSquared: z.number(), levels: z.number() })),
  note: z.string().nullable(),
});

export interface ColumnStatShift {
  name: string;
  typeFrom: string;
  typeTo: string;
  /** Share (0..1) of missing cells in each version. */
  missingFrom: number;
  missingTo: number;
  meanFrom: number | null;
  meanTo: number | null;
  stdFrom: number | null;
  stdTo: number | null;
  /** (meanTo − meanFrom) in units of the older version's standard deviation, when that is > 0. */
  meanShiftStd: number | null;
  distinctFrom: number | null;
  distinctTo: number | null;
  /** True when the type, missing share or mean differs. */
  changed: boolean;
}

export interface DatasetDiff {
  dataset: string;
  from: number;
  to: number;
  rows: { from: number; to: number };
  columnsAdded: string[];
  columnsRemoved: string[];
  typeChanged: { name: string; from: string; to: string }[];
  /** Every column present in both versions, in the newer version's order. */
  stats: ColumnStatShift[];
}

const missingShare = (c: ColumnProfile) => (c.missing + c.count === 0 ? 0 : c.missing / (c.missing + c.count));
const distinctOf = (c: ColumnProfile) =>
  c.distinct === undefined ? null : typeof c.distinct === 'number' ? c.distinct : c.distinct.atLeast;

export function datasetDiff(
  dataset: string,
  from: number,
  to: number,
  a: TabularProfile,
  b: TabularProfile,
): DatasetDiff {
  const d = diffProfiles(a, b);
  const changed = new Set(d.changed.map((c) => c.name));
  const before = new Map(a.columns.map((c) => [c.name, c]));
  const stats: ColumnStatShift[] = [];
  for (const col of b.columns) {
    const old = before.get(col.name);
    if (!old) continue;
    const shift =
      old.mean !== undefined && col.mean !== undefined && old.std !== undefined && old.std > 0
        ? (col.mean - old.mean) / old.std
        : null;
    stats.push({
      name: col.name,
      typeFrom: old.type,
      typeTo: col.type,
      missingFrom: missingShare(old),
      missingTo: missingShare(col),
      meanFrom: old.mean ?? null,
      meanTo: col.mean ?? null,
      stdFrom: old.std ?? null,
      stdTo: col.std ?? null,
      meanShiftStd: shift,
      distinctFrom: distinctOf(old),
      distinctTo: distinctOf(col),
      changed: changed.has(col.name),
    });
  }
  return {
    dataset,
    from,
    to,
    rows: { from: d.rows.from, to: d.rows.to },
    columnsAdded: d.added,
    columnsRemoved: d.removed,
    typeChanged: d.changed.filter((c) => c.type).map((c) => ({ name: c.name, from: c.type!.from, to: c.type!.to })),
    stats,
  };
}

export interface TrialLike {
  number: number;
  state: string;
  value: number | null;
  params: Record<string, unknown>;
}

export interface ParamImportance {
  method: string;
  /** Completed trials the estimate rests on. */
  trials: number;
  params: { name: string; importance: number; etaSquared: number; levels: number }[];
  note: string | null;
}

/** Fewer completed trials than this give no estimate. */
export const MIN_TRIALS_FOR_IMPORTANCE = 4;
const MAX_BINS = 5;

/**
 * Parameter importance as each parameter's main effect on the objective: the correlation ratio η² (the share of the
 * objective's variance between the parameter's levels — categories as they are, numbers in up to five equal-count
 * bins), normalised to sum to 1 over the parameters. A first-order view like fANOVA's main effects, without the
 * surrogate forest; interactions are not attributed.
 */
export function paramImportance(trials: readonly TrialLike[]): ParamImportance {
  const done = trials.filter(
    (t) => t.state === 'complete' && typeof t.value === 'number' && Number.isFinite(t.value),
  ) as (TrialLike & { value: number })[];
  const method = 'main-effect eta-squared over completed trials (numeric parameters in up to 5 equal-count bins)';
  if (done.length < MIN_TRIALS_FOR_IMPORTANCE)
    return {
      method,
      trials: done.length,
      params: [],
      note: `needs at least ${MIN_TRIALS_FOR_IMPORTANCE} completed trials`,
    };
  const mean = done.reduce((s, t) => s + t.value, 0) / done.length;
  const total = done.reduce((s, t) => s + (t.value - mean) ** 2, 0);
  const names = [...new Set(done.flatMap((t) => Object.keys(t.params)))].sort();
  const rows: ParamImportance['params'] = [];
  for (const name of names) {
    const groups = levelsOf(done, name);
    if (groups.size < 2) continue; // a parameter that never varied explains nothing
    let between = 0;
    for (const ys of groups.values()) {
      const m = ys.reduce((s, y) => s + y, 0) / ys.length;
      between += ys.length * (m - mean) ** 2;
    }
    rows.push({ name, importance: 0, etaSquared: total > 0 ? between / total : 0, levels: groups.size });
  }
  const sum = rows.reduce((s, r) => s + r.etaSquared, 0);
  for (const r of rows) r.importance = sum > 0 ? r.etaSquared / sum : 0;
  rows.sort((x, y) => y.importance - x.importance || x.name.localeCompare(y.name));
  return {
    method,
    trials: done.length,
    params: rows,
    note: total > 0 ? null : 'every completed trial reached the same value',
  };
}

/** The objective values grouped by the parameter's level; trials without the parameter form their own level. */
function levelsOf(done: readonly (TrialLike & { value: number })[], name: string): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  const add = (k: string, y: number) => groups.set(k, [...(groups.get(k) ?? []), y]);
  const numeric = done.filter((t) => typeof t.params[name] === 'number' && Number.isFinite(t.params[name]));
  const distinct = new Set(numeric.map((t) => t.params[name] as number));
  const binned = distinct.size > MAX_BINS;
  if (binned) {
    const sorted = [...numeric].sort((x, y) => (x.params[name] as number) - (y.params[name] as number));
    const k = Math.min(MAX_BINS, Math.max(2, Math.floor(sorted.length / 2)));
    // Equal-count bins by rank; equal values always share a bin.
    let bin = 0;
    sorted.forEach((t, i) => {
      const target = Math.floor((i * k) / sorted.length);
      if (target > bin && (t.params[name] as number) !== (sorted[i - 1]!.params[name] as number)) bin = target;
      add(`bin${bin}`, t.value);
    });
  }
  for (const t of done) {
    const v = t.params[name];
    if (binned && typeof v === 'number' && Number.isFinite(v)) continue;
    add(v === undefined ? '(absent)' : JSON.stringify(v), t.value);
  }
  return groups;
}
