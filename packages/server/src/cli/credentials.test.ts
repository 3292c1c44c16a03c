import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCredentials, writeCredentials } from './credentials.js';

describe('stored credentials', () => {
  const dirs: string[] = [];
  const home = (): Record<string, string> => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'ichigen-cred-'));
    dirs.push(d);
    return { ICHIGEN_CONFIG_HOME: d };
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('the environment wins over the file', () => {
    const env = home();
    writeCredentials({ url: 'http://127.0.0.1:8080', token: 'stored', user: 'alice' }, env);
    expect(readCredentials(env)).toEqual({ url: 'http://127.0.0.1:8080', token: 'stored', user: 'alice' });
    expect(readCredentials({ ...env, ICHIGEN_TOKEN: 'env' }).token).toBe('env');
    expect(readCredentials({ ...env, ICHIGEN_URL: 'http://127.0.0.1:8080/', ICHIGEN_TOKEN: 'e' })).toEqual({
      url: 'http://127.0.0.1:8080/',
      token: 'e',
      user: 'alice',
    });
  });

  it('a stored token is never sent to another server named by ICHIGEN_URL', () => {
    const env = home();
    writeCredentials({ url: 'https://ichigen.hospital.example', token: 'stored', user: 'alice' }, env);
    // The same server (a trailing slash does not make another one): the login still applies.
    expect(readCredentials({ ...env, ICHIGEN_URL: 'https://ichigen.hospital.example/' }).token).toBe('stored');
    // Another host, port, scheme or path: not logged in there.
    for (const other of [
      'https://evil.example',
      'https://ichigen.hospital.example:8443',
      'http://ichigen.hospital.example',
      'https://ichigen.hospital.example/other',
      'not a url',
    ]) {
      const c = readCredentials({ ...env, ICHIGEN_URL: other });
      expect(c, other).toEqual({ url: other });
    }
    // A hand-written file with a token and no server: the token goes to no server ICHIGEN_URL names.
    const partial = home();
    writeCredentials({ token: 'orphan' } as never, partial);
    expect(readCredentials({ ...partial, ICHIGEN_URL: 'https://evil.example' })).toEqual({
      url: 'https://evil.example',
    });
  });
});
