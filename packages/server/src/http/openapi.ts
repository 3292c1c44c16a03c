// The OpenAPI document without a running server: the app is built over a throw-away platform (an empty SQLite
// file and object store in a temporary directory, removed afterwards), so no real data directory or database is
// touched. The web console generates its typed API client from this document.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/config.js';
import { openPlatform } from '../platform.js';
import { buildApp } from './app.js';

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-openapi-'));
  try {
    const config = loadConfig({ env: {}, cwd: dir, flags: { dataDir: dir } });
    const platform = await openPlatform(config);
    try {
      const app = await buildApp(platform, { logger: false, console: false });
      try {
        await app.ready();
        return app.swagger() as unknown as Record<string, unknown>;
      } finally {
        await app.close();
      }
    } finally {
      await platform.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
