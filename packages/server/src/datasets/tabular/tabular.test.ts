// End-to-end behaviour of tabular ingest: every bad input's error code, encodings, delimiter detection,
// type inference, statistics against hand-computed values, and Arrow output read back with apache-arrow.
import { readFileSync } from 'node:fs';
import { type Table, tableFromIPC } from 'apache-arrow';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { diffProfiles, profileTabular, tabularToArrow } from './index.js';
import type { ColumnProfile, TabularOptions, TabularProfile } from './index.js';

async function* chunks(bytes: Uint8Array, size = 1 << 16): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}
const bytesOf = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const fixture = (name: string): Buffer => readFileSync(new URL(`fixtures/${name}`, import.meta.url));

const profile = (s: string | Uint8Array, opts?: TabularOptions, size?: number): Promise<TabularProfile> =>
  profileTabular(chunks(bytesOf(s), size), opts);

async function toTable(s: string | Uint8Array, p: TabularProfile, size?: number): Promise<Table> {
  const parts: Uint8Array[] = [];
  for await (const part of tabularToArrow(chunks(bytesOf(s), size), p)) parts.push(part);
  return tableFromIPC(Buffer.concat(parts));
}

async function failure(s: string | Uint8Array, opts?: TabularOptions): Promise<AppError> {
  try {
    await profile(s, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected an AppError');
}

const col = (p: TabularProfile, name: string): ColumnProfile => {
  const c = p.columns.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no column ${name}`);
  return c;
};

describe('bad input', () => {
  it('CSV_RAGGED_ROW names the physical line and the field counts', async () => {
    const e = await failure('a,b,c\n1,2,3\n"x\ny",5,6\n7,8\n');
    expect([e.code, e.status]).toEqual(['CSV_RAGGED_ROW', 400]);
    expect(e.details).toEqual({ line: 5, expected: 3, actual: 2 });
    expect(e.message).toMatch(/Line 5 has 2 fields but the header has 3/);
    const long = await failure('a,b\n1,2,3\n');
    expect(long.details).toEqual({ line: 2, expected: 2, actual: 3 });
  });

  it('CSV_BAD_ENCODING names the byte offset and line, declared or detected', async () => {
    const cp932 = iconv.encode('名前,値\n山田,1\n', 'cp932');
    const declared = await failure(cp932, { encoding: 'utf-8' });
    expect(declared.code).toBe('CSV_BAD_ENCODING');
    expect(declared.details).toEqual({ offset: 0, line: 1, encoding: 'utf-8' });

    const utf8 = Buffer.from('名前,値\n山田,1\n');
    const asCp932 = await failure(Buffer.concat([utf8, Buffer.from([0xa0])]), { encoding: 'cp932' });
    expect(asCp932.code).toBe('CSV_BAD_ENCODING');

    // 'auto' picked UTF-8 from the first non-ASCII bytes; CP932 bytes far later are an error with their line.
    const late = Buffer.concat([
      Buffer.from('name,v\né,1\n' + 'x,2\n'.repeat(20_000)),
      iconv.encode('患者,3\n', 'cp932'),
    ]);
    const e = await failure(late);
    expect(e.code).toBe('CSV_BAD_ENCODING');
    expect(e.details).toMatchObject({ offset: 12 + 4 * 20_000, line: 20_003, encoding: 'utf-8' });
  });

  it('CSV_EMPTY for no bytes, only a BOM, or only blank lines', async () => {
    for (const s of [new Uint8Array(0), new Uint8Array([0xef, 0xbb, 0xbf]), bytesOf('\n\r\n\n')]) {
      expect((await failure(s)).code).toBe('CSV_EMPTY');
    }
  });

  it('CSV_NO_ROWS for a header without data', async () => {
    expect((await failure('a,b,c\n')).code).toBe('CSV_NO_ROWS');
    expect((await failure('a,b,c')).code).toBe('CSV_NO_ROWS');
  });

  it('CSV_DUPLICATE_COLUMN names the column', async () => {
    const e = await failure('id,値,id\n1,2,3\n');
    expect(e.code).toBe('CSV_DUPLICATE_COLUMN');
    expect(e.details).toEqual({ name: 'id', columns: [1, 3] });
    expect(e.message).toContain('"id"');
  });

  it('CSV_EMPTY_COLUMN_NAME, including a trailing delimiter', async () => {
    expect((await failure('a,,c\n1,2,3\n')).details).toEqual({ column: 2 });
    expect((await failure('a,b,\n1,2,3\n')).code).toBe('CSV_EMPTY_COLUMN_NAME');
  });

  it('CSV_BAD_QUOTE for an unterminated quote and for text after a closing quote', async () => {
    const open = await failure('a,b\n1,"never closed\n2,3\n');
    expect(open.code).toBe('CSV_BAD_QUOTE');
    expect(open.details).toEqual({ line: 2 });
    expect((await failure('a,b\n1,"x"y\n')).code).toBe('CSV_BAD_QUOTE');
  });

  it('CSV_TOO_MANY_COLUMNS against maxColumns (default 2000)', async () => {
    const e = await failure('a,b,c,d\n1,2,3,4\n', { maxColumns: 3 });
    expect(e.code).toBe('CSV_TOO_MANY_COLUMNS');
    const wide = Array.from({ length: 2001 }, (_, i) => `c${i}`).join(',');
    expect((await failure(`${wide}\n${wide}\n`)).code).toBe('CSV_TOO_MANY_COLUMNS');
    const ok = Array.from({ length: 2000 }, (_, i) => `c${i}`).join(',');
    expect((await profile(`${ok}\n${ok}\n`)).columns).toHaveLength(2000);
  });

  it('rejects unknown options', async () => {
    expect((await failure('a\n1\n', { encoding: 'latin1' as 'auto' })).code).toBe('CSV_UNSUPPORTED_ENCODING');
    expect((await failure('a\n1\n', { delimiter: ':' as ',' })).code).toBe('CSV_BAD_DELIMITER');
    expect((await failure('a\n1\n', { maxColumns: 0 })).code).toBe('CSV_BAD_OPTION');
  });
});

describe('encodings', () => {
  const expectLabs = (p: TabularProfile): void => {
    expect(p.columns.map((c) => c.name)).toEqual([
      '患者ID',
      '検査日',
      '検査項目',
      '結果値',
      '単位',
      '採血時刻',
      '空腹時',
      'コメント',
    ]);
    expect(p.rowCount).toBe(5);
    // Most frequent first, ties in code-unit order.
    expect(col(p, 'コメント').categories).toEqual([
      '「至急」"要確認"',
      '再検査予定①',
      '経過良好, 継続',
      'ＨｂＡ１ｃ高値～',
    ]);
  };

  it('reads UTF-8, UTF-8 with BOM, and CP932 (auto-detected and declared) to the same profile', async () => {
    const utf8 = await profile(fixture('labs-utf8.csv'));
    expect(utf8.encoding).toBe('utf-8');
    expectLabs(utf8);
    const bom = await profile(fixture('labs-utf8-bom.csv'));
    expect(bom.encoding).toBe('utf-8-bom');
    const auto = await profile(fixture('labs-cp932.csv'));
    expect(auto.encoding).toBe('cp932');
    for (const alias of ['cp932', 'shift_jis', 'sjis', 'windows-31j'] as const) {
      expect(await profile(fixture('labs-cp932.csv'), { encoding: alias })).toEqual(auto);
    }
    const strip = (p: TabularProfile): unknown => ({ ...p, encoding: undefined });
    expect(strip(bom)).toEqual(strip(utf8));
    expect(strip(auto)).toEqual(strip(utf8));
  });

  it('gives the same profile however the bytes are chunked (1-byte chunks split every character)', async () => {
    for (const name of ['labs-utf8.csv', 'labs-cp932.csv', 'prescriptions-cp932.tsv']) {
      expect(await profile(fixture(name), {}, 1)).toEqual(await profile(fixture(name)));
    }
  });

  it('round-trips Japanese CP932 text through Arrow', async () => {
    const bytes = fixture('prescriptions-cp932.tsv');
    const p = await profile(bytes);
    expect([p.encoding, p.delimiter]).toEqual(['cp932', '\t']);
    const t = await toTable(bytes, p, 7);
    expect(t.getChild('薬剤名')?.toArray()).toEqual(['メトホルミン', 'インスリン グラルギン', 'ＤＰＰ-4阻害薬']);
    expect(t.getChild('備考')?.toArray()).toEqual(['朝夕\t食後', '就寝前\n自己注射', null]);
  });
});

describe('delimiter detection', () => {
  it('detects comma, tab, semicolon and pipe', async () => {
    for (const d of [',', '\t', ';', '|']) {
      const p = await profile(['id', 'name', 'value'].join(d) + '\n' + ['1', 'a', '2.5'].join(d) + '\n');
      expect([d, p.delimiter, p.columns.length]).toEqual([d, d, 3]);
    }
  });

  it('respects quotes: delimiters inside quoted fields do not count', async () => {
    const commaWithSemicolons = 'id,note\n1,"a;b;c;d"\n2,"e;f;g;h"\n3,"x;y;z;w"\n';
    expect((await profile(commaWithSemicolons)).delimiter).toBe(',');
    const semicolonWithCommas = 'id;note;v\n1;"1,5";"a,b,c,d,e"\n2;"2,5";"f,g,h,i,j"\n';
    const p = await profile(semicolonWithCommas);
    expect(p.delimiter).toBe(';');
    expect(col(p, 'note').type).toBe('categorical'); // "1,5" is not a number here
  });

  it('treats a file without any candidate delimiter as one column; honours a declared delimiter', async () => {
    const one = await profile('value\n1\n2\n');
    expect([one.delimiter, one.columns.length]).toEqual([',', 1]);
    const declared = await profile('a;b,c\n1;2,3\n', { delimiter: ',' });
    expect(declared.columns.map((c) => c.name)).toEqual(['a;b', 'c']);
  });
});

describe('type inference', () => {
  it('infers each type by the documented rules', async () => {
    const rows = [
      'int,zero_one,num,bool,date,datetime,mixed_dt,padded,cat,na_only',
      '1,0,1.5,true,2026-11-01,2026-11-01T08:30:00,2026/11/01,007,A,NA',
      '-2,1,2,FALSE,2026/1/5,2026-11-01 09:00,2026/11/02 10:00,012,B,',
      '30,1,-3e2,yes,,2026-11-01T10:00:00+09:00,,100,A,NULL',
      'NA,0,.5,No,2026-02-28,,2026-11-03,NA,B,-',
    ];
    const p = await profile(rows.join('\n') + '\n');
    const types = Object.fromEntries(p.columns.map((c) => [c.name, c.type]));
    expect(types).toEqual({
      int: 'integer',
      zero_one: 'integer', // 0/1 stays integer
      num: 'number',
      bool: 'boolean',
      date: 'date',
      datetime: 'datetime',
      mixed_dt: 'datetime', // dates and datetimes together
      padded: 'categorical', // zero-padded identifiers keep their text
      cat: 'categorical',
      na_only: 'text',
    });
    expect([col(p, 'int').missing, col(p, 'int').count]).toEqual([1, 3]);
    expect([col(p, 'na_only').missing, col(p, 'na_only').count]).toEqual([4, 0]);
  });

  it('a number among booleans or a word among numbers makes the column categorical/text', async () => {
    const p = await profile('a,b,c\ntrue,1,2026-01-01\nfalse,x,3\n');
    expect(p.columns.map((c) => c.type)).toEqual(['boolean', 'categorical', 'categorical']);
  });

  it('categorical vs text: ≤ 50 distinct always; above that ≤ 5 % of values and ≤ 1000', async () => {
    const make = (n: number, distinct: number): string =>
      'v\n' + Array.from({ length: n }, (_, i) => `code${i % distinct}`).join('\n') + '\n';
    expect(col(await profile(make(60, 50)), 'v').type).toBe('categorical');
    expect(col(await profile(make(60, 51)), 'v').type).toBe('text');
    expect(col(await profile(make(2000, 100)), 'v').type).toBe('categorical'); // 100 ≤ 5 % of 2000
    expect(col(await profile(make(2000, 101)), 'v').type).toBe('text');
    const many = await profile(make(30_000, 1001)); // 1001 ≤ 5 % of 30000, but > 1000
    expect(col(many, 'v').type).toBe('text');
    expect(col(many, 'v').distinct).toBe(1001);
  });

  it('caps distinct tracking: a free-text column reports a lower bound and stays text', async () => {
    const n = 12_000;
    const p = await profile('id,note\n' + Array.from({ length: n }, (_, i) => `${i},note ${i}`).join('\n'));
    expect(col(p, 'note')).toMatchObject({ type: 'text', count: n, distinct: { atLeast: 10_000 } });
    expect(col(p, 'id').distinct).toEqual({ atLeast: 10_000 });
  });
});

describe('statistics', () => {
  it('matches hand-computed moments, quantiles (type 7) and histogram', async () => {
    // Values 1..5 plus two missing: mean 3, sample std sqrt(2.5), p25 = 2, p01 = 1 + 0.04 * 1.
    const p = await profile('x,y\n1,2.5\n2,NA\n3,\n4,-0.5\n5,1\nNA,1\n,1\n');
    const x = col(p, 'x');
    expect(x).toMatchObject({ type: 'integer', count: 5, missing: 2, distinct: 5, min: 1, max: 5, mean: 3 });
    expect(x.std).toBeCloseTo(Math.sqrt(2.5), 12);
    expect(x.quantiles).toEqual({ p01: 1.04, p05: 1.2, p25: 2, p50: 3, p75: 4, p95: 4.8, p99: 4.96 });
    expect(x.histogram).toEqual({ edges: [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], counts: [1, 1, 1, 1, 1] });
    const y = col(p, 'y');
    // y = 2.5, -0.5, 1, 1, 1 → mean 1, deviations 1.5, -1.5, 0, 0, 0 → variance 4.5 / 4.
    expect(y).toMatchObject({ type: 'number', count: 5, missing: 2, distinct: 3, min: -0.5, max: 2.5, mean: 1 });
    expect(y.std).toBeCloseTo(Math.sqrt(4.5 / 4), 12);
    expect(y.quantiles?.p50).toBe(1);
    expect(y.histogram?.edges).toHaveLength(21);
    expect(y.histogram?.counts).toEqual([1, ...Array<number>(9).fill(0), 3, ...Array<number>(8).fill(0), 1]);
    expect(p.quantilesExact).toBe(true);
  });

  it('reports top values, boolean share and date range for the lab fixture', async () => {
    const p = await profile(fixture('labs-utf8.csv'));
    const value = col(p, '結果値');
    expect(value).toMatchObject({ type: 'number', count: 4, missing: 1, min: 5.9, max: 8.1 });
    expect(value.mean).toBeCloseTo(7.0, 12);
    expect(value.std).toBeCloseTo(Math.sqrt(2.5 / 3), 12);
    expect(col(p, '空腹時')).toMatchObject({ type: 'boolean', count: 5, mean: 0.6 });
    expect(col(p, '検査日')).toMatchObject({ type: 'date', min: '2026-11-01', max: '2026-11-03', distinct: 3 });
    expect(col(p, '採血時刻')).toMatchObject({
      type: 'datetime',
      min: '2026-11-01T08:30:00',
      max: '2026-11-03T08:00:00',
    });
    expect(col(p, '検査項目').top).toEqual([{ value: 'HbA1c', count: 5 }]);
    expect(col(p, 'コメント').missing).toBe(1);
  });
});

describe('Arrow output', () => {
  it('reads back with the profiled types, values and nulls', async () => {
    const bytes = fixture('labs-cp932.csv');
    const p = await profile(bytes);
    const t = await toTable(bytes, p, 5);
    expect(t.numRows).toBe(5);
    expect(t.schema.fields.map((f) => [f.name, String(f.type), f.metadata.get('ichigen.type')])).toEqual([
      ['患者ID', 'Dictionary<Int32, Utf8>', 'categorical'],
      ['検査日', 'Date32<DAY>', 'date'],
      ['検査項目', 'Dictionary<Int32, Utf8>', 'categorical'],
      ['結果値', 'Float64', 'number'],
      ['単位', 'Dictionary<Int32, Utf8>', 'categorical'],
      ['採血時刻', 'Timestamp<MILLISECOND>', 'datetime'],
      ['空腹時', 'Bool', 'boolean'],
      ['コメント', 'Dictionary<Int32, Utf8>', 'categorical'],
    ]);
    const values = (name: string): unknown[] => [...(t.getChild(name) ?? [])] as unknown[];
    expect(values('患者ID')).toEqual(['P0001', 'P0002', 'P0003', 'P0004', 'P0005']);
    expect(values('検査日')).toEqual(
      ['2026-11-01', '2026-11-01', '2026-11-02', '2026-11-02', '2026-11-03'].map((d) => Date.parse(d)),
    );
    expect(values('結果値')).toEqual([6.8, 7.2, null, 5.9, 8.1]);
    expect(values('採血時刻')).toEqual(
      ['2026-11-01T08:30', '2026-11-01T09:05', '2026-11-02T10:00', '2026-11-02T10:15', '2026-11-03T08:00'].map((d) =>
        Date.parse(`${d}:00Z`),
      ),
    );
    expect(values('空腹時')).toEqual([true, false, true, false, true]);
    expect(values('コメント')).toEqual(['経過良好, 継続', null, '再検査予定①', '「至急」"要確認"', 'ＨｂＡ１ｃ高値～']);
  });

  it('writes integer columns as Float64 and text columns as Utf8, with nulls', async () => {
    const n = 80;
    const csv =
      'id,note\n' + Array.from({ length: n }, (_, i) => `${i},${i % 7 === 0 ? 'NA' : `メモ${i} 😀`}`).join('\n');
    const p = await profile(csv);
    expect(col(p, 'note').type).toBe('text');
    const t = await toTable(csv, p);
    expect(String(t.schema.fields[0]?.type)).toBe('Float64');
    expect(String(t.schema.fields[1]?.type)).toBe('Utf8');
    expect([...(t.getChild('id') ?? [])]).toEqual(Array.from({ length: n }, (_, i) => i));
    expect([...(t.getChild('note') ?? [])]).toEqual(
      Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `メモ${i} 😀`)),
    );
  });

  it('batches 130k rows into record batches of 65 536 and samples quantiles above the reservoir', async () => {
    const n = 130_000;
    const lines = ['id,value,flag,ward'];
    for (let i = 0; i < n; i++) lines.push(`${i},${(i * 7919) % 10_007},${i % 3 === 0},W${i % 12}`);
    const csv = lines.join('\n') + '\n';
    const p = await profile(csv);
    expect(p.rowCount).toBe(n);
    expect(p.quantilesExact).toBe(false);
    const id = col(p, 'id');
    expect(id.mean).toBe((n - 1) / 2);
    expect(id.quantiles?.p50).toBeGreaterThan(n * 0.48);
    expect(id.quantiles?.p50).toBeLessThan(n * 0.52);
    expect(id.histogram?.counts.reduce((a, b) => a + b, 0)).toBeCloseTo(n, -2);
    expect(await profile(csv)).toEqual(p); // deterministic sampling
    const t = await toTable(csv, p);
    expect(t.batches.map((b) => b.numRows)).toEqual([65_536, n - 65_536]);
    const ids = t.getChild('id')?.toArray() as Float64Array;
    expect(ids[0]).toBe(0);
    expect(ids[n - 1]).toBe(n - 1);
    expect(t.getChild('flag')?.get(65_537)).toBe(65_537 % 3 === 0);
    expect(t.getChild('ward')?.get(100_000)).toBe(`W${100_000 % 12}`);
    expect(t.getChild('value')?.get(123_456)).toBe((123_456 * 7919) % 10_007);
  });

  it('refuses bytes that do not match the profile', async () => {
    const p = await profile('a,b\n1,x\n2,y\n');
    const run = (csv: string): Promise<Table> => toTable(csv, p);
    await expect(run('a,b\n1,x\n2,y\n3,z\n')).rejects.toMatchObject({ code: 'TABULAR_PROFILE_MISMATCH', status: 422 });
    await expect(run('a,c\n1,x\n2,y\n')).rejects.toMatchObject({ code: 'TABULAR_PROFILE_MISMATCH' });
    await expect(run('a,b\n1,x\nq,y\n')).rejects.toMatchObject({ code: 'TABULAR_PROFILE_MISMATCH' });
  });
});

describe('diffProfiles', () => {
  it('reports rows, added/removed columns, type changes and mean/missing shifts', async () => {
    const a = await profile('id,x,sex,old\n1,1,M,a\n2,3,F,b\n');
    const b = await profile('id,x,sex,new\n1,1,M,a\n2,NA,X1,b\n3,7.5,F,c\n');
    const d = diffProfiles(a, b);
    expect(d.rows).toEqual({ from: 2, to: 3, delta: 1 });
    expect(d.added).toEqual(['new']);
    expect(d.removed).toEqual(['old']);
    expect(d.changed.map((c) => c.name)).toEqual(['id', 'x']);
    const x = d.changed[1];
    expect(x?.type).toEqual({ from: 'integer', to: 'number' });
    expect(x?.mean).toEqual({ from: 2, to: 4.25, delta: 2.25, deltaStd: 2.25 / Math.SQRT2 });
    expect(x?.missingShare).toEqual({ from: 0, to: 1 / 3, delta: 1 / 3 });
    expect(diffProfiles(a, a)).toEqual({ rows: { from: 2, to: 2, delta: 0 }, added: [], removed: [], changed: [] });
  });
});
