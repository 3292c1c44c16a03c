// A worker killed with SIGKILL in the middle of a study: after its lease expires another worker process runs the
// study to the end, and exactly one model version exists for it (the registry is idempotent per study). On both
// databases: the embedded SQLite file, and PostgreSQL (a throw-away database) shared by the processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cohortCsv } from '../test-support/cohort.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../test-support/platform.js';
import { BIN, runCli, startServerProcess } from '../test-support/process.js';

describe.each(DIALECTS)('study survives a killed worker (%s)', (dialect) => {
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), `ichigen-study-crash-${dialect}-`));
  let db: TestDatabase;
  /** Every process (CLI, server, workers) gets the same database. */
  let env: Record<string, string> = {};
  beforeAll(async () => {
    db = await createTestDatabase(dialect, dir);
    env = { ICHIGEN_DATABASE_URL: db.url };
  });
  afterAll(async () => {
    const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of running) c.kill('SIGKILL');
    await Promise.all(running.map((c) => new Promise((r) => c.once('exit', r))));
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const startWorker = async () => {
    const child = spawn(process.execPath, [BIN, 'worker', '--data', dir, '--lease', '3'], {
      env: { ...process.env, ICHIGEN_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 600 && !/is running/.test(out); i++) {
      if (child.exitCode !== null) throw new Error(`worker exited:\n${out}`);
      await sleep(50);
    }
    return child;
  };

  it('kill -9 mid-study → another worker finishes it; one model version', { timeout: 600_000 }, async () => {
    const created = await runCli(['admin', 'create-user', 'root', '--admin', '--data', dir, '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const server = await startServerProcess(['--data', dir, '--no-worker'], env);
    try {
      const h = { authorization: `Bearer ${token}` };
      const j = async (method: string, p: string, body?: unknown) => {
        const r = await fetch(`${server.url}/api/v1${p}`, {
          method,
          headers: { ...h, 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return (await r.json()) as Record<string, unknown>;
      };
      await j('POST', '/projects', { slug: 'dm', name: 'dm' });
      await fetch(`${server.url}/api/v1/projects/dm/datasets/cohort/versions`, {
        method: 'POST',
        headers: { ...h, 'content-type': 'text/csv' },
        body: cohortCsv({ patients: 200, seed: 1 }),
      });
      await j('PUT', '/projects/dm/datasets/cohort/policy', {
        target: 'responder',
        group: 'patient_id',
        exclude: ['patient_id', 'index_date'],
        trials: 16,
        folds: 3,
        onNewVersion: true,
        model: 'm',
      });
      const pushed = await fetch(`${server.url}/api/v1/projects/dm/datasets/cohort/versions`, {
        method: 'POST',
        headers: { ...h, 'content-type': 'text/csv' },
        body: cohortCsv({ patients: 3000, seed: 2 }),
      });
      const studyId = ((await pushed.json()) as { studiesStarted: string[] }).studiesStarted[0]!;

      const first = await startWorker();
      let s: Record<string, unknown> = {};
      for (let i = 0; i < 1200; i++) {
        s = await j('GET', `/projects/dm/studies/${studyId}`);
        if (s.status === 'running' && Number(s.trialsDone) >= 2) break;
        if (['succeeded', 'failed'].includes(String(s.status))) break;
        await sleep(100);
      }
      expect(s.status, JSON.stringify(s)).toBe('running');
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));

      await startWorker();
      for (let i = 0; i < 3000; i++) {
        s = await j('GET', `/projects/dm/studies/${studyId}`);
        if (['succeeded', 'failed', 'cancelled'].includes(String(s.status))) break;
        await sleep(100);
      }
      expect(s.status, String(s.error)).toBe('succeeded');
      expect(s.trialsDone).toBe(16);
      const models = (await j('GET', '/projects/dm/models')) as { versions: { studyId: string }[] };
      expect(models.versions.filter((v) => v.studyId === studyId)).toHaveLength(1);
      expect(models.versions).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });
});
