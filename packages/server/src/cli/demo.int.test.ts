// `ichigen demo` end to end against a real embedded server: synthetic EHR → recipe → study → approval → CDS Hooks
// deployment; the printed curl (a signed ES256 JWT and a saved request) returns cards, once.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { startServer } from '../server/serve.js';
import { runDemo } from './demo.js';

describe('ichigen demo', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-demo-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the diabetes study end to end and prints a curl that returns cards', { timeout: 600_000 }, async () => {
    const config = { ...loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } }), logLevel: 'silent' as const };
    const srv = await startServer(config, { print: () => undefined, logger: false });
    try {
      const { user } = await srv.platform.auth.createUser('demo-admin', { admin: true, actor: 'test' });
      const token = (await srv.platform.auth.issueToken(user.id, 'demo', 'api', 3600_000)).token;
      const lines: string[] = [];
      const r = await runDemo({
        url: srv.url,
        adminToken: token,
        project: 'diabetes',
        patients: 1500,
        trials: 6,
        workDir: path.join(dir, 'demo'),
        say: (l) => lines.push(l),
      });
      expect(lines.some((l) => l.includes('study succeeded'))).toBe(true);
      expect(r.model.auc).toBeGreaterThan(0.6);
      expect(r.cards.length).toBeGreaterThan(0);

      // Run the printed curl's request ourselves: same URL, same JWT, same body file.
      const url = /curl -s -X POST '([^']+)'/.exec(r.curl)![1]!;
      const jwt = /Bearer ([A-Za-z0-9_.-]+)'/.exec(r.curl)![1]!;
      const body = readFileSync(r.requestFile, 'utf8');
      const call = () =>
        fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
          body,
        });
      const res = await call();
      expect(res.status).toBe(200);
      const cards = (
        (await res.json()) as { cards: { summary: string; indicator: string; source: { label: string } }[] }
      ).cards;
      expect(cards.length).toBeGreaterThan(0);
      expect(cards[0]!.summary.length).toBeLessThan(140);
      // The JWT's jti is single-use, as the CDS Hooks spec asks of clients.
      expect((await call()).status).toBe(401);

      // A second demo into the same server refuses to clobber the project.
      await expect(
        runDemo({
          url: srv.url,
          adminToken: token,
          project: 'diabetes',
          patients: 10,
          trials: 1,
          workDir: path.join(dir, 'demo2'),
          say: () => undefined,
        }),
      ).rejects.toThrow(/already exists/);
    } finally {
      await srv.close();
    }
  });
});
