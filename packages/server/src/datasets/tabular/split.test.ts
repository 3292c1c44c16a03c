// Row-range split of the single-pass ingest: chunks cut at record ends (quotes respected), parsed apart and
// merged in file order, must give exactly the sequential read's profile, Arrow copy, row count and errors —
// also when a chunk boundary falls inside a quoted field, with CRLF, CP932, a file smaller than one chunk, a
// column that changes type mid-file, and results that arrive late (parsed from older hints).
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import type { TabularOptions, TabularProfile } from './index.js';
import type { openIngest } from './ingest-thread.js';
import { TabularIngest, type SplitOptions } from './ingest.js';
import { TextCounter } from './distinct.js';
import {
  ChunkCutter,
  forTransfer,
  parseChunk,
  reviveChunk,
  type ChunkJob,
  type ChunkPort,
  type ChunkResult,
} from './split.js';

interface Outcome {
  profile?: TabularProfile;
  arrow?: Buffer;
  error?: string;
  chunks?: { merged: number; replayed: number };
}

function run(bytes: Uint8Array, opts: TabularOptions, piece: number, split?: SplitOptions): Outcome {
  const ingest = new TabularIngest(opts, undefined, split);
  try {
    for (let i = 0; i < bytes.length; i += piece) ingest.write(bytes.subarray(i, i + piece));
    const profile = ingest.end();
    const arrow = ingest.hasArrow ? Buffer.concat([...ingest.arrow()]) : undefined;
    return { profile, arrow, chunks: { ...ingest.chunks } };
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    ingest.close();
  }
}

/** A port that answers late: each job is parsed when posted (from the hints of that moment) and taken later. */
class LatePort implements ChunkPort {
  private readonly held: { result: ChunkResult; bytes: Buffer }[] = [];
  private readonly frozen: (TextCounter | undefined)[] = [];
  constructor(private readonly room = 2) {}
  post(job: ChunkJob): boolean {
    if (this.held.length >= this.room) return false;
    // As across threads: the job and the result are structured clones, frozen counters are sent once.
    const copy = structuredClone(job);
    copy.frozen?.forEach((f, j) => {
      if (f !== undefined) this.frozen[j] = TextCounter.fromFrozen(f);
    });
    this.held.push({ result: structuredClone(forTransfer(parseChunk(copy, this.frozen))), bytes: job.bytes as Buffer });
    return true;
  }
  take(
    block: boolean,
    frozen: readonly (TextCounter | undefined)[],
  ): { result: ChunkResult; bytes: Buffer } | undefined {
    if (!block && this.held.length < this.room) return undefined;
    const next = this.held.shift();
    return next && { result: reviveChunk(next.result, frozen), bytes: next.bytes };
  }
  close(): void {}
}

/** Asserts the split read equals the sequential one; returns the split's chunk counts. */
function same(
  bytes: Uint8Array,
  opts: TabularOptions,
  split: Omit<SplitOptions, 'port'>,
  piece = 1 << 16,
): { merged: number; replayed: number; error?: string } {
  const want = run(bytes, opts, piece);
  const counts: { merged: number; replayed: number; error?: string } = { merged: 0, replayed: 0 };
  if (want.error !== undefined) counts.error = want.error;
  for (const port of [undefined, new LatePort()]) {
    const got = run(bytes, opts, piece, { ...split, ...(port ? { port } : {}) });
    expect(got.error).toEqual(want.error);
    expect(got.profile).toEqual(want.profile);
    expect(got.arrow?.equals(want.arrow ?? Buffer.alloc(0)) ?? want.arrow).toBe(
      want.arrow === undefined ? undefined : true,
    );
    counts.merged += got.chunks?.merged ?? 0;
    counts.replayed += got.chunks?.replayed ?? 0;
  }
  return counts;
}

function labs(rows: number, eol = '\n'): string {
  const out = ['patient_id,date,test_code,value,unit,abnormal,comment'];
  for (let i = 0; i < rows; i++) {
    const comment = i % 17 === 0 ? `"re-test,${eol}sample ""hemolysed"""` : i % 5 === 0 ? '患者 経過良好' : '';
    out.push(
      `P${String((i * 7919) % 3000).padStart(7, '0')},2020-${1 + (i % 12)}-${1 + (i % 28)},T${i % 5},` +
        `${((i * 37) % 900) / 10},mg/dL,${i % 4 === 0 ? 'H' : ''},${comment}`,
    );
  }
  return out.join(eol) + eol;
}

describe('ChunkCutter', () => {
  it('cuts after the first line break past the chunk size, and loses no byte', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 50 }),
        (bytes, size, piece) => {
          const cutter = new ChunkCutter(size);
          const parts: Buffer[] = [];
          for (let i = 0; i < bytes.length; i += piece) {
            cutter.push(bytes.subarray(i, i + piece));
            for (let c = cutter.next(); c !== undefined; c = cutter.next()) {
              expect(c.length).toBeGreaterThanOrEqual(size);
              expect(c[c.length - 1]).toBe(10);
              expect(c.subarray(size - 1, c.length - 1).includes(10)).toBe(false);
              parts.push(c);
            }
          }
          parts.push(cutter.rest());
          expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('split ingest', () => {
  it('equals the sequential read on a lab extract, quoted line breaks across chunk boundaries', () => {
    const bytes = Buffer.from(labs(30_000));
    const counts = same(bytes, {}, { after: 4096, chunkBytes: 50_000 });
    expect(counts.merged).toBeGreaterThan(10);
    // Chunk sizes that put boundaries everywhere, including inside quoted fields with line breaks.
    for (const chunkBytes of [37, 101, 4099]) same(bytes.subarray(0, 60_000), {}, { after: 0, chunkBytes }, 997);
  });

  it('handles CRLF and CP932', () => {
    const text = labs(6000, '\r\n');
    same(Buffer.from(text), {}, { after: 1000, chunkBytes: 8192 });
    const sjis = iconv.encode(text, 'cp932');
    expect(same(sjis, {}, { after: 1000, chunkBytes: 8192 }, 4093).merged).toBeGreaterThan(5);
    same(sjis, { encoding: 'cp932' }, { after: 0, chunkBytes: 3000 }, 65536);
  });

  it('handles a file smaller than one chunk', () => {
    const counts = same(Buffer.from(labs(20)), {}, { after: 0, chunkBytes: 1 << 20 }, 7);
    expect(counts).toEqual({ merged: 0, replayed: 0 });
  });

  it('re-reads chunks where a column changes type, and reports errors with their sequential lines', () => {
    const lines = ['n,d,b,t'];
    for (let i = 0; i < 20_000; i++) {
      lines.push(
        [
          i === 12_000 ? '<0.5' : i === 14_000 ? '1.50' : String((i % 40) / 4),
          i < 10_000 ? '' : i === 16_000 ? 'soon' : `2024-01-${1 + (i % 28)}`,
          i % 2 ? 'yes' : i === 16_800 ? 'maybe' : 'no',
          i < 4000 ? '' : `t${i % 9}`,
        ].join(','),
      );
    }
    const text = lines.join('\n') + '\n';
    const counts = same(Buffer.from(text), {}, { after: 100, chunkBytes: 2000 }, 4096);
    expect(counts.replayed).toBeGreaterThan(0);
    expect(counts.merged).toBeGreaterThan(20);
    // A ragged row, an unclosed quote and a bad byte late in the file.
    const ragged = [...lines];
    ragged[17_321] += ',x';
    const split = { after: 100, chunkBytes: 2000 };
    expect(same(Buffer.from(ragged.join('\n') + '\n'), {}, split, 4096).error).toMatch(/^Line 17322 has 5 fields/);
    expect(same(Buffer.from(text + '"open,1,2,3\n'), {}, split, 4096).error).toMatch(/never closed/);
    const bad = Buffer.from(text);
    bad[300_000] = 0xff;
    expect(same(bad, {}, split, 4096).error).toMatch(/^Byte 300000 \(line \d+\)/);
  });

  it('equals the sequential read on random tables, any chunking', () => {
    // Cells of every kind, in one string (split on '|'): numbers, NA tokens, booleans, dates, quotes, breaks.
    const cell = fc.constantFrom(
      ...'|NA|0|-17|3.25|1e3|007|true|No|2026-11-01|2026/1/5 08:30|M|ward, 3|say "hi"|line\nbreak|患者|5"'.split('|'),
    );
    const tables = fc
      .integer({ min: 1, max: 4 })
      .chain((w) => fc.array(fc.array(cell, { minLength: w, maxLength: w }), { minLength: 1, maxLength: 60 }));
    fc.assert(
      fc.property(
        tables,
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 100 }),
        (table, chunkBytes, after) => {
          // Every cell quoted (a one-column blank line would be skipped, and quotes must be doubled anyway).
          const line = (r: string[]): string => r.map((v) => '"' + v.split('"').join('""') + '"').join(',');
          const text = [line((table[0] ?? []).map((_, i) => `c${i}`)), ...table.map(line), ''].join('\n');
          for (const bytes of [Buffer.from(text), iconv.encode(text, 'cp932')]) {
            same(bytes, { delimiter: ',' }, { after, chunkBytes }, 13);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('gives the same distinct counts when a numeric column passes the cap across chunks', () => {
    const lines = ['x,c'];
    for (let i = 0; i < 30_000; i++) lines.push(`${(i * 7) % 12_000},${i < 20_000 ? `C${i % 9000}` : `U${i}`}`);
    const counts = same(Buffer.from(lines.join('\n') + '\n'), {}, { after: 1000, chunkBytes: 20_000 });
    expect(counts.merged).toBeGreaterThan(10);
  });
});

// The split with a real second parser thread only runs from compiled JavaScript, and only when turned on.
const distThread = new URL('../../../dist/datasets/tabular/ingest-thread.js', import.meta.url);

describe.skipIf(!existsSync(distThread))('split ingest with a parse worker (compiled)', () => {
  it('gives the sequential profile and Arrow bytes, also when a column changes type late', async () => {
    const mod = (await import(distThread.href)) as { openIngest: typeof openIngest };
    // ~12 MB: 4 MiB read in the ingest thread, then 1 MiB chunks; the value column turns to text near the end.
    const text = labs(300_000).replace(/\n(P\d+,[^,]*,[^,]*,)[^,]*,/g, (m, head: string, at: number) =>
      at > 11_000_000 && at < 11_000_100 ? `\n${head}<0.5,` : m,
    );
    const bytes = Buffer.from(text);
    const want = run(bytes, {}, 1 << 20);
    expect(want.profile?.columns[3]?.type).toBe('categorical');
    const before = process.env.ICHIGEN_INGEST_SPLIT;
    process.env.ICHIGEN_INGEST_SPLIT = '1';
    const session = mod.openIngest({});
    try {
      for (let i = 0; i < bytes.length; i += 65_536) await session.write(bytes.subarray(i, i + 65_536));
      expect(await session.end()).toEqual(want.profile);
      expect(session.hasArrow).toBe(want.arrow !== undefined);
      if (want.arrow !== undefined) {
        const parts: Uint8Array[] = [];
        for await (const p of session.arrow()) parts.push(p);
        expect(Buffer.concat(parts).equals(want.arrow)).toBe(true);
      }
    } finally {
      session.close();
      if (before === undefined) delete process.env.ICHIGEN_INGEST_SPLIT;
      else process.env.ICHIGEN_INGEST_SPLIT = before;
    }
  });
});
