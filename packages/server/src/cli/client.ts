// The CLI's HTTP client: JSON requests, streamed uploads, and downloads that verify the digest the server
// announces and leave no file behind when the bytes do not match.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export type Progress = (done: number, total: number | undefined) => void;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  private url(p: string, query?: Record<string, string | number | undefined>): string {
    const u = new URL(`/api/v1${p}`, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T>(
    method: string,
    p: string,
    opts: { json?: unknown; query?: Record<string, string | number | undefined> } = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url(p, opts.query), {
        method,
        headers: this.headers(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}),
      });
    } catch (e) {
      throw unreachable(this.baseUrl, e);
    }
    return parseResponse<T>(res);
  }

  /** Streams a file (or any byte stream) as the request body, reporting progress. */
  async upload<T>(
    p: string,
    body: Readable,
    opts: {
      size?: number;
      contentType: string;
      query?: Record<string, string | number | undefined>;
      onProgress?: Progress;
    },
  ): Promise<T> {
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        opts.onProgress?.(sent, opts.size);
        cb(null, chunk);
      },
    });
    const stream = body.pipe(counter);
    body.on('error', (e) => counter.destroy(e));
    let res: Response;
    try {
      res = await fetch(this.url(p, opts.query), {
        method: 'POST',
        headers: this.headers({
          'content-type': opts.contentType,
          ...(opts.size !== undefined ? { 'content-length': String(opts.size) } : {}),
        }),
        body: Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>,
        // Node's fetch needs half-duplex for a streamed request body.
        duplex: 'half',
      } as RequestInit);
    } catch (e) {
      throw unreachable(this.baseUrl, e);
    }
    return parseResponse<T>(res);
  }

  /**
   * Downloads to `outFile` through a temporary file in the same directory, hashing as it writes; renames into
   * place only when the SHA-256 matches the digest expected: `expectedDigest` when the caller knows it (e.g. from
   * the version's manifest), and the server's X-Ichigen-Digest, which must agree with it. A response with no digest
   * to check against is refused. On any failure the partial file is deleted.
   */
  async download(
    p: string,
    outFile: string,
    onProgress?: Progress,
    expectedDigest?: string,
  ): Promise<{ digest: string; size: number }> {
    let res: Response;
    try {
      res = await fetch(this.url(p), { headers: this.headers() });
    } catch (e) {
      throw unreachable(this.baseUrl, e);
    }
    if (!res.ok || !res.body) await parseResponse(res);
    const header = res.headers.get('x-ichigen-digest');
    if (expectedDigest && header && header !== expectedDigest) {
      await res.body?.cancel().catch(() => undefined);
      throw new CliError(
        'INTEGRITY_ERROR',
        `the server sends ${header} where the version's manifest lists ${expectedDigest}; nothing was saved`,
      );
    }
    const expected = expectedDigest ?? header;
    if (!expected) {
      await res.body?.cancel().catch(() => undefined);
      throw new CliError(
        'INTEGRITY_ERROR',
        'the server sent no digest to verify the download against; nothing was saved',
      );
    }
    const total = Number(res.headers.get('content-length') ?? NaN);
    await mkdir(path.dirname(path.resolve(outFile)), { recursive: true });
    const tmp = path.join(
      path.dirname(path.resolve(outFile)),
      `.${path.basename(outFile)}.${randomBytes(6).toString('hex')}.part`,
    );
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>),
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            size += chunk.length;
            onProgress?.(size, Number.isFinite(total) ? total : undefined);
            cb(null, chunk);
          },
        }),
        createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
      );
      const digest = `sha256:${hash.digest('hex')}`;
      if (Number.isFinite(total) && size !== total) {
        throw new CliError(
          'INTEGRITY_ERROR',
          `download was cut short (${size} of ${total} bytes): the server found the stored data damaged or the connection broke`,
        );
      }
      if (digest !== expected) {
        throw new CliError('INTEGRITY_ERROR', `downloaded bytes hash to ${digest}, not ${expected}; nothing was saved`);
      }
      await rename(tmp, outFile);
      return { digest, size };
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      if (e instanceof CliError) throw e;
      throw new CliError(
        'INTEGRITY_ERROR',
        `download failed before it was complete and verified (${(e as Error).message}); nothing was saved`,
      );
    }
  }
}

async function parseResponse<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new CliError(
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? `the server answered ${res.status}`,
      res.status,
    );
  }
  return body as T;
}

function unreachable(url: string, e: unknown): CliError {
  const cause = (e as { cause?: { code?: string } }).cause?.code;
  return new CliError(
    'SERVER_UNREACHABLE',
    `cannot reach the Ichigen server at ${url}${cause ? ` (${cause})` : ''}; is it running?`,
  );
}
