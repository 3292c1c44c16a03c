// Automatic training end to end on both dialects: a policy, a push that starts a study, a worker that runs it, a
// registered candidate with metrics, card and lineage, and the two-person approval rule.
import { Frame, modelToOnnx, trainLogistic } from '@ichigen/ml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobHandlers } from '../jobs/handlers.js';
import { Worker } from '../jobs/worker.js';
import { cohortCsv } from '../test-support/cohort.js';
import { DIALECTS, bearer, makeTestPlatform, type TestPlatform } from '../test-support/platform.js';

describe.each(DIALECTS)('automatic training on %s', (dialect) => {
  let t: TestPlatform;
  let worker: Worker;
  const users: Record<string, string> = {};
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, who: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: bearer(users[who]!),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const push = (dataset: string, csv: string, who = 'steward') =>
    t.app.inject({
      method: 'POST',
      url: `/api/v1/projects/diabetes/datasets/${dataset}/versions`,
      headers: { ...bearer(users[who]!), 'content-type': 'text/csv' },
      payload: csv,
    });
  const waitStudy = async (id: string, ms = 120_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const s = (await api('GET', `/projects/diabetes/studies/${id}`, 'alice')).json();
      if (['succeeded', 'failed', 'cancelled'].includes(s.status)) return s;
      if (Date.now() > end) throw new Error(`study ${id} still ${s.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    t = await makeTestPlatform(dialect, { maxParallelTrials: 4 });
    users.admin = t.admin.token;
    await api('POST', '/projects', 'admin', { slug: 'diabetes', name: 'Diabetes' });
    for (const [name, role] of [
      ['alice', 'scientist'],
      ['steward', 'steward'],
      ['bob', 'approver'],
      ['sci2', 'scientist'],
    ] as const) {
      users[name] = (await t.user(name)).token;
      await api('POST', '/projects/diabetes/members', 'admin', { user: name, role });
    }
    // alice is also an approver: the two-person rule, not the role, must stop her approving her own model.
    await api('POST', '/projects/diabetes/members', 'admin', { user: 'alice', role: 'approver' });
    worker = new Worker(t.platform.jobs, jobHandlers(t.platform), { leaseMs: 10_000, pollMs: 100 });
    worker.start();
  });
  afterAll(async () => {
    await worker.stop(5_000);
    await t.close();
  });

  it('a push under a policy yields an evaluated, carded, traceable candidate', async () => {
    expect((await push('cohort', cohortCsv({ patients: 50, seed: 3 }))).statusCode).toBe(201);
    const pol = await api('PUT', '/projects/diabetes/datasets/cohort/policy', 'alice', {
      target: 'responder',
      positive: 1,
      group: 'patient_id',
      exclude: ['patient_id', 'index_date'],
      algorithms: ['gbdt', 'logreg'],
      trials: 6,
      folds: 3,
      model: 'oral-response',
      description: 'Which patients starting oral hypoglycemic drugs reach lasting HbA1c control.',
      onNewVersion: true,
    });
    expect(pol.statusCode, pol.body).toBe(200);
    expect(pol.json().revision).toBe(1);

    const pushed = await push('cohort', cohortCsv({ patients: 800, seed: 7, missingTarget: 5 }));
    expect(pushed.statusCode).toBe(201);
    const [studyId] = pushed.json().studiesStarted as string[];
    expect(studyId).toBeTruthy();
    const s = await waitStudy(studyId!);
    expect(s.status, s.error).toBe('succeeded');
    expect(s.trialsDone).toBe(6);
    expect(s.trialsList).toHaveLength(6);
    expect(s.trialsList.every((x: { state: string }) => ['complete', 'pruned', 'failed'].includes(x.state))).toBe(true);
    expect(s.report.droppedMissingTarget).toBe(5);
    expect(s.report.ignoredColumns).toEqual([]);
    expect(s.modelVersion).toEqual({ model: 'oral-response', version: 1 });

    const list = await api('GET', '/projects/diabetes/models', 'bob');
    const v = list.json().versions[0];
    expect(v).toMatchObject({
      model: 'oral-response',
      version: 1,
      stage: 'candidate',
      dataset: 'cohort',
      datasetVersion: 2,
    });
    expect(v.auc).toBeGreaterThan(0.65);
    expect(v.aucCi.lower).toBeLessThan(v.auc);

    const show = (await api('GET', '/projects/diabetes/models/oral-response/versions/1', 'bob')).json();
    expect(show.metrics.subgroups.some((g: { column: string }) => g.column === 'sex')).toBe(true);
    expect(
      show.metrics.subgroups.some((g: { column: string; group: string }) => g.column === 'age' && /\d/.test(g.group)),
    ).toBe(true);
    expect(show.metrics.confusion.tp + show.metrics.confusion.fn).toBe(show.metrics.positives);
    expect(show.metrics.roc.x.length).toBeGreaterThan(2);
    for (const k of ['accuracy', 'sensitivity', 'specificity', 'ppv', 'npv', 'f1', 'brier'])
      expect(typeof show.metrics[k]).toBe('number');
    expect(show.metrics.calibration.slope).toBeTypeOf('number');
    expect(show.features).not.toContain('patient_id');
    expect(show.features).not.toContain('responder');
    expect(show.cardMarkdown).toContain('## Intended use');
    expect(show.cardMarkdown).toContain('lasting HbA1c control');
    expect(show.cardMarkdown).toContain('## Subgroups');
    expect(show.card.data.datasetDigest).toBe(show.datasetDigest);
    // The data's period: when the version was pushed, and the range of its date columns (index_date here).
    const pushedV2 = (await api('GET', '/projects/diabetes/datasets/cohort/versions/2', 'alice')).json();
    expect(show.card.data.datasetCreatedAt).toBe(pushedV2.createdAt);
    const idx = pushedV2.schema.columns.find((c: { name: string }) => c.name === 'index_date');
    expect(idx.type).toBe('date');
    expect(show.card.data.dateRanges).toEqual([{ column: 'index_date', min: idx.min, max: idx.max }]);
    expect(show.cardMarkdown).toContain(`- Dates covered: \`index_date\` ${idx.min} – ${idx.max}`);
    expect(show.modelDigest).toMatch(/^sha256:/);
    expect(show.onnxDigest).toMatch(/^sha256:/);

    const lin = (await api('GET', '/projects/diabetes/lineage?dataset=cohort&version=2', 'alice')).json();
    const kinds = lin.nodes.map((n: { kind: string }) => n.kind).sort();
    expect(kinds).toEqual(['dataset_version', 'model_version', 'study']);
    const up = (await api('GET', '/projects/diabetes/lineage?model=oral-response&modelVersion=1', 'alice')).json();
    expect(up.nodes.find((n: { kind: string }) => n.kind === 'dataset_version').label).toBe('cohort@2');
  });

  it('approval follows the two-person rule and needs the approver role and a reason', async () => {
    const url = '/projects/diabetes/models/oral-response/versions/1/approve';
    const own = await api('POST', url, 'alice', { reason: 'looks fine' });
    expect(own.statusCode).toBe(403);
    expect(own.json().error.code).toBe('TWO_PERSON_RULE');
    const sci = await api('POST', url, 'sci2', { reason: 'looks fine' });
    expect(sci.statusCode).toBe(403);
    expect(sci.json().error.code).toBe('FORBIDDEN');
    const noReason = await api('POST', url, 'bob', { reason: '  ' });
    expect(noReason.json().error.code).toBe('REASON_REQUIRED');
    const ok = await api('POST', url, 'bob', {
      reason: 'Reviewed the card: AUC and calibration acceptable for a pilot.',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().stage).toBe('approved');
    const again = await api('POST', url, 'bob', { reason: 'again' });
    expect(again.json().error.code).toBe('INVALID_STAGE');
    const ev = await t.platform.audit.list({ project: 'diabetes', action: 'model.approve' });
    expect(ev.events.map((e) => e.outcome).sort()).toEqual(['denied', 'success']);
    const show = (await api('GET', '/projects/diabetes/models/oral-response/versions/1', 'bob')).json();
    expect(show.stageHistory).toEqual([expect.objectContaining({ from: 'candidate', to: 'approved', by: 'bob' })]);
  });

  it('predicts rows (JSON and CSV) with explanations, in order, and logs and audits every prediction', async () => {
    const url = '/projects/diabetes/models/oral-response/versions/1/predict';
    const rows = [
      { age: 55, sex: 'F', hba1c_baseline: 7.2, egfr: 90, bmi: 24, drug_class: 'sglt2' },
      { age: 78, sex: 'M', hba1c_baseline: 10.5, egfr: 35, bmi: null, drug_class: 'su' },
    ];
    const r = await api('POST', url, 'bob', { rows });
    expect(r.statusCode, r.body).toBe(200);
    const preds = r.json().predictions;
    expect(preds).toHaveLength(2);
    expect(preds[0].probability).toBeGreaterThan(preds[1].probability);
    expect(preds[0].label).toBe(
      preds[0].probability >=
        (await api('GET', '/projects/diabetes/models/oral-response/versions/1', 'bob')).json().threshold
        ? 1
        : 0,
    );
    expect(preds[0].contributions.length).toBeGreaterThan(0);
    const csv = await t.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      headers: { ...bearer(users.bob!), 'content-type': 'text/csv' },
      payload: 'age,sex,hba1c_baseline,egfr,bmi,drug_class\n55,F,7.2,90,24,sglt2\n78,M,10.5,35,,su\n',
    });
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.json().predictions.map((p: { probability: number }) => p.probability)).toEqual(
      preds.map((p: { probability: number }) => p.probability),
    );
    const ragged = await t.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      headers: { ...bearer(users.bob!), 'content-type': 'text/csv' },
      payload: 'age,sex,hba1c_baseline,egfr,bmi,drug_class\n55,F,7.2,90,24,sglt2\n78,M,10.5,35,su\n',
    });
    expect(ragged.statusCode).toBe(400);
    expect(ragged.json().error).toMatchObject({
      code: 'CSV_RAGGED_ROW',
      details: { line: 3, expected: 6, actual: 5 },
    });
    expect(ragged.json().error.message).toMatch(/^Line 3 has 5 fields but the header has 6/);
    const mismatch = await api('POST', url, 'bob', { rows: [{ age: 50, sex: 'F' }] });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.json().error.code).toBe('PREDICT_COLUMNS_MISMATCH');
    expect(mismatch.json().error.message).toMatch(/egfr/);
    const badValue = await api('POST', url, 'bob', { rows: [{ ...rows[0], egfr: 'high' }] });
    expect(badValue.json().error.code).toBe('PREDICT_BAD_VALUE');
    const log = await api('GET', '/projects/diabetes/predictions?source=rest', 'bob');
    expect(log.json().predictions.length).toBe(4);
    expect(log.json().predictions[0]).toMatchObject({
      caller: 'bob',
      source: 'rest',
      inputsDigest: expect.stringMatching(/^sha256:/),
    });
    const reads = await t.platform.audit.list({ project: 'diabetes', action: 'prediction.read' });
    expect(reads.events.length).toBeGreaterThan(0);
  });

  it('batch-scores a dataset version into a new dataset version with lineage and a log summary', async () => {
    const r = await api('POST', '/projects/diabetes/models/oral-response/versions/1/score', 'alice', {
      dataset: 'cohort',
      datasetVersion: 2,
      output: 'cohort-scores',
      keep: ['patient_id'],
    });
    expect(r.statusCode, r.body).toBe(202);
    const jobId = r.json().job.id;
    let job;
    for (let i = 0; i < 300; i++) {
      job = (await api('GET', `/projects/diabetes/jobs/${jobId}`, 'alice')).json();
      if (['succeeded', 'failed', 'cancelled'].includes(job.state)) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.result).toMatchObject({ output: 'cohort-scores', version: 1, rows: 800 });
    const out = await t.app.inject({
      method: 'GET',
      url: '/api/v1/projects/diabetes/datasets/cohort-scores/versions/1/content',
      headers: bearer(users.alice!),
    });
    const lines = out.body.trim().split('\n');
    expect(lines[0]).toBe('patient_id,probability,label');
    expect(lines).toHaveLength(801);
    expect(lines[1]).toMatch(/^P00000,0\.\d{6},[01]$/);
    const lin = (
      await api('GET', '/projects/diabetes/lineage?dataset=cohort-scores&version=1&direction=upstream', 'alice')
    ).json();
    expect(lin.nodes.map((n: { label: string }) => n.label)).toEqual(
      expect.arrayContaining(['cohort@2', 'oral-response@1']),
    );
    const log = (await api('GET', '/projects/diabetes/predictions?source=batch', 'alice')).json();
    expect(log.predictions[0].output).toMatchObject({ output: 'cohort-scores@1', rows: 800 });
    const again = await api('POST', '/projects/diabetes/models/oral-response/versions/1/score', 'alice', {
      dataset: 'cohort',
      datasetVersion: 2,
      output: 'cohort-scores',
      keep: ['patient_id'],
    });
    expect(again.json().job.id).toBe(jobId);
  });

  it('a second version is compared with the approved one on the same holdout', async () => {
    const pushed = await push('cohort', cohortCsv({ patients: 800, seed: 8 }));
    const s = await waitStudy(pushed.json().studiesStarted[0]);
    expect(s.status, s.error).toBe('succeeded');
    const show = (await api('GET', '/projects/diabetes/models/oral-response/versions/2', 'bob')).json();
    expect(show.card.comparison).toMatchObject({ against: { model: 'oral-response', version: 1 } });
    expect(show.cardMarkdown).toContain('Comparison with the approved version');
    const ok = await api('POST', '/projects/diabetes/models/oral-response/versions/2/approve', 'bob', {
      reason: 'better',
      retirePrevious: true,
    });
    expect(ok.json().retired).toEqual([1]);
  });

  it('registers an external ONNX model and evaluates it on the holdout itself; refuses what is not ONNX', async () => {
    // A model "trained in Jupyter": here fitted on the cohort's numeric columns and exported to ONNX.
    const rows = cohortCsv({ patients: 800, seed: 8 })
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    const cols = {
      age: rows.map((r) => +r[2]!),
      hba1c_baseline: rows.map((r) => +r[4]!),
      egfr: rows.map((r) => +r[5]!),
    };
    const lr = await trainLogistic(
      Frame.fromColumns(cols),
      rows.map((r) => +r[8]!),
    );
    const onnx = Buffer.from(modelToOnnx(lr));
    const upload = (body: Buffer, q: string, who = 'alice') =>
      t.app.inject({
        method: 'POST',
        url: `/api/v1/projects/diabetes/models/jupyter-lr/versions?${q}`,
        headers: { ...bearer(users[who]!), 'content-type': 'application/octet-stream' },
        payload: body,
      });
    const ok = await upload(onnx, 'dataset=cohort&version=3&columns=age,hba1c_baseline,egfr&framework=scikit-learn');
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json()).toMatchObject({ model: 'jupyter-lr', version: 1 });
    expect(ok.json().auc).toBeGreaterThan(0.6);
    const show = (await api('GET', '/projects/diabetes/models/jupyter-lr/versions/1', 'bob')).json();
    expect(show).toMatchObject({
      source: 'external',
      stage: 'candidate',
      features: ['age', 'hba1c_baseline', 'egfr'],
      modelDigest: null,
    });
    expect(show.card.data.holdoutRows).toBeGreaterThan(100);

    // It serves through onnxruntime: the same probabilities as the model it was exported from (float32 inside ONNX),
    // in input order, logged like any prediction.
    const input = [
      { age: 71, hba1c_baseline: 9.4, egfr: 38 },
      { age: 45, hba1c_baseline: 7.1, egfr: 96 },
      { age: 58, hba1c_baseline: 8.2, egfr: 64 },
    ];
    const expected = lr.predictProba(
      Frame.fromColumns({
        age: input.map((r) => r.age),
        hba1c_baseline: input.map((r) => r.hba1c_baseline),
        egfr: input.map((r) => r.egfr),
      }),
    );
    for (let round = 0; round < 2; round++) {
      const pred = await api('POST', '/projects/diabetes/models/jupyter-lr/versions/1/predict', 'alice', {
        rows: input,
      });
      expect(pred.statusCode, pred.body).toBe(200);
      const got = pred.json().predictions.map((x: { probability: number }) => x.probability);
      expect(got).toHaveLength(3);
      for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - expected[i]!)).toBeLessThan(1e-5);
    }
    const logged = (await api('GET', '/projects/diabetes/predictions?model=jupyter-lr', 'alice')).json();
    expect(logged.predictions.length).toBeGreaterThanOrEqual(6);

    const junk = await upload(Buffer.from('this is not an onnx model at all'), 'dataset=cohort&version=3&columns=age');
    expect(junk.json().error.code).toBe('ONNX_INVALID');
    const pickle = await upload(
      Buffer.concat([Buffer.from([0x80, 0x04, 0x95]), Buffer.alloc(64)]),
      'dataset=cohort&version=3&columns=age',
    );
    expect(pickle.json().error.code).toBe('ONNX_INVALID');
    expect(pickle.json().error.message).toMatch(/pickle/);
    const width = await upload(onnx, 'dataset=cohort&version=3&columns=age,egfr');
    expect(width.json().error.code).toBe('ONNX_INPUT_MISMATCH');
    const text = await upload(onnx, 'dataset=cohort&version=3&columns=age,drug_class,egfr');
    expect(text.json().error.code).toBe('ONNX_INPUT_MISMATCH');
    expect(text.json().error.message).toMatch(/drug_class/);
    const absent = await upload(onnx, 'dataset=cohort&version=3&columns=age,nope,egfr');
    expect(absent.json().error.message).toMatch(/nope/);
    const clinician = await upload(onnx, 'dataset=cohort&version=3&columns=age,hba1c_baseline,egfr', 'steward');
    expect(clinician.statusCode).toBe(403);
  });

  it('searches on a sample of a larger cohort, confirms the best two on every row, and keeps to its time budget', async () => {
    expect((await push('large', cohortCsv({ patients: 2500, seed: 4 }))).statusCode).toBe(201);
    const policy = (extra: Record<string, unknown>) =>
      api('PUT', '/projects/diabetes/datasets/large/policy', 'alice', {
        target: 'responder',
        group: 'patient_id',
        exclude: ['patient_id', 'index_date'],
        algorithms: ['gbdt'],
        ...extra,
      });
    const run = async () => {
      const r = await api('POST', '/projects/diabetes/studies', 'alice', { dataset: 'large', version: 1 });
      expect(r.statusCode, r.body).toBe(201);
      return waitStudy(r.json().id);
    };
    for (const parallelTrials of [0, 1.5, 65, 5]) {
      const bad = await policy({ trials: 8, searchRows: 1000, parallelTrials });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('INVALID_POLICY');
    }
    // 5 is above this server's maxParallelTrials (4): the message says so.
    const over = await policy({ trials: 8, searchRows: 1000, parallelTrials: 5 });
    expect(over.json().error.message).toMatch(/at most 4 on this server/);
    expect((await policy({ trials: 8, searchRows: 1000, parallelTrials: 3 })).statusCode).toBe(200);
    const s = await run();
    expect(s.status, s.error).toBe('succeeded');
    const rep = s.report;
    expect(rep.parallelTrials).toBe(3);
    expect(rep.folds).toBe(5); // the default below 20,000 training rows
    expect(rep.trainingRows).toBeGreaterThan(1900);
    expect(Math.abs(rep.searchRows - 1000)).toBeLessThanOrEqual(5);
    expect(rep.finalists).toHaveLength(2);
    expect(rep.finalists[0].cv).toBeGreaterThanOrEqual(rep.finalists[1].cv);
    expect(rep.finalists[0].folds).toHaveLength(5);
    expect(rep.bestCv).toBe(rep.finalists[0].cv);
    expect(rep.bestTrial).toBe(rep.finalists[0].trial);
    expect(rep.stoppedBy).toBe('trials');
    for (const k of ['load', 'search', 'confirm', 'refit', 'evaluate'])
      expect(rep.phasesMs[k]).toBeGreaterThanOrEqual(0);
    const mv = (await api('GET', `/projects/diabetes/models/large/versions/${s.modelVersion.version}`, 'bob')).json();
    expect(mv.card.method.search).toMatchObject({
      folds: 5,
      bestCvValue: rep.bestCv,
      trials: 8,
      searchRows: rep.searchRows,
      finalists: 2,
    });
    expect(mv.cardMarkdown).toContain(`patient-grouped sample of ${rep.searchRows} of the ${rep.trainingRows}`);
    // The refit uses the mean early-stopped rounds of the chosen configuration's folds on every row.
    const its = rep.finalists[0].bestIterations as number[];
    expect(mv.params.numTrees).toBe(Math.max(1, Math.round(its.reduce((a, b) => a + b, 0) / its.length)));

    // A time budget far below what 2,000 trials need: the search stops starting trials, the study still succeeds.
    expect((await policy({ trials: 2000, timeoutMinutes: 0.05, searchRows: 1000 })).statusCode).toBe(200);
    const t0 = Date.now();
    const timed = await run();
    expect(timed.status, timed.error).toBe('succeeded');
    expect(timed.report.stoppedBy).toBe('timeout');
    expect(timed.trialsDone).toBeGreaterThan(0);
    expect(timed.trialsDone).toBeLessThan(2000);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('studies that cannot succeed fail with a clear error, not a crash', async () => {
    const start = async (dataset: string, csv: string, policy: Record<string, unknown>) => {
      expect((await push(dataset, csv)).statusCode).toBe(201);
      expect(
        (
          await api('PUT', `/projects/diabetes/datasets/${dataset}/policy`, 'alice', {
            target: 'responder',
            group: 'patient_id',
            exclude: ['patient_id'],
            trials: 2,
            folds: 3,
            ...policy,
          })
        ).statusCode,
      ).toBe(200);
      const r = await api('POST', '/projects/diabetes/studies', 'alice', { dataset, version: 1 });
      expect(r.statusCode, r.body).toBe(201);
      return waitStudy(r.json().id);
    };
    const missing = await start('m1', cohortCsv({ patients: 100, seed: 1 }), { target: 'outcome_x' });
    expect(missing.status).toBe('failed');
    expect(missing.error).toMatch(/outcome_x/);
    const one = await start('m2', cohortCsv({ patients: 100, seed: 1, singleClass: true }), {});
    expect(one.status).toBe('failed');
    expect(one.error).toMatch(/only one class/);
    // Both classes, but fewer rows than a holdout and three folds need.
    const [header, ...lines] = cohortCsv({ patients: 200, seed: 1 }).trim().split('\n');
    const fewRows = [
      header,
      ...lines.filter((l) => l.endsWith(',1')).slice(0, 3),
      ...lines.filter((l) => l.endsWith(',0')).slice(0, 3),
    ];
    const few = await start('m3', fewRows.join('\n') + '\n', {});
    expect(few.status).toBe('failed');
    expect(few.error).toMatch(/^only 6 usable rows; a study with 3 folds and a holdout needs at least \d+/);
    const bad = await api('PUT', '/projects/diabetes/datasets/m3/policy', 'alice', { target: 'responder', folds: 1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_POLICY');
    // A policy belongs to a dataset: before its first push the refusal says what to do.
    const early = await api('PUT', '/projects/diabetes/datasets/not-yet/policy', 'alice', { target: 'responder' });
    expect(early.statusCode).toBe(404);
    expect(early.json().error).toMatchObject({
      code: 'DATASET_NOT_FOUND',
      message: 'no dataset "not-yet" in project diabetes: push its first version, then set its policy',
    });
    // A target with missing values fails the study when the policy says so (the default drops and counts them).
    const strict = await start('m4', cohortCsv({ patients: 100, seed: 2, missingTarget: 3 }), {
      missingTarget: 'fail',
    });
    expect(strict.status).toBe('failed');
    expect(strict.error).toMatch(/missing|empty/i);
    expect(strict.error).toMatch(/responder/);
  });

  it('a cancelled study stops, keeps its finished trials visible, and produces no model', async () => {
    expect((await push('slow', cohortCsv({ patients: 1500, seed: 11 }))).statusCode).toBe(201);
    const pol = await api('PUT', '/projects/diabetes/datasets/slow/policy', 'alice', {
      target: 'responder',
      group: 'patient_id',
      exclude: ['patient_id', 'index_date'],
      algorithms: ['gbdt'],
      trials: 500,
      folds: 3,
      model: 'slow-model',
    });
    expect(pol.statusCode, pol.body).toBe(200);
    const started = await api('POST', '/projects/diabetes/studies', 'alice', { dataset: 'slow', version: 1 });
    expect(started.statusCode, started.body).toBe(201);
    const id = started.json().id as string;
    const end = Date.now() + 120_000;
    while ((await api('GET', `/projects/diabetes/studies/${id}`, 'alice')).json().trialsDone < 2) {
      if (Date.now() > end) throw new Error('no trial finished in 2 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = await api('POST', `/projects/diabetes/studies/${id}/cancel`, 'alice');
    expect(c.statusCode, c.body).toBe(200);
    const s = await waitStudy(id);
    expect(s.status).toBe('cancelled');
    expect(s.trialsList.length).toBeGreaterThanOrEqual(2);
    expect(s.trialsList.length).toBeLessThan(500);
    expect(s.modelVersion).toBeNull();
    const models = (await api('GET', '/projects/diabetes/models?model=slow-model', 'alice')).json().versions;
    expect(models).toEqual([]);
    // Cancelling again is refused: it has finished.
    const again = await api('POST', `/projects/diabetes/studies/${id}/cancel`, 'alice');
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('STUDY_FINISHED');
    const ev = await t.platform.audit.list({ action: 'study.cancel' });
    expect(ev.events.some((e) => e.target === `study:${id}` && e.actor === 'alice')).toBe(true);
  });

  it('the same study on the same version gives the same trials and a byte-identical model', async () => {
    expect((await push('det', cohortCsv({ patients: 600, seed: 21 }))).statusCode).toBe(201);
    const pol = await api('PUT', '/projects/diabetes/datasets/det/policy', 'alice', {
      target: 'responder',
      group: 'patient_id',
      exclude: ['patient_id', 'index_date'],
      algorithms: ['gbdt', 'logreg'],
      trials: 8,
      folds: 3,
      seed: 7,
      model: 'det-model',
    });
    expect(pol.statusCode, pol.body).toBe(200);
    const run = async () => {
      const started = await api('POST', '/projects/diabetes/studies', 'alice', { dataset: 'det', version: 1 });
      expect(started.statusCode, started.body).toBe(201);
      const s = await waitStudy(started.json().id as string);
      expect(s.status, s.error).toBe('succeeded');
      const mv = s.modelVersion as { model: string; version: number };
      const show = (await api('GET', `/projects/diabetes/models/${mv.model}/versions/${mv.version}`, 'alice')).json();
      return { s, show };
    };
    const a = await run();
    const b = await run();
    expect(b.show.version).toBe(a.show.version + 1);
    const trials = (s: {
      trialsList: { number: number; algorithm: string; state: string; value: unknown; params: unknown }[];
    }) =>
      s.trialsList.map(({ number, algorithm, state, value, params }) => ({ number, algorithm, state, value, params }));
    expect(a.s.trialsList).toHaveLength(8);
    expect(a.show.modelDigest).toMatch(/^sha256:/);
    expect(trials(b.s)).toEqual(trials(a.s));
    expect(b.show.metrics.auc).toBe(a.show.metrics.auc);
    expect(b.show.modelDigest).toBe(a.show.modelDigest);
    expect(b.show.onnxDigest).toBe(a.show.onnxDigest);

    // Approving a newer version retires the previous one only when asked (retirePrevious): here it is not.
    const approve = (version: number) =>
      api('POST', `/projects/diabetes/models/det-model/versions/${version}/approve`, 'bob', { reason: 'reviewed' });
    expect((await approve(a.show.version)).json().retired).toEqual([]);
    expect((await approve(b.show.version)).json().retired).toEqual([]);
    for (const v of [a.show.version, b.show.version]) {
      const show = (await api('GET', `/projects/diabetes/models/det-model/versions/${v}`, 'bob')).json();
      expect(show.stage, `v${v}`).toBe('approved');
    }
  });

  it('search-space overrides are checked when the policy is set', async () => {
    const set = (searchSpace: unknown) =>
      api('PUT', '/projects/diabetes/datasets/m3/policy', 'alice', { target: 'responder', searchSpace });
    const gbdt = (sub: unknown) => ({ algorithm: { type: 'branch', branches: { gbdt: sub } } });
    for (const bad of [
      gbdt({ learningRate: { type: 'float', low: 0.5, high: 0.1 } }), // low above high
      gbdt({ numLeaves: { type: 'int', low: 2, high: 8, step: 0 } }),
      gbdt({ learningRate: { type: 'float', low: 0, high: 0.1, log: true } }), // log needs low > 0
      { learningRate: 0.1 }, // a value, not a spec
      { algorithm: { type: 'branch' } }, // a branch without branches
      { learningRate: { type: 'float', low: 0.01, high: 0.1 } }, // also inside the gbdt branch: twice on one path
    ]) {
      const r = await set(bad);
      expect(r.statusCode, JSON.stringify(bad)).toBe(400);
      expect(r.json().error.code).toBe('INVALID_POLICY');
      expect(r.json().error.message).toContain('searchSpace');
    }
    const good = await set(gbdt({ learningRate: { type: 'float', low: 0.05, high: 0.2, log: true } }));
    expect(good.statusCode, good.body).toBe(200);
  });
});
