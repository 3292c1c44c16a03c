// Frames from Arrow: tables, single record batches and lists of batches give the same columns; nulls become NaN
// (numeric) or -1 codes (categorical); unsupported types are refused by name.
import type { RecordBatch } from 'apache-arrow';
import {
  Bool,
  DateMillisecond,
  Dictionary,
  Float64,
  Int32,
  List,
  Field,
  makeVector,
  Table,
  tableFromArrays,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { Frame } from './frame.js';
import { MlError } from './errors.js';

function batch(offset: number): RecordBatch {
  const t = tableFromArrays({
    age: Int32Array.from([40 + offset, 50 + offset]),
    hba1c: Float64Array.from([7.1 + offset, 8.2]),
  });
  const [b] = t.batches;
  return b!;
}

describe('Frame.fromArrow', () => {
  it('reads every feature type, with missing values', () => {
    const table = new Table({
      age: vectorFromArray([61, null, 47], new Int32()),
      hba1c: vectorFromArray([7.4, 6.9, null], new Float64()),
      smoker: vectorFromArray([true, false, null], new Bool()),
      sex: vectorFromArray(['F', null, 'M'], new Utf8()),
      drug: vectorFromArray(['dpp4', 'sglt2', 'dpp4'], new Dictionary(new Utf8(), new Int32())),
      seen: vectorFromArray([new Date(Date.UTC(2026, 0, 5)), null, new Date(0)], new DateMillisecond()),
    });
    const f = Frame.fromArrow(table);
    expect(f.numRows).toBe(3);
    const col = (name: string) => f.columns.find((c) => c.name === name)!;
    expect(col('age')).toMatchObject({ kind: 'numeric', values: Float64Array.from([61, NaN, 47]) });
    expect(col('hba1c')).toMatchObject({ kind: 'numeric', values: Float64Array.from([7.4, 6.9, NaN]) });
    expect(col('smoker')).toMatchObject({ kind: 'numeric', values: Float64Array.from([1, 0, NaN]) });
    expect(col('sex')).toMatchObject({
      kind: 'categorical',
      codes: Int32Array.from([0, -1, 1]),
      dictionary: ['F', 'M'],
    });
    expect(col('drug')).toMatchObject({ kind: 'categorical', codes: Int32Array.from([0, 1, 0]) });
    expect(col('seen')).toMatchObject({
      kind: 'numeric',
      values: Float64Array.from([Date.UTC(2026, 0, 5), NaN, 0]),
    });
    expect(Frame.fromArrow(table, ['sex', 'age']).columns.map((c) => c.name)).toEqual(['age', 'sex']);
  });

  it('takes record batches, one or several, in order, and gives what the table gives', () => {
    const batches = [batch(0), batch(1), batch(2)];
    const fromBatches = Frame.fromArrow(batches);
    expect(fromBatches.numRows).toBe(6);
    const age = fromBatches.columns.find((c) => c.name === 'age')!;
    expect(age).toMatchObject({ values: Float64Array.from([40, 50, 41, 51, 42, 52]) });
    expect(Frame.fromArrow(new Table(batches))).toEqual(fromBatches);
    expect(Frame.fromArrow(batches[1]!).columns[0]).toMatchObject({ values: Float64Array.from([41, 51]) });
  });

  it('refuses a column type that is not a feature type, naming it', () => {
    const listType = new List(new Field('item', new Int32()));
    const table = new Table({
      codes: makeVector({
        type: listType,
        length: 0,
        nullCount: 0,
        children: [makeVector(new Int32Array(0))],
        valueOffsets: new Int32Array([0]),
      }),
    });
    const e = (() => {
      try {
        Frame.fromArrow(table);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(MlError);
    expect((e as MlError).code).toBe('UNSUPPORTED_COLUMN_TYPE');
    expect((e as MlError).message).toContain('"codes"');
  });
});
