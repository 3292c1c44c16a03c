// Column lanes (the threads of both passes) give exactly the single-lane profile and Arrow stream, batch
// boundaries included; and errors from a lane surface as the same AppError.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { profileTabular, tabularToArrow } from './index.js';
import { profileTabularInLanes, tabularToArrowInLanes } from './lanes.js';

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

/** 70 000 rows (two record batches) of every column type, some cells quoted or missing. */
function table(): Buffer {
  const lines = ['id,age,score,flag,day,ts,ward,note'];
  for (let i = 0; i < 70_000; i++) {
    lines.push(
      [
        `P${String(i).padStart(6, '0')}`,
        i % 97 === 0 ? 'NA' : String(20 + (i % 70)),
        ((i * 7919) % 1000) / 10,
        i % 3 === 0 ? 'true' : 'false',
        `2024-${1 + (i % 12)}-${1 + (i % 28)}`,
        `2024-01-01T${String(i % 24).padStart(2, '0')}:30:00`,
        `W${i % 7}`,
        i % 5 === 0 ? '"say ""hi"", 患者"' : i % 11 === 0 ? '' : `note ${i % 1300}`,
      ].join(','),
    );
  }
  return Buffer.from(lines.join('\n') + '\n');
}

describe('ingest lanes', () => {
  const bytes = table();

  it.each([2, 3])('%i lanes give the single-lane profile and Arrow stream', async (lanes) => {
    const single = await profileTabular(chunks(bytes, 1 << 16));
    const laned = await profileTabularInLanes(chunks(bytes, 1 << 16), {}, lanes);
    expect(laned).toEqual(single);
    expect(single.columns.map((c) => c.type)).toEqual([
      'text',
      'integer',
      'number',
      'boolean',
      'date',
      'datetime',
      'categorical',
      'text',
    ]);
    const a = await collect(tabularToArrow(chunks(bytes, 100_000), single));
    const b = await collect(tabularToArrowInLanes(chunks(bytes, 100_000), single, lanes));
    expect(b.equals(a)).toBe(true);
  });

  it('reports a lane error as the AppError of one lane', async () => {
    const fixture = readFileSync(new URL('./fixtures/labs-utf8.csv', import.meta.url));
    const ragged = Buffer.concat([fixture, Buffer.from('1,2\n')]);
    const err = await profileTabularInLanes(chunks(ragged, 64), {}, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CSV_RAGGED_ROW');
  });
});
