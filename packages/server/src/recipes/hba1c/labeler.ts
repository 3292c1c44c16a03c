// The HbA1c control-period labeler: a pure function from a long lab table, prescriptions and patients to one row
// per eligible patient (label, index date, explainable periods, pre-index features) and a report of what it did.
//
// Definition (docs/diabetes-study.md): HbA1c < threshold is controlled, ≥ threshold uncontrolled. A period is a
// maximal run of same-status daily measurements whose gaps are ≤ maxGapDays. The index date is the first
// uncontrolled measurement taken while an oral hypoglycemic prescription is active. A responder has a control period
// that starts after the index date, within the prediction window, and lasts ≥ minControlDays. Features use only data
// dated up to the index date (or strictly before it), so nothing after the index can change them.
import { recipeInputError, csvLine, formatDay, idText, parseDay, parseNumber, type InputTable } from '../table.js';
import type { Hba1cParams } from './params.js';

export type Status = 'C' | 'U';

export interface Period {
  status: Status;
  /** First measurement day (days since 1970-01-01). */
  start: number;
  /** Last measurement day inside the period. */
  last: number;
  /** End used for the length: `last`, or the next other-status measurement (until-next-uncontrolled mode). */
  end: number;
  measurements: number;
  lengthDays: number;
}

export interface PatientFeatures {
  ageAtIndex: number | null;
  sex: string | null;
  bmi: number | null;
  hba1cLast: number | null;
  hba1cMean: number | null;
  hba1cCount: number;
  hba1cSlopePerYear: number | null;
  egfr: number | null;
  /** Oral classes active on the last feature day (the index day, or the day before), sorted. */
  drugClasses: string[];
  /** Distinct oral classes ever prescribed up to the last feature day. */
  drugClassesEver: number;
  /** Prescriptions (any class) started up to the last feature day. */
  prescriptions: number;
  yearsSinceFirstDiabetesRecord: number | null;
  /** Only when a conditions table is given. */
  ckd: boolean | null;
  hypertension: boolean | null;
}

export interface LabeledPatient {
  patient: string;
  indexDay: number;
  label: 0 | 1;
  periods: Period[];
  /** Position of the index period in `periods`. */
  indexPeriod: number;
  /** The first qualifying control period's start (responders). */
  controlStart: number | null;
  /** The longest control period starting inside the prediction window (0 if none). */
  longestControlDays: number;
  features: PatientFeatures;
}

export interface RowExample {
  role: string;
  line: number;
  patient: string | null;
  value: string;
  unit?: string;
}

export interface LabelReport {
  patients: number;
  patientsWithHba1c: number;
  eligible: number;
  positives: number;
  negatives: number;
  prevalence: number | null;
  excluded: {
    noHba1c: number;
    noUncontrolledOnOralDrug: number;
    insufficientFollowUp: number;
    unknownPatientRows: number;
  };
  hba1c: {
    rows: number;
    used: number;
    fromIfcc: number;
    fromJds: number;
    sameDayMerged: number;
    outOfRange: { count: number; examples: RowExample[] };
    unparseable: { count: number; examples: RowExample[] };
  };
  /** Output columns that describe the outcome (after the index date): never use them as features. */
  outcomeColumns: string[];
}

export interface LabelResult {
  rows: LabeledPatient[];
  report: LabelReport;
}

interface Measurement {
  day: number;
  value: number;
}

interface Rx {
  start: number;
  end: number | null;
  drugClass: string;
}

const MAX_EXAMPLES = 5;
const norm = (s: string) => s.trim().toLowerCase();

/** HbA1c unit → conversion to % NGSP, or undefined for a unit this labeler does not know. */
export function hba1cConverter(
  unit: string,
): { kind: 'ngsp' | 'ifcc' | 'jds'; toNgsp: (v: number) => number } | undefined {
  const u = unit.toLowerCase().replace(/[\s()（）［］[\]]/g, '');
  if (['%', '%ngsp', 'ngsp', 'ngsp%', 'percent'].includes(u)) return { kind: 'ngsp', toNgsp: (v) => v };
  if (['mmol/mol', 'mmol/molifcc', 'ifcc', 'ifccmmol/mol'].includes(u))
    return { kind: 'ifcc', toNgsp: (v) => 0.09148 * v + 2.152 };
  // Japan before 2012 reported JDS values; the JDS/NGSP committee's formula.
  if (['%jds', 'jds', 'jds%'].includes(u)) return { kind: 'jds', toNgsp: (v) => 1.02 * v + 0.25 };
  return undefined;
}

function requireColumns(t: InputTable, cols: Record<string, string>, paramPrefix: string): void {
  for (const [key, name] of Object.entries(cols)) {
    if (!t.columns.includes(name)) {
      throw recipeInputError(
        'RECIPE_COLUMN_MISSING',
        `the ${t.role} table has no column "${name}" (parameter ${paramPrefix}.${key}); its columns are: ${t.columns.join(', ')}`,
        { role: t.role, column: name, parameter: `${paramPrefix}.${key}`, columns: [...t.columns] },
      );
    }
  }
}

function badDate(t: InputTable, column: string, row: number, value: unknown) {
  return recipeInputError(
    'RECIPE_BAD_DATE',
    `${t.role} line ${csvLine(row)}: column ${column} has "${String(value)}", which is not a date (use YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)`,
    { role: t.role, column, line: csvLine(row), value: String(value) },
  );
}

// Extracts repeat the same date texts many times: parse each distinct text once (per process, bounded).
const dayMemo = new Map<string, number | null | undefined>();
function memoDay(v: unknown): number | null | undefined {
  if (typeof v !== 'string') return parseDay(v);
  if (dayMemo.has(v)) return dayMemo.get(v);
  const d = parseDay(v);
  if (dayMemo.size > 100_000) dayMemo.clear();
  dayMemo.set(v, d);
  return d;
}

function dayAt(
  t: InputTable,
  column: string,
  values: readonly unknown[],
  row: number,
  required: boolean,
): number | null {
  const d = memoDay(values[row]);
  if (d === undefined) throw badDate(t, column, row, values[row]);
  if (d === null && required)
    throw recipeInputError('RECIPE_MISSING_VALUE', `${t.role} line ${csvLine(row)}: column ${column} is empty`, {
      role: t.role,
      column,
      line: csvLine(row),
    });
  return d;
}

function pushTo<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/** Splits daily measurements into periods (see the module comment). */
export function buildPeriods(
  daily: readonly Measurement[],
  p: Pick<Hba1cParams, 'threshold' | 'maxGapDays' | 'lengthMode'>,
): { periods: Period[]; periodOf: Int32Array } {
  const periods: Period[] = [];
  const periodOf = new Int32Array(daily.length);
  let cur: Period | null = null;
  const close = (next: Measurement | undefined) => {
    if (!cur) return;
    cur.end = cur.last;
    if (p.lengthMode === 'until-next-uncontrolled' && next && next.day - cur.last <= p.maxGapDays) cur.end = next.day;
    cur.lengthDays = cur.end - cur.start;
    periods.push(cur);
  };
  for (let i = 0; i < daily.length; i++) {
    const m = daily[i]!;
    const status: Status = m.value < p.threshold ? 'C' : 'U';
    if (cur && cur.status === status && m.day - cur.last <= p.maxGapDays) {
      cur.last = m.day;
      cur.measurements++;
    } else {
      close(m);
      cur = { status, start: m.day, last: m.day, end: m.day, measurements: 1, lengthDays: 0 };
    }
    periodOf[i] = periods.length;
  }
  close(undefined);
  return { periods, periodOf };
}

/** Mean and least-squares slope per year of (day, value) points; slope needs two distinct days. */
function meanAndSlope(points: readonly Measurement[]): { mean: number | null; slope: number | null } {
  const n = points.length;
  if (n === 0) return { mean: null, slope: null };
  let sx = 0;
  let sy = 0;
  for (const q of points) {
    sx += q.day;
    sy += q.value;
  }
  const mx = sx / n;
  const my = sy / n;
  if (n < 2) return { mean: my, slope: null };
  let sxx = 0;
  let sxy = 0;
  for (const q of points) {
    const dx = (q.day - mx) / 365.25;
    sxx += dx * dx;
    sxy += dx * (q.value - my);
  }
  return { mean: my, slope: sxx > 0 ? sxy / sxx : null };
}

/**
 * Labels every eligible patient. Throws a 422 AppError naming the table, column, line and value for input it cannot
 * use (missing column, unparseable date, unknown HbA1c unit, unknown patient unless excluded by the parameters).
 */
export function labelControlPeriods(
  labs: InputTable,
  prescriptions: InputTable,
  patients: InputTable,
  params: Hba1cParams,
  conditions?: InputTable,
): LabelResult {
  requireColumns(labs, params.labs, 'labs');
  // The drug code column is part of the mapping but not needed for the label (classes are): not required.
  const { drug: _drug, ...rxColumns } = params.prescriptions;
  requireColumns(prescriptions, rxColumns, 'prescriptions');
  requireColumns(patients, params.patients, 'patients');
  if (conditions) requireColumns(conditions, params.conditions, 'conditions');

  // ---- patients
  const birth = new Map<string, { birthDay: number | null; sex: string | null }>();
  {
    const ids = patients.column(params.patients.patient);
    const births = patients.column(params.patients.birthDate);
    const sexes = patients.column(params.patients.sex);
    for (let i = 0; i < patients.rowCount; i++) {
      const id = idText(ids[i]);
      if (id === null)
        throw recipeInputError(
          'RECIPE_MISSING_VALUE',
          `patients line ${csvLine(i)}: column ${params.patients.patient} is empty`,
          { role: 'patients', line: csvLine(i) },
        );
      if (birth.has(id))
        throw recipeInputError(
          'RECIPE_DUPLICATE_PATIENT',
          `patients line ${csvLine(i)}: patient ${id} appears twice in the patient table`,
          { role: 'patients', line: csvLine(i), patient: id },
        );
      birth.set(id, {
        birthDay: dayAt(patients, params.patients.birthDate, births, i, false),
        sex: idText(sexes[i]),
      });
    }
  }

  let unknownPatientRows = 0;
  const known = (t: InputTable, column: string, id: string, row: number): boolean => {
    if (birth.has(id)) return true;
    if (params.unknownPatients === 'exclude') {
      unknownPatientRows++;
      return false;
    }
    throw recipeInputError(
      'RECIPE_UNKNOWN_PATIENT',
      `${t.role} line ${csvLine(row)}: patient "${id}" (column ${column}) is not in the patient table; fix the extract or set unknownPatients=exclude`,
      { role: t.role, line: csvLine(row), patient: id },
    );
  };
  const idAt = (t: InputTable, column: string, values: readonly unknown[], row: number): string => {
    const id = idText(values[row]);
    if (id === null)
      throw recipeInputError('RECIPE_MISSING_VALUE', `${t.role} line ${csvLine(row)}: column ${column} is empty`, {
        role: t.role,
        column,
        line: csvLine(row),
      });
    return id;
  };

  // ---- labs
  const codeSet = (codes: readonly string[]) => new Set(codes.map(norm));
  const hba1cCodes = codeSet(params.hba1cCodes);
  const egfrCodes = codeSet(params.egfrCodes);
  const bmiCodes = codeSet(params.bmiCodes);
  const hba1cRaw = new Map<string, Measurement[]>();
  const egfr = new Map<string, Measurement[]>();
  const bmi = new Map<string, Measurement[]>();
  const hb: LabelReport['hba1c'] = {
    rows: 0,
    used: 0,
    fromIfcc: 0,
    fromJds: 0,
    sameDayMerged: 0,
    outOfRange: { count: 0, examples: [] },
    unparseable: { count: 0, examples: [] },
  };
  {
    const L = params.labs;
    const ids = labs.column(L.patient);
    const dates = labs.column(L.date);
    const tests = labs.column(L.test);
    const values = labs.column(L.value);
    const units = labs.column(L.unit);
    const kindOf = new Map<string, 'hba1c' | 'egfr' | 'bmi' | null>();
    for (let i = 0; i < labs.rowCount; i++) {
      const test = tests[i];
      if (test === null || test === undefined) continue;
      const text = String(test);
      let kind = kindOf.get(text);
      if (kind === undefined) {
        const code = norm(text);
        kind = hba1cCodes.has(code) ? 'hba1c' : egfrCodes.has(code) ? 'egfr' : bmiCodes.has(code) ? 'bmi' : null;
        kindOf.set(text, kind);
      }
      if (!kind) continue;
      const id = idAt(labs, L.patient, ids, i);
      if (kind === 'hba1c') hb.rows++;
      if (!known(labs, L.patient, id, i)) continue;
      const day = dayAt(labs, L.date, dates, i, true)!;
      const raw = values[i];
      const v = parseNumber(raw);
      if (kind !== 'hba1c') {
        if (v !== null && v !== undefined) pushTo(kind === 'egfr' ? egfr : bmi, id, { day, value: v });
        continue;
      }
      const unitCell = idText(units[i]);
      const example = (): RowExample => ({
        role: labs.role,
        line: csvLine(i),
        patient: id,
        value: String(raw),
        unit: unitCell ?? '',
      });
      if (v === null || v === undefined) {
        hb.unparseable.count++;
        if (hb.unparseable.examples.length < MAX_EXAMPLES) hb.unparseable.examples.push(example());
        continue;
      }
      const unit = unitCell ?? params.defaultHba1cUnit;
      const conv = unit === null ? undefined : hba1cConverter(unit);
      if (!conv)
        throw recipeInputError(
          'RECIPE_UNKNOWN_UNIT',
          `labs line ${csvLine(i)}: HbA1c unit "${unitCell ?? ''}" (column ${L.unit}, value ${String(raw)}) is not % (NGSP), mmol/mol (IFCC) or % (JDS)` +
            (unitCell === null ? '; set defaultHba1cUnit to assume one for empty units' : ''),
          { role: 'labs', line: csvLine(i), column: L.unit, unit: unitCell ?? '', value: String(raw) },
        );
      const ngsp = conv.toNgsp(v);
      if (!(ngsp >= params.hba1cMin && ngsp <= params.hba1cMax)) {
        hb.outOfRange.count++;
        if (hb.outOfRange.examples.length < MAX_EXAMPLES) hb.outOfRange.examples.push(example());
        continue;
      }
      if (conv.kind === 'ifcc') hb.fromIfcc++;
      if (conv.kind === 'jds') hb.fromJds++;
      hb.used++;
      pushTo(hba1cRaw, id, { day, value: ngsp });
    }
  }

  // ---- prescriptions
  const oral = codeSet(params.oralClasses);
  const rxBy = new Map<string, Rx[]>();
  {
    const P = params.prescriptions;
    const ids = prescriptions.column(P.patient);
    const starts = prescriptions.column(P.start);
    const ends = prescriptions.column(P.end);
    const classes = prescriptions.column(P.drugClass);
    for (let i = 0; i < prescriptions.rowCount; i++) {
      const id = idAt(prescriptions, P.patient, ids, i);
      if (!known(prescriptions, P.patient, id, i)) continue;
      const start = dayAt(prescriptions, P.start, starts, i, true)!;
      const end = dayAt(prescriptions, P.end, ends, i, false);
      pushTo(rxBy, id, { start, end, drugClass: norm(String(classes[i] ?? '')) });
    }
  }

  // ---- conditions (optional)
  const condBy = new Map<string, { day: number; code: string }[]>();
  if (conditions) {
    const C = params.conditions;
    const ids = conditions.column(C.patient);
    const dates = conditions.column(C.date);
    const codes = conditions.column(C.code);
    for (let i = 0; i < conditions.rowCount; i++) {
      const id = idAt(conditions, C.patient, ids, i);
      if (!known(conditions, C.patient, id, i)) continue;
      const day = dayAt(conditions, C.date, dates, i, false);
      if (day === null) continue;
      pushTo(condBy, id, {
        day,
        code: String(codes[i] ?? '')
          .trim()
          .toUpperCase(),
      });
    }
  }
  const diabetesPrefixes = params.diabetesCodePrefixes.map((c) => c.toUpperCase());

  // ---- per patient, in a fixed order (byte-stable output)
  const rows: LabeledPatient[] = [];
  const excluded = { noHba1c: 0, noUncontrolledOnOralDrug: 0, insufficientFollowUp: 0, unknownPatientRows: 0 };
  const ids = [...birth.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let withHba1c = 0;
  for (const id of ids) {
    const raw = hba1cRaw.get(id);
    if (!raw || raw.length === 0) {
      excluded.noHba1c++;
      continue;
    }
    withHba1c++;
    // One value per day: same-day duplicates are averaged (in % NGSP, after conversion).
    raw.sort((a, b) => a.day - b.day);
    const daily: Measurement[] = [];
    for (let i = 0; i < raw.length;) {
      let j = i;
      let s = 0;
      while (j < raw.length && raw[j]!.day === raw[i]!.day) s += raw[j++]!.value;
      if (j - i > 1) hb.sameDayMerged += j - i - 1;
      daily.push({ day: raw[i]!.day, value: s / (j - i) });
      i = j;
    }
    const { periods, periodOf } = buildPeriods(daily, params);
    const rx = (rxBy.get(id) ?? []).slice().sort((a, b) => a.start - b.start || (a.end ?? 1e9) - (b.end ?? 1e9));
    const oralActive = (day: number) =>
      rx.some((r) => oral.has(r.drugClass) && r.start <= day && (r.end === null || r.end >= day));

    let indexDay = -1;
    let indexPeriod = -1;
    for (let i = 0; i < daily.length; i++) {
      const m = daily[i]!;
      if (m.value >= params.threshold && oralActive(m.day)) {
        indexDay = m.day;
        indexPeriod = periodOf[i]!;
        break;
      }
    }
    if (indexPeriod < 0) {
      excluded.noUncontrolledOnOralDrug++;
      continue;
    }

    let controlStart: number | null = null;
    let longest = 0;
    for (const per of periods) {
      if (per.status !== 'C' || per.start <= indexDay || per.start > indexDay + params.predictionWindowDays) continue;
      longest = Math.max(longest, per.lengthDays);
      if (controlStart === null && per.lengthDays >= params.minControlDays) controlStart = per.start;
    }
    const label: 0 | 1 = controlStart !== null ? 1 : 0;
    if (label === 0 && daily[daily.length - 1]!.day - indexDay < params.minFollowUpDays) {
      excluded.insufficientFollowUp++;
      continue;
    }

    // ---- features: nothing dated after featureEnd is read below.
    const featureEnd = params.includeIndexDay ? indexDay : indexDay - 1;
    const before = (xs: readonly Measurement[] | undefined) => (xs ?? []).filter((q) => q.day <= featureEnd);
    const lastOf = (xs: readonly Measurement[]) => {
      let best: Measurement | null = null;
      for (const q of xs) if (!best || q.day >= best.day) best = q;
      return best?.value ?? null;
    };
    const hbBefore = daily.filter((q) => q.day <= featureEnd);
    const { mean, slope } = meanAndSlope(hbBefore);
    const rxBefore = rx.filter((r) => r.start <= featureEnd);
    const active = [
      ...new Set(
        rxBefore
          .filter((r) => oral.has(r.drugClass) && (r.end === null || r.end >= featureEnd))
          .map((r) => r.drugClass),
      ),
    ].sort();
    const ever = new Set(rxBefore.filter((r) => oral.has(r.drugClass)).map((r) => r.drugClass));
    const conds = (condBy.get(id) ?? []).filter((c) => c.day <= featureEnd);
    const firstRecord = Math.min(
      ...hbBefore.filter((q) => q.value >= params.diagnosticHba1c).map((q) => q.day),
      ...rxBefore.filter((r) => oral.has(r.drugClass)).map((r) => r.start),
      ...conds.filter((c) => diabetesPrefixes.some((pre) => c.code.startsWith(pre))).map((c) => c.day),
    );
    const person = birth.get(id)!;
    rows.push({
      patient: id,
      indexDay,
      label,
      periods,
      indexPeriod,
      controlStart,
      longestControlDays: longest,
      features: {
        ageAtIndex: person.birthDay === null ? null : (indexDay - person.birthDay) / 365.25,
        sex: person.sex,
        bmi: lastOf(before(bmi.get(id))),
        hba1cLast: lastOf(hbBefore),
        hba1cMean: mean,
        hba1cCount: hbBefore.length,
        hba1cSlopePerYear: slope,
        egfr: lastOf(before(egfr.get(id))),
        drugClasses: active,
        drugClassesEver: ever.size,
        prescriptions: rxBefore.length,
        yearsSinceFirstDiabetesRecord: Number.isFinite(firstRecord) ? (featureEnd - firstRecord) / 365.25 : null,
        ckd: conditions ? conds.some((c) => c.code.startsWith('N18')) : null,
        hypertension: conditions ? conds.some((c) => c.code.startsWith('I10')) : null,
      },
    });
  }
  excluded.unknownPatientRows = unknownPatientRows;
  const positives = rows.filter((r) => r.label === 1).length;
  return {
    rows,
    report: {
      patients: birth.size,
      patientsWithHba1c: withHba1c,
      eligible: rows.length,
      positives,
      negatives: rows.length - positives,
      prevalence: rows.length ? positives / rows.length : null,
      excluded,
      hba1c: hb,
      outcomeColumns: OUTCOME_COLUMNS,
    },
  };
}

export const OUTCOME_COLUMNS = ['outcome_periods', 'outcome_control_start', 'outcome_longest_control_days'];

/** `U* 2020-01-10..2020-06-02 143d; C 2020-09-01..2021-10-01 395d` — the index period carries a star. */
export function periodSummary(r: LabeledPatient): string {
  return r.periods
    .map(
      (p, i) =>
        `${p.status}${i === r.indexPeriod ? '*' : ''} ${formatDay(p.start)}..${formatDay(p.end)} ${p.lengthDays}d`,
    )
    .join('; ');
}
