// Bounded distinct counters against a plain Map on random data.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumberCounter, TextCounter } from './distinct.js';

const sorted = (e: { text: string; count: number }[]): [string, number][] =>
  e.map((x): [string, number] => [x.text, x.count]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

describe('NumberCounter', () => {
  it('counts like a Map keyed by value, keeping the first text, through table growth', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ noNaN: true })), { maxLength: 300 }),
        (vs) => {
          const c = new NumberCounter(10_000);
          const ref = new Map<number, [string, number]>();
          for (const v of vs) {
            const text = `<${String(v)}>`;
            expect(c.add(v, text, 1, text.length - 1)).toBe(true);
            const key = v === 0 ? 0 : v;
            const r = ref.get(key);
            ref.set(key, r === undefined ? [String(v), 1] : [r[0], r[1] + 1]);
          }
          expect(c.size).toBe(ref.size);
          expect(sorted(c.entries())).toEqual(sorted([...ref.values()].map(([text, count]) => ({ text, count }))));
        },
      ),
    );
  });

  it('refuses new values at the cap but keeps counting known ones', () => {
    const c = new NumberCounter(2);
    expect([c.add(1, '1', 0, 1), c.add(2, '2', 0, 1), c.add(3, '3', 0, 1), c.add(1, '1', 0, 1)]).toEqual([
      true,
      true,
      false,
      true,
    ]);
    expect(sorted(c.entries())).toEqual([
      ['1', 2],
      ['2', 1],
    ]);
  });
});

describe('TextCounter', () => {
  it('counts like a Map, across the switch from the short list to a Map', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...'abcdefghijklmnop'.split('').map((c) => c.repeat(3))), { maxLength: 200 }),
        (vs) => {
          const c = new TextCounter(100, 256);
          const ref = new Map<string, number>();
          const line = vs.join(',');
          let pos = 0;
          for (const v of vs) {
            c.add(line, pos, pos + v.length);
            pos += v.length + 1;
            ref.set(v, (ref.get(v) ?? 0) + 1);
          }
          expect(c.overflow).toBe(false);
          expect(sorted(c.entries())).toEqual(sorted([...ref].map(([text, count]) => ({ text, count }))));
        },
      ),
    );
  });

  it('finds keys like a Map in the short list (same lengths and prefixes, empty, long, UTF-8) and after it', () => {
    // The short list compares a signature (length and first three bytes) before the bytes: keys here share
    // lengths, prefixes and the capped length byte (255 and 300 bytes), so a signature alone would confuse them.
    const alphabet = ['', 'a', 'ab', 'abc', 'abd', 'abcd', 'abce', 'abcde', 'H', 'é', 'éa', '経過', 'x'.repeat(255)];
    alphabet.push('x'.repeat(300), 'x'.repeat(254) + 'y', `${'x'.repeat(299)}y`);
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...alphabet), { maxLength: 120 }),
        fc.integer({ min: 1, max: 20 }),
        (vs, cap) => {
          const c = new TextCounter(cap, 1000);
          const ref = new Map<string, number>();
          const order: string[] = [];
          for (const v of vs) {
            const bytes = Buffer.from(`,${v},`, 'utf8');
            const code = c.addBytes(bytes, 1, bytes.length - 1);
            if (!ref.has(v) && order.length < cap) order.push(v);
            const want = order.indexOf(v);
            expect(code).toBe(want);
            if (want >= 0) ref.set(v, (ref.get(v) ?? 0) + 1);
          }
          expect(sorted(c.entries())).toEqual(sorted([...ref].map(([text, count]) => ({ text, count }))));
          // A frozen copy looks keys up the same way.
          const f = TextCounter.fromFrozen(c.frozen());
          for (const v of alphabet) {
            const bytes = Buffer.from(v, 'utf8');
            expect(f.find(bytes, 0, bytes.length)).toBe(order.indexOf(v));
          }
        },
      ),
    );
  });

  it('overflows at the cap and for long values', () => {
    const c = new TextCounter(10, 5);
    for (let i = 0; i < 12; i++) c.add(`v${i}`, 0, `v${i}`.length);
    expect([c.size, c.overflow]).toEqual([10, true]);
    const long = new TextCounter(10, 5);
    long.add('abcdef', 0, 6);
    expect([long.size, long.overflow]).toEqual([0, true]);
    const budget = new TextCounter(10, 5, 6);
    for (const v of ['abc', 'def', 'g', 'abc']) budget.add(v, 0, v.length);
    expect([budget.size, budget.overflow, sorted(budget.entries())]).toEqual([
      2,
      true,
      [
        ['abc', 2],
        ['def', 1],
      ],
    ]);
  });
});
