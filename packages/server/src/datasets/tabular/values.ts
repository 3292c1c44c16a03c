// Cell-level rules of tabular ingest: which strings are missing, and how a cell parses as a number, boolean,
// date or datetime. Hand-written char-code scanners: this runs once per cell of multi-GB files.

/** Cells that count as missing (besides the empty cell). Exact, case-sensitive matches; no trimming. */
export const NA_TOKENS: readonly string[] = ['NA', 'N/A', 'NULL', 'null', '-', 'NaN'];

export function isMissing(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  if (n > 4) return false;
  switch (s) {
    case 'NA':
    case 'N/A':
    case 'NULL':
    case 'null':
    case '-':
    case 'NaN':
      return true;
    default:
      return false;
  }
}

export const NOT_NUMBER = 0;
export const INTEGER = 1;
export const DECIMAL = 2;

/** Integers with more digits than this do not survive a Float64 round trip; such cells are identifiers (text). */
export const MAX_INTEGER_DIGITS = 15;

/** Value of the last integer `scanNumber` accepted (so integers need no second parse). */
export let scannedInteger = 0;

/**
 * Classifies a cell as INTEGER, DECIMAL (any other number: fraction, exponent) or NOT_NUMBER.
 * Grammar: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?. No spaces, no thousands separators,
 * no hex, no Infinity. A leading zero before more digits ("007", "0123") is NOT a number: hospital identifiers
 * are zero-padded, and typing them as numbers would silently drop the zeros.
 */
export function scanNumber(s: string): number {
  const n = s.length;
  let i = 0;
  let c = s.charCodeAt(0);
  let neg = false;
  if (c === 45 || c === 43) {
    neg = c === 45;
    i = 1;
  }
  const intStart = i;
  let v = 0;
  while (i < n) {
    c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    i++;
  }
  const intDigits = i - intStart;
  if (intDigits > 1 && s.charCodeAt(intStart) === 48) return NOT_NUMBER;
  if (i === n) {
    if (intDigits === 0 || intDigits > MAX_INTEGER_DIGITS) return NOT_NUMBER;
    scannedInteger = neg ? -v : v;
    return INTEGER;
  }
  let fracDigits = 0;
  if (c === 46) {
    i++;
    const fracStart = i;
    while (i < n) {
      c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      i++;
    }
    fracDigits = i - fracStart;
    if (intDigits + fracDigits === 0) return NOT_NUMBER;
    if (i === n) return DECIMAL;
  }
  if (intDigits + fracDigits === 0) return NOT_NUMBER;
  if (c !== 101 && c !== 69) return NOT_NUMBER;
  i++;
  if (i < n) {
    c = s.charCodeAt(i);
    if (c === 45 || c === 43) i++;
  }
  const expStart = i;
  while (i < n) {
    c = s.charCodeAt(i);
    if (c < 48 || c > 57) return NOT_NUMBER;
    i++;
  }
  return i > expStart ? DECIMAL : NOT_NUMBER;
}

/** 1 for true/yes, 0 for false/no (any letter case), -1 otherwise. "0"/"1" are integers, not booleans. */
export function parseBoolean(s: string): number {
  const n = s.length;
  if (n < 2 || n > 5) return -1;
  switch (s.toLowerCase()) {
    case 'true':
    case 'yes':
      return 1;
    case 'false':
    case 'no':
      return 0;
    default:
      return -1;
  }
}

/** Set by `parseDateTime`: whether the last accepted cell carried a time of day. */
export let scannedHasTime = false;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MS_PER_DAY = 86_400_000;

function daysFromCivil(y: number, m: number, d: number): number {
  // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm; avoids Date objects).
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function digitsAt(s: string, i: number, count: number): number {
  let v = 0;
  for (let k = 0; k < count; k++) {
    const c = s.charCodeAt(i + k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Parses `YYYY-MM-DD` or `YYYY/MM/DD` (month and day may have one digit: EHR exports write `2026/1/5`),
 * optionally followed by `T` or a space and `HH:MM[:SS[.fraction]]` and an optional `Z` or `±HH:MM`/`±HHMM`.
 * Returns epoch milliseconds (UTC; a time without offset is taken as wall-clock time and stored as if UTC),
 * or NaN. Impossible dates (2026-02-30) are NaN.
 */
export function parseDateTime(s: string): number {
  const n = s.length;
  if (n < 8 || n > 40) return NaN;
  const y = digitsAt(s, 0, 4);
  if (y < 0) return NaN;
  const sep = s.charCodeAt(4);
  if (sep !== 45 && sep !== 47) return NaN;
  let i = 5;
  let m = digitsAt(s, i, 1);
  if (m < 0) return NaN;
  i++;
  let d2 = digitsAt(s, i, 1);
  if (d2 >= 0) {
    m = m * 10 + d2;
    i++;
  }
  if (s.charCodeAt(i) !== sep) return NaN;
  i++;
  let d = digitsAt(s, i, 1);
  if (d < 0) return NaN;
  i++;
  d2 = i < n ? digitsAt(s, i, 1) : -1;
  if (d2 >= 0) {
    d = d * 10 + d2;
    i++;
  }
  if (m < 1 || m > 12 || d < 1) return NaN;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = m === 2 && leap ? 29 : (DAYS_IN_MONTH[m - 1] ?? 0);
  if (d > dim) return NaN;
  const dayMs = daysFromCivil(y, m, d) * MS_PER_DAY;
  if (i === n) {
    scannedHasTime = false;
    return dayMs;
  }
  const t = s.charCodeAt(i);
  if (t !== 84 && t !== 32) return NaN;
  i++;
  const hh = digitsAt(s, i, 2);
  if (hh < 0 || hh > 23 || s.charCodeAt(i + 2) !== 58) return NaN;
  i += 3;
  const mi = digitsAt(s, i, 2);
  if (mi < 0 || mi > 59) return NaN;
  i += 2;
  let ss = 0;
  let ms = 0;
  if (i < n && s.charCodeAt(i) === 58) {
    ss = digitsAt(s, i + 1, 2);
    if (ss < 0 || ss > 59) return NaN;
    i += 3;
    if (i < n && s.charCodeAt(i) === 46) {
      i++;
      const fracStart = i;
      let scale = 100;
      while (i < n) {
        const c = s.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        ms += c * scale;
        scale /= 10;
        i++;
      }
      if (i === fracStart) return NaN;
      ms = Math.floor(ms);
    }
  }
  let offsetMin = 0;
  if (i < n) {
    const z = s.charCodeAt(i);
    if (z === 90 && i + 1 === n) {
      i++;
    } else if (z === 43 || z === 45) {
      const oh = digitsAt(s, i + 1, 2);
      if (oh < 0 || oh > 23) return NaN;
      let j = i + 3;
      if (s.charCodeAt(j) === 58) j++;
      const om = digitsAt(s, j, 2);
      if (om < 0 || om > 59 || j + 2 !== n) return NaN;
      offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
      i = n;
    } else {
      return NaN;
    }
  }
  scannedHasTime = true;
  return dayMs + ((hh * 60 + mi - offsetMin) * 60 + ss) * 1000 + ms;
}

/** ISO text for a profile's min/max: `2026-11-01` for dates, `2026-11-01T08:30:00` (UTC) for datetimes. */
export function formatDate(ms: number, withTime: boolean): string {
  const iso = new Date(ms).toISOString();
  if (!withTime) return iso.slice(0, 10);
  return iso.endsWith('.000Z') ? iso.slice(0, 19) : iso.slice(0, 23);
}
