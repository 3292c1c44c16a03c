// Cell rules: NA tokens, the number grammar (leading zeros, digits cap), booleans, dates and datetimes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DECIMAL,
  INTEGER,
  NOT_NUMBER,
  formatDate,
  isMissing,
  parseBoolean,
  parseDateTime,
  scanNumber,
  scannedValue,
} from './values.js';

describe('isMissing', () => {
  it('treats the empty cell and the documented NA tokens as missing, nothing else', () => {
    for (const s of ['', 'NA', 'N/A', 'NULL', 'null', '-', 'NaN']) expect(isMissing(s)).toBe(true);
    for (const s of [' ', 'na', 'None', 'nan', '--', '0', 'NA ']) expect(isMissing(s)).toBe(false);
  });
});

describe('scanNumber', () => {
  it('classifies integers, decimals and non-numbers', () => {
    const cases: [string, number][] = [
      ['0', INTEGER],
      ['-17', INTEGER],
      ['+5', INTEGER],
      ['123456789012345', INTEGER],
      ['1234567890123456', NOT_NUMBER], // 16 digits: an identifier, not exact as Float64
      ['007', NOT_NUMBER], // zero-padded identifier
      ['0.5', DECIMAL],
      ['.5', DECIMAL],
      ['5.', DECIMAL],
      ['-1.25e-3', DECIMAL],
      ['6E+02', DECIMAL],
      ['1e5', DECIMAL],
      ['', NOT_NUMBER],
      ['-', NOT_NUMBER],
      ['.', NOT_NUMBER],
      ['e5', NOT_NUMBER],
      ['1e', NOT_NUMBER],
      ['1,000', NOT_NUMBER],
      [' 1', NOT_NUMBER],
      ['1 ', NOT_NUMBER],
      ['0x1F', NOT_NUMBER],
      ['Infinity', NOT_NUMBER],
      ['1e400', NOT_NUMBER], // overflows a double
      ['-1.5e999', NOT_NUMBER],
      ['１２', NOT_NUMBER], // full-width digits stay text
    ];
    for (const [s, kind] of cases) expect([s, scanNumber(s)]).toEqual([s, kind]);
  });

  it('parses every integer it accepts to the same value as Number()', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 49), max: 2 ** 49 }), (v) => {
        expect(scanNumber(String(v))).toBe(INTEGER);
        expect(scannedValue).toBe(v);
      }),
    );
  });

  it('accepts what JavaScript prints for finite doubles (except 16+ digit integers), to the same value', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        const s = String(v);
        const kind = scanNumber(s);
        if (/^-?\d{16,}$/.test(s)) {
          expect(kind).toBe(NOT_NUMBER);
        } else {
          expect(kind).not.toBe(NOT_NUMBER);
          expect(Object.is(scannedValue, v) || (v === 0 && scannedValue === 0)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('parses short decimals to exactly the double Number() gives (fast path)', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(
        fc.constantFrom('', '-', '+'),
        digits,
        digits,
        fc.option(fc.integer({ min: -30, max: 30 })),
        (sign, int, frac, exp) => {
          const intPart = int.replace(/^0+(?=\d)/, '');
          const s = `${sign}${intPart}.${frac}${exp === null ? '' : `e${exp}`}`;
          expect(scanNumber(s)).toBe(DECIMAL);
          expect(scannedValue).toBe(Number(s));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('parseBoolean', () => {
  it('knows true/false/yes/no in any letter case, not 0/1 or single letters', () => {
    for (const s of ['true', 'TRUE', 'True', 'yes', 'YES', 'Yes']) expect(parseBoolean(s)).toBe(1);
    for (const s of ['false', 'FALSE', 'False', 'no', 'NO', 'No']) expect(parseBoolean(s)).toBe(0);
    for (const s of ['0', '1', 't', 'f', 'y', 'n', 'truthy', 'はい']) expect(parseBoolean(s)).toBe(-1);
  });
});

describe('parseDateTime', () => {
  const utc = (s: string): number => Date.parse(s);
  it('parses ISO and slash dates, with one-digit month/day', () => {
    expect(parseDateTime('2026-11-01')).toBe(utc('2026-11-01T00:00:00Z'));
    expect(parseDateTime('2026/11/01')).toBe(utc('2026-11-01T00:00:00Z'));
    expect(parseDateTime('2026/1/5')).toBe(utc('2026-01-05T00:00:00Z'));
    expect(parseDateTime('2024-02-29')).toBe(utc('2024-02-29T00:00:00Z'));
    expect(parseDateTime('1900-03-01')).toBe(utc('1900-03-01T00:00:00Z'));
  });

  it('parses times (T or space), seconds, fractions and offsets; wall time without offset is kept as UTC', () => {
    expect(parseDateTime('2026-11-01 08:30')).toBe(utc('2026-11-01T08:30:00Z'));
    expect(parseDateTime('2026-11-01T08:30:15')).toBe(utc('2026-11-01T08:30:15Z'));
    expect(parseDateTime('2026/11/01 08:30:15.25')).toBe(utc('2026-11-01T08:30:15.250Z'));
    expect(parseDateTime('2026-11-01T08:30:00Z')).toBe(utc('2026-11-01T08:30:00Z'));
    expect(parseDateTime('2026-11-01T08:30:00+09:00')).toBe(utc('2026-10-31T23:30:00Z'));
    expect(parseDateTime('2026-11-01T08:30:00-0130')).toBe(utc('2026-11-01T10:00:00Z'));
  });

  it('rejects impossible dates and other shapes', () => {
    for (const s of [
      '2026-02-29',
      '2026-13-01',
      '2026-00-10',
      '2026-04-31',
      '2026-11-01x',
      '2026-11/01',
      '20261101',
      '26-11-01',
      '2026-11-01 25:00',
      '2026-11-01T08:60',
      '2026-11-01T08:30:00+9',
      '2026-11-01 ',
      '令和8年11月1日',
    ]) {
      expect([s, parseDateTime(s)]).toEqual([s, NaN]);
    }
  });

  it('agrees with Date.parse on random valid ISO datetimes', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
        (d) => {
          const iso = d.toISOString();
          expect(parseDateTime(iso)).toBe(d.getTime());
          expect(parseDateTime(iso.slice(0, 10))).toBe(Date.parse(iso.slice(0, 10)));
        },
      ),
    );
  });

  it('formats profile min/max', () => {
    expect(formatDate(utc('2026-11-01T00:00:00Z'), false)).toBe('2026-11-01');
    expect(formatDate(utc('2026-11-01T08:30:00Z'), true)).toBe('2026-11-01T08:30:00');
    expect(formatDate(utc('2026-11-01T08:30:00.5Z'), true)).toBe('2026-11-01T08:30:00.500');
  });
});
