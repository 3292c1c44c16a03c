// parseDigest is the only gate between outside strings and storage keys, so it is tested as a property.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AppError } from '../../errors.js';
import { parseDigest } from './port.js';

const hexChar = fc.constantFrom(...'0123456789abcdef'.split(''));
const validDigest = fc.string({ unit: hexChar, minLength: 64, maxLength: 64 }).map((h) => `sha256:${h}`);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? `${err.code}/${err.status}` : 'not an AppError';
  }
}

describe('parseDigest', () => {
  test('accepts every sha256 digest in canonical form and returns it unchanged', () => {
    fc.assert(fc.property(validDigest, (d) => parseDigest(d) === d));
  });

  test('rejects any string that is not exactly sha256: + 64 lowercase hex, with BAD_DIGEST 400', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (s) => {
        fc.pre(!/^sha256:[0-9a-f]{64}$/.test(s));
        return codeOf(() => parseDigest(s)) === 'BAD_DIGEST/400';
      }),
    );
  });

  test('rejects one-character edits of a valid digest that leave the format', () => {
    fc.assert(
      fc.property(
        validDigest,
        fc.integer({ min: 7, max: 70 }),
        fc.constantFrom('G', 'A', '/', '.', ' ', '\0'),
        (d, i, c) => {
          const edited = d.slice(0, i) + c + d.slice(i + 1);
          return codeOf(() => parseDigest(edited)) === 'BAD_DIGEST/400';
        },
      ),
    );
  });

  test('path tricks and near misses are refused', () => {
    const hex = 'ab'.repeat(32);
    for (const s of [
      '../x',
      `sha256:${hex}/../..`,
      `sha256:${hex.toUpperCase()}`,
      `sha256: ${hex}`,
      `sha256:${hex} `,
    ]) {
      expect(codeOf(() => parseDigest(s))).toBe('BAD_DIGEST/400');
    }
    // The message quotes the input without echoing megabytes of it.
    const err = (() => {
      try {
        parseDigest('x'.repeat(10_000));
      } catch (e) {
        return e as AppError;
      }
      return undefined;
    })();
    expect(err?.message.length).toBeLessThan(200);
  });
});
