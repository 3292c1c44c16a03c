// The canonical JSON text of a saved model and its SHA-256 checksum, shared by every model format of the engine.
import { createHash } from 'node:crypto';

/** JSON text with object keys sorted at every level: the input of the checksum. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** SHA-256 (hex) of the canonical JSON of a model body without its `checksum` field. */
export function modelChecksum(body: object): string {
  const rest = { ...(body as Record<string, unknown>) };
  delete rest.checksum;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}
