// Hand-worked examples of the HbA1c control-period definition, its edge cases, bad input, and a property test that
// post-index data never changes a feature (no leakage).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { formatDay, parseDay, recordsTable } from '../table.js';
import { buildPeriods, hba1cConverter, labelControlPeriods, periodSummary } from './labeler.js';
import { outputCsv } from './output.js';
import { hba1cParamsSchema, type Hba1cParamsInput } from './params.js';

type Rec = Record<string, string>;
const lab = (patient: string, date: string, value: string | number, unit = '%', code = '4548-4'): Rec => ({
  patient_id: patient,
  date,
  test_code: code,
  value: String(value),
  unit,
});
const rx = (patient: string, start: string, end = '', cls = 'biguanide', drug = 'A10BA02'): Rec => ({
  patient_id: patient,
  start_date: start,
  end_date: end,
  drug_code: drug,
  drug_class: cls,
});
const person = (id: string, birth = '1960-01-01', sex = 'F'): Rec => ({ patient_id: id, birth_date: birth, sex });

const LAB_COLS = ['patient_id', 'date', 'test_code', 'value', 'unit'];
const RX_COLS = ['patient_id', 'start_date', 'end_date', 'drug_code', 'drug_class'];
const PT_COLS = ['patient_id', 'birth_date', 'sex'];

function run(labs: Rec[], rxs: Rec[], pts: Rec[], params: Hba1cParamsInput = {}, conds?: Rec[]) {
  const p = hba1cParamsSchema.parse(params);
  return labelControlPeriods(
    recordsTable('labs', labs, LAB_COLS),
    recordsTable('prescriptions', rxs, RX_COLS),
    recordsTable('patients', pts, PT_COLS),
    p,
    conds ? recordsTable('conditions', conds, ['patient_id', 'onset_date', 'code']) : undefined,
  );
}

function expectError(f: () => unknown, code: string, ...fragments: string[]): AppError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  expect(e.code).toBe(code);
  expect(e.status).toBe(422);
  for (const s of fragments) expect(e.message).toContain(s);
  return e;
}

/** Uncontrolled on metformin at 2020-01-01, then controlled quarterly from 2020-04-01 until `lastControl`. */
function controlledUntil(id: string, lastControl: string, unit: '%' | 'mmol/mol' = '%'): Rec[] {
  const days = ['2020-04-01', '2020-07-01', '2020-10-01', '2021-01-01'];
  const v = (pct: number) => (unit === '%' ? pct : Math.round((pct - 2.152) / 0.09148));
  return [lab(id, '2020-01-01', v(8.2), unit), ...days.map((d) => lab(id, d, v(6.5), unit)), lab(id, lastControl, 6.6)];
}

describe('HbA1c control periods: the definition', () => {
  it('a control period of exactly 365 days makes a responder; 364 days does not', () => {
    const r = run(
      [...controlledUntil('p365', '2021-04-01'), ...controlledUntil('p364', '2021-03-31')],
      [rx('p365', '2020-01-01'), rx('p364', '2020-01-01')],
      [person('p365'), person('p364')],
    );
    const [a, b] = r.rows;
    expect(a!.patient).toBe('p364');
    expect(a!.label).toBe(0);
    expect(a!.longestControlDays).toBe(364);
    expect(b!.patient).toBe('p365');
    expect(b!.label).toBe(1);
    expect(formatDay(b!.indexDay)).toBe('2020-01-01');
    expect(formatDay(b!.controlStart!)).toBe('2020-04-01');
    expect(periodSummary(b!)).toBe('U* 2020-01-01..2020-01-01 0d; C 2020-04-01..2021-04-01 365d');
    expect(r.report).toMatchObject({ eligible: 2, positives: 1, negatives: 1, prevalence: 0.5 });
  });

  it('minControlDays moves the boundary', () => {
    const r = run(controlledUntil('p', '2021-03-31'), [rx('p', '2020-01-01')], [person('p')], { minControlDays: 364 });
    expect(r.rows[0]!.label).toBe(1);
  });

  it('one measurement: no follow-up, so excluded unless minFollowUpDays is 0; a single controlled one is not eligible', () => {
    const labs = [lab('u', '2020-01-01', 8.1), lab('c', '2020-01-01', 6.1)];
    const rxs = [rx('u', '2020-01-01'), rx('c', '2020-01-01')];
    const r1 = run(labs, rxs, [person('u'), person('c')]);
    expect(r1.rows).toHaveLength(0);
    expect(r1.report.excluded).toMatchObject({ insufficientFollowUp: 1, noUncontrolledOnOralDrug: 1 });
    const r2 = run(labs, rxs, [person('u'), person('c')], { minFollowUpDays: 0 });
    expect(r2.rows.map((x) => [x.patient, x.label, x.periods.length])).toEqual([['u', 0, 1]]);
  });

  it('converts mmol/mol (IFCC) and JDS to % NGSP and labels a unit mix like the same values in %', () => {
    expect(hba1cConverter('mmol/mol')!.toNgsp(53)).toBeCloseTo(0.09148 * 53 + 2.152, 10);
    expect(hba1cConverter(' % (NGSP) ')!.kind).toBe('ngsp');
    expect(hba1cConverter('%(JDS)')!.toNgsp(6.0)).toBeCloseTo(6.37, 10);
    // 2020-01-01 in mmol/mol (66 → 8.19 %), controls alternate units.
    const mixed = [
      lab('m', '2020-01-01', 66, 'mmol/mol'),
      lab('m', '2020-04-01', 47, 'mmol/mol'),
      lab('m', '2020-07-01', 6.4, '%'),
      lab('m', '2020-10-01', 48, 'mmol/mol IFCC'),
      lab('m', '2021-01-01', 6.5, '% NGSP'),
      lab('m', '2021-04-01', 6.6, '%'),
    ];
    const r = run(mixed, [rx('m', '2020-01-01')], [person('m')]);
    expect(r.rows[0]!.label).toBe(1);
    expect(r.rows[0]!.features.hba1cLast).toBeCloseTo(0.09148 * 66 + 2.152, 10);
    expect(r.report.hba1c).toMatchObject({ rows: 6, used: 6, fromIfcc: 3 });
  });

  it('averages same-day duplicates (after conversion), which can break a control period', () => {
    const labs = [
      lab('d', '2020-01-01', 8.0),
      lab('d', '2020-04-01', 6.5),
      lab('d', '2020-07-01', 6.5),
      lab('d', '2020-10-01', 6.8),
      lab('d', '2020-10-01', 7.4), // mean 7.1: uncontrolled that day
      lab('d', '2021-01-01', 6.5),
      lab('d', '2021-04-01', 6.5),
    ];
    const r = run(labs, [rx('d', '2020-01-01')], [person('d')]);
    expect(r.report.hba1c.sameDayMerged).toBe(1);
    expect(r.rows[0]!.label).toBe(0);
    expect(periodSummary(r.rows[0]!)).toBe(
      'U* 2020-01-01..2020-01-01 0d; C 2020-04-01..2020-07-01 91d; U 2020-10-01..2020-10-01 0d; C 2021-01-01..2021-04-01 90d',
    );
  });

  it('gives the same rows and the same bytes whatever the input order', () => {
    const labs = [...controlledUntil('a', '2021-04-01'), ...controlledUntil('b', '2021-02-01', 'mmol/mol')];
    const rxs = [
      rx('a', '2020-01-01'),
      rx('b', '2019-06-01', '2020-06-30'),
      rx('b', '2020-07-01', '', 'sglt2_inhibitor'),
    ];
    const pts = [person('b', '1950-05-05', 'M'), person('a')];
    const p = hba1cParamsSchema.parse({});
    const csv = (l: Rec[], x: Rec[], q: Rec[]) => outputCsv(run(l, x, q), p, false);
    const shuffled = <T>(xs: T[], seed: number) =>
      xs
        .map((x, i) => ({ x, k: Math.sin(seed * 1000 + i * 7.1) }))
        .sort((u, v) => u.k - v.k)
        .map((u) => u.x);
    const base = csv(labs, rxs, pts);
    for (const seed of [1, 2, 3])
      expect(csv(shuffled(labs, seed), shuffled(rxs, seed), shuffled(pts, seed))).toBe(base);
    expect(base.split('\n')[0]).toMatch(/^patient_id,index_date,responder,age_at_index,sex,/);
  });

  it('a gap longer than maxGapDays splits a period', () => {
    const labs = [
      lab('g', '2020-01-01', 8.0),
      lab('g', '2020-04-01', 6.5),
      lab('g', '2020-11-01', 6.5), // 214 days after the previous one
      lab('g', '2021-02-01', 6.5),
      lab('g', '2021-06-01', 6.5),
    ];
    const r = run(labs, [rx('g', '2020-01-01')], [person('g')]);
    expect(r.rows[0]!.label).toBe(0);
    expect(r.rows[0]!.periods.map((q) => [q.status, q.lengthDays])).toEqual([
      ['U', 0],
      ['C', 0],
      ['C', 212],
    ]);
    const wide = run(labs, [rx('g', '2020-01-01')], [person('g')], { maxGapDays: 240 });
    expect(wide.rows[0]!.label).toBe(1);
    expect(wide.rows[0]!.longestControlDays).toBe(426);
  });

  it('a control period before any uncontrolled one does not count', () => {
    const labs = [
      lab('e', '2018-01-01', 6.2),
      lab('e', '2018-05-01', 6.4),
      lab('e', '2018-09-01', 6.5),
      lab('e', '2019-01-01', 6.6),
      lab('e', '2019-05-01', 6.8), // 485 days controlled, before the index
      lab('e', '2019-09-01', 7.6),
      lab('e', '2019-12-01', 6.9),
      lab('e', '2020-03-01', 7.2),
      lab('e', '2020-09-01', 7.3),
    ];
    const r = run(labs, [rx('e', '2019-09-01')], [person('e')]);
    const row = r.rows[0]!;
    expect(formatDay(row.indexDay)).toBe('2019-09-01');
    expect(row.indexPeriod).toBe(1);
    expect(row.periods[0]).toMatchObject({ status: 'C', lengthDays: 485 });
    expect(row.label).toBe(0);
    expect(row.longestControlDays).toBe(0);
  });

  it('until-next-uncontrolled measures a period up to the next uncontrolled measurement', () => {
    const labs = [
      lab('n', '2020-01-01', 8.0),
      lab('n', '2020-04-01', 6.5),
      lab('n', '2020-08-01', 6.5),
      lab('n', '2021-01-01', 6.5),
      lab('n', '2021-03-01', 6.9),
      lab('n', '2021-04-01', 7.5), // the next uncontrolled one: 365 days after 2020-04-01
    ];
    const args = [labs, [rx('n', '2020-01-01')], [person('n')]] as const;
    expect(run(...args).rows[0]!.longestControlDays).toBe(334);
    expect(run(...args).rows[0]!.label).toBe(0);
    const un = run(...args, { lengthMode: 'until-next-uncontrolled' }).rows[0]!;
    expect(un.longestControlDays).toBe(365);
    expect(un.label).toBe(1);
    // …but not across a gap longer than maxGapDays.
    const gap = buildPeriods(
      [
        { day: 0, value: 6 },
        { day: 100, value: 6 },
        { day: 300, value: 8 },
      ],
      { threshold: 7, maxGapDays: 180, lengthMode: 'until-next-uncontrolled' },
    );
    expect(gap.periods.map((q) => q.lengthDays)).toEqual([100, 0]);
  });

  it('the index needs an oral drug active that day; insulin alone or a later start does not make one', () => {
    const labs = [
      lab('i', '2020-01-01', 8.0),
      lab('i', '2020-03-01', 8.4),
      lab('i', '2020-06-01', 6.5),
      lab('i', '2020-09-01', 6.5),
      lab('i', '2021-01-01', 6.5),
      lab('i', '2021-06-01', 6.5),
    ];
    const r = run(
      [...labs, ...labs.map((l) => ({ ...l, patient_id: 'ins' }))],
      [rx('i', '2020-02-15', '', 'dpp4_inhibitor'), rx('ins', '2019-01-01', '', 'insulin')],
      [person('i'), person('ins')],
    );
    expect(r.rows.map((x) => [x.patient, formatDay(x.indexDay), x.label])).toEqual([['i', '2020-03-01', 1]]);
    expect(r.report.excluded.noUncontrolledOnOralDrug).toBe(1);
    // A prescription that ended before the uncontrolled measurement is not active.
    const ended = run(labs, [rx('i', '2019-01-01', '2019-12-31')], [person('i')]);
    expect(ended.rows).toHaveLength(0);
  });

  it('the control period must start within the prediction window', () => {
    const labs = [lab('w', '2020-01-01', 8.0), lab('w', '2020-06-01', 7.8), lab('w', '2020-12-01', 7.9)];
    for (const d of ['2021-03-01', '2021-07-01', '2021-11-01', '2022-03-01', '2022-07-01']) labs.push(lab('w', d, 6.5));
    const r = (predictionWindowDays: number) =>
      run(labs, [rx('w', '2020-01-01')], [person('w')], { predictionWindowDays }).rows[0]!;
    expect(r(365).label).toBe(0); // the control starts 425 days after the index
    expect(r(730).label).toBe(1);
  });

  it('computes pre-index features by hand', () => {
    const labs = [
      lab('f', '2018-01-01', 6.0),
      lab('f', '2019-01-01', 6.6),
      lab('f', '2019-12-31', 7.2), // uncontrolled, but no drug yet
      lab('f', '2020-01-01', 8.1), // index (metformin starts this day)
      lab('f', '2019-06-01', 24.3, 'kg/m2', '39156-5'),
      lab('f', '2019-11-01', 55, 'mL/min/1.73m2', '33914-3'),
      lab('f', '2020-02-01', 40, 'mL/min/1.73m2', '33914-3'), // after the index: not a feature
      lab('f', '2020-05-01', 6.4),
      lab('f', '2021-05-01', 6.5),
    ];
    const rxs = [
      rx('f', '2017-06-01', '2017-12-31', 'alpha_glucosidase_inhibitor'),
      rx('f', '2020-01-01', '', 'biguanide'),
      rx('f', '2020-03-01', '', 'sglt2_inhibitor'), // later add-on: not a feature
    ];
    const conds = [
      { patient_id: 'f', onset_date: '2016-07-01', code: 'E11.9' },
      { patient_id: 'f', onset_date: '2015-01-01', code: 'I10' },
      { patient_id: 'f', onset_date: '2021-01-01', code: 'N18.3' },
    ];
    const r = run(labs, rxs, [person('f', '1960-01-01', 'M')], {}, conds).rows[0]!;
    const f = r.features;
    expect(f.ageAtIndex).toBeCloseTo((parseDay('2020-01-01')! - parseDay('1960-01-01')!) / 365.25, 10);
    expect(f.sex).toBe('M');
    expect(f.bmi).toBe(24.3);
    expect(f.egfr).toBe(55);
    expect(f.hba1cLast).toBe(8.1);
    expect(f.hba1cMean).toBeCloseTo((6.0 + 6.6 + 7.2 + 8.1) / 4, 10);
    expect(f.hba1cCount).toBe(4);
    // Least squares by hand: x in years from the mean day.
    const pts = [
      ['2018-01-01', 6.0],
      ['2019-01-01', 6.6],
      ['2019-12-31', 7.2],
      ['2020-01-01', 8.1],
    ] as const;
    const xs = pts.map(([d]) => parseDay(d)! / 365.25);
    const mx = xs.reduce((s, x) => s + x, 0) / 4;
    const my = pts.reduce((s, [, v]) => s + v, 0) / 4;
    const slope =
      xs.reduce((s, x, i) => s + (x - mx) * (pts[i]![1] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
    expect(f.hba1cSlopePerYear).toBeCloseTo(slope, 10);
    expect(f.drugClasses).toEqual(['biguanide']);
    expect(f.drugClassesEver).toBe(2);
    expect(f.prescriptions).toBe(2);
    // First diabetes record: E11 on 2016-07-01 (before the AGI in 2017 and the first HbA1c ≥ 6.5 in 2019).
    expect(f.yearsSinceFirstDiabetesRecord).toBeCloseTo((parseDay('2020-01-01')! - parseDay('2016-07-01')!) / 365.25);
    expect(f.hypertension).toBe(true);
    expect(f.ckd).toBe(false);
    // Strictly before the index: the index-day HbA1c and the metformin started that day are out.
    const strict = run(labs, rxs, [person('f')], { includeIndexDay: false }, conds).rows[0]!.features;
    expect(strict.hba1cLast).toBe(7.2);
    expect(strict.drugClasses).toEqual([]);
    expect(strict.prescriptions).toBe(1);
  });
});

describe('HbA1c control periods: bad input', () => {
  const ok = () => ({ labs: controlledUntil('p', '2021-04-01'), rxs: [rx('p', '2020-01-01')], pts: [person('p')] });

  it('names a missing column, its parameter and the columns there are', () => {
    const { labs, rxs, pts } = ok();
    const p = hba1cParamsSchema.parse({});
    const noUnit = recordsTable('labs', labs, ['patient_id', 'date', 'test_code', 'value']);
    const e = expectError(
      () =>
        labelControlPeriods(
          noUnit,
          recordsTable('prescriptions', rxs, RX_COLS),
          recordsTable('patients', pts, PT_COLS),
          p,
        ),
      'RECIPE_COLUMN_MISSING',
      'the labs table has no column "unit"',
      'labs.unit',
      'patient_id, date, test_code, value',
    );
    expect(e.details).toMatchObject({ role: 'labs', column: 'unit' });
    // The drug code column is not needed for the label.
    const noDrug = rxs.map(({ drug_code: _d, ...rest }) => rest);
    const p2 = labelControlPeriods(
      recordsTable('labs', labs, LAB_COLS),
      recordsTable('prescriptions', noDrug, ['patient_id', 'start_date', 'end_date', 'drug_class']),
      recordsTable('patients', pts, PT_COLS),
      p,
    );
    expect(p2.rows[0]!.label).toBe(1);
    // A mapped name is looked up instead of the default.
    expectError(
      () => run(labs, rxs, pts, { prescriptions: { start: 'rx_start' } }),
      'RECIPE_COLUMN_MISSING',
      '"rx_start"',
    );
  });

  it('names the line, column and value of an unparseable date', () => {
    const { labs, rxs, pts } = ok();
    labs[3] = { ...labs[3]!, date: '2020-13-01' };
    expectError(() => run(labs, rxs, pts), 'RECIPE_BAD_DATE', 'labs line 5', 'column date', '"2020-13-01"');
    expectError(
      () => run(ok().labs, [rx('p', '01.01.2020')], pts),
      'RECIPE_BAD_DATE',
      'prescriptions line 2',
      'start_date',
      '"01.01.2020"',
    );
    expectError(
      () => run(ok().labs, rxs, [person('p', 'unknown')]),
      'RECIPE_BAD_DATE',
      'patients line 2',
      'birth_date',
    );
  });

  it('flags, excludes and counts an HbA1c outside 3–20 %', () => {
    const { labs, rxs, pts } = ok();
    labs.push(
      lab('p', '2020-08-01', 45, '%'),
      lab('p', '2020-08-02', 2.1, '%'),
      lab('p', '2020-08-03', 250, 'mmol/mol'),
    );
    const r = run(labs, rxs, pts);
    expect(r.report.hba1c.outOfRange.count).toBe(3);
    expect(r.report.hba1c.outOfRange.examples[0]).toEqual({
      role: 'labs',
      line: 8,
      patient: 'p',
      value: '45',
      unit: '%',
    });
    expect(r.report.hba1c.used).toBe(6);
    expect(r.rows[0]!.label).toBe(1); // the excluded values did not break the control period
  });

  it('refuses an unknown HbA1c unit, naming it', () => {
    const { labs, rxs, pts } = ok();
    labs[2] = { ...labs[2]!, unit: 'mg/dL' };
    expectError(() => run(labs, rxs, pts), 'RECIPE_UNKNOWN_UNIT', 'labs line 4', '"mg/dL"');
    labs[2] = { ...labs[2]!, unit: '' };
    expectError(() => run(labs, rxs, pts), 'RECIPE_UNKNOWN_UNIT', 'defaultHba1cUnit');
    expect(run(labs, rxs, pts, { defaultHba1cUnit: '%' }).rows[0]!.label).toBe(1);
  });

  it('refuses a patient missing from the patient table, or excludes and counts them when asked', () => {
    const { labs, rxs, pts } = ok();
    labs.push(lab('ghost', '2020-01-01', 8.0));
    expectError(() => run(labs, rxs, pts), 'RECIPE_UNKNOWN_PATIENT', 'labs line 8', '"ghost"', 'unknownPatients');
    const r = run(labs, rxs, pts, { unknownPatients: 'exclude' });
    expect(r.report.excluded.unknownPatientRows).toBe(1);
    expect(r.rows.map((x) => x.patient)).toEqual(['p']);
  });

  it('refuses a duplicated patient row', () => {
    const { labs, rxs } = ok();
    expectError(() => run(labs, rxs, [person('p'), person('p')]), 'RECIPE_DUPLICATE_PATIENT', 'patients line 3');
  });
});

describe('HbA1c control periods: no leakage', () => {
  const DAY0 = parseDay('2015-01-01')!;
  const history = fc.record({
    labs: fc.array(
      fc.record({
        day: fc.integer({ min: 0, max: 2500 }),
        value: fc.integer({ min: 50, max: 110 }),
        kind: fc.constantFrom('4548-4', '4548-4', '4548-4', '33914-3', '39156-5'),
      }),
      { minLength: 2, maxLength: 25 },
    ),
    rx: fc.array(
      fc.record({
        start: fc.integer({ min: 0, max: 2500 }),
        len: fc.option(fc.integer({ min: 0, max: 1500 })),
        cls: fc.constantFrom('biguanide', 'dpp4_inhibitor', 'sglt2_inhibitor', 'insulin'),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    shift: fc.integer({ min: 1, max: 400 }),
    delta: fc.integer({ min: -30, max: 30 }),
  });

  it('perturbing data after the index date never changes a feature', () => {
    fc.assert(
      fc.property(history, (h) => {
        const d = (n: number) => formatDay(DAY0 + n);
        const labs = h.labs.map((l) => lab('x', d(l.day), l.value / 10, l.kind === '39156-5' ? 'kg/m2' : '%', l.kind));
        const rxs = h.rx.map((r) => rx('x', d(r.start), r.len === null ? '' : d(r.start + r.len), r.cls));
        const params = { minFollowUpDays: 0 };
        const base = run(labs, rxs, [person('x', '1955-03-03')], params).rows[0];
        if (!base) return; // not eligible
        const idx = base.indexDay - DAY0;
        // Change every value after the index, move those rows later, add new post-index labs and prescriptions,
        // and move post-index prescription ends.
        const labs2 = h.labs.map((l) =>
          l.day > idx
            ? lab('x', d(l.day + h.shift), (l.value + h.delta) / 10, l.kind === '39156-5' ? 'kg/m2' : '%', l.kind)
            : lab('x', d(l.day), l.value / 10, l.kind === '39156-5' ? 'kg/m2' : '%', l.kind),
        );
        labs2.push(lab('x', d(idx + 1), 5.5), lab('x', d(idx + 2), 30, 'mL/min/1.73m2', '33914-3'));
        const rxs2 = h.rx.map((r) => {
          if (r.start > idx) return rx('x', d(r.start + h.shift), '', 'thiazolidinedione');
          const end = r.len === null ? null : r.start + r.len;
          return rx('x', d(r.start), end !== null && end > idx ? d(end + h.shift) : end === null ? '' : d(end), r.cls);
        });
        rxs2.push(rx('x', d(idx + 1), '', 'sulfonylurea'));
        const after = run(labs2, rxs2, [person('x', '1955-03-03')], params).rows[0];
        expect(after).toBeDefined();
        expect(after!.indexDay).toBe(base.indexDay);
        expect(after!.features).toEqual(base.features);
      }),
      { numRuns: 300, seed: 20260101 },
    );
  });
});

describe('parseDay', () => {
  it('reads the date forms of DWH extracts and Arrow, and rejects impossible dates', () => {
    const d = parseDay('2020-02-29')!;
    expect(parseDay('2020/02/29')).toBe(d);
    expect(parseDay('20200229')).toBe(d);
    expect(parseDay('2020-2-29')).toBe(d);
    expect(parseDay('2020-02-29 13:45:00')).toBe(d);
    expect(parseDay(d * 86_400_000 + 3_600_000)).toBe(d);
    expect(parseDay('2021-02-29')).toBeUndefined();
    expect(parseDay('29/02/2020')).toBeUndefined();
    expect(parseDay('')).toBeNull();
    expect(parseDay(null)).toBeNull();
  });
});
