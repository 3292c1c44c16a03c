// Serving benchmark: REST predict of a 100-tree GBDT and CDS Hooks patient-view under load, against a bare node:http
// hello-world and a Flask + XGBoost app. Every server runs in its own child process; this process is the load
// generator (autocannon, loopback). Usage: node bench/serving/run.mjs [--duration 10] [--connections 10]
// [--cds-connections 100] [--data-root DIR] [--skip-anchors] [--cpu-prof DIR] [--server-env K=V,…]
// Each run also records the server process's CPU time per request (from /proc), which a loaded machine skews less
// than requests/s.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execSync } from 'node:child_process';
import autocannon from 'autocannon';
import { benchRecord, cdsSigner, cpuSeconds, patientViewBody, startChild, stopChild } from './common.mjs';
import { openLoop } from './openloop.mjs';
import { setup } from './setup.mjs';

const root = new URL('../../', import.meta.url).pathname;
const dist = new URL('packages/server/dist/', `file://${root}`);
const { prefetchFor } = await import(new URL('cli/demo.js', dist));
const fx = await import(new URL('cds/fixtures.js', dist));

const args = process.argv.slice(2);
const arg = (k, d) => (args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d);
const DURATION = arg('--duration', 10);
const CONNECTIONS = arg('--connections', 10);
const CDS_CONNECTIONS = arg('--cds-connections', 100);
const WARMUP = arg('--warmup', 2);
// Where the data directory lives: the default temp dir (disk), or e.g. /dev/shm to see what fsync costs.
const DATA_ROOT = args.includes('--data-root') ? args[args.indexOf('--data-root') + 1] : os.tmpdir();
// --skip-anchors: only the Ichigen server (for quick iterations); --cpu-prof DIR: V8 CPU profile of the server.
// --cds-rates 50,100,200: also patient-view with a fixed arrival rate (open loop, calls/s; openloop.mjs) over up to
// --cds-connections keep-alive connections, the way EHR traffic arrives; a closed loop of 100 connections measures
// its own queue instead (by Little's law p50 ≈ 100 / throughput).
const CDS_RATES = args.includes('--cds-rates')
  ? args[args.indexOf('--cds-rates') + 1]
      .split(',')
      .map(Number)
      .filter((x) => x > 0)
  : [];
const SKIP_ANCHORS = args.includes('--skip-anchors');
// --only-rest: the REST predict runs only (no CDS Hooks runs), e.g. with --cpu-prof to profile the predict path.
const ONLY_REST = args.includes('--only-rest');
const CPU_PROF = args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : null;
const SERVER_ENV = args.includes('--server-env')
  ? Object.fromEntries(
      args[args.indexOf('--server-env') + 1]
        .split(',')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    )
  : {};
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** One bounded autocannon run (after a short warm-up run whose numbers are discarded). */
async function measure(label, opts, pid) {
  if (WARMUP > 0) await autocannon({ ...opts, duration: WARMUP });
  const before = load();
  const cpu0 = pid ? cpuSeconds(pid) : null;
  const r = await autocannon({ ...opts, duration: DURATION });
  const cpu1 = pid ? cpuSeconds(pid) : null;
  const out = {
    label,
    connections: opts.connections,
    durationS: DURATION,
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    maxMs: r.latency.max,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    loadBefore: before,
    serverCpuMsPerRequest:
      cpu0 !== null && cpu1 !== null && r.requests.total
        ? +(((cpu1 - cpu0) * 1000) / r.requests.total).toFixed(3)
        : null,
  };
  console.error(JSON.stringify(out));
  return out;
}

const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  uptimeAtStart: execSync('uptime').toString().trim(),
  settings: {
    dataRoot: DATA_ROOT,
    duration: DURATION,
    warmup: WARMUP,
    connections: CONNECTIONS,
    cdsConnections: CDS_CONNECTIONS,
  },
  runs: {},
};

console.error('setting up the data directory (in-process, then closed)…');
const state = await setup({ dir: mkdtempSync(path.join(DATA_ROOT, 'ichigen-bench-serving-')) });
results.model = { trees: state.trees, trainMs: state.trainMs, rows: state.rows };
const predictBody = JSON.stringify({ rows: [state.sample] });

// 1. The anchor: bare node:http.
if (!SKIP_ANCHORS) {
  const hello = await startChild('hello', process.execPath, [path.join(root, 'bench/serving/hello.mjs')], {
    cwd: root,
  });
  try {
    results.runs.hello = await measure(
      'node:http hello-world',
      {
        url: `${hello.url}/`,
        method: 'POST',
        body: predictBody,
        headers: { 'content-type': 'application/json' },
        connections: CONNECTIONS,
      },
      hello.proc.pid,
    );
  } finally {
    await stopChild(hello);
  }
}

// 2 + 3. Ichigen from its own process, on the data directory prepared above.
const server = await startChild(
  'ichigen',
  process.execPath,
  [
    ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []),
    path.join(root, 'packages/server/bin/ichigen.js'),
    'serve',
    '--port',
    '0',
    '--data',
    state.dir,
  ],
  { cwd: root, env: SERVER_ENV },
);
const spid = server.proc.pid;
try {
  const predictUrl = `${server.url}/api/v1/projects/dm/models/responder/versions/${state.model.version}/predict`;
  const headers = { authorization: `Bearer ${state.sciToken}`, 'content-type': 'application/json' };
  const check = await fetch(predictUrl, { method: 'POST', headers, body: predictBody });
  const checked = await check.json();
  if (check.status !== 200) throw new Error(`predict check: ${check.status} ${JSON.stringify(checked)}`);
  results.predictSample = checked.predictions[0];
  results.runs.predict = await measure(
    'Ichigen REST predict, 1 row, 100-tree GBDT',
    {
      url: predictUrl,
      method: 'POST',
      body: predictBody,
      headers,
      connections: CONNECTIONS,
    },
    spid,
  );
  results.runs.predictNoExplain = await measure(
    'Ichigen REST predict, ?explain=false (no contributions)',
    { url: `${predictUrl}?explain=false`, method: 'POST', body: predictBody, headers, connections: CONNECTIONS },
    spid,
  );
  // One connection: the latency of a call with nothing queued in front of it (the floor under any concurrency).
  results.runs.predict1 = await measure(
    'Ichigen REST predict at 1 connection',
    {
      url: predictUrl,
      method: 'POST',
      body: predictBody,
      headers,
      connections: 1,
    },
    spid,
  );

  if (!ONLY_REST) {
    // CDS Hooks: a fresh ES256 JWT per call (the service refuses a replayed jti), signed up front.
    const sign = await cdsSigner(state);
    const disc = await fetch(`${server.url}/cds-services`, {
      headers: { authorization: `Bearer ${await sign(`${state.base}/cds-services`)}` },
    });
    const services = (await disc.json()).services;
    const pv = services.find((s) => s.hook === 'patient-view');
    if (!pv) throw new Error(`no patient-view service: ${JSON.stringify(services)}`);
    const endpointAud = `${state.base}/cds-services/${pv.id}`;
    // A 40-resource record, all of it requested by the discovery templates (so all of it is in the prefetch).
    const pid = 'pt-bench';
    const resources = benchRecord(fx, pid);
    const prefetch = prefetchFor(fx.bundle(resources), pid, pv.prefetch ?? {});
    const freshBody = patientViewBody(prefetch, pid);
    const cdsUrl = `${server.url}/cds-services/${pv.id}`;
    const one = await fetch(cdsUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign(endpointAud)}`, 'content-type': 'application/json' },
      body: freshBody(),
    });
    const oneJson = await one.json();
    if (one.status !== 200) throw new Error(`patient-view check: ${one.status} ${JSON.stringify(oneJson)}`);
    results.cdsCheck = {
      service: pv.id,
      prefetchKeys: Object.keys(prefetch),
      prefetchResources: Object.values(prefetch).reduce(
        (n, v) => n + (v && v.resourceType === 'Bundle' ? v.entry.length : v ? 1 : 0),
        0,
      ),
      bodyBytes: Buffer.byteLength(freshBody()),
      cards: oneJson.cards.map((c) => c.summary),
    };
    console.error(`patient-view check: ${oneJson.cards.length} card(s): ${results.cdsCheck.cards.join(' | ')}`);

    // Fresh tokens only: a reused one would show as non-2xx (401, replayed jti). They are signed between runs, never
    // during one (signing in the load generator would slow it): before each run, enough for that run — a closed
    // loop at up to 5,000 calls/s, an open loop at its rate — over its warm-up and measured seconds.
    const pool = [];
    results.cdsTokenPool = { size: 0, signMs: 0 };
    const ensureTokens = async (callsPerSecond) => {
      const want = next + Math.ceil((DURATION + WARMUP) * callsPerSecond * 1.1) + 100;
      const t0 = Date.now();
      while (pool.length < want)
        pool.push(...(await Promise.all(Array.from({ length: 1000 }, () => sign(endpointAud)))));
      results.cdsTokenPool.size = pool.length;
      results.cdsTokenPool.signMs += Date.now() - t0;
    };
    let next = 0;
    const cdsOpts = {
      url: cdsUrl,
      connections: CDS_CONNECTIONS,
      requests: [
        {
          method: 'POST',
          setupRequest: (req) => {
            const token = pool[next++ % pool.length];
            return {
              ...req,
              headers: { ...req.headers, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: freshBody(),
            };
          },
        },
      ],
    };
    await ensureTokens(5000);
    results.runs.patientView = await measure(`CDS patient-view, 40-resource prefetch, ${pv.id}`, cdsOpts, spid);
    results.cdsTokenPool.used = next;
    results.cdsTokenPool.reused = Math.max(0, next - pool.length);
    await ensureTokens(5000);
    results.runs.patientView10 = await measure(
      'CDS patient-view at 10 connections',
      {
        ...cdsOpts,
        connections: CONNECTIONS,
      },
      spid,
    );
    await ensureTokens(5000);
    results.runs.patientView1 = await measure('CDS patient-view at 1 connection', { ...cdsOpts, connections: 1 }, spid);
    for (const rate of CDS_RATES) {
      const opts = {
        url: cdsUrl,
        rate,
        connections: CDS_CONNECTIONS,
        next: () => ({
          path: new URL(cdsUrl).pathname,
          headers: { authorization: `Bearer ${pool[next++ % pool.length]}`, 'content-type': 'application/json' },
          body: freshBody(),
        }),
      };
      await ensureTokens(rate);
      if (WARMUP > 0) await openLoop({ ...opts, durationS: WARMUP });
      const before = load();
      const cpu0 = cpuSeconds(spid);
      const r = await openLoop({ ...opts, durationS: DURATION });
      const cpu1 = cpuSeconds(spid);
      const out = {
        label: `CDS patient-view, open loop at ${rate} calls/s over up to ${CDS_CONNECTIONS} connections`,
        connections: CDS_CONNECTIONS,
        durationS: DURATION,
        ...r,
        loadBefore: before,
        serverCpuMsPerRequest:
          cpu0 !== null && cpu1 !== null ? +(((cpu1 - cpu0) * 1000) / r.requests).toFixed(3) : null,
      };
      console.error(JSON.stringify(out));
      results.runs[`patientViewRate${rate}`] = out;
    }
    results.cdsTokenPool.usedTotal = next;
    results.cdsTokenPool.reusedTotal = Math.max(0, next - pool.length);
  }
} finally {
  await stopChild(server);
}

// 4. The data scientist's alternative: Flask + XGBoost (100 trees) on the same CSV, waitress and the dev server.
for (const kind of SKIP_ANCHORS ? [] : ['waitress', 'flask-dev']) {
  const py = await startChild(
    kind,
    '/usr/bin/python3',
    [path.join(root, 'bench/serving/flask_app.py'), state.csvPath, kind],
    { cwd: root },
  );
  try {
    const r = await fetch(`${py.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: predictBody,
    });
    results[`${kind}Sample`] = (await r.json()).predictions[0];
    results.runs[kind] = await measure(
      `Flask + XGBoost predict (${kind})`,
      {
        url: `${py.url}/predict`,
        method: 'POST',
        body: predictBody,
        headers: { 'content-type': 'application/json' },
        connections: CONNECTIONS,
      },
      py.proc.pid,
    );
  } finally {
    await stopChild(py);
  }
}

const R = results.runs;
results.summary =
  SKIP_ANCHORS || ONLY_REST
    ? {}
    : {
        predictVsHello: +(R.predict.rps / R.hello.rps).toFixed(3),
        predictTargetMet: R.predict.rps >= 0.5 * R.hello.rps,
        patientViewP99ms: R.patientView.p99ms,
        patientViewTargetMet: R.patientView.p99ms < 25 && R.patientView.errors + R.patientView.non2xx === 0,
        predictVsWaitress: +(R.predict.rps / R.waitress.rps).toFixed(2),
        predictVsFlaskDev: +(R.predict.rps / R['flask-dev'].rps).toFixed(2),
      };
results.uptimeAtEnd = execSync('uptime').toString().trim();
rmSync(state.dir, { recursive: true, force: true });
mkdirSync(path.join(root, 'bench/serving/out'), { recursive: true });
const outFile = path.join(root, 'bench/serving/out', `run-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
console.log(JSON.stringify(results, null, 2));
