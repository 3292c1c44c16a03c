// The worker runner on both dialects: outcomes of handlers (success, retry, non-retryable, cancel, lease loss,
// shutdown hand-back), progress, and several workers on separate connections racing for the same jobs.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openMetadataStore, type MetadataStore } from '../db/database.js';
import { AppError } from '../errors.js';
import { DIALECTS, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { DIAG_SLEEP, diagSleep } from './handlers.js';
import { JobQueue, type JobRow, type JobState } from './queue.js';
import { JobCancelledError, LeaseLostError, NonRetryableError, Worker, type JobHandler } from './worker.js';

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.each(DIALECTS)('job worker on %s', (dialect) => {
  let t: TestPlatform;
  let q: JobQueue;
  const workers: Worker[] = [];
  let n = 0;
  const kind = () => `wtest.k${++n}`;
  const fast = { leaseMs: 500, heartbeatMs: 100, pollMs: 25, progressMs: 0 };
  const startWorker = (handlers: Record<string, JobHandler>, opts: ConstructorParameters<typeof Worker>[2] = {}) => {
    const w = new Worker(q, handlers, { ...fast, ...opts });
    workers.push(w);
    w.start();
    return w;
  };
  const reaches = (id: string, state: JobState, timeoutMs?: number) =>
    until(
      `job ${id} ${state}`,
      async () => {
        const j = await q.get(id);
        return j.state === state && j;
      },
      timeoutMs,
    );

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    q = new JobQueue(t.platform.store, { backoff: { baseMs: 50, maxMs: 200 } });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop(2000)));
  });
  afterAll(async () => t.close());

  it('runs a job, passes progress, and records the result', async () => {
    const k = kind();
    const seen: unknown[] = [];
    startWorker({
      [k]: async (job, ctx) => {
        seen.push(job.payload);
        await ctx.progress({ step: 1 });
        await sleep(150);
        await ctx.progress({ step: 2 });
        return { doubled: (job.payload as { x: number }).x * 2, by: ctx.workerId };
      },
    });
    const { job } = await q.enqueue({ kind: k, payload: { x: 21 }, createdBy: 'a' });
    await until('progress', async () => (await q.get(job.id)).progress !== null);
    const done = await reaches(job.id, 'succeeded');
    expect(done.result).toMatchObject({ doubled: 42 });
    expect(done.progress).toEqual({ step: 2 });
    expect(done.attempts).toBe(1);
    expect(seen).toEqual([{ x: 21 }]);
  });

  it('retries thrown errors with backoff and dead-letters after maxAttempts', async () => {
    startWorker({ [DIAG_SLEEP]: diagSleep });
    const ok = await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 1, failAttempts: 2 }, createdBy: 'a' });
    const dead = await q.enqueue({
      kind: DIAG_SLEEP,
      payload: { ms: 1, failAttempts: 9 },
      maxAttempts: 2,
      createdBy: 'a',
    });
    expect(await reaches(ok.job.id, 'succeeded')).toMatchObject({ attempts: 3, result: { attempt: 3 } });
    const d = await reaches(dead.job.id, 'failed');
    expect(d.attempts).toBe(2);
    expect(d.lastError).toBe('diag.sleep: attempt 2 fails as asked');
  });

  it('fails non-retryable errors at once: NonRetryableError, 4xx AppError, invalid payload, unknown kind', async () => {
    const k1 = kind();
    const k2 = kind();
    const k3 = kind();
    let calls = 0;
    const logged: [string, string, unknown][] = [];
    const capture = (level: string) => (obj: Record<string, unknown>, msg: string) =>
      void logged.push([level, msg, obj.jobId]);
    startWorker(
      {
        [k1]: async () => {
          calls++;
          throw new NonRetryableError('dataset has no target column');
        },
        [k2]: async () => {
          calls++;
          throw new AppError('POLICY_INVALID', 400, 'bad policy');
        },
        [k3]: async () => {
          calls++;
          throw new AppError('STORE_DOWN', 503, 'object store unavailable');
        },
        [DIAG_SLEEP]: diagSleep,
      },
      { log: { info: capture('info'), warn: capture('warn'), error: capture('error') } },
    );
    const a = await q.enqueue({ kind: k1, payload: {}, maxAttempts: 5, createdBy: 'a' });
    const b = await q.enqueue({ kind: k2, payload: {}, maxAttempts: 5, createdBy: 'a' });
    const c = await q.enqueue({ kind: k3, payload: {}, maxAttempts: 2, createdBy: 'a' });
    const d = await q.enqueue({ kind: DIAG_SLEEP, payload: { ms: 'soon' }, maxAttempts: 5, createdBy: 'a' });
    expect(await reaches(a.job.id, 'failed')).toMatchObject({ attempts: 1, lastError: 'dataset has no target column' });
    expect(await reaches(b.job.id, 'failed')).toMatchObject({ attempts: 1, lastError: 'POLICY_INVALID: bad policy' });
    expect(await reaches(c.job.id, 'failed')).toMatchObject({ attempts: 2 }); // 5xx: retried
    const dj = await reaches(d.job.id, 'failed');
    expect(dj.attempts).toBe(1);
    expect(dj.lastError).toMatch(/invalid diag\.sleep payload: ms/);
    expect(calls).toBe(4);
    // The input's fault is a warning; a system fault that exhausted its retries is an error.
    const finalLevel = (id: string) =>
      logged
        .filter(([, msg, jobId]) => jobId === id && msg.startsWith('job failed'))
        .map(([level, msg]) => [level, msg]);
    expect(finalLevel(a.job.id)).toEqual([['warn', 'job failed (not retryable: bad input or request)']]);
    expect(finalLevel(b.job.id)).toEqual([['warn', 'job failed (not retryable: bad input or request)']]);
    expect(finalLevel(c.job.id)).toEqual([
      ['warn', 'job failed; will retry'],
      ['error', 'job failed'],
    ]);
  });

  it('deletes finished jobs past retentionDays when it starts sweeping, and keeps the rest', async () => {
    const k = kind();
    const old = (await q.enqueue({ kind: `${k}.old`, payload: {}, createdBy: 'a' })).job.id;
    await q.cancel(old, 'a');
    await t.platform.store.db
      .updateTable('jobs')
      .set({ finished_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', old)
      .execute();
    const { job } = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    startWorker({ [k]: async () => ({ ok: true }) }, { retentionDays: 30 });
    await reaches(job.id, 'succeeded');
    await until('the old job purged', async () => (await q.list({ kind: `${k}.old` })).jobs.length === 0);
    expect((await q.get(job.id)).state).toBe('succeeded');
  });

  it('cancels a running job through its AbortSignal', async () => {
    const k = kind();
    let reason: unknown;
    startWorker({
      [k]: (_job, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(new Error('stopped on request'));
          });
        }),
    });
    const { job } = await q.enqueue({ kind: k, payload: {}, maxAttempts: 5, createdBy: 'a' });
    await reaches(job.id, 'running');
    const asked = Date.now();
    await q.cancel(job.id, 'bob');
    const done = await reaches(job.id, 'cancelled');
    expect(Date.now() - asked).toBeLessThan(2000); // the next heartbeat (100 ms) carries the request
    expect(reason).toBeInstanceOf(JobCancelledError);
    expect(done.attempts).toBe(1);
    expect(done.finishedAt).not.toBeNull();
  });

  it('stops working on a job whose lease it lost and records nothing', async () => {
    const k = kind();
    let reason: unknown;
    startWorker({
      [k]: (_job, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(new Error('aborted'));
          });
        }),
    });
    const { job } = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    await reaches(job.id, 'running');
    // Another worker took the job over (as after a long pause of this one).
    await t.platform.store.db
      .updateTable('jobs')
      .set({ lease_owner: 'usurper', attempts: 2 })
      .where('id', '=', job.id)
      .execute();
    await until('abort', async () => reason !== undefined);
    expect(reason).toBeInstanceOf(LeaseLostError);
    await sleep(200);
    expect(await q.get(job.id)).toMatchObject({ state: 'running', leaseOwner: 'usurper', lastError: null });
    await q.complete(job.id, 'usurper', 'theirs');
  });

  it('hands running jobs back on stop, without counting the attempt', async () => {
    const k = kind();
    let aborted = 0;
    const w = startWorker(
      {
        [k]: async (_job, ctx) => {
          await sleep(60_000, undefined, { signal: ctx.signal }).catch((e: unknown) => {
            aborted++;
            throw e;
          });
        },
        [`${k}.stubborn`]: () => sleep(3000), // ignores the signal
      },
      { concurrency: 2 },
    );
    const a = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    const b = await q.enqueue({ kind: `${k}.stubborn`, payload: {}, createdBy: 'a' });
    await reaches(a.job.id, 'running');
    await reaches(b.job.id, 'running');
    const t0 = Date.now();
    await w.stop(300);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(aborted).toBe(1);
    for (const id of [a.job.id, b.job.id]) {
      expect(await q.get(id)).toMatchObject({ state: 'queued', attempts: 0, leaseOwner: null });
    }
    // Another worker picks them up; the stubborn handler's late return cannot record anything.
    startWorker({ [k]: async () => 'second', [`${k}.stubborn`]: async () => 'second' });
    expect((await reaches(a.job.id, 'succeeded')).result).toBe('second');
    expect((await reaches(b.job.id, 'succeeded')).result).toBe('second');
    await sleep(3000 - (Date.now() - t0) + 100);
    expect(await q.get(b.job.id)).toMatchObject({ state: 'succeeded', result: 'second', attempts: 1 });
  });

  it('takes over the job of a worker that died, after its lease expires', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    // A "dead" worker: claimed and never heard from again.
    expect((await q.claim('dead-worker', [k], 400))?.id).toBe(job.id);
    const runs: string[] = [];
    startWorker({ [k]: async (_j, ctx) => runs.push(ctx.workerId) });
    const done = await reaches(job.id, 'succeeded', 5000);
    expect(done.attempts).toBe(2);
    expect(runs).toHaveLength(1);
    await expect(q.complete(job.id, 'dead-worker', 'late')).rejects.toMatchObject({ code: 'JOB_LEASE_LOST' });
  });

  it('runs each of 200 jobs exactly once with 3 workers on separate connections racing', async () => {
    const k = kind();
    const stores: MetadataStore[] = [];
    const ran = new Map<string, string[]>();
    const handler: JobHandler = async (job: JobRow, ctx) => {
      ran.set(job.id, [...(ran.get(job.id) ?? []), ctx.workerId]);
      await sleep(Math.floor(Math.random() * 3));
      return ctx.workerId;
    };
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) ids.push((await q.enqueue({ kind: k, payload: i, createdBy: 'a' })).job.id);
    const racers: Worker[] = [];
    for (let w = 0; w < 3; w++) {
      const store = openMetadataStore(t.config.databaseUrl);
      stores.push(store);
      // A long lease: this test is about claims racing, not about leases expiring (a 500 ms lease could lapse on a
      // loaded machine, and a lapsed lease is rightly re-run — that is tested above).
      const opts = { ...fast, leaseMs: 30_000, heartbeatMs: 5_000, concurrency: 2, owner: `racer${w}` };
      const worker = new Worker(new JobQueue(store), { [k]: handler }, opts);
      racers.push(worker);
    }
    const t0 = Date.now();
    for (const w of racers) w.start();
    try {
      await until('all done', async () => (await q.counts(k)).succeeded === 200, 60_000);
    } finally {
      await Promise.all(racers.map((w) => w.stop(2000)));
      await Promise.all(stores.map((s) => s.close()));
    }
    const elapsed = Date.now() - t0;
    expect(ran.size).toBe(200);
    for (const id of ids) expect(ran.get(id), id).toHaveLength(1);
    const jobs = (await q.list({ kind: k, limit: 1000 })).jobs;
    expect(jobs.every((j) => j.state === 'succeeded' && j.attempts === 1)).toBe(true);
    for (const j of jobs) expect(j.result).toBe(ran.get(j.id)![0]);
    const perWorker = new Map<string, number>();
    for (const [, [w]] of ran) perWorker.set(w!, (perWorker.get(w!) ?? 0) + 1);
    // Every worker got a share: they really raced rather than one draining the queue alone.
    expect(perWorker.size).toBe(3);
    console.log(`${dialect}: 200 jobs, 3 workers × 2: ${elapsed} ms`, Object.fromEntries(perWorker));
  });
});
