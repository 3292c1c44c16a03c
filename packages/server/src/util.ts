// Small shared helpers: ids, clocks, hashing and name validation used across domains.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

export const nowIso = (): string => new Date().toISOString();

/** A Map or a WeakMap: what `cached` keeps its values in. */
export interface Cache<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
}

/** The value kept under `key`, computed and kept on first use (a stored null counts as kept; undefined does not). */
export function cached<K, V>(cache: Cache<K, V>, key: K, compute: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = compute();
    cache.set(key, value);
  }
  return value;
}

/** CSPRNG bytes fetched 4 KiB at a time: one `randomBytes` call per id cost more than the rest of `newId`. */
let pool = Buffer.alloc(0);
let poolAt = 0;

/** Random, URL-safe, time-ordered id (48-bit ms time + 80 random bits). */
export function newId(): string {
  const t = Date.now().toString(16).padStart(12, '0');
  if (poolAt + 10 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 10;
  return `${t}${pool.toString('hex', poolAt - 10, poolAt)}`;
}

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * Names of projects, datasets and users: they appear in URLs, logs and object keys' metadata, so only a small,
 * safe alphabet is accepted (no dots, slashes, backslashes, percent signs, NUL), at most 128 characters.
 */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
export const nameSchema = z
  .string()
  .max(128, 'must be at most 128 characters')
  .regex(NAME_RE, 'must start with a letter or digit and use only letters, digits, "-" and "_" (at most 128)');

/** JSON text with sorted keys: the canonical form hashed by the audit chain and model checksums. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}
