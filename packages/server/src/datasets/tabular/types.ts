// Public types of tabular ingest: options a push may carry, and the profile stored with every tabular
// DatasetVersion (column types and statistics, shown in the web console and used by pass 2).

export interface TabularOptions {
  /** 'shift_jis', 'sjis', 'windows-31j' and 'ms932' are accepted as aliases of 'cp932'. Default 'auto'. */
  encoding?: 'auto' | 'utf-8' | 'cp932' | 'shift_jis' | 'sjis' | 'windows-31j' | 'ms932';
  /** Default 'auto': detected from the first lines, quotes respected. */
  delimiter?: 'auto' | ',' | '\t' | ';' | '|';
  /** Default 2000. */
  maxColumns?: number;
}

export type ColumnType = 'integer' | 'number' | 'boolean' | 'date' | 'datetime' | 'categorical' | 'text';

export interface Quantiles {
  p01: number;
  p05: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
}

export interface ColumnProfile {
  name: string;
  type: ColumnType;
  /** Missing cells (empty or an NA token). */
  missing: number;
  /** Non-missing cells. */
  count: number;
  /** Exact below the per-column cap, else a lower bound. Numbers are counted by value ("1.50" = "1.5"). */
  distinct?: number | { atLeast: number };
  /** integer/number: numbers; date/datetime: ISO text (`2026-11-01`, `2026-11-01T08:30:00`). */
  min?: number | string;
  max?: number | string;
  /** integer/number: arithmetic mean; boolean: share of true. */
  mean?: number;
  /** Sample standard deviation (n − 1). */
  std?: number;
  /** Type-7 quantiles; exact when `TabularProfile.quantilesExact`, else from a deterministic reservoir sample. */
  quantiles?: Quantiles;
  /** ~20 bins; counts scaled from the sample when quantiles are approximate. */
  histogram?: { edges: number[]; counts: number[] };
  /** categorical/boolean/text: the 10 most frequent values (approximate for text past the distinct cap). */
  top?: { value: string; count: number }[];
  /** categorical: every category, most frequent first — the Arrow dictionary, in this order. */
  categories?: string[];
}

export interface TabularProfile {
  encoding: 'utf-8' | 'utf-8-bom' | 'cp932';
  delimiter: string;
  rowCount: number;
  columns: ColumnProfile[];
  /** True when every numeric column's quantiles and histogram come from all of its values. */
  quantilesExact: boolean;
}
