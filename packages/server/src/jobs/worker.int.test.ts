// The built `ichigen worker` and `ichigen serve` processes on both dialects: a worker killed with SIGKILL mid-job
// loses the job to another worker after its lease expires (finished exactly once), SIGTERM hands a running job
// back, several worker processes share one queue without running a job twice, and `serve` embeds a worker.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openMetadataStore, type MetadataStore } from '../db/database.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../test-support/platform.js';
import { BIN, runCli, startServerProcess, type ServerProcess } from '../test-support/process.js';
import { DIAG_SLEEP } from './handlers.js';
import { JobQueue, type JobRow, type JobState } from './queue.js';

interface WorkerProcess {
  child: ChildProcess;
  id: string;
  output: () => string;
  /** Parsed JSON log lines. */
  logs: () => Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe.each(DIALECTS)('worker processes on %s', (dialect) => {
  let dir: string;
  let db: TestDatabase;
  let store: MetadataStore;
  let q: JobQueue;
  const children: ChildProcess[] = [];
  const servers: ServerProcess[] = [];
  const env = () => ({ ICHIGEN_DATABASE_URL: db.url, ICHIGEN_LOG_LEVEL: 'info' });

  const startWorker = async (...args: string[]): Promise<WorkerProcess> => {
    const child = spawn(process.execPath, [BIN, 'worker', '--data', dir, ...args], {
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const id = await until(
      'worker start',
      async () => {
        if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}:\n${out}`);
        return /Ichigen worker (\S+) is running/.exec(out)?.[1];
      },
      30_000,
    );
    const logs = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { child, id, output: () => out, logs, exited };
  };
  const reaches = (id: string, pred: (j: JobRow) => boolean, what: string, timeoutMs?: number) =>
    until(
      `job ${id} ${what}`,
      async () => {
        const j = await q.get(id);
        return pred(j) && j;
      },
      timeoutMs,
    );
  const inState = (state: JobState) => (j: JobRow) => j.state === state;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), `ichigen-jobs-${dialect}-`));
    db = await createTestDatabase(dialect, dir);
    // The schema comes from the built binary under test, so the source tree may be ahead of dist/ meanwhile.
    const m = await runCli(['migrate', '--data', dir], env());
    expect(m.code, m.stderr).toBe(0);
    store = openMetadataStore(db.url);
    q = new JobQueue(store);
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(servers.splice(0).map((s) => s.stop('SIGKILL')));
  });
  afterAll(async () => {
    await store.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finishes exactly once, on another worker, a job whose worker was killed with SIGKILL', async () => {
    const { job } = await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 3000, steps: 30 }, createdBy: 'test' });
    const a = await startWorker('--lease', '1');
    const running = await reaches(
      job.id,
      (j) => j.state === 'running' && ((j.progress as { done?: number } | null)?.done ?? 0) >= 3,
      'running with progress',
    );
    expect(running.leaseOwner).toBe(a.id);
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    const orphan = await q.get(job.id);
    expect(orphan).toMatchObject({ state: 'running', leaseOwner: a.id, attempts: 1 });

    const b = await startWorker('--lease', '1');
    const done = await reaches(job.id, inState('succeeded'), 'succeeded', 30_000);
    // Taken over only after the dead worker's lease ran out.
    expect(Date.parse(done.finishedAt!) - Date.parse(orphan.leaseExpiresAt!)).toBeGreaterThan(3000);
    expect(done).toMatchObject({ attempts: 2, result: { sleptMs: 3000, attempt: 2, worker: b.id } });
    expect(done.progress).toEqual({ done: 30, total: 30 });
    expect(done.lastError).toMatch(/lease expired: worker lost during attempt 1/);
    b.child.kill('SIGTERM'); // so that all of its log lines have been written before they are read
    expect((await b.exited).code).toBe(0);
    const finished = (w: WorkerProcess) => w.logs().filter((l) => l.msg === 'job succeeded' && l.jobId === job.id);
    expect(finished(a)).toHaveLength(0);
    expect(finished(b)).toHaveLength(1);
    expect(b.logs().some((l) => l.msg === 'took back jobs whose lease expired')).toBe(true);
  });

  it('hands a running job back on SIGTERM without counting the attempt', async () => {
    const { job } = await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 60_000, steps: 600 }, createdBy: 'test' });
    const w = await startWorker('--lease', '2', '--grace', '5');
    await reaches(job.id, inState('running'), 'running');
    const t0 = Date.now();
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await q.get(job.id)).toMatchObject({ state: 'queued', attempts: 0, leaseOwner: null });
    expect(w.logs().some((l) => l.msg === 'job handed back (worker stopping)')).toBe(true);
    await q.cancel(job.id, 'test');
  });

  it('runs each job exactly once with three worker processes sharing the queue', async () => {
    const before = (await q.counts(DIAG_SLEEP)).succeeded;
    const ids: string[] = [];
    for (let i = 0; i < 120; i++)
      ids.push((await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 5 }, createdBy: 'test' })).job.id);
    const ws = await Promise.all([1, 2, 3].map(() => startWorker('--concurrency', '2', '--lease', '5')));
    const t0 = Date.now();
    await until('all jobs done', async () => (await q.counts(DIAG_SLEEP)).succeeded >= before + ids.length, 60_000);
    const elapsed = Date.now() - t0;
    // Stop them first so that every log line has been written before it is read.
    for (const w of ws) w.child.kill('SIGTERM');
    for (const w of ws) expect((await w.exited).code).toBe(0);
    const runs = new Map<string, string[]>();
    for (const w of ws)
      for (const l of w.logs())
        if (l.msg === 'job started') runs.set(String(l.jobId), [...(runs.get(String(l.jobId)) ?? []), w.id]);
    for (const id of ids) expect(runs.get(id), id).toHaveLength(1);
    for (const id of ids) {
      const j = await q.get(id);
      expect(j).toMatchObject({ state: 'succeeded', attempts: 1 });
      expect((j.result as { worker: string }).worker).toBe(runs.get(id)![0]);
    }
    const share = ws.map((w) => [...runs.values()].filter((r) => r[0] === w.id).length);
    console.log(`${dialect}: ${ids.length} jobs over 3 worker processes × 2 in ${elapsed} ms; per process`, share);
  });

  it('serve runs an embedded worker unless --no-worker', async () => {
    const none = await startServerProcess(['--no-worker', '--data', path.join(dir, 'a')], env());
    servers.push(none);
    const { job } = await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 1 }, createdBy: 'test' });
    await sleep(1500);
    expect((await q.get(job.id)).state).toBe('queued');
    expect(await none.stop('SIGTERM')).toBe(0);

    const srv = await startServerProcess(['--data', path.join(dir, 'b')], env());
    servers.push(srv);
    const done = await reaches(job.id, inState('succeeded'), 'succeeded');
    expect(done.result).toMatchObject({ sleptMs: 1 });
    // SIGTERM while a job runs: the server hands it back before exiting.
    const long = await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 60_000, steps: 60 }, createdBy: 'test' });
    await reaches(long.job.id, inState('running'), 'running');
    expect(await srv.stop('SIGTERM')).toBe(0);
    expect(await q.get(long.job.id)).toMatchObject({ state: 'queued', attempts: 0 });
    await q.cancel(long.job.id, 'test');
  });
});
