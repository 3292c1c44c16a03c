// The web console's static serving: index.html with strict security headers at `/`, SPA fallback for GET paths
// outside the API, hashed assets cached for good, JSON 404s for the API, no traversal out of the web root, and a
// helpful page when the console is not built.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from './app.js';
import { CONSOLE_CSP, defaultWebRoot, isApiPath } from './console.js';
import { bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';

const INDEX = '<!doctype html><html><head><script type="module" src="/assets/main-abc123.js"></script></head></html>';

describe('web console static files', () => {
  let t: TestPlatform;
  let web: string;
  let outside: string;
  beforeAll(async () => {
    web = mkdtempSync(path.join(os.tmpdir(), 'ichigen-web-'));
    mkdirSync(path.join(web, 'dist', 'assets'), { recursive: true });
    writeFileSync(path.join(web, 'dist', 'index.html'), INDEX);
    writeFileSync(path.join(web, 'dist', 'assets', 'main-abc123.js'), 'console.log("hi")');
    writeFileSync(path.join(web, 'dist', '.env'), 'SECRET=1');
    // A file next to the web root that must never be reachable through it.
    outside = path.join(web, 'secret.txt');
    writeFileSync(outside, 'not for the web');
    t = await makeTestPlatform('sqlite', { webRoot: path.join(web, 'dist') });
  });
  afterAll(async () => {
    await t.close();
    rmSync(web, { recursive: true, force: true });
  });

  const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers });

  const expectHtmlHeaders = (h: Record<string, unknown>) => {
    expect(h['content-security-policy']).toBe(CONSOLE_CSP);
    expect(String(h['content-security-policy'])).toContain("default-src 'self'");
    expect(String(h['content-security-policy'])).toContain("frame-ancestors 'none'");
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['x-frame-options']).toBe('DENY');
    expect(h['cache-control']).toBe('no-cache');
  };

  it('serves index.html at / with strict security headers', async () => {
    const r = await get('/');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.body).toBe(INDEX);
    expectHtmlHeaders(r.headers);
    expect((await t.app.inject({ method: 'HEAD', url: '/' })).statusCode).toBe(200);
  });

  it('falls back to index.html for the console routes (deep links)', async () => {
    for (const url of ['/projects', '/projects/diabetes/models/hba1c/versions/2', '/login?next=%2Faudit']) {
      const r = await get(url, { accept: 'text/html' });
      expect(r.statusCode, url).toBe(200);
      expect(r.body).toBe(INDEX);
      expectHtmlHeaders(r.headers);
    }
  });

  it('serves hashed assets with a long cache and nosniff', async () => {
    const r = await get('/assets/main-abc123.js');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/javascript/);
    expect(r.body).toBe('console.log("hi")');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it('keeps API 404s JSON and never answers API paths with the console', async () => {
    for (const url of [
      '/api/v1/nope',
      '/api',
      '/api/v1/projects/x/nothing-here',
      '/cds-services/a/b/c',
      '/healthz/x',
    ]) {
      const r = await get(url, { accept: 'text/html' });
      expect(r.statusCode, url).toBe(404);
      expect(r.headers['content-type'], url).toMatch(/^application\/json/);
      expect(r.json().error.code).toBe('NOT_FOUND');
    }
    const post = await t.app.inject({ method: 'POST', url: '/projects' });
    expect(post.statusCode).toBe(404);
    expect(post.json().error.code).toBe('NOT_FOUND');
    // The API itself is untouched.
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await get('/openapi.json')).json().openapi).toMatch(/^3\./);
    expect((await get('/api/v1/me', bearer(t.admin.token))).json().name).toBe('admin');
  });

  it('a missing file is a 404, not the app page', async () => {
    const r = await get('/assets/gone-999.js');
    expect(r.statusCode).toBe(404);
    expect(r.body).not.toContain('<html');
    expect((await get('/favicon.ico')).statusCode).toBe(404);
  });

  it('never serves dotfiles, directory listings or anything outside the web root', async () => {
    expect((await get('/.env')).statusCode).toBe(404);
    for (const url of ['/%E0%A4%A', '/assets/%E0%A4%A.js', '/%00']) {
      const r = await get(url);
      expect(r.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(r.statusCode, url).toBeLessThan(500);
    }
    for (const url of ['/assets', '/assets/']) {
      const r = await get(url);
      // The app's page (a deep link) or a 404 — never a listing of the directory.
      expect(r.statusCode === 404 || r.body === INDEX, `${url}: ${r.statusCode} ${r.body}`).toBe(true);
    }
    for (const url of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
    ]) {
      const r = await get(url);
      expect(r.body, url).not.toContain('not for the web');
      expect(r.statusCode, url).not.toBe(500);
    }
  });

  it('recognises the API prefixes exactly', () => {
    expect(isApiPath('/api/v1/x')).toBe(true);
    expect(isApiPath('/api')).toBe(true);
    expect(isApiPath('/openapi.json')).toBe(true);
    expect(isApiPath('/cds-services')).toBe(true);
    expect(isApiPath('/healthz?x=1')).toBe(true);
    expect(isApiPath('/apiary')).toBe(false);
    expect(isApiPath('/projects/api')).toBe(false);
  });

  it('defaults to packages/web/dist next to the server package', () => {
    expect(defaultWebRoot()).toBe(path.resolve(import.meta.dirname, '../../../web/dist'));
  });
});

describe('web console not built', () => {
  let t: TestPlatform;
  let app: App;
  let empty: string;
  beforeAll(async () => {
    empty = mkdtempSync(path.join(os.tmpdir(), 'ichigen-web-empty-'));
    t = await makeTestPlatform('sqlite', { webRoot: path.join(empty, 'does-not-exist') });
    app = t.app;
  });
  afterAll(async () => {
    await t.close();
    rmSync(empty, { recursive: true, force: true });
  });

  it('answers / with a page saying how to build it; the API still works', async () => {
    const r = await app.inject({ method: 'GET', url: '/' });
    expect(r.statusCode).toBe(503);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.body).toContain('not built');
    expect(r.body).toContain('npm run build');
    expect(r.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect((await app.inject({ method: 'GET', url: '/api/v1/nope' })).json().error.code).toBe('NOT_FOUND');
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('picks up a console built while the server runs', async () => {
    mkdirSync(path.join(empty, 'does-not-exist'), { recursive: true });
    writeFileSync(path.join(empty, 'does-not-exist', 'index.html'), INDEX);
    const r = await app.inject({ method: 'GET', url: '/studies' });
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe(INDEX);
  });

  it('can be turned off (the OpenAPI command builds the app without it)', async () => {
    const bare = await buildApp(t.platform, { console: false });
    try {
      const r = await bare.inject({ method: 'GET', url: '/' });
      expect(r.statusCode).toBe(404);
      expect(r.json().error.code).toBe('NOT_FOUND');
    } finally {
      await bare.close();
    }
  });

  it('/healthz says 503 "starting" until the server says it is ready', async () => {
    const readiness = { ready: false };
    const starting = await buildApp(t.platform, { console: false, readiness });
    try {
      const r = await starting.inject({ method: 'GET', url: '/healthz' });
      expect(r.statusCode).toBe(503);
      expect(r.json()).toEqual({ status: 'starting' });
      readiness.ready = true;
      expect((await starting.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    } finally {
      await starting.close();
    }
  });
});
