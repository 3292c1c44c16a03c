// Ingest throughput against the platform's target (pass 1 + pass 2 at ≥ 50 % of sha256sum + cp), on a
// generated numeric+text CSV. Opt-in, slow:  ICHIGEN_TABULAR_BENCH_MB=200 npx vitest run <this file>
// (or ICHIGEN_TABULAR_BENCH_FILE=/path/to.csv). Reports wall and CPU MB/s and peak RSS.
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { profileTabular, tabularToArrow } from './index.js';
import { TabularIngest } from './ingest.js';

const mb = Number(process.env.ICHIGEN_TABULAR_BENCH_MB ?? 0);
const given = process.env.ICHIGEN_TABULAR_BENCH_FILE;

/** Lab-like rows: id, age, sex, two measurements (one with NA), date, flag, ward, a free-text note. */
async function generate(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const notes = [
    'stable',
    'improving',
    'follow-up in 3 months',
    'diet counselling, referred',
    'insulin "started"',
    '経過良好',
    '再診予定',
  ];
  let seed = 42;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  let written = 0;
  let i = 0;
  let buf = 'patient_id,age,sex,hba1c,glucose,visit_date,smoker,ward,note\n';
  while (written < bytes) {
    for (let k = 0; k < 2000; k++, i++) {
      const note = `${notes[i % notes.length]} ${i % 997}`;
      const quoted = /[,"]/.test(note) ? `"${note.replace(/"/g, '""')}"` : note;
      const month = String(1 + Math.floor(rnd() * 12)).padStart(2, '0');
      const day = String(1 + Math.floor(rnd() * 28)).padStart(2, '0');
      buf +=
        `${100000 + i},${20 + Math.floor(rnd() * 70)},${rnd() < 0.5 ? 'M' : 'F'},${(4 + rnd() * 8).toFixed(1)},` +
        `${rnd() < 0.02 ? 'NA' : (70 + rnd() * 200).toFixed(2)},20${10 + Math.floor(rnd() * 15)}-${month}-${day},` +
        `${rnd() < 0.3 ? 'true' : 'false'},W${Math.floor(rnd() * 30)},${quoted}\n`;
    }
    written += Buffer.byteLength(buf);
    if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
    buf = '';
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

function timed<T>(fn: () => Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return fn().then((value) => {
    const c = process.cpuUsage(c0);
    return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
  });
}

describe.skipIf(mb <= 0 && given === undefined)('tabular ingest benchmark', () => {
  it('measures pass 1 and pass 2 against sha256sum + cp', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ichigen-tabular-bench-'));
    try {
      const file = given ?? join(dir, 'bench.csv');
      if (given === undefined) await generate(file, mb * 1e6);
      const size = statSync(file).size / 1e6;
      const shell = (cmd: string, args: string[]): number => {
        const t0 = performance.now();
        execFileSync(cmd, args, { stdio: 'ignore' });
        return (performance.now() - t0) / 1000;
      };
      const sha = shell('sha256sum', [file]);
      const cp = shell('cp', [file, join(dir, 'copy.csv')]);
      const read = (): AsyncIterable<Uint8Array> => createReadStream(file, { highWaterMark: 1 << 20 });
      const p1 = await timed(() => profileTabular(read()));
      const p2 = await timed(async () => {
        let bytes = 0;
        for await (const part of tabularToArrow(read(), p1.value)) bytes += part.byteLength;
        return bytes;
      });
      // What a push runs: one parse that profiles and spills, then the Arrow copy from the spill.
      const single = await timed(async () => {
        const ingest = new TabularIngest({});
        try {
          for await (const chunk of read()) ingest.write(chunk as Uint8Array);
          ingest.end();
          let bytes = 0;
          if (ingest.hasArrow) for (const part of ingest.arrow()) bytes += part.byteLength;
          return bytes;
        } finally {
          ingest.close();
        }
      });
      const rate = (s: number): string => (size / s).toFixed(1);
      const baseline = size / (sha + cp);
      const ours = size / (p1.wall + p2.wall);
      console.log(
        [
          `file ${size.toFixed(0)} MB, ${p1.value.rowCount} rows, ${p1.value.columns.length} columns`,
          `sha256sum ${rate(sha)} MB/s, cp ${rate(cp)} MB/s, sha256sum + cp ${baseline.toFixed(1)} MB/s`,
          `pass 1 ${rate(p1.wall)} MB/s wall (${rate(p1.cpu)} MB/s CPU)`,
          `pass 2 ${rate(p2.wall)} MB/s wall (${rate(p2.cpu)} MB/s CPU), Arrow ${(p2.value / 1e6).toFixed(0)} MB`,
          `pass 1 + pass 2 ${ours.toFixed(1)} MB/s = ${((100 * ours) / baseline).toFixed(0)} % of sha256sum + cp (target 50 %)`,
          `single pass + Arrow from the spill ${rate(single.wall)} MB/s wall (${rate(single.cpu)} MB/s CPU), Arrow ${(single.value / 1e6).toFixed(0)} MB`,
          `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
        ].join('\n'),
      );
      expect(p1.value.rowCount).toBeGreaterThan(0);
      expect(p2.value).toBeGreaterThan(0);
      expect(single.value).toBe(p2.value);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 3_600_000);
});
