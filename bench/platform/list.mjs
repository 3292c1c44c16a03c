// Benchmark: latency of the dataset version list endpoint (a page of 100) with 10,000 versions, on SQLite and
// PostgreSQL, over loopback HTTP. Reports p50/p95/p99 over random pages. Usage: node bench/platform/list.mjs [--versions 10000] [--requests 300]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const root = new URL('../../packages/server/dist/', import.meta.url);
const { loadConfig } = await import(new URL('config/config.js', root));
const { startServer } = await import(new URL('server/serve.js', root));

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--versions') + 1] || 10000);
const R = Number(args[args.indexOf('--requests') + 1] || 300);
const PG = process.env.ICHIGEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function run(dialect) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bench-list-'));
  let databaseUrl = `sqlite:${path.join(dir, 'meta.sqlite')}`;
  let drop = async () => undefined;
  if (dialect === 'postgres') {
    const name = `ichigen_bench_${Date.now()}`;
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    await c.query(`create database ${name}`);
    await c.end();
    const u = new URL(PG);
    u.pathname = `/${name}`;
    databaseUrl = u.toString();
    drop = async () => {
      const d = new pg.Client({ connectionString: PG });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    };
  }
  const srv = await startServer(loadConfig({ env: {}, flags: { dataDir: dir, databaseUrl, port: 0 } }), {
    print: () => undefined,
    logger: false,
  });
  try {
    const { user } = await srv.platform.auth.createUser('bench', { admin: true, actor: 'bench' });
    const { token } = await srv.platform.auth.issueToken(user.id, 'bench', 'api', 3600_000);
    const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    await fetch(`${srv.url}/api/v1/projects`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ slug: 'p', name: 'p' }),
    });
    // One real push, then N-1 version rows that reuse its manifest (the list endpoint reads only rows).
    const first = await fetch(`${srv.url}/api/v1/projects/p/datasets/d/versions`, {
      method: 'POST',
      headers: { ...h, 'content-type': 'text/csv' },
      body: 'a,b\n1,2\n',
    });
    const v1 = (await first.json()).version;
    const ds = await srv.platform.store.db.selectFrom('datasets').select('id').executeTakeFirstOrThrow();
    const base = await srv.platform.store.db.selectFrom('dataset_versions').selectAll().executeTakeFirstOrThrow();
    const rows = [];
    for (let v = 2; v <= N; v++) {
      rows.push({
        ...base,
        id: `bench${v}`,
        version: v,
        parent_version: v - 1,
        content_digest: `sha256:${v.toString(16).padStart(64, '0')}`,
        message: `version ${v}`,
      });
      if (rows.length === 500 || v === N) {
        await srv.platform.store.db.insertInto('dataset_versions').values(rows).execute();
        rows.length = 0;
      }
    }
    void ds;
    void v1;
    const times = [];
    for (let i = 0; i < R + 20; i++) {
      const before = i % 2 === 0 ? undefined : 1 + Math.floor(Math.random() * N);
      const t = process.hrtime.bigint();
      const res = await fetch(
        `${srv.url}/api/v1/projects/p/datasets/d/versions?limit=100${before ? `&before=${before}` : ''}`,
        { headers: h },
      );
      const body = await res.json();
      if (res.status !== 200 || !Array.isArray(body.versions)) throw new Error(JSON.stringify(body));
      if (i >= 20) times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
    return {
      dialect,
      versions: N,
      requests: R,
      p50ms: +q(0.5).toFixed(2),
      p95ms: +q(0.95).toFixed(2),
      p99ms: +q(0.99).toFixed(2),
    };
  } finally {
    await srv.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const out = [];
for (const d of ['sqlite', 'postgres']) out.push(await run(d));
console.log(JSON.stringify({ date: new Date().toISOString(), results: out }, null, 2));
