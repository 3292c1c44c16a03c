import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../http/app.js';
import { openPlatform } from '../platform.js';
import { sha256Hex } from '../util.js';
import { LoginLimiter } from './rate-limit.js';
import { DIALECTS, bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';

describe.each(DIALECTS)('authentication on %s', (dialect) => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await makeTestPlatform(dialect, { loginMaxFailures: 3 });
  });
  afterAll(async () => t.close());

  const login = (user: string, password: string, newPassword?: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { user, password, ...(newPassword ? { newPassword } : {}) },
    });

  it('a one-time password must be replaced at first login, then works no more', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(t.admin.token),
      payload: { name: 'carol' },
    });
    expect(res.statusCode).toBe(201);
    const otp = res.json().password as string;
    expect(otp.length).toBeGreaterThanOrEqual(20);
    const first = await login('carol', otp);
    expect(first.statusCode).toBe(403);
    expect(first.json().error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    const weak = await login('carol', otp, 'short');
    expect(weak.json().error.code).toBe('WEAK_PASSWORD');
    const ok = await login('carol', otp, 'correct horse battery staple');
    expect(ok.statusCode).toBe(200);
    const token = ok.json().token as string;
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) })).json()).toEqual({
      name: 'carol',
      isAdmin: false,
    });
    expect((await login('carol', otp)).statusCode).toBe(401);
    expect((await login('carol', 'correct horse battery staple')).statusCode).toBe(200);
  });

  it('stores passwords as scrypt hashes and tokens only as SHA-256 digests', async () => {
    const u = await t.platform.store.db
      .selectFrom('users')
      .selectAll()
      .where('name', '=', 'carol')
      .executeTakeFirstOrThrow();
    expect(u.password_hash).toMatch(/^scrypt\$17\$8\$1\$/);
    const tok = await t.platform.store.db.selectFrom('api_tokens').selectAll().execute();
    expect(tok.some((r) => r.token_hash === sha256Hex(t.admin.token))).toBe(true);
    expect(JSON.stringify(tok)).not.toContain(t.admin.token);
  });

  it('a wrong password is refused and audited', async () => {
    const res = await login('carol', 'wrong password!!');
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('BAD_CREDENTIALS');
    const unknown = await login('nobody', 'whatever at all');
    expect(unknown.json().error.code).toBe('BAD_CREDENTIALS');
    const ev = await t.platform.audit.list({ action: 'auth.login' });
    expect(ev.events.some((e) => e.actor === 'carol' && e.outcome === 'failure')).toBe(true);
  });

  it('rate-limits repeated failures', async () => {
    await t.user('dave');
    for (let i = 0; i < 3; i++) expect((await login('dave', `nope-${i}-xxxxxxxx`)).statusCode).toBe(401);
    const limited = await login('dave', 'nope-again-xxxxxxx');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('LOGIN_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('counts failures across server processes on the same database, and forgets them after the window', async () => {
    // A second server process (scale-out) on the same database and object store.
    const platform2 = await openPlatform(t.config);
    const app2 = await buildApp(platform2, { logger: false });
    try {
      await t.user('henry');
      const login2 = (user: string, password: string) =>
        app2.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { user, password } });
      expect((await login('henry', 'nope-1-xxxxxxxx')).statusCode).toBe(401);
      expect((await login2('henry', 'nope-2-xxxxxxxx')).statusCode).toBe(401);
      expect((await login('henry', 'nope-3-xxxxxxxx')).statusCode).toBe(401);
      // The limit is 3 per user: both processes refuse now, the one that saw only one failure too.
      expect((await login2('henry', 'nope-4-xxxxxxxx')).statusCode).toBe(429);
      expect((await login('henry', 'nope-5-xxxxxxxx')).statusCode).toBe(429);
    } finally {
      await app2.close();
      await platform2.close();
    }
    // Past the window, the failures no longer count (and are deleted at the next failure).
    const limiter = new LoginLimiter(t.platform.store, 3, 60_000);
    const later = Date.now() + 61_000;
    expect(await limiter.retryAfter('henry', 'elsewhere', Date.now())).toBeGreaterThan(0);
    expect(await limiter.retryAfter('henry', 'elsewhere', later)).toBe(0);
    await limiter.attempt('someone', 'elsewhere', later);
    const left = await t.platform.store.db
      .selectFrom('login_failures')
      .select('key')
      .where('key', '=', 'u:henry')
      .execute();
    expect(left).toHaveLength(0);
  });

  it('a burst of concurrent guesses cannot all pass the check while passwords are being verified', async () => {
    await t.user('ivan');
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { user: 'ivan', password: `guess-${i}-xxxxxxxx` },
          remoteAddress: `10.9.0.${i + 1}`,
        }),
      ),
    );
    const codes = burst.map((r) => r.statusCode);
    // The limit is 3 per user name: at most 3 guesses are checked, the others are refused before verification.
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(3);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(5);
    expect(codes.every((c) => c === 401 || c === 429)).toBe(true);
  });

  it('a correct one-time password without a new one does not count as a failure', async () => {
    const made = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(t.admin.token),
      payload: { name: 'judy' },
    });
    const otp = made.json().password as string;
    for (let i = 0; i < 5; i++) expect((await login('judy', otp)).json().error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    expect((await login('judy', otp, 'judy has a long new password')).statusCode).toBe(200);
  });

  it('refuses revoked and expired tokens with distinct codes', async () => {
    const u = await t.user('erin');
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: bearer(u.token),
      payload: { name: 'jupyter', days: 30 },
    });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json() as { id: string; token: string };
    expect(token).toMatch(/^igt_[A-Za-z0-9_-]{43}$/);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) })).statusCode).toBe(200);
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: bearer(u.token) })).statusCode,
    ).toBe(204);
    const revoked = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.code).toBe('TOKEN_REVOKED');

    const exp = await t.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: bearer(u.token),
      payload: { name: 'short' },
    });
    const expTok = exp.json() as { id: string; token: string };
    await t.platform.store.db
      .updateTable('api_tokens')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('id', '=', expTok.id)
      .execute();
    const expired = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(expTok.token) });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.code).toBe('TOKEN_EXPIRED');
    const garbage = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer('igt_notarealtoken') });
    expect(garbage.json().error.code).toBe('INVALID_TOKEN');
  });

  it('only administrators create users; names are validated', async () => {
    const u = await t.user('frank');
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(u.token),
      payload: { name: 'x' },
    });
    expect(r.statusCode).toBe(403);
    for (const bad of ['..', 'a/b', 'a\\b', '%2e%2e', 'a\u0000b', 'x'.repeat(129), '']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: bearer(t.admin.token),
        payload: { name: bad },
      });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error.code).toBe('INVALID_NAME');
    }
    const dup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(t.admin.token),
      payload: { name: 'frank' },
    });
    expect(dup.statusCode).toBe(409);
  });

  it('logout revokes the session token', async () => {
    const ok = await login('carol', 'correct horse battery staple');
    const token = ok.json().token as string;
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(token) })).statusCode,
    ).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(token) })).statusCode).toBe(401);
  });
});
