// A/B of server CPU per request between builds at fixed arrival rates (open loop, openloop.mjs): REST predict with and
// without contributions, and CDS Hooks patient-view (3 deployments, 40-resource prefetch, as run.mjs sets it up).
// In a closed loop the CPU per request follows each run's throughput (the group commit shares a transaction among the
// requests that queued meanwhile), so two builds are compared at the same offered load instead.
//
// Usage: node bench/serving/ab.mjs [--rounds 4] [--duration 6] [--warmup 2] [--rest-rate 400] [--cds-rate 100]
//        [--data-root /dev/shm] ROOT_A ROOT_B …
// Each ROOT is a built copy of the repository (packages/*/dist, with node_modules reachable from it, and
// @ichigen/ml resolving to its own packages/ml). One data directory is prepared with setup.mjs (this checkout's
// build); every run gets a fresh copy of it under --data-root. Builds alternate run by run; medians at the end.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { importJWK, SignJWT } from 'jose';
import { openLoop } from './openloop.mjs';
import { setup } from './setup.mjs';

const args = process.argv.slice(2);
const VALUED = ['--rounds', '--duration', '--warmup', '--rest-rate', '--cds-rate', '--data-root'];
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const ROUNDS = Number(opt('--rounds', 4));
const DURATION = Number(opt('--duration', 6));
const WARMUP = Number(opt('--warmup', 2));
const REST_RATE = Number(opt('--rest-rate', 400));
const CDS_RATE = Number(opt('--cds-rate', 100));
const DATA_ROOT = opt('--data-root', '/dev/shm');
const roots = args.filter((a, i) => !a.startsWith('--') && !VALUED.includes(args[i - 1])).map((r) => path.resolve(r));
if (roots.length === 0) throw new Error('name at least one build root');

/** User + system CPU seconds of a process so far (Linux /proc). */
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function start(root, dir) {
  const log = path.join(os.tmpdir(), `ichigen-bench-ab-${process.pid}.log`);
  const fd = openSync(log, 'w');
  const p = spawn(
    process.execPath,
    [path.join(root, 'packages/server/bin/ichigen.js'), 'serve', '--port', '0', '--data', dir],
    {
      stdio: ['ignore', fd, fd],
    },
  );
  closeSync(fd);
  for (let i = 0; i < 600; i++) {
    const m = /(http:\/\/(?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1?\]):\d+)/.exec(readFileSync(log, 'utf8'));
    if (m) return { p, log, url: m[1].replace('0.0.0.0', '127.0.0.1').replace('localhost', '127.0.0.1') };
    if (p.exitCode !== null) throw new Error(`server exited: ${readFileSync(log, 'utf8')}`);
    await sleep(100);
  }
  p.kill('SIGTERM');
  throw new Error(`server printed no URL: ${readFileSync(log, 'utf8')}`);
}

console.error('setting up the data directory (in-process, then closed)…');
const prepared = mkdtempSync(path.join(DATA_ROOT, 'ichigen-bench-ab-'));
const state = await setup({ dir: prepared });
const key = await importJWK(state.privateJwk, 'ES256');
const sign = (aud) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: state.kid, typ: 'JWT' })
    .setIssuer(state.iss)
    .setSubject('bench-client')
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(key);
const restBody = JSON.stringify({ rows: [state.sample] });
const restHeaders = { authorization: `Bearer ${state.sciToken}`, 'content-type': 'application/json' };

/** CPU ms per request of the server over one measured open-loop run (after a warm-up run). */
async function measure(pid, opts) {
  if (WARMUP > 0) await openLoop({ ...opts, durationS: WARMUP });
  const c0 = cpuSeconds(pid);
  const r = await openLoop({ ...opts, durationS: DURATION });
  return { ...r, cpuMs: ((cpuSeconds(pid) - c0) * 1000) / r.requests };
}

const results = {};
const record = (k, root, v) => ((results[k] ??= {})[root] ??= []).push(v);
const show = (round, root, what, r) =>
  console.log(
    `round ${round} ${path.basename(root).padEnd(16)} ${what.padEnd(28)} ${String(r.rps).padStart(6)}/s p50 ${r.p50ms} ` +
      `p99 ${r.p99ms} ms  cpu ${r.cpuMs.toFixed(3)} ms/req  load ${os.loadavg()[0].toFixed(1)}  non2xx ${r.non2xx} errors ${r.errors}`,
  );

try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const root of roots) {
      const dist = pathToFileURL(path.join(root, 'packages/server/dist/')).href;
      const { prefetchFor } = await import(`${dist}cli/demo.js`);
      const fx = await import(`${dist}cds/fixtures.js`);
      const dir = mkdtempSync(path.join(DATA_ROOT, 'ichigen-bench-ab-run-'));
      cpSync(prepared, dir, { recursive: true });
      const s = await start(root, dir);
      try {
        const url = `${s.url}/api/v1/projects/dm/models/responder/versions/${state.model.version}/predict`;
        for (const [what, query] of [
          ['REST predict', ''],
          ['REST predict ?explain=false', '?explain=false'],
        ]) {
          const p = new URL(url).pathname + query;
          const r = await measure(s.p.pid, {
            url,
            rate: REST_RATE,
            connections: 10,
            next: () => ({ path: p, headers: restHeaders, body: restBody }),
          });
          record(`${what} at ${REST_RATE}/s`, root, r.cpuMs);
          show(round, root, what, r);
        }
        // patient-view: the discovery's service and prefetch templates, the 40 resources run.mjs sends.
        const disc = await fetch(`${s.url}/cds-services`, {
          headers: { authorization: `Bearer ${await sign(`${state.base}/cds-services`)}` },
        });
        const pv = (await disc.json()).services.find((x) => x.hook === 'patient-view');
        const aud = `${state.base}/cds-services/${pv.id}`;
        const pid = 'pt-bench';
        const icd = 'http://hl7.org/fhir/sid/icd-10';
        const resources = [
          fx.patient(pid, 'female', '1961-04-02'),
          fx.condition('c-e11', pid, icd, 'E11.9', 'Type 2 diabetes mellitus'),
          fx.condition('c-i10', pid, icd, 'I10', 'Essential hypertension'),
          fx.condition('c-e78', pid, icd, 'E78.5', 'Hyperlipidaemia'),
          fx.condition('c-n18', pid, icd, 'N18.3', 'CKD stage 3'),
          fx.condition('c-k21', pid, icd, 'K21.9', 'GERD'),
          ...Array.from({ length: 18 }, (_, i) =>
            i % 3 === 2
              ? fx.quantity(`a1c-${i}`, pid, '4548-4', 53 + (i % 5) * 4, 'mmol/mol', 20 + i * 60)
              : fx.quantity(`a1c-${i}`, pid, '4548-4', 7 + (i % 5) * 0.4, '%', 20 + i * 60),
          ),
          ...Array.from({ length: 9 }, (_, i) =>
            fx.quantity(`egfr-${i}`, pid, '62238-1', 60 - i * 2, 'mL/min/{1.73_m2}', 30 + i * 90),
          ),
          ...Array.from({ length: 7 }, (_, i) =>
            fx.quantity(`bmi-${i}`, pid, '39156-5', 29 + i * 0.3, 'kg/m2', 60 + i * 120),
          ),
        ];
        const prefetch = prefetchFor(fx.bundle(resources), pid, pv.prefetch ?? {});
        const template = JSON.stringify({
          hook: 'patient-view',
          hookInstance: '__HOOK_INSTANCE__',
          context: { userId: 'Practitioner/bench', patientId: pid },
          prefetch,
        });
        const freshBody = () => template.replace('__HOOK_INSTANCE__', randomUUID());
        // One fresh token per call (a replayed jti is refused), signed before the run.
        const pool = await Promise.all(
          Array.from({ length: Math.ceil(CDS_RATE * (WARMUP + DURATION)) + 1 }, () => sign(aud)),
        );
        let n = 0;
        const cdsUrl = `${s.url}/cds-services/${pv.id}`;
        const check = await fetch(cdsUrl, {
          method: 'POST',
          headers: { authorization: `Bearer ${pool[n++]}`, 'content-type': 'application/json' },
          body: freshBody(),
        });
        const checked = await check.json();
        if (check.status !== 200 || checked.cards.length !== 3)
          throw new Error(`patient-view check: ${check.status} ${JSON.stringify(checked).slice(0, 300)}`);
        const r = await measure(s.p.pid, {
          url: cdsUrl,
          rate: CDS_RATE,
          connections: 100,
          next: () => ({
            path: new URL(cdsUrl).pathname,
            headers: { authorization: `Bearer ${pool[n++]}`, 'content-type': 'application/json' },
            body: freshBody(),
          }),
        });
        record(`patient-view at ${CDS_RATE}/s`, root, r.cpuMs);
        show(round, root, 'patient-view', r);
      } finally {
        s.p.kill('SIGTERM');
        await new Promise((r) => (s.p.exitCode !== null ? r() : s.p.once('exit', r)));
        rmSync(s.log, { force: true });
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
} finally {
  rmSync(prepared, { recursive: true, force: true });
}

const median = (a) => {
  const b = [...a].sort((x, y) => x - y);
  const n = b.length;
  return n % 2 ? b[(n - 1) / 2] : (b[n / 2 - 1] + b[n / 2]) / 2;
};
console.log('\nserver CPU ms per request, median [runs]:');
for (const [what, byRoot] of Object.entries(results)) {
  console.log(
    `${what.padEnd(36)} ${Object.entries(byRoot)
      .map(([r, a]) => `${path.basename(r)} ${median(a).toFixed(3)} [${a.map((x) => x.toFixed(3)).join(' ')}]`)
      .join('  |  ')}`,
  );
}
