// The committed API types must equal a fresh generation from the server's OpenAPI document, so the console's types
// never drift from the server. Fix a failure with `npm run gen:api -w @ichigen/web` and commit the file.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ESM script without type declarations
import { openapiDocument, schemaSource, SCHEMA_FILE } from '../../scripts/gen-api.mjs';

describe('generated API schema', () => {
  it('src/api/schema.d.ts matches the server', async () => {
    const doc = (await openapiDocument()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain('/api/v1/auth/session');
    const fresh = (await schemaSource(doc)) as string;
    const committed = readFileSync(SCHEMA_FILE as string, 'utf8');
    // Compare line by line so a failure names the first differing line rather than dumping 2,000 lines.
    const a = committed.split('\n');
    const b = fresh.split('\n');
    const first = a.findIndex((line, i) => line !== b[i]);
    expect(
      first === -1 && a.length === b.length ? 'in sync' : `differs at line ${first + 1}: ${a[first]} ≠ ${b[first]}`,
      'run `npm run gen:api -w @ichigen/web` and commit src/api/schema.d.ts',
    ).toBe('in sync');
  });
});
