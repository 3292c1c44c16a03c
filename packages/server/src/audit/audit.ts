// The tamper-evident audit trail: append-only events in a SHA-256 hash chain, each MACed with a key kept
// outside the database, plus a head checkpoint file, so that edits, deletions and truncation are all detected.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { MetadataStore } from '../db/database.js';
import { Precompiled } from '../db/precompiled.js';
import { GENESIS_HASH } from '../db/migrations.js';
import type { AuditEventsTable } from '../db/schema.js';
import { AppError } from '../errors.js';
import { GroupCommitter, insertChunked, type CommitUnit, type GroupCommitOptions, type Tx } from './commit.js';
import { canonicalJson, newId, nowIso, sha256Hex } from '../util.js';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditInput {
  actor: string | null;
  action: string;
  target?: string | null;
  project?: string | null;
  outcome: AuditOutcome;
  client?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string | null;
  project: string | null;
  outcome: string;
  client: string | null;
  details: Record<string, unknown>;
  hash: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  headSeq: number;
  checkpointSeq: number | null;
  firstBroken?: { seq: number; reason: string };
}

export interface AuditFilter {
  project?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
  /** Return events with seq below this (newest first paging). */
  before?: number;
  limit?: number;
}

/** The checkpoint record's length: its JSON (about 200 bytes) padded, one disk sector. */
const CHECKPOINT_BYTES = 512;

interface Checkpoint {
  seq: number;
  hash: string;
  mac: string;
  at: string;
}

/** The audit key and checkpoint live in `secretsDir`, never in the database. */
export class AuditSecrets {
  readonly key: Buffer;
  readonly checkpointPath: string;

  private constructor(key: Buffer, checkpointPath: string) {
    this.key = key;
    this.checkpointPath = checkpointPath;
  }

  /** Loads the MAC key, creating it (0600) on first use. */
  static open(secretsDir: string): AuditSecrets {
    mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
    const keyPath = path.join(secretsDir, 'audit.key');
    if (!existsSync(keyPath)) {
      writeFileSync(keyPath, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    }
    const hex = readFileSync(keyPath, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) {
      throw new AppError(
        'CONFIG_INVALID',
        500,
        `invalid setting secretsDir: ${keyPath} does not hold a 32-byte hex key`,
      );
    }
    return new AuditSecrets(Buffer.from(hex, 'hex'), path.join(secretsDir, 'audit-head.json'));
  }
}

export function eventHash(prevHash: string, e: Omit<AuditEventsTable, 'prev_hash' | 'hash' | 'mac'>): string {
  const body = canonicalJson({
    seq: e.seq,
    id: e.id,
    at: e.at,
    actor: e.actor,
    action: e.action,
    target: e.target,
    project: e.project,
    outcome: e.outcome,
    client: e.client,
    details: e.details_json,
  });
  return sha256Hex(`${prevHash}\n${body}`);
}

/**
 * Reads until two reads in a row agree. The checkpoint is rewritten in place, and a read that overlaps another
 * process's write may see part of each record — a mix that can still parse, and would then be a false alarm in
 * `verify` or move the checkpoint backwards; two identical reads in a row did not overlap a write.
 */
export function stableRead(read: () => string): string {
  let prev = read();
  for (let i = 0; i < 20; i++) {
    const next = read();
    if (next === prev) return next;
    prev = next;
  }
  return prev;
}

/** A checkpoint file's content, or null when it is not one. */
function parseCheckpoint(text: string): Checkpoint | null {
  try {
    const cp = JSON.parse(text) as Checkpoint;
    return typeof cp.seq === 'number' && typeof cp.hash === 'string' ? cp : null;
  } catch {
    return null;
  }
}

export class AuditLog {
  /** Every durable write of a request goes through here: one transaction for many concurrent requests. */
  readonly committer: GroupCommitter<AuditInput>;
  /** The open checkpoint file and which file it is (see `checkpointFile`). */
  private cp: { fd: number; ino: number; dev: number } | null = null;
  private readonly cpBuf = Buffer.alloc(4096);
  /** The head row's two statements of every group, compiled once. */
  private readonly takeHead = new Precompiled<{ seq: number | string; hash: string }, 'n'>((p) =>
    this.store.db
      .updateTable('audit_head')
      .set({ seq: sql`seq + ${p.n}` })
      .where('id', '=', 1)
      .returning(['seq', 'hash']),
  );
  private readonly setHead = new Precompiled<unknown, 'hash'>((p) =>
    this.store.db.updateTable('audit_head').set({ hash: p.hash }).where('id', '=', 1),
  );

  constructor(
    private readonly store: MetadataStore,
    private readonly secrets: AuditSecrets,
    opts: GroupCommitOptions = {},
  ) {
    this.committer = new GroupCommitter<AuditInput>(store, (tx, inputs) => this.appendInTx(tx, inputs), opts);
  }

  private mac(hash: string): string {
    return createHmac('sha256', this.secrets.key).update(hash).digest('hex');
  }

  /**
   * Appends one event to the chain; resolves once it is committed. Concurrent appends (and the other writes of
   * their requests, see `commit`) share one transaction.
   */
  append(input: AuditInput): Promise<void> {
    return this.committer.submit({ audit: [input] });
  }

  /**
   * Commits a request's rows, optional unique claim and audit events together with those of other concurrent
   * requests, in one transaction; resolves only once they are durable, rejects (with nothing written) otherwise.
   */
  commit(unit: CommitUnit<AuditInput>): Promise<void> {
    return this.committer.submit(unit);
  }

  /** Waits for every pending commit (call before closing the store). */
  async close(): Promise<void> {
    await this.committer.drain();
    if (this.cp) closeSync(this.cp.fd);
    this.cp = null;
  }

  /**
   * Appends events to the chain inside `tx`. Serialized across processes by the update of the single head row,
   * which is taken once for the whole group: seq advances by the number of events, then each is linked in order.
   */
  private async appendInTx(tx: Tx, inputs: AuditInput[]): Promise<() => void> {
    // Writing first takes the lock (row lock on PostgreSQL, the write lock on SQLite) before anything is read.
    const head = await this.takeHead.first(tx, { n: inputs.length });
    if (!head) throw new Error('the audit chain head row is missing');
    const at = nowIso();
    let seq = Number(head.seq) - inputs.length;
    let prev = head.hash;
    const rows: AuditEventsTable[] = inputs.map((input) => {
      const row = {
        seq: ++seq,
        id: newId(),
        at,
        actor: input.actor,
        action: input.action,
        target: input.target ?? null,
        project: input.project ?? null,
        outcome: input.outcome,
        client: input.client ?? null,
        details_json: canonicalJson(input.details ?? {}),
      };
      const hash = eventHash(prev, row);
      const out = { ...row, prev_hash: prev, hash, mac: this.mac(hash) };
      prev = hash;
      return out;
    });
    await insertChunked(tx, 'audit_events', rows, this.committer.inserts);
    await this.setHead.execute(tx, { hash: prev });
    const last = rows[rows.length - 1]!;
    return () => this.writeCheckpoint({ seq: last.seq, hash: last.hash, mac: last.mac, at: last.at });
  }

  private readCheckpoint(): Checkpoint | null {
    if (!existsSync(this.secrets.checkpointPath)) return null;
    try {
      return parseCheckpoint(stableRead(() => readFileSync(this.secrets.checkpointPath, 'utf8')));
    } catch {
      return null;
    }
  }

  /**
   * Keeps the newest head outside the database, so deleting the newest rows is detected. Written before the
   * group's requests are answered, in place through a descriptor kept open: one fixed-size write at offset 0
   * (a single sector), after reading what is there — another server process sharing `secretsDir` may be ahead, and
   * the checkpoint only ever moves forward. A rename per group instead made ext4 flush the new file each time
   * (`auto_da_alloc`), blocking the event loop on the journal. A file replaced or truncated by someone else is
   * reopened or rewritten whole.
   */
  private writeCheckpoint(cp: Checkpoint): void {
    const { fd, size } = this.checkpointFile();
    const readNow = (): string => this.cpBuf.toString('utf8', 0, readSync(fd, this.cpBuf, 0, this.cpBuf.length, 0));
    const current = size > 0 ? parseCheckpoint(stableRead(readNow)) : null;
    if (current && current.seq >= cp.seq) return;
    const text = JSON.stringify(cp);
    // Padded to a fixed length (JSON allows trailing blanks), so a shorter head never leaves a longer one's tail.
    const record = text.length < CHECKPOINT_BYTES ? text.padEnd(CHECKPOINT_BYTES - 1) + '\n' : text + '\n';
    const bytes = writeSync(fd, record, 0, 'utf8');
    if (size > bytes) ftruncateSync(fd, bytes);
  }

  /** The checkpoint file's descriptor (created 0600) and size; reopened when the file was removed or replaced. */
  private checkpointFile(): { fd: number; size: number } {
    const file = this.secrets.checkpointPath;
    const st = statSync(file, { throwIfNoEntry: false });
    if (this.cp && st && st.ino === this.cp.ino && st.dev === this.cp.dev) return { fd: this.cp.fd, size: st.size };
    if (this.cp) closeSync(this.cp.fd);
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    const own = fstatSync(fd);
    this.cp = { fd, ino: own.ino, dev: own.dev };
    return { fd, size: own.size };
  }

  /** Walks the whole chain; reports the first broken link (edit, deletion, insertion, truncation). */
  async verify(): Promise<VerifyReport> {
    const db = this.store.db;
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let count = 0;
    let lastHash = GENESIS_HASH;
    const cp = this.readCheckpoint();
    let cpMatched = cp === null;
    const fail = (seq: number, reason: string, headSeq: number): VerifyReport => ({
      ok: false,
      events: count,
      headSeq,
      checkpointSeq: cp?.seq ?? null,
      firstBroken: { seq, reason },
    });
    const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
    const headSeq = head ? Number(head.seq) : 0;
    for (;;) {
      const rows = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '>=', expectedSeq)
        .orderBy('seq')
        .limit(1000)
        .execute();
      if (rows.length === 0) break;
      for (const r of rows) {
        const seq = Number(r.seq);
        if (seq !== expectedSeq)
          return fail(expectedSeq, `event ${expectedSeq} is missing (next present is ${seq})`, headSeq);
        if (r.prev_hash !== prevHash) return fail(seq, 'link to the previous event does not match', headSeq);
        const h = eventHash(prevHash, { ...r, seq });
        if (h !== r.hash) return fail(seq, 'event content does not match its hash (edited)', headSeq);
        const mac = this.mac(h);
        if (mac.length !== r.mac.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(r.mac))) {
          return fail(seq, 'event MAC is wrong (rewritten without the audit key)', headSeq);
        }
        if (cp && seq === cp.seq) {
          if (cp.hash !== h) return fail(seq, 'event differs from the checkpoint kept outside the database', headSeq);
          cpMatched = true;
        }
        prevHash = h;
        lastHash = h;
        expectedSeq = seq + 1;
        count++;
      }
    }
    if (!head) return fail(0, 'the chain head row is missing', 0);
    if (headSeq !== count) {
      return fail(
        count + 1,
        `the chain head says ${headSeq} events but ${count} are present (newest deleted)`,
        headSeq,
      );
    }
    if (head.hash !== lastHash) return fail(count, 'the chain head hash does not match the newest event', headSeq);
    if (!cpMatched && cp) {
      return fail(
        count + 1,
        `the checkpoint outside the database records event ${cp.seq}, but only ${count} exist (newest deleted)`,
        headSeq,
      );
    }
    return { ok: true, events: count, headSeq, checkpointSeq: cp?.seq ?? null };
  }

  async list(filter: AuditFilter): Promise<{ events: AuditEvent[]; nextBefore: number | null }> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    let q = this.store.db.selectFrom('audit_events').selectAll();
    if (filter.project) q = q.where('project', '=', filter.project);
    if (filter.actor) q = q.where('actor', '=', filter.actor);
    if (filter.action) q = q.where('action', '=', filter.action);
    if (filter.since) q = q.where('at', '>=', filter.since);
    if (filter.until) q = q.where('at', '<', filter.until);
    if (filter.before) q = q.where('seq', '<', filter.before);
    const rows = await q
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    return {
      events: page.map((r) => ({
        seq: Number(r.seq),
        id: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
        project: r.project,
        outcome: r.outcome,
        client: r.client,
        details: JSON.parse(r.details_json) as Record<string, unknown>,
        hash: r.hash,
      })),
      nextBefore: rows.length > limit ? Number(page[page.length - 1]!.seq) : null,
    };
  }
}
