// The difference between two tabular dataset versions, from their profiles: rows, columns added / removed / retyped,
// and per shared column the shifts in missingness, mean, standard deviation and distinct count.
import type { ColumnStats, DatasetVersionDetail } from '../api/types';

export type StatValue = number | string | { atLeast: number } | null;

export interface StatShift {
  column: string;
  stat: 'missing' | 'mean' | 'std' | 'distinct' | 'min' | 'max';
  from: StatValue;
  to: StatValue;
}

export interface VersionDiff {
  from: number;
  to: number;
  rows: { from: number | null; to: number | null };
  added: string[];
  removed: string[];
  typeChanged: { column: string; from: string; to: string }[];
  shifts: StatShift[];
}

const STATS: StatShift['stat'][] = ['missing', 'mean', 'std', 'distinct', 'min', 'max'];

function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a));
  return JSON.stringify(a) === JSON.stringify(b);
}

export function diffVersions(a: DatasetVersionDetail, b: DatasetVersionDetail): VersionDiff {
  const ca = new Map<string, ColumnStats>((a.schema?.columns ?? []).map((c) => [c.name, c]));
  const cb = new Map<string, ColumnStats>((b.schema?.columns ?? []).map((c) => [c.name, c]));
  const d: VersionDiff = {
    from: a.version,
    to: b.version,
    rows: { from: a.rowCount, to: b.rowCount },
    added: [...cb.keys()].filter((k) => !ca.has(k)),
    removed: [...ca.keys()].filter((k) => !cb.has(k)),
    typeChanged: [],
    shifts: [],
  };
  for (const [name, x] of ca) {
    const y = cb.get(name);
    if (!y) continue;
    if (x.type !== y.type) d.typeChanged.push({ column: name, from: x.type, to: y.type });
    for (const s of STATS) {
      const fv = (x[s] as StatValue | undefined) ?? null;
      const tv = (y[s] as StatValue | undefined) ?? null;
      if (fv === null && tv === null) continue;
      if (!same(fv, tv)) d.shifts.push({ column: name, stat: s, from: fv, to: tv });
    }
  }
  return d;
}

export function isEmptyDiff(d: VersionDiff): boolean {
  return (
    d.rows.from === d.rows.to &&
    d.added.length === 0 &&
    d.removed.length === 0 &&
    d.typeChanged.length === 0 &&
    d.shifts.length === 0
  );
}
