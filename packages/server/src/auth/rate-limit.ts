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

  /** Seconds to wait before another attempt is allowed, or 0. */
  async retryAfter(user: string, client: string, now = Date.now()): Promise<number> {
    const since = new Date(now - this.windowMs).toISOString();
    let wait = 0;
    for (const { key, factor } of keysOf(user, client)) {
      const r = await this.store.db
        .selectFrom('login_failures')
        .select((eb) => [eb.fn.countAll<number | string | bigint>().as('n'), eb.fn.min('at').as('first')])
        .where('key', '=', key)
        .where('at', '>', since)
        .executeTakeFirst();
      if (r && r.first && Number(r.n) >= this.maxFailures * factor)
        wait = Math.max(wait, Math.max(1, Math.ceil((Date.parse(r.first) + this.windowMs - now) / 1000)));
    }
    return wait;
  }

  /** Records a failure for the user name and the client address; forgets failures older than the window. */
  async fail(user: string, client: string, now = Date.now()): Promise<void> {
    const at = new Date(now).toISOString();
    await this.store.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('login_failures')
        .values(keysOf(user, client).map(({ key }) => ({ id: newId(), key, at })))
        .execute();
      await tx
        .deleteFrom('login_failures')
        .where('at', '<=', new Date(now - this.windowMs).toISOString())
        .execute();
    });
  }

  /** A successful login clears the user name's failures (the client address keeps its own). */
  async succeed(user: string): Promise<void> {
    await this.store.db.deleteFrom('login_failures').where('key', '=', `u:${user}`).execute();
  }
}
