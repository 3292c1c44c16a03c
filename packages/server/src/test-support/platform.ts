// Test harness: a real platform on a throw-away SQLite file or a throw-away PostgreSQL database on 127.0.0.1:5432,
// with a temporary data directory. The same suites run on both dialects.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, type Config } from '../config/config.js';
import { buildApp, type App } from '../http/app.js';
import { openPlatform, type Platform } from '../platform.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type TestDialect = (typeof DIALECTS)[number];

export const PG_ADMIN_URL = process.env.ICHIGEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database for one test file and drops it afterwards. */
export async function createTestDatabase(dialect: TestDialect, dir: string): Promise<TestDatabase> {
  if (dialect === 'sqlite') return { url: `sqlite:${path.join(dir, 'meta.sqlite')}`, drop: async () => undefined };
  const name = `ichigen_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface TestPlatform {
  platform: Platform;
  app: App;
  config: Config;
  dir: string;
  /** An administrator's token and name. */
  admin: { name: string; token: string };
  /** Creates a user (password already changed) and returns a token for it. */
  user(name: string, opts?: { admin?: boolean }): Promise<{ name: string; token: string; password: string }>;
  close(): Promise<void>;
}

export async function makeTestPlatform(dialect: TestDialect, overrides: Partial<Config> = {}): Promise<TestPlatform> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ichigen-test-${dialect}-`));
  const db = await createTestDatabase(dialect, dir);
  const config = { ...loadConfig({ env: {}, cwd: dir, flags: { dataDir: dir, databaseUrl: db.url } }), ...overrides };
  const platform = await openPlatform(config);
  const app = await buildApp(platform, { logger: false });
  const user = async (name: string, opts: { admin?: boolean } = {}) => {
    const { user: u, password } = await platform.auth.createUser(name, { admin: opts.admin ?? false, actor: 'test' });
    await platform.store.db.updateTable('users').set({ must_change_password: 0 }).where('id', '=', u.id).execute();
    const t = await platform.auth.issueToken(u.id, 'test', 'api', 3600_000);
    return { name, token: t.token, password };
  };
  const admin = await user('admin', { admin: true });
  return {
    platform,
    app,
    config,
    dir,
    admin,
    user,
    async close() {
      await app.close();
      await platform.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `Authorization` header for a token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * Pushes the two-row placeholder dataset `cohort` of `project` as the admin (the data version `registerDiabetesModel`
 * links a registered model to); returns the response.
 */
export const pushPlaceholderCohort = (t: TestPlatform, project: string) =>
  t.app.inject({
    method: 'POST',
    url: `/api/v1/projects/${project}/datasets/cohort/versions`,
    headers: { ...bearer(t.admin.token), 'content-type': 'text/csv' },
    payload: 'patient_id,age\nP1,50\nP2,60\n',
  });
