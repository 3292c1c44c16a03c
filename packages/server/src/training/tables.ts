// Tables of the training domain (policies, studies, trials, models, model versions, stage changes, lineage),
// merged into the metadata store's `Database` type, and the migration that creates them.
import type { Kysely, Migration } from 'kysely';

export interface TrainingPoliciesTable {
  id: string;
  project_id: string;
  dataset_id: string;
  revision: number;
  spec_json: string;
  updated_by: string;
  updated_at: string;
}

export interface StudiesTable {
  id: string;
  project_id: string;
  dataset_version_id: string;
  policy_id: string;
  policy_revision: number;
  spec_json: string;
  status: string; // queued | running | succeeded | failed | cancelled
  trigger: string; // new-version | manual
  job_id: string | null;
  n_trials: number;
  trials_done: number;
  best_value: number | null;
  best_trial: number | null;
  error: string | null;
  report_json: string | null;
  model_version_id: string | null;
  created_by: string;
  /** Who last changed the policy before this study: the two-person rule keeps them from approving its model. */
  policy_author: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface TrialsTable {
  study_id: string;
  number: number;
  algorithm: string;
  params_json: string;
  state: string; // complete | pruned | failed
  value: number | null;
  folds_json: string;
  duration_ms: number;
  error: string | null;
  finished_at: string;
}

export interface ModelsTable {
  id: string;
  project_id: string;
  name: string;
  created_at: string;
  created_by: string;
}

export interface ModelVersionsTable {
  id: string;
  model_id: string;
  version: number;
  stage: string; // candidate | approved | retired
  source: string; // study | external
  dataset_version_id: string;
  dataset_digest: string;
  policy_id: string | null;
  study_id: string | null;
  engine_version: string;
  algorithm: string;
  seed: number | null;
  params_json: string;
  features_json: string;
  model_digest: string | null;
  onnx_digest: string | null;
  threshold: number;
  metrics_json: string;
  card_json: string;
  card_md: string;
  trained_by: string;
  /** Everyone who shaped this version (study starter, policy author, uploader): none of them may approve it. */
  responsible_json: string;
  created_at: string;
}

export interface ModelStageEventsTable {
  id: string;
  model_version_id: string;
  from_stage: string;
  to_stage: string;
  by: string;
  reason: string;
  at: string;
}

export interface LineageEdgesTable {
  from_kind: string;
  from_id: string;
  to_kind: string;
  to_id: string;
  relation: string;
  created_at: string;
}

declare module '../db/schema.js' {
  interface Database {
    training_policies: TrainingPoliciesTable;
    studies: StudiesTable;
    trials: TrialsTable;
    models: ModelsTable;
    model_versions: ModelVersionsTable;
    model_stage_events: ModelStageEventsTable;
    lineage_edges: LineageEdgesTable;
  }
}

export const trainingMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('training_policies')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('dataset_id', 'text', (c) => c.notNull().unique().references('datasets.id'))
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('spec_json', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('studies')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('dataset_version_id', 'text', (c) => c.notNull().references('dataset_versions.id'))
      .addColumn('policy_id', 'text', (c) => c.notNull().references('training_policies.id'))
      .addColumn('policy_revision', 'integer', (c) => c.notNull())
      .addColumn('spec_json', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('job_id', 'text')
      .addColumn('n_trials', 'integer', (c) => c.notNull())
      .addColumn('trials_done', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('best_value', 'double precision')
      .addColumn('best_trial', 'integer')
      .addColumn('error', 'text')
      .addColumn('report_json', 'text')
      .addColumn('model_version_id', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('policy_author', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema
      .createIndex('studies_project_created')
      .on('studies')
      .columns(['project_id', 'created_at'])
      .execute();
    await db.schema
      .createTable('trials')
      .addColumn('study_id', 'text', (c) => c.notNull().references('studies.id'))
      .addColumn('number', 'integer', (c) => c.notNull())
      .addColumn('algorithm', 'text', (c) => c.notNull())
      .addColumn('params_json', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('value', 'double precision')
      .addColumn('folds_json', 'text', (c) => c.notNull())
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('finished_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('trials_pk', ['study_id', 'number'])
      .execute();
    await db.schema
      .createTable('models')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addUniqueConstraint('models_project_name', ['project_id', 'name'])
      .execute();
    await db.schema
      .createTable('model_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('model_id', 'text', (c) => c.notNull().references('models.id'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('stage', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('dataset_version_id', 'text', (c) => c.notNull().references('dataset_versions.id'))
      .addColumn('dataset_digest', 'text', (c) => c.notNull())
      .addColumn('policy_id', 'text')
      .addColumn('study_id', 'text', (c) => c.unique())
      .addColumn('engine_version', 'text', (c) => c.notNull())
      .addColumn('algorithm', 'text', (c) => c.notNull())
      .addColumn('seed', 'integer')
      .addColumn('params_json', 'text', (c) => c.notNull())
      .addColumn('features_json', 'text', (c) => c.notNull())
      .addColumn('model_digest', 'text')
      .addColumn('onnx_digest', 'text')
      .addColumn('threshold', 'double precision', (c) => c.notNull())
      .addColumn('metrics_json', 'text', (c) => c.notNull())
      .addColumn('card_json', 'text', (c) => c.notNull())
      .addColumn('card_md', 'text', (c) => c.notNull())
      .addColumn('trained_by', 'text', (c) => c.notNull())
      .addColumn('responsible_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('model_versions_number', ['model_id', 'version'])
      .execute();
    await db.schema
      .createTable('model_stage_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('model_version_id', 'text', (c) => c.notNull().references('model_versions.id'))
      .addColumn('from_stage', 'text', (c) => c.notNull())
      .addColumn('to_stage', 'text', (c) => c.notNull())
      .addColumn('by', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('lineage_edges')
      .addColumn('from_kind', 'text', (c) => c.notNull())
      .addColumn('from_id', 'text', (c) => c.notNull())
      .addColumn('to_kind', 'text', (c) => c.notNull())
      .addColumn('to_id', 'text', (c) => c.notNull())
      .addColumn('relation', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('lineage_edges_pk', ['from_kind', 'from_id', 'to_kind', 'to_id'])
      .execute();
    await db.schema.createIndex('lineage_edges_to').on('lineage_edges').columns(['to_kind', 'to_id']).execute();
  },
};
