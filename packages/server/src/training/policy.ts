// Training policies: per dataset, what to predict, from which columns, grouped by which patient key, how to search,
// and whether a new version starts a study by itself. One zod schema; the validated value is the typed value.
import { z } from 'zod';
import { nameSchema } from '../util.js';

const columnName = z.string().min(1).max(256);

export const ALGORITHMS = ['gbdt', 'logreg'] as const;
export const METRICS = ['auc', 'average_precision', 'log_loss', 'brier'] as const;

export const policySpecSchema = z
  .object({
    /** The model this policy trains (versions accumulate under it). Defaults to the dataset's name. */
    model: nameSchema.optional(),
    description: z.string().max(5000).default(''),
    target: columnName,
    /** The value of `target` that counts as the positive outcome (compared as text). */
    positive: z
      .union([z.string().max(256), z.number()])
      .transform(String)
      .default('1'),
    /** Patient key: rows of one patient never straddle holdout/training or two CV folds. */
    group: columnName.optional(),
    include: z.array(columnName).max(5000).optional(),
    exclude: z.array(columnName).max(5000).default([]),
    /** Extra columns (besides sex and age band) to report subgroup metrics for. */
    subgroups: z.array(columnName).max(50).default([]),
    algorithms: z.array(z.enum(ALGORITHMS)).min(1).default(['gbdt', 'logreg']),
    /** Search-space overrides per algorithm, in the HPO engine's space format. */
    searchSpace: z.record(z.string(), z.unknown()).optional(),
    trials: z.number().int().min(1).max(2000).default(30),
    /**
     * Time budget of the search: no trial starts once this many minutes have passed since the study started (data
     * loading included); running trials finish, then the finalists are confirmed and the model refit.
     */
    timeoutMinutes: z
      .number()
      .positive()
      .max(24 * 60)
      .optional(),
    metric: z.enum(METRICS).default('auc'),
    /** Grouped CV folds. Unset: 5, or 3 when the training part has more than 20,000 rows. */
    folds: z.number().int().min(2).max(20).optional(),
    /**
     * Trials cross-validate on a patient-grouped sample of this many training rows when there are more; the best
     * configurations are then confirmed on every row. Unset: 30,000.
     */
    searchRows: z.number().int().min(1000).max(100_000_000).optional(),
    /**
     * Trials run at once, each in its own worker thread. Part of the policy, not taken from the machine, because the
     * trials a seed gives depend on it: the same policy gives the same study on any machine. Unset: 2.
     */
    parallelTrials: z.number().int().min(1).max(64).optional(),
    holdoutFraction: z.number().gt(0).lt(0.9).default(0.2),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
    /** What to do with rows whose target is missing: drop them (counted in the report) or fail the study. */
    missingTarget: z.enum(['drop', 'fail']).default('drop'),
    /** Threshold for the confusion matrix: Youden's J, or the lowest score reaching a target sensitivity. */
    threshold: z
      .union([
        z.object({ method: z.literal('youden') }),
        z.object({ method: z.literal('sensitivity'), target: z.number().gt(0).lt(1) }),
      ])
      .default({ method: 'youden' }),
    onNewVersion: z.boolean().default(false),
  })
  .strict();

export type PolicySpec = z.infer<typeof policySpecSchema>;
export type PolicyInput = z.input<typeof policySpecSchema>;

export interface Policy {
  id: string;
  project: string;
  dataset: string;
  revision: number;
  spec: PolicySpec;
  updatedBy: string;
  updatedAt: string;
}

/** Folds of a study when the policy names none (3 for a training part over LARGE_COHORT_ROWS). */
export const DEFAULT_FOLDS = 5;
/** Training rows above which the default folds drop to 3. */
export const LARGE_COHORT_ROWS = 20_000;
/** Trials at once when the policy names no number (see `parallelTrials`). */
export const DEFAULT_PARALLEL_TRIALS = 2;
/** Default size of the search sample (see `searchRows`). */
export const DEFAULT_SEARCH_ROWS = 30_000;

/** The folds a study uses: the policy's, or DEFAULT_FOLDS (3 for a training part over LARGE_COHORT_ROWS). */
export function effectiveFolds(spec: PolicySpec, trainingRows: number): number {
  return spec.folds ?? (trainingRows > LARGE_COHORT_ROWS ? 3 : DEFAULT_FOLDS);
}

/** Columns used as features for a dataset schema: include (or every column) minus exclude, target and group. */
export function featureColumns(spec: PolicySpec, columns: readonly string[]): string[] {
  const base = spec.include ?? columns;
  const drop = new Set([...spec.exclude, spec.target, ...(spec.group ? [spec.group] : [])]);
  return base.filter((c) => !drop.has(c));
}

/** Names every column the policy refers to that the version lacks (empty when the policy fits). */
export function missingColumns(spec: PolicySpec, columns: readonly string[]): string[] {
  const have = new Set(columns);
  const wanted = [
    spec.target,
    ...(spec.group ? [spec.group] : []),
    ...(spec.include ?? []),
    ...spec.exclude,
    ...spec.subgroups,
  ];
  return [...new Set(wanted.filter((c) => !have.has(c)))];
}
