// Tables of clinical delivery (rule models, deployments, trusted CDS Hooks issuers, seen JWT ids, issued cards),
// merged into the metadata store's `Database` type, and migration 006 that creates them.
import type { Kysely, Migration } from 'kysely';

export interface RuleModelsTable {
  id: string;
  project_id: string;
  name: string;
  created_at: string;
  created_by: string;
}

export interface RuleVersionsTable {
  id: string;
  rule_model_id: string;
  version: number;
  stage: string; // candidate | approved | retired
  spec_json: string;
  description: string;
  created_by: string;
  created_at: string;
}

export interface RuleStageEventsTable {
  id: string;
  rule_version_id: string;
  from_stage: string;
  to_stage: string;
  by: string;
  reason: string;
  at: string;
}

export interface DeploymentsTable {
  id: string;
  project_id: string;
  name: string;
  current_version: number;
  status: string; // active | withdrawn
  status_reason: string;
  created_at: string;
  created_by: string;
  updated_at: string;
}

export interface DeploymentVersionsTable {
  id: string;
  deployment_id: string;
  version: number;
  target_kind: string; // model | rule
  model_version_id: string | null;
  rule_version_id: string | null;
  spec_json: string;
  created_by: string;
  created_at: string;
}

export interface CdsIssuersTable {
  iss: string;
  jwks_json: string | null;
  jwks_url: string | null;
  jku_allow_json: string;
  base_url: string | null;
  service_user_id: string;
  created_at: string;
  created_by: string;
}

export interface CdsSeenJtiTable {
  iss: string;
  jti: string;
  expires_at: string;
}

export interface CdsCardsTable {
  uuid: string;
  prediction_id: string;
  deployment_id: string;
  service_id: string;
  issuer: string;
  hook_instance: string;
  created_at: string;
  feedback_at: string | null;
}

declare module '../db/schema.js' {
  interface Database {
    rule_models: RuleModelsTable;
    rule_versions: RuleVersionsTable;
    rule_stage_events: RuleStageEventsTable;
    deployments: DeploymentsTable;
    deployment_versions: DeploymentVersionsTable;
    cds_issuers: CdsIssuersTable;
    cds_seen_jti: CdsSeenJtiTable;
    cds_cards: CdsCardsTable;
  }
}

export const deploymentsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('rule_models')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addUniqueConstraint('rule_models_project_name', ['project_id', 'name'])
      .execute();
    await db.schema
      .createTable('rule_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('rule_model_id', 'text', (c) => c.notNull().references('rule_models.id'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('stage', 'text', (c) => c.notNull())
      .addColumn('spec_json', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('rule_versions_number', ['rule_model_id', 'version'])
      .execute();
    await db.schema
      .createTable('rule_stage_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('rule_version_id', 'text', (c) => c.notNull().references('rule_versions.id'))
      .addColumn('from_stage', 'text', (c) => c.notNull())
      .addColumn('to_stage', 'text', (c) => c.notNull())
      .addColumn('by', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('deployments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('current_version', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_reason', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('deployments_project_name', ['project_id', 'name'])
      .execute();
    await db.schema.createIndex('deployments_status').on('deployments').column('status').execute();
    await db.schema
      .createTable('deployment_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('target_kind', 'text', (c) => c.notNull())
      .addColumn('model_version_id', 'text', (c) => c.references('model_versions.id'))
      .addColumn('rule_version_id', 'text', (c) => c.references('rule_versions.id'))
      .addColumn('spec_json', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('deployment_versions_number', ['deployment_id', 'version'])
      .execute();
    await db.schema
      .createIndex('deployment_versions_model')
      .on('deployment_versions')
      .column('model_version_id')
      .execute();
    await db.schema
      .createIndex('deployment_versions_rule')
      .on('deployment_versions')
      .column('rule_version_id')
      .execute();
    await db.schema
      .createTable('cds_issuers')
      .addColumn('iss', 'text', (c) => c.primaryKey())
      .addColumn('jwks_json', 'text')
      .addColumn('jwks_url', 'text')
      .addColumn('jku_allow_json', 'text', (c) => c.notNull())
      .addColumn('base_url', 'text')
      .addColumn('service_user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('cds_seen_jti')
      .addColumn('iss', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('cds_seen_jti_pk', ['iss', 'jti'])
      .execute();
    await db.schema.createIndex('cds_seen_jti_expires').on('cds_seen_jti').column('expires_at').execute();
    await db.schema
      .createTable('cds_cards')
      .addColumn('uuid', 'text', (c) => c.primaryKey())
      .addColumn('prediction_id', 'text', (c) => c.notNull())
      .addColumn('deployment_id', 'text', (c) => c.notNull())
      .addColumn('service_id', 'text', (c) => c.notNull())
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('hook_instance', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('feedback_at', 'text')
      .execute();
  },
};
