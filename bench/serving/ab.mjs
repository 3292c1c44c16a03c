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
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchRecord, cdsSigner, cpuSeconds, patientViewBody, startChild, stopChild } from './common.mjs';
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

const start = (root, dir) =>
  startChild('ab', process.execPath, [
    path.join(root, 'packages/server/bin/ichigen.js'),
    'serve',
    '--port',
    '0',
    '--data',
    dir,
  ]);

console.error('setting up the data directory (in-process, then closed)…');
const prepared = mkdtempSync(path.join(DATA_ROOT, 'ichigen-bench-ab-'));
const state = await setup({ dir: prepared });
const sign = await cdsSigner(state);
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
          const r = await measure(s.proc.pid, {
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
        const resources = benchRecord(fx, pid);
        const prefetch = prefetchFor(fx.bundle(resources), pid, pv.prefetch ?? {});
        const freshBody = patientViewBody(prefetch, pid);
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
        const r = await measure(s.proc.pid, {
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
        await stopChild(s);
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
