import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { loadConfig } from './config.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'ichigen-config-'));

describe('loadConfig', () => {
  it('uses embedded defaults under ./ichigen-data', () => {
    const cwd = tmp();
    const c = loadConfig({ env: {}, cwd });
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.dataDir).toBe(path.join(cwd, 'ichigen-data'));
    expect(c.databaseUrl).toBe(`sqlite:${path.join(cwd, 'ichigen-data', 'ichigen.sqlite')}`);
    expect(c.objectStore).toEqual({ kind: 'fs', root: path.join(cwd, 'ichigen-data', 'objects') });
    expect(c.maxParallelTrials).toBe(Math.max(2, os.availableParallelism()));
    expect(loadConfig({ env: { ICHIGEN_MAX_PARALLEL_TRIALS: '6' }, cwd }).maxParallelTrials).toBe(6);
  });

  it('layers file < environment < flags', () => {
    const cwd = tmp();
    writeFileSync(
      path.join(cwd, 'ichigen.config.json'),
      JSON.stringify({ port: 9000, logLevel: 'warn', maxUploadBytes: 1000 }),
    );
    const c = loadConfig({ env: { ICHIGEN_PORT: '9100', ICHIGEN_LOG_LEVEL: 'debug' }, cwd, flags: { port: '9200' } });
    expect(c.port).toBe(9200);
    expect(c.logLevel).toBe('debug');
    expect(c.maxUploadBytes).toBe(1000);
  });

  it('switches to scale-out storage from the environment', () => {
    const c = loadConfig({
      env: {
        ICHIGEN_DATABASE_URL: 'postgres://u@db:5432/ichigen',
        ICHIGEN_OBJECT_STORE: 's3://ichigen-data?endpoint=http://minio:9000&region=us-east-1',
      },
      cwd: tmp(),
    });
    expect(c.databaseUrl).toBe('postgres://u@db:5432/ichigen');
    expect(c.objectStore).toEqual({ kind: 's3', url: 's3://ichigen-data?endpoint=http://minio:9000&region=us-east-1' });
  });

  it('names the bad setting in one line', () => {
    const bad = (env: Record<string, string>, re: RegExp) => {
      try {
        loadConfig({ env, cwd: tmp() });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(AppError);
        expect((e as AppError).code).toBe('CONFIG_INVALID');
        expect((e as Error).message).toMatch(re);
        expect((e as Error).message).not.toContain('\n');
      }
    };
    bad({ ICHIGEN_PORT: 'eighty' }, /port \(ICHIGEN_PORT\)/);
    bad({ ICHIGEN_PORT: '70000' }, /port/);
    bad({ ICHIGEN_DATABASE_URL: 'mysql://x' }, /databaseUrl \(ICHIGEN_DATABASE_URL\)/);
    bad({ ICHIGEN_LOG_LEVEL: 'loud' }, /logLevel/);
    bad({ ICHIGEN_OBJECT_STORE: 's3://' }, /objectStore/);
    bad({ ICHIGEN_MAX_PARALLEL_TRIALS: '0' }, /maxParallelTrials \(ICHIGEN_MAX_PARALLEL_TRIALS\)/);
  });

  it('rejects unknown keys and unreadable files', () => {
    const cwd = tmp();
    writeFileSync(path.join(cwd, 'c.json'), JSON.stringify({ prot: 1 }));
    expect(() => loadConfig({ env: {}, cwd, file: 'c.json' })).toThrow(/prot/);
    writeFileSync(path.join(cwd, 'd.json'), '{not json');
    expect(() => loadConfig({ env: {}, cwd, file: 'd.json' })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ env: {}, cwd, file: 'missing.json' })).toThrow(/cannot be read/);
  });

  it('publicUrl: an http(s) origin without a path; anything else stops start-up naming the setting', () => {
    const cwd = tmp();
    expect(loadConfig({ env: { ICHIGEN_PUBLIC_URL: 'https://ichigen.hospital.local:8443' }, cwd }).publicUrl).toBe(
      'https://ichigen.hospital.local:8443',
    );
    expect(loadConfig({ env: {}, cwd }).publicUrl).toBeUndefined();
    for (const bad of ['ichigen.local', 'ftp://x.example', 'https://x.example/', 'https://x.example/cds']) {
      expect(() => loadConfig({ env: { ICHIGEN_PUBLIC_URL: bad }, cwd })).toThrow(/publicUrl/);
    }
  });

  it('reads the web console settings: trustProxy, sessionIdleMinutes, webRoot', () => {
    const cwd = tmp();
    const d = loadConfig({ env: {}, cwd });
    expect(d.trustProxy).toBe(false);
    expect(d.sessionIdleMinutes).toBe(60);
    expect(d.webRoot).toBeUndefined();
    expect(loadConfig({ env: { ICHIGEN_TRUST_PROXY: 'true' }, cwd }).trustProxy).toBe(true);
    expect(loadConfig({ env: { ICHIGEN_TRUST_PROXY: 'false' }, cwd }).trustProxy).toBe(false);
    expect(loadConfig({ env: { ICHIGEN_TRUST_PROXY: 'loopback, 10.0.0.0/8' }, cwd }).trustProxy).toBe(
      'loopback, 10.0.0.0/8',
    );
    expect(() => loadConfig({ env: { ICHIGEN_TRUST_PROXY: 'yes please;' }, cwd })).toThrow(
      /trustProxy \(ICHIGEN_TRUST_PROXY\)/,
    );
    expect(loadConfig({ env: { ICHIGEN_SESSION_IDLE_MINUTES: '15' }, cwd }).sessionIdleMinutes).toBe(15);
    expect(() => loadConfig({ env: { ICHIGEN_SESSION_IDLE_MINUTES: '0' }, cwd })).toThrow(/sessionIdleMinutes/);
    expect(loadConfig({ env: { ICHIGEN_WEB_ROOT: 'web/dist' }, cwd }).webRoot).toBe(path.join(cwd, 'web', 'dist'));
  });
});
