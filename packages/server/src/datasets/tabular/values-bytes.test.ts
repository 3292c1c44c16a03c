// The byte cell parsers (what both passes run) agree with the string ones (the documented rules) on random cells.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as V from './values.js';

const cell = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789+-.eE:/TZ NAaNnulLtrufsyo'.split('')), maxLength: 26 }),
  fc.constantFrom(
    'NA',
    'N/A',
    'NULL',
    'null',
    '-',
    'NaN',
    'Na',
    'True',
    'NO',
    '2024-02-29',
    '2023-02-29 23:59:59.5+09:00',
  ),
  fc.double({ noNaN: true }).map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  // Plain dates (the byte parser's fast path): real ones with either separator, and digit soup of that shape.
  fc
    .tuple(fc.date({ noInvalidDate: true }), fc.constantFrom('-', '/'))
    .map(([d, sep]) => d.toISOString().slice(0, 10).replace(/-/g, sep)),
  fc
    .tuple(
      fc.stringMatching(/^[0-9]{4}$/),
      fc.constantFrom('-', '/', '.'),
      fc.stringMatching(/^[0-9]{2}$/),
      fc.constantFrom('-', '/'),
      fc.stringMatching(/^[0-9 ]{2}$/),
    )
    .map((parts) => parts.join('')),
);

describe('byte cell parsers', () => {
  it('agree with the string parsers, also inside a larger buffer', () => {
    fc.assert(
      fc.property(cell, fc.string({ maxLength: 3 }), (s, pad) => {
        const buf = Buffer.from(pad + s + pad, 'latin1');
        const a = pad.length;
        const b = a + s.length;
        expect(V.isMissingBytes(buf, a, b)).toBe(V.isMissing(s));
        expect(V.parseBooleanBytes(buf, a, b)).toBe(V.parseBoolean(s));
        const n = V.parseNumberAt(s, 0, s.length);
        const intS = V.scannedInteger;
        const nb = V.parseNumberBytes(buf, a, b);
        expect(Object.is(nb, n)).toBe(true);
        if (n === n) expect(V.scannedInteger).toBe(intS);
        const d = V.parseDateTime(s);
        const timeS = V.scannedHasTime;
        const db = V.parseDateTimeBytes(buf, a, b);
        expect(Object.is(db, d)).toBe(true);
        if (d === d) expect(V.scannedHasTime).toBe(timeS);
      }),
      { numRuns: 3000 },
    );
  });
});
