// Chooses the object-store adapter once, from validated config, at the composition root.
// Everything else receives the ObjectStore port and never learns which backend it talks to.
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { FsObjectStore } from './fs.js';
import type { ObjectStore } from './port.js';
import { S3ObjectStore, s3OptionsSchema } from './s3.js';

export { FsObjectStore } from './fs.js';
export { S3ObjectStore, parseS3Url, s3OptionsSchema, type S3Options } from './s3.js';
export { parseDigest, type Digest, type ObjectStore, type PutOptions, type PutResult } from './port.js';

export const objectStoreConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fs'), root: z.string().min(1, 'root must name a directory') }),
  s3OptionsSchema.extend({ kind: z.literal('s3') }),
]);
export type ObjectStoreConfig = z.input<typeof objectStoreConfigSchema>;

/**
 * Builds the adapter for `config`. It does not sweep temporaries: the caller should run
 * `sweepTemporary()` once at start-up, after which stale uploads of a crashed process are gone.
 */
export async function createObjectStore(config: ObjectStoreConfig): Promise<ObjectStore> {
  const parsed = objectStoreConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`);
    throw new AppError('CONFIG_INVALID', 400, `Invalid object store configuration: ${problems.join('; ')}`, {
      problems,
    });
  }
  const c = parsed.data;
  if (c.kind === 'fs') return new FsObjectStore(c.root);
  const { kind: _kind, ...s3 } = c;
  return new S3ObjectStore(s3);
}
