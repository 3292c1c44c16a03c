// The quickstart journey through the real CLI code against a real listening server, plus the binary itself:
// `serve` answers /healthz and stops on SIGTERM, and `admin create-user --json` prints the documented shape.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { startServer, type RunningServer } from '../server/serve.js';
import { runCli, startServerProcess } from '../test-support/process.js';
import { main } from './main.js';

describe('ichigen CLI against a running server', () => {
  let srv: RunningServer;
  let dir: string;
  let adminPassword = '';
  const env: Record<string, string> = {};

  const run = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['node', 'ichigen', ...args], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: { ...env },
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const json = async (...args: string[]) => {
    const r = await run(...args, '--json');
    expect(r.code, `${args.join(' ')}: ${r.out} ${r.err}`).toBe(0);
    return JSON.parse(r.out) as Record<string, unknown>;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-cli-'));
    const lines: string[] = [];
    srv = await startServer(loadConfig({ env: {}, flags: { dataDir: path.join(dir, 'data'), port: 0 } }), {
      print: (l) => lines.push(l),
      logger: false,
    });
    adminPassword = /One-time password: (\S+)/.exec(lines.join('\n'))![1]!;
    env.ICHIGEN_CONFIG_HOME = path.join(dir, 'config');
  });
  afterAll(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('walks the steward quickstart', async () => {
    // First login with the one-time password: the CLI asks for a new one (here from the environment).
    env.ICHIGEN_PASSWORD = adminPassword;
    env.ICHIGEN_NEW_PASSWORD = 'a much better admin password';
    const login = await run('login', '--url', srv.url, '--user', 'admin');
    expect(login.code, login.err).toBe(0);
    expect(login.out).toContain('logged in');
    expect(statSync(path.join(dir, 'config', 'credentials.json')).mode & 0o777).toBe(0o600);
    delete env.ICHIGEN_PASSWORD;
    delete env.ICHIGEN_NEW_PASSWORD;

    expect(await json('whoami')).toEqual({ name: 'admin', isAdmin: true });
    await json('project', 'create', 'diabetes', '--name', 'Diabetes: oral hypoglycemic drug response');
    const alice = await json('user', 'create', 'alice');
    expect(alice.user).toBe('alice');
    expect(typeof alice.password).toBe('string');
    await json('project', 'add-member', 'diabetes', 'alice', '--role', 'scientist');
    const members = (await json('project', 'members', 'diabetes')).members as { user: string; role: string }[];
    expect(members).toContainEqual(expect.objectContaining({ user: 'alice', role: 'scientist' }));

    const csv = path.join(dir, 'labs.csv');
    writeFileSync(csv, iconv.encode('患者ID,検査日,HbA1c\nP001,2026-01-05,7.4\nP002,2026-02-11,6.5\n', 'cp932'));
    const pushed = await json(
      'dataset',
      'push',
      'diabetes/labs',
      csv,
      '--encoding',
      'cp932',
      '-m',
      'DWH extract 2026-11',
    );
    expect(pushed).toMatchObject({ created: true, version: { version: 1, rowCount: 2 } });
    writeFileSync(
      csv,
      iconv.encode('患者ID,検査日,HbA1c\nP001,2026-01-05,7.4\nP002,2026-02-11,6.5\nP003,2026-03-01,8.0\n', 'cp932'),
    );
    await json('dataset', 'push', 'diabetes/labs', csv, '--encoding', 'cp932');

    const log = await run('dataset', 'log', 'diabetes/labs');
    expect(log.out).toMatch(/@2\s+admin/);
    expect(log.out).toContain('DWH extract 2026-11');
    const show = await run('dataset', 'show', 'diabetes/labs@2');
    expect(show.code).toBe(0);
    expect(show.out).toContain('HbA1c');
    expect(show.out).toContain('3 rows');
    const showJson = await json('dataset', 'show', 'diabetes/labs@2');
    expect((showJson.schema as { encoding: string }).encoding).toBe('cp932');

    const out = path.join(dir, 'out.csv');
    const pulled = await json('dataset', 'pull', 'diabetes/labs@1', out);
    expect(pulled.digest).toBe((pushed.version as { contentDigest: string }).contentDigest);
    expect(iconv.decode(readFileSync(out), 'cp932')).toContain('P002');

    const files = path.join(dir, 'images');
    writeFileSync(path.join(dir, 'x'), '');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(files, 'p1'), { recursive: true }));
    writeFileSync(path.join(files, 'p1', 'a.dcm'), 'DICM-1');
    writeFileSync(path.join(files, 'b.dcm'), 'DICM-2');
    const fpush = await json('dataset', 'push', 'diabetes/cxr', files);
    expect(fpush).toMatchObject({ created: true, version: { kind: 'files', fileCount: 2 } });
    await json('dataset', 'pull', 'diabetes/cxr@latest', path.join(dir, 'images-out'));
    expect(readFileSync(path.join(dir, 'images-out', 'p1', 'a.dcm'), 'utf8')).toBe('DICM-1');

    const verify = await json('audit', 'verify');
    expect(verify.ok).toBe(true);
    const list = await json('audit', 'list', '--project', 'diabetes', '--since', '2000-01-01');
    expect((list.events as { action: string }[]).map((e) => e.action)).toContain('dataset.push');
  });

  it('ICHIGEN_URL and ICHIGEN_TOKEN authenticate without login; errors are one clear line', async () => {
    const r = await run('token', 'create', 'ci', '--json');
    const token = (JSON.parse(r.out) as { token: string }).token;
    const clean = { ICHIGEN_URL: srv.url, ICHIGEN_TOKEN: token, ICHIGEN_CONFIG_HOME: path.join(dir, 'nowhere') };
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['node', 'ichigen', 'project', 'list', '--json'], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: clean,
    });
    expect(code).toBe(0);
    expect(JSON.parse(out.join('\n')).projects[0].slug).toBe('diabetes');
    const bad = await main(['node', 'ichigen', 'dataset', 'show', 'diabetes/nope@1'], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: clean,
    });
    expect(bad).toBe(1);
    expect(err.at(-1)).toMatch(/^ichigen: no dataset "nope" in project diabetes \(DATASET_NOT_FOUND\)$/);
    const badJson = await main(['node', 'ichigen', 'dataset', 'show', 'diabetes/labs@99', '--json'], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: clean,
    });
    expect(badJson).toBe(1);
    expect(JSON.parse(out.at(-1)!)).toEqual({ error: { code: 'VERSION_NOT_FOUND', message: expect.any(String) } });
    const unreachable = await main(['node', 'ichigen', 'whoami'], {
      out: () => undefined,
      err: (s) => err.push(s),
      env: { ...clean, ICHIGEN_URL: 'http://127.0.0.1:9' },
    });
    expect(unreachable).toBe(1);
    expect(err.at(-1)).toContain('SERVER_UNREACHABLE');
  });
});

describe('the ichigen binary', () => {
  it('admin create-user prints user, password and token as JSON, and the token works', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bin-'));
    try {
      const r = await runCli(['admin', 'create-user', 'bob', '--admin', '--data', data, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const body = JSON.parse(r.stdout) as Record<string, string>;
      expect(Object.keys(body).sort()).toEqual(['password', 'token', 'user']);
      expect(body.user).toBe('bob');

      const server = await startServerProcess(['--data', data]);
      try {
        expect(server.adminPassword).toBeUndefined(); // a user exists: no admin is created
        const health = await fetch(`${server.url}/healthz`);
        expect(health.status).toBe(200);
        const me = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${body.token}` } });
        expect(await me.json()).toEqual({ name: 'bob', isAdmin: true });
      } finally {
        expect(await server.stop('SIGTERM')).toBe(0);
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('a bad setting stops start-up with one line naming it', async () => {
    const r = await runCli(['serve', '--data', os.tmpdir()], { ICHIGEN_DATABASE_URL: 'mysql://nope' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ichigen: invalid setting databaseUrl \(ICHIGEN_DATABASE_URL\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('first start prints a one-time admin password that must be changed', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bin-'));
    try {
      const server = await startServerProcess(['--data', data]);
      try {
        expect(server.adminPassword).toMatch(/^[A-Za-z0-9_-]{20,}$/);
        const r = await fetch(`${server.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user: 'admin', password: server.adminPassword }),
        });
        expect(r.status).toBe(403);
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
