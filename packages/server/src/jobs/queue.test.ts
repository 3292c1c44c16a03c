// The job queue's contract on both dialects: claiming, idempotency, ordering, retries with backoff and the dead
// letter, cancellation, leases (heartbeat, expiry, re-queue) and fencing of workers that lost their lease.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { DIALECTS, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { backoffDelayMs, JobQueue } from './queue.js';

const ms = (iso: string) => Date.parse(iso);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppError);
  expect((e as AppError).code).toBe(code);
}

describe('backoffDelayMs', () => {
  it('doubles per attempt, caps, and jitters within [d/2, d]', () => {
    const policy = { baseMs: 1000, maxMs: 10_000 };
    expect(backoffDelayMs(1, policy, () => 1)).toBe(1000);
    expect(backoffDelayMs(2, policy, () => 1)).toBe(2000);
    expect(backoffDelayMs(3, policy, () => 1)).toBe(4000);
    expect(backoffDelayMs(10, policy, () => 1)).toBe(10_000);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(2000);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelayMs(2, policy);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});

describe.each(DIALECTS)('job queue on %s', (dialect) => {
  let t: TestPlatform;
  let q: JobQueue;
  // Each test uses its own kind so that jobs left by one test never reach another's claims.
  let n = 0;
  const kind = () => `test.k${++n}`;

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    q = new JobQueue(t.platform.store, { backoff: { baseMs: 200, maxMs: 1000 }, random: () => 1 });
  });
  afterAll(async () => t.close());

  it('enqueues, claims under a lease, and completes', async () => {
    const k = kind();
    const { job, created } = await q.enqueue({ kind: k, payload: { a: [1, 'x'] }, project: 'p1', createdBy: 'alice' });
    expect(created).toBe(true);
    expect(job).toMatchObject({
      state: 'queued',
      attempts: 0,
      maxAttempts: 3,
      payload: { a: [1, 'x'] },
      project: 'p1',
    });
    expect(job.leaseOwner).toBeNull();

    expect(await q.claim('w1', ['other.kind'], 1000)).toBeNull();
    const before = ms(await q.dbTime());
    const c = await q.claim('w1', [k], 1000);
    expect(c).toMatchObject({ id: job.id, state: 'running', attempts: 1, leaseOwner: 'w1' });
    expect(ms(c!.leaseExpiresAt!) - before).toBeGreaterThanOrEqual(900);
    expect(ms(c!.leaseExpiresAt!) - before).toBeLessThan(2000);
    expect(c!.startedAt).not.toBeNull();
    expect(await q.claim('w2', [k], 1000)).toBeNull();

    const done = await q.complete(job.id, 'w1', { auc: 0.81 });
    expect(done).toMatchObject({ state: 'succeeded', result: { auc: 0.81 }, leaseOwner: null, leaseExpiresAt: null });
    expect(done.finishedAt).not.toBeNull();
    await rejectsWith(q.complete(job.id, 'w1', {}), 'JOB_LEASE_LOST');
    expect((await q.get(job.id)).result).toEqual({ auc: 0.81 });
  });

  it('rejects bad input and unknown ids with stable codes', async () => {
    await rejectsWith(q.enqueue({ kind: 'Bad Kind', payload: {}, createdBy: 'a' }), 'JOB_INVALID');
    await rejectsWith(q.enqueue({ kind: kind(), payload: {}, maxAttempts: 0, createdBy: 'a' }), 'JOB_INVALID');
    await rejectsWith(q.get('nope'), 'JOB_NOT_FOUND');
    await rejectsWith(q.cancel('nope', 'a'), 'JOB_NOT_FOUND');
  });

  it('returns the existing job for a repeated idempotency key, also under concurrent enqueues', async () => {
    const k = kind();
    const a = await q.enqueue({ kind: k, payload: { v: 1 }, idempotencyKey: 'study:7', createdBy: 'a' });
    const b = await q.enqueue({ kind: k, payload: { v: 2 }, idempotencyKey: 'study:7', createdBy: 'b' });
    expect(b.created).toBe(false);
    expect(b.job.id).toBe(a.job.id);
    expect(b.job.payload).toEqual({ v: 1 });
    // The key is per kind, and jobs without a key are never deduplicated.
    const other = await q.enqueue({ kind: kind(), payload: {}, idempotencyKey: 'study:7', createdBy: 'a' });
    expect(other.created).toBe(true);
    const n1 = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    const n2 = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    expect(n1.job.id).not.toBe(n2.job.id);
    // A finished job still answers for its key.
    const c = await q.claim('w', [k], 1000);
    await q.complete(c!.id, 'w', null);
    const again = await q.enqueue({ kind: k, payload: {}, idempotencyKey: 'study:7', createdBy: 'a' });
    expect(again.created).toBe(false);

    const burst = await Promise.all(
      Array.from({ length: 12 }, () => q.enqueue({ kind: k, payload: {}, idempotencyKey: 'burst', createdBy: 'a' })),
    );
    expect(burst.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(burst.map((r) => r.job.id)).size).toBe(1);
  });

  it('claims by priority, then earliest run_after, and never before run_after', async () => {
    const k = kind();
    const past = (s: number) => new Date(Date.now() - s * 1000);
    const low = await q.enqueue({ kind: k, payload: 'low', priority: -5, runAfter: past(50), createdBy: 'a' });
    const mid2 = await q.enqueue({ kind: k, payload: 'mid-later', runAfter: past(10), createdBy: 'a' });
    const mid1 = await q.enqueue({ kind: k, payload: 'mid-earlier', runAfter: past(20), createdBy: 'a' });
    const high = await q.enqueue({ kind: k, payload: 'high', priority: 10, runAfter: past(1), createdBy: 'a' });
    const future = await q.enqueue({
      kind: k,
      payload: 'future',
      priority: 100,
      runAfter: new Date(Date.now() + 60_000),
      createdBy: 'a',
    });
    const order: string[] = [];
    for (let c = await q.claim('w', [k], 1000); c; c = await q.claim('w', [k], 1000)) order.push(c.id);
    expect(order).toEqual([high.job.id, mid1.job.id, mid2.job.id, low.job.id]);
    expect((await q.get(future.job.id)).state).toBe('queued');
  });

  it('retries a retryable failure after exponential backoff, then dead-letters it with the last error', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, maxAttempts: 3, createdBy: 'a' });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const c = await q.claim('w', [k], 5000);
      expect(c?.attempts).toBe(attempt);
      const now = ms(await q.dbTime());
      const f = await q.fail(job.id, 'w', new Error(`boom ${attempt}`), { retryable: true });
      expect(f).toMatchObject({ state: 'queued', lastError: `boom ${attempt}`, leaseOwner: null, finishedAt: null });
      // random() pinned to 1: exactly base·2^(attempt−1) after the database's now.
      const delay = ms(f.runAfter) - now;
      expect(delay).toBeGreaterThanOrEqual(200 * 2 ** (attempt - 1) - 50);
      expect(delay).toBeLessThanOrEqual(200 * 2 ** (attempt - 1) + 100);
      expect(await q.claim('w', [k], 5000)).toBeNull(); // not due yet
      await sleep(ms(f.runAfter) - ms(await q.dbTime()) + 20);
    }
    const last = await q.claim('w', [k], 5000);
    expect(last?.attempts).toBe(3);
    const dead = await q.fail(job.id, 'w', new AppError('TRAINER_CRASHED', 500, 'out of memory'), { retryable: true });
    expect(dead).toMatchObject({ state: 'failed', attempts: 3, lastError: 'TRAINER_CRASHED: out of memory' });
    expect(dead.finishedAt).not.toBeNull();
    expect(await q.claim('w', [k], 5000)).toBeNull();
    expect((await q.list({ kind: k, state: 'failed' })).jobs.map((j) => j.id)).toEqual([job.id]);

    // An operator can send a dead letter back with a fresh budget.
    const again = await q.retry(job.id);
    expect(again).toMatchObject({ state: 'queued', attempts: 0, finishedAt: null });
    expect((await q.claim('w', [k], 5000))?.id).toBe(job.id);
    await rejectsWith(q.retry(job.id), 'JOB_NOT_RETRYABLE');
  });

  it('fails a non-retryable error at once, whatever attempts remain', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, maxAttempts: 5, createdBy: 'a' });
    await q.claim('w', [k], 5000);
    const f = await q.fail(job.id, 'w', new Error('target column missing'), { retryable: false });
    expect(f).toMatchObject({ state: 'failed', attempts: 1, lastError: 'target column missing' });
  });

  it('cancels a queued job at once and flags a running one', async () => {
    const k = kind();
    const a = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    const cancelled = await q.cancel(a.job.id, 'bob');
    expect(cancelled).toMatchObject({ state: 'cancelled', cancelRequested: true });
    expect(cancelled.finishedAt).not.toBeNull();
    expect(await q.claim('w', [k], 5000)).toBeNull();
    expect((await q.cancel(a.job.id, 'bob')).state).toBe('cancelled'); // idempotent

    const b = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    await q.claim('w', [k], 5000);
    const flagged = await q.cancel(b.job.id, 'bob');
    expect(flagged).toMatchObject({ state: 'running', cancelRequested: true });
    expect(await q.heartbeat(b.job.id, 'w', 5000)).toEqual({ held: true, cancelRequested: true });
    // Cancellation wins over a retry when the handler then fails.
    const f = await q.fail(b.job.id, 'w', new Error('aborted'), { retryable: true });
    expect(f.state).toBe('cancelled');
  });

  it('refuses to cancel a finished job', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    await q.claim('w', [k], 5000);
    await q.complete(job.id, 'w', 1);
    await rejectsWith(q.cancel(job.id, 'bob'), 'JOB_FINISHED');
  });

  it('extends the lease on heartbeat and stores progress', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    const c = await q.claim('w', [k], 300);
    let expires = ms(c!.leaseExpiresAt!);
    for (let i = 1; i <= 6; i++) {
      await sleep(100);
      const hb = await q.heartbeat(job.id, 'w', 300, { trials: i, of: 6 });
      expect(hb).toEqual({ held: true, cancelRequested: false });
      const now = await q.get(job.id);
      expect(ms(now.leaseExpiresAt!)).toBeGreaterThan(expires);
      expires = ms(now.leaseExpiresAt!);
    }
    // 600 ms after a 300 ms lease: only the heartbeats kept it.
    expect(await q.requeueExpired([k])).toBe(0);
    expect((await q.get(job.id)).progress).toEqual({ trials: 6, of: 6 });
    await q.heartbeat(job.id, 'w', 300); // without progress keeps the last one
    expect((await q.get(job.id)).progress).toEqual({ trials: 6, of: 6 });
    expect((await q.complete(job.id, 'w', 'ok')).state).toBe('succeeded');
    expect(await q.heartbeat(job.id, 'w', 300)).toEqual({ held: false, cancelRequested: false });
  });

  it('re-queues a job whose lease expired and fences the stale worker out', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, maxAttempts: 3, createdBy: 'a' });
    await q.claim('stale', [k], 300);
    await sleep(400);
    // Expired but not yet swept: the stale worker can neither extend nor finish.
    expect((await q.heartbeat(job.id, 'stale', 300)).held).toBe(false);
    await rejectsWith(q.complete(job.id, 'stale', 'late'), 'JOB_LEASE_LOST');
    await rejectsWith(q.fail(job.id, 'stale', new Error('x'), { retryable: true }), 'JOB_LEASE_LOST');
    expect(await q.claim('fresh', [k], 5000)).toBeNull(); // still running until swept

    expect(await q.requeueExpired([k])).toBe(1);
    const requeued = await q.get(job.id);
    expect(requeued).toMatchObject({ state: 'queued', attempts: 1, leaseOwner: null });
    expect(requeued.lastError).toMatch(/lease expired/);
    expect(await q.requeueExpired([k])).toBe(0);

    const c = await q.claim('fresh', [k], 5000);
    expect(c).toMatchObject({ id: job.id, attempts: 2, leaseOwner: 'fresh' });
    await rejectsWith(q.complete(job.id, 'stale', 'late'), 'JOB_LEASE_LOST');
    expect(await q.release(job.id, 'stale')).toBeNull();
    const done = await q.complete(job.id, 'fresh', 'mine');
    expect(done).toMatchObject({ state: 'succeeded', result: 'mine', attempts: 2 });
  });

  it('dead-letters a job whose lease expired on its last attempt, and cancels an expired cancelled one', async () => {
    const k = kind();
    const a = await q.enqueue({ kind: k, payload: {}, maxAttempts: 1, createdBy: 'a' });
    await q.claim('w', [k], 200);
    const b = await q.enqueue({ kind: k, payload: {}, maxAttempts: 3, createdBy: 'a' });
    await q.claim('w', [k], 200);
    await q.cancel(b.job.id, 'bob');
    await sleep(300);
    expect(await q.requeueExpired([k])).toBe(2);
    const deadA = await q.get(a.job.id);
    expect(deadA).toMatchObject({ state: 'failed', lastError: 'lease expired: worker lost during attempt 1 of 1' });
    expect((await q.get(b.job.id)).state).toBe('cancelled');
  });

  it('hands a job back on release without counting the attempt', async () => {
    const k = kind();
    const { job } = await q.enqueue({ kind: k, payload: {}, createdBy: 'a' });
    await q.claim('w', [k], 5000);
    expect(await q.release(job.id, 'other')).toBeNull();
    const r = await q.release(job.id, 'w');
    expect(r).toMatchObject({ state: 'queued', attempts: 0, leaseOwner: null });
    expect((await q.claim('w2', [k], 5000))?.attempts).toBe(1);
  });

  it('purges finished jobs past the retention period and nothing else', async () => {
    const k = kind();
    const mk = async () => (await q.enqueue({ kind: k, payload: {}, createdBy: 'a' })).job.id;
    // One at a time, so that each claim takes the job just enqueued.
    const finish = async () => {
      const id = await mk();
      expect((await q.claim('w1', [k], 10_000))!.id).toBe(id);
      await q.complete(id, 'w1', {});
      return id;
    };
    const oldDone = await finish();
    const newDone = await finish();
    const running = await mk();
    expect((await q.claim('w1', [k], 10_000))!.id).toBe(running);
    const oldCancelled = await mk();
    await q.cancel(oldCancelled, 'a');
    const waiting = await mk();
    // Age two finished jobs, and the others' start: age alone never qualifies a job that has not finished.
    const db = t.platform.store.db;
    const long = '2020-01-01T00:00:00.000Z';
    await db.updateTable('jobs').set({ finished_at: long }).where('id', 'in', [oldDone, oldCancelled]).execute();
    await db
      .updateTable('jobs')
      .set({ created_at: long, started_at: long })
      .where('id', 'in', [running, waiting])
      .execute();
    expect(await q.purgeFinished(0)).toBe(0);
    expect(await q.purgeFinished(30)).toBe(2);
    const left = (await q.list({ kind: k })).jobs.map((j) => j.id).sort();
    expect(left).toEqual([newDone, running, waiting].sort());
    expect(await q.purgeFinished(30)).toBe(0);
  });

  it('lists newest first with paging, filters and counts', async () => {
    const k = kind();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await q.enqueue({ kind: k, payload: i, project: i % 2 ? 'odd' : 'even', createdBy: 'a' })).job.id);
      await sleep(2); // ids are time-ordered at millisecond resolution
    }
    const p1 = await q.list({ kind: k, limit: 3 });
    expect(p1.jobs.map((j) => j.id)).toEqual([ids[4], ids[3], ids[2]]);
    const p2 = await q.list({ kind: k, limit: 3, before: p1.nextBefore! });
    expect(p2.jobs.map((j) => j.id)).toEqual([ids[1], ids[0]]);
    expect(p2.nextBefore).toBeNull();
    expect((await q.list({ kind: k, project: 'odd' })).jobs).toHaveLength(2);
    await q.cancel(ids[0]!, 'a');
    expect(await q.counts(k)).toEqual({ queued: 4, running: 0, succeeded: 0, failed: 0, cancelled: 1 });
  });
});
