// The real `ichigen serve` binary serves the console and its cookie session over a real socket: the first
// administrator logs in to the console with the one-time password (choosing a new one), uses the API with the
// cookie, is refused an unsafe request without the CSRF header, and logs out.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../test-support/process.js';

describe('ichigen serve: console and browser session end to end', () => {
  let dir: string;
  let srv: ServerProcess;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-console-int-'));
    mkdirSync(path.join(dir, 'web'));
    writeFileSync(path.join(dir, 'web', 'index.html'), '<!doctype html><title>Ichigen</title><div id="root"></div>');
    srv = await startServerProcess(['--data', path.join(dir, 'data'), '--no-worker'], {
      ICHIGEN_WEB_ROOT: path.join(dir, 'web'),
    });
  });
  afterAll(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console at / and deep links, with its security headers', async () => {
    for (const p of ['/', '/projects/diabetes']) {
      const r = await fetch(`${srv.url}${p}`);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('<div id="root">');
      expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
    const api404 = await fetch(`${srv.url}/api/v1/nothing`);
    expect(api404.status).toBe(404);
    expect(((await api404.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('logs in with the one-time password, uses the cookie, needs the CSRF header, logs out', async () => {
    const login = await fetch(`${srv.url}/api/v1/auth/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'admin', password: srv.adminPassword, newPassword: 'a long new admin password' }),
    });
    expect(login.status).toBe(200);
    const { csrfToken, user, isAdmin } = (await login.json()) as { csrfToken: string; user: string; isAdmin: boolean };
    expect({ user, isAdmin }).toEqual({ user: 'admin', isAdmin: true });
    const setCookie = login.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^ichigen_session=igs_[^;]+;/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).not.toMatch(/Secure/i); // plain HTTP on loopback
    const cookie = setCookie.split(';')[0]!;

    const me = await fetch(`${srv.url}/api/v1/me`, { headers: { cookie } });
    expect(await me.json()).toEqual({ name: 'admin', isAdmin: true });
    const noCsrf = await fetch(`${srv.url}/api/v1/projects`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'p1', name: 'P1' }),
    });
    expect(noCsrf.status).toBe(403);
    const withCsrf = await fetch(`${srv.url}/api/v1/projects`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-ichigen-csrf': csrfToken },
      body: JSON.stringify({ slug: 'p1', name: 'P1' }),
    });
    expect(withCsrf.status).toBe(201);

    const out = await fetch(`${srv.url}/api/v1/auth/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-ichigen-csrf': csrfToken },
    });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^ichigen_session=;/);
    expect((await fetch(`${srv.url}/api/v1/me`, { headers: { cookie } })).status).toBe(401);
  });
});
