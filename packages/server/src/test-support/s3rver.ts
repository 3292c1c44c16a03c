// Starts an s3rver (S3-protocol server on the local filesystem) on 127.0.0.1, port 0, for integration tests.
// Each call gets its own temporary data directory and bucket; stop() shuts the server and removes the directory.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The slice of s3rver's API we use; the package ships no type declarations. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  /** Koa's middleware list: s3rver is a Koa application. */
  middleware: KoaMiddleware[];
}
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string; configs: string[] }[];
}) => S3rverInstance;

export interface RunningS3rver {
  endpoint: string;
  bucket: string;
  /** Keys of multipart uploads begun and neither completed nor aborted (read from s3rver's directory). */
  uploadsInProgress(): Promise<{ key: string; uploadId: string; dir: string }[]>;
  /** s3rver's fixed test credentials. Only tests use them; production reads the AWS_* environment variables. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

export interface S3rverOptions {
  /**
   * Answer ListMultipartUploads and AbortMultipartUpload, which s3rver itself does not implement (it answers
   * NotImplemented), so the S3 adapter's sweep of uploads cut off by a crash can be tested. `Initiated` is the
   * modification time of the upload's `key` file, so a test can age an upload with utimes.
   */
  multipartCleanup?: boolean;
}

export async function startS3rver(bucket = 'ichigen-test', opts: S3rverOptions = {}): Promise<RunningS3rver> {
  // s3rver is CommonJS; createRequire keeps this module ESM without a default-import interop guess.
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(join(tmpdir(), 'ichigen-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  // s3rver keeps each multipart upload in <directory>/<bucket>/._S3rver_uploads/<uploadId>/ with a `key` file.
  const uploadsDir = join(directory, bucket, '._S3rver_uploads');
  const uploadsInProgress = async () => {
    const ids = await readdir(uploadsDir).catch(() => [] as string[]);
    const found: { key: string; uploadId: string; dir: string; initiated: Date }[] = [];
    for (const uploadId of ids.sort()) {
      const dir = join(uploadsDir, uploadId);
      const key = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
      if (key === undefined) continue;
      found.push({ key, uploadId, dir, initiated: (await stat(join(dir, 'key'))).mtime });
    }
    return found;
  };
  if (opts.multipartCleanup) {
    const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    server.middleware.unshift(async (ctx, next) => {
      const parts = ctx.path.split('/').filter(Boolean);
      if (ctx.method === 'GET' && parts.length === 1 && parts[0] === bucket && 'uploads' in ctx.query) {
        const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
        const uploads = (await uploadsInProgress()).filter((u) => u.key.startsWith(prefix));
        ctx.status = 200;
        ctx.type = 'application/xml';
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
          `<Bucket>${bucket}</Bucket><Prefix>${xml(prefix)}</Prefix><IsTruncated>false</IsTruncated>` +
          uploads
            .map(
              (u) =>
                `<Upload><Key>${xml(u.key)}</Key><UploadId>${xml(u.uploadId)}</UploadId>` +
                `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
            )
            .join('') +
          '</ListMultipartUploadsResult>';
        return;
      }
      const uploadId = ctx.query.uploadId;
      if (ctx.method === 'DELETE' && parts[0] === bucket && typeof uploadId === 'string') {
        const upload = (await uploadsInProgress()).find((u) => u.uploadId === uploadId);
        if (upload === undefined || upload.key !== decodeURIComponent(parts.slice(1).join('/'))) {
          ctx.status = 404;
          ctx.type = 'application/xml';
          ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code></Error>';
          return;
        }
        await rm(upload.dir, { recursive: true, force: true });
        ctx.status = 204;
        return;
      }
      await next();
    });
  }
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    uploadsInProgress: async () =>
      (await uploadsInProgress()).map(({ key, uploadId, dir }) => ({ key, uploadId, dir })),
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
