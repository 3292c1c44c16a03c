// Login throttling: after too many failures for one user name or one client address within a window, refuse
// further attempts until the window passes. The failures live in the metadata store, so every server process on
// the same database (scale-out) counts the same failures: N replicas do not give an attacker N times the attempts.
import type { Kysely, Migration } from 'kysely';
import type { MetadataStore } from '../db/database.js';
import { newId } from '../util.js';

export interface LoginFailuresTable {
  id: string;
  /** `u:<user name>` or `c:<client address>`. */
  key: string;
  /** ISO-8601 UTC, from the server's clock. */
  at: string;
}

declare module '../db/schema.js' {
  interface Database {
    login_failures: LoginFailuresTable;
  }
}

export const loginFailuresMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('login_failures')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('login_failures_key_at').on('login_failures').columns(['key', 'at']).execute();
    await db.schema.createIndex('login_failures_at').on('login_failures').column('at').execute();
  },
};

/** A client address may fail this many times more often than one user name (it may front many users). */
const CLIENT_FACTOR = 4;

const keysOf = (user: string, client: string) => [
  { key: `u:${user}`, factor: 1 },
  { key: `c:${client}`, factor: CLIENT_FACTOR },
];

export class LoginLimiter {
  constructor(
    private readonly store: MetadataStore,
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  /** Failures in the window per key, and the oldest one's time. */
  private async counts(user: string, client: string, now: number) {
    const since = new Date(now - this.windowMs).toISOString();
    const out: { n: number; first: string | null; limit: number }[] = [];
    for (const { key, factor } of keysOf(user, client)) {
      const r = await this.store.db
        .selectFrom('login_failures')
        .select((eb) => [eb.fn.countAll<number | string | bigint>().as('n'), eb.fn.min('at').as('first')])
        .where('key', '=', key)
        .where('at', '>', since)
        .executeTakeFirst();
      out.push({ n: Number(r?.n ?? 0), first: r?.first ?? null, limit: this.maxFailures * factor });
    }
    return out;
  }

  private waitFor(c: { first: string | null }, now: number): number {
    return c.first ? Math.max(1, Math.ceil((Date.parse(c.first) + this.windowMs - now) / 1000)) : 1;
  }

  /** Seconds to wait before another attempt is allowed, or 0 (read-only). */
  async retryAfter(user: string, client: string, now = Date.now()): Promise<number> {
    let wait = 0;
    for (const c of await this.counts(user, client, now))
      if (c.n >= c.limit) wait = Math.max(wait, this.waitFor(c, now));
    return wait;
  }

  /**
   * Starts a login attempt: records it as a failure first, then counts — so concurrent guesses see each other and a
   * burst cannot all slip past the check while their passwords are being verified. Returns the seconds to wait (the
   * attempt is then withdrawn) or 0 and the attempt's rows: they stay as the failure if the password is wrong, and
   * `forget` removes them otherwise. Failures older than the window are deleted on the way.
   */
  async attempt(user: string, client: string, now = Date.now()): Promise<{ wait: number; ids: string[] }> {
    const at = new Date(now).toISOString();
    const rows = keysOf(user, client).map(({ key }) => ({ id: newId(), key, at }));
    const ids = rows.map((r) => r.id);
    await this.store.db.transaction().execute(async (tx) => {
      await tx.insertInto('login_failures').values(rows).execute();
      await tx
        .deleteFrom('login_failures')
        .where('at', '<=', new Date(now - this.windowMs).toISOString())
        .execute();
    });
    let wait = 0;
    for (const c of await this.counts(user, client, now))
      if (c.n > c.limit) wait = Math.max(wait, this.waitFor(c, now));
    if (wait > 0) await this.forget(ids);
    return { wait, ids };
  }

  /** Withdraws an attempt that was not a failure (refused before the check, or not a wrong password). */
  async forget(ids: string[]): Promise<void> {
    if (ids.length) await this.store.db.deleteFrom('login_failures').where('id', 'in', ids).execute();
  }

  /** A successful login clears the user name's failures (the client address keeps its own). */
  async succeed(user: string): Promise<void> {
    await this.store.db.deleteFrom('login_failures').where('key', '=', `u:${user}`).execute();
  }
}
