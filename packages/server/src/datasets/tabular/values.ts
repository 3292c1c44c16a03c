// Cell-level rules of tabular ingest: which strings are missing, and how a cell parses as a number, boolean,
// date or datetime. Hand-written char-code scanners: this runs once per cell of multi-GB files.

/** Cells that count as missing (besides the empty cell). Exact, case-sensitive matches; no trimming. */
export const NA_TOKENS: readonly string[] = ['NA', 'N/A', 'NULL', 'null', '-', 'NaN'];

export function isMissing(s: string): boolean {
  return isMissingAt(s, 0, s.length);
}

/** Whether `s.slice(a, b)` is missing, without slicing unless it could be an NA token. */
export function isMissingAt(s: string, a: number, b: number): boolean {
  const n = b - a;
  if (n === 0) return true;
  if (n > 4) return false;
  const c = s.charCodeAt(a);
  if (c !== 78 && c !== 110 && c !== 45) return false; // N, n, -
  switch (s.slice(a, b)) {
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

/** Value of the last cell `scanNumber` accepted (tests and tools; hot paths use `parseNumberAt`). */
export let scannedValue = 0;
/** Set by `parseNumberAt`: whether the last number it accepted was written as an integer. */
export let scannedInteger = false;

// Exact powers of ten: m * 10^k and m / 10^k are correctly rounded for m < 2^53 and k <= 22 (Clinger's fast
// path), i.e. the same double as Number(text). Other cells fall back to Number().
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

export function scanNumber(s: string): number {
  const v = parseNumberAt(s, 0, s.length);
  if (v !== v) return NOT_NUMBER;
  scannedValue = v;
  return scannedInteger ? INTEGER : DECIMAL;
}

/**
 * The number `s.slice(a, b)` is, or NaN; `scannedInteger` tells whether it was written as an integer (else
 * DECIMAL: fraction or exponent). Returning the double (not storing it in a module variable) keeps it unboxed.
 * Grammar: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?.
 * No spaces, no thousands separators, no hex, no Infinity. A leading zero before more digits ("007", "0123")
 * is NOT a number: hospital identifiers are zero-padded, and typing them as numbers would drop the zeros.
 */
export function parseNumberAt(s: string, a: number, b: number): number {
  if (a >= b) return NaN;
  let i = a;
  let c = s.charCodeAt(i);
  let neg = false;
  if (c === 45 || c === 43) {
    neg = c === 45;
    i++;
  }
  const intStart = i;
  let m = 0;
  while (i < b) {
    c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    m = m * 10 + (c - 48);
    i++;
  }
  const intDigits = i - intStart;
  if (intDigits > 1 && s.charCodeAt(intStart) === 48) return NaN;
  if (i === b) {
    if (intDigits === 0 || intDigits > MAX_INTEGER_DIGITS) return NaN;
    scannedInteger = true;
    return neg ? -m : m;
  }
  let fracDigits = 0;
  if (c === 46) {
    i++;
    const fracStart = i;
    while (i < b) {
      c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      m = m * 10 + (c - 48);
      i++;
    }
    fracDigits = i - fracStart;
  }
  if (intDigits + fracDigits === 0) return NaN;
  let exp = 0;
  if (i < b) {
    if (c !== 101 && c !== 69) return NaN;
    i++;
    let expNeg = false;
    if (i < b) {
      c = s.charCodeAt(i);
      if (c === 45 || c === 43) {
        expNeg = c === 45;
        i++;
      }
    }
    const expStart = i;
    while (i < b) {
      c = s.charCodeAt(i);
      if (c < 48 || c > 57) return NaN;
      if (exp < 100_000) exp = exp * 10 + (c - 48);
      i++;
    }
    if (i === expStart) return NaN;
    if (expNeg) exp = -exp;
  }
  const scale = exp - fracDigits;
  let v: number;
  if (intDigits + fracDigits <= 15 && scale >= -22 && scale <= 22) {
    v = scale >= 0 ? m * (POW10[scale] as number) : m / (POW10[-scale] as number);
    if (neg) v = -v;
  } else {
    v = Number(s.slice(a, b));
    // "1e400" overflows to Infinity: not a value a column statistic or a model can use; keep it as text.
    if (v === Infinity || v === -Infinity) return NaN;
  }
  scannedInteger = false;
  return v;
}

/** 1 for true/yes, 0 for false/no (any letter case), -1 otherwise. "0"/"1" are integers, not booleans. */
export function parseBoolean(s: string): number {
  return parseBooleanAt(s, 0, s.length);
}

const lower = (s: string, i: number): number => s.charCodeAt(i) | 0x20;

export function parseBooleanAt(s: string, a: number, b: number): number {
  switch (b - a) {
    case 2: // no
      return lower(s, a) === 110 && lower(s, a + 1) === 111 ? 0 : -1;
    case 3: // yes
      return lower(s, a) === 121 && lower(s, a + 1) === 101 && lower(s, a + 2) === 115 ? 1 : -1;
    case 4: // true
      return lower(s, a) === 116 && lower(s, a + 1) === 114 && lower(s, a + 2) === 117 && lower(s, a + 3) === 101
        ? 1
        : -1;
    case 5: // false
      return lower(s, a) === 102 &&
        lower(s, a + 1) === 97 &&
        lower(s, a + 2) === 108 &&
        lower(s, a + 3) === 115 &&
        lower(s, a + 4) === 101
        ? 0
        : -1;
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

/** The `count` digits at `i` as a number, or -1 (also when they would run past `end`). */
function digitsAt(s: string, i: number, count: number, end: number): number {
  if (i + count > end) return -1;
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
  return parseDateTimeAt(s, 0, s.length);
}

/** `parseDateTime` of `s.slice(a, n)`, reading no character outside it. */
export function parseDateTimeAt(s: string, a: number, n: number): number {
  if (n - a < 8 || n - a > 40) return NaN;
  const y = digitsAt(s, a, 4, n);
  if (y < 0) return NaN;
  const sep = s.charCodeAt(a + 4);
  if (sep !== 45 && sep !== 47) return NaN;
  let i = a + 5;
  let m = digitsAt(s, i, 1, n);
  if (m < 0) return NaN;
  i++;
  let d2 = digitsAt(s, i, 1, n);
  if (d2 >= 0) {
    m = m * 10 + d2;
    i++;
  }
  if (i >= n || s.charCodeAt(i) !== sep) return NaN;
  i++;
  let d = digitsAt(s, i, 1, n);
  if (d < 0) return NaN;
  i++;
  d2 = digitsAt(s, i, 1, n);
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
  const hh = digitsAt(s, i, 2, n);
  if (hh < 0 || hh > 23 || i + 2 >= n || s.charCodeAt(i + 2) !== 58) return NaN;
  i += 3;
  const mi = digitsAt(s, i, 2, n);
  if (mi < 0 || mi > 59) return NaN;
  i += 2;
  let ss = 0;
  let ms = 0;
  if (i < n && s.charCodeAt(i) === 58) {
    ss = digitsAt(s, i + 1, 2, n);
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
      const oh = digitsAt(s, i + 1, 2, n);
      if (oh < 0 || oh > 23) return NaN;
      let j = i + 3;
      if (j < n && s.charCodeAt(j) === 58) j++;
      const om = digitsAt(s, j, 2, n);
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

// ---------------------------------------------------------------------------------------------------------
// The same rules over UTF-8 bytes `buf[a, b)`: what both ingest passes run per cell (no string per cell).
// Kept in step with the string versions above by values.test.ts (random cells, both must agree).

/** `isMissing` of the bytes `buf[a, b)`. */
export function isMissingBytes(buf: Uint8Array, a: number, b: number): boolean {
  const n = b - a;
  if (n === 0) return true;
  if (n > 4) return false;
  const c = buf[a] as number;
  if (c === 45) return n === 1; // -
  if (c === 110) return n === 4 && buf[a + 1] === 117 && buf[a + 2] === 108 && buf[a + 3] === 108; // null
  if (c !== 78) return false; // N
  const c1 = buf[a + 1];
  if (n === 2) return c1 === 65; // NA
  if (n === 3) return (c1 === 47 && buf[a + 2] === 65) || (c1 === 97 && buf[a + 2] === 78); // N/A, NaN
  return c1 === 85 && buf[a + 2] === 76 && buf[a + 3] === 76; // NULL
}

const latin1 = (buf: Uint8Array, a: number, b: number): string =>
  Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('latin1');

/** `parseNumberAt` over bytes; sets `scannedInteger` the same way. */
export function parseNumberBytes(s: Uint8Array, a: number, b: number): number {
  if (a >= b) return NaN;
  let i = a;
  let c = s[i] as number;
  let neg = false;
  if (c === 45 || c === 43) {
    neg = c === 45;
    i++;
  }
  const intStart = i;
  let m = 0;
  while (i < b) {
    c = s[i] as number;
    if (c < 48 || c > 57) break;
    m = m * 10 + (c - 48);
    i++;
  }
  const intDigits = i - intStart;
  if (intDigits > 1 && s[intStart] === 48) return NaN;
  if (i === b) {
    if (intDigits === 0 || intDigits > MAX_INTEGER_DIGITS) return NaN;
    scannedInteger = true;
    return neg ? -m : m;
  }
  let fracDigits = 0;
  if (c === 46) {
    i++;
    const fracStart = i;
    while (i < b) {
      c = s[i] as number;
      if (c < 48 || c > 57) break;
      m = m * 10 + (c - 48);
      i++;
    }
    fracDigits = i - fracStart;
  }
  if (intDigits + fracDigits === 0) return NaN;
  let exp = 0;
  if (i < b) {
    if (c !== 101 && c !== 69) return NaN;
    i++;
    let expNeg = false;
    if (i < b) {
      c = s[i] as number;
      if (c === 45 || c === 43) {
        expNeg = c === 45;
        i++;
      }
    }
    const expStart = i;
    while (i < b) {
      c = s[i] as number;
      if (c < 48 || c > 57) return NaN;
      if (exp < 100_000) exp = exp * 10 + (c - 48);
      i++;
    }
    if (i === expStart) return NaN;
    if (expNeg) exp = -exp;
  }
  const scale = exp - fracDigits;
  let v: number;
  if (intDigits + fracDigits <= 15 && scale >= -22 && scale <= 22) {
    v = scale >= 0 ? m * (POW10[scale] as number) : m / (POW10[-scale] as number);
    if (neg) v = -v;
  } else {
    // Only ASCII digits, signs, '.' and 'e' got here, so latin1 is the exact text.
    v = Number(latin1(s, a, b));
    if (v === Infinity || v === -Infinity) return NaN;
  }
  scannedInteger = false;
  return v;
}

const lowerB = (s: Uint8Array, i: number): number => (s[i] as number) | 0x20;

/** `parseBooleanAt` over bytes. */
export function parseBooleanBytes(s: Uint8Array, a: number, b: number): number {
  switch (b - a) {
    case 2:
      return lowerB(s, a) === 110 && lowerB(s, a + 1) === 111 ? 0 : -1;
    case 3:
      return lowerB(s, a) === 121 && lowerB(s, a + 1) === 101 && lowerB(s, a + 2) === 115 ? 1 : -1;
    case 4:
      return lowerB(s, a) === 116 && lowerB(s, a + 1) === 114 && lowerB(s, a + 2) === 117 && lowerB(s, a + 3) === 101
        ? 1
        : -1;
    case 5:
      return lowerB(s, a) === 102 &&
        lowerB(s, a + 1) === 97 &&
        lowerB(s, a + 2) === 108 &&
        lowerB(s, a + 3) === 115 &&
        lowerB(s, a + 4) === 101
        ? 0
        : -1;
    default:
      return -1;
  }
}

function digitsAtB(s: Uint8Array, i: number, count: number, end: number): number {
  if (i + count > end) return -1;
  let v = 0;
  for (let k = 0; k < count; k++) {
    const c = (s[i + k] as number) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Days since 1970-01-01 of January 1st of each year 0–9999, filled on first use (NaN = not yet computed). */
const YEAR_START = new Float64Array(10_000).fill(NaN);
/** Days before the first of each month (index 1–12) in a common year. */
const MONTH_START = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/**
 * `YYYY-MM-DD` / `YYYY/MM/DD` exactly (the shape nearly every extract uses) as epoch ms, or NaN when `s[a, a+10)`
 * is not that shape or not a real date. Same result as the general parser below, without its per-field calls.
 */
function parseIsoDateBytes(s: Uint8Array, a: number): number {
  const sep = s[a + 4] as number;
  if ((sep !== 45 && sep !== 47) || s[a + 7] !== sep) return NaN;
  const y0 = (s[a] as number) - 48;
  const y1 = (s[a + 1] as number) - 48;
  const y2 = (s[a + 2] as number) - 48;
  const y3 = (s[a + 3] as number) - 48;
  const m0 = (s[a + 5] as number) - 48;
  const m1 = (s[a + 6] as number) - 48;
  const d0 = (s[a + 8] as number) - 48;
  const d1 = (s[a + 9] as number) - 48;
  // Unsigned compare: a byte below '0' wraps to a large number.
  if (y0 >>> 0 > 9 || y1 >>> 0 > 9 || y2 >>> 0 > 9 || y3 >>> 0 > 9) return NaN;
  if (m0 >>> 0 > 9 || m1 >>> 0 > 9 || d0 >>> 0 > 9 || d1 >>> 0 > 9) return NaN;
  const y = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const m = m0 * 10 + m1;
  const d = d0 * 10 + d1;
  if (m < 1 || m > 12 || d < 1) return NaN;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = m === 2 && leap ? 29 : (DAYS_IN_MONTH[m - 1] as number);
  if (d > dim) return NaN;
  let start = YEAR_START[y] as number;
  if (start !== start) start = YEAR_START[y] = daysFromCivil(y, 1, 1);
  return (start + (MONTH_START[m] as number) + (leap && m > 2 ? 1 : 0) + d - 1) * MS_PER_DAY;
}

/**
 * `parseDateTimeAt` over bytes; sets `scannedHasTime` the same way. Small on purpose: the common `YYYY-MM-DD` is
 * read here and everything else by `parseOtherDateTimeBytes`, so the optimizing compiler inlines this into the
 * per-cell path (the whole function was too big to inline: a call per date cell).
 */
export function parseDateTimeBytes(s: Uint8Array, a: number, n: number): number {
  if (n - a === 10) {
    const v = parseIsoDateBytes(s, a);
    if (v === v) {
      scannedHasTime = false;
      return v;
    }
  }
  return parseOtherDateTimeBytes(s, a, n);
}

/** `parseDateTimeBytes` of anything but a plain `YYYY-MM-DD` / `YYYY/MM/DD` date. */
function parseOtherDateTimeBytes(s: Uint8Array, a: number, n: number): number {
  if (n - a < 8 || n - a > 40) return NaN;
  const y = digitsAtB(s, a, 4, n);
  if (y < 0) return NaN;
  const sep = s[a + 4] as number;
  if (sep !== 45 && sep !== 47) return NaN;
  let i = a + 5;
  let m = digitsAtB(s, i, 1, n);
  if (m < 0) return NaN;
  i++;
  let d2 = digitsAtB(s, i, 1, n);
  if (d2 >= 0) {
    m = m * 10 + d2;
    i++;
  }
  if (i >= n || s[i] !== sep) return NaN;
  i++;
  let d = digitsAtB(s, i, 1, n);
  if (d < 0) return NaN;
  i++;
  d2 = digitsAtB(s, i, 1, n);
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
  const t = s[i];
  if (t !== 84 && t !== 32) return NaN;
  i++;
  const hh = digitsAtB(s, i, 2, n);
  if (hh < 0 || hh > 23 || i + 2 >= n || s[i + 2] !== 58) return NaN;
  i += 3;
  const mi = digitsAtB(s, i, 2, n);
  if (mi < 0 || mi > 59) return NaN;
  i += 2;
  let ss = 0;
  let ms = 0;
  if (i < n && s[i] === 58) {
    ss = digitsAtB(s, i + 1, 2, n);
    if (ss < 0 || ss > 59) return NaN;
    i += 3;
    if (i < n && s[i] === 46) {
      i++;
      const fracStart = i;
      let scale = 100;
      while (i < n) {
        const c = (s[i] as number) - 48;
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
    const z = s[i] as number;
    if (z === 90 && i + 1 === n) {
      i++;
    } else if (z === 43 || z === 45) {
      const oh = digitsAtB(s, i + 1, 2, n);
      if (oh < 0 || oh > 23) return NaN;
      let j = i + 3;
      if (j < n && s[j] === 58) j++;
      const om = digitsAtB(s, j, 2, n);
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
