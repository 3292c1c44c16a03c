// Benchmark: push of a 100,000-row cohort → approved-ready candidate with model card, on the embedded default,
// 2 cores, 60 trials, the policy's defaults otherwise (as in the issue's `ichigen policy set`). Reports the wall time
// of each phase, the CPU time of the process (all threads) and the load average.
// Usage: node bench/training/e2e.mjs [--rows 100000] [--trials 60] [--folds k] [--search-rows n]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dist = new URL('../../packages/server/dist/', import.meta.url);
const { loadConfig } = await import(new URL('config/config.js', dist));
const { startServer } = await import(new URL('server/serve.js', dist));

const args = process.argv.slice(2);
const arg = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
const ROWS = arg('--rows', 100000);
const TRIALS = arg('--trials', 60);
const FOLDS = arg('--folds', undefined);
const SEARCH_ROWS = arg('--search-rows', undefined);

function cohort(n, seed) {
  let s = seed >>> 0 || 1;
  const rnd = () => ((s ^= s << 13), (s >>>= 0), (s ^= s >>> 17), (s ^= s << 5), (s >>>= 0), s / 2 ** 32);
  const normal = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const drugs = ['metformin', 'dpp4', 'sglt2', 'su', 'glinide', 'agi', 'tzd'];
  const out = [
    'patient_id,age,sex,hba1c_baseline,hba1c_slope,egfr,bmi,drug_class,n_drugs,years_since_dx,sbp,ldl,alt,responder',
  ];
  for (let i = 0; i < n; i++) {
    const age = Math.round(35 + rnd() * 50);
    const sex = rnd() < 0.55 ? 'M' : 'F';
    const a1c = 7 + Math.abs(normal()) * 1.5;
    const slope = normal() * 0.3;
    const egfr = 25 + rnd() * 85;
    const bmi = rnd() < 0.15 ? NaN : 19 + rnd() * 16;
    const drug = drugs[Math.floor(rnd() * drugs.length)];
    const nd = 1 + Math.floor(rnd() * 3);
    const yrs = rnd() * 20;
    const logit =
      1.8 -
      0.8 * (a1c - 7.5) -
      1.2 * slope +
      0.012 * (egfr - 70) -
      0.015 * (age - 60) -
      0.05 * yrs +
      (drug === 'sglt2' && egfr > 60 ? 0.7 : 0) +
      (drug === 'su' ? -0.4 : 0) -
      (bmi > 30 ? 0.35 : 0) -
      0.2 * (nd - 1) +
      0.3 * Math.sin(a1c * 2);
    const y = rnd() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    out.push(
      `P${i},${age},${sex},${a1c.toFixed(1)},${slope.toFixed(2)},${egfr.toFixed(0)},${Number.isNaN(bmi) ? '' : bmi.toFixed(1)},${drug},${nd},${yrs.toFixed(1)},${(110 + rnd() * 50).toFixed(0)},${(70 + rnd() * 100).toFixed(0)},${(10 + rnd() * 50).toFixed(0)},${y}`,
    );
  }
  return out.join('\n') + '\n';
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bench-e2e-'));
const srv = await startServer(loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } }), {
  print: () => undefined,
  logger: false,
});
try {
  const { user } = await srv.platform.auth.createUser('sci', { admin: true, actor: 'bench' });
  const { token } = await srv.platform.auth.issueToken(user.id, 'bench', 'api', 3600_000);
  const h = { authorization: `Bearer ${token}` };
  const j = (m, p, b) =>
    fetch(`${srv.url}/api/v1${p}`, {
      method: m,
      headers: { ...h, 'content-type': 'application/json' },
      body: b ? JSON.stringify(b) : undefined,
    }).then((r) => r.json());
  await j('POST', '/projects', { slug: 'dm', name: 'dm' });
  const csv = cohort(ROWS, 11);
  await fetch(`${srv.url}/api/v1/projects/dm/datasets/cohort/versions`, {
    method: 'POST',
    headers: { ...h, 'content-type': 'text/csv' },
    body: cohort(200, 1),
  });
  await j('PUT', '/projects/dm/datasets/cohort/policy', {
    target: 'responder',
    group: 'patient_id',
    exclude: ['patient_id'],
    trials: TRIALS,
    ...(FOLDS ? { folds: FOLDS } : {}),
    ...(SEARCH_ROWS ? { searchRows: SEARCH_ROWS } : {}),
    onNewVersion: true,
    model: 'oral-response',
  });
  const load0 = os.loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const pushed = await fetch(`${srv.url}/api/v1/projects/dm/datasets/cohort/versions`, {
    method: 'POST',
    headers: { ...h, 'content-type': 'text/csv' },
    body: csv,
  }).then((r) => r.json());
  const tPush = Date.now();
  const id = pushed.studiesStarted[0];
  let s;
  let lastDone = -1;
  for (;;) {
    s = await j('GET', `/projects/dm/studies/${id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(s.status)) break;
    if (s.trialsDone !== lastDone) {
      lastDone = s.trialsDone;
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      console.error(`${secs} s: ${s.status}, ${s.trialsDone}/${TRIALS} trials, best ${s.bestValue?.toFixed(4)}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const tEnd = Date.now();
  const cpu = process.cpuUsage(cpu0);
  if (s.status !== 'succeeded') throw new Error(`study ${s.status}: ${s.error}`);
  const mv = await j('GET', `/projects/dm/models/oral-response/versions/${s.modelVersion.version}`);
  const pruned = s.trialsList.filter((t) => t.state === 'pruned').length;
  console.log(
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: `${os.cpus().length} × ${os.cpus()[0].model}`,
        rows: ROWS,
        trials: TRIALS,
        pruned,
        folds: s.report.folds,
        searchRows: s.report.searchRows,
        trainingRows: s.report.trainingRows,
        stoppedBy: s.report.stoppedBy,
        phasesSeconds: Object.fromEntries(Object.entries(s.report.phasesMs).map(([k, v]) => [k, v / 1000])),
        phasesCpuSeconds: Object.fromEntries(Object.entries(s.report.phasesCpuMs).map(([k, v]) => [k, v / 1000])),
        finalists: s.report.finalists,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        loadBefore: load0,
        loadAfter: os.loadavg()[0],
        pushSeconds: (tPush - t0) / 1000,
        studySeconds: (tEnd - tPush) / 1000,
        totalSeconds: (tEnd - t0) / 1000,
        algorithm: mv.algorithm,
        bestSearchCv: s.bestValue,
        bestCv: s.report.bestCv,
        holdoutAuc: mv.metrics.auc,
        holdoutAucCi: mv.metrics.aucCi,
        cardBytes: mv.cardMarkdown.length,
      },
      null,
      2,
    ),
  );
} finally {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
}
