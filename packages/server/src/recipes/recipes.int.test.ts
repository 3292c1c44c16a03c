// Recipes through the platform on both dialects: the catalogue, a run of the HbA1c recipe over pushed synthetic
// extracts as a job, the output version, idempotency, lineage, audit, permissions, bad requests and bad input — and
// the CLI (`ichigen recipe run`) against a listening server.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.js';
import { jobHandlers } from '../jobs/handlers.js';
import { Worker } from '../jobs/worker.js';
import { HEADERS, synthCohort, toTables, type SynthTables } from '../synth/diabetes.js';
import { labelControlPeriods } from './hba1c/labeler.js';
import { outputCsv } from './hba1c/output.js';
import { hba1cParamsSchema } from './hba1c/params.js';
import { DIALECTS, bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';
import { recordsTable, toCsv } from './table.js';

const RECIPE = 'hba1c-control-periods';

describe.each(DIALECTS)('recipes on %s', (dialect) => {
  let t: TestPlatform;
  let worker: Worker;
  const tokens: Record<string, string> = {};
  const api = (method: 'GET' | 'POST', url: string, who: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: bearer(tokens[who]!),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const push = async (dataset: string, csv: string) => {
    const r = await t.app.inject({
      method: 'POST',
      url: `/api/v1/projects/diabetes/datasets/${dataset}/versions`,
      headers: { ...bearer(tokens.steward!), 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(r.statusCode, r.body).toBeLessThan(300);
    return r.json().version.version as number;
  };
  const waitRun = async (id: string, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const r = (await api('GET', `/projects/diabetes/recipe-runs/${id}`, 'alice')).json();
      if (['succeeded', 'failed', 'cancelled'].includes(r.status)) return r;
      if (Date.now() > end) throw new Error(`run ${id} still ${r.status}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  let tables: SynthTables;
  const inputs = { labs: 1, prescriptions: 1, patients: 1, conditions: 1 } as Record<string, number>;
  const body = (params: Record<string, unknown> = {}, output = 'cohort', over: Record<string, number> = {}) => ({
    inputs: Object.fromEntries(
      Object.entries({ ...inputs, ...over }).map(([role, version]) => [role, { dataset: role, version }]),
    ),
    params,
    output,
  });

  beforeAll(async () => {
    t = await makeTestPlatform(dialect);
    tokens.admin = t.admin.token;
    expect((await api('POST', '/projects', 'admin', { slug: 'diabetes', name: 'Diabetes' })).statusCode).toBe(201);
    for (const [name, role] of [
      ['steward', 'steward'],
      ['alice', 'scientist'],
      ['bob', 'approver'],
      ['audrey', 'auditor'],
    ] as const) {
      tokens[name] = (await t.user(name)).token;
      await api('POST', '/projects/diabetes/members', 'admin', { user: name, role });
    }
    tables = toTables(synthCohort({ patients: 120, seed: 11 }));
    await push('labs', toCsv(HEADERS.labs, tables.labs));
    await push('prescriptions', toCsv(HEADERS.prescriptions, tables.prescriptions));
    await push('patients', toCsv(HEADERS.patients, tables.patients));
    await push('conditions', toCsv(HEADERS.conditions, tables.conditions));
    worker = new Worker(t.platform.jobs, jobHandlers(t.platform), { leaseMs: 10_000, pollMs: 50 });
    worker.start();
  });
  afterAll(async () => {
    await worker.stop(5_000);
    await t.close();
  });

  it('lists recipes with their input roles and parameter JSON schema', async () => {
    const r = await api('GET', '/projects/diabetes/recipes', 'bob');
    expect(r.statusCode).toBe(200);
    const h = r.json().recipes.find((x: { name: string }) => x.name === RECIPE);
    expect(h.version).toBe('1.0.0');
    expect(h.inputs.map((i: { role: string; required: boolean }) => [i.role, i.required])).toEqual([
      ['labs', true],
      ['prescriptions', true],
      ['patients', true],
      ['conditions', false],
    ]);
    expect(h.paramsSchema.properties.threshold.default).toBe(7);
    expect(h.paramsSchema.properties.lengthMode.enum).toEqual(['first-to-last', 'until-next-uncontrolled']);
    expect(h.paramsSchema.properties.labs.properties.patient.default).toBe('patient_id');
    expect((await api('GET', `/recipes`, 'audrey')).json().recipes).toHaveLength(1);
    const openapi = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(openapi.statusCode).toBe(200);
    expect(Object.keys(openapi.json().paths)).toContain('/api/v1/projects/{project}/recipes/{recipe}/runs');
  });

  it('runs as a job into a new dataset version, once, with lineage and audit', async () => {
    const r = await api('POST', `/projects/diabetes/recipes/${RECIPE}/runs`, 'alice', body());
    expect(r.statusCode, r.body).toBe(202);
    const run = await waitRun(r.json().run.id);
    expect(run.status, run.error).toBe('succeeded');
    expect(run.output).toEqual({ dataset: 'cohort', version: 1 });
    expect(run.report.eligible).toBeGreaterThan(90);
    expect(run.report.positives).toBeGreaterThan(0);
    expect(run.report.negatives).toBeGreaterThan(0);
    expect(run.params.threshold).toBe(7);

    // The output went through the normal push: profiled, with the label and features as columns.
    const v = (await api('GET', '/projects/diabetes/datasets/cohort/versions/1', 'alice')).json();
    expect(v.rowCount ?? v.version?.rowCount).toBe(run.report.eligible);
    const cols = JSON.stringify(v);
    for (const c of ['responder', 'hba1c_last', 'egfr', 'on_sglt2_inhibitor', 'ckd', 'outcome_periods'])
      expect(cols).toContain(`"${c}"`);

    // The bytes equal the pure labeler's output on the CSV text: the Arrow path (typed dates and numbers) changes nothing.
    const content = await api('GET', '/projects/diabetes/datasets/cohort/versions/1/content', 'alice');
    expect(content.statusCode).toBe(200);
    const rec = (k: keyof SynthTables) => {
      const h = HEADERS[k] as readonly string[];
      return recordsTable(
        k,
        tables[k].map((r) => Object.fromEntries(h.map((c, i) => [c, r[i]]))),
        [...h],
      );
    };
    const p = hba1cParamsSchema.parse({});
    const pure = labelControlPeriods(rec('labs'), rec('prescriptions'), rec('patients'), p, rec('conditions'));
    expect(content.body).toBe(outputCsv(pure, p, true));

    // Same recipe, inputs and parameters (defaults spelled out or not): the same run, no second job.
    const again = await api('POST', `/projects/diabetes/recipes/${RECIPE}/runs`, 'alice', body({ threshold: 7.0 }));
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, run: { id: run.id, status: 'succeeded' } });
    expect((await t.platform.jobs.list({ kind: 'recipe.run' })).jobs).toHaveLength(1);

    // Another parameter value is another run; the same bytes under another run give the same version.
    const other = await api(
      'POST',
      `/projects/diabetes/recipes/${RECIPE}/runs`,
      'alice',
      body({ minControlDays: 300 }),
    );
    expect(other.statusCode).toBe(202);
    const run2 = await waitRun(other.json().run.id);
    expect(run2.output.version).toBe(2);
    expect(run2.report.positives).toBeGreaterThanOrEqual(run.report.positives);

    // Lineage: four input versions → the run → the output version.
    const outId = (
      await t.platform.store.db
        .selectFrom('recipe_runs')
        .select('output_version_id')
        .where('id', '=', run.id)
        .executeTakeFirstOrThrow()
    ).output_version_id!;
    const g = await t.platform.lineage.graph({ kind: 'dataset_version', id: outId }, 'upstream');
    const runNode = g.nodes.find((n) => n.kind === 'recipe_run')!;
    expect(runNode.label).toBe(`${RECIPE}@1.0.0`);
    expect(g.edges.filter((e) => e.relation === 'input-of')).toHaveLength(4);
    expect(g.edges.filter((e) => e.relation === 'produced')).toEqual([
      { from: { kind: 'recipe_run', id: run.id }, to: { kind: 'dataset_version', id: outId }, relation: 'produced' },
    ]);
    expect(
      g.nodes
        .filter((n) => n.kind === 'dataset_version')
        .map((n) => n.label)
        .sort(),
    ).toEqual(['cohort@1', 'conditions@1', 'labs@1', 'patients@1', 'prescriptions@1']);

    // Audit: the request, one read per input, the finish.
    const events = await t.platform.store.db
      .selectFrom('audit_events')
      .select(['action', 'actor', 'target', 'outcome'])
      .where('action', 'like', 'recipe.%')
      .execute();
    const first = events.filter((e) => e.target === `recipe_run:${run.id}` || e.action === 'recipe.read');
    expect(first.filter((e) => e.action === 'recipe.run' && e.target === `recipe_run:${run.id}`)).toHaveLength(1);
    expect(
      events
        .filter((e) => e.action === 'recipe.read')
        .map((e) => e.target)
        .slice(0, 4)
        .sort(),
    ).toEqual([
      'dataset:diabetes/conditions@1',
      'dataset:diabetes/labs@1',
      'dataset:diabetes/patients@1',
      'dataset:diabetes/prescriptions@1',
    ]);
    expect(events.every((e) => e.actor === 'alice')).toBe(true);
    expect(events.filter((e) => e.action === 'recipe.finish' && e.outcome === 'success')).toHaveLength(2);
  });

  it('refuses roles that may not run recipes, and bad requests with clear codes', async () => {
    for (const who of ['bob', 'audrey']) {
      const r = await api('POST', `/projects/diabetes/recipes/${RECIPE}/runs`, who, body());
      expect(r.statusCode).toBe(403);
    }
    const bad = async (payload: unknown, code: string, text: string) => {
      const r = await api('POST', `/projects/diabetes/recipes/${RECIPE}/runs`, 'alice', payload);
      expect(r.statusCode, r.body).toBeGreaterThanOrEqual(400);
      expect(r.json().error.code).toBe(code);
      expect(r.json().error.message).toContain(text);
    };
    await bad(
      { ...body(), inputs: { ...body().inputs, vitals: { dataset: 'labs', version: 1 } } },
      'RECIPE_UNKNOWN_INPUT',
      'vitals',
    );
    const { patients: _omit, ...noPatients } = body().inputs;
    await bad({ ...body(), inputs: noPatients }, 'RECIPE_INPUT_REQUIRED', 'patients');
    await bad(body({ threshold: 'high' }), 'INVALID_RECIPE_PARAMS', 'threshold');
    await bad(body({ lengthMode: 'forever' }), 'INVALID_RECIPE_PARAMS', 'lengthMode');
    await bad(body({ nonsense: 1 }), 'INVALID_RECIPE_PARAMS', 'nonsense');
    await bad(body({}, 'cohort', { labs: 9 }), 'VERSION_NOT_FOUND', 'labs');
    await bad(body({}, 'labs'), 'RECIPE_OUTPUT_IS_INPUT', 'labs');
    const done = (await api('GET', '/projects/diabetes/recipe-runs', 'audrey')).json().runs[0];
    expect(done.status).toBe('succeeded');
    const cancel = await api('POST', `/projects/diabetes/recipe-runs/${done.id}/cancel`, 'alice');
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json().error.code).toBe('RECIPE_RUN_FINISHED');
    const nf = await api('POST', `/projects/diabetes/recipes/no-such-recipe/runs`, 'alice', body());
    expect(nf.statusCode).toBe(404);
    expect(nf.json().error.code).toBe('RECIPE_NOT_FOUND');
  });

  it('fails a run on bad input with the column named, and runs it again once the input is fixed', async () => {
    // A labs extract without the unit column: the run fails (no retry) and says which column is missing.
    const v = await push('labs', 'patient_id,date,test_code,value\nP000001,2020-01-01,4548-4,7.5\n');
    const r = await api(
      'POST',
      `/projects/diabetes/recipes/${RECIPE}/runs`,
      'alice',
      body({}, 'cohort-bad', { labs: v }),
    );
    const run = await waitRun(r.json().run.id);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('no column "unit"');
    expect(run.report.errorDetails).toMatchObject({ role: 'labs', column: 'unit' });
    const job = await t.platform.jobs.get(run.jobId);
    expect(job.state).toBe('failed');
    expect(job.attempts).toBe(1);
    // Mapping the parameter to a column that exists and a default unit makes the same inputs usable.
    const fixed = await api(
      'POST',
      `/projects/diabetes/recipes/${RECIPE}/runs`,
      'alice',
      body({ labs: { unit: 'value' }, defaultHba1cUnit: '%', minFollowUpDays: 0 }, 'cohort-bad', { labs: v }),
    );
    const run2 = await waitRun(fixed.json().run.id);
    expect(run2.status).toBe('failed'); // "7.5" is no unit: named, as an unknown unit
    expect(run2.error).toContain('HbA1c unit "7.5"');
  });

  it.runIf(dialect === 'sqlite')(
    '`ichigen recipe run` waits, prints the output version, and exits 1 on failure',
    async () => {
      const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const home = mkdtempSync(path.join(os.tmpdir(), 'ichigen-recipe-cli-'));
      const cli = async (...args: string[]) => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await main(['node', 'ichigen', ...args], {
          out: (s) => out.push(s),
          err: (s) => err.push(s),
          env: { ICHIGEN_URL: url, ICHIGEN_TOKEN: tokens.alice!, ICHIGEN_CONFIG_HOME: home },
        });
        return { code, out: out.join('\n'), err: err.join('\n') };
      };
      try {
        const list = await cli('recipe', 'list');
        expect(list.code, list.err).toBe(0);
        expect(list.out).toContain('hba1c-control-periods@1.0.0');
        expect(list.out).toContain('minControlDays = 365');
        const ok = await cli(
          'recipe',
          'run',
          RECIPE,
          '--project',
          'diabetes',
          '--input',
          'labs=labs@1',
          '--input',
          'prescriptions=prescriptions@latest',
          '--input',
          'patients=patients@1',
          '--input',
          'conditions=conditions@1',
          '--param',
          'minControlDays=300',
          '--output',
          'cohort',
        );
        expect(ok.code, ok.err).toBe(0);
        expect(ok.out).toBe('diabetes/cohort@2'); // the run from before: not run again
        expect(ok.err).toContain('found existing recipe run');
        const fresh = await cli(
          'recipe',
          'run',
          RECIPE,
          '--project',
          'diabetes',
          '--input',
          'labs=labs@1',
          '--input',
          'prescriptions=prescriptions@1',
          '--input',
          'patients=patients@1',
          '--param',
          'lengthMode=until-next-uncontrolled',
          '--param',
          'labs.unit=unit',
          '--output',
          'cohort-cli',
          '--json',
        );
        expect(fresh.code, fresh.err).toBe(0);
        const run = JSON.parse(fresh.out);
        expect(run).toMatchObject({ status: 'succeeded', output: { dataset: 'cohort-cli', version: 1 } });
        expect(run.params.lengthMode).toBe('until-next-uncontrolled');
        expect(fresh.err).toMatch(/running|succeeded/);
        const failed = await cli(
          'recipe',
          'run',
          RECIPE,
          '--project',
          'diabetes',
          '--input',
          'labs=labs@2',
          '--input',
          'prescriptions=prescriptions@1',
          '--input',
          'patients=patients@1',
          '--output',
          'cohort-cli2',
        );
        expect(failed.code).toBe(1);
        expect(failed.err).toContain('no column "unit"');
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
  );
});
