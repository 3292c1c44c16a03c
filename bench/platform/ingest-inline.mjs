// The push's parse thread without the server: one process per run parses a lab extract with `TabularIngest` (the
// single-pass ingest) and writes its Arrow copy, and reports the CPU seconds of each part and the digests of the
// profile and the Arrow bytes. Several builds run round-robin (A B A B …), each in a fresh process, so that a
// loaded machine disturbs them alike; the digests must agree across builds. Usage:
// node bench/platform/ingest-inline.mjs [--mb 64] [--rounds 5] [--build DIR]…  (DIR: a built checkout, e.g. a
// scratch copy of the "before" build; this checkout is always the first build).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateLabs } from './common.mjs';

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** One run: parse `file` with the build in `root`, then produce its Arrow copy (hashing is not counted). */
async function child(root, file) {
  const { TabularIngest } = await import(path.join(root, 'packages/server/dist/datasets/tabular/ingest.js'));
  const ingest = new TabularIngest({});
  // One reused buffer, as the worker's shared ring is: the ingest keeps no reference to a chunk after `write`.
  const buf = new Uint8Array(1 << 20);
  const fd = openSync(file, 'r');
  const c0 = cpuSeconds();
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) ingest.write(buf.subarray(0, n));
    const profile = ingest.end();
    const parse = cpuSeconds() - c0;
    const arrowHash = createHash('sha256');
    const arrow = ingest.arrow();
    let arrowCpu = 0;
    let arrowBytes = 0;
    for (;;) {
      const t = cpuSeconds();
      const next = arrow.next();
      arrowCpu += cpuSeconds() - t;
      if (next.done === true) break;
      arrowHash.update(next.value);
      arrowBytes += next.value.byteLength;
    }
    return {
      parse,
      arrow: arrowCpu,
      rows: profile.rowCount,
      arrowMB: arrowBytes / 1e6,
      profileDigest: createHash('sha256').update(JSON.stringify(profile)).digest('hex').slice(0, 16),
      arrowDigest: arrowHash.digest('hex').slice(0, 16),
    };
  } finally {
    ingest.close();
    closeSync(fd);
  }
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  console.log(JSON.stringify(await child(args[1], args[2])));
} else {
  const here = fileURLToPath(new URL('../..', import.meta.url));
  const mb = Number(args.includes('--mb') ? args[args.indexOf('--mb') + 1] : 64);
  const rounds = Number(args.includes('--rounds') ? args[args.indexOf('--rounds') + 1] : 5);
  const builds = [here, ...args.flatMap((a, i) => (a === '--build' ? [path.resolve(args[i + 1])] : []))];
  const work = path.join(here, '.bench-data', 'platform');
  mkdirSync(work, { recursive: true });
  const file = path.join(work, `labs-${mb}mb.csv`);
  await generateLabs(file, mb * 1024 * 1024);
  const runs = builds.map(() => []);
  for (let r = 0; r < rounds; r++) {
    builds.forEach((root, b) => {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', root, file]);
      runs[b].push(JSON.parse(out.toString()));
    });
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const digests = new Set(runs.flat().map((x) => `${x.profileDigest} ${x.arrowDigest}`));
  const result = builds.map((root, b) => ({
    build: root,
    parseCpuSeconds: runs[b].map((x) => Number(x.parse.toFixed(3))),
    arrowCpuSeconds: runs[b].map((x) => Number(x.arrow.toFixed(3))),
    medianParse: Number(median(runs[b].map((x) => x.parse)).toFixed(3)),
    medianArrow: Number(median(runs[b].map((x) => x.arrow)).toFixed(3)),
    rows: runs[b][0].rows,
    arrowMB: Number(runs[b][0].arrowMB.toFixed(1)),
    digests: [...new Set(runs[b].map((x) => `${x.profileDigest} ${x.arrowDigest}`))],
  }));
  console.log(JSON.stringify({ file, rounds, sameDigests: digests.size === 1, builds: result }, null, 2));
  if (digests.size !== 1) process.exitCode = 1;
}
