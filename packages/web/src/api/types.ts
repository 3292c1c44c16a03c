// Shapes of responses that the server's OpenAPI document does not describe yet (its routes answer "Default
// Response" without a schema). Only the fields the console reads are listed; once a route gains a response schema,
// its generated type in ./schema.d.ts replaces the entry here.

export interface Session {
  user: string;
  isAdmin: boolean;
  csrfToken: string;
}

export interface Project {
  id: string;
  slug: string;
  name: string;
  description?: string;
  createdAt: string;
  createdBy: string;
  roles: string[];
}

export interface Member {
  user: string;
  role: string;
  addedAt: string;
  addedBy: string;
}

export interface AuditEvent {
  seq: number;
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  project: string | null;
  outcome: string;
  client?: string | null;
  details: Record<string, unknown>;
  hash: string;
}

export interface AuditPage {
  events: AuditEvent[];
  nextBefore: number | null;
}

export interface AuditVerify {
  ok: boolean;
  events: number;
  headSeq?: number;
  checkpointSeq?: number;
  firstBroken?: { seq: number; reason: string };
}

export interface DatasetSummary {
  name: string;
  kind: string;
  createdAt: string;
  createdBy: string;
  latestVersion: number;
}

export interface DatasetVersion {
  id: string;
  project: string;
  dataset: string;
  kind: string;
  version: number;
  contentDigest: string;
  sizeBytes: number;
  rowCount: number | null;
  fileCount: number;
  parentVersion: number | null;
  message: string;
  createdBy: string;
  createdAt: string;
}

export interface ColumnStats {
  name: string;
  type: string;
  missing: number;
  count: number;
  /** `{atLeast}` once a column has more distinct values than the profiler counts exactly. */
  distinct?: number | { atLeast: number };
  min?: number | string;
  max?: number | string;
  mean?: number;
  std?: number;
  quantiles?: Record<string, number>;
  histogram?: { edges: number[]; counts: number[] };
  top?: { value: string; count: number }[];
}

export interface DatasetVersionDetail extends DatasetVersion {
  schema?: { encoding?: string; delimiter?: string; rowCount?: number; columns: ColumnStats[] } | null;
  files?: { path: string; digest: string; size: number }[];
}

export interface DatasetDiff {
  from: number;
  to: number;
  rows?: { from: number | null; to: number | null; delta?: number | null };
  columns?: {
    added?: string[];
    removed?: string[];
    typeChanged?: { name: string; from: string; to: string }[];
  };
  stats?: {
    name: string;
    from?: Partial<ColumnStats> | null;
    to?: Partial<ColumnStats> | null;
    [k: string]: unknown;
  }[];
  [k: string]: unknown;
}

export interface Trial {
  number: number;
  algorithm: string;
  params: Record<string, unknown>;
  state: string;
  value: number | null;
  durationMs: number | null;
  error: string | null;
  finishedAt: string | null;
}

export interface Study {
  id: string;
  project: string;
  dataset: string;
  datasetVersion: number;
  status: string;
  trigger: string;
  trials: number;
  trialsDone: number;
  bestValue: number | null;
  bestTrial: number | null;
  metric: string;
  error: string | null;
  modelVersion: { model: string; version: number } | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface StudyDetail extends Study {
  trialsList?: Trial[];
  importance?: { param: string; importance: number }[] | Record<string, number> | null;
  report?: Record<string, unknown> | null;
}

export interface ModelVersionSummary {
  id: string;
  model: string;
  version: number;
  stage: string;
  source: string;
  algorithm: string;
  dataset: string | null;
  datasetVersion: number | null;
  studyId: string | null;
  auc: number | null;
  aucCi: { lower: number; upper: number } | null;
  trainedBy: string;
  createdAt: string;
}

export interface Curve {
  x: number[];
  y: number[];
  thresholds?: number[];
}

export interface Subgroup {
  column: string;
  group: string;
  n: number;
  positives: number;
  prevalence: number;
  auc: number | null;
  aucCi?: { lower: number; upper: number } | null;
  sensitivity?: number | null;
  specificity?: number | null;
  ppv?: number | null;
  flagged: boolean;
  reason?: string;
}

export interface Metrics {
  n: number;
  positives: number;
  prevalence: number;
  auc: number;
  aucCi: { lower: number; upper: number; level?: number };
  averagePrecision?: number;
  accuracy?: number;
  sensitivity?: number;
  specificity?: number;
  ppv?: number;
  npv?: number;
  f1?: number;
  brier?: number;
  logLoss?: number;
  calibration?: {
    slope: number;
    intercept: number;
    curve: { meanPredicted: number[]; fractionPositive: number[]; count: number[] };
  };
  threshold?: { value: number; method: string };
  confusion?: { tp: number; fp: number; tn: number; fn: number };
  roc?: Curve;
  pr?: Curve;
  subgroups?: Subgroup[];
  importance?: {
    feature: string;
    gain?: number | null;
    split?: number | null;
    meanAbsShap?: number | null;
    coefficient?: number | null;
  }[];
}

export interface ModelVersionDetail extends ModelVersionSummary {
  features: string[];
  threshold: number;
  metrics: Metrics;
  cardMarkdown?: string;
  stageHistory?: { from: string; to: string; by: string; reason: string; at: string }[];
  params?: Record<string, unknown>;
}

export interface LineageNode {
  kind: string;
  id: string;
  label: string;
  detail?: Record<string, unknown>;
}

export interface LineageGraph {
  root: { kind: string; id: string };
  nodes: LineageNode[];
  edges: { from: { kind: string; id: string }; to: { kind: string; id: string }; relation: string }[];
}

export interface Deployment {
  id: string;
  name: string;
  project: string;
  version: number;
  status: string;
  statusReason: string;
  target: { kind: string; name: string; version: number; id: string };
  service: string;
  hooks: string[];
  spec: {
    description?: string;
    applicability?: {
      conditions?: { system?: string; code: string }[];
      age?: { min?: number; max?: number };
      sex?: string[];
      [k: string]: unknown;
    };
    mapping?: {
      feature: string;
      label?: string;
      resource: string;
      code?: string;
      expression?: string;
      aggregate?: string;
      unit?: string;
      windowDays?: number;
      map?: Record<string, unknown>;
      source?: string;
    }[];
    card?: { title?: string; bands?: { indicator: string; summary: string }[]; [k: string]: unknown };
    [k: string]: unknown;
  };
  createdBy: string;
  updatedAt: string;
  predictions: number;
  overrideRate: number | null;
}

export interface CdsCard {
  uuid?: string;
  summary: string;
  detail?: string;
  indicator: 'info' | 'warning' | 'critical' | string;
  source: { label: string; url?: string; topic?: { code?: string; display?: string } };
  suggestions?: { label: string; uuid?: string; isRecommended?: boolean; actions?: { description?: string }[] }[];
  links?: { label: string; url: string; type?: string }[];
  overrideReasons?: { code?: string; display?: string }[];
}

export interface TryResult {
  cards: CdsCard[];
  [k: string]: unknown;
}
