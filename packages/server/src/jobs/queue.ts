// The durable job queue: jobs live in the metadata store (SQLite or PostgreSQL, same code), are claimed under a
// lease that workers heart-beat, are retried with backoff, deduplicated by idempotency key, and can be cancelled.
//
// States: queued → running → succeeded | failed (dead letter) | cancelled; running → queued again on a retryable
// error (with backoff), on a lease that expired (worker lost; counts as an attempt) or on release (graceful
// shutdown; does not count). A worker holds a job exactly while state = 'running', lease_owner = its id and
// lease_expires_at > now; complete/fail/heartbeat check all three (fencing), so a worker whose lease expired can
// never finish a job another worker has taken over. All times come from the database clock, so workers on
// different hosts agree on lease expiry without synchronized clocks.
//
// Claiming is a single UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING *: on PostgreSQL the sub-select takes
// FOR UPDATE SKIP LOCKED so concurrent claimers pass over each other's rows; on SQLite one write statement runs
// under the database write lock, which is atomic across connections and processes. No queue operation spans
// more than one statement in a transaction, so SQLite never holds its write lock across an await.
import { EventEmitter } from 'node:events';
import { sql, type RawBuilder, type Selectable, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { z } from 'zod';
import type { MetadataStore } from '../db/database.js';
import type { Database, JobsTable } from '../db/schema.js';
import { AppError, badRequest, conflict, notFound } from '../errors.js';
import { newId } from '../util.js';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobRow {
  id: string;
  kind: string;
  project: string | null;
  payload: unknown;
  state: JobState;
  /** Higher runs first. */
  priority: number;
  /** Claims so far, including the one running now; a graceful hand-back takes its claim back. */
  attempts: number;
  maxAttempts: number;
  idempotencyKey: string | null;
  /** Not claimed before this time (ISO-8601 UTC); backoff moves it forward. */
  runAfter: string;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  lastError: string | null;
  result: unknown;
  progress: unknown;
  createdAt: string;
  createdBy: string;
  /** First claim. */
  startedAt: string | null;
  finishedAt: string | null;
  cancelRequested: boolean;
}

/** Job kinds are code identifiers (`study.run`, `diag.sleep`), not user text. */
export const jobKindSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/, 'a job kind')
  .max(64);

const enqueueSchema = z.object({
  kind: jobKindSchema,
  payload: z.unknown(),
  project: z.string().min(1).max(128).nullish(),
  idempotencyKey: z.string().min(1).max(256).nullish(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  createdBy: z.string().min(1),
  runAfter: z.date().optional(),
});
export type EnqueueInput = z.input<typeof enqueueSchema>;

export interface ListFilter {
  project?: string;
  kind?: string;
  state?: JobState;
  /** Newest first; ids older than this one (paging). */
  before?: string;
  limit?: number;
}

export interface BackoffPolicy {
  /** Delay after the first failed attempt; doubles with each further attempt. */
  baseMs: number;
  maxMs: number;
}

export interface JobQueueOptions {
  backoff?: Partial<BackoffPolicy>;
  /** Used for `Math.random` in the backoff jitter; tests pin it. */
  random?: () => number;
}

export const DEFAULT_MAX_ATTEMPTS = 3;
const MAX_ERROR_CHARS = 4000;

/**
 * Delay before attempt `attempts + 1`, after `attempts` failed: base·2^(attempts−1), capped, then "equal jitter"
 * (uniform in [d/2, d]) so that jobs failing together (e.g. a database restart) do not retry in lock-step.
 */
export function backoffDelayMs(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const d = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(d / 2 + (d / 2) * random());
}

type Row = Selectable<JobsTable>;

function parseJson(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

function toJob(r: Row): JobRow {
  return {
    id: r.id,
    kind: r.kind,
    project: r.project,
    payload: parseJson(r.payload_json),
    state: r.state as JobState,
    priority: Number(r.priority),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    idempotencyKey: r.idempotency_key,
    runAfter: r.run_after,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    lastError: r.last_error,
    result: parseJson(r.result_json),
    progress: parseJson(r.progress_json),
    createdAt: r.created_at,
    createdBy: r.created_by,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    cancelRequested: Number(r.cancel_requested) !== 0,
  };
}

function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value ?? null);
  } catch (e) {
    throw badRequest('JOB_NOT_JSON', `the job ${what} cannot be stored as JSON: ${(e as Error).message}`);
  }
  return text ?? 'null';
}

/** The text stored as `lastError`: the stable code (when there is one) and the message, bounded. */
export function describeError(e: unknown): string {
  const code = e instanceof AppError ? `${e.code}: ` : '';
  const msg = e instanceof Error ? e.message : String(e);
  const text = `${code}${msg}`;
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

export const jobNotFound = (id: string): AppError => notFound('JOB_NOT_FOUND', `job ${id} does not exist`);
const leaseLost = (id: string): AppError =>
  new AppError('JOB_LEASE_LOST', 409, `job ${id} is no longer held by this worker (lease expired or handed over)`);

export class JobQueue {
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private readonly events = new EventEmitter();

  constructor(
    private readonly store: MetadataStore,
    opts: JobQueueOptions = {},
  ) {
    this.backoff = { baseMs: 5_000, maxMs: 10 * 60_000, ...opts.backoff };
    this.random = opts.random ?? Math.random;
    this.events.setMaxListeners(0);
  }

  /** The database clock plus an offset, as the same 24-character ISO-8601 UTC text in both dialects. */
  private now(offsetMs = 0): RawBuilder<string> {
    const secs = offsetMs / 1000;
    if (this.store.dialect === 'postgres') {
      return sql<string>`to_char((now() + make_interval(secs => ${secs}::float8)) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    }
    return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`${secs >= 0 ? '+' : ''}${secs} seconds`})`;
  }

  /** The database's current time (what leases and run_after are compared with). */
  async dbTime(): Promise<string> {
    const r = await sql<{ t: string }>`select ${this.now()} as t`.execute(this.store.db);
    return r.rows[0]!.t;
  }

  /**
   * Adds a job. With an idempotency key, a second enqueue of the same kind and key returns the job the first one
   * created (whatever its state now) and `created: false`; the payload of the second call is ignored.
   */
  async enqueue(input: EnqueueInput): Promise<{ job: JobRow; created: boolean }> {
    const parsed = enqueueSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw badRequest('JOB_INVALID', `invalid job ${issue.path.join('.') || 'input'}: ${issue.message}`);
    }
    const v = parsed.data;
    const id = newId();
    const inserted = await this.store.db
      .insertInto('jobs')
      .values({
        id,
        kind: v.kind,
        project: v.project ?? null,
        payload_json: toJsonText(v.payload, 'payload'),
        state: 'queued',
        priority: v.priority ?? 0,
        attempts: 0,
        max_attempts: v.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        idempotency_key: v.idempotencyKey ?? null,
        run_after: v.runAfter ? sql<string>`${v.runAfter.toISOString()}` : this.now(),
        cancel_requested: 0,
        created_at: this.now(),
        created_by: v.createdBy,
      })
      .onConflict((oc) => oc.columns(['kind', 'idempotency_key']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) {
      this.events.emit('enqueued', inserted.kind);
      return { job: toJob(inserted), created: true };
    }
    const existing = await this.store.db
      .selectFrom('jobs')
      .selectAll()
      .where('kind', '=', v.kind)
      .where('idempotency_key', '=', v.idempotencyKey ?? '')
      .executeTakeFirst();
    // Unreachable unless the row was deleted between the two statements; say so rather than return nothing.
    if (!existing) throw conflict('JOB_CONFLICT', 'a job with this idempotency key was removed meanwhile; retry');
    return { job: toJob(existing), created: false };
  }

  /** Calls `listener(kind)` after each enqueue through this queue object (lets an embedded worker wake up). */
  onEnqueued(listener: (kind: string) => void): () => void {
    this.events.on('enqueued', listener);
    return () => this.events.off('enqueued', listener);
  }

  async get(id: string): Promise<JobRow> {
    const r = await this.store.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw jobNotFound(id);
    return toJob(r);
  }

  /** Newest first; `nextBefore` pages on. */
  async list(f: ListFilter = {}): Promise<{ jobs: JobRow[]; nextBefore: string | null }> {
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 1000);
    let q = this.store.db.selectFrom('jobs').selectAll();
    if (f.project !== undefined) q = q.where('project', '=', f.project);
    if (f.kind !== undefined) q = q.where('kind', '=', f.kind);
    if (f.state !== undefined) q = q.where('state', '=', f.state);
    if (f.before !== undefined) q = q.where('id', '<', f.before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const jobs = rows.slice(0, limit).map(toJob);
    return { jobs, nextBefore: rows.length > limit ? jobs[jobs.length - 1]!.id : null };
  }

  /** Jobs per state (for operators and health checks). */
  async counts(kind?: string): Promise<Record<JobState, number>> {
    let q = this.store.db.selectFrom('jobs').select(['state', (eb) => eb.fn.countAll<number>().as('n')]);
    if (kind !== undefined) q = q.where('kind', '=', kind);
    const rows = await q.groupBy('state').execute();
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of rows) out[r.state as JobState] = Number(r.n);
    return out;
  }

  /**
   * Cancels a job: a queued job becomes `cancelled` at once; a running one is flagged, its worker sees the flag at
   * the next heartbeat, aborts the handler's signal, and the job ends `cancelled`. Cancelling a cancelled job is a
   * no-op; a succeeded or failed one answers JOB_FINISHED.
   */
  async cancel(id: string, by: string): Promise<JobRow> {
    const db = this.store.db;
    const queued = await db
      .updateTable('jobs')
      .set({
        state: 'cancelled',
        cancel_requested: 1,
        finished_at: this.now(),
        last_error: `cancelled by ${by}`,
      })
      .where('id', '=', id)
      .where('state', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
    if (queued) return toJob(queued);
    const running = await db
      .updateTable('jobs')
      .set({ cancel_requested: 1, last_error: `cancel requested by ${by}` })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .returningAll()
      .executeTakeFirst();
    if (running) return toJob(running);
    const job = await this.get(id);
    if (job.state === 'cancelled') return job;
    // It may have been re-queued between the two updates (retry, hand-back); try again from the top.
    if (job.state === 'queued' || job.state === 'running') return this.cancel(id, by);
    throw conflict('JOB_FINISHED', `job ${id} already ${job.state}; there is nothing to cancel`);
  }

  /** Puts a dead-lettered or cancelled job back in the queue with a fresh attempt budget. */
  async retry(id: string): Promise<JobRow> {
    const r = await this.store.db
      .updateTable('jobs')
      .set({
        state: 'queued',
        attempts: 0,
        cancel_requested: 0,
        run_after: this.now(),
        finished_at: null,
        result_json: null,
      })
      .where('id', '=', id)
      .where('state', 'in', ['failed', 'cancelled'])
      .returningAll()
      .executeTakeFirst();
    if (r) {
      this.events.emit('enqueued', r.kind);
      return toJob(r);
    }
    const job = await this.get(id);
    throw conflict('JOB_NOT_RETRYABLE', `job ${id} is ${job.state}; only failed or cancelled jobs can be retried`);
  }

  /**
   * Takes the most urgent due job of one of `kinds` (highest priority, then earliest run_after) and leases it to
   * `owner` for `leaseMs`. Counts an attempt. Null when nothing is due.
   */
  async claim(owner: string, kinds: readonly string[], leaseMs: number): Promise<JobRow | null> {
    if (kinds.length === 0) return null;
    const db = this.store.db;
    let pick = db
      .selectFrom('jobs')
      .select('id')
      .where('state', '=', 'queued')
      .where('kind', 'in', kinds)
      .where('run_after', '<=', this.now())
      .orderBy('priority', 'desc')
      .orderBy('run_after', 'asc')
      .orderBy('id', 'asc')
      .limit(1);
    if (this.store.dialect === 'postgres') pick = pick.forUpdate().skipLocked();
    const row = await db
      .updateTable('jobs')
      .set({
        state: 'running',
        lease_owner: owner,
        lease_expires_at: this.now(leaseMs),
        attempts: sql<number>`attempts + 1`,
        started_at: sql<string>`coalesce(started_at, ${this.now()})`,
      })
      .where('id', '=', pick)
      // Re-checked on the row itself: under READ COMMITTED the sub-select's snapshot may be older than the row.
      .where('state', '=', 'queued')
      .returningAll()
      .executeTakeFirst();
    return row ? toJob(row) : null;
  }

  /**
   * Extends the lease (and stores progress when given). `held: false` means the lease is gone (expired or taken
   * over): the caller must stop working on the job and must not report its outcome.
   */
  async heartbeat(
    id: string,
    owner: string,
    leaseMs: number,
    progress?: unknown,
  ): Promise<{ held: boolean; cancelRequested: boolean }> {
    const set: { lease_expires_at: RawBuilder<string>; progress_json?: string } = {
      lease_expires_at: this.now(leaseMs),
    };
    if (progress !== undefined) set.progress_json = toJsonText(progress, 'progress');
    const r = await this.held(this.store.db.updateTable('jobs').set(set), id, owner)
      .returning(['cancel_requested'])
      .executeTakeFirst();
    return r
      ? { held: true, cancelRequested: Number(r.cancel_requested) !== 0 }
      : { held: false, cancelRequested: false };
  }

  /** Restricts an update to the job while `owner` holds a live lease on it (the fence). */
  private held(q: UpdateQ, id: string, owner: string): UpdateQ {
    return q
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('lease_owner', '=', owner)
      .where('lease_expires_at', '>', this.now());
  }

  /** Records success. Throws JOB_LEASE_LOST when `owner` no longer holds the job; then nothing is written. */
  async complete(id: string, owner: string, result: unknown): Promise<JobRow> {
    const r = await this.held(
      this.store.db.updateTable('jobs').set({
        state: 'succeeded',
        result_json: toJsonText(result, 'result'),
        finished_at: this.now(),
        lease_owner: null,
        lease_expires_at: null,
      }),
      id,
      owner,
    )
      .returningAll()
      .executeTakeFirst();
    if (!r) throw leaseLost(id);
    return toJob(r);
  }

  /**
   * Records a failed attempt. A retryable error re-queues the job after a backoff while attempts remain; otherwise
   * (or when attempts are used up) the job is dead-lettered as `failed` with the error kept in `lastError`. A job
   * whose cancellation was requested ends `cancelled` instead. Throws JOB_LEASE_LOST like `complete`.
   */
  async fail(id: string, owner: string, error: unknown, opts: { retryable: boolean }): Promise<JobRow> {
    // Only the lease holder changes attempts and state, so reading them first is race-free; the update is fenced.
    const cur = await this.get(id);
    const message = describeError(error);
    const retry = opts.retryable && cur.attempts < cur.maxAttempts && !cur.cancelRequested;
    const delay = retry ? backoffDelayMs(cur.attempts, this.backoff, this.random) : 0;
    const r = await this.held(
      this.store.db.updateTable('jobs').set({
        // Cancellation may have been requested since the read above: it wins over a retry.
        state: sql<string>`case when cancel_requested <> 0 then 'cancelled' else ${sql.lit(retry ? 'queued' : 'failed')} end`,
        run_after: retry ? this.now(delay) : sql<string>`run_after`,
        finished_at: retry
          ? sql<string | null>`case when cancel_requested <> 0 then ${this.now()} else null end`
          : this.now(),
        last_error: message,
        lease_owner: null,
        lease_expires_at: null,
      }),
      id,
      owner,
    )
      .returningAll()
      .executeTakeFirst();
    if (!r) throw leaseLost(id);
    return toJob(r);
  }

  /**
   * Hands a job back without counting the attempt (graceful shutdown): it is queued again at once, or cancelled
   * if that was requested. Needs only ownership, not a live lease: returning a job is always safe.
   */
  async release(id: string, owner: string): Promise<JobRow | null> {
    const r = await this.store.db
      .updateTable('jobs')
      .set({
        state: sql<string>`case when cancel_requested <> 0 then 'cancelled' else 'queued' end`,
        attempts: sql<number>`case when attempts > 0 then attempts - 1 else 0 end`,
        finished_at: sql<string | null>`case when cancel_requested <> 0 then ${this.now()} else null end`,
        run_after: this.now(),
        lease_owner: null,
        lease_expires_at: null,
      })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('lease_owner', '=', owner)
      .returningAll()
      .executeTakeFirst();
    if (r) this.events.emit('enqueued', r.kind);
    return r ? toJob(r) : null;
  }

  /**
   * Deletes finished jobs (succeeded, failed, cancelled) that finished more than `days` days ago, by the database
   * clock; queued and running jobs are never touched. What a job produced lives elsewhere (a study's models, a batch
   * job's output dataset version, the audit trail), so only the row with its payload and progress goes. Returns how
   * many were deleted. `days` ≤ 0 deletes nothing.
   */
  async purgeFinished(days: number): Promise<number> {
    if (!(days > 0)) return 0;
    const r = await this.store.db
      .deleteFrom('jobs')
      .where('state', 'in', FINISHED_STATES)
      .where('finished_at', '<', this.now(-days * 86_400_000))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * Sweeps running jobs whose lease expired (their worker died or hung): re-queued at once while attempts remain,
   * dead-lettered otherwise, cancelled if that was requested. Any worker may call it; it is idempotent. Workers
   * sweep the kinds they run (`kinds`): a job nobody can run gains nothing from going back to the queue.
   */
  async requeueExpired(kinds?: readonly string[]): Promise<number> {
    if (kinds?.length === 0) return 0;
    const expired = (q: UpdateQ) => {
      const r = q.where('state', '=', 'running').where('lease_expires_at', '<=', this.now());
      return kinds ? r.where('kind', 'in', kinds) : r;
    };
    const lost = 'lease expired: worker lost during attempt ';
    const db = this.store.db;
    const cancelled = await expired(
      db.updateTable('jobs').set({
        state: 'cancelled',
        finished_at: this.now(),
        lease_owner: null,
        lease_expires_at: null,
      }),
    )
      .where('cancel_requested', '<>', 0)
      .executeTakeFirst();
    const dead = await expired(
      db.updateTable('jobs').set({
        state: 'failed',
        finished_at: this.now(),
        last_error: sql<string>`${lost} || cast(attempts as text) || ' of ' || cast(max_attempts as text)`,
        lease_owner: null,
        lease_expires_at: null,
      }),
    )
      .where('attempts', '>=', sql<number>`max_attempts`)
      .executeTakeFirst();
    const requeued = await expired(
      db.updateTable('jobs').set({
        state: 'queued',
        run_after: this.now(),
        last_error: sql<string>`${lost} || cast(attempts as text)`,
        lease_owner: null,
        lease_expires_at: null,
      }),
    ).executeTakeFirst();
    const n = (r: { numUpdatedRows: bigint }) => Number(r.numUpdatedRows);
    if (n(requeued) > 0) this.events.emit('enqueued', '*');
    return n(cancelled) + n(dead) + n(requeued);
  }
}

type UpdateQ = UpdateQueryBuilder<Database, 'jobs', 'jobs', UpdateResult>;
