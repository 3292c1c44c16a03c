// The worker runner: claims jobs of the kinds it has handlers for, runs them with an AbortSignal and a heartbeat
// that keeps the lease alive and carries progress, and records the outcome (fenced by the lease) in the queue.
//
// Errors: NonRetryableError, an AppError with status < 500 or a zod error fail the job at once (dead letter);
// anything else is retried with backoff until maxAttempts. The signal aborts when the job is cancelled (the job
// then ends `cancelled`), when the lease is lost (nothing is recorded: another worker owns the job now), or when
// the worker stops (the job is handed back without counting the attempt).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ZodError } from 'zod';
import { AppError } from '../errors.js';
import { jobKindSchema, type JobQueue, type JobRow } from './queue.js';

export interface JobLog {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export interface JobContext {
  /** Aborts on cancellation, lease loss or worker shutdown; `signal.reason` is one of the errors below. */
  signal: AbortSignal;
  /** Stores progress JSON for watchers (throttled; the latest value always reaches the database). */
  progress(p: unknown): Promise<void>;
  log: JobLog;
  /** The id of the worker running this attempt. */
  workerId: string;
}

export type JobHandler = (job: JobRow, ctx: JobContext) => Promise<unknown>;

/** Throw this (or an AppError with a 4xx status) for failures that another attempt cannot fix. */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/** Signal reasons. */
export class JobCancelledError extends Error {
  constructor() {
    super('the job was cancelled');
    this.name = 'JobCancelledError';
  }
}
export class LeaseLostError extends Error {
  constructor() {
    super('the lease on the job was lost');
    this.name = 'LeaseLostError';
  }
}
export class WorkerStoppingError extends Error {
  constructor() {
    super('the worker is shutting down; the job is handed back');
    this.name = 'WorkerStoppingError';
  }
}

export function isRetryable(e: unknown): boolean {
  if (e instanceof NonRetryableError || e instanceof ZodError) return false;
  if (e instanceof AppError) return e.status >= 500;
  return true;
}

export interface WorkerOptions {
  /** Jobs run at the same time by this worker (default 1). */
  concurrency?: number;
  /** Lease length (default 30 s); a worker that stops heart-beating loses the job this long after. */
  leaseMs?: number;
  /** Heartbeat period (default leaseMs / 3). */
  heartbeatMs?: number;
  /** Idle poll period when nothing is due (default 1 s); an enqueue in this process wakes the worker sooner. */
  pollMs?: number;
  /** Minimum time between progress writes (default 500 ms). */
  progressMs?: number;
  /** Worker id stored as lease owner (default host:pid:random). */
  owner?: string;
  /** Only these kinds (default: every kind with a handler). */
  kinds?: readonly string[];
  log?: JobLog;
  /** Finished jobs older than this many days are deleted, checked hourly (default 0: never; see `jobRetentionDays`). */
  retentionDays?: number;
}

/** How often a worker deletes finished jobs past their retention. */
const PURGE_EVERY_MS = 3_600_000;

const silentLog: JobLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

export const defaultWorkerId = (): string => `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

interface Running {
  job: JobRow;
  abort: AbortController;
  done: Promise<void>;
}

export class Worker {
  readonly id: string;
  readonly kinds: readonly string[];
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly progressMs: number;
  private readonly log: JobLog;
  private readonly running = new Map<string, Running>();
  private loops: Promise<void>[] = [];
  private stopping = false;
  private readonly waiters = new Set<() => void>();
  private unsubscribe: (() => void) | undefined;
  private lastSweep = 0;
  private lastPurge = 0;
  private readonly retentionDays: number;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly queue: JobQueue,
    private readonly handlers: Readonly<Record<string, JobHandler>>,
    opts: WorkerOptions = {},
  ) {
    this.id = opts.owner ?? defaultWorkerId();
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.heartbeatMs = opts.heartbeatMs ?? Math.max(10, Math.floor(this.leaseMs / 3));
    if (!(this.heartbeatMs < this.leaseMs))
      throw new AppError('CONFIG_INVALID', 500, 'heartbeatMs must be shorter than leaseMs');
    this.pollMs = opts.pollMs ?? 1_000;
    this.retentionDays = opts.retentionDays ?? 0;
    this.progressMs = opts.progressMs ?? 500;
    this.log = opts.log ?? silentLog;
    const kinds = opts.kinds ?? Object.keys(handlers);
    for (const k of kinds) {
      if (!jobKindSchema.safeParse(k).success || !handlers[k]) {
        const known = Object.keys(handlers).join(', ');
        throw new AppError(
          'JOB_KIND_UNKNOWN',
          400,
          `this worker has no handler for job kind "${k}" (it knows: ${known})`,
        );
      }
    }
    this.kinds = [...kinds];
  }

  /** Starts `concurrency` claim loops. */
  start(): void {
    if (this.loops.length > 0 || this.stopping) return;
    this.unsubscribe = this.queue.onEnqueued((kind) => {
      if (kind === '*' || this.kinds.includes(kind)) this.wakeAll();
    });
    this.log.info({ worker: this.id, kinds: this.kinds, concurrency: this.concurrency }, 'worker started');
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop());
  }

  /** Jobs running now. */
  get active(): readonly JobRow[] {
    return [...this.running.values()].map((r) => r.job);
  }

  /**
   * Stops claiming, asks running handlers to stop (their signal aborts with WorkerStoppingError), waits up to
   * `graceMs` for them, and hands every unfinished job back to the queue (no attempt counted).
   */
  stop(graceMs = 10_000): Promise<void> {
    return (this.stopped ??= (async () => {
      this.stopping = true;
      this.unsubscribe?.();
      this.wakeAll();
      const inFlight = [...this.running.values()];
      for (const r of inFlight) r.abort.abort(new WorkerStoppingError());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.all(inFlight.map((r) => r.done)), timeout]);
      clearTimeout(timer);
      // Handlers that ignored the signal: hand their jobs back anyway; the process is about to go.
      for (const r of this.running.values()) {
        await this.queue.release(r.job.id, this.id).catch((e: unknown) => this.logError(r.job, e, 'hand-back failed'));
        this.log.warn({ jobId: r.job.id, kind: r.job.kind }, 'handler did not stop in time; job handed back');
      }
      await Promise.race([Promise.all(this.loops), new Promise((resolve) => setTimeout(resolve, 1_000))]);
      this.log.info({ worker: this.id }, 'worker stopped');
    })());
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let job: JobRow | null = null;
      try {
        await this.sweep();
        job = await this.queue.claim(this.id, this.kinds, this.leaseMs);
      } catch (e) {
        this.log.error({ worker: this.id, err: String(e) }, 'claiming failed; retrying after the poll interval');
      }
      if (this.stopping) {
        if (job) await this.queue.release(job.id, this.id).catch(() => undefined);
        break;
      }
      if (job) await this.run(job);
      else await this.idle();
    }
  }

  /** Re-queues jobs of lost workers, at most once per poll period across this worker's loops. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    if (now - this.lastSweep < Math.min(this.pollMs, this.leaseMs)) return;
    this.lastSweep = now;
    const n = await this.queue.requeueExpired(this.kinds);
    if (n > 0) this.log.warn({ worker: this.id, jobs: n }, 'took back jobs whose lease expired');
    if (this.retentionDays > 0 && now - this.lastPurge >= PURGE_EVERY_MS) {
      this.lastPurge = now;
      const gone = await this.queue.purgeFinished(this.retentionDays);
      if (gone > 0)
        this.log.info(
          { worker: this.id, jobs: gone, retentionDays: this.retentionDays },
          'deleted finished jobs past their retention',
        );
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.waiters.add(done);
    });
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  private async run(job: JobRow): Promise<void> {
    const abort = new AbortController();
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    this.running.set(job.id, { job, abort, done });
    const log = this.log;
    log.info({ jobId: job.id, kind: job.kind, attempt: job.attempts, worker: this.id }, 'job started');

    // Progress: the newest value is written at most every progressMs, and always by the next heartbeat.
    let pending: { value: unknown } | undefined;
    let lastWrite = 0;
    let beat: Promise<void> = Promise.resolve();
    const heartbeat = (): Promise<void> =>
      (beat = beat.then(async () => {
        if (abort.signal.aborted && abort.signal.reason instanceof LeaseLostError) return;
        const p = pending;
        pending = undefined;
        lastWrite = Date.now();
        try {
          const r = await this.queue.heartbeat(job.id, this.id, this.leaseMs, p?.value);
          if (!r.held) abort.abort(new LeaseLostError());
          else if (r.cancelRequested && !abort.signal.aborted) abort.abort(new JobCancelledError());
        } catch (e) {
          pending ??= p; // keep the progress for the next beat
          this.logError(job, e, 'heartbeat failed; will retry');
        }
      }));
    const timer = setInterval(() => void heartbeat(), this.heartbeatMs);
    let flushTimer: NodeJS.Timeout | undefined;
    const ctx: JobContext = {
      signal: abort.signal,
      workerId: this.id,
      log,
      progress: async (value: unknown) => {
        pending = { value };
        const wait = lastWrite + this.progressMs - Date.now();
        if (wait <= 0) return heartbeat();
        flushTimer ??= setTimeout(() => {
          flushTimer = undefined;
          void heartbeat();
        }, wait);
      },
    };

    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      const handler = this.handlers[job.kind];
      if (!handler) throw new NonRetryableError(`no handler for job kind ${job.kind}`);
      outcome = { ok: true, result: await handler(job, ctx) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    clearInterval(timer);
    clearTimeout(flushTimer);
    await beat;

    try {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : undefined;
      if (reason instanceof LeaseLostError) {
        log.warn({ jobId: job.id, kind: job.kind }, 'lease lost; outcome not recorded (another worker owns the job)');
      } else if (outcome.ok) {
        // A handler that finished its work despite a cancel or stop request still did the work: record it.
        const last = pending;
        if (last) await this.persist(() => this.queue.heartbeat(job.id, this.id, this.leaseMs, last.value));
        await this.persist(() => this.queue.complete(job.id, this.id, outcome.result ?? null));
        log.info({ jobId: job.id, kind: job.kind, worker: this.id }, 'job succeeded');
      } else if (reason instanceof WorkerStoppingError) {
        await this.persist(() => this.queue.release(job.id, this.id));
        log.info({ jobId: job.id, kind: job.kind }, 'job handed back (worker stopping)');
      } else {
        const retryable = !(reason instanceof JobCancelledError) && isRetryable(outcome.error);
        const after = await this.persist(() => this.queue.fail(job.id, this.id, outcome.error, { retryable }));
        const fields = { jobId: job.id, kind: job.kind, state: after.state, error: after.lastError };
        if (after.state === 'queued') log.warn({ ...fields, runAfter: after.runAfter }, 'job failed; will retry');
        else if (after.state === 'cancelled') log.info(fields, 'job cancelled');
        // A failure no retry could fix (bad input, an invalid policy: the user's to correct) is a warning; an
        // exhausted retryable failure (a fault of the system) is an error for the operator.
        else if (!retryable) log.warn(fields, 'job failed (not retryable: bad input or request)');
        else log.error(fields, 'job failed');
      }
    } catch (e) {
      this.logError(job, e, 'recording the outcome failed');
    } finally {
      this.running.delete(job.id);
      settle();
    }
  }

  /**
   * Records an outcome, retrying a few times over a transient database error: losing a finished job's result to a
   * blip would cost a whole re-run after lease expiry. A lost lease is final and is not retried.
   */
  private async persist<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (e) {
        if (attempt >= 4 || (e instanceof AppError && e.status < 500)) throw e;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  private logError(job: JobRow, e: unknown, msg: string): void {
    const code = e instanceof AppError ? e.code : undefined;
    this.log.warn({ jobId: job.id, kind: job.kind, code, err: e instanceof Error ? e.message : String(e) }, msg);
  }
}
