// The tables a recipe reads and writes, independent of where they come from: Arrow copies of dataset versions in
// the platform, plain records in unit tests; plus day arithmetic and a byte-stable CSV writer for the output.
import type { Table } from 'apache-arrow';
import { AppError } from '../errors.js';

/** One input table: column-wise access, values as they come (strings from text, numbers, bigints, Date ms, null). */
export interface InputTable {
  /** The input role (`labs`, `prescriptions`), named in every error. */
  role: string;
  columns: readonly string[];
  rowCount: number;
  /** Every value of a column, row by row; null for a missing cell. */
  column(name: string): readonly unknown[];
}

/** A table from records (tests, the generator's in-memory output). Missing keys and '' read as null. */
export function recordsTable(
  role: string,
  records: readonly Record<string, unknown>[],
  columns?: string[],
): InputTable {
  const cols = columns ?? [...new Set(records.flatMap((r) => Object.keys(r)))];
  return {
    role,
    columns: cols,
    rowCount: records.length,
    column: (name) => records.map((r) => (r[name] === undefined || r[name] === '' ? null : r[name])),
  };
}

/** A table over an Arrow copy of a dataset version; each column is materialized once, on first use. */
export function arrowInputTable(role: string, table: Table): InputTable {
  const cache = new Map<string, unknown[]>();
  return {
    role,
    columns: table.schema.fields.map((f) => f.name),
    rowCount: table.numRows,
    column(name) {
      let values = cache.get(name);
      if (!values) {
        const vec = table.getChild(name);
        values = vec ? Array.from(vec as Iterable<unknown>, (v) => (v === undefined ? null : v)) : [];
        cache.set(name, values);
      }
      return values;
    },
  };
}

/** A recipe cannot work with this input (bad columns, bad values): 422, never retried, and the message says where. */
export const recipeInputError = (code: string, message: string, details?: Record<string, unknown>): AppError =>
  new AppError(code, 422, message, details);

/** The CSV line of a 0-based data row (line 1 is the header). */
export const csvLine = (row: number): number => row + 2;

const DAY_MS = 86_400_000;

/**
 * Parses a calendar day to days since 1970-01-01 (UTC). Accepts Arrow date/timestamp values (epoch ms), Date, and
 * text `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYYMMDD`, optionally followed by a time. Returns null for a missing cell and
 * undefined for a value that is not a valid date.
 */
export function parseDay(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? Math.floor(v / DAY_MS) : undefined;
  if (typeof v === 'bigint') return Math.floor(Number(v) / DAY_MS);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : Math.floor(v.getTime() / DAY_MS);
  const s = String(v).trim();
  if (s === '') return null;
  const m =
    /^(\d{4})(?:([-/])(\d{1,2})\2(\d{1,2})|(\d{2})(\d{2}))(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(
      s,
    );
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[3] ?? m[5]);
  const d = Number(m[4] ?? m[6]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms / DAY_MS;
}

// Formatting dates dominated writing large tables; a cohort spans a few thousand distinct days, so memoize them.
const dayText = new Map<number, string>();

/** Days since the epoch → `YYYY-MM-DD`. */
export function formatDay(day: number): string {
  let s = dayText.get(day);
  if (s === undefined) {
    s = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (dayText.size < 200_000) dayText.set(day, s);
  }
  return s;
}

/** A number from a cell: numbers as they are, text parsed (`7.2`, ` 7.2 `); anything else undefined. */
export function parseNumber(v: unknown): number | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  const s = String(v).trim();
  if (s === '') return null;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/** An identifier cell as text (numeric ids from Arrow integer columns become their decimal text). */
export function idText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = typeof v === 'string' ? v.trim() : String(v);
  return s === '' ? null : s;
}

/** A fixed-decimal number for output: the same value always gives the same bytes, and -0 prints as 0. */
export function fixed(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  const s = v.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

function csvCell(v: string): string {
  // Quote cells with a quote, comma or line break, and cells with leading or trailing white space (readers trim).
  const edge = (c: number) => c <= 32 || c === 0xa0 || c === 0x3000 || c === 0xfeff;
  let plain = v.length === 0 || (!edge(v.charCodeAt(0)) && !edge(v.charCodeAt(v.length - 1)));
  for (let i = 0; plain && i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 34 || c === 44 || c === 10 || c === 13) plain = false;
  }
  return plain ? v : `"${v.replace(/"/g, '""')}"`;
}

/** UTF-8 CSV with `\n` line ends and minimal quoting: byte-stable for the same header and rows. */
export function toCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header.map(csvCell).join(',')];
  for (const r of rows) lines.push(r.map(csvCell).join(','));
  return lines.join('\n') + '\n';
}
