// End to end in a real browser (Debian's Chromium driven by playwright-core) against a real `ichigen serve` started
// by this test on a fresh data directory with the diabetes demo data: sign in (one-time passwords replaced in the
// form), open a dataset version, upload a new version with progress and compare it, watch a study finish live,
// approve its model as a second user, try a deployment and see a card, switch to Japanese, check the audit trail.
// ICHIGEN_SCREENSHOTS=1 writes 1280×800 screenshots of each main page to docs/screenshots/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../../server/src/test-support/process';
import type * as DemoModuleNs from '../../server/src/cli/demo';

type DemoModule = typeof DemoModuleNs;

const CHROMIUM = '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.resolve(HERE, '..');
const ROOT = path.resolve(WEB, '../..');
const SHOTS = process.env.ICHIGEN_SCREENSHOTS === '1' ? path.join(ROOT, 'docs/screenshots') : null;
const PROJECT = 'diabetes';

if (!existsSync(CHROMIUM)) {
  console.warn(`web e2e skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
}

function newest(dir: string): number {
  let t = 0;
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** Builds packages/web/dist unless it is newer than every source file. */
function ensureBuilt() {
  const index = path.join(WEB, 'dist/index.html');
  const src = Math.max(newest(path.join(WEB, 'src')), statSync(path.join(WEB, 'index.html')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= src) return;
  // vite's package exports hide its bin; it sits two levels above the resolved entry (dist/node/index.js).
  const entry = createRequire(import.meta.url).resolve('vite');
  const vite = path.join(path.dirname(entry), '../../bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: WEB, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

async function json<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T;
  if (!res.ok) throw new Error(`${res.url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

describe.skipIf(!existsSync(CHROMIUM))('web console end to end', () => {
  let dir: string;
  let srv: ServerProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const users: Record<'mori' | 'ito' | 'admin', string> = { mori: '', ito: '', admin: 'admin-e2e-password-1' };
  const problems: string[] = [];

  async function shot(page: Page, name: string) {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await page.waitForTimeout(300); // let charts settle
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  }

  async function signIn(name: 'mori' | 'ito' | 'admin', screenshot?: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`${name}: page error ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 40[134]/.test(m.text())) problems.push(`${name}: ${m.text()}`);
    });
    await page.goto(`${srv.url}/`);
    await page.waitForURL(/\/login$/);
    await page.getByLabel('User name').fill(name);
    await page.getByLabel('Password', { exact: true }).fill(users[name]);
    if (screenshot) await shot(page, screenshot);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (name !== 'admin') {
      // A one-time password: the form asks for a new one.
      await page.getByLabel('New password', { exact: true }).fill(`${name}-new-password-2026`);
      await page.getByLabel('New password again').fill(`${name}-new-password-2026`);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await page.waitForURL(`${srv.url}/`);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    return page;
  }

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(path.join(tmpdir(), 'ichigen-web-e2e-'));
    srv = await startServerProcess(['--data', path.join(dir, 'data')]);
    const admin = await json<{ token: string }>(
      await fetch(`${srv.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'admin', password: srv.adminPassword, newPassword: users.admin }),
      }),
    );
    // The demo's data: project, synthetic EHR, pushes, recipe, a study, an approved model and two deployments.
    const demo = (await import(path.join(ROOT, 'packages/server/dist/cli/demo.js'))) as DemoModule;
    await demo.runDemo({
      url: srv.url,
      adminToken: admin.token,
      project: PROJECT,
      patients: 1000,
      trials: 6,
      workDir: path.join(dir, 'demo'),
      say: () => undefined,
    });
    const auth = { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' };
    for (const [name, roles] of [
      ['mori', ['steward', 'scientist']],
      ['ito', ['approver', 'auditor']],
    ] as const) {
      const u = await json<{ password: string }>(
        await fetch(`${srv.url}/api/v1/users`, { method: 'POST', headers: auth, body: JSON.stringify({ name }) }),
      );
      users[name] = u.password;
      for (const role of roles)
        await json(
          await fetch(`${srv.url}/api/v1/projects/${PROJECT}/members`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ user: name, role }),
          }),
        );
    }
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('walks the diabetes journey in the browser', { timeout: 240_000 }, async () => {
    try {
      await journey();
    } catch (e) {
      // Keep what each browser showed when it failed, for the person reading the CI log.
      const out = mkdtempSync(path.join(tmpdir(), 'ichigen-web-e2e-failure-'));
      for (const [i, c] of contexts.entries())
        for (const [j, p] of c.pages().entries())
          await p
            .screenshot({ path: path.join(out, `context${i}-page${j}.png`), fullPage: true })
            .catch(() => undefined);
      console.error(`web e2e failed; screenshots in ${out}; browser problems: ${JSON.stringify(problems)}`);
      throw e;
    }
  });

  async function journey() {
    // ---- mori (steward + scientist): sign in, open the cohort, upload a new version, compare, start a study ----
    const mori = await signIn('mori', 'login');
    await shot(mori, 'projects');
    await mori.getByRole('link', { name: PROJECT, exact: true }).click();
    // Not an auditor: the overview shows the project's own activity feed instead of the audit trail.
    await mori.getByText('new dataset version').first().waitFor();
    await mori.getByRole('link', { name: 'Datasets' }).click();
    await mori.getByRole('link', { name: 'cohort', exact: true }).click();
    await mori.getByRole('link', { name: 'v1', exact: true }).click();
    await mori.waitForURL(/datasets\/cohort\?v=1$/);
    const schema = mori.getByTestId('schema-table');
    await schema.getByRole('rowheader', { name: 'hba1c_last' }).waitFor();
    await mori.getByRole('img', { name: 'Histogram of hba1c_last' }).waitFor();
    await shot(mori, 'dataset');

    // The download link is offered (steward/scientist) and answers the CSV through the session cookie.
    const href = await mori.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    const csv = await (await mori.request.get(`${srv.url}${href}`)).text();
    const lines = csv.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(500);
    const smaller = path.join(dir, 'cohort-v2.csv');
    writeFileSync(smaller, lines.slice(0, lines.length - 60).join('\n') + '\n');

    // A longer search so that the study is still running when the page opens; no automatic study on upload.
    const session = (await (await mori.request.get(`${srv.url}/api/v1/auth/session`)).json()) as { csrfToken: string };
    const policyUrl = `${srv.url}/api/v1/projects/${PROJECT}/datasets/cohort/policy`;
    const policy = (await (await mori.request.get(policyUrl)).json()) as { spec: Record<string, unknown> };
    const put = await mori.request.put(policyUrl, {
      headers: { 'X-Ichigen-CSRF': session.csrfToken },
      data: { ...policy.spec, trials: 48, onNewVersion: false },
    });
    expect(put.status(), await put.text()).toBe(200);

    await mori.locator('input[name=file]').setInputFiles(smaller);
    await mori.getByLabel('Message').fill('cohort without the last 60 patients');
    await mori.getByRole('button', { name: 'Upload', exact: true }).click();
    await mori.getByText('Stored as version 2.').waitFor();
    await mori.waitForURL(/datasets\/cohort\?v=2$/);
    await mori.getByRole('button', { name: 'Compare', exact: true }).click();
    await mori.getByTestId('diff').getByText('Rows: 965 → 905').waitFor();
    await mori.getByRole('heading', { name: 'Compare versions' }).evaluate((h) => h.scrollIntoView({ block: 'start' }));
    await shot(mori, 'dataset-diff');

    // Start a study and watch it to the end without reloading the page.
    await mori.getByRole('button', { name: 'Start a study on this version' }).click();
    await mori.waitForURL(/\/studies\/[^/]+$/);
    await mori.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const seen = new Set<string>();
    const deadline = Date.now() + 150_000;
    for (;;) {
      const status = (await mori.getByTestId('study-status').textContent()) ?? '';
      const trials = (await mori.getByTestId('study-trials').textContent()) ?? '';
      seen.add(`${status}|${trials}`);
      if (status === 'running' && /^([1-9]|[1-3]\d|4[0-7]) \/ 48 trials$/.test(trials) && !seen.has('shot')) {
        seen.add('shot');
        await shot(mori, 'study-running');
      }
      if (status === 'succeeded' || status === 'failed') break;
      expect(Date.now()).toBeLessThan(deadline);
      await mori.waitForTimeout(250);
    }
    expect(await mori.getByTestId('study-status').textContent()).toBe('succeeded');
    expect(await mori.getByTestId('study-trials').textContent()).toBe('48 / 48 trials');
    // The page showed the study unfinished, then finished, while the document stayed the same (how many readings
    // lie between depends on the machine's speed, so only the change itself is asserted).
    expect([...seen].some((r) => r.startsWith('queued|') || r.startsWith('running|'))).toBe(true);
    expect(await mori.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    await mori.getByRole('heading', { name: 'Optimisation history' }).waitFor();
    await shot(mori, 'study');
    const modelLink = mori.getByTestId('study-model');
    const modelName = (await modelLink.textContent()) ?? '';
    expect(modelName).toMatch(/^oral-response@2$/);
    await modelLink.click();
    await mori.getByRole('heading', { name: 'oral-response@2' }).waitFor();
    // mori trained it and is no approver: no Approve button.
    expect(await mori.getByRole('button', { name: 'Approve' }).count()).toBe(0);

    // ---- ito (approver + auditor): approve the candidate as the second person ----
    const ito = await signIn('ito');
    await ito.getByRole('link', { name: PROJECT, exact: true }).click();
    await ito.getByRole('heading', { name: 'Members and roles' }).waitFor();
    await ito.getByText('mori').first().waitFor();
    await shot(ito, 'project');
    await ito.getByRole('link', { name: 'Models' }).click();
    await ito.getByTestId('model-table').getByRole('row').nth(2).waitFor();
    expect(await ito.getByTestId('model-table').getByRole('row').count()).toBe(3);
    await shot(ito, 'models');
    await ito.goto(`${srv.url}/p/${PROJECT}/models/oral-response/2`);
    await ito.getByRole('button', { name: 'Approve' }).click();
    await ito.getByLabel('Reason').fill('Reviewed the holdout AUC, calibration and subgroups.');
    await ito.getByRole('form', { name: 'Approve this version' }).getByRole('button', { name: 'Approve' }).click();
    await ito.getByText('Version approved.').waitFor();
    await ito.getByRole('heading', { name: 'oral-response@2 approved' }).waitFor();
    await shot(ito, 'model');
    await ito.getByRole('heading', { name: 'ROC curve' }).evaluate((h) => h.scrollIntoView({ block: 'start' }));
    await ito.locator('figure[aria-label="ROC curve"] svg path.recharts-curve').first().waitFor();
    await shot(ito, 'model-plots');
    await ito.getByRole('heading', { name: 'Lineage' }).evaluate((h) => h.scrollIntoView({ block: 'center' }));
    await ito.getByRole('link', { name: 'Model version: oral-response@2' }).waitFor();
    await shot(ito, 'model-lineage');
    // The lineage graph is clickable: open the dataset version it came from.
    await ito.getByRole('link', { name: 'Dataset version: cohort@2' }).click();
    await ito.waitForURL(/datasets\/cohort\?v=2$/);

    // ---- try the deployment and see a card, as an EHR would show it ----
    await ito.goto(`${srv.url}/p/${PROJECT}/deployments/oral-response`);
    await ito.getByTestId('applicability').getByText('Age 18–110').waitFor();
    await ito.getByRole('button', { name: 'Load a sample patient' }).click();
    await ito.getByText(/^Synthetic patient .+ the deployment applies to them\.$/).waitFor();
    await ito.getByRole('button', { name: 'Send' }).click();
    const card = ito.getByTestId('cds-cards').locator('article').first();
    await card.waitFor();
    expect(await card.locator('.summary').textContent()).toMatch(/HbA1c control on oral therapy/);
    await ito.getByRole('heading', { name: 'Try it' }).evaluate((h) => h.scrollIntoView({ block: 'start' }));
    await shot(ito, 'deployment-try');

    // ---- Japanese ----
    await ito.getByLabel('Language').selectOption('ja');
    await ito.getByRole('link', { name: 'デプロイ' }).waitFor();
    expect(await ito.evaluate(() => document.documentElement.lang)).toBe('ja');
    await ito.getByRole('heading', { name: '試してみる' }).evaluate((h) => h.scrollIntoView({ block: 'start' }));
    await shot(ito, 'deployment-ja');
    await ito.goto(`${srv.url}/p/${PROJECT}/models/oral-response/2`);
    await ito.getByRole('heading', { name: 'ホールドアウトでの評価指標' }).waitFor();
    await shot(ito, 'model-ja');
    await ito.getByLabel('言語').selectOption('en');

    // ---- the project's owner (the demo's administrator) manages membership ----
    const admin = await signIn('admin');
    await admin.getByRole('link', { name: PROJECT, exact: true }).click();
    await admin.getByRole('combobox', { name: 'User name' }).fill('ito');
    await admin.locator('select[name=member-role]').selectOption('clinician');
    await admin.getByRole('button', { name: 'Add member' }).click();
    const remove = admin.getByRole('button', { name: 'Remove role clinician from ito' });
    await remove.waitFor();
    await remove.click();
    await remove.waitFor({ state: 'detached' });
    await admin.getByRole('button', { name: 'Remove role approver from ito' }).waitFor();

    // ---- the audit trail ----
    await ito.goto(`${srv.url}/audit?project=${PROJECT}&action=model.approve`);
    await ito
      .getByTestId('chain-status')
      .getByText(/Audit chain intact/)
      .waitFor();
    const rows = ito.getByTestId('audit-table').locator('tbody tr');
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    expect(await rows.first().textContent()).toContain('ito');
    await ito.goto(`${srv.url}/audit?project=${PROJECT}`);
    await ito.getByTestId('audit-table').waitFor();
    await shot(ito, 'audit');

    expect(problems).toEqual([]);
  }
});
