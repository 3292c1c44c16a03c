// Single-pass ingest: the profile is pass 1's, and the columnar copy is byte for byte pass 2's Arrow stream — for
// every column type, several batches, quoted and missing cells, text past the distinct cap, any chunking, UTF-8
// and CP932. A column that changes type after its cells were spilled in an incompatible encoding reports no
// copy (the push then runs pass 2), and errors are pass 1's errors.
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { FIXTURES } from './fixtures/fixtures.js';
import { profileTabular, tabularToArrow, type TabularOptions } from './index.js';
import type { openIngest } from './ingest-thread.js';
import { ingestTabular } from './ingest.js';

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

/** Runs the single pass and both passes; asserts they agree. Returns whether the single pass had a copy. */
async function agree(bytes: Uint8Array, opts: TabularOptions = {}, chunk = 1 << 16): Promise<boolean> {
  const { profile, ingest } = await ingestTabular(chunks(bytes, chunk), opts);
  try {
    const expected = await profileTabular(chunks(bytes, 1 << 20), opts);
    expect(profile).toEqual(expected);
    if (!ingest.hasArrow) return false;
    const want = await collect(tabularToArrow(chunks(bytes, 1 << 20), expected));
    const got = await collect(ingest.arrow());
    expect(got.equals(want)).toBe(true);
    return true;
  } finally {
    ingest.close();
  }
}

/** `rows` rows of every column type, some cells quoted or missing; a column past the distinct cap. */
function table(rows: number): Buffer {
  const lines = ['id,age,score,flag,day,ts,ward,note,empty,late'];
  for (let i = 0; i < rows; i++) {
    lines.push(
      [
        `P${String(i).padStart(6, '0')}`,
        i % 97 === 0 ? 'NA' : String(20 + (i % 70)),
        ((i * 7919) % 1000) / 10,
        i % 3 === 0 ? 'true' : i % 3 === 1 ? 'FALSE' : '',
        `2024-${1 + (i % 12)}-${1 + (i % 28)}`,
        i % 2 === 0 ? `2024-01-01T${String(i % 24).padStart(2, '0')}:30:00` : '2024-02-03',
        `W${i % 7}`,
        i % 5 === 0 ? '"say ""hi"", 患者"' : i % 11 === 0 ? '' : `note ${i % 1300}`,
        '',
        // Missing for the whole first batch, then values.
        i < 70_000 ? 'NA' : `x${i % 3}`,
      ].join(','),
    );
  }
  return Buffer.from(lines.join('\n') + '\n');
}

describe('single-pass ingest', () => {
  it('gives pass 1 profile and pass 2 Arrow bytes over several batches', async () => {
    const bytes = table(140_000);
    expect(await agree(bytes, {}, 100_000)).toBe(true);
    const { profile, ingest } = await ingestTabular(chunks(bytes, 1 << 20));
    ingest.close();
    expect(profile.columns.map((c) => c.type)).toEqual([
      'text',
      'integer',
      'number',
      'boolean',
      'date',
      'datetime',
      'categorical',
      'text',
      'text',
      'categorical',
    ]);
  });

  it('agrees on the fixtures (UTF-8, BOM, CP932, tab-separated with quoted line breaks)', async () => {
    for (const [name, bytes] of Object.entries(FIXTURES)) {
      for (const size of [1, 7, 1 << 16])
        expect([name, size, await agree(bytes, {}, size)]).toEqual([name, size, true]);
    }
  });

  it('agrees on random tables in UTF-8 and CP932, any chunking', async () => {
    const cell = fc.constantFrom(
      '',
      'NA',
      '0',
      '-17',
      '3.25',
      '1e3',
      '007',
      'true',
      'No',
      '2026-11-01',
      '2026/1/5 08:30',
      'M',
      'ward, 3',
      'say "hi"',
      'line\nbreak',
      '患者',
      '①～',
    );
    const rows = fc
      .integer({ min: 1, max: 4 })
      .chain((w) => fc.array(fc.array(cell, { minLength: w, maxLength: w }), { minLength: 1, maxLength: 25 }));
    let copies = 0;
    let fallbacks = 0;
    await fc.assert(
      fc.asyncProperty(rows, fc.integer({ min: 1, max: 17 }), async (table, size) => {
        const width = table[0]?.length ?? 1;
        const quote = (v: string): string =>
          /[",\r\n]/.test(v) || (width === 1 && v === '') ? `"${v.replace(/"/g, '""')}"` : v;
        const text =
          [
            Array.from({ length: width }, (_, i) => `c${i}`).join(','),
            ...table.map((r) => r.map(quote).join(',')),
          ].join('\n') + '\n';
        for (const bytes of [Buffer.from(text), iconv.encode(text, 'cp932')]) {
          // No copy only when a column left numbers or dates after some of them (their text was not kept).
          if (await agree(bytes, { delimiter: ',' }, size)) copies++;
          else fallbacks++;
        }
      }),
      { numRuns: 60 },
    );
    expect(copies).toBeGreaterThan(20);
    expect(fallbacks).toBeGreaterThan(0);
  });

  it('converts a text column that passes the distinct cap after some batches', async () => {
    const lines = ['code,v'];
    for (let i = 0; i < 200_000; i++) lines.push(`${i < 150_000 ? `C${i % 500}` : `U${i}`},${i % 10}`);
    expect(await agree(Buffer.from(lines.join('\n') + '\n'))).toBe(true);
  });

  it('has no copy when a numeric column turns to text after its first batch (pass 2 is needed)', async () => {
    const lines = ['v,w'];
    for (let i = 0; i < 70_000; i++) lines.push(`${i},a${i % 3}`);
    lines.push('oops,b');
    expect(await agree(Buffer.from(lines.join('\n') + '\n'))).toBe(false);
  });

  it('reports malformed input with pass 1 errors', async () => {
    const ragged = Buffer.concat([FIXTURES['labs-utf8.csv'] as Uint8Array, Buffer.from('1,2\n')]);
    const err = await ingestTabular(chunks(ragged, 64)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CSV_RAGGED_ROW');
    const empty = await ingestTabular(chunks(Buffer.alloc(0), 64)).catch((e: unknown) => e);
    expect((empty as AppError).code).toBe('CSV_EMPTY');
  });
});

// The worker-thread session only runs from compiled JavaScript (the push uses it); test the built module.
const distThread = new URL('../../../dist/datasets/tabular/ingest-thread.js', import.meta.url);

describe.skipIf(!existsSync(distThread))('single-pass ingest in a worker thread (compiled)', () => {
  it('gives the same profile and Arrow bytes, and revives parse errors as AppErrors', async () => {
    const mod = (await import(distThread.href)) as { openIngest: typeof openIngest };
    // ~18 MB in 64 KB pieces and a few larger ones: the 8 MiB ring wraps, and big chunks bypass it.
    const bytes = table(250_000);
    const session = mod.openIngest({});
    try {
      let i = 0;
      for (const size of [65_536, 3 << 20, 65_536, 5_000_000, 65_536]) {
        const end = size === 65_536 ? Math.min(bytes.length, i + (6 << 20)) : i + size;
        for (; i < end; i += Math.min(size, end - i)) await session.write(bytes.subarray(i, Math.min(end, i + size)));
      }
      for (; i < bytes.length; i += 65_536) await session.write(bytes.subarray(i, i + 65_536));
      const profile = await session.end();
      const expected = await profileTabular(chunks(bytes, 1 << 20));
      expect(profile).toEqual(expected);
      expect(session.hasArrow).toBe(true);
      const want = await collect(tabularToArrow(chunks(bytes, 1 << 20), expected));
      expect((await collect(session.arrow())).equals(want)).toBe(true);
    } finally {
      session.close();
    }
    const ragged = Buffer.concat([FIXTURES['labs-utf8.csv'] as Uint8Array, Buffer.from('1,2\n')]);
    const bad = mod.openIngest({});
    try {
      for await (const c of chunks(ragged, 64)) await bad.write(c);
      const err = await bad.end().catch((e: unknown) => e);
      // Errors cross the thread boundary as plain data: the code, status and details survive.
      expect((err as AppError).code).toBe('CSV_RAGGED_ROW');
      expect((err as AppError).status).toBe(400);
      expect((err as AppError).details).toMatchObject({ line: 7, expected: 8, actual: 2 });
    } finally {
      bad.close();
    }
  });
});

/** Descriptors of this process that point at an ingest spill file (deleted, so they show "(deleted)"). */
function openSpills(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).includes('ichigen-ingest-')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

describe.skipIf(!existsSync(distThread) || !existsSync('/proc/self/fd'))('ingest worker cleanup (compiled)', () => {
  it('frees the spill file when a session is closed mid-upload and after a finished copy', async () => {
    const mod = (await import(distThread.href)) as { openIngest: typeof openIngest };
    const bytes = table(140_000);
    const before = openSpills();
    const waitFor = async (ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
    };
    // Mid-upload: two batches spilled, then the upload stops (a client that hung up).
    const cut = mod.openIngest({});
    for await (const c of chunks(bytes.subarray(0, Math.floor(bytes.length * 0.9)), 1 << 16)) await cut.write(c);
    await waitFor(() => openSpills() > before);
    expect(openSpills()).toBe(before + 1);
    cut.close();
    await waitFor(() => openSpills() === before);
    expect(openSpills()).toBe(before);
    // A finished push.
    const done = mod.openIngest({});
    for await (const c of chunks(bytes, 1 << 16)) await done.write(c);
    await done.end();
    expect((await collect(done.arrow())).length).toBeGreaterThan(0);
    done.close();
    await waitFor(() => openSpills() === before);
    expect(openSpills()).toBe(before);
  });
});
