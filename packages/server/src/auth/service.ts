// Users, passwords, API tokens and login: who is calling. What they may do is in roles.ts / access.ts.
// Tokens are random 256-bit strings shown once and stored only as SHA-256 digests.
import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/audit.js';
import type { MetadataStore } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { AppError, badRequest, conflict, notFound, unauthorized } from '../errors.js';
import { nameSchema, newId, nowIso, sha256Hex } from '../util.js';
import {
  checkPasswordStrength,
  dummyPasswordHash,
  generatePassword,
  hashPassword,
  verifyPassword,
} from './passwords.js';
import { LoginLimiter } from './rate-limit.js';
import { SessionService, type NewSession } from './sessions.js';

export interface Principal {
  userId: string;
  name: string;
  isAdmin: boolean;
  tokenId: string;
  /** Set when the caller came with a browser session cookie (web console) rather than a bearer token. */
  sessionId?: string;
}

/**
 * The credential a request came with, for the audit trail's data events (`details.via`): `token:<id>` for an API
 * token, `session:<id>` for a console session, `jwt:<jti>` for a CDS Hooks call. Never the secret itself.
 */
export function credentialOf(p: Principal): string {
  if (p.sessionId) return `session:${p.sessionId}`;
  return p.tokenId.includes(':') ? p.tokenId : `token:${p.tokenId}`;
}

export interface IssuedToken {
  id: string;
  token: string;
  expiresAt: string;
}

export interface UserInfo {
  id: string;
  name: string;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: string;
}

const TOKEN_PREFIX = 'igt_';

export interface AuthSettings {
  sessionHours: number;
  tokenDays: number;
  loginMaxFailures: number;
  loginWindowSeconds: number;
  sessionIdleMinutes: number;
}

/**
 * How long a resolved bearer token is trusted without reading the database again. A revocation or a disabled
 * account takes effect at once in the process that made it and within this time in other server processes.
 */
export const PRINCIPAL_CACHE_MS = 5_000;

export class AuthService {
  private readonly limiter: LoginLimiter;
  private readonly principals = new Map<string, { principal: Principal; until: number }>();
  /** Browser sessions of the web console (cookie + CSRF token). */
  readonly sessions: SessionService;

  constructor(
    private readonly store: MetadataStore,
    private readonly audit: AuditLog,
    private readonly settings: AuthSettings,
  ) {
    this.limiter = new LoginLimiter(store, settings.loginMaxFailures, settings.loginWindowSeconds * 1000);
    this.sessions = new SessionService(store, audit, settings);
  }

  private get db() {
    return this.store.db;
  }

  async countUsers(): Promise<number> {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Creates a user with a random one-time password that must be changed at first login. */
  async createUser(
    name: string,
    opts: { admin?: boolean; actor: string | null; client?: string | null },
  ): Promise<{ user: UserInfo; password: string }> {
    const parsed = nameSchema.safeParse(name);
    if (!parsed.success)
      throw badRequest('INVALID_NAME', `user name "${printable(name)}" ${parsed.error.issues[0]!.message}`);
    const password = generatePassword();
    const row = {
      id: newId(),
      name,
      password_hash: await hashPassword(password),
      is_admin: opts.admin ? 1 : 0,
      must_change_password: 1,
      disabled: 0,
      created_at: nowIso(),
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict('USER_EXISTS', `a user named "${name}" already exists`);
      throw e;
    }
    await this.audit.append({
      actor: opts.actor,
      action: 'user.create',
      target: `user:${name}`,
      outcome: 'success',
      client: opts.client ?? null,
      details: { admin: !!opts.admin },
    });
    return { user: toUserInfo(row), password };
  }

  async listUsers(): Promise<UserInfo[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map(toUserInfo);
  }

  async findUser(name: string): Promise<UserInfo | null> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toUserInfo(row) : null;
  }

  async login(
    name: string,
    password: string,
    client: string,
    newPassword?: string,
  ): Promise<IssuedToken & { user: UserInfo }> {
    const row = await this.checkPassword(name, password, client, newPassword);
    const token = await this.issueToken(row.id, 'login session', 'session', this.settings.sessionHours * 3600_000);
    await this.audit.append({
      actor: name,
      action: 'auth.login',
      outcome: 'success',
      client,
      details: { passwordChanged: newPassword !== undefined },
    });
    return { ...token, user: toUserInfo(row) };
  }

  /** The web console's login: the same checks, throttling and audit as `login`, answered with a browser session. */
  async loginSession(
    name: string,
    password: string,
    client: string,
    userAgent: string | null,
    newPassword?: string,
  ): Promise<NewSession & { user: UserInfo }> {
    const row = await this.checkPassword(name, password, client, newPassword);
    const session = await this.sessions.create(row.id, client, userAgent);
    await this.audit.append({
      actor: name,
      action: 'auth.login',
      outcome: 'success',
      client,
      target: `session:${session.id}`,
      details: { passwordChanged: newPassword !== undefined, session: true },
    });
    return { ...session, user: toUserInfo(row) };
  }

  /** Throttling, password check (audited on failure), and the first-login password change. */
  private async checkPassword(name: string, password: string, client: string, newPassword: string | undefined) {
    const { wait, ids } = await this.limiter.attempt(name, client);
    if (wait > 0) {
      await this.audit.append({
        actor: name,
        action: 'auth.login',
        outcome: 'denied',
        client,
        details: { reason: 'rate-limited' },
      });
      throw new AppError('LOGIN_RATE_LIMITED', 429, `too many failed logins; try again in ${wait} s`, {
        retryAfter: wait,
      });
    }
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyPasswordHash()));
    if (!row || !ok || row.disabled) {
      // The attempt's rows stay: they are this failure (see LoginLimiter.attempt).
      await this.audit.append({
        actor: name,
        action: 'auth.login',
        outcome: 'failure',
        client,
        details: { reason: 'bad-credentials' },
      });
      throw unauthorized('BAD_CREDENTIALS', 'wrong user name or password');
    }
    // The password was right: whatever follows (a one-time password still to replace), it was not a failure.
    try {
      if (row.must_change_password && !newPassword) {
        throw new AppError(
          'PASSWORD_CHANGE_REQUIRED',
          403,
          'this is a one-time password: choose a new password to log in',
        );
      }
      if (newPassword !== undefined) await this.setPassword(row.id, newPassword);
      await this.limiter.succeed(name);
      return row;
    } finally {
      await this.limiter.forget(ids);
    }
  }

  async changePassword(p: Principal, oldPassword: string, newPassword: string, client: string): Promise<void> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', p.userId).executeTakeFirstOrThrow();
    if (!(await verifyPassword(oldPassword, row.password_hash))) {
      await this.audit.append({ actor: p.name, action: 'auth.password', outcome: 'failure', client });
      throw unauthorized('BAD_CREDENTIALS', 'the current password is wrong');
    }
    await this.setPassword(p.userId, newPassword);
    await this.audit.append({ actor: p.name, action: 'auth.password', outcome: 'success', client });
  }

  private async setPassword(userId: string, password: string): Promise<void> {
    const weak = checkPasswordStrength(password);
    if (weak) throw badRequest('WEAK_PASSWORD', weak);
    await this.db
      .updateTable('users')
      .set({ password_hash: await hashPassword(password), must_change_password: 0 })
      .where('id', '=', userId)
      .execute();
  }

  async issueToken(userId: string, name: string, kind: 'session' | 'api', lifetimeMs: number): Promise<IssuedToken> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const id = newId();
    const expiresAt = new Date(Date.now() + lifetimeMs).toISOString();
    await this.db
      .insertInto('api_tokens')
      .values({
        id,
        user_id: userId,
        token_hash: sha256Hex(token),
        name,
        kind,
        created_at: nowIso(),
        expires_at: expiresAt,
        revoked_at: null,
        last_used_at: null,
      })
      .execute();
    return { id, token, expiresAt };
  }

  async createApiToken(p: Principal, name: string, days: number | undefined, client: string): Promise<IssuedToken> {
    const d = days ?? this.settings.tokenDays;
    if (!(d > 0 && d <= 3650)) throw badRequest('INVALID_EXPIRY', 'token lifetime must be between 1 and 3650 days');
    const t = await this.issueToken(p.userId, name, 'api', d * 86400_000);
    await this.audit.append({
      actor: p.name,
      action: 'token.create',
      target: `token:${t.id}`,
      outcome: 'success',
      client,
      details: { name, expiresAt: t.expiresAt },
    });
    return t;
  }

  async listTokens(p: Principal) {
    const rows = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'name', 'kind', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'])
      .where('user_id', '=', p.userId)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      kind: r.kind,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  async revokeToken(p: Principal, tokenId: string, client: string): Promise<void> {
    for (const [k, v] of this.principals) if (v.principal.tokenId === tokenId) this.principals.delete(k);
    const r = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: nowIso() })
      .where('id', '=', tokenId)
      .where('user_id', '=', p.userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound('TOKEN_NOT_FOUND', `no active token ${tokenId}`);
    await this.audit.append({
      actor: p.name,
      action: 'token.revoke',
      target: `token:${tokenId}`,
      outcome: 'success',
      client,
    });
  }

  /** Resolves a bearer token to its user; expired, revoked and unknown tokens are refused alike but audited apart. */
  async authenticate(token: string, client: string): Promise<Principal> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200)
      throw unauthorized('INVALID_TOKEN', 'the API token is not valid');
    const digest = sha256Hex(token);
    const nowMs = Date.now();
    const cached = this.principals.get(digest);
    if (cached && nowMs < cached.until) return cached.principal;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select([
        'api_tokens.id as tokenId',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'api_tokens.last_used_at',
        'users.id as userId',
        'users.name',
        'users.is_admin',
        'users.disabled',
      ])
      .where('api_tokens.token_hash', '=', digest)
      .executeTakeFirst();
    if (!row) throw unauthorized('INVALID_TOKEN', 'the API token is not valid');
    const now = new Date(nowMs);
    if (row.revoked_at) {
      await this.audit.append({
        actor: row.name,
        action: 'auth.token',
        outcome: 'denied',
        client,
        target: `token:${row.tokenId}`,
        details: { reason: 'revoked' },
      });
      throw unauthorized('TOKEN_REVOKED', 'the API token has been revoked');
    }
    if (new Date(row.expires_at) <= now) {
      await this.audit.append({
        actor: row.name,
        action: 'auth.token',
        outcome: 'denied',
        client,
        target: `token:${row.tokenId}`,
        details: { reason: 'expired' },
      });
      throw unauthorized('TOKEN_EXPIRED', 'the API token has expired; log in again or create a new token');
    }
    if (row.disabled) throw unauthorized('USER_DISABLED', 'this account is disabled');
    if (!row.last_used_at || now.getTime() - new Date(row.last_used_at).getTime() > 60_000) {
      await this.db
        .updateTable('api_tokens')
        .set({ last_used_at: now.toISOString() })
        .where('id', '=', row.tokenId)
        .execute();
    }
    const principal = { userId: row.userId, name: row.name, isAdmin: !!row.is_admin, tokenId: row.tokenId };
    // Kept for a few seconds (never past the token's expiry); a revocation here drops it at once.
    if (this.principals.size >= 10_000) this.principals.clear();
    this.principals.set(digest, {
      principal,
      until: Math.min(nowMs + PRINCIPAL_CACHE_MS, new Date(row.expires_at).getTime()),
    });
    return principal;
  }
}

function toUserInfo(r: { id: string; name: string; is_admin: number; disabled: number; created_at: string }): UserInfo {
  return { id: r.id, name: r.name, isAdmin: !!r.is_admin, disabled: !!r.disabled, createdAt: r.created_at };
}

/** Renders a user-supplied string safely inside an error message. */
export function printable(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(t).slice(1, -1);
}
