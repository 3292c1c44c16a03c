// What the platform benches share: their input, a deterministic lab extract, and per-thread CPU time.
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';

const ticks = 100; // CLK_TCK on Linux

/** CPU seconds (user + system) the calling thread has used so far: only Linux tells a thread's own time. */
export function threadCpuSeconds() {
  const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks;
}

/** Deterministic lab-extract-like CSV: patient, date, test, value, unit, flag, free text. */
export async function generateLabs(file, bytes) {
  if (existsSync(file) && statSync(file).size >= bytes) return;
  const out = createWriteStream(file);
  let s = 0x9e3779b9;
  const rnd = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const tests = [
    ['HbA1c', '%', 5, 10],
    ['GLU', 'mg/dL', 70, 250],
    ['eGFR', 'mL/min/1.73m2', 20, 110],
    ['ALT', 'U/L', 5, 80],
    ['CRE', 'mg/dL', 0.4, 2.5],
  ];
  let written = 0;
  const header = 'patient_id,date,test_code,value,unit,abnormal,comment\n';
  out.write(header);
  written += header.length;
  while (written < bytes) {
    let chunk = '';
    for (let i = 0; i < 20000; i++) {
      const t = tests[Math.floor(rnd() * tests.length)];
      const v = (t[2] + rnd() * (t[3] - t[2])).toFixed(1);
      const d = new Date(Date.UTC(2015, 0, 1) + Math.floor(rnd() * 3650) * 86400000).toISOString().slice(0, 10);
      chunk += `P${String(Math.floor(rnd() * 200000)).padStart(7, '0')},${d},${t[0]},${v},${t[1]},${rnd() < 0.2 ? 'H' : ''},${rnd() < 0.05 ? '"re-test, sample hemolysed"' : ''}\n`;
    }
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}
