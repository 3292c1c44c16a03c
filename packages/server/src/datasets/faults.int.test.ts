// Faults with real processes and sockets: kill -9 mid-push, a flipped byte in storage, a body cut off mid-upload.
// Each runs on the embedded back end (SQLite + filesystem) and the scale-out one (PostgreSQL + S3, with s3rver on
// loopback standing in for the S3 service).
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/audit.js';
import { main } from '../cli/main.js';
import { loadConfig, type Config } from '../config/config.js';
import { openPlatform } from '../platform.js';
import { startServer, type RunningServer } from '../server/serve.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../test-support/platform.js';
import { runCli, startServerProcess } from '../test-support/process.js';
import { startS3rver, type RunningS3rver } from '../test-support/s3rver.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ichigen-fault-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function apiJson(url: string, token: string, method: string, p: string, body?: unknown) {
  const r = await fetch(`${url}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> | null };
}

/** Sends a request head and part of a body on a raw socket, then resolves with the socket still open. */
function partialUpload(url: string, token: string, p: string, total: number, send: number): Promise<net.Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(
        `POST /api/v1${p} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: text/csv\r\nContent-Length: ${total}\r\n\r\n`,
      );
      const line = 'P0001,2026-01-01,HbA1c,7.1,%\n';
      let sent = 0;
      s.write('patient_id,date,test,value,unit\n');
      sent += 32;
      while (sent + line.length < send) {
        s.write(line);
        sent += line.length;
      }
      setTimeout(() => resolve(s), 300);
    });
    s.on('error', reject);
  });
}

/** Polls `probe` until it returns something other than undefined; fails after `ms`. */
/** An in-process server on `config` with an administrator's API token and an empty project `p`. */
async function serveWithProject(config: Config): Promise<{ srv: RunningServer; tok: string }> {
  const srv = await startServer(config, { print: () => undefined, logger: false });
  const admin = await srv.platform.auth.createUser('root', { admin: true, actor: 'test' });
  const tok = (await srv.platform.auth.issueToken(admin.user.id, 't', 'api', 3600_000)).token;
  await apiJson(srv.url, tok, 'POST', '/projects', { slug: 'p', name: 'P' });
  return { srv, tok };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const BACKENDS: { dialect: TestDialect; store: 'fs' | 's3' }[] = [
  { dialect: 'sqlite', store: 'fs' },
  { dialect: 'postgres', store: 's3' },
];

describe.each(BACKENDS)('faults on $dialect + $store', ({ dialect, store }) => {
  let s3: RunningS3rver | undefined;
  let s3client: S3Client | undefined;
  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  const databases: TestDatabase[] = [];
  let n = 0;

  beforeAll(async () => {
    if (store !== 's3') return;
    // multipartCleanup: s3rver itself cannot list or abort multipart uploads, which the start-up sweep uses.
    s3 = await startS3rver('ichigen-faults', { multipartCleanup: true });
    s3client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    // In-process servers read S3 credentials from the environment, as in production.
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  });
  afterAll(async () => {
    for (const db of databases) await db.drop();
    s3client?.destroy();
    await s3?.stop();
    if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
    if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  });

  /** A data directory, a throw-away database and (on S3) a key prefix of its own; `env` configures a child process. */
  async function backend() {
    const data = tmp();
    const db = await createTestDatabase(dialect, data);
    databases.push(db);
    const prefix = `t${++n}`;
    const env: Record<string, string> = { ICHIGEN_DATABASE_URL: db.url };
    if (s3) {
      env.ICHIGEN_OBJECT_STORE = `s3://${s3.bucket}/${prefix}?endpoint=${s3.endpoint}&region=us-east-1`;
      env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    }
    const config: Config = loadConfig({ env, flags: { dataDir: data, port: 0 } });
    const objectKey = (hex: string) => `${prefix}/objects/sha256/${hex}`;

    /** Temporary objects of unfinished writes: files in the store's tmp/, or S3 uploads and keys under tmp/. */
    const leftovers = async (): Promise<string[]> => {
      if (!s3 || !s3client) {
        const dir = path.join(data, 'objects', 'tmp');
        return existsSync(dir) ? readdirSync(dir) : [];
      }
      const uploads = (await s3.uploadsInProgress()).filter((u) => u.key.startsWith(`${prefix}/tmp/`));
      const listed = await s3client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/tmp/` }));
      return [...uploads.map((u) => `upload ${u.key}`), ...(listed.Contents ?? []).map((o) => `object ${o.Key}`)];
    };
    /** Makes every leftover look two hours old: the start-up sweep spares younger ones, whose writer may be busy. */
    const ageLeftovers = async () => {
      const old = new Date(Date.now() - 2 * 3600_000);
      if (!s3) {
        const dir = path.join(data, 'objects', 'tmp');
        for (const f of readdirSync(dir)) utimesSync(path.join(dir, f), old, old);
        return;
      }
      for (const u of await s3.uploadsInProgress()) utimesSync(path.join(u.dir, 'key'), old, old);
    };
    /** Flips one bit of a stored object behind the platform's back. */
    const flipByte = async (hex: string, at: number) => {
      if (!s3 || !s3client) {
        const file = path.join(data, 'objects', 'objects', 'sha256', hex.slice(0, 2), hex.slice(2));
        const objFile = existsSync(file) ? file : findObjectFile(path.join(data, 'objects'), hex);
        chmodSync(objFile, 0o644);
        const bytes = readFileSync(objFile);
        bytes[at] = bytes[at]! ^ 0x01;
        writeFileSync(objFile, bytes);
        return;
      }
      const got = await s3client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: objectKey(hex) }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      bytes[at] = bytes[at]! ^ 0x01;
      await s3client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: objectKey(hex), Body: bytes }));
    };
    return { data, env, config, leftovers, ageLeftovers, flipByte };
  }

  it('kill -9 of the server in the middle of a push leaves no partial version; restart sweeps the leftovers; the next push succeeds', async () => {
    const b = await backend();
    const created = await runCli(['admin', 'create-user', 'root', '--admin', '--data', b.data, '--json'], b.env);
    expect(created.code, created.stderr).toBe(0);
    const { token } = JSON.parse(created.stdout) as { token: string };
    let server = await startServerProcess(['--data', b.data], b.env);
    let restarted = false;
    try {
      expect((await apiJson(server.url, token, 'POST', '/projects', { slug: 'p', name: 'P' })).status).toBe(201);

      // 20 MB of a 50 MB body: more than one 8 MiB S3 part, so the S3 adapter has begun its multipart upload.
      const sock = await partialUpload(server.url, token, '/projects/p/datasets/labs/versions', 50_000_000, 20_000_000);
      // The push is in progress: its temporary object exists (a tmp/ file, or an S3 upload to a tmp/ key).
      const inFlight = await eventually('a temporary object of the push', async () => {
        const l = await b.leftovers();
        return l.length > 0 ? l : undefined;
      });
      expect(inFlight.length).toBeGreaterThan(0);
      expect(await server.stop('SIGKILL')).toBe(null);
      sock.destroy();
      // A killed process cleans nothing up: the temporary object is still there.
      expect(await b.leftovers()).toEqual(expect.arrayContaining([inFlight[0]]));

      // Restarting later than the sweep's age limit removes it (younger ones are spared: a writer may be busy).
      await b.ageLeftovers();
      server = await startServerProcess(['--data', b.data], b.env);
      restarted = true;
      expect(server.output()).toMatch(/removed [1-9]\d* incomplete upload\(s\) left by an earlier crash/);
      expect(await b.leftovers()).toEqual([]);

      const log = await apiJson(server.url, token, 'GET', '/projects/p/datasets');
      expect(log.body).toEqual({ datasets: [] });
      // Every published object is complete and verifies, and no version row exists.
      const platform = await openPlatform(b.config);
      try {
        for await (const d of platform.objects.list()) await platform.objects.getBytes(d);
        const versions = await platform.store.db.selectFrom('dataset_versions').selectAll().execute();
        expect(versions).toHaveLength(0);
      } finally {
        await platform.close();
      }
      const ok = await fetch(`${server.url}/api/v1/projects/p/datasets/labs/versions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
        body: 'a,b\n1,2\n',
      });
      expect(ok.status).toBe(201);
      expect(await b.leftovers()).toEqual([]);
    } finally {
      if (restarted) await server.stop();
    }
  });

  it('a body cut off mid-upload stores nothing and answers nothing half-written', async () => {
    const b = await backend();
    const { srv, tok } = await serveWithProject(b.config);
    try {
      const sock = await partialUpload(srv.url, tok, '/projects/p/datasets/labs/versions', 10_000_000, 200_000);
      sock.destroy();
      const ev = await eventually('the failed push event', async () => {
        const e = await srv.platform.audit.list({ action: 'dataset.push' });
        return e.events.length > 0 ? e.events : undefined;
      });
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ outcome: 'failure' });
      expect((await srv.platform.store.db.selectFrom('dataset_versions').selectAll().execute()).length).toBe(0);
      expect(
        await eventually('no leftovers', async () => ((await b.leftovers()).length === 0 ? true : undefined)),
      ).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('a client that goes away mid-download: the read was audited before it began, and the break-off as a failure', async () => {
    const b = await backend();
    const { srv, tok } = await serveWithProject(b.config);
    try {
      // About 24 MB: more than loopback socket buffers hold, so the server is still sending when the client leaves.
      const csv = 'a,b\n' + Array.from({ length: 1_500_000 }, (_, i) => `${i},${i * 2}`).join('\n') + '\n';
      const push = await fetch(`${srv.url}/api/v1/projects/p/datasets/d/versions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/csv' },
        body: csv,
      });
      expect(push.status).toBe(201);
      const u = new URL(srv.url);
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(Number(u.port), u.hostname, () => {
          s.write(
            `GET /api/v1/projects/p/datasets/d/versions/1/content HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${tok}\r\n\r\n`,
          );
        });
        s.once('data', () => {
          s.destroy();
          resolve();
        });
        s.on('error', reject);
      });
      const events = await eventually('the failure event', async () => {
        const e = await srv.platform.audit.list({ action: 'dataset.download' });
        return e.events.length > 1 ? e.events : undefined;
      });
      // Newest first: the break-off, then the read itself (written before the first byte was sent).
      expect(events.map((e) => [e.target, e.outcome, e.details.code])).toEqual([
        ['dataset:p/d@1', 'failure', 'CLIENT_CLOSED'],
        ['dataset:p/d@1', 'success', undefined],
      ]);
    } finally {
      await srv.close();
    }
  });

  it.each([
    ['small (fails before the first byte)', 5_000],
    ['large (fails mid-stream)', 400_000],
  ])(
    'a flipped byte in a stored %s object: pull fails with an integrity error, leaves no file, and is audited',
    async (_what, rows) => {
      const b = await backend();
      const { srv, tok } = await serveWithProject(b.config);
      try {
        const csv = 'a,b\n' + Array.from({ length: rows }, (_, i) => `${i},${i * 2}`).join('\n') + '\n';
        const push = await fetch(`${srv.url}/api/v1/projects/p/datasets/d/versions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/csv' },
          body: csv,
        });
        const pushed = (await push.json()) as { version: { contentDigest: string } };
        expect(push.status, JSON.stringify(pushed)).toBe(201);

        const downloads = async (): Promise<AuditEvent[]> =>
          (await srv.platform.audit.list({ action: 'dataset.download' })).events.filter(
            (e) => e.target === 'dataset:p/d@1',
          );
        const pull = async (target: string) => {
          const err: string[] = [];
          const code = await main(['node', 'ichigen', 'dataset', 'pull', 'p/d@1', target], {
            out: () => undefined,
            err: (s) => err.push(s),
            env: { ICHIGEN_URL: srv.url, ICHIGEN_TOKEN: tok, ICHIGEN_CONFIG_HOME: b.data },
          });
          return { code, err: err.join('\n') };
        };

        // Intact: saved, and exactly one event, written before the first byte was sent.
        const good = path.join(b.data, 'good.csv');
        expect(await pull(good)).toEqual({ code: 0, err: '' });
        expect(readFileSync(good, 'utf8')).toBe(csv);
        expect((await downloads()).map((e) => e.outcome)).toEqual(['success']);

        await b.flipByte(pushed.version.contentDigest.slice('sha256:'.length), 1000);
        const target = path.join(b.data, 'out.csv');
        const r = await pull(target);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(/INTEGRITY_ERROR/);
        expect(existsSync(target)).toBe(false);
        expect(readdirSync(b.data).filter((f) => f.includes('.part'))).toEqual([]);
        // The failure is recorded when the stream fails, which may be just after the client gave up.
        // The read was audited before its first byte could leave (newest first: the failure, that event, the intact
        // pull's); the digest check then failed — before any byte was sent for the small object, mid-stream for the
        // large one.
        const events = await eventually('the failed download event', async () => {
          const e = await downloads();
          return e.length > 2 ? e : undefined;
        });
        expect(events.map((e) => [e.outcome, e.details.code])).toEqual([
          ['failure', 'INTEGRITY_ERROR'],
          ['success', undefined],
          ['success', undefined],
        ]);
      } finally {
        await srv.close();
      }
    },
  );
});

function findObjectFile(root: string, hex: string): string {
  const stack = [root];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (p.replace(/[/\\]/g, '').endsWith(hex)) return p;
    }
  }
  throw new Error(`object ${hex} not found under ${root}`);
}
