// Versioned schema migrations, one set for both dialects; applied at start-up and by `ichigen migrate`.
// Append new migrations; never edit one that has shipped.
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { sql } from 'kysely';
import { trainingMigration } from '../training/tables.js';
import { recipesMigration } from '../recipes/tables.js';
import { servingMigration } from '../serving/tables.js';
import { deploymentsMigration } from '../deployments/tables.js';
import { loginFailuresMigration } from '../auth/rate-limit.js';
import { webSessionsMigration } from '../auth/sessions.js';

const m001: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();
    await db.schema
      .createTable('projects')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('slug', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('members')
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('members_pk', ['project_id', 'user_id', 'role'])
      .execute();
    await db.schema.createIndex('members_user').on('members').column('user_id').execute();
    await db.schema
      .createTable('datasets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addUniqueConstraint('datasets_project_name', ['project_id', 'name'])
      .execute();
    await db.schema
      .createTable('dataset_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('dataset_id', 'text', (c) => c.notNull().references('datasets.id'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('content_digest', 'text', (c) => c.notNull())
      .addColumn('manifest_digest', 'text', (c) => c.notNull())
      .addColumn('size_bytes', 'bigint', (c) => c.notNull())
      .addColumn('row_count', 'bigint')
      .addColumn('file_count', 'integer', (c) => c.notNull())
      .addColumn('schema_json', 'text')
      .addColumn('parent_version', 'integer')
      .addColumn('message', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('dataset_versions_number', ['dataset_id', 'version'])
      .addUniqueConstraint('dataset_versions_content', ['dataset_id', 'content_digest'])
      .execute();
    await db.schema
      .createTable('audit_events')
      .addColumn('seq', 'bigint', (c) => c.primaryKey())
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text')
      .addColumn('project', 'text')
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('client', 'text')
      .addColumn('details_json', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('mac', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_events_project_at').on('audit_events').columns(['project', 'at']).execute();
    await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
    await db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('seq', 'bigint', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    await sql`insert into audit_head (id, seq, hash) values (1, 0, ${GENESIS_HASH})`.execute(db);
  },
};

const m002: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('project', 'text')
      .addColumn('payload_json', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('max_attempts', 'integer', (c) => c.notNull())
      .addColumn('idempotency_key', 'text')
      .addColumn('run_after', 'text', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'text')
      .addColumn('last_error', 'text')
      .addColumn('result_json', 'text')
      .addColumn('progress_json', 'text')
      .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      // NULL keys never collide (both dialects), so only keyed jobs are deduplicated.
      .addUniqueConstraint('jobs_idempotency', ['kind', 'idempotency_key'])
      .execute();
    // Claiming scans queued jobs of some kinds by priority and due time; the sweep scans running leases.
    await db.schema.createIndex('jobs_claim').on('jobs').columns(['state', 'kind', 'priority', 'run_after']).execute();
    await db.schema.createIndex('jobs_lease').on('jobs').columns(['state', 'lease_expires_at']).execute();
    await db.schema.createIndex('jobs_project').on('jobs').columns(['project', 'id']).execute();
  },
};

/** The hash the first audit event links to. */
export const GENESIS_HASH = '0'.repeat(64);

export const MIGRATIONS: Record<string, Migration> = {
  '001_core': m001,
  '002_jobs': m002,
  '003_training': trainingMigration,
  '004_recipes': recipesMigration,
  '005_serving': servingMigration,
  '006_deployments': deploymentsMigration,
  '007_web_sessions': webSessionsMigration,
  '008_login_failures': loginFailuresMigration,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(MIGRATIONS),
};
