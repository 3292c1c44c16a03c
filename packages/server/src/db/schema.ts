// Table types of the metadata store: one schema for SQLite and PostgreSQL.
// Timestamps are ISO-8601 UTC strings and JSON is text in both dialects, so rows read the same everywhere.
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  name: string;
  password_hash: string;
  is_admin: number;
  must_change_password: number;
  disabled: number;
  created_at: string;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  name: string;
  kind: string; // 'session' | 'api'
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface ProjectsTable {
  id: string;
  slug: string;
  name: string;
  description: string;
  created_at: string;
  created_by: string;
}

export interface MembersTable {
  project_id: string;
  user_id: string;
  role: string;
  created_at: string;
  created_by: string;
}

export interface DatasetsTable {
  id: string;
  project_id: string;
  name: string;
  kind: string; // 'tabular' | 'files'
  created_at: string;
  created_by: string;
}

export interface DatasetVersionsTable {
  id: string;
  dataset_id: string;
  version: number;
  /** Digest that identifies the content: the raw file's digest (tabular) or the manifest's (files). */
  content_digest: string;
  /** The version manifest (JSON object in the object store) listing every object of the version. */
  manifest_digest: string;
  size_bytes: number;
  row_count: number | null;
  file_count: number;
  schema_json: string | null;
  parent_version: number | null;
  message: string;
  created_by: string;
  created_at: string;
}

export interface AuditEventsTable {
  seq: number;
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string | null;
  project: string | null;
  outcome: string;
  client: string | null;
  details_json: string;
  prev_hash: string;
  hash: string;
  mac: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** The durable job queue (jobs/queue.ts): one row per job; lease columns say which worker holds it until when. */
export interface JobsTable {
  id: string;
  kind: string;
  project: string | null;
  payload_json: string;
  state: string; // 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
  priority: number;
  attempts: number;
  max_attempts: number;
  idempotency_key: string | null;
  run_after: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_error: string | null;
  result_json: string | null;
  progress_json: string | null;
  cancel_requested: number;
  created_at: string;
  created_by: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface SchemaMigrationsRowCount {
  n: Generated<number>;
}

export interface Database {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  projects: ProjectsTable;
  members: MembersTable;
  datasets: DatasetsTable;
  dataset_versions: DatasetVersionsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  jobs: JobsTable;
}
