// Whole-pipeline properties on random tables: the profile does not depend on how bytes are chunked (UTF-8 and
// CP932), and the Arrow copy holds every cell — text exactly, numbers as Number(text), missing as null.
import { tableFromIPC } from 'apache-arrow';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { profileTabular, tabularToArrow } from './index.js';
import type { TabularProfile } from './index.js';
import { isMissing, parseBoolean, parseDateTime } from './values.js';

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const cellToken = fc.constantFrom(
  '',
  'NA',
  'null',
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
  'F',
  'ward, 3',
  'say "hi"',
  'line\nbreak',
  '患者',
  'ＨｂＡ１ｃ',
  '①～',
  ' padded ',
);

const table = fc
  .integer({ min: 1, max: 4 })
  .chain((width) =>
    fc.array(fc.array(cellToken, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 25 }),
  );

function serialize(rows: string[][], eol: string): string {
  const width = rows[0]?.length ?? 1;
  const quote = (v: string): string =>
    /[",\r\n]/.test(v) || (width === 1 && v === '') ? `"${v.replace(/"/g, '""')}"` : v;
  const header = Array.from({ length: width }, (_, i) => `列${i}`).join(',');
  return [header, ...rows.map((r) => r.map(quote).join(','))].join(eol) + eol;
}

describe('tabular pipeline (random tables)', () => {
  it('profiles identically for any chunking, in UTF-8 and CP932', async () => {
    await fc.assert(
      fc.asyncProperty(
        table,
        fc.constantFrom('\n', '\r\n'),
        fc.integer({ min: 1, max: 17 }),
        async (rows, eol, size) => {
          const text = serialize(rows, eol);
          for (const bytes of [Buffer.from(text), iconv.encode(text, 'cp932')]) {
            const whole = await profileTabular(chunks(bytes, 1 << 20), { delimiter: ',' });
            const split = await profileTabular(chunks(bytes, size), { delimiter: ',' });
            expect(split).toEqual(whole);
            expect(whole.rowCount).toBe(rows.length);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('writes every cell to Arrow', async () => {
    await fc.assert(
      fc.asyncProperty(table, async (rows) => {
        const bytes = Buffer.from(serialize(rows, '\n'));
        const p: TabularProfile = await profileTabular(chunks(bytes, 1 << 20), { delimiter: ',' });
        const parts: Uint8Array[] = [];
        for await (const part of tabularToArrow(chunks(bytes, 13), p)) parts.push(part);
        const t = tableFromIPC(Buffer.concat(parts));
        expect(t.numRows).toBe(rows.length);
        p.columns.forEach((c, j) => {
          const got = [...(t.getChild(c.name) ?? [])] as unknown[];
          const want = rows.map((r) => {
            const cell = r[j] as string;
            if (isMissing(cell)) return null;
            switch (c.type) {
              case 'integer':
              case 'number':
                return Number(cell);
              case 'boolean':
                return parseBoolean(cell) === 1;
              case 'date':
              case 'datetime':
                return parseDateTime(cell);
              default:
                return cell;
            }
          });
          expect([c.name, c.type, got]).toEqual([c.name, c.type, want]);
        });
      }),
      { numRuns: 60 },
    );
  });
});
