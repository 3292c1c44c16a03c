// `ichigen openapi` prints the API's OpenAPI document without a server, a data directory or a database.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';

describe('ichigen openapi', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-openapi-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // A private temporary directory, so the "nothing left behind" check sees only this command's files.
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp);

  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let code: number;
    try {
      code = await main(['node', 'ichigen', ...args], {
        out: (s) => out.push(s),
        err: (s) => err.push(s),
        // A configured data directory must not be touched.
        env: { ICHIGEN_DATA: path.join(dir, 'must-not-exist') },
      });
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    return { code, out: out.join('\n'), err: err.join('\n'), leftovers: readdirSync(tmp) };
  };

  it('writes the document to --out, including the console session endpoints, and leaves nothing behind', async () => {
    const file = path.join(dir, 'openapi.json');
    const r = await run(['openapi', '--out', file]);
    expect(r.code).toBe(0);
    expect(r.leftovers).toEqual([]);
    expect(existsSync(path.join(dir, 'must-not-exist'))).toBe(false);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.openapi).toMatch(/^3\./);
    const session = doc.paths['/api/v1/auth/session'];
    expect(Object.keys(session).sort()).toEqual(['delete', 'get', 'post']);
    expect(session.post.responses['200'].content['application/json'].schema.properties).toHaveProperty('csrfToken');
    expect(doc.components.securitySchemes.session).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: 'ichigen_session',
    });
    expect(doc.paths['/api/v1/projects/{project}/datasets/{dataset}/versions']).toBeDefined();
    // The console's own routes are not API.
    expect(doc.paths['/']).toBeUndefined();
    expect(Object.keys(doc.paths).some((p) => p.includes('*'))).toBe(false);
  });

  it('prints the same document on standard output', async () => {
    const r = await run(['openapi']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual(JSON.parse(readFileSync(path.join(dir, 'openapi.json'), 'utf8')));
  });
});
