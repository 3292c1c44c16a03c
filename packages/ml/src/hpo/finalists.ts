// The last rung of a search run on a sample of the rows: the best few configurations are cross-validated again on
// every row (the same number of patient-grouped folds), each fold a separate task so the pool's workers share the
// work, and the best of them at full fidelity wins. Its folds' early-stopped rounds size the refit.
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { MlError } from '../errors.js';
import type { CvAlgorithm } from './cross-validate.js';
import type { TrialPool } from './pool.js';
import type { TrialParams } from './space.js';
import type { TrialRecord } from './study.js';
import type { Direction } from './tpe.js';

export interface Finalist {
  /** The search trial whose configuration this is. */
  trial: number;
  params: TrialParams;
  /** The trial's value in the search (on the sample). */
  searchValue: number;
  /** Mean metric over the folds on every row, with its sample standard deviation and the fold metrics. */
  value: number;
  std: number;
  folds: number[];
  /** GBDT: early-stopped rounds per fold; null for other learners. */
  bestIterations: (number | null)[];
  durationMs: number;
}

export interface ConfirmOptions {
  /** How many of the best complete trials to confirm. Default 2. */
  top?: number;
  seed?: number;
  direction?: Direction;
  signal?: AbortSignal;
}

/**
 * Cross-validates the `top` best complete trials (distinct configurations) on the pool's full folds and returns
 * them best first (ties: the earlier trial). Empty when no trial completed.
 */
export async function confirmFinalists(
  pool: TrialPool,
  trials: readonly TrialRecord[],
  o: ConfirmOptions = {},
): Promise<Finalist[]> {
  const top = o.top ?? 2;
  if (!(Number.isInteger(top) && top >= 1)) throw new MlError('INVALID_PARAM', 'top must be a positive integer');
  const sign = (o.direction ?? 'maximize') === 'maximize' ? 1 : -1;
  const ranked = trials
    .filter((t) => t.state === 'complete' && t.value !== null)
    .sort((a, b) => sign * (b.value! - a.value!) || a.number - b.number);
  const picked: TrialRecord[] = [];
  const seen = new Set<string>();
  for (const t of ranked) {
    const key = JSON.stringify(Object.entries(t.params).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (seen.has(key)) continue;
    seen.add(key);
    picked.push(t);
    if (picked.length === top) break;
  }
  const k = pool.fullSplits.length;
  // One listener on the caller's signal; the fold tasks listen to a child signal sized for all of them.
  const child = new AbortController();
  setMaxListeners(picked.length * k + 10, child.signal);
  const onAbort = (): void => child.abort();
  if (o.signal?.aborted) child.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await confirm(pool, picked, k, o.seed ?? 0, child.signal, sign);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

async function confirm(
  pool: TrialPool,
  picked: TrialRecord[],
  k: number,
  seed: number,
  signal: AbortSignal,
  sign: number,
): Promise<Finalist[]> {
  const results = await Promise.all(
    picked.map(async (t) => {
      const { algorithm = 'gbdt', ...rest } = t.params;
      const started = performance.now();
      const folds = await Promise.all(
        Array.from({ length: k }, (_, f) =>
          pool.run(algorithm as CvAlgorithm, rest, { seed, fidelity: 'full', folds: [f], signal }),
        ),
      );
      const metrics = folds.map((r) => r.folds[0]!.metric);
      const mean = metrics.reduce((a, b) => a + b, 0) / k;
      const std = k > 1 ? Math.sqrt(metrics.reduce((a, m) => a + (m - mean) ** 2, 0) / (k - 1)) : 0;
      return {
        trial: t.number,
        params: t.params,
        searchValue: t.value!,
        value: mean,
        std,
        folds: metrics,
        bestIterations: folds.map((r) => r.folds[0]!.bestIteration ?? null),
        durationMs: performance.now() - started,
      } satisfies Finalist;
    }),
  );
  return results.sort((a, b) => sign * (b.value - a.value) || a.trial - b.trial);
}
