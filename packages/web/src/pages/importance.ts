// Hyperparameter importance from the trial table, used when the server does not send one: for each parameter,
// the share of the variance of trial values explained by it (η², correlation ratio), with numeric parameters
// grouped into quartile bins and categorical ones by value; normalised to sum to 1.
import type { Trial } from '../api/types';

export interface ParamImportance {
  param: string;
  importance: number;
}

function groups(values: unknown[]): number[] {
  const nums = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  if (nums.every((v) => v !== null)) {
    const sorted = [...(nums as number[])].sort((a, b) => a - b);
    const q = [0.25, 0.5, 0.75].map((p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
    return (nums as number[]).map((v) => q.filter((c) => v > c).length);
  }
  const ids = new Map<string, number>();
  return values.map((v) => {
    const k = JSON.stringify(v ?? null);
    if (!ids.has(k)) ids.set(k, ids.size);
    return ids.get(k)!;
  });
}

export function paramImportance(trials: Trial[]): ParamImportance[] {
  const done = trials.filter((t) => t.state === 'complete' && typeof t.value === 'number');
  if (done.length < 3) return [];
  const y = done.map((t) => t.value!);
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const total = y.reduce((a, b) => a + (b - mean) ** 2, 0);
  if (total <= 0) return [];
  const names = new Set<string>();
  for (const t of done) for (const k of Object.keys(t.params)) names.add(k);
  const raw: ParamImportance[] = [];
  for (const name of names) {
    // Trials without the parameter (another algorithm) form their own group.
    const g = groups(done.map((t) => (name in t.params ? t.params[name] : '__absent__')));
    const sums = new Map<number, { s: number; n: number }>();
    g.forEach((k, i) => {
      const e = sums.get(k) ?? { s: 0, n: 0 };
      e.s += y[i]!;
      e.n++;
      sums.set(k, e);
    });
    if (sums.size < 2) continue;
    let between = 0;
    for (const { s, n } of sums.values()) between += n * (s / n - mean) ** 2;
    raw.push({ param: name, importance: between / total });
  }
  const sum = raw.reduce((a, b) => a + b.importance, 0);
  return raw
    .map((r) => ({ param: r.param, importance: sum > 0 ? r.importance / sum : 0 }))
    .sort((a, b) => b.importance - a.importance);
}

/** The server's importance in either of its plausible shapes, else the local estimate. */
export function importanceOf(
  server: { param: string; importance: number }[] | Record<string, number> | null | undefined,
  trials: Trial[],
): ParamImportance[] {
  if (Array.isArray(server) && server.length > 0) return [...server].sort((a, b) => b.importance - a.importance);
  if (server && !Array.isArray(server) && Object.keys(server).length > 0)
    return Object.entries(server)
      .map(([param, importance]) => ({ param, importance }))
      .sort((a, b) => b.importance - a.importance);
  return paramImportance(trials);
}
