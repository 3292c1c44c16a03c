// Benchmark: push of a large CSV on the embedded default (SQLite + local object store), next to the anchor
// `sha256sum FILE && cp FILE COPY` on the same file in the same run. Reports MB/s, the ratio, and the server's
// peak memory (VmHWM), the server's CPU seconds in all and per thread, the client's CPU seconds, and how long the
// push ran after the upload (the parse's end and the Arrow copy). Usage:
// node bench/platform/push.mjs [--mb 1024] [--twice] [--keep] [--cpu-prof DIR]; ICHIGEN_INGEST_SPLIT=1 measures the
// split parse. --cpu-prof writes V8 CPU profiles of the server's threads (request thread and workers) into DIR.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLabs } from './common.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const mb = Number(args[args.indexOf('--mb') + 1] || 1024);
const work = path.join(root, '.bench-data', 'platform');
mkdirSync(work, { recursive: true });
const csv = path.join(work, `labs-${mb}mb.csv`);

const seconds = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

await generateLabs(csv, mb * 1024 * 1024);
const size = statSync(csv).size;
const sizeMB = size / 1e6;

// Anchor: hash then copy, as an operator would store a file by hand.
const copy = path.join(work, 'copy.csv');
const anchorRuns = [];
const anchorCpu = [];
for (let i = 0; i < 2; i++) {
  rmSync(copy, { force: true });
  let out = '';
  anchorRuns.push(
    seconds(() => {
      // `times` prints the CPU time of the shell's children (user and system): the anchor's CPU cost.
      out = execFileSync('bash', ['-c', `sha256sum "${csv}" >/dev/null && cp "${csv}" "${copy}"; times`]).toString();
    }),
  );
  const t = [
    ...out
      .trim()
      .split('\n')
      .pop()
      .matchAll(/(\d+)m([\d.]+)s/g),
  ].map((m) => Number(m[1]) * 60 + Number(m[2]));
  anchorCpu.push(t[0] + t[1]);
}
rmSync(copy, { force: true });
const anchor = Math.min(...anchorRuns);

/** CPU seconds (user + system, all threads) a process has used so far. */
const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks;
};

/** CPU seconds per thread of a process so far (thread id → seconds); threads that ended are absent. */
const threadCpu = (pid) => {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      out.set(tid, (Number(f[11]) + Number(f[12])) / ticks);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
};

// Ours: a fresh embedded server in its own process, pushed to over loopback HTTP.
const data = path.join(work, 'data');
rmSync(data, { recursive: true, force: true });
const bin = path.join(root, 'packages/server/bin/ichigen.js');
const created = JSON.parse(
  execFileSync(process.execPath, [bin, 'admin', 'create-user', 'bench', '--admin', '--data', data, '--json'], {
    env: { ...process.env, ICHIGEN_CONFIG: '' },
  }).toString(),
);
const profDir = args.includes('--cpu-prof') ? path.resolve(args[args.indexOf('--cpu-prof') + 1]) : undefined;
const server = spawn(
  process.execPath,
  [...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), bin, 'serve', '--port', '0', '--data', data],
  {
    env: { ...process.env, ICHIGEN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const url = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (http:\/\/\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
});
const auth = { authorization: `Bearer ${created.token}` };
await fetch(`${url}/api/v1/projects`, {
  method: 'POST',
  headers: { ...auth, 'content-type': 'application/json' },
  body: JSON.stringify({ slug: 'bench', name: 'bench' }),
});
const runs = [];
let rows = 0;
/** This process's CPU seconds during the first push: its HTTP client shares the host's cores with the server. */
let clientCpuSeconds = 0;
/** Seconds until the client had handed the whole file to fetch; the rest of the push is the server's tail. */
let uploadSeconds = 0;
const pushes = args.includes('--twice') ? 2 : 1;
const serverCpu = [];
/** Per thread of the server, CPU seconds during the first push (sampled: worker threads end with the push). */
const perThread = new Map();
for (let i = 0; i < pushes; i++) {
  const cpu0 = cpuOf(server.pid);
  const threads0 = threadCpu(server.pid);
  const sample = () => {
    if (i > 0) return;
    for (const [tid, cpu] of threadCpu(server.pid)) perThread.set(tid, cpu - (threads0.get(tid) ?? 0));
  };
  const sampler = setInterval(sample, 100);
  const t = process.hrtime.bigint();
  const clientCpu0 = process.cpuUsage();
  const file = createReadStream(csv, { highWaterMark: 1 << 20 });
  // When the file's last byte went to fetch (a few MB of socket and stream buffers before the server has it all).
  let sent;
  file.on('end', () => (sent ??= process.hrtime.bigint()));
  const res = await fetch(`${url}/api/v1/projects/bench/datasets/labs${i}/versions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/csv', 'content-length': String(size) },
    body: Readable.toWeb(file),
    duplex: 'half',
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(JSON.stringify(body));
  rows = body.version.rowCount;
  const done = process.hrtime.bigint();
  runs.push(Number(done - t) / 1e9);
  if (i === 0) {
    const c = process.cpuUsage(clientCpu0);
    clientCpuSeconds = (c.user + c.system) / 1e6;
    uploadSeconds = Number((sent ?? done) - t) / 1e9;
  }
  serverCpu.push(cpuOf(server.pid) - cpu0);
  clearInterval(sampler);
  sample();
  // The second push is a new dataset: identical content is stored once, so it measures parse + Arrow + dedupe.
}
const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
const peakMB = Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
if (!args.includes('--keep')) rmSync(data, { recursive: true, force: true });

const ours = runs[0];
const result = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} × ${os.cpus()[0].model}`,
  fileMB: Number(sizeMB.toFixed(1)),
  rows,
  anchorSeconds: Number(anchor.toFixed(2)),
  anchorMBps: Number((sizeMB / anchor).toFixed(1)),
  pushSeconds: Number(ours.toFixed(2)),
  pushMBps: Number((sizeMB / ours).toFixed(1)),
  // Upload (the server parses as it receives) and what follows it: the end of the parse, the Arrow copy written
  // from the spill, the commit. The tail runs after the last byte, so no upload speed can hide it.
  uploadSeconds: Number(uploadSeconds.toFixed(2)),
  afterUploadSeconds: Number((ours - uploadSeconds).toFixed(2)),
  ...(runs[1] !== undefined ? { secondPushSeconds: Number(runs[1].toFixed(2)) } : {}),
  ratio: Number((anchor / ours).toFixed(3)),
  // CPU time is what a loaded machine cannot distort much: the anchor's (sha256sum + cp) and the server's (all
  // threads) for the first push. Their ratio is the throughput ratio on an idle machine with one core per thread.
  anchorCpuSeconds: Number(Math.min(...anchorCpu).toFixed(2)),
  pushServerCpuSeconds: Number(serverCpu[0].toFixed(2)),
  cpuRatio: Number((Math.min(...anchorCpu) / serverCpu[0]).toFixed(3)),
  // The bench's own HTTP client (reading the file, fetch's streams): on a 2-core host it competes with the server.
  clientCpuSeconds: Number(clientCpuSeconds.toFixed(2)),
  // The busiest threads of the first push, by id (main = the request thread, then the ingest worker(s),
  // libuv's pool and V8's helpers); sampled every 100 ms, so a thread's last 100 ms may be missing.
  serverThreadCpuSeconds: Object.fromEntries(
    [...perThread]
      .filter(([, cpu]) => cpu >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([tid, cpu]) => [tid === String(server.pid) ? 'main' : tid, Number(cpu.toFixed(2))]),
  ),
  serverPeakMB: Number(peakMB.toFixed(0)),
};
console.log(JSON.stringify(result, null, 2));
