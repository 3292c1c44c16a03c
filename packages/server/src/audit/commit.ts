// Group commit: the durable writes of concurrent requests (prediction rows, CDS cards, jti records, audit events)
// are collected and committed together in ONE transaction, and only then are the waiting requests answered. One
// fsync (SQLite) or one round of WAL flush (PostgreSQL) then covers many requests instead of two or three per call,
// and nothing is acknowledged before it is on disk: a unit is either entirely committed or its submitter is told
// it failed.
import type { Kysely, Transaction } from 'kysely';
import type { MetadataStore } from '../db/database.js';
import { Precompiled, PrecompiledInserts } from '../db/precompiled.js';
import type { Database } from '../db/schema.js';

export type Tx = Transaction<Database>;

/** Rows for one table (every row with the same columns). */
export interface InsertRows {
  table: keyof Database & string;
  rows: Record<string, unknown>[];
}

/**
 * A unique key that must not exist yet (a CDS token's `jti`). It is inserted first, with ON CONFLICT DO NOTHING:
 * when the key is already there (a replay, possibly through another server process), only this unit fails — with
 * the error `conflict()` builds — and none of its rows or audit events are written.
 */
export interface Claim {
  table: keyof Database & string;
  row: Record<string, unknown>;
  conflict: () => Error;
}

/** What one request needs written, all or nothing. */
export interface CommitUnit<A> {
  claim?: Claim;
  /** Written in the order tables first appear in the batch (parents before children within a unit). */
  inserts?: InsertRows[];
  audit?: A[];
}

export interface GroupCommitOptions {
  /** Most units per transaction; more wait for the next one. */
  maxUnits?: number;
  /** Extra wait before a commit to gather more units; 0 gathers what arrived in the same event-loop turn. */
  windowMs?: number;
}

interface Pending<A> {
  unit: CommitUnit<A>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Appends audit inputs inside the batch transaction; returns what to do after the commit (e.g. a checkpoint). */
export type AuditAppender<A> = (tx: Tx, inputs: A[]) => Promise<(() => Promise<void> | void) | void>;

/** Rows per INSERT statement (SQLite allows 32,766 bound parameters; our widest table has 15 columns). */
const ROWS_PER_INSERT = 500;

/**
 * Inserts rows in statements of at most ROWS_PER_INSERT rows; with `pre`, through INSERTs compiled once per shape
 * (rows of one shape, as the hot paths write them), else built by Kysely.
 */
export async function insertChunked(
  tx: Tx,
  table: string,
  rows: readonly object[],
  pre?: PrecompiledInserts,
): Promise<void> {
  const db = tx as unknown as Kysely<Record<string, Record<string, unknown>>>;
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT) as Record<string, unknown>[];
    if (pre && (await pre.insert(tx as unknown as Kysely<never>, table, chunk))) continue;
    await db.insertInto(table).values(chunk).execute();
  }
}

export class GroupCommitter<A> {
  private queue: Pending<A>[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  private readonly maxUnits: number;
  private readonly windowMs: number;
  /** Commits done and units committed (for tests and benchmarks). */
  readonly stats = { commits: 0, units: 0, failedCommits: 0 };
  /** The group's INSERTs, compiled once per table and shape for this store (its SQL dialect). */
  readonly inserts = new PrecompiledInserts();
  private readonly claims = new Map<string, Precompiled<unknown, string>>();

  constructor(
    private readonly store: MetadataStore,
    private readonly appendAudit: AuditAppender<A>,
    opts: GroupCommitOptions = {},
  ) {
    this.maxUnits = Math.max(1, opts.maxUnits ?? 1000);
    this.windowMs = Math.max(0, opts.windowMs ?? 0);
  }

  /** Resolves once the unit is committed; rejects if its commit failed (then nothing of it was written). */
  submit(unit: CommitUnit<A>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ unit, resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything submitted so far is committed (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.flush();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      void this.flush();
    };
    if (this.windowMs > 0) setTimeout(go, this.windowMs);
    else setImmediate(go);
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      try {
        while (this.queue.length) {
          const batch = this.queue.splice(0, this.maxUnits);
          await this.commit(batch);
        }
      } finally {
        this.flushing = null;
      }
    })();
    return this.flushing;
  }

  /** INSERT … ON CONFLICT DO NOTHING of a claim's row, compiled once per table and columns. */
  private claimQuery(c: Claim): Precompiled<unknown, string> {
    const columns = Object.keys(c.row);
    const key = `${c.table}\u0000${columns.join('\u0000')}`;
    let q = this.claims.get(key);
    if (!q) {
      const db = this.store.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
      q = new Precompiled((p) =>
        db
          .insertInto(c.table)
          .values(Object.fromEntries(columns.map((k) => [k, p[k]])))
          .onConflict((oc) => oc.doNothing()),
      );
      this.claims.set(key, q);
    }
    return q;
  }

  private async commit(batch: Pending<A>[]): Promise<void> {
    const refused = new Map<Pending<A>, Error>();
    let after: (() => Promise<void> | void) | void = undefined;
    try {
      // Lock order in every group: claimed keys first, the audit head row last. A group waiting for a key another
      // process's group has claimed (a replay sent to both) holds no head lock yet, so groups cannot deadlock.
      after = await this.store.db.transaction().execute(async (tx) => {
        for (const p of batch) {
          const c = p.unit.claim;
          if (!c) continue;
          const r = await this.claimQuery(c).execute(tx, c.row);
          if (Number(r.numAffectedRows ?? 0n) === 0) refused.set(p, c.conflict());
        }
        const ok = batch.filter((p) => !refused.has(p));
        const byTable = new Map<string, Record<string, unknown>[]>();
        for (const p of ok)
          for (const ins of p.unit.inserts ?? []) {
            const rows = byTable.get(ins.table);
            if (rows) rows.push(...ins.rows);
            else byTable.set(ins.table, [...ins.rows]);
          }
        for (const [table, rows] of byTable) await insertChunked(tx, table, rows, this.inserts);
        const audit = ok.flatMap((p) => p.unit.audit ?? []);
        return audit.length ? this.appendAudit(tx, audit) : undefined;
      });
    } catch (e) {
      this.stats.failedCommits++;
      for (const p of batch) p.reject(e);
      return;
    }
    this.stats.commits++;
    this.stats.units += batch.length - refused.size;
    let afterError: unknown = null;
    try {
      if (after) await after();
    } catch (e) {
      // Committed, but what follows (the audit checkpoint) failed: report it rather than acknowledge silently.
      afterError = e;
    }
    for (const p of batch) {
      const err = refused.get(p) ?? afterError;
      if (err) p.reject(err);
      else p.resolve();
    }
  }
}
