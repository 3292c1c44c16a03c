// Columnar frame of typed arrays: the one input shape every learner in this package accepts.
// Numeric columns are Float64Array with NaN for missing; categorical columns are dictionary codes (-1 = missing).
import { RecordBatch, Table } from 'apache-arrow';
import { MlError } from './errors.js';

export interface NumericColumn {
  readonly name: string;
  readonly kind: 'numeric';
  readonly values: Float64Array;
}

export interface CategoricalColumn {
  readonly name: string;
  readonly kind: 'categorical';
  /** Index into `dictionary`, or -1 where the value is missing. */
  readonly codes: Int32Array;
  readonly dictionary: readonly string[];
}

export type Column = NumericColumn | CategoricalColumn;

export type ColumnInput =
  | Float64Array
  | Float32Array
  | Int32Array
  | ArrayLike<number | null | undefined>
  | ArrayLike<string | null | undefined>;

/** An immutable table of named feature columns, all of the same length. */
export class Frame {
  readonly columns: readonly Column[];
  readonly numRows: number;
  private readonly byName: Map<string, Column>;

  constructor(columns: readonly Column[]) {
    const names = new Set<string>();
    let n = -1;
    for (const c of columns) {
      if (names.has(c.name)) throw new MlError('DUPLICATE_FEATURE', `duplicate column name "${c.name}"`);
      names.add(c.name);
      const len = c.kind === 'numeric' ? c.values.length : c.codes.length;
      if (n === -1) n = len;
      else if (len !== n) {
        throw new MlError('RAGGED_FRAME', `column "${c.name}" has ${len} rows, expected ${n}`);
      }
    }
    this.columns = columns;
    this.numRows = Math.max(n, 0);
    this.byName = new Map(columns.map((c) => [c.name, c]));
  }

  get names(): string[] {
    return this.columns.map((c) => c.name);
  }

  get numColumns(): number {
    return this.columns.length;
  }

  column(name: string): Column {
    const c = this.byName.get(name);
    if (!c) throw new MlError('UNKNOWN_FEATURE', `no column named "${name}"`);
    return c;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** A frame with only the named columns, in the given order. */
  select(names: readonly string[]): Frame {
    return new Frame(names.map((n) => this.column(n)));
  }

  /** A frame with the rows at `indices` (in that order). */
  take(indices: ArrayLike<number>): Frame {
    const m = indices.length;
    return new Frame(
      this.columns.map((c): Column => {
        if (c.kind === 'numeric') {
          const v = new Float64Array(m);
          for (let i = 0; i < m; i++) v[i] = c.values[indices[i]!]!;
          return { name: c.name, kind: 'numeric', values: v };
        }
        const codes = new Int32Array(m);
        for (let i = 0; i < m; i++) codes[i] = c.codes[indices[i]!]!;
        return { name: c.name, kind: 'categorical', codes, dictionary: c.dictionary };
      }),
    );
  }

  /** One row as a plain object (numbers, strings, or null for missing). */
  row(i: number): Record<string, number | string | null> {
    const out: Record<string, number | string | null> = {};
    for (const c of this.columns) {
      if (c.kind === 'numeric') {
        const v = c.values[i]!;
        out[c.name] = Number.isNaN(v) ? null : v;
      } else {
        const code = c.codes[i]!;
        out[c.name] = code < 0 ? null : c.dictionary[code]!;
      }
    }
    return out;
  }

  /**
   * Builds a frame from plain arrays or typed arrays. Arrays of strings become categorical columns;
   * numbers (with null/undefined/NaN as missing) become numeric columns.
   */
  static fromColumns(cols: Record<string, ColumnInput>): Frame {
    return new Frame(Object.entries(cols).map(([name, values]) => columnFrom(name, values)));
  }

  /** Builds a one-row frame from an object, using `like` for column order and kinds (dictionaries are kept). */
  static fromRow(row: Record<string, unknown>, like: readonly Column[]): Frame {
    return new Frame(
      like.map((c): Column => {
        const v = row[c.name];
        if (c.kind === 'numeric') {
          const x = v === null || v === undefined || v === '' ? NaN : Number(v);
          return { name: c.name, kind: 'numeric', values: Float64Array.of(x) };
        }
        const code = v === null || v === undefined ? -1 : c.dictionary.indexOf(String(v));
        return { name: c.name, kind: 'categorical', codes: Int32Array.of(code), dictionary: c.dictionary };
      }),
    );
  }

  /**
   * Builds a frame from an Arrow table, one record batch, or record batches of one schema (in order, e.g. as read
   * from an IPC stream): numeric types → numeric columns, dictionary and utf8 → categorical, booleans → 0/1, dates
   * and timestamps → epoch milliseconds. Other types are rejected by name.
   */
  static fromArrow(input: Table | RecordBatch | readonly RecordBatch[], names?: readonly string[]): Frame {
    const table =
      input instanceof Table ? input : input instanceof RecordBatch ? new Table(input) : new Table([...input]);
    const fields = table.schema.fields.filter((f) => !names || names.includes(f.name));
    const cols: Column[] = [];
    for (const f of fields) {
      const vec = table.getChild(f.name);
      if (!vec) continue;
      const typeId = String(f.type);
      const n = vec.length;
      if (/^(Int|Uint|Float)/.test(typeId) || /^Bool/.test(typeId) || /^Date|^Timestamp/.test(typeId)) {
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const v: unknown = vec.get(i);
          if (v === null || v === undefined) values[i] = NaN;
          else if (typeof v === 'boolean') values[i] = v ? 1 : 0;
          else if (typeof v === 'bigint') values[i] = Number(v);
          else if (v instanceof Date) values[i] = v.getTime();
          else values[i] = Number(v);
        }
        cols.push({ name: f.name, kind: 'numeric', values });
      } else if (/^Utf8|^Dictionary|^LargeUtf8/.test(typeId)) {
        const raw: (string | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const v: unknown = vec.get(i);
          raw[i] = v === null || v === undefined ? null : String(v);
        }
        cols.push(columnFrom(f.name, raw));
      } else {
        throw new MlError(
          'UNSUPPORTED_COLUMN_TYPE',
          `column "${f.name}" has Arrow type ${typeId}, which is not a feature type`,
        );
      }
    }
    return new Frame(cols);
  }
}

function columnFrom(name: string, values: ColumnInput): Column {
  if (values instanceof Float64Array) return { name, kind: 'numeric', values };
  if (values instanceof Float32Array || values instanceof Int32Array) {
    return { name, kind: 'numeric', values: Float64Array.from(values) };
  }
  const n = values.length;
  let isString = false;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'string') {
      isString = true;
      break;
    }
  }
  if (isString) {
    const dict = new Map<string, number>();
    const dictionary: string[] = [];
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null || v === undefined || v === '') {
        codes[i] = -1;
        continue;
      }
      const s = String(v);
      let code = dict.get(s);
      if (code === undefined) {
        code = dictionary.length;
        dictionary.push(s);
        dict.set(s, code);
      }
      codes[i] = code;
    }
    return { name, kind: 'categorical', codes, dictionary };
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    out[i] = v === null || v === undefined ? NaN : Number(v);
  }
  return { name, kind: 'numeric', values: out };
}
