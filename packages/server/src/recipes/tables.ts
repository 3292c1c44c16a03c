// The recipe_runs table (one row per recipe run: recipe@version, canonical parameters, input versions, output
// version, status, report) merged into the metadata store's `Database` type, and the migration that creates it.
import type { Kysely, Migration } from 'kysely';

export interface RecipeRunsTable {
  id: string;
  project_id: string;
  recipe: string;
  recipe_version: string;
  /** Canonical JSON (sorted keys, defaults filled in) of the validated parameters. */
  params_json: string;
  /** {role: {dataset, version, versionId, digest}} */
  inputs_json: string;
  output_dataset: string;
  output_version_id: string | null;
  status: string; // queued | running | succeeded | failed | cancelled
  report_json: string | null;
  error: string | null;
  /** sha256 over recipe@version, input version ids, canonical parameters and output dataset: one run per key. */
  idempotency_key: string;
  job_id: string | null;
  /** Re-queues after a failed run (each gets a fresh job). */
  attempt: number;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

declare module '../db/schema.js' {
  interface Database {
    recipe_runs: RecipeRunsTable;
  }
}

export const recipesMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('recipe_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('recipe', 'text', (c) => c.notNull())
      .addColumn('recipe_version', 'text', (c) => c.notNull())
      .addColumn('params_json', 'text', (c) => c.notNull())
      .addColumn('inputs_json', 'text', (c) => c.notNull())
      .addColumn('output_dataset', 'text', (c) => c.notNull())
      .addColumn('output_version_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('report_json', 'text')
      .addColumn('error', 'text')
      .addColumn('idempotency_key', 'text', (c) => c.notNull())
      .addColumn('job_id', 'text')
      .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .addUniqueConstraint('recipe_runs_idempotency', ['project_id', 'idempotency_key'])
      .execute();
    await db.schema
      .createIndex('recipe_runs_project_created')
      .on('recipe_runs')
      .columns(['project_id', 'created_at'])
      .execute();
  },
};
