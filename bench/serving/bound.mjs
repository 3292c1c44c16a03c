// How far the serving targets of issue 5 are from what ANY server can do on this machine once it records each
// prediction durably before answering. Runs, each in its own process and back to back:
//   - hello.mjs (the REST anchor), then skeleton.mjs with no database, with the group commit on the event loop, and
//     with it in a worker thread, at each connection count (REST target: ≥ 50 % of the hello-world's requests/s);
//   - skeleton.mjs --cds (ES256 JWT verified, the benchmark's 40-resource prefetch parsed, three events) without
//     and with the group commit, at 100 closed-loop connections (patient-view target: p99 < 25 ms, 0 errors).
// The load comes from a second process on loopback: autocannon (as run.mjs) or, with `--generator wrk`, Debian's
// wrk (C, lighter: leaves more of the 2 cores to the server).
//   node bench/serving/bound.mjs [--duration 10] [--connections 10,100] [--generator autocannon|wrk] [--data-root DIR]
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { benchRecord, cpuSeconds, patientViewBody, startChild, stopChild } from './common.mjs';

const dist = new URL('../../packages/server/dist/', import.meta.url);
const { prefetchFor } = await import(new URL('cli/demo.js', dist));
const fx = await import(new URL('cds/fixtures.js', dist));

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const DURATION = Number(arg('duration', '10'));
const CONNS = arg('connections', '10,100').split(',').map(Number);
const GENERATOR = arg('generator', 'autocannon');
const root = arg('data-root', os.tmpdir());
const scratch = mkdtempSync(path.join(os.tmpdir(), 'ichigen-bound-load-'));
const restBody = JSON.stringify({
  rows: [{ age: 61, sex: 'F', bmi: 27.4, hba1c_baseline: 8.1, egfr: 71, drug_class: 'biguanide' }],
});

// patient-view: one ES256 key, a fresh token per call (the skeleton refuses a replayed jti), the serving benchmark's
// 40-resource record as prefetch (14 KB), a fresh hookInstance per call.
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwtHeader = b64({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
const AUD = 'http://bench/cds-services/patient-view';
const token = () => {
  const now = Math.floor(Date.now() / 1000);
  const payload = b64({ iss: 'bench', aud: AUD, iat: now, exp: now + 600, jti: randomUUID() });
  const sig = sign('sha256', Buffer.from(`${jwtHeader}.${payload}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${jwtHeader}.${payload}.${sig.toString('base64url')}`;
};
const pid = 'pt-bench';
const templates = {
  patient: 'Patient/{{context.patientId}}',
  conditions: 'Condition?patient={{context.patientId}}',
  hba1c: 'Observation?patient={{context.patientId}}&code=http://loinc.org|4548-4',
  egfr: 'Observation?patient={{context.patientId}}&code=http://loinc.org|62238-1',
  bmi: 'Observation?patient={{context.patientId}}&code=http://loinc.org|39156-5',
};
const freshBody = patientViewBody(prefetchFor(fx.bundle(benchRecord(fx, pid)), pid, templates), pid);
// Signed before each run (signing in the load generator would slow it, not the server): enough for 12,000 calls/s.
let pool = [];
let next = 0;
const signPool = (duration) => {
  pool = Array.from({ length: 12000 * (duration + 1) }, token);
  next = 0;
};
const jwk = JSON.stringify(publicKey.export({ format: 'jwk' }));

const servers = [
  { label: 'node:http hello-world (anchor)', file: 'hello.mjs', args: [] },
  { label: 'skeleton: hash-chained event, no database', file: 'skeleton.mjs', args: ['--commit', 'none'] },
  { label: 'skeleton: + group commit on the event loop (fsync)', file: 'skeleton.mjs', args: ['--commit', 'main'] },
  { label: 'skeleton: + group commit in a worker thread (fsync)', file: 'skeleton.mjs', args: ['--commit', 'worker'] },
  {
    label: 'patient-view skeleton: JWT + prefetch, no database',
    file: 'skeleton.mjs',
    args: ['--commit', 'none', '--cds', jwk],
    cds: true,
  },
  {
    label: 'patient-view skeleton: + 3 events, group commit (fsync)',
    file: 'skeleton.mjs',
    args: ['--commit', 'main', '--cds', jwk],
    cds: true,
  },
];

async function withAutocannon(url, connections, cds, duration) {
  if (cds) signPool(duration);
  const opts = cds
    ? {
        url,
        connections,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => ({
              ...req,
              headers: {
                ...req.headers,
                authorization: `Bearer ${pool[next++ % pool.length]}`,
                'content-type': 'application/json',
              },
              body: freshBody(),
            }),
          },
        ],
      }
    : { url, connections, method: 'POST', body: restBody, headers: { 'content-type': 'application/json' } };
  const r = await autocannon({ ...opts, duration });
  return {
    total: r.requests.total,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
}

/** wrk with a Lua script: REST posts one body; patient-view reads pre-signed tokens and sets a fresh hookInstance. */
async function withWrk(url, connections, cds, duration) {
  const lua = path.join(scratch, 'load.lua');
  if (cds) {
    signPool(duration);
    const tokens = path.join(scratch, 'tokens.txt');
    writeFileSync(tokens, pool.join('\n'));
    const template = freshBody().replace(/"hookInstance":"[^"]+"/, '"hookInstance":"@HOOK@"');
    writeFileSync(path.join(scratch, 'body.json'), template);
    writeFileSync(
      lua,
      `local tokens, n, i, body = {}, 0, 0, io.open("${scratch}/body.json"):read("*a")
for line in io.lines("${tokens}") do n = n + 1; tokens[n] = line end
local t = 0
function setup(thread) t = t + 1; thread:set("offset", (t - 1) * 1000000) end
function init() i = offset end
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
request = function()
  i = i + 1
  local k = (i % n) + 1
  local b = body:gsub("@HOOK@", string.format("h-%d", i), 1)
  return wrk.format(nil, nil, { ["authorization"] = "Bearer " .. tokens[k] }, b)
end
done = function(summary, latency) io.write(string.format("P50 %f\\nP99 %f\\nNON200 %d\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status)) end
`,
    );
  } else {
    writeFileSync(
      lua,
      `wrk.method = "POST"
wrk.body = ${JSON.stringify(restBody)}
wrk.headers["content-type"] = "application/json"
done = function(summary, latency) io.write(string.format("P50 %f\\nP99 %f\\nNON200 %d\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status)) end
`,
    );
  }
  const out = await new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t1', `-c${connections}`, `-d${duration}s`, '-s', lua, url]);
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.stderr.on('data', (d) => (text += d));
    p.on('error', reject);
    p.on('exit', () => resolve(text));
  });
  const num = (re) => Number((re.exec(out) ?? [])[1] ?? NaN);
  const total = num(/(\d+) requests in/);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = num(/NON200 (\d+)/) + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { total, rps: num(/Requests\/sec:\s+([\d.]+)/), p50: num(/P50 ([\d.]+)/), p99: num(/P99 ([\d.]+)/), errors };
}

const load = GENERATOR === 'wrk' ? withWrk : withAutocannon;
const rows = [];
try {
  for (const s of servers) {
    const dir = mkdtempSync(path.join(root, 'ichigen-bound-'));
    const child = await startChild('bound', process.execPath, [path.join(here, s.file), dir, ...s.args]);
    try {
      for (const connections of s.cds ? [100] : CONNS) {
        await load(child.url, connections, s.cds, 2);
        const c0 = cpuSeconds(child.proc.pid);
        const r = await load(child.url, connections, s.cds, DURATION);
        const c1 = cpuSeconds(child.proc.pid);
        rows.push({ ...s, connections, ...r, cpuUs: ((c1 - c0) * 1e6) / r.total });
        process.stderr.write(`${s.label} @${connections}: ${Math.round(r.rps)} req/s, p99 ${r.p99} ms\n`);
      }
    } finally {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const loadavg = os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
console.log(`\n${new Date().toISOString()}  generator ${GENERATOR}, ${DURATION} s per run, load ${loadavg}`);
console.log('| server | conns | req/s | % of hello-world | p50 ms | p99 ms | errors | server CPU µs/req |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const anchor = rows.find((a) => a.file === 'hello.mjs' && a.connections === r.connections);
  const pct = anchor && !r.cds ? `${((100 * r.rps) / anchor.rps).toFixed(1)} %` : '–';
  const ms = (x) => (Number.isFinite(x) ? +x.toFixed(2) : '?');
  console.log(
    `| ${r.label} | ${r.connections} | ${Math.round(r.rps)} | ${pct} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.errors} | ${r.cpuUs.toFixed(1)} |`,
  );
}
