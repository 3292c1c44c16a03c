// Serving benchmark, step 1: prepares a data directory (embedded SQLite) through the in-process platform and HTTP API —
// project, scientist + approver, a cohort CSV, a 100-tree GBDT registered and approved, three applicable patient-view
// deployments of it, and a CDS issuer — then closes the server so `run.mjs` can serve the same directory from a child.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';

const dist = new URL('../../packages/server/dist/', import.meta.url);
const { loadConfig } = await import(new URL('config/config.js', dist));
const { startServer } = await import(new URL('server/serve.js', dist));
const { evaluateHoldout } = await import(new URL('models/evaluation.js', dist));
const { renderCardMarkdown } = await import(new URL('models/card.js', dist));
const { dmDeployment } = await import(new URL('cds/fixtures.js', dist));
const { Frame, trainGbdt, ENGINE_VERSION } = await import(new URL('../../packages/ml/dist/index.js', import.meta.url));

export const FEATURES = ['age', 'sex', 'hba1c_baseline', 'egfr', 'bmi', 'drug_class'];
export const BASE = 'http://ichigen.bench.invalid';
export const ISS = 'https://ehr.bench.invalid/cds-client';
const DRUGS = ['metformin', 'dpp4', 'sglt2', 'su'];

/** The synthetic cohort (seeded): response falls with HbA1c and age, rises with eGFR and with SGLT2 at good eGFR. */
export function cohort(n, seed = 7) {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const cols = { age: [], sex: [], hba1c_baseline: [], egfr: [], bmi: [], drug_class: [] };
  const y = [];
  for (let i = 0; i < n; i++) {
    const age = 40 + Math.floor(rnd() * 45);
    const a1c = 6.5 + rnd() * 5;
    const egfr = 30 + rnd() * 80;
    const drug = DRUGS[Math.floor(rnd() * 4)];
    const bmi = rnd() < 0.1 ? null : 20 + rnd() * 15;
    const logit =
      2 -
      0.9 * (a1c - 7.5) +
      0.015 * (egfr - 70) -
      0.02 * (age - 60) +
      (drug === 'sglt2' && egfr > 60 ? 0.8 : 0) +
      (bmi !== null && bmi > 30 ? -0.3 : 0);
    cols.age.push(age);
    cols.sex.push(rnd() < 0.5 ? 'M' : 'F');
    cols.hba1c_baseline.push(Number(a1c.toFixed(1)));
    cols.egfr.push(Math.round(egfr));
    cols.bmi.push(bmi === null ? null : Number(bmi.toFixed(1)));
    cols.drug_class.push(drug);
    y.push(rnd() < 1 / (1 + Math.exp(-logit)) ? 1 : 0);
  }
  return { cols, y };
}

export async function setup({ rows = 5000, dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bench-serving-')) } = {}) {
  const { cols, y } = cohort(rows);
  const csvLines = [`patient_id,${FEATURES.join(',')},responder`];
  for (let i = 0; i < rows; i++) csvLines.push(`P${i},${FEATURES.map((f) => cols[f][i] ?? '').join(',')},${y[i]}`);
  const csv = csvLines.join('\n') + '\n';
  const csvPath = path.join(dir, 'cohort.csv');
  writeFileSync(csvPath, csv);

  const srv = await startServer(loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } }), {
    print: () => undefined,
    logger: false,
  });
  try {
    const { auth } = srv.platform;
    const mk = async (name, admin) => {
      const { user } = await auth.createUser(name, { admin, actor: 'bench' });
      return (await auth.issueToken(user.id, 'bench', 'api', 24 * 3600_000)).token;
    };
    const adminToken = await mk('bench-admin', true);
    const sciToken = await mk('sci', false);
    const apprToken = await mk('appr', false);
    const call = async (token, method, p, body, expect = [200, 201]) => {
      const r = await fetch(`${srv.url}/api/v1${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!expect.includes(r.status)) throw new Error(`${method} ${p}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    await call(adminToken, 'POST', '/projects', { slug: 'dm', name: 'Serving benchmark' });
    for (const [user, role] of [
      ['sci', 'scientist'],
      ['sci', 'steward'],
      ['appr', 'approver'],
    ])
      await call(adminToken, 'POST', '/projects/dm/members', { user, role });
    const push = await fetch(`${srv.url}/api/v1/projects/dm/datasets/cohort/versions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sciToken}`, 'content-type': 'text/csv' },
      body: csv,
    });
    if (push.status !== 201) throw new Error(`push: ${push.status} ${await push.text()}`);

    // 100 trees, no early stopping: the size the benchmark names. Trained in this process with the engine the
    // platform uses, registered the way an external/in-process registration does (registry.register).
    const t0 = Date.now();
    const frame = Frame.fromColumns(cols);
    const model = await trainGbdt(frame, y, {
      objective: 'binary',
      numTrees: 100,
      numLeaves: 31,
      maxDepth: 6,
      learningRate: 0.1,
      minDataInLeaf: 20,
      seed: 1,
    });
    const trainMs = Date.now() - t0;
    const json = model.toJSON();
    const scores = model.predictProba(frame);
    const metrics = evaluateHoldout(Float64Array.from(y), scores, {
      threshold: { method: 'youden' },
      subgroups: [],
      importance: [],
    });
    const db = srv.platform.store.db;
    const project = await db.selectFrom('projects').selectAll().where('slug', '=', 'dm').executeTakeFirstOrThrow();
    const dv = await db
      .selectFrom('dataset_versions')
      .innerJoin('datasets', 'datasets.id', 'dataset_versions.dataset_id')
      .select(['dataset_versions.id', 'dataset_versions.content_digest'])
      .where('datasets.project_id', '=', project.id)
      .executeTakeFirstOrThrow();
    const modelDigest = await srv.platform.registry.putArtifact(Buffer.from(JSON.stringify(json)));
    const params = { numTrees: 100, numLeaves: 31, maxDepth: 6, learningRate: 0.1, minDataInLeaf: 20 };
    const reg = await srv.platform.registry.register({
      projectId: project.id,
      projectSlug: 'dm',
      modelName: 'responder',
      source: 'external',
      datasetVersionId: dv.id,
      datasetDigest: dv.content_digest,
      policyId: null,
      studyId: null,
      engineVersion: ENGINE_VERSION,
      algorithm: 'gbdt',
      seed: 1,
      params,
      features: FEATURES,
      modelDigest,
      onnxDigest: null,
      threshold: metrics.threshold.value,
      metrics,
      card: {
        model: 'responder',
        createdAt: new Date().toISOString(),
        intendedUse: 'Serving benchmark model (synthetic data).',
        data: {
          project: 'dm',
          dataset: 'cohort',
          datasetVersion: 1,
          datasetDigest: dv.content_digest,
          rows,
          trainingRows: rows,
          holdoutRows: rows,
          patients: null,
          holdoutPatients: null,
          prevalence: y.reduce((a, b) => a + b, 0) / rows,
          droppedMissingTarget: 0,
          target: 'responder',
          positive: '1',
          features: FEATURES,
        },
        method: { source: 'external', algorithm: 'gbdt', engineVersion: ENGINE_VERSION, seed: 1, params, search: null },
        metrics,
        limitations: ['Benchmark fixture: evaluated on its training rows.'],
        comparison: null,
      },
      renderCard: renderCardMarkdown,
      trainedBy: 'sci',
      responsible: ['sci'],
    });
    await call(apprToken, 'POST', `/projects/dm/models/responder/versions/${reg.version}/approve`, {
      reason: 'benchmark',
    });
    // Three deployments that all apply to the benchmark patient (a woman with E11 and a recent HbA1c).
    const deployments = ['dm-a', 'dm-b', 'dm-c'];
    for (const [i, name] of deployments.entries()) {
      const d = dmDeployment(reg.version);
      await call(apprToken, 'PUT', `/projects/dm/deployments/${name}`, {
        ...d,
        card: { ...d.card, title: `Oral hypoglycemic response ${i + 1}` },
      });
    }
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
    await call(adminToken, 'PUT', '/cds/issuers', {
      iss: ISS,
      jwks: { keys: [jwk] },
      projects: ['dm'],
      baseUrl: BASE,
    });
    const state = {
      dir,
      csvPath,
      rows,
      trainMs,
      trees: json.trees?.length ?? null,
      model: { name: 'responder', version: reg.version, params },
      sciToken,
      deployments,
      iss: ISS,
      base: BASE,
      kid: 'bench-1',
      privateJwk: await exportJWK(privateKey),
      sample: Object.fromEntries(FEATURES.map((f) => [f, cols[f][0] ?? null])),
      setupId: randomUUID(),
    };
    writeFileSync(path.join(dir, 'bench-state.json'), JSON.stringify(state, null, 2));
    return state;
  } finally {
    await srv.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await setup();
  console.log(JSON.stringify({ dir: s.dir, trees: s.trees, model: s.model, trainMs: s.trainMs }, null, 2));
}
