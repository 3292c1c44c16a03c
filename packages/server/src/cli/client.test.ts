// The CLI's verified download against a server that sends wrong or no digests. Our own server never does (its reads
// verify every object first, see datasets/faults.int.test.ts), so the misbehaving server here is a small node:http
// stand-in for what sits between: a proxy or cache that alters or strips the response.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, CliError } from './client.js';

const BODY = Buffer.from('id,hba1c\n1,6.8\n2,7.4\n');
const GOOD = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;
const OTHER = `sha256:${'0'.repeat(64)}`;

let server: Server;
let api: ApiClient;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ichigen-cli-download-'));
  server = createServer((req, res) => {
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
