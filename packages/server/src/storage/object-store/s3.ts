// Content-addressed object store on S3-compatible storage (AWS S3, MinIO, Ceph RGW) for scale-out installs.
// Keys: <prefix>objects/sha256/<64 hex> for objects, <prefix>tmp/<random> while an upload is in flight.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCopyCommand,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import {
  DEFAULT_SWEEP_AGE_MS,
  digestHex,
  objectNotFound,
  parseDigest,
  type Digest,
  type ObjectBody,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './port.js';
import {
  CHUNK_BYTES,
  DigestVerifier,
  checkMaxBytes,
  digestMismatch,
  meteredChunks,
  sha256Digest,
  verifyBytes,
} from './streams.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3 refuses a single CopyObject above 5 GiB; larger objects are copied in ranged parts. */
const SINGLE_COPY_LIMIT = 5 * GiB;
const OBJECT_HEX = /^[0-9a-f]{64}$/;

const prefixSchema = z
  .string()
  .transform((p) => p.replace(/^\/+/, '').replace(/\/*$/, p.replace(/^\/+/, '') === '' ? '' : '/'))
  .pipe(
    z
      .string()
      .regex(
        /^(?:(?!\.{1,2}\/)[A-Za-z0-9._-]+\/)*$/,
        'prefix may hold only letters, digits, ".", "_", "-" and "/" between segments, and no "." or ".." segments',
      ),
  );

export const s3OptionsSchema = z.object({
  bucket: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      'bucket must be 3-63 characters of lowercase letters, digits, "." and "-", starting and ending alphanumeric',
    ),
  endpoint: z.url({ protocol: /^https?$/, error: 'endpoint must be an http:// or https:// URL' }).optional(),
  region: z.string().min(1, 'region must not be empty'),
  /** Path-style URLs (http://host/bucket/key), which MinIO and most on-premises S3 servers need. */
  forcePathStyle: z.boolean().default(false),
  /** Key prefix inside the bucket, so one bucket can hold several installations; '' or ending in '/'. */
  prefix: prefixSchema.default(''),
  /** Omit to use the AWS SDK's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY first). */
  credentials: z
    .object({
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      sessionToken: z.string().min(1).optional(),
    })
    .optional(),
  /** Multipart part size for uploads of unknown length; memory per upload is about partSize × (queueSize + 1). */
  partSizeBytes: z
    .number()
    .int()
    .min(5 * MiB)
    .default(8 * MiB),
  queueSize: z.number().int().min(1).max(16).default(2),
  maxAttempts: z.number().int().min(1).max(10).default(3),
});
export type S3Options = z.input<typeof s3OptionsSchema>;
/** Options after validation, with defaults filled in. */
export type ResolvedS3Options = z.output<typeof s3OptionsSchema>;

const configInvalid = (message: string, details?: Record<string, unknown>): AppError =>
  new AppError('CONFIG_INVALID', 400, message, details);

function validateOptions(options: unknown, source: string): ResolvedS3Options {
  const parsed = s3OptionsSchema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`);
    throw configInvalid(`Invalid S3 object store ${source}: ${problems.join('; ')}`, { problems });
  }
  return parsed.data;
}

const S3_URL = /^s3:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/;
const URL_KEYS = new Set(['endpoint', 'region', 'forcePathStyle']);

/**
 * Parses `s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true` into options.
 * `region` defaults to AWS_REGION or us-east-1 (MinIO's default); `forcePathStyle` defaults to true when an
 * endpoint is given, since custom endpoints are almost always MinIO/Ceph. Credentials never come from the URL:
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with optional AWS_SESSION_TOKEN) from `env`, else the SDK chain.
 */
export function parseS3Url(url: string, env: NodeJS.ProcessEnv = process.env): ResolvedS3Options {
  const match = S3_URL.exec(url);
  if (match === null) {
    throw configInvalid(`Object store URL must look like s3://bucket/prefix?endpoint=…, got ${JSON.stringify(url)}`);
  }
  const [, authority = '', path = '', query = ''] = match;
  if (authority.includes('@')) {
    throw configInvalid(
      'Do not put credentials in the object store URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  const params = new URLSearchParams(query);
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!URL_KEYS.has(key)) {
      throw configInvalid(`Unknown object store URL parameter "${key}"; allowed: ${[...URL_KEYS].join(', ')}`);
    }
    if (seen.has(key)) throw configInvalid(`Object store URL parameter "${key}" is given twice`);
    seen.add(key);
  }
  const forcePathStyle = params.get('forcePathStyle');
  if (forcePathStyle !== null && forcePathStyle !== 'true' && forcePathStyle !== 'false') {
    throw configInvalid(`forcePathStyle must be "true" or "false", got ${JSON.stringify(forcePathStyle)}`);
  }
  const endpoint = params.get('endpoint') ?? undefined;
  const keyId = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  if ((keyId === undefined || keyId === '') !== (secret === undefined || secret === '')) {
    throw configInvalid('Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  }
  let prefix: string;
  try {
    prefix = decodeURIComponent(path);
  } catch {
    throw configInvalid(`Object store URL prefix is not valid percent-encoding: ${JSON.stringify(path)}`);
  }
  const options = validateOptions(
    {
      bucket: authority,
      endpoint,
      region: params.get('region') ?? (env.AWS_REGION || 'us-east-1'),
      forcePathStyle: forcePathStyle === null ? endpoint !== undefined : forcePathStyle === 'true',
      prefix,
      credentials:
        keyId && secret
          ? { accessKeyId: keyId, secretAccessKey: secret, sessionToken: env.AWS_SESSION_TOKEN || undefined }
          : undefined,
    },
    'URL',
  );
  return options;
}

const httpStatus = (err: unknown): number | undefined =>
  (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
const isNotFound = (err: unknown): boolean =>
  err instanceof Error && (err.name === 'NotFound' || err.name === 'NoSuchKey' || httpStatus(err) === 404);

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly options: Readonly<Omit<ResolvedS3Options, 'credentials'>>;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly publishing = new Map<Digest, Promise<void>>();

  constructor(options: S3Options) {
    const o = validateOptions(options, 'options');
    const { credentials, ...shown } = o;
    this.options = shown;
    this.bucket = o.bucket;
    this.prefix = o.prefix;
    this.client = new S3Client({
      region: o.region,
      endpoint: o.endpoint,
      forcePathStyle: o.forcePathStyle,
      credentials,
      maxAttempts: o.maxAttempts,
      // Our own SHA-256 verifies every read end to end; the SDK's default CRC trailers (aws-chunked) are not
      // understood by every S3-compatible server, so checksums are sent only where the API requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** Key of a digest that parseDigest accepted: only hex reaches S3. */
  private objectKey(digest: Digest): string {
    return `${this.prefix}objects/sha256/${digestHex(digest)}`;
  }

  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async put(body: ObjectBody, opts: PutOptions = {}): Promise<PutResult> {
    const expected = opts.expectedDigest === undefined ? undefined : parseDigest(opts.expectedDigest);
    checkMaxBytes(opts.maxBytes);
    const tmpKey = `${this.prefix}tmp/${randomBytes(16).toString('hex')}`;
    const pass = new PassThrough({ highWaterMark: CHUNK_BYTES });
    // Upload sends one PutObject for bodies under one part and a multipart upload otherwise.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: tmpKey, Body: pass, ContentType: 'application/octet-stream' },
      partSize: this.options.partSizeBytes,
      queueSize: this.options.queueSize,
      leavePartsOnError: false,
    });
    const uploaded = upload.done();
    uploaded.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    try {
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of meteredChunks(body, opts)) {
          hash.update(chunk);
          size += chunk.byteLength;
          if (!pass.write(chunk)) await Promise.race([once(pass, 'drain'), uploaded]);
        }
        pass.end();
        await uploaded;
      } catch (err) {
        await upload.abort().catch(() => undefined);
        pass.destroy();
        await uploaded.catch(() => undefined);
        throw err;
      }
      const digest = sha256Digest(hash);
      if (expected !== undefined && expected !== digest) throw digestMismatch(expected, digest);
      const existed = await this.publish(tmpKey, digest, size);
      return { digest, size, existed };
    } finally {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: tmpKey })).catch(() => undefined);
    }
  }

  /**
   * Copies the finished temporary object under its digest unless an object of that size is already there.
   * Two processes putting the same new content at once may both copy (S3 has no portable create-if-absent
   * copy); the bytes are the same, so the only effect is that both report existed: false.
   */
  private async publish(tmpKey: string, digest: Digest, size: number): Promise<boolean> {
    // Within one process, publishes of the same digest take turns: the second sees the first's object and
    // reports existed: true, and the server is spared concurrent copies onto one key (which s3rver mishandles).
    const previous = this.publishing.get(digest) ?? Promise.resolve();
    const mine = previous.then(() => this.publishOnce(tmpKey, digest, size));
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.publishing.set(digest, settled);
    try {
      return await mine;
    } finally {
      if (this.publishing.get(digest) === settled) this.publishing.delete(digest);
    }
  }

  private async publishOnce(tmpKey: string, digest: Digest, size: number): Promise<boolean> {
    const key = this.objectKey(digest);
    const current = await this.headKey(key);
    if (current !== null && current.size === size) return true;
    if (size <= SINGLE_COPY_LIMIT) {
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: key, CopySource: this.copySource(tmpKey) }),
      );
    } else {
      await this.copyInParts(tmpKey, key, size);
    }
    return false;
  }

  /** Server-side copy of objects above 5 GiB with UploadPartCopy. Not exercised by tests: s3rver lacks it. */
  private async copyInParts(from: string, to: string, size: number): Promise<void> {
    const partSize = GiB;
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: to }));
    if (UploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId');
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let start = 0, n = 1; start < size; start += partSize, n++) {
        const end = Math.min(start + partSize, size) - 1;
        const res = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: to,
            UploadId,
            PartNumber: n,
            CopySource: this.copySource(from),
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        const etag = res.CopyPartResult?.ETag;
        if (etag === undefined) throw new Error(`UploadPartCopy part ${n} returned no ETag`);
        parts.push({ ETag: etag, PartNumber: n });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: to,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  private async headKey(key: string): Promise<{ size: number } | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  private async getObject(
    digest: Digest,
  ): Promise<{ body: Readable & { transformToByteArray(): Promise<Uint8Array> }; size: number | undefined }> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(digest) }));
      // In Node.js the SDK's body is an http.IncomingMessage with the SDK stream helpers mixed in.
      const body = res.Body as (Readable & { transformToByteArray(): Promise<Uint8Array> }) | undefined;
      if (body === undefined) throw new Error(`GetObject for ${digest} returned no body`);
      return { body, size: res.ContentLength };
    } catch (err) {
      if (isNotFound(err)) throw objectNotFound(digest);
      throw err;
    }
  }

  async get(digest: Digest): Promise<NodeJS.ReadableStream> {
    const d = parseDigest(digest);
    const { body, size } = await this.getObject(d);
    return pipeline(body, new DigestVerifier(d, size), () => undefined);
  }

  async getBytes(digest: Digest): Promise<Buffer> {
    const d = parseDigest(digest);
    const { body } = await this.getObject(d);
    const bytes = await body.transformToByteArray();
    return verifyBytes(d, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  async stat(digest: Digest): Promise<{ size: number } | null> {
    return this.headKey(this.objectKey(parseDigest(digest)));
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== null;
  }

  async *list(): AsyncIterable<Digest> {
    const prefix = `${this.prefix}objects/sha256/`;
    // ListObjectsV2 returns keys in UTF-8 binary order, so digests come out sorted.
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const o of page.Contents ?? []) {
        const hex = o.Key?.slice(prefix.length);
        if (hex !== undefined && OBJECT_HEX.test(hex)) yield `sha256:${hex}`;
      }
    }
  }

  async sweepTemporary(olderThanMs: number = DEFAULT_SWEEP_AGE_MS): Promise<number> {
    const prefix = `${this.prefix}tmp/`;
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    try {
      for await (const page of paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.bucket, Prefix: prefix },
      )) {
        for (const o of page.Contents ?? []) {
          if (o.Key === undefined || (o.LastModified?.getTime() ?? 0) > cutoff) continue;
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key }));
          removed += 1;
        }
      }
    } catch (err) {
      // The sweep is the first request of a start: say which setting is wrong, not only the SDK's words.
      if (err instanceof Error && err.name === 'NoSuchBucket') {
        throw new AppError(
          'CONFIG_INVALID',
          500,
          `invalid setting objectStore (ICHIGEN_OBJECT_STORE): the bucket "${this.bucket}" does not exist${this.options.endpoint ? ` at ${this.options.endpoint}` : ''}; create it first (Ichigen creates only the keys under its prefix)`,
          undefined,
          err,
        );
      }
      throw err;
    }
    removed += await this.abortStaleMultipartUploads(prefix, cutoff);
    return removed;
  }

  /** Parts of multipart uploads cut off by a crash are invisible to ListObjects but cost storage. */
  private async abortStaleMultipartUploads(prefix: string, cutoff: number): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
      } catch (err) {
        // s3rver and some gateways do not implement this listing; a bucket lifecycle rule covers them.
        if (err instanceof Error && err.name === 'NotImplemented') return aborted;
        throw err;
      }
      for (const u of page.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined || (u.Initiated?.getTime() ?? 0) > cutoff) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
        aborted += 1;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
