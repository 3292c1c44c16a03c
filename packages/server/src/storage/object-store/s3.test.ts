// Parsing and validation of S3 object-store configuration (no server needed): every mistake names itself.
import { describe, expect, test } from 'vitest';
import { AppError } from '../../errors.js';
import { createObjectStore } from './index.js';
import { parseS3Url } from './s3.js';

function configError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CONFIG_INVALID');
    return (err as AppError).message;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('parseS3Url', () => {
  test('reads bucket, prefix, endpoint, region and path style', () => {
    const o = parseS3Url(
      's3://ichigen-data/prod/site-a?endpoint=http://127.0.0.1:9000&region=ap-northeast-1&forcePathStyle=true',
      {},
    );
    expect(o).toMatchObject({
      bucket: 'ichigen-data',
      prefix: 'prod/site-a/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'ap-northeast-1',
      forcePathStyle: true,
    });
    expect(o.credentials).toBeUndefined();
  });

  test('defaults: no prefix, region from AWS_REGION else us-east-1, path style when an endpoint is given', () => {
    expect(parseS3Url('s3://bucket', {})).toMatchObject({ prefix: '', region: 'us-east-1', forcePathStyle: false });
    expect(parseS3Url('s3://bucket/', { AWS_REGION: 'eu-west-1' })).toMatchObject({ prefix: '', region: 'eu-west-1' });
    expect(parseS3Url('s3://bucket?endpoint=https://minio.local:9000', {}).forcePathStyle).toBe(true);
    expect(parseS3Url('s3://bucket?endpoint=https://minio.local&forcePathStyle=false', {}).forcePathStyle).toBe(false);
  });

  test('credentials come from the AWS environment variables only, both or neither', () => {
    const o = parseS3Url('s3://bucket', { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' });
    expect(o.credentials).toEqual({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' });
    expect(configError(() => parseS3Url('s3://bucket', { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' }))).toMatch(
      /AWS_SECRET_ACCESS_KEY/,
    );
    expect(configError(() => parseS3Url('s3://key:secret@bucket', {}))).toMatch(/credentials/);
  });

  test('mistakes are named', () => {
    expect(configError(() => parseS3Url('http://bucket', {}))).toMatch(/s3:\/\/bucket/);
    expect(configError(() => parseS3Url('s3://Bucket_Name', {}))).toMatch(/bucket/);
    expect(configError(() => parseS3Url('s3://ab', {}))).toMatch(/bucket/);
    expect(configError(() => parseS3Url('s3://bucket?endpiont=http://x', {}))).toMatch(/"endpiont"/);
    expect(configError(() => parseS3Url('s3://bucket?region=a&region=b', {}))).toMatch(/twice/);
    expect(configError(() => parseS3Url('s3://bucket?endpoint=ftp://x', {}))).toMatch(/endpoint/);
    expect(configError(() => parseS3Url('s3://bucket?endpoint=not a url', {}))).toMatch(/endpoint/);
    expect(configError(() => parseS3Url('s3://bucket?forcePathStyle=yes', {}))).toMatch(/forcePathStyle/);
    expect(configError(() => parseS3Url('s3://bucket/a/../b', {}))).toMatch(/prefix/);
    expect(configError(() => parseS3Url('s3://bucket/a%2F..%2Fb', {}))).toMatch(/prefix/);
    expect(configError(() => parseS3Url('s3://bucket/a b', {}))).toMatch(/prefix/);
    expect(configError(() => parseS3Url('s3://bucket/%E0%A4%A', {}))).toMatch(/percent/);
  });
});

describe('createObjectStore', () => {
  test('builds the adapter the config names', async () => {
    const fs = await createObjectStore({ kind: 'fs', root: '/tmp/ichigen-never-written' });
    expect(fs.kind).toBe('fs');
    const s3 = await createObjectStore({ kind: 's3', ...parseS3Url('s3://bucket?endpoint=http://127.0.0.1:9', {}) });
    expect(s3.kind).toBe('s3');
    await s3.close();
  });

  test('rejects an invalid config with CONFIG_INVALID naming the field', async () => {
    const err = await createObjectStore({ kind: 's3', bucket: 'x', region: 'us-east-1' }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe('CONFIG_INVALID');
    expect((err as AppError).message).toMatch(/bucket/);
    const err2 = await createObjectStore({ kind: 'fs', root: '' }).catch((e: unknown) => e);
    expect((err2 as AppError).message).toMatch(/root/);
  });
});
