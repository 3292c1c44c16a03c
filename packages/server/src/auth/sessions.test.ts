// Browser sessions of the web console: cookie flags, CSRF on unsafe methods, logout, idle and absolute expiry,
// Secure under TLS and behind a trusted proxy — on SQLite and PostgreSQL.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../http/app.js';
import { DIALECTS, bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { sha256Hex } from '../util.js';

interface Cookie {
  name: string;
  value: string;
  attrs: Record<string, string | true>;
}

/** Parses the Set-Cookie headers of a response. */
function setCookies(headers: Record<string, unknown>): Cookie[] {
  const raw = headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? (raw as string[]) : [raw as string];
  return list.map((line) => {
    const [first, ...rest] = line.split(';').map((x) => x.trim());
    const eq = first!.indexOf('=');
    const attrs: Record<string, string | true> = {};
    for (const a of rest) {
      const i = a.indexOf('=');
      if (i < 0) attrs[a.toLowerCase()] = true;
      else attrs[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
    }
    return { name: first!.slice(0, eq), value: first!.slice(eq + 1), attrs };
  });
}

describe.each(DIALECTS)('web console sessions on %s', (dialect) => {
  let t: TestPlatform;
  let alice: { name: string; token: string; password: string };
  let boss: { name: string; token: string; password: string };

  beforeAll(async () => {
    t = await makeTestPlatform(dialect, { loginMaxFailures: 3, sessionIdleMinutes: 30, sessionHours: 8 });
    alice = await t.user('alice');
    boss = await t.user('boss', { admin: true });
  });
  afterAll(async () => t.close());

  const login = async (user: string, password: string, extra: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/session', payload: { user, password }, headers: extra });
  const session = async (user = alice.name, password = alice.password) => {
    const res = await login(user, password);
    expect(res.statusCode).toBe(200);
    const c = setCookies(res.headers).find((x) => x.name === 'ichigen_session')!;
    return { cookie: c.value, csrf: res.json().csrfToken as string, res, set: c };
  };
  const withCookie = (cookie: string, more: Record<string, string> = {}) => ({
    cookie: `ichigen_session=${cookie}`,
    ...more,
  });

  it('login answers user, isAdmin and a CSRF token, and sets a strict HttpOnly cookie (not Secure over plain HTTP)', async () => {
    const { res, set, csrf } = await session();
    expect(res.json()).toEqual({ user: 'alice', isAdmin: false, csrfToken: csrf });
    expect(csrf.length).toBeGreaterThanOrEqual(40);
    expect(set.value).toMatch(/^igs_[A-Za-z0-9_-]{43}$/); // 256 random bits
    expect(set.attrs.httponly).toBe(true);
    expect(String(set.attrs.samesite).toLowerCase()).toBe('strict');
    expect(set.attrs.path).toBe('/');
    expect(set.attrs.secure).toBeUndefined();
    expect(Number(set.attrs['max-age'])).toBeGreaterThan(8 * 3600 - 60);
    expect(Number(set.attrs['max-age'])).toBeLessThanOrEqual(8 * 3600);
  });

  it('stores only the digest of the session id and audits the login', async () => {
    const { cookie } = await session();
    const rows = await t.platform.store.db.selectFrom('web_sessions').selectAll().execute();
    expect(rows.some((r) => r.session_hash === sha256Hex(cookie))).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(cookie);
    const ev = await t.platform.audit.list({ action: 'auth.login' });
    expect(ev.events.some((e) => e.actor === 'alice' && e.outcome === 'success' && e.details.session === true)).toBe(
      true,
    );
  });

  it('GET /auth/session answers the session, or 401 without (or with a bad) cookie', async () => {
    const { cookie, csrf } = await session();
    const ok = await t.app.inject({ method: 'GET', url: '/api/v1/auth/session', headers: withCookie(cookie) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ user: 'alice', isAdmin: false, csrfToken: csrf });
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/auth/session' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('AUTH_REQUIRED');
    const bad = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/session',
      headers: withCookie('igs_' + 'A'.repeat(43)),
    });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.code).toBe('INVALID_SESSION');
    // A refused cookie is cleared so the browser stops sending it.
    const cleared = setCookies(bad.headers).find((c) => c.name === 'ichigen_session');
    expect(cleared?.value).toBe('');
    // A bearer token is not a console session.
    const viaBearer = await t.app.inject({ method: 'GET', url: '/api/v1/auth/session', headers: bearer(alice.token) });
    expect(viaBearer.statusCode).toBe(401);
  });

  it('the cookie authenticates API reads; a bearer token is still accepted as before', async () => {
    const { cookie } = await session();
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(cookie) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ name: 'alice', isAdmin: false });
    const tok = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(alice.token) });
    expect(tok.json()).toEqual({ name: 'alice', isAdmin: false });
    const nothing = await t.app.inject({ method: 'GET', url: '/api/v1/me' });
    expect(nothing.statusCode).toBe(401);
    expect(nothing.json().error.code).toBe('AUTH_REQUIRED');
  });

  it('unsafe methods with the cookie need the CSRF header: missing or wrong → 403 CSRF_REQUIRED, right → done', async () => {
    const { cookie, csrf } = await session(boss.name, boss.password);
    const create = (headers: Record<string, string>, slug: string) =>
      t.app.inject({ method: 'POST', url: '/api/v1/projects', headers, payload: { slug, name: slug } });
    const missing = await create(withCookie(cookie), 'csrf-missing');
    expect(missing.statusCode).toBe(403);
    expect(missing.json().error.code).toBe('CSRF_REQUIRED');
    const wrong = await create(withCookie(cookie, { 'x-ichigen-csrf': csrf.slice(0, -2) + 'xx' }), 'csrf-wrong');
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error.code).toBe('CSRF_REQUIRED');
    // Another session's token does not fit this session.
    const other = await session();
    const crossed = await create(withCookie(cookie, { 'x-ichigen-csrf': other.csrf }), 'csrf-crossed');
    expect(crossed.statusCode).toBe(403);
    // Nothing was created by the refused requests.
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/projects', headers: withCookie(cookie) });
    expect(list.json().projects.map((p: { slug: string }) => p.slug)).toEqual([]);
    const ok = await create(withCookie(cookie, { 'x-ichigen-csrf': csrf }), 'csrf-ok');
    expect(ok.statusCode).toBe(201);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/projects/csrf-ok/members/boss',
      headers: withCookie(cookie),
    });
    expect(del.statusCode).toBe(403);
    expect(del.json().error.code).toBe('CSRF_REQUIRED');
    const put = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/projects/csrf-ok/datasets/d/policy',
      headers: withCookie(cookie),
      payload: {},
    });
    expect(put.json().error.code).toBe('CSRF_REQUIRED');
    // Reads need no CSRF token.
    const read = await t.app.inject({ method: 'GET', url: '/api/v1/projects/csrf-ok', headers: withCookie(cookie) });
    expect(read.statusCode).toBe(200);
  });

  it('bearer-token requests need no CSRF header, even when a cookie is also sent', async () => {
    const { cookie } = await session();
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects',
      headers: { ...bearer(boss.token), ...withCookie(cookie) },
      payload: { slug: 'by-token', name: 'by token' },
    });
    expect(r.statusCode).toBe(201);
  });

  it('logout ends the session on the server and clears the cookie; it needs the CSRF token', async () => {
    const { cookie, csrf } = await session();
    const noCsrf = await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/session', headers: withCookie(cookie) });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('CSRF_REQUIRED');
    const out = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/auth/session',
      headers: withCookie(cookie, { 'x-ichigen-csrf': csrf }),
    });
    expect(out.statusCode).toBe(204);
    const cleared = setCookies(out.headers).find((c) => c.name === 'ichigen_session')!;
    expect(cleared.value).toBe('');
    expect(cleared.attrs.expires && new Date(String(cleared.attrs.expires)).getTime()).toBeLessThan(Date.now());
    // The old cookie (replayed, e.g. from a copy) no longer works.
    const after = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(cookie) });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('SESSION_REVOKED');
    const again = await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/session', headers: withCookie(cookie) });
    expect(again.statusCode).toBe(204);
    const ev = await t.platform.audit.list({ action: 'auth.logout' });
    expect(ev.events.some((e) => e.actor === 'alice' && e.outcome === 'success')).toBe(true);
    const denied = await t.platform.audit.list({ action: 'auth.session' });
    expect(denied.events.some((e) => e.outcome === 'denied' && e.details.reason === 'revoked')).toBe(true);
  });

  it('POST /auth/logout with the cookie ends the session too', async () => {
    const { cookie, csrf } = await session();
    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: withCookie(cookie, { 'x-ichigen-csrf': csrf }),
    });
    expect(out.statusCode).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(cookie) });
    expect(after.json().error.code).toBe('SESSION_REVOKED');
  });

  it('a session ends after the idle timeout and at its absolute expiry', async () => {
    const db = t.platform.store.db;
    const idle = await session();
    const ok = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(idle.cookie) });
    expect(ok.statusCode).toBe(200);
    // 29 minutes of inactivity: still valid (and the request moves last_seen_at forward).
    await db
      .updateTable('web_sessions')
      .set({ last_seen_at: new Date(Date.now() - 29 * 60_000).toISOString() })
      .where('session_hash', '=', sha256Hex(idle.cookie))
      .execute();
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(idle.cookie) })).statusCode,
    ).toBe(200);
    const seen = await db
      .selectFrom('web_sessions')
      .select('last_seen_at')
      .where('session_hash', '=', sha256Hex(idle.cookie))
      .executeTakeFirstOrThrow();
    expect(Date.now() - new Date(seen.last_seen_at).getTime()).toBeLessThan(60_000);
    // 31 minutes: over.
    await db
      .updateTable('web_sessions')
      .set({ last_seen_at: new Date(Date.now() - 31 * 60_000).toISOString() })
      .where('session_hash', '=', sha256Hex(idle.cookie))
      .execute();
    const gone = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(idle.cookie) });
    expect(gone.statusCode).toBe(401);
    expect(gone.json().error.code).toBe('SESSION_EXPIRED');
    expect(setCookies(gone.headers).find((c) => c.name === 'ichigen_session')?.value).toBe('');

    const abs = await session();
    await db
      .updateTable('web_sessions')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('session_hash', '=', sha256Hex(abs.cookie))
      .execute();
    const expired = await t.app.inject({ method: 'GET', url: '/api/v1/auth/session', headers: withCookie(abs.cookie) });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.code).toBe('SESSION_EXPIRED');
    const denied = await t.platform.audit.list({ action: 'auth.session' });
    const reasons = denied.events.filter((e) => e.outcome === 'denied').map((e) => e.details.reason);
    expect(reasons).toEqual(expect.arrayContaining(['idle', 'expired']));
  });

  it("a login removes the user's sessions that ended over a day ago, and only those", async () => {
    const u = await t.user('tidy');
    const db = t.platform.store.db;
    const old = await session(u.name, u.password);
    const recent = await session(u.name, u.password);
    const live = await session(u.name, u.password);
    const longAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await db
      .updateTable('web_sessions')
      .set({ expires_at: longAgo })
      .where('session_hash', '=', sha256Hex(old.cookie))
      .execute();
    await db
      .updateTable('web_sessions')
      .set({ revoked_at: new Date(Date.now() - 3600_000).toISOString() })
      .where('session_hash', '=', sha256Hex(recent.cookie))
      .execute();
    await session(u.name, u.password);
    const left = await db
      .selectFrom('web_sessions')
      .innerJoin('users', 'users.id', 'web_sessions.user_id')
      .select('session_hash')
      .where('users.name', '=', 'tidy')
      .execute();
    const hashes = left.map((r) => r.session_hash);
    expect(hashes).not.toContain(sha256Hex(old.cookie));
    expect(hashes).toContain(sha256Hex(recent.cookie));
    expect(hashes).toContain(sha256Hex(live.cookie));
    expect(hashes).toHaveLength(3);
  });

  it('login failures are throttled and audited exactly like the password login', async () => {
    const u = await t.user('mallory-target');
    for (let i = 0; i < 3; i++) {
      const r = await login(u.name, `wrong-password-${i}`);
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('BAD_CREDENTIALS');
      expect(setCookies(r.headers)).toEqual([]);
    }
    const limited = await login(u.name, u.password);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('LOGIN_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The password login shares the same counters.
    const viaToken = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { user: u.name, password: u.password },
    });
    expect(viaToken.statusCode).toBe(429);
    const ev = await t.platform.audit.list({ action: 'auth.login' });
    const mine = ev.events.filter((e) => e.actor === u.name);
    expect(mine.filter((e) => e.outcome === 'failure')).toHaveLength(3);
    expect(mine.some((e) => e.outcome === 'denied' && e.details.reason === 'rate-limited')).toBe(true);
  });

  it('a one-time password must be changed at the first console login', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: bearer(t.admin.token),
      payload: { name: 'newbie' },
    });
    const otp = created.json().password as string;
    const first = await login('newbie', otp);
    expect(first.statusCode).toBe(403);
    expect(first.json().error.code).toBe('PASSWORD_CHANGE_REQUIRED');
    expect(setCookies(first.headers)).toEqual([]);
    const changed = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/session',
      payload: { user: 'newbie', password: otp, newPassword: 'a much longer new password' },
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json().user).toBe('newbie');
  });

  it('a disabled account cannot use its session', async () => {
    const u = await t.user('leaver');
    const s = await session(u.name, u.password);
    await t.platform.store.db.updateTable('users').set({ disabled: 1 }).where('name', '=', 'leaver').execute();
    const r = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(s.cookie) });
    expect(r.statusCode).toBe(401);
    expect(r.json().error.code).toBe('USER_DISABLED');
  });

  it('the cookie is Secure behind a trusted proxy that says https, and not when the proxy is not trusted', async () => {
    const trusted = await buildApp({ ...t.platform, config: { ...t.platform.config, trustProxy: true } });
    try {
      const r = await trusted.inject({
        method: 'POST',
        url: '/api/v1/auth/session',
        payload: { user: alice.name, password: alice.password },
        headers: { 'x-forwarded-proto': 'https' },
      });
      expect(r.statusCode).toBe(200);
      expect(setCookies(r.headers).find((c) => c.name === 'ichigen_session')!.attrs.secure).toBe(true);
      const plain = await trusted.inject({
        method: 'POST',
        url: '/api/v1/auth/session',
        payload: { user: alice.name, password: alice.password },
        headers: { 'x-forwarded-proto': 'http' },
      });
      expect(setCookies(plain.headers).find((c) => c.name === 'ichigen_session')!.attrs.secure).toBeUndefined();
    } finally {
      await trusted.close();
    }
    // Without trustProxy a client cannot talk the server into believing it came over TLS (nor the opposite).
    const r = await login(alice.name, alice.password, { 'x-forwarded-proto': 'https' });
    expect(setCookies(r.headers).find((c) => c.name === 'ichigen_session')!.attrs.secure).toBeUndefined();
  });

  it.skipIf(!existsSync('/usr/bin/openssl'))('the cookie is Secure when the server itself speaks TLS', async () => {
    const key = path.join(t.dir, 'tls.key');
    const cert = path.join(t.dir, 'tls.crt');
    execFileSync(
      '/usr/bin/openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const app = await buildApp(t.platform, { https: { key: readFileSync(key), cert: readFileSync(cert) } });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const body = JSON.stringify({ user: alice.name, password: alice.password });
      const res = await new Promise<{ status: number; setCookie: string[] }>((resolve, reject) => {
        const rq = https.request(
          {
            host: '127.0.0.1',
            port,
            path: '/api/v1/auth/session',
            method: 'POST',
            ca: readFileSync(cert),
            servername: 'localhost',
            checkServerIdentity: () => undefined,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (r) => {
            r.resume();
            r.on('end', () => resolve({ status: r.statusCode ?? 0, setCookie: r.headers['set-cookie'] ?? [] }));
          },
        );
        rq.on('error', reject);
        rq.end(body);
      });
      expect(res.status).toBe(200);
      const c = setCookies({ 'set-cookie': res.setCookie }).find((x) => x.name === 'ichigen_session')!;
      expect(c.attrs.secure).toBe(true);
      expect(c.attrs.httponly).toBe(true);
    } finally {
      await app.close();
    }
  });
});
