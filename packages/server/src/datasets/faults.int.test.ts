// Faults with real processes and sockets: kill -9 mid-push, a flipped byte in storage, a body cut off mid-upload.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { loadConfig } from '../config/config.js';
import { openPlatform } from '../platform.js';
import { startServer } from '../server/serve.js';
import { runCli, startServerProcess } from '../test-support/process.js';

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

/** Sends a request head and part of a body on a raw socket, then calls `after` with the socket still open. */
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

describe('faults', () => {
  it('kill -9 of the server in the middle of a push leaves no partial version; the next push succeeds', async () => {
    const data = tmp();
    const created = await runCli(['admin', 'create-user', 'root', '--admin', '--data', data, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const { token } = JSON.parse(created.stdout) as { token: string };
    let server = await startServerProcess(['--data', data]);
    expect((await apiJson(server.url, token, 'POST', '/projects', { slug: 'p', name: 'P' })).status).toBe(201);

    const sock = await partialUpload(server.url, token, '/projects/p/datasets/labs/versions', 50_000_000, 5_000_000);
    expect(await server.stop('SIGKILL')).toBe(null);
    sock.destroy();

    server = await startServerProcess(['--data', data]);
    try {
      const log = await apiJson(server.url, token, 'GET', '/projects/p/datasets');
      expect(log.body).toEqual({ datasets: [] });
      // Every published object is complete and verifies; partial bytes live only under tmp/, never under objects/.
      const cfg = loadConfig({ env: {}, flags: { dataDir: data } });
      const platform = await openPlatform(cfg);
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
    } finally {
      await server.stop();
    }
  });

  it('a body cut off mid-upload stores nothing and answers nothing half-written', async () => {
    const data = tmp();
    const config = loadConfig({ env: {}, flags: { dataDir: data, port: 0 } });
    const srv = await startServer(config, { print: () => undefined, logger: false });
    try {
      const admin = await srv.platform.auth.createUser('root', { admin: true, actor: 'test' });
      const tok = (await srv.platform.auth.issueToken(admin.user.id, 't', 'api', 3600_000)).token;
      await apiJson(srv.url, tok, 'POST', '/projects', { slug: 'p', name: 'P' });
      const sock = await partialUpload(srv.url, tok, '/projects/p/datasets/labs/versions', 10_000_000, 200_000);
      sock.destroy();
      await new Promise((r) => setTimeout(r, 500));
      expect((await srv.platform.store.db.selectFrom('dataset_versions').selectAll().execute()).length).toBe(0);
      expect(readdirSync(path.join(data, 'objects', 'tmp')).length).toBe(0);
      const ev = await srv.platform.audit.list({ action: 'dataset.push' });
      expect(ev.events[0]).toMatchObject({ outcome: 'failure' });
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
      const data = tmp();
      const config = loadConfig({ env: {}, flags: { dataDir: data, port: 0 } });
      const srv = await startServer(config, { print: () => undefined, logger: false });
      try {
        const admin = await srv.platform.auth.createUser('root', { admin: true, actor: 'test' });
        const tok = (await srv.platform.auth.issueToken(admin.user.id, 't', 'api', 3600_000)).token;
        await apiJson(srv.url, tok, 'POST', '/projects', { slug: 'p', name: 'P' });
        const csv = 'a,b\n' + Array.from({ length: rows }, (_, i) => `${i},${i * 2}`).join('\n') + '\n';
        const push = await fetch(`${srv.url}/api/v1/projects/p/datasets/d/versions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/csv' },
          body: csv,
        });
        const pushed = (await push.json()) as { version: { contentDigest: string } };
        expect(push.status, JSON.stringify(pushed)).toBe(201);
        const digest = pushed.version.contentDigest;
        const hex = digest.slice(7);
        const file = path.join(data, 'objects', 'objects', 'sha256', hex.slice(0, 2), hex.slice(2));
        const objFile = existsSync(file) ? file : findObjectFile(path.join(data, 'objects'), hex);
        chmodSync(objFile, 0o644);
        const bytes = readFileSync(objFile);
        bytes[1000] = bytes[1000]! ^ 0x01;
        writeFileSync(objFile, bytes);

        const out: string[] = [];
        const err: string[] = [];
        const target = path.join(data, 'out.csv');
        const code = await main(['node', 'ichigen', 'dataset', 'pull', 'p/d@1', target], {
          out: (s) => out.push(s),
          err: (s) => err.push(s),
          env: { ICHIGEN_URL: srv.url, ICHIGEN_TOKEN: tok, ICHIGEN_CONFIG_HOME: data },
        });
        expect(code).toBe(1);
        expect(err.join('\n')).toMatch(/INTEGRITY_ERROR/);
        expect(existsSync(target)).toBe(false);
        expect(readdirSync(data).filter((f) => f.includes('.part'))).toEqual([]);
        await new Promise((r) => setTimeout(r, 200));
        const ev = await srv.platform.audit.list({ action: 'dataset.download' });
        expect(ev.events.some((e) => e.outcome === 'failure' && e.details.code === 'INTEGRITY_ERROR')).toBe(true);
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
