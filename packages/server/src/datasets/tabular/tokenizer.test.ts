// The CSV tokenizer against csv-parse (the reference) on random RFC 4180 files, plus chunk-boundary invariance.
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { CsvTokenizer } from './tokenizer.js';

function tokenize(chunks: string[], delimiter = ','): { records: string[][]; lines: number[] } {
  const records: string[][] = [];
  const lines: number[] = [];
  const tok = new CsvTokenizer(
    delimiter.charCodeAt(0),
    10_000,
    (row) => {
      records.push(row.toArray());
      lines.push(row.line);
    },
    (line) => {
      throw new Error(`too many fields on line ${line}`);
    },
  );
  for (const c of chunks) tok.push(c);
  tok.end();
  return { records, lines };
}

function splitAt(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(s.slice(prev, p));
    prev = p;
  }
  out.push(s.slice(prev));
  return out;
}

const cell = fc.string({
  unit: fc.constantFrom('a', 'b', ' ', ',', ';', '\t', '"', '\n', '\r', 'é', '患', '😀', '1', '.'),
  maxLength: 8,
});

/** Serializes like a careful writer: quote when needed (or at random), double inner quotes. */
function serialize(records: string[][], delimiter: string, eol: string, quoteAll: boolean): string {
  return records
    .map((r) =>
      r
        .map((v) => {
          const needs = /["\r\n]/.test(v) || v.includes(delimiter) || (r.length === 1 && v === '');
          return needs || quoteAll ? `"${v.replace(/"/g, '""')}"` : v;
        })
        .join(delimiter),
    )
    .join(eol);
}

describe('CsvTokenizer', () => {
  it('splits quoted fields, escaped quotes, embedded delimiters and newlines, CRLF', () => {
    const { records, lines } = tokenize(['a,b,c\r\n1,"x, ""y""\nz",3\r\n', '4,,"6"\n']);
    expect(records).toEqual([
      ['a', 'b', 'c'],
      ['1', 'x, "y"\nz', '3'],
      ['4', '', '6'],
    ]);
    expect(lines).toEqual([1, 2, 4]);
  });

  it('keeps a lone \\r inside a field, strips only the one before \\n, and keeps spaces', () => {
    expect(tokenize(['a\rb, c \r\n']).records).toEqual([['a\rb', ' c ']]);
  });

  it('skips blank lines but counts them in line numbers', () => {
    const { records, lines } = tokenize(['a,b\n\n1,2\r\n\r\n3,4']);
    expect(records).toEqual([
      ['a', 'b'],
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(lines).toEqual([1, 3, 5]);
  });

  it('reads a trailing delimiter at the end of the file as one more empty field', () => {
    expect(tokenize(['a,b\n1,']).records).toEqual([
      ['a', 'b'],
      ['1', ''],
    ]);
  });

  it('rejects an unterminated quote and text after a closing quote with CSV_BAD_QUOTE and the line', () => {
    const unterminated = (): unknown => tokenize(['a,b\n1,"oops\n2,3\n']);
    expect(unterminated).toThrow(AppError);
    expect(unterminated).toThrow(/Line 2/);
    try {
      tokenize(['a,b\n1,2\n"x"y,3\n']);
      expect.unreachable();
    } catch (e) {
      expect((e as AppError).code).toBe('CSV_BAD_QUOTE');
      expect((e as AppError).details).toEqual({ line: 3 });
    }
  });

  it('gives the same records as csv-parse on random well-formed files, however the text is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(',', ';', '\t', '|'),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 6 }),
        (records, delimiter, eol, quoteAll, finalEol, cuts) => {
          const text = serialize(records, delimiter, eol, quoteAll) + (finalEol ? eol : '');
          // Blank lines are skipped by both (a one-field empty record is always quoted by `serialize`).
          const expected = parse(text, {
            delimiter,
            record_delimiter: eol,
            relax_column_count: true,
            skip_empty_lines: true,
          }) as string[][];
          expect(tokenize(splitAt(text, cuts), delimiter).records).toEqual(expected);
          expect(expected).toEqual(records);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('on arbitrary text either yields records and lines independent of chunking or throws an AppError', () => {
    // Chunks that end mid-record are joined with the next chunk's first line only (push): records cut inside a
    // quoted field with line breaks, and CRLF cut between CR and LF, must still read as in one piece.
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r', ' '), maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (text, cuts) => {
          let whole: { records: string[][]; lines: number[] } | AppError;
          try {
            whole = tokenize([text]);
          } catch (e) {
            expect(e).toBeInstanceOf(AppError);
            whole = e as AppError;
          }
          let pieces: { records: string[][]; lines: number[] } | AppError;
          try {
            pieces = tokenize(splitAt(text, cuts));
          } catch (e) {
            pieces = e as AppError;
          }
          if (whole instanceof AppError) {
            expect((pieces as AppError).code).toBe(whole.code);
            expect((pieces as AppError).details).toEqual(whole.details);
          } else expect(pieces).toEqual(whole);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
