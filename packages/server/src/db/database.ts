// The MetadataStore: a Kysely instance over better-sqlite3 (embedded) or pg (scale-out), chosen once from config.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { AppError } from '../errors.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface MetadataStore {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  close(): Promise<void>;
}

// pg returns int8 (bigint) as strings by default; our counts and sizes fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

export function openMetadataStore(databaseUrl: string): MetadataStore {
  if (databaseUrl.startsWith('sqlite:')) {
    const file = databaseUrl.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 10000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    // An idle pooled connection that the server drops (restart, failover, admin termination) emits 'error' on the
    // pool; without a listener that would crash the process. The pool discards it and reconnects on next use.
    pool.on('error', () => undefined);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  throw new AppError('CONFIG_INVALID', 500, 'invalid setting databaseUrl: must be sqlite:<file> or postgres://…');
}

/**
 * Kysely prepares every query anew; on the hot paths (token lookup, predictions, audit) preparing costs more than
 * running. This keeps prepared statements by SQL text (bounded); a statement still iterating is never handed out.
 */
function withStatementCache(sqlite: SqliteDatabase.Database) {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sqlText: string) {
      const hit = cache.get(sqlText);
      if (hit && !hit.busy) return hit;
      const st = sqlite.prepare(sqlText);
      if (!hit) {
        if (cache.size >= 1000) cache.clear();
        cache.set(sqlText, st);
      }
      return st;
    },
  };
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(store: MetadataStore): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const msg = error instanceof Error ? error.message : String(error);
    throw new AppError('MIGRATION_FAILED', 500, `database migration failed: ${msg}`, undefined, error);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when the error is a unique-constraint violation in either dialect. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err.code === '23505' || err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
