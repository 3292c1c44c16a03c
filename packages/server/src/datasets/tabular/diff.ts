// Version-to-version comparison of two tabular profiles, for the web console's "what changed" view:
// rows, added/removed columns, type changes, and shifts in mean and missing share per shared column.

import type { ColumnType, TabularProfile } from './types.js';

export interface ColumnChange {
  name: string;
  /** Present when the inferred type differs. */
  type?: { from: ColumnType; to: ColumnType };
  /** Present when both versions have a mean (numeric or boolean columns). */
  mean?: { from: number; to: number; delta: number; /** delta in units of the old std (if > 0) */ deltaStd?: number };
  /** Share of missing cells (0..1) in each version. */
  missingShare: { from: number; to: number; delta: number };
}

export interface ProfileDiff {
  rows: { from: number; to: number; delta: number };
  added: string[];
  removed: string[];
  /** Shared columns whose type, mean or missing share changed, in the new version's column order. */
  changed: ColumnChange[];
}

const share = (missing: number, count: number): number => (missing + count === 0 ? 0 : missing / (missing + count));

/** Differences from profile `a` (older) to profile `b` (newer). Unchanged shared columns are omitted. */
export function diffProfiles(a: TabularProfile, b: TabularProfile): ProfileDiff {
  const before = new Map(a.columns.map((c) => [c.name, c]));
  const afterNames = new Set(b.columns.map((c) => c.name));
  const changed: ColumnChange[] = [];
  const added: string[] = [];
  for (const col of b.columns) {
    const old = before.get(col.name);
    if (old === undefined) {
      added.push(col.name);
      continue;
    }
    const from = share(old.missing, old.count);
    const to = share(col.missing, col.count);
    const change: ColumnChange = { name: col.name, missingShare: { from, to, delta: to - from } };
    let differs = from !== to;
    if (old.type !== col.type) {
      change.type = { from: old.type, to: col.type };
      differs = true;
    }
    if (old.mean !== undefined && col.mean !== undefined) {
      const delta = col.mean - old.mean;
      change.mean = { from: old.mean, to: col.mean, delta };
      if (old.std !== undefined && old.std > 0) change.mean.deltaStd = delta / old.std;
      if (delta !== 0) differs = true;
    }
    if (differs) changed.push(change);
  }
  return {
    rows: { from: a.rowCount, to: b.rowCount, delta: b.rowCount - a.rowCount },
    added,
    removed: a.columns.filter((c) => !afterNames.has(c.name)).map((c) => c.name),
    changed,
  };
}
