// Queries built and compiled by Kysely once, then run with new values: on the hot serving paths (project access,
// model lookup, the group commit's inserts) building and compiling a query cost more CPU than SQLite running it.
// The SQL text is the same on every call, so SQLite's statement cache (and PostgreSQL's plans) apply as well.
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';

/** Values are bound by name: the builder gets a placeholder per name and must use each as a plain value. */
const SENTINEL = '\u0000ichigen-param:';

type Executor = Pick<Kysely<never>, 'executeQuery'>;

interface Template {
  compiled: CompiledQuery;
  /** Parameter index → the name whose value goes there (null: a constant the builder put in itself). */
  slots: (string | null)[];
}

const isSlot = (v: unknown): v is string => typeof v === 'string' && v.startsWith(SENTINEL);

function template(query: Compilable<unknown>): Template {
  const built = query.compile();
  return {
    // Only the SQL and the constant parameters are kept: the drivers never read the operation tree, which for a
    // 500-row INSERT holds thousands of nodes.
    compiled: CompiledQuery.raw(
      built.sql,
      built.parameters.map((v) => (isSlot(v) ? null : v)),
    ),
    slots: built.parameters.map((v) => (isSlot(v) ? v.slice(SENTINEL.length) : null)),
  };
}

function run<R>(db: Executor, t: Template, value: (name: string) => unknown): Promise<QueryResult<R>> {
  const params = t.slots.map((name, i) => (name === null ? t.compiled.parameters[i] : value(name)));
  return db.executeQuery({ ...t.compiled, parameters: params } as CompiledQuery<R>);
}

/**
 * A query compiled on first use from `build(placeholders)`, then executed with `values` bound to the same
 * parameters (by name). The builder must use every placeholder as a value (`where(col, '=', p.x)`, `sql\`${p.x}\``),
 * never as an identifier, in a list, or in JavaScript logic; every name must be given a value at each call.
 */
export class Precompiled<R, K extends string> {
  private t: Template | null = null;

  constructor(private readonly build: (p: Record<K, string>) => Compilable<R>) {}

  /** Runs on `db` (the store's Kysely or a transaction of it: the SQL does not depend on which). */
  execute(db: Executor, values: Record<K, unknown>): Promise<QueryResult<R>> {
    if (!this.t) {
      const p = new Proxy({} as Record<K, string>, { get: (_, name) => SENTINEL + String(name) });
      this.t = template(this.build(p));
    }
    const t = this.t;
    return run<R>(db, t, (name) => {
      const v = values[name as K];
      if (v === undefined) throw new Error(`precompiled query: no value for ${name}`);
      return v;
    });
  }

  async rows(db: Executor, values: Record<K, unknown>): Promise<R[]> {
    return (await this.execute(db, values)).rows;
  }

  async first(db: Executor, values: Record<K, unknown>): Promise<R | undefined> {
    return (await this.execute(db, values)).rows[0];
  }
}

type Row = Record<string, unknown>;

/**
 * Multi-row INSERTs compiled once per table, column list and row count (bounded cache). Every row must have the
 * same keys in the same order and no undefined value; otherwise `insert` returns false and the caller uses Kysely.
 * Rows are inserted in slices whose sizes are powers of two (37 rows: 32 + 4 + 1), so however a server's group
 * sizes vary over its life, a table and column list keep at most one template per power of two — a template per
 * row count up to 500 would hold millions of parameter slots per table.
 */
export class PrecompiledInserts {
  private readonly templates = new Map<string, { t: Template; at: [number, string][] }>();

  constructor(private readonly maxTemplates = 200) {}

  /** Templates held (for tests). */
  get size(): number {
    return this.templates.size;
  }

  async insert(db: Kysely<never>, table: string, rows: readonly Row[]): Promise<boolean> {
    if (rows.length === 0) return true;
    const columns = Object.keys(rows[0]!);
    for (const r of rows) {
      const keys = Object.keys(r);
      if (keys.length !== columns.length) return false;
      for (let j = 0; j < keys.length; j++) if (keys[j] !== columns[j] || r[keys[j]!] === undefined) return false;
    }
    for (let from = 0; from < rows.length;) {
      const n = 2 ** Math.floor(Math.log2(rows.length - from));
      const { t, at } = this.template(db, table, columns, n);
      await db.executeQuery({
        ...t.compiled,
        parameters: at.map(([i, c]) => rows[from + i]![c]),
      } as CompiledQuery);
      from += n;
    }
    return true;
  }

  private template(
    db: Kysely<never>,
    table: string,
    columns: string[],
    count: number,
  ): { t: Template; at: [number, string][] } {
    const key = `${table}\u0000${columns.join('\u0000')}\u0000${count}`;
    let e = this.templates.get(key);
    if (!e) {
      const sample = Array.from({ length: count }, (_, i) =>
        Object.fromEntries(columns.map((c, j) => [c, `${SENTINEL}${i}.${j}`])),
      );
      const t = template(
        (db as unknown as Kysely<Record<string, Row>>).insertInto(table).values(sample as never) as Compilable<unknown>,
      );
      const at = t.slots.map((s): [number, string] => {
        if (s === null) throw new Error(`precompiled insert into ${table}: a parameter is not a row value`);
        const dot = s.indexOf('.');
        return [Number(s.slice(0, dot)), columns[Number(s.slice(dot + 1))]!];
      });
      if (this.templates.size >= this.maxTemplates) this.templates.clear();
      e = { t, at };
      this.templates.set(key, e);
    }
    return e;
  }
}
