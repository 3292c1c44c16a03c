// The committed API types must equal a fresh generation from the server's OpenAPI document, so the console's types
// never drift from the server. Fix a failure with `npm run gen:api -w @ichigen/web` and commit the file.
// The build regenerates the file in the work tree, so in a git checkout the committed copy (HEAD) is checked too:
// a regeneration that nobody committed fails here rather than passing silently.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ESM script without type declarations
import { openapiDocument, schemaSource, SCHEMA_FILE } from '../../scripts/gen-api.mjs';

describe('generated API schema', () => {
  it('src/api/schema.d.ts matches the server', async () => {
    const doc = (await openapiDocument()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain('/api/v1/auth/session');
    const fresh = (await schemaSource(doc)) as string;
    const file = SCHEMA_FILE as string;
    const copies: [string, string][] = [['work tree', readFileSync(file, 'utf8')]];
    const git = spawnSync('git', ['show', `HEAD:./${path.basename(file)}`], {
      cwd: path.dirname(file),
      encoding: 'utf8',
    });
    if (git.status === 0) copies.push(['last commit', git.stdout]);
    for (const [where, text] of copies) {
      // Compare line by line so a failure names the first differing line rather than dumping 3,000 lines.
      const a = text.split('\n');
      const b = fresh.split('\n');
      const first = a.findIndex((line, i) => line !== b[i]);
      expect(
        first === -1 && a.length === b.length
          ? 'in sync'
          : `${where} differs at line ${first + 1}: ${a[first]} ≠ ${b[first]}`,
        'run `npm run gen:api -w @ichigen/web` and commit src/api/schema.d.ts',
      ).toBe('in sync');
    }
  });
});
