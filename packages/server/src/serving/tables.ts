// The prediction log: every prediction (REST row, batch summary, CDS card) with its model version, deployment,
// inputs digest and mapped feature values, output, explanation, caller, hook instance, time and later feedback.
import type { Kysely, Migration } from 'kysely';

export interface PredictionsTable {
  id: string;
  project_id: string;
  model_version_id: string;
  deployment_id: string | null;
  source: string; // rest | batch | cds
  caller: string;
  hook_instance: string | null;
  patient_ref: string | null;
  inputs_digest: string;
  features_json: string;
  output_json: string;
  explanation_json: string | null;
  feedback_json: string | null;
  feedback_at: string | null;
  created_at: string;
}

declare module '../db/schema.js' {
  interface Database {
    predictions: PredictionsTable;
  }
}

export const servingMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('predictions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('model_version_id', 'text', (c) => c.notNull())
      .addColumn('deployment_id', 'text')
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('caller', 'text', (c) => c.notNull())
      .addColumn('hook_instance', 'text')
      .addColumn('patient_ref', 'text')
      .addColumn('inputs_digest', 'text', (c) => c.notNull())
      .addColumn('features_json', 'text', (c) => c.notNull())
      .addColumn('output_json', 'text', (c) => c.notNull())
      .addColumn('explanation_json', 'text')
      .addColumn('feedback_json', 'text')
      .addColumn('feedback_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('predictions_project_created')
      .on('predictions')
      .columns(['project_id', 'created_at'])
      .execute();
    await db.schema.createIndex('predictions_deployment').on('predictions').column('deployment_id').execute();
    await db.schema.createIndex('predictions_model_version').on('predictions').column('model_version_id').execute();
  },
};
