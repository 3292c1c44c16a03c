// Browser sessions for the web console: a random 256-bit id in an HttpOnly, SameSite=Strict cookie, stored only as
// its SHA-256 digest (like API tokens), with an idle and an absolute expiry. The CSRF token is derived from the
// session id (SHA-256 over a fixed label and the id), so it is never stored and cannot be computed from the database.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely, Migration } from 'kysely';
import type { AuditLog } from '../audit/audit.js';
import type { MetadataStore } from '../db/database.js';
import { unauthorized } from '../errors.js';
import { newId, nowIso, sha256Hex } from '../util.js';
import type { Principal } from './service.js';

export interface WebSessionsTable {
  id: string;
  user_id: string;
  session_hash: string;
  created_at: string;
  last_seen_at: string;
  /** Absolute expiry: `sessionHours` after the login, however active the session is. */
  expires_at: string;
  revoked_at: string | null;
  client: string | null;
  user_agent: string | null;
}

declare module '../db/schema.js' {
  interface Database {
    web_sessions: WebSessionsTable;
  }
}

export const webSessionsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('web_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('session_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('client', 'text')
      .addColumn('user_agent', 'text')
      .execute();
    await db.schema.createIndex('web_sessions_user').on('web_sessions').column('user_id').execute();
  },
};

export const SESSION_COOKIE = 'ichigen_session';
export const CSRF_HEADER = 'x-ichigen-csrf';
const SESSION_PREFIX = 'igs_';
/** last_seen_at is written at most this often, so an active console does not write on every request. */
const TOUCH_EVERY_MS = 30_000;

export interface SessionSettings {
  sessionHours: number;
  sessionIdleMinutes: number;
}

export interface NewSession {
  id: string;
  /** The cookie value: shown to the browser only, never stored. */
  secret: string;
  csrfToken: string;
  expiresAt: string;
}

export interface ResolvedSession {
  principal: Principal;
  csrfToken: string;
}

/** The CSRF token of a session: a one-way function of its secret id. */
export function csrfTokenFor(secret: string): string {
  return createHash('sha256').update('ichigen-csrf\0').update(secret).digest('base64url');
}

/** Constant-time comparison of a presented CSRF header with the session's token. */
export function csrfMatches(presented: string | string[] | undefined, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class SessionService {
  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly settings: SessionSettings,
  ) {}

  private get db() {
    return this.store.db;
  }

  get idleMs(): number {
    return this.settings.sessionIdleMinutes * 60_000;
  }

  get lifetimeMs(): number {
    return this.settings.sessionHours * 3600_000;
  }

  async create(userId: string, client: string | null, userAgent: string | null): Promise<NewSession> {
    const secret = SESSION_PREFIX + randomBytes(32).toString('base64url');
    const now = new Date();
    const id = newId();
    const expiresAt = new Date(now.getTime() + this.lifetimeMs).toISOString();
    // Housekeeping at login: this user's sessions that ended over a day ago are no longer worth a row.
    const dayAgo = new Date(now.getTime() - 86_400_000).toISOString();
    await this.db
      .deleteFrom('web_sessions')
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('expires_at', '<', dayAgo), eb('revoked_at', '<', dayAgo)]))
      .execute();
    await this.db
      .insertInto('web_sessions')
      .values({
        id,
        user_id: userId,
        session_hash: sha256Hex(secret),
        created_at: now.toISOString(),
        last_seen_at: now.toISOString(),
        expires_at: expiresAt,
        revoked_at: null,
        client,
        user_agent: userAgent ? userAgent.slice(0, 300) : null,
      })
      .execute();
    return { id, secret, csrfToken: csrfTokenFor(secret), expiresAt };
  }

  /**
   * Resolves a session cookie to its user. Unknown values answer INVALID_SESSION; revoked, idle-expired and
   * expired sessions answer their own codes and the refusal is audited (like refused API tokens).
   */
  async resolve(secret: string, client: string): Promise<ResolvedSession> {
    if (!secret.startsWith(SESSION_PREFIX) || secret.length > 200)
      throw unauthorized('INVALID_SESSION', 'the session is not valid; log in again');
    const row = await this.db
      .selectFrom('web_sessions')
      .innerJoin('users', 'users.id', 'web_sessions.user_id')
      .select([
        'web_sessions.id as sessionId',
        'web_sessions.expires_at',
        'web_sessions.last_seen_at',
        'web_sessions.revoked_at',
        'users.id as userId',
        'users.name',
        'users.is_admin',
        'users.disabled',
      ])
      .where('web_sessions.session_hash', '=', sha256Hex(secret))
      .executeTakeFirst();
    if (!row) throw unauthorized('INVALID_SESSION', 'the session is not valid; log in again');
    const now = Date.now();
    const refuse = async (reason: string, code: string, message: string) => {
      await this.audit.append({
        actor: row.name,
        action: 'auth.session',
        outcome: 'denied',
        client,
        target: `session:${row.sessionId}`,
        details: { reason },
      });
      return unauthorized(code, message);
    };
    if (row.revoked_at) throw await refuse('revoked', 'SESSION_REVOKED', 'you have been logged out; log in again');
    if (new Date(row.expires_at).getTime() <= now)
      throw await refuse('expired', 'SESSION_EXPIRED', 'the session has expired; log in again');
    if (new Date(row.last_seen_at).getTime() + this.idleMs <= now)
      throw await refuse('idle', 'SESSION_EXPIRED', 'the session ended after a period of inactivity; log in again');
    if (row.disabled) throw unauthorized('USER_DISABLED', 'this account is disabled');
    if (now - new Date(row.last_seen_at).getTime() > TOUCH_EVERY_MS) {
      await this.db
        .updateTable('web_sessions')
        .set({ last_seen_at: new Date(now).toISOString() })
        .where('id', '=', row.sessionId)
        .execute();
    }
    return {
      principal: {
        userId: row.userId,
        name: row.name,
        isAdmin: !!row.is_admin,
        tokenId: `session:${row.sessionId}`,
        sessionId: row.sessionId,
      },
      csrfToken: csrfTokenFor(secret),
    };
  }

  /** Ends a session (logout); idempotent. */
  async revoke(p: Principal, client: string): Promise<void> {
    if (!p.sessionId) return;
    await this.db
      .updateTable('web_sessions')
      .set({ revoked_at: nowIso() })
      .where('id', '=', p.sessionId)
      .where('revoked_at', 'is', null)
      .execute();
    await this.audit.append({
      actor: p.name,
      action: 'auth.logout',
      target: `session:${p.sessionId}`,
      outcome: 'success',
      client,
    });
  }
}
