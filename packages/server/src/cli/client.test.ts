// The CLI's verified download against a server that sends wrong or no digests. Our own server never does (its reads
// verify every object first, see datasets/faults.int.test.ts), so the misbehaving server here is a small node:http
// stand-in for what sits between: a proxy or cache that alters or strips the response.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, CliError } from './client.js';
import { main } from './main.js';

const BODY = Buffer.from('id,hba1c\n1,6.8\n2,7.4\n');
const GOOD = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;
const OTHER = `sha256:${'0'.repeat(64)}`;
/** What a tampering proxy sends for `dataset pull`: other bytes, with a header that matches them. */
const TAMPERED = Buffer.from('id,hba1c\n1,6.8\n2,4.7\n');
const TAMPERED_DIGEST = `sha256:${createHash('sha256').update(TAMPERED).digest('hex')}`;

let server: Server;
let api: ApiClient;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ichigen-cli-download-'));
  server = createServer((req, res) => {
    // `dataset pull p/<dataset>@1`: version info recording BODY's digest, then content that is BODY ("honest") or
    // TAMPERED with TAMPERED's digest in the header ("tampered").
    const pull = /^\/api\/v1\/projects\/p\/datasets\/(honest|tampered)\/versions\/1(\/content)?$/.exec(req.url ?? '');
    if (pull) {
      if (!pull[2]) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'tabular', sizeBytes: BODY.length, contentDigest: GOOD }));
        return;
      }
      const body = pull[1] === 'honest' ? BODY : TAMPERED;
      const digest = pull[1] === 'honest' ? GOOD : TAMPERED_DIGEST;
      res.writeHead(200, { 'content-length': String(body.length), 'x-ichigen-digest': digest }).end(body);
      return;
    }
    const headers: Record<string, string> = { 'content-length': String(BODY.length) };
    if (req.url?.endsWith('/good')) headers['x-ichigen-digest'] = GOOD;
    if (req.url?.endsWith('/wrong')) headers['x-ichigen-digest'] = OTHER;
    res.writeHead(200, headers).end(BODY);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = new ApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'token');
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function refused(p: string, out: string, expected?: string): Promise<CliError> {
  const e = await api.download(p, out, undefined, expected).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(CliError);
  expect((e as CliError).code).toBe('INTEGRITY_ERROR');
  // Nothing saved, and no partial file left beside it.
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.endsWith('.part'))).toEqual([]);
  return e as CliError;
}

describe('ApiClient.download', () => {
  it('saves bytes whose SHA-256 matches the server digest and the expected one', async () => {
    const out = path.join(dir, 'ok.csv');
    expect(await api.download('/x/good', out, undefined, GOOD)).toEqual({ digest: GOOD, size: BODY.length });
    expect(readFileSync(out)).toEqual(BODY);
  });

  it('refuses bytes that do not hash to the digest the server sent', async () => {
    expect((await refused('/x/wrong', path.join(dir, 'wrong.csv'))).message).toContain('not sha256:000');
  });

  it('refuses a response with no digest at all', async () => {
    expect((await refused('/x/none', path.join(dir, 'none.csv'))).message).toContain('no digest');
  });

  it('refuses when the server digest differs from the manifest digest the caller knows', async () => {
    expect((await refused('/x/good', path.join(dir, 'm.csv'), OTHER)).message).toContain('manifest');
  });

  it('checks the caller digest even when the server sends none', async () => {
    await refused('/x/none', path.join(dir, 'm2.csv'), OTHER);
    const out = path.join(dir, 'm3.csv');
    expect((await api.download('/x/none', out, undefined, GOOD)).digest).toBe(GOOD);
  });
});

describe('ichigen dataset pull (tabular)', () => {
  const pull = async (ref: string, out: string) => {
    const err: string[] = [];
    const code = await main(['node', 'ichigen', 'dataset', 'pull', ref, out], {
      out: () => undefined,
      err: (s) => err.push(s),
      env: { ICHIGEN_URL: api.baseUrl, ICHIGEN_TOKEN: 'token', ICHIGEN_CONFIG_HOME: dir },
    });
    return { code, err: err.join('\n') };
  };

  it('saves the content when it matches the digest recorded for the version', async () => {
    const out = path.join(dir, 'honest.csv');
    expect(await pull('p/honest@1', out)).toEqual({ code: 0, err: '' });
    expect(readFileSync(out)).toEqual(BODY);
  });

  it('never replaces an existing file unless --force is given', async () => {
    const out = path.join(dir, 'mine.csv');
    writeFileSync(out, 'my own notes\n');
    const refused = await pull('p/honest@1', out);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/already exists; pull to another path, or pass --force/);
    expect(readFileSync(out, 'utf8')).toBe('my own notes\n');
    const err: string[] = [];
    const forced = await main(['node', 'ichigen', 'dataset', 'pull', 'p/honest@1', out, '--force'], {
      out: () => undefined,
      err: (s) => err.push(s),
      env: { ICHIGEN_URL: api.baseUrl, ICHIGEN_TOKEN: 'token', ICHIGEN_CONFIG_HOME: dir },
    });
    expect(forced, err.join('\n')).toBe(0);
    expect(readFileSync(out)).toEqual(BODY);
  });

  it('refuses other bytes even when the response header matches them, and leaves no file', async () => {
    const out = path.join(dir, 'tampered.csv');
    const r = await pull('p/tampered@1', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/INTEGRITY_ERROR/);
    expect(r.err).toContain(GOOD);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.part'))).toEqual([]);
  });
});
