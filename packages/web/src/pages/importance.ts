// Hyperparameter importance from the trial table, used when the server does not send one: for each parameter,
// the share of the variance of trial values explained by it (η², correlation ratio) among the trials that have it,
// weighted by that share of trials; numeric parameters grouped into quartile bins, categorical ones by value;
// normalised to sum to 1.
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
  const names = new Set<string>();
  for (const t of done) for (const k of Object.keys(t.params)) names.add(k);
  const raw: ParamImportance[] = [];
  for (const name of names) {
    // Only the trials that have the parameter (another algorithm may not) say how much it matters; the share of
    // trials that have it weighs the result, and the algorithm choice itself is a parameter too.
    const idx = done.map((t, i) => (name in t.params ? i : -1)).filter((i) => i >= 0);
    if (idx.length < 3) continue;
    const ys = idx.map((i) => y[i]!);
    const m = ys.reduce((a, b) => a + b, 0) / ys.length;
    const tot = ys.reduce((a, b) => a + (b - m) ** 2, 0);
    if (tot <= 0) continue;
    const g = groups(idx.map((i) => done[i]!.params[name]));
    const sums = new Map<number, { s: number; n: number }>();
    g.forEach((k, j) => {
      const e = sums.get(k) ?? { s: 0, n: 0 };
      e.s += ys[j]!;
      e.n++;
      sums.set(k, e);
    });
    if (sums.size < 2) continue;
    let between = 0;
    for (const { s, n } of sums.values()) between += n * (s / n - m) ** 2;
    raw.push({ param: name, importance: (between / tot) * (idx.length / done.length) });
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
