// The quickstart journey through the real CLI code against a real listening server, plus the binary itself:
// `serve` answers /healthz and stops on SIGTERM, and `admin create-user --json` prints the documented shape.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { runWorkerProcess } from '../jobs/run.js';
import { startServer, type RunningServer, type ServeReady } from '../server/serve.js';
import { cohortCsv } from '../test-support/cohort.js';
import { BIN, runCli, startServerProcess } from '../test-support/process.js';
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

  it('with --json, usage errors and the openapi, serve and worker start-up lines are JSON too', async () => {
    // Usage errors happen before any action runs: still one JSON document on stdout, the usage text on stderr.
    for (const args of [
      ['dataset', 'push', '--json'], // a missing argument
      ['dataset', 'log', 'diabetes/labs', '--json', '--bogus'], // an unknown option
      ['no-such-command', '--json'],
    ]) {
      const r = await run(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(JSON.parse(r.out), args.join(' ')).toEqual({ error: { code: 'USAGE', message: expect.any(String) } });
      expect(r.err.length).toBeGreaterThan(0);
    }
    const human = await run('dataset', 'push');
    expect(human.code).toBe(1);
    expect(human.out).toBe('');
    expect(human.err).toMatch(/missing required argument/);
    // Help is an answer, not an error.
    const help = await run('--help', '--json');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: ichigen');

    const file = path.join(dir, 'openapi.json');
    const oa = await run('openapi', '--out', file, '--json');
    expect(oa.code).toBe(0);
    expect(JSON.parse(oa.out)).toEqual({ written: file, bytes: statSync(file).size });

    // serve --json: one line when ready, with the one-time password on a first start and no human text.
    const data = path.join(dir, 'json-serve');
    const lines: string[] = [];
    let info: ServeReady | undefined;
    const s = await startServer(loadConfig({ env: {}, flags: { dataDir: data, port: 0 } }), {
      print: (l) => lines.push(l),
      ready: (i) => (info = i),
      logger: false,
      worker: false,
    });
    try {
      expect(lines).toEqual([]);
      expect(info).toMatchObject({ event: 'ready', url: s.url, database: 'SQLite', objects: 'fs', sweptUploads: 0 });
      expect(info!.admin).toEqual({ user: 'admin', password: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/) });
    } finally {
      await s.close();
    }
    // worker --json: its start-up line is a JSON object.
    const out: string[] = [];
    const stop = new AbortController();
    const w = runWorkerProcess(loadConfig({ env: { ICHIGEN_LOG_LEVEL: 'silent' }, flags: { dataDir: data } }), {
      print: (l) => {
        out.push(l);
        stop.abort();
      },
      json: true,
      stop: stop.signal,
      graceMs: 1000,
    });
    await w;
    expect(JSON.parse(out[0]!)).toMatchObject({ event: 'ready', worker: expect.any(String), database: 'SQLite' });
  });

  it('`audit verify` exits 1 and names the first broken link after a database edit (run last: it breaks the chain)', async () => {
    const ok = await run('audit', 'verify');
    expect([ok.code, ok.out]).toEqual([0, expect.stringMatching(/^audit chain intact: \d+ events verified$/)]);
    const db = srv.platform.store.db;
    const victim = await db
      .selectFrom('audit_events')
      .select('seq')
      .orderBy('seq')
      .offset(3)
      .limit(1)
      .executeTakeFirstOrThrow();
    await db.updateTable('audit_events').set({ actor: 'mallory' }).where('seq', '=', victim.seq).execute();
    const human = await run('audit', 'verify');
    expect(human.code).toBe(1);
    expect(human.out).toMatch(new RegExp(`^AUDIT CHAIN BROKEN at event ${Number(victim.seq)}: .*edited`));
    const r = await run('audit', 'verify', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, firstBroken: { seq: Number(victim.seq) } });
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

  it('a server whose stdout reader went away (serve --json | head -1) keeps serving and stops cleanly', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bin-'));
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', String(port), '--data', data], {
      env: { ...process.env, ICHIGEN_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // the reader is gone before the first line: the ready line and every log line hit EPIPE
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = `http://127.0.0.1:${port}`;
      let up = false;
      for (let i = 0; i < 300 && !up && child.exitCode === null; i++) {
        up = await fetch(`${url}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      expect(up, stderr).toBe(true);
      for (let i = 0; i < 3; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200); // each logged
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).not.toMatch(/EPIPE|Unhandled 'error' event/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
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
        // The banner names the URL, so the command it suggests works as printed.
        expect(server.output()).toContain(`ichigen login --url ${server.url} --user admin`);

        // In a script both passwords come on standard input, one line each.
        const config = path.join(data, 'config');
        const login = await runCli(
          ['login', '--url', server.url, '--user', 'admin'],
          { ICHIGEN_CONFIG_HOME: config },
          `${server.adminPassword}\nthe admin's new password\n`,
        );
        expect(login.code, login.stderr).toBe(0);
        expect(login.stdout).toContain('logged in');
        const whoami = await runCli(['whoami'], { ICHIGEN_CONFIG_HOME: config });
        expect(whoami.stdout.trim()).toBe('admin (administrator)');
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('a port in use stops start-up with one line, and the first admin is created on the start that listens', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bin-'));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const r = await runCli(['serve', '--data', data, '--port', String(port)], { ICHIGEN_LOG_LEVEL: 'warn' });
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('One-time password');
      expect(r.stderr.trim()).toBe(
        `ichigen: port ${port} on 127.0.0.1 is already in use (another server?): choose another with --port or ICHIGEN_PORT (PORT_IN_USE)`,
      );
      // The password of the failed start was never shown, so the next start must still create the admin.
      const server = await startServerProcess(['--data', data]);
      try {
        expect(server.adminPassword).toMatch(/^[A-Za-z0-9_-]{20,}$/);
      } finally {
        await server.stop();
      }
    } finally {
      blocker.close();
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('ichigen CLI: policy, study, model, approval, prediction and lineage', () => {
  let srv: RunningServer;
  let dir: string;
  const tokens: Record<string, string> = {};

  /** Runs the CLI as `who` (ICHIGEN_URL + ICHIGEN_TOKEN, no stored login). */
  const run = async (who: string, ...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['node', 'ichigen', ...args], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: { ICHIGEN_URL: srv.url, ICHIGEN_TOKEN: tokens[who]!, ICHIGEN_CONFIG_HOME: path.join(dir, 'nowhere') },
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const json = async <T = Record<string, unknown>>(who: string, ...args: string[]) => {
    const r = await run(who, ...args, '--json');
    expect(r.code, `${args.join(' ')}: ${r.out} ${r.err}`).toBe(0);
    return JSON.parse(r.out) as T;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-cli-ml-'));
    srv = await startServer(loadConfig({ env: {}, flags: { dataDir: path.join(dir, 'data'), port: 0 } }), {
      print: () => undefined,
      logger: false,
    });
    const auth = srv.platform.auth;
    for (const name of ['owner', 'sci', 'appr']) {
      const { user } = await auth.createUser(name, { admin: name === 'owner', actor: 'test' });
      tokens[name] = (await auth.issueToken(user.id, 'test', 'api', 3600_000)).token;
    }
    await json('owner', 'project', 'create', 'diabetes', '--name', 'Diabetes');
    await json('owner', 'project', 'add-member', 'diabetes', 'sci', '--role', 'scientist');
    await json('owner', 'project', 'add-member', 'diabetes', 'sci', '--role', 'steward');
    await json('owner', 'project', 'add-member', 'diabetes', 'appr', '--role', 'approver');
  });
  afterAll(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('trains on a push, watches the study, approves with two people, predicts in order, and traces lineage', async () => {
    const csv = path.join(dir, 'cohort.csv');
    writeFileSync(csv, cohortCsv({ patients: 300, seed: 4 }));
    // A first version, then the policy: the next version trains by itself.
    expect(
      (await json<{ studiesStarted?: string[] }>('sci', 'dataset', 'push', 'diabetes/cohort', csv)).studiesStarted ??
        [],
    ).toEqual([]);
    writeFileSync(csv, cohortCsv({ patients: 400, seed: 5 }));
    const pol = await json<{ revision: number; spec: Record<string, unknown> }>(
      'sci',
      'policy',
      'set',
      'diabetes/cohort',
      '--target',
      'responder',
      '--group',
      'patient_id',
      '--exclude',
      'patient_id,index_date',
      '--subgroups',
      'drug_class',
      '--algorithms',
      'gbdt',
      '--trials',
      '4',
      '--folds',
      '3',
      '--model',
      'oral-response',
      '--on-new-version',
    );
    expect(pol.revision).toBe(1);
    expect(pol.spec).toMatchObject({ trials: 4, folds: 3, subgroups: ['drug_class'], onNewVersion: true });
    expect((await run('sci', 'policy', 'set', 'diabetes/cohort', '--target', 'responder', '--folds', '1')).err).toMatch(
      /INVALID_POLICY/,
    );
    // The push starts the study by itself.
    const pushed = await json<{ studiesStarted: string[] }>('sci', 'dataset', 'push', 'diabetes/cohort', csv);
    expect(pushed.studiesStarted).toHaveLength(1);
    const listed = await json<{ studies: { id: string; dataset: string }[] }>('sci', 'study', 'list', 'diabetes');
    expect(listed.studies.map((s) => s.id)).toContain(pushed.studiesStarted[0]);

    // `study watch` follows it to the end and exits 0 because it succeeded.
    const watched = await run('sci', 'study', 'watch', `diabetes/${pushed.studiesStarted[0]}`, '--interval', '0.2');
    expect(watched.code, watched.err).toBe(0);
    expect(watched.out).toMatch(/succeeded\s+trials 4\/4/);
    expect(watched.out).toContain('→ oral-response@1');
    expect(watched.err).toMatch(/running: \d\/4 trials|queued/);

    const versions = await json<{ versions: { model: string; version: number; stage: string }[] }>(
      'appr',
      'model',
      'list',
      'diabetes',
    );
    expect(versions.versions).toEqual([
      expect.objectContaining({ model: 'oral-response', version: 1, stage: 'candidate' }),
    ]);
    const shown = await run('appr', 'model', 'show', 'diabetes/oral-response@1');
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('## Subgroups');
    expect(shown.out).toContain('drug_class');
    // The holdout (80 rows) splits into four drug classes of about 20: each is flagged as too small in the card.
    const card = await json<{
      metrics: { subgroups: { column: string; group: string; n: number; flagged: boolean }[] };
      cardMarkdown: string;
    }>('appr', 'model', 'show', 'diabetes/oral-response@1');
    const drugs = card.metrics.subgroups.filter((g) => g.column === 'drug_class');
    expect(drugs.length).toBe(4);
    for (const g of drugs) expect(g.flagged).toBe(g.n < 30);
    expect(drugs.some((g) => g.flagged)).toBe(true);
    expect(card.cardMarkdown).toMatch(
      /Subgroups with too few patients for stable estimates: .*drug_class=\w+ \(n=\d+, fewer than 30 patients\)/,
    );
    expect(shown.out).toContain('## Stage: candidate');

    // Two people: the scientist who trained it may not approve it; the approver may.
    expect((await run('sci', 'model', 'approve', 'diabetes/oral-response@1', '--reason', 'mine')).code).toBe(1);
    const approved = await run('appr', 'model', 'approve', 'diabetes/oral-response@1', '--reason', 'validated');
    expect(approved.code, approved.err).toBe(0);
    expect(approved.out).toBe('approved oral-response@1');

    // Predict: one line per input row, in input order, each with its own probability.
    const [header, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
    const picked = [rows[3]!, rows[0]!, rows[7]!];
    const rowsFile = path.join(dir, 'rows.csv');
    writeFileSync(rowsFile, [header, ...picked].join('\n') + '\n');
    const preds = await json<{ predictions: { probability: number }[] }>(
      'sci',
      'predict',
      'diabetes/oral-response@1',
      rowsFile,
    );
    expect(preds.predictions).toHaveLength(3);
    for (const [i, line] of picked.entries()) {
      writeFileSync(rowsFile, `${header}\n${line}\n`);
      const one = await json<{ predictions: { probability: number }[] }>(
        'sci',
        'predict',
        'diabetes/oral-response@1',
        rowsFile,
      );
      expect(one.predictions[0]!.probability).toBe(preds.predictions[i]!.probability);
    }
    const table = await run('sci', 'predict', 'diabetes/oral-response@1', rowsFile);
    expect(table.out).toMatch(/^ROW\s+PROBABILITY\s+LABEL/);

    // Batch scoring waits for its job and reports progress on stderr, each state once.
    const scored = await run('sci', 'score', 'diabetes/oral-response@1', '--input', 'cohort@2', '--output', 'scores');
    expect(scored.code, scored.err).toBe(0);
    expect(scored.out).toMatch(/^400 rows scored \(\d+ above the threshold\) → diabetes\/scores@1$/);
    const progress = scored.err.split('\n').filter((l) => l.startsWith('scored '));
    expect(progress).toContain('scored 400/400 rows');
    expect(new Set(progress).size).toBe(progress.length);

    const lineage = await run('sci', 'lineage', 'diabetes/oral-response@1', '--model', '--direction', 'upstream');
    expect(lineage.code, lineage.err).toBe(0);
    expect(lineage.out).toMatch(/dataset version cohort@2 .*--studied-by-->\s+study/);
    expect(lineage.out).toMatch(/--produced-->\s+model version oral-response@1/);
    expect(lineage.out).not.toMatch(/\bstudy study\b/); // the kind is said once

    const downstream = await run('sci', 'lineage', 'diabetes/oral-response@1', '--model', '--direction', 'downstream');
    expect(downstream.out).toMatch(/--predicted-->\s+\d+ predictions \{/);
  });

  it('`study watch` exits 1 when the study fails, with the error', async () => {
    const csv = path.join(dir, 'one-class.csv');
    writeFileSync(csv, cohortCsv({ patients: 60, seed: 1, singleClass: true }));
    await json('sci', 'dataset', 'push', 'diabetes/oneclass', csv);
    await json('sci', 'policy', 'set', 'diabetes/oneclass', '--target', 'responder', '--trials', '2', '--folds', '3');
    const s = await json<{ id: string }>('sci', 'study', 'start', 'diabetes/oneclass@1');
    const watched = await run('sci', 'study', 'watch', `diabetes/${s.id}`, '--interval', '0.2');
    expect(watched.code).toBe(1);
    expect(watched.out).toMatch(/failed/);
    expect(watched.out).toMatch(/error: .*only one class/);
  });
});
