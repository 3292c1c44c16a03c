import { createHash } from 'node:crypto';
import iconv from 'iconv-lite';
import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DIALECTS, bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const LABS =
  'patient_id,date,test,value,unit\nP001,2026-01-05,HbA1c,7.4,%\nP001,2026-04-02,HbA1c,6.8,%\nP002,2026-02-11,HbA1c,8.1,%\n';

describe.each(DIALECTS)('datasets on %s', (dialect) => {
  let t: TestPlatform;
  let steward: { name: string; token: string };
  const csv = (url: string, body: string | Buffer, token = steward.token) =>
    t.app.inject({ method: 'POST', url, headers: { ...bearer(token), 'content-type': 'text/csv' }, payload: body });
  const get = (url: string, token = steward.token) => t.app.inject({ method: 'GET', url, headers: bearer(token) });
  const versionCount = async () =>
    Number(
      (
        await t.platform.store.db
          .selectFrom('dataset_versions')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    t = await makeTestPlatform(dialect, { maxUploadBytes: 64 * 1024 });
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects',
      headers: bearer(t.admin.token),
      payload: { slug: 'diabetes', name: 'Diabetes' },
    });
    steward = await t.user('sato');
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects/diabetes/members',
      headers: bearer(t.admin.token),
      payload: { user: 'sato', role: 'steward' },
    });
  });
  afterAll(async () => t.close());

  it('pushes a CSV as version 1 with schema, stats and a columnar copy', async () => {
    const res = await csv('/api/v1/projects/diabetes/datasets/labs/versions?message=first', LABS);
    expect(res.statusCode, res.body).toBe(201);
    const { version, created } = res.json();
    expect(created).toBe(true);
    expect(version).toMatchObject({
      version: 1,
      rowCount: 3,
      fileCount: 1,
      contentDigest: sha(LABS),
      message: 'first',
      createdBy: 'sato',
      parentVersion: null,
    });

    const show = await get('/api/v1/projects/diabetes/datasets/labs/versions/1');
    expect(show.statusCode).toBe(200);
    const cols = show.json().schema.columns as { name: string; type: string; mean?: number }[];
    expect(cols.map((c) => c.name)).toEqual(['patient_id', 'date', 'test', 'value', 'unit']);
    expect(cols.find((c) => c.name === 'value')).toMatchObject({ type: 'number' });
    expect(cols.find((c) => c.name === 'value')!.mean).toBeCloseTo((7.4 + 6.8 + 8.1) / 3, 9);
    expect(cols.find((c) => c.name === 'date')!.type).toBe('date');

    const arrow = await get('/api/v1/projects/diabetes/datasets/labs/versions/1/arrow');
    expect(arrow.statusCode).toBe(200);
    const table = tableFromIPC(arrow.rawPayload);
    expect(table.numRows).toBe(3);
    expect(table.getChild('value')!.toArray()[2]).toBeCloseTo(8.1);
  });

  it('writes the columnar copy with a second parse when a column turned to text after numbers', async () => {
    // The single pass kept 1 and 2 only as doubles, so the Arrow copy of "v" (text) comes from pass 2.
    const res = await csv('/api/v1/projects/diabetes/datasets/mixed/versions', 'v,w\n1,a\n2,b\nx1,c\n');
    expect(res.statusCode, res.body).toBe(201);
    const show = await get('/api/v1/projects/diabetes/datasets/mixed/versions/1');
    expect((show.json().schema.columns as { type: string }[]).map((c) => c.type)).toEqual([
      'categorical',
      'categorical',
    ]);
    const arrow = await get('/api/v1/projects/diabetes/datasets/mixed/versions/1/arrow');
    const table = tableFromIPC(arrow.rawPayload);
    expect([...table.getChild('v')!]).toEqual(['1', '2', 'x1']);
  });

  it('returns the existing version for identical content and stores nothing new', async () => {
    const before = await versionCount();
    const res = await csv('/api/v1/projects/diabetes/datasets/labs/versions', LABS);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ created: false, version: { version: 1 } });
    expect(await versionCount()).toBe(before);
  });

  it('numbers versions, links parents and pages the log newest first', async () => {
    for (let i = 2; i <= 5; i++) {
      const r = await csv(
        '/api/v1/projects/diabetes/datasets/labs/versions',
        `${LABS}P00${i},2026-05-01,HbA1c,6.${i},%\n`,
      );
      expect(r.json().version).toMatchObject({ version: i, parentVersion: i - 1, rowCount: 4 });
    }
    const page = await get('/api/v1/projects/diabetes/datasets/labs/versions?limit=2');
    expect(page.json().versions.map((v: { version: number }) => v.version)).toEqual([5, 4]);
    expect(page.json().nextBefore).toBe(4);
    const next = await get('/api/v1/projects/diabetes/datasets/labs/versions?limit=2&before=4');
    expect(next.json().versions.map((v: { version: number }) => v.version)).toEqual([3, 2]);
  });

  it('a download whose audit event cannot be written is refused before any byte', async () => {
    const spy = vi
      .spyOn(t.platform.datasets, 'recordRead')
      .mockRejectedValueOnce(Object.assign(new Error('audit store unavailable'), { code: 'SQLITE_BUSY' }));
    try {
      const res = await get('/api/v1/projects/diabetes/datasets/labs/versions/1/content');
      expect(res.statusCode).toBeGreaterThanOrEqual(500);
      expect(res.body).not.toContain(LABS.split('\n')[1]!);
      expect(res.json().error.code).toBeTypeOf('string');
    } finally {
      spy.mockRestore();
    }
  });

  it('pulls the exact bytes with their digest, and audits the read', async () => {
    const res = await get('/api/v1/projects/diabetes/datasets/labs/versions/1/content');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(LABS);
    expect(res.headers['x-ichigen-digest']).toBe(sha(LABS));
    const ev = await t.platform.audit.list({ project: 'diabetes', action: 'dataset.download' });
    expect(ev.events[0]).toMatchObject({ actor: 'sato', target: 'dataset:diabetes/labs@1', outcome: 'success' });
    // Which credential read it: sato's API token (its id, never the token).
    const tokens = await t.platform.store.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select('api_tokens.id')
      .where('users.name', '=', 'sato')
      .execute();
    expect(tokens.map((x) => `token:${x.id}`)).toContain(ev.events[0]!.details.via);
    const shows = await t.platform.audit.list({ project: 'diabetes', action: 'dataset.metadata' });
    expect(shows.events.length).toBeGreaterThan(0);
  });

  it('reads CP932 (Shift_JIS) extracts, declared or detected', async () => {
    const text = '患者ID,検査名,結果\nP001,ＨｂＡ１ｃ,7.1\nP002,血糖,130\n';
    const bytes = iconv.encode(text, 'cp932');
    const declared = await csv('/api/v1/projects/diabetes/datasets/jp/versions?encoding=cp932', bytes);
    expect(declared.statusCode, declared.body).toBe(201);
    const show = await get('/api/v1/projects/diabetes/datasets/jp/versions/1');
    expect(show.json().schema.encoding).toBe('cp932');
    expect(show.json().schema.columns.map((c: { name: string }) => c.name)).toEqual(['患者ID', '検査名', '結果']);
    const detected = await csv('/api/v1/projects/diabetes/datasets/jp2/versions', bytes);
    expect(detected.statusCode).toBe(201);
    expect((await get('/api/v1/projects/diabetes/datasets/jp2/versions/1')).json().schema.encoding).toBe('cp932');
    const pulled = await get('/api/v1/projects/diabetes/datasets/jp/versions/1/content');
    expect(Buffer.compare(pulled.rawPayload, bytes)).toBe(0);
  });

  it('accepts every documented name of CP932, and names the choices for an unknown encoding', async () => {
    const bytes = iconv.encode('患者ID,結果\nP001,7.1\n', 'cp932');
    for (const name of ['shift_jis', 'shift-jis', 'sjis', 'windows-31j', 'ms932']) {
      const r = await csv(`/api/v1/projects/diabetes/datasets/alias-${name}/versions?encoding=${name}`, bytes);
      expect(r.statusCode, `${name}: ${r.body}`).toBe(201);
      const show = await get(`/api/v1/projects/diabetes/datasets/alias-${name}/versions/1`);
      expect(show.json().schema.encoding).toBe('cp932');
    }
    const latin1 = await csv('/api/v1/projects/diabetes/datasets/alias-latin1/versions?encoding=latin1', bytes);
    expect(latin1.statusCode).toBe(400);
    expect(latin1.json().error.message).toContain('ms932');
  });

  it('stores a files dataset from uploaded blobs and serves each file verified', async () => {
    const a = Buffer.from('DICM fake image 1');
    const b = Buffer.from('second file');
    const up = async (buf: Buffer) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/projects/diabetes/blobs',
        headers: { ...bearer(steward.token), 'content-type': 'application/octet-stream' },
        payload: buf,
      });
    const ra = await up(a);
    const rb = await up(b);
    expect(ra.statusCode).toBe(201);
    const push = await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects/diabetes/datasets/cxr/versions',
      headers: bearer(steward.token),
      payload: {
        kind: 'files',
        message: 'PACS export',
        files: [
          { path: 'p1/img.dcm', digest: ra.json().digest },
          { path: 'notes.txt', digest: rb.json().digest },
        ],
      },
    });
    expect(push.statusCode, push.body).toBe(201);
    expect(push.json().version).toMatchObject({
      kind: 'files',
      fileCount: 2,
      sizeBytes: a.length + b.length,
      rowCount: null,
    });
    const show = await get('/api/v1/projects/diabetes/datasets/cxr/versions/1');
    expect(show.json().files.map((f: { path: string }) => f.path)).toEqual(['notes.txt', 'p1/img.dcm']);
    const file = await get(`/api/v1/projects/diabetes/datasets/cxr/versions/1/files/${sha(a)}`);
    expect(file.rawPayload.equals(a)).toBe(true);
    const other = await get(`/api/v1/projects/diabetes/datasets/cxr/versions/1/files/${sha('not in this version')}`);
    expect(other.statusCode).toBe(404);
    for (const bad of ['../etc/passwd', '/abs', 'a\\b', 'a/../b', 'a/%2e%2e/b', 'a\u0000b', '']) {
      const r = await t.app.inject({
        method: 'POST',
        url: '/api/v1/projects/diabetes/datasets/cxr/versions',
        headers: bearer(steward.token),
        payload: { kind: 'files', files: [{ path: bad, digest: ra.json().digest }] },
      });
      expect(r.statusCode, bad).toBe(400);
      expect(r.json().error.code).toBe('INVALID_PATH');
    }
    const missing = await t.app.inject({
      method: 'POST',
      url: '/api/v1/projects/diabetes/datasets/cxr/versions',
      headers: bearer(steward.token),
      payload: { kind: 'files', files: [{ path: 'x', digest: sha('never uploaded') }] },
    });
    expect(missing.json().error.code).toBe('BLOB_MISSING');
  });

  describe('bad input: a clear 4xx with a stable code, and nothing written', () => {
    const cases: [string, string | Buffer, string, string?][] = [
      ['ragged row', 'a,b,c\n1,2,3\n4,5\n', 'CSV_RAGGED_ROW', 'line 3'],
      [
        'undecodable bytes for UTF-8',
        Buffer.concat([Buffer.from('a,b\n1,'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\n')]),
        'CSV_BAD_ENCODING',
      ],
      ['empty file', '', 'CSV_EMPTY'],
      ['header only', 'a,b,c\n', 'CSV_NO_ROWS'],
      ['duplicate column names', 'a,b,a\n1,2,3\n', 'CSV_DUPLICATE_COLUMN', '"a"'],
    ];
    for (const [what, body, code, mention] of cases) {
      it(what, async () => {
        const before = await versionCount();
        const enc = what.startsWith('undecodable') ? '?encoding=utf-8' : '';
        const res = await csv(`/api/v1/projects/diabetes/datasets/bad/versions${enc}`, body);
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(res.json().error.code).toBe(code);
        if (mention) expect(res.json().error.message.toLowerCase()).toContain(mention.toLowerCase());
        expect(await versionCount()).toBe(before);
        const ds = await t.platform.store.db.selectFrom('datasets').selectAll().where('name', '=', 'bad').execute();
        expect(ds).toHaveLength(0);
      });
    }

    it('an upload over the size limit', async () => {
      const big = 'a,b\n' + '1,2\n'.repeat(20_000);
      const res = await csv('/api/v1/projects/diabetes/datasets/big/versions', big);
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('UPLOAD_TOO_LARGE');
      expect((await get('/api/v1/projects/diabetes/datasets/big/versions')).statusCode).toBe(404);
    });

    it('unknown project, dataset and version', async () => {
      expect((await get('/api/v1/projects/nope/datasets/labs/versions/1')).json().error.code).toBe('PROJECT_NOT_FOUND');
      expect((await get('/api/v1/projects/diabetes/datasets/nope/versions/1')).json().error.code).toBe(
        'DATASET_NOT_FOUND',
      );
      const v = await get('/api/v1/projects/diabetes/datasets/labs/versions/999');
      expect(v.statusCode).toBe(404);
      expect(v.json().error.code).toBe('VERSION_NOT_FOUND');
      expect((await get('/api/v1/projects/diabetes/datasets/labs/versions/0')).statusCode).toBe(400);
      expect((await get('/api/v1/projects/diabetes/datasets/labs/versions/abc')).statusCode).toBe(400);
    });

    it('names with .., /, \\, %2e, NUL or over 128 characters', async () => {
      // Dot segments are resolved away by the router before any handler runs (no such route: 404 NOT_FOUND); every
      // other bad name reaches the handler and is refused by the name check.
      for (const bad of ['..', '%2e%2e', '%2E']) {
        const res = await csv(`/api/v1/projects/diabetes/datasets/${bad}/versions`, LABS);
        expect([res.statusCode, res.json().error.code], bad).toEqual([404, 'NOT_FOUND']);
      }
      for (const bad of ['a%5Cb', 'a%00b', 'x'.repeat(129), '.hidden', 'a.b', 'a%2Fb']) {
        const res = await csv(`/api/v1/projects/diabetes/datasets/${bad}/versions`, LABS);
        expect([res.statusCode, res.json().error.code], `${bad}: ${res.body}`).toEqual([400, 'INVALID_NAME']);
      }
      const datasets = await t.platform.store.db.selectFrom('datasets').select('name').execute();
      expect(datasets.every((d) => /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(d.name))).toBe(true);
      // Project slugs get the same check, on creation and in paths.
      for (const bad of ['..', 'a/b', 'a\\b', '%2e%2e', 'a\u0000b', 'x'.repeat(129), '.hidden', '']) {
        const res = await t.app.inject({
          method: 'POST',
          url: '/api/v1/projects',
          headers: bearer(t.admin.token),
          payload: { slug: bad, name: 'Bad' },
        });
        expect(res.statusCode, JSON.stringify(bad)).toBe(400);
        expect(['INVALID_NAME', 'VALIDATION_FAILED'], `${JSON.stringify(bad)}: ${res.body}`).toContain(
          res.json().error.code,
        );
      }
      // In a path, a slug no project can have is simply not found (before any database or filesystem access).
      for (const bad of ['a%5Cb', 'a%00b', 'x'.repeat(129), 'a.b', 'a%2Fb']) {
        const res = await get(`/api/v1/projects/${bad}/datasets`);
        expect([res.statusCode, res.json().error.code], `${bad}: ${res.body}`).toEqual([404, 'PROJECT_NOT_FOUND']);
      }
      const projects = await t.platform.store.db.selectFrom('projects').select('slug').execute();
      expect(projects.map((p) => p.slug)).toEqual(['diabetes']);
    });

    it('a push into a files dataset with CSV (kind mismatch)', async () => {
      const res = await csv('/api/v1/projects/diabetes/datasets/cxr/versions', LABS);
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('DATASET_KIND_MISMATCH');
    });
  });

  it('serves the OpenAPI document and a health check', async () => {
    const doc = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(doc.statusCode).toBe(200);
    expect(Object.keys(doc.json().paths)).toContain('/api/v1/projects/{project}/datasets/{dataset}/versions');
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
