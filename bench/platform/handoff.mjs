// Design measurement (not the server's code path): a parse split by columns WITHOUT re-tokenizing. Thread A
// tokenizes every record and profiles its own columns; for the other columns ("B") it passes each cell's byte
// range through a shared ring, and thread B profiles them from the same shared bytes. Each column's accumulator
// still sees all its cells in file order, so its profile is exactly the single-thread one (no merge). Only the
// profile part of the parse runs here (no spill, no Arrow copy). Reports CPU seconds per thread
// (/proc/thread-self/stat) and whether every column's profile came out the same both ways. Usage:
// node bench/platform/handoff.mjs [--mb 64] [--b 0,1,3] [--rounds 3]  (--b: the columns thread B profiles; the
// default suits the lab extract: patient id, date, value). Every round runs "single" (one thread, all columns),
// then "handoff".
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { generateLabs, threadCpuSeconds as threadCpu } from './common.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = path.join(root, 'packages/server/dist/datasets/tabular');
/** Int32 slots of the cell ring (two per cell: start, end). */
const RING = 1 << 20;
/** Rows between two publications of the ring's write position. */
const PUBLISH_ROWS = 4096;
/** Cells of bytes outside the shared file (the sniffed first chunk, records joined across chunks) are offset by this. */
const SIDE = 1 << 30;
/** Control words: cells produced, cells consumed, producer done, column count. */
const PRODUCED = 0;
const CONSUMED = 1;
const DONE = 2;
const COLUMNS = 3;

/** A column's index and its profile without its name (thread B does not know the names). */
function summarize(j, acc) {
  const { name: _name, ...profile } = acc.profile();
  return [j, JSON.stringify(profile)];
}

async function producer({ file, ring, control, side, bColumns }) {
  const { TabularReader } = await import(path.join(dist, 'reader.js'));
  const { ColumnAccumulator, limitsFor, resolveDelimiter, resolveMaxColumns } = await import(
    path.join(dist, 'profile.js')
  );
  const { normalizeEncoding } = await import(path.join(dist, 'decode.js'));
  const cells = new Int32Array(ring);
  const ctl = new Int32Array(control);
  const sideBytes = new Uint8Array(side);
  const own = [];
  const handed = [];
  let produced = 0;
  let rows = 0;
  let sideUsed = 0;
  let lastCopied;
  let lastBase = 0;
  const c0 = threadCpu();
  const reader = new TabularReader(
    { encoding: normalizeEncoding(undefined), delimiter: resolveDelimiter(undefined), maxColumns: resolveMaxColumns() },
    (names) => {
      const { distinctCap, reservoirCap, keyChars } = limitsFor(names.length);
      names.forEach((name, j) => {
        if (bColumns.includes(j)) handed.push(j);
        else own.push({ j, acc: new ColumnAccumulator(name, j, distinctCap, reservoirCap, keyChars) });
      });
      Atomics.store(ctl, COLUMNS, names.length);
      Atomics.notify(ctl, COLUMNS);
    },
    (row) => {
      const { buf: s, starts, ends } = row;
      for (let k = 0; k < own.length; k++) {
        const { j, acc } = own[k];
        acc.add(s, starts[j], ends[j]);
      }
      if (handed.length === 0) return;
      let base = s.byteOffset;
      if (s.buffer !== file) {
        if (s !== lastCopied) {
          // Here only the sniffed first MiB (and the record cut at its end) is copied, so the 8 MiB never wrap
          // under unread cells; a server version needs flow control for this area as for the ring.
          if (sideUsed + s.length > sideBytes.length) throw new Error('handoff: side area full');
          sideBytes.set(s, sideUsed);
          lastBase = sideUsed;
          sideUsed += s.length;
          lastCopied = s;
        }
        base = SIDE + lastBase;
      }
      for (let k = 0; k < handed.length; k++) {
        const j = handed[k];
        const at = produced % RING;
        cells[at] = starts[j] + base;
        cells[at + 1] = ends[j] + base;
        produced += 2;
      }
      if (++rows % PUBLISH_ROWS === 0) {
        Atomics.store(ctl, PRODUCED, produced);
        Atomics.notify(ctl, PRODUCED);
        while (produced - Atomics.load(ctl, CONSUMED) > RING - PUBLISH_ROWS * 2 * handed.length) {
          Atomics.wait(ctl, CONSUMED, Atomics.load(ctl, CONSUMED), 50);
        }
      }
    },
  );
  // The first MiB is sniffed (copied); the rest is tokenized in place, so its cells point into the shared file.
  reader.write(new Uint8Array(file, 0, Math.min(1 << 20, file.byteLength)));
  if (file.byteLength > 1 << 20) reader.write(new Uint8Array(file, 1 << 20));
  const summary = reader.end();
  Atomics.store(ctl, PRODUCED, produced);
  Atomics.store(ctl, DONE, 1);
  Atomics.notify(ctl, PRODUCED);
  return { thread: 'A', rows: summary.rowCount, cpu: threadCpu() - c0, columns: own.map((o) => summarize(o.j, o.acc)) };
}

async function consumer({ file, ring, control, side, bColumns }) {
  const { ColumnAccumulator, limitsFor } = await import(path.join(dist, 'profile.js'));
  const cells = new Int32Array(ring);
  const ctl = new Int32Array(control);
  const bytes = Buffer.from(file);
  const sideBytes = Buffer.from(side);
  while (Atomics.load(ctl, COLUMNS) === 0) Atomics.wait(ctl, COLUMNS, 0, 50);
  const { distinctCap, reservoirCap, keyChars } = limitsFor(Atomics.load(ctl, COLUMNS));
  const accs = bColumns.map((j) => new ColumnAccumulator(`column ${j}`, j, distinctCap, reservoirCap, keyChars));
  let consumed = 0;
  let waits = 0;
  const c0 = threadCpu();
  for (;;) {
    const produced = Atomics.load(ctl, PRODUCED);
    if (consumed === produced) {
      if (Atomics.load(ctl, DONE) === 1 && consumed === Atomics.load(ctl, PRODUCED)) break;
      waits++;
      Atomics.wait(ctl, PRODUCED, produced, 50);
      continue;
    }
    while (consumed < produced) {
      for (let k = 0; k < accs.length; k++) {
        const at = consumed % RING;
        const a = cells[at];
        if (a >= SIDE) accs[k].add(sideBytes, a - SIDE, cells[at + 1] - SIDE);
        else accs[k].add(bytes, a, cells[at + 1]);
        consumed += 2;
      }
    }
    Atomics.store(ctl, CONSUMED, consumed);
    Atomics.notify(ctl, CONSUMED);
  }
  return { thread: 'B', cpu: threadCpu() - c0, waits, columns: accs.map((a, k) => summarize(bColumns[k], a)) };
}

if (!isMainThread) {
  const job = workerData;
  parentPort.postMessage(await (job.role === 'A' ? producer(job) : consumer(job)));
} else {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
  const mb = Number(opt('--mb', 64));
  const rounds = Number(opt('--rounds', 3));
  const bColumns = opt('--b', '0,1,3').split(',').map(Number);
  const work = path.join(root, '.bench-data', 'platform');
  const csv = path.join(work, `labs-${mb}mb.csv`);
  await generateLabs(csv, mb * 1024 * 1024);
  const content = readFileSync(csv);
  const file = new SharedArrayBuffer(content.length);
  new Uint8Array(file).set(content);
  const run = async (b) => {
    const job = {
      file,
      ring: new SharedArrayBuffer(RING * 4),
      control: new SharedArrayBuffer(16),
      side: new SharedArrayBuffer(8 << 20),
      bColumns: b,
    };
    const start = (role) =>
      new Promise((resolve, reject) => {
        const w = new Worker(fileURLToPath(import.meta.url), { workerData: { ...job, role } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const t = performance.now();
    const threads = await Promise.all(b.length === 0 ? [start('A')] : [start('A'), start('B')]);
    const wall = (performance.now() - t) / 1000;
    return { wall, threads, columns: threads.flatMap((x) => x.columns).sort((x, y) => x[0] - y[0]) };
  };
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const single = await run([]);
    const handoff = await run(bColumns);
    results.push({
      single: { wall: +single.wall.toFixed(2), cpu: +single.threads[0].cpu.toFixed(2) },
      handoff: {
        wall: +handoff.wall.toFixed(2),
        cpuA: +handoff.threads[0].cpu.toFixed(2),
        cpuB: +handoff.threads[1].cpu.toFixed(2),
        waitsB: handoff.threads[1].waits,
      },
      // Every column's profile (type, statistics, samples' quantiles, distinct counts) as in one thread.
      sameProfiles: JSON.stringify(single.columns) === JSON.stringify(handoff.columns),
    });
  }
  console.log(JSON.stringify({ file: csv, bColumns, results }, null, 2));
}
