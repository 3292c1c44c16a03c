// patient-view CPU per call without HTTP: each build's server started in its own process on a copy of one data
// directory (setup.mjs), then the route's work called in-process, one call after another — JWT verification (jti
// deferred), body JSON parse, CdsService.call (applicability, mapping, scoring, TreeSHAP, cards, group commit) —
// with process.cpuUsage around the measured calls. One call in flight, so every call commits alone: no group to share
// the fsync with, and no load generator or HTTP stack in the numbers. Builds alternate run by run; medians at the end.
//
// Usage: node bench/serving/cds-call.mjs [--rounds 4] [--calls 1500] [--warmup 300] [--data-root /dev/shm]
//        [--cpu-prof DIR] ROOT_A ROOT_B …
// Each ROOT is a built copy of the repository (as for ab.mjs).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchRecord, cdsSigner, patientViewBody } from './common.mjs';

const args = process.argv.slice(2);
const VALUED = ['--rounds', '--calls', '--warmup', '--data-root', '--child', '--cpu-prof'];
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const CALLS = Number(opt('--calls', 1500));
const WARMUP = Number(opt('--warmup', 300));

if (args.includes('--child')) {
  // Child: one build, one data directory; prints one JSON line.
  const [root, dir] = opt('--child').split(',');
  const state = JSON.parse((await import('node:fs')).readFileSync(path.join(dir, 'bench-state.json'), 'utf8'));
  const dist = pathToFileURL(path.join(root, 'packages/server/dist/')).href;
  const { loadConfig } = await import(`${dist}config/config.js`);
  const { startServer } = await import(`${dist}server/serve.js`);
  const { prefetchFor } = await import(`${dist}cli/demo.js`);
  const fx = await import(`${dist}cds/fixtures.js`);
  const srv = await startServer(loadConfig({ env: {}, flags: { dataDir: dir, port: 0 } }), {
    print: () => undefined,
    logger: false,
  });
  try {
    const { issuers, service } = srv.platform.cds;
    const sign = await cdsSigner(state);
    const discoveryPath = '/cds-services';
    const who = await issuers.verify(
      `Bearer ${await sign(`${state.base}${discoveryPath}`)}`,
      discoveryPath,
      state.base,
      'bench',
    );
    const pv = (await service.discovery(who)).services.find((s) => s.hook === 'patient-view');
    const callPath = `/cds-services/${pv.id}`;
    const pid = 'pt-bench';
    const prefetch = prefetchFor(fx.bundle(benchRecord(fx, pid)), pid, pv.prefetch ?? {});
    const freshBody = patientViewBody(prefetch, pid);
    const tokens = await Promise.all(Array.from({ length: WARMUP + CALLS }, () => sign(`${state.base}${callPath}`)));
    const bodies = Array.from({ length: WARMUP + CALLS }, freshBody);
    const one = async (i) => {
      const caller = await issuers.verify(`Bearer ${tokens[i]}`, callPath, state.base, 'bench', { deferJti: true });
      const r = await service.call(caller, pv.id, JSON.parse(bodies[i]), caller.baseUrl ?? state.base, 'bench');
      if (r.cards.length !== 3) throw new Error(`expected 3 cards, got ${r.cards.length}`);
    };
    for (let i = 0; i < WARMUP; i++) await one(i);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = WARMUP; i < WARMUP + CALLS; i++) await one(i);
    const c = process.cpuUsage(c0);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(
      JSON.stringify({ userMs: c.user / 1000 / CALLS, systemMs: c.system / 1000 / CALLS, wallMs: wallMs / CALLS }),
    );
  } finally {
    await srv.close();
  }
} else {
  const ROUNDS = Number(opt('--rounds', 4));
  const DATA_ROOT = opt('--data-root', '/dev/shm');
  const roots = args.filter((a, i) => !a.startsWith('--') && !VALUED.includes(args[i - 1])).map((r) => path.resolve(r));
  if (roots.length === 0) throw new Error('name at least one build root');
  const { setup } = await import('./setup.mjs');
  console.error('setting up the data directory (in-process, then closed)…');
  const prepared = mkdtempSync(path.join(DATA_ROOT, 'ichigen-bench-cds-call-'));
  await setup({ dir: prepared });
  const results = new Map(roots.map((r) => [r, []]));
  try {
    for (let round = 1; round <= ROUNDS; round++)
      for (const root of roots) {
        const dir = mkdtempSync(path.join(DATA_ROOT, 'ichigen-bench-cds-call-run-'));
        cpSync(prepared, dir, { recursive: true });
        try {
          const out = execFileSync(
            process.execPath,
            [
              ...(opt('--cpu-prof')
                ? ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', opt('--cpu-prof')]
                : []),
              fileURLToPath(import.meta.url),
              '--child',
              `${root},${dir}`,
              '--calls',
              String(CALLS),
              '--warmup',
              String(WARMUP),
            ],
            { encoding: 'utf8' },
          );
          const r = JSON.parse(out.trim().split('\n').pop());
          results.get(root).push(r);
          console.log(
            `round ${round} ${path.basename(root).padEnd(16)} user ${r.userMs.toFixed(3)} + system ${r.systemMs.toFixed(3)} ms/call, ` +
              `wall ${r.wallMs.toFixed(3)} ms/call  load ${os.loadavg()[0].toFixed(1)}`,
          );
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
  } finally {
    rmSync(prepared, { recursive: true, force: true });
  }
  const median = (a) => {
    const b = [...a].sort((x, y) => x - y);
    return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2;
  };
  console.log(`\npatient-view, ${CALLS} calls one after another, CPU ms per call, median [runs]:`);
  for (const [root, rs] of results) {
    const fmt = (k) => `${median(rs.map((r) => r[k])).toFixed(3)} [${rs.map((r) => r[k].toFixed(3)).join(' ')}]`;
    console.log(
      `${path.basename(root).padEnd(16)} user ${fmt('userMs')}  user+system ${median(rs.map((r) => r.userMs + r.systemMs)).toFixed(3)}`,
    );
  }
}
