// The API client against the real server (a child process on a throw-away data directory): cookie session, the
// CSRF header on unsafe requests, and ApiError carrying the server's {error:{code,message}}.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess, type ServerProcess } from '../../../server/src/test-support/process';
import { ApiError, createApi, ok, setCsrfToken } from './client';

/** What a browser does with cookies for one origin: keep Set-Cookie, send Cookie. */
function cookieFetch(): typeof fetch {
  const jar = new Map<string, string>();
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    if (jar.size) req.headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(req);
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  };
}

let dir: string;
let srv: ServerProcess;
let password: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ichigen-web-client-'));
  const data = path.join(dir, 'data');
  const made = await runCli(['admin', 'create-user', 'carol', '--admin', '--data', data, '--json']);
  expect(made.code, made.stderr).toBe(0);
  const oneTime = (JSON.parse(made.stdout) as { password: string }).password;
  srv = await startServerProcess(['--data', data]);
  // Replace the one-time password through the session route itself.
  const api = createApi(srv.url, cookieFetch());
  password = 'carol-long-password-1';
  await expect(
    ok(api.POST('/api/v1/auth/session', { body: { user: 'carol', password: oneTime } })),
  ).rejects.toMatchObject({ code: 'PASSWORD_CHANGE_REQUIRED' });
  await ok(api.POST('/api/v1/auth/session', { body: { user: 'carol', password: oneTime, newPassword: password } }));
});

afterAll(async () => {
  setCsrfToken(null);
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('API client', () => {
  it('turns a refused login into an ApiError with the server code and message', async () => {
    const api = createApi(srv.url, cookieFetch());
    const e = await ok(api.POST('/api/v1/auth/session', { body: { user: 'carol', password: 'wrong-password' } })).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(401);
    expect((e as ApiError).code).toMatch(/^[A-Z_]+$/);
    expect((e as ApiError).message.length).toBeGreaterThan(5);
  });

  it('uses the session cookie, and sends the CSRF token on unsafe requests', async () => {
    const api = createApi(srv.url, cookieFetch());
    await expect(ok(api.GET('/api/v1/projects'))).rejects.toMatchObject({ status: 401 });
    const s = await ok(api.POST('/api/v1/auth/session', { body: { user: 'carol', password } }));
    expect(s).toMatchObject({ user: 'carol', isAdmin: true });
    expect(s.csrfToken.length).toBeGreaterThan(10);
    expect(await ok(api.GET('/api/v1/me'))).toMatchObject({ name: 'carol' });

    // Without the token the server refuses an unsafe cookie-authenticated request…
    setCsrfToken(null);
    const refused = await ok(
      api.POST('/api/v1/projects', { body: { slug: 'csrf-test', name: 'CSRF test' } as never }),
    ).catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(403);
    // …and with it (added by the middleware) the same request succeeds.
    setCsrfToken(s.csrfToken);
    await ok(api.POST('/api/v1/projects', { body: { slug: 'csrf-test', name: 'CSRF test' } as never }));
    const list = await ok(api.GET('/api/v1/projects'));
    expect(list.projects.map((p) => p.slug)).toContain('csrf-test');

    await ok(api.DELETE('/api/v1/auth/session'));
    await expect(ok(api.GET('/api/v1/auth/session'))).rejects.toMatchObject({ status: 401 });
  });

  it('reports an unreachable server as NETWORK_ERROR', async () => {
    const api = createApi('http://127.0.0.1:9');
    await expect(ok(api.GET('/api/v1/me'))).rejects.toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
  });
});
