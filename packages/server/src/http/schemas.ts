// Response schemas of the read routes the web console uses, so /openapi.json describes what they answer and the
// console's client is generated, not hand-written. Each mirrors the service's return type; the compiler checks
// that every route's answer fits its schema, and the serializer validates it at run time.
import { z } from 'zod';
import { storedDeploymentSpecSchema } from '../deployments/spec.js';

const nullableNumber = z.number().nullable();

export const projectSchema = z.object({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
});
export const projectWithRolesSchema = projectSchema.extend({ roles: z.array(z.string()) });

export const membersSchema = z.object({
  members: z.array(z.object({ user: z.string(), role: z.string(), addedAt: z.string(), addedBy: z.string() })),
});

export const auditEventSchema = z.object({
  seq: z.number(),
  id: z.string(),
  at: z.string(),
  actor: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  project: z.string().nullable(),
  outcome: z.string(),
  client: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  hash: z.string(),
});
export const auditPageSchema = z.object({ events: z.array(auditEventSchema), nextBefore: nullableNumber });
export const auditVerifySchema = z.object({
  ok: z.boolean(),
  events: z.number(),
  headSeq: z.number(),
  checkpointSeq: nullableNumber,
  firstBroken: z.object({ seq: z.number(), reason: z.string() }).optional(),
});

// ---------- datasets ----------
const kind = z.enum(['tabular', 'files']);
export const datasetsSchema = z.object({
  datasets: z.array(
    z.object({
      name: z.string(),
      kind,
      createdAt: z.string(),
      createdBy: z.string(),
      latestVersion: nullableNumber,
    }),
  ),
});
export const datasetVersionSchema = z.object({
  id: z.string(),
  project: z.string(),
  dataset: z.string(),
  kind,
  version: z.number(),
  contentDigest: z.string(),
  manifestDigest: z.string(),
  sizeBytes: z.number(),
  rowCount: nullableNumber,
  fileCount: z.number(),
  parentVersion: nullableNumber,
  message: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
});
export const datasetLogSchema = z.object({ versions: z.array(datasetVersionSchema), nextBefore: nullableNumber });

const columnType = z.enum(['integer', 'number', 'boolean', 'date', 'datetime', 'categorical', 'text']);
export const columnProfileSchema = z.object({
  name: z.string(),
  type: columnType,
  missing: z.number(),
  count: z.number(),
  distinct: z.union([z.number(), z.object({ atLeast: z.number() })]).optional(),
  min: z.union([z.number(), z.string()]).optional(),
  max: z.union([z.number(), z.string()]).optional(),
  mean: z.number().optional(),
  std: z.number().optional(),
  quantiles: z
    .object({
      p01: z.number(),
      p05: z.number(),
      p25: z.number(),
      p50: z.number(),
      p75: z.number(),
      p95: z.number(),
      p99: z.number(),
    })
    .optional(),
  histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number()) }).optional(),
  top: z.array(z.object({ value: z.string(), count: z.number() })).optional(),
  categories: z.array(z.string()).optional(),
});
export const tabularProfileSchema = z.object({
  encoding: z.enum(['utf-8', 'utf-8-bom', 'cp932']),
  delimiter: z.string(),
  rowCount: z.number(),
  columns: z.array(columnProfileSchema),
  quantilesExact: z.boolean(),
});
export const datasetVersionDetailSchema = datasetVersionSchema.extend({
  /** Tabular versions: column types and statistics (the profile); null for files datasets. */
  schema: tabularProfileSchema.nullable(),
  arrow: z.object({ digest: z.string(), size: z.number() }).nullable(),
  /** Files datasets with at most 10,000 files. */
  files: z.array(z.object({ path: z.string(), digest: z.string(), size: z.number() })).optional(),
});

// ---------- studies ----------
export const studySummarySchema = z.object({
  id: z.string(),
  project: z.string(),
  dataset: z.string(),
  datasetVersion: z.number(),
  status: z.string(),
  trigger: z.string(),
  trials: z.number(),
  trialsDone: z.number(),
  bestValue: nullableNumber,
  bestTrial: nullableNumber,
  metric: z.string(),
  error: z.string().nullable(),
  modelVersion: z.object({ model: z.string(), version: z.number() }).nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  jobId: z.string().nullable(),
});
export const studiesSchema = z.object({ studies: z.array(studySummarySchema) });
export const studyDetailSchema = studySummarySchema.extend({
  spec: z.record(z.string(), z.unknown()),
  report: z.unknown(),
  trialsList: z.array(
    z.object({
      number: z.number(),
      algorithm: z.string(),
      params: z.record(z.string(), z.unknown()),
      state: z.string(),
      value: nullableNumber,
      folds: z.unknown(),
      durationMs: z.number(),
      error: z.string().nullable(),
      finishedAt: z.string(),
    }),
  ),
});

// ---------- models ----------
const stage = z.enum(['candidate', 'approved', 'retired']);
export const modelVersionSummarySchema = z.object({
  id: z.string(),
  model: z.string(),
  version: z.number(),
  stage,
  source: z.string(),
  algorithm: z.string(),
  dataset: z.string(),
  datasetVersion: z.number(),
  datasetDigest: z.string(),
  studyId: z.string().nullable(),
  auc: z.number(),
  aucCi: z.object({ lower: z.number(), upper: z.number() }),
  trainedBy: z.string(),
  createdAt: z.string(),
});
export const modelVersionsSchema = z.object({ versions: z.array(modelVersionSummarySchema) });

const curve = z.object({ x: z.array(z.number()), y: z.array(z.number()), thresholds: z.array(z.number()).optional() });
export const holdoutMetricsSchema = z.object({
  n: z.number(),
  positives: z.number(),
  prevalence: z.number(),
  auc: z.number(),
  aucCi: z.object({ lower: z.number(), upper: z.number(), level: z.number() }),
  averagePrecision: z.number(),
  accuracy: z.number(),
  sensitivity: z.number(),
  specificity: z.number(),
  ppv: z.number(),
  npv: z.number(),
  f1: z.number(),
  brier: nullableNumber,
  logLoss: nullableNumber,
  calibration: z
    .object({
      slope: z.number(),
      intercept: z.number(),
      curve: z.object({
        meanPredicted: z.array(z.number()),
        fractionPositive: z.array(z.number()),
        count: z.array(z.number()),
      }),
    })
    .nullable(),
  threshold: z.object({ value: z.number(), method: z.string(), target: z.number().optional() }),
  confusion: z.object({ tp: z.number(), fp: z.number(), tn: z.number(), fn: z.number() }),
  roc: curve,
  pr: curve,
  subgroups: z.array(
    z.object({
      column: z.string(),
      group: z.string(),
      n: z.number(),
      positives: z.number(),
      prevalence: z.number(),
      auc: nullableNumber,
      aucCi: z.object({ lower: z.number(), upper: z.number() }).nullable(),
      sensitivity: nullableNumber,
      specificity: nullableNumber,
      ppv: nullableNumber,
      flagged: z.boolean(),
      flagReason: z.string().optional(),
    }),
  ),
  importance: z.array(
    z.object({
      feature: z.string(),
      gain: nullableNumber,
      split: nullableNumber,
      meanAbsShap: nullableNumber,
      coefficient: nullableNumber,
    }),
  ),
});
const comparisonSchema = z.object({
  against: z.object({ model: z.string(), version: z.number() }),
  n: z.number(),
  candidateAuc: z.number(),
  approvedAuc: z.number(),
  difference: z.number(),
  pValue: z.number(),
  note: z.string(),
});
export const modelCardSchema = z.object({
  model: z.string(),
  version: z.number(),
  createdAt: z.string(),
  intendedUse: z.string(),
  data: z.object({
    project: z.string(),
    dataset: z.string(),
    datasetVersion: z.number(),
    datasetDigest: z.string(),
    /** When the version was pushed (absent on cards made before it was recorded). */
    datasetCreatedAt: z.string().optional(),
    /** Range of each date/datetime column of the version: the period the data covers. */
    dateRanges: z.array(z.object({ column: z.string(), min: z.string(), max: z.string() })).optional(),
    rows: z.number(),
    trainingRows: z.number(),
    holdoutRows: z.number(),
    patients: nullableNumber,
    holdoutPatients: nullableNumber,
    prevalence: z.number(),
    droppedMissingTarget: z.number(),
    target: z.string(),
    positive: z.string(),
    features: z.array(z.string()),
  }),
  method: z.object({
    source: z.enum(['study', 'external']),
    algorithm: z.string(),
    engineVersion: z.string(),
    seed: nullableNumber,
    params: z.record(z.string(), z.unknown()),
    search: z
      .object({
        trials: z.number(),
        completed: z.number(),
        pruned: z.number(),
        metric: z.string(),
        folds: z.number(),
        bestCvValue: nullableNumber,
        /** Present when the trials searched on a sample of the training rows. */
        searchRows: z.number().optional(),
        finalists: z.number().optional(),
      })
      .nullable(),
  }),
  metrics: holdoutMetricsSchema,
  limitations: z.array(z.string()),
  /** The holdout comparison with the approved version at training time (paired DeLong), if there was one. */
  comparison: comparisonSchema.nullable(),
});
export const modelVersionDetailSchema = modelVersionSummarySchema.extend({
  policyId: z.string().nullable(),
  engineVersion: z.string(),
  seed: nullableNumber,
  params: z.record(z.string(), z.unknown()),
  features: z.array(z.string()),
  threshold: z.number(),
  metrics: holdoutMetricsSchema,
  card: modelCardSchema,
  cardMarkdown: z.string(),
  modelDigest: z.string().nullable(),
  onnxDigest: z.string().nullable(),
  stageHistory: z.array(
    z.object({ from: z.string(), to: z.string(), by: z.string(), reason: z.string(), at: z.string() }),
  ),
});

/** What the caller may do with this version now (the console offers only these; the server checks again anyway). */
export const modelVersionActionsSchema = z.object({
  approve: z.boolean(),
  /** Why approving is not offered: role, stage, or the two-person rule. */
  approveBlockedBy: z.enum(['role', 'stage', 'two-person-rule']).nullable(),
  retire: z.boolean(),
});
export const modelVersionViewSchema = modelVersionDetailSchema.extend({ actions: modelVersionActionsSchema });

// ---------- lineage ----------
const nodeKind = z.enum([
  'dataset_version',
  'study',
  'model_version',
  'deployment',
  'recipe_run',
  'prediction_batch',
  'predictions',
]);
const nodeRef = z.object({ kind: nodeKind, id: z.string() });
export const lineageGraphSchema = z.object({
  root: nodeRef,
  direction: z.enum(['downstream', 'upstream', 'both']),
  nodes: z.array(
    z.object({
      kind: nodeKind,
      id: z.string(),
      label: z.string(),
      detail: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
  edges: z.array(z.object({ from: nodeRef, to: nodeRef, relation: z.string() })),
});

// ---------- deployments ----------
export const deploymentSchema = z.object({
  id: z.string(),
  name: z.string(),
  project: z.string(),
  version: z.number(),
  status: z.string(),
  statusReason: z.string(),
  target: z.object({ kind: z.enum(['model', 'rule']), name: z.string(), version: z.number(), id: z.string() }),
  service: z.string(),
  hooks: z.array(z.string()),
  /** Applicability, FHIR feature mapping and card template, as deployed. */
  spec: storedDeploymentSpecSchema,
  createdBy: z.string(),
  updatedAt: z.string(),
});
/** Predictions logged for a deployment, and the share of those with feedback that were overridden. */
const deploymentUsageFields = { predictions: z.number(), overrideRate: nullableNumber };
export const deploymentsSchema = z.object({
  deployments: z.array(deploymentSchema.extend(deploymentUsageFields)),
});
export const deploymentDetailSchema = deploymentSchema.extend({
  ...deploymentUsageFields,
  history: z.array(z.object({ version: z.number(), createdBy: z.string(), createdAt: z.string(), target: z.string() })),
});
