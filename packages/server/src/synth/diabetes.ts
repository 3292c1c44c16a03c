// A synthetic diabetes EHR with a known response mechanism: patients start oral hypoglycemic drugs when HbA1c is
// uncontrolled, and respond (lasting control) with a probability set by documented baseline factors (ground truth).
// Realistic enough to exercise the labeler and the platform: irregular visits, noise, drug switches and add-ons,
// mixed HbA1c units, same-day duplicates, implausible values, comorbidities, HBV serology and immunosuppressant orders.
import { formatDay, parseDay } from '../recipes/table.js';
import { clamp, Rng, sigmoid } from './rng.js';

export interface SynthOptions {
  patients: number;
  seed: number;
}

export interface Drug {
  code: string; // ATC
  name: string; // Japanese generic name, as a Japanese DWH holds it
  drugClass: string;
}

export const ORAL_DRUGS: Record<string, Drug> = {
  biguanide: { code: 'A10BA02', name: 'メトホルミン', drugClass: 'biguanide' },
  dpp4_inhibitor: { code: 'A10BH01', name: 'シタグリプチン', drugClass: 'dpp4_inhibitor' },
  sglt2_inhibitor: { code: 'A10BK03', name: 'エンパグリフロジン', drugClass: 'sglt2_inhibitor' },
  sulfonylurea: { code: 'A10BB12', name: 'グリメピリド', drugClass: 'sulfonylurea' },
  glinide: { code: 'A10BX02', name: 'レパグリニド', drugClass: 'glinide' },
  alpha_glucosidase_inhibitor: { code: 'A10BF03', name: 'ボグリボース', drugClass: 'alpha_glucosidase_inhibitor' },
  thiazolidinedione: { code: 'A10BG03', name: 'ピオグリタゾン', drugClass: 'thiazolidinedione' },
};
const INSULIN: Drug = { code: 'A10AE04', name: 'インスリングラルギン', drugClass: 'insulin' };
const IMMUNO: Drug[] = [
  { code: 'L04AX03', name: 'メトトレキサート', drugClass: 'immunosuppressant' },
  { code: 'H02AB06', name: 'プレドニゾロン', drugClass: 'immunosuppressant' },
  { code: 'L01FA01', name: 'リツキシマブ', drugClass: 'chemotherapy' },
  { code: 'L01AA01', name: 'シクロホスファミド', drugClass: 'chemotherapy' },
];

/**
 * The ground truth: log-odds of lasting control after starting the first oral drug. Every term is observable
 * before or at the index date except `adherence` (hidden), which caps the achievable AUC below 1.
 */
export const FIRST_DRUG_EFFECT: Record<string, number> = {
  biguanide: 0.3,
  dpp4_inhibitor: 0.1,
  sglt2_inhibitor: 0.45,
  sulfonylurea: 0,
  glinide: -0.3,
  alpha_glucosidase_inhibitor: -0.4,
  thiazolidinedione: 0,
};
export function responseLogit(x: {
  hba1c: number;
  bmi: number;
  age: number;
  egfr: number;
  yearsKnown: number;
  firstDrug: string;
  adherence: number;
}): number {
  return (
    0.6 -
    1.0 * (x.hba1c - 8.2) -
    0.08 * (x.bmi - 25) +
    0.03 * (x.age - 60) +
    0.015 * (x.egfr - 80) -
    0.25 * x.yearsKnown +
    (FIRST_DRUG_EFFECT[x.firstDrug] ?? 0) +
    0.6 * x.adherence
  );
}

export const TESTS = {
  hba1cPct: { code: '4548-4', name: 'HbA1c(NGSP)', unit: '%' },
  hba1cIfcc: { code: '59261-8', name: 'HbA1c(IFCC)', unit: 'mmol/mol' },
  egfr: { code: '33914-3', name: 'eGFR', unit: 'mL/min/1.73m2' },
  bmi: { code: '39156-5', name: 'BMI', unit: 'kg/m2' },
  hbsag: { code: '5196-1', name: 'HBs抗原', unit: 'IU/mL' },
  antiHbc: { code: '13952-7', name: 'HBc抗体', unit: 'S/CO' },
} as const;
export type TestKind = keyof typeof TESTS;

export interface LabRow {
  day: number;
  test: TestKind;
  value: string;
}
export interface RxRow {
  start: number;
  end: number | null;
  drug: Drug;
}
export interface ConditionRow {
  day: number;
  code: string;
  name: string;
}

export interface SynthPatient {
  id: string;
  sex: 'M' | 'F';
  birthDay: number;
  labs: LabRow[];
  prescriptions: RxRow[];
  conditions: ConditionRow[];
  truth: { pResponse: number; responder: boolean; firstDrug: string; indexDay: number };
}

const FIRST = parseDay('2012-01-01')!;
const LAST_DX = parseDay('2019-06-30')!;
const DATA_END = parseDay('2024-12-31')!;
const SGLT2_FROM = parseDay('2014-05-01')!;

const pct = (v: number) => (Math.round(v * 10) / 10).toFixed(1);

/** One patient's whole history; depends only on (seed, index). */
export function synthPatient(seed: number, index: number): SynthPatient {
  const r = new Rng(seed, index);
  const id = `P${String(index + 1).padStart(6, '0')}`;
  const sex = r.chance(0.6) ? 'M' : 'F';
  const dx = Math.floor(r.uniform(FIRST, LAST_DX));
  const ageDx = clamp(r.normal(60, 11), 30, 88);
  const birthDay = Math.floor(dx - ageDx * 365.25 - r.uniform(0, 365));
  const bmi0 = clamp(r.normal(sex === 'M' ? 25.8 : 24.6, 4), 16.5, 45);
  const ckd = r.chance(clamp(0.06 + 0.005 * (ageDx - 50), 0.03, 0.3));
  const htn = r.chance(0.45);
  const egfr0 = ckd ? r.uniform(25, 59) : clamp(r.normal(100 - 0.7 * (ageDx - 40), 12), 60, 125);
  const adherence = r.normal(0, 1);
  const hba1cDx = clamp(7.4 + r.exponential(1.2), 7.4, 13.5);
  const labs: LabRow[] = [];
  const prescriptions: RxRow[] = [];
  const conditions: ConditionRow[] = [];
  const ifccFrom = r.chance(0.15) ? dx + r.int(-400, 1500) : Infinity; // a lab that reports mmol/mol from then on
  const hba1c = (day: number, v: number) => {
    if (day > DATA_END) return;
    let value = v + r.normal(0, 0.18);
    if (r.chance(0.001)) value *= 10; // a transcription slip: implausible, must be flagged
    const ifcc = day >= ifccFrom;
    labs.push({
      day,
      test: ifcc ? 'hba1cIfcc' : 'hba1cPct',
      value: ifcc ? String(Math.round((value - 2.152) / 0.09148)) : pct(value),
    });
    if (r.chance(0.01)) labs.push({ day, test: 'hba1cPct', value: pct(v + r.normal(0, 0.18)) }); // re-test, same day
  };

  // Before the diagnosis: some have controlled, pre-diabetic values (a control period before any uncontrolled one).
  let yearsKnown = 0;
  if (r.chance(0.5)) {
    const n = r.int(1, 5);
    const first = dx - r.int(200, 1400);
    yearsKnown = (dx - first) / 365.25;
    for (let k = 0; k < n; k++) hba1c(Math.floor(first + ((dx - 30 - first) * k) / n), r.uniform(6.0, 6.9));
  }
  if (r.chance(0.9)) conditions.push({ day: dx, code: 'E11.9', name: '2型糖尿病' });
  if (htn) conditions.push({ day: dx - r.int(0, 3000), code: 'I10', name: '本態性高血圧症' });
  if (ckd) conditions.push({ day: dx + r.int(-1500, 600), code: 'N18.3', name: '慢性腎臓病' });

  const classes = Object.keys(ORAL_DRUGS);
  const firstDrug = r.pick(
    ['biguanide', 'dpp4_inhibitor', 'sglt2_inhibitor', 'sulfonylurea', 'alpha_glucosidase_inhibitor', 'glinide'],
    [0.42, 0.33, dx >= SGLT2_FROM ? 0.14 : 0, 0.05, 0.04, 0.02],
  );
  const logit = responseLogit({
    hba1c: hba1cDx,
    bmi: bmi0,
    age: ageDx,
    egfr: egfr0,
    yearsKnown,
    firstDrug,
    adherence,
  });
  const pResponse = sigmoid(logit);
  const responder = r.chance(pResponse);

  // Follow-up: visits every 1–5 months, sometimes a long absence; ends at drop-out or the end of the extract.
  const end = Math.min(DATA_END, dx + Math.floor(r.uniform(2.2, 9) * 365));
  const visits: number[] = [dx];
  for (let d = dx; ;) {
    d += r.chance(0.025) ? r.int(200, 420) : Math.floor(clamp(28 + r.exponential(45), 28, 150));
    if (d > end) break;
    visits.push(d);
  }
  // Trajectory: responders reach a controlled level and hold it for a long time; others improve only partly,
  // sometimes dipping below the threshold briefly; add-ons and switches follow for those not at goal.
  const reach = r.uniform(60, 240);
  const ctrl = clamp(r.normal(6.3, 0.2), 5.6, 6.6);
  const hold = responder ? 420 + r.exponential(900) : 0;
  const partial = clamp(hba1cDx - r.uniform(0.3, 1.4), 7.25, 12);
  const dip = !responder && r.chance(0.35) ? { from: r.int(150, 600), len: r.int(60, 280) } : null;
  const relapse = clamp(r.normal(7.6, 0.3), 7.2, 8.8);
  const level = (t: number): number => {
    if (responder) {
      if (t < reach) return hba1cDx + ((ctrl - hba1cDx) * t) / reach;
      if (t < reach + hold) return ctrl;
      return relapse;
    }
    if (dip && t >= dip.from && t < dip.from + dip.len) return 6.6;
    return t < reach ? hba1cDx + ((partial - hba1cDx) * t) / reach : partial;
  };

  const first = ORAL_DRUGS[firstDrug]!;
  const rx1: RxRow = { start: dx, end: null, drug: first };
  prescriptions.push(rx1);
  if (!responder) {
    const addDay = dx + r.int(150, 420);
    if (addDay < end) {
      const other = r.pick(classes.filter((c) => c !== firstDrug));
      if (r.chance(0.3)) rx1.end = addDay - 1; // a switch
      prescriptions.push({ start: addDay, end: null, drug: ORAL_DRUGS[other]! });
      if (r.chance(0.15) && addDay + 400 < end)
        prescriptions.push({ start: addDay + r.int(300, 700), end: null, drug: INSULIN });
    }
  } else if (reach + hold < end - dx && r.chance(0.5)) {
    prescriptions.push({
      start: dx + Math.floor(reach + hold) + r.int(30, 120),
      end: null,
      drug: ORAL_DRUGS[r.pick(classes)]!,
    });
  }
  // Some prescriptions end with the follow-up (transfer, death, end of extract) — written as an end date.
  for (const p of prescriptions) if (p.end === null && r.chance(0.3) && end < DATA_END) p.end = end;

  let egfr = egfr0;
  let bmi = bmi0;
  for (let k = 0; k < visits.length; k++) {
    const day = visits[k]!;
    const t = day - dx;
    if (k === 0 || r.chance(0.93)) hba1c(day, level(t));
    if (k % 3 === 0) {
      egfr = clamp(egfr - r.uniform(0, 1.5), 8, 130);
      labs.push({ day, test: 'egfr', value: (egfr + r.normal(0, 4)).toFixed(1) });
    }
    if (k % 4 === 0 || (k === 0 && r.chance(0.8))) {
      bmi = clamp(bmi + r.normal(0, 0.3), 15, 50);
      labs.push({ day, test: 'bmi', value: bmi.toFixed(1) });
    }
  }
  // A baseline BMI/eGFR shortly before the index for most patients.
  if (r.chance(0.7)) labs.push({ day: dx - r.int(7, 120), test: 'egfr', value: egfr0.toFixed(1) });

  // Hepatitis B: immunosuppressant or chemotherapy orders for a few, serology more often for them.
  const immuno = r.chance(0.04);
  if (immuno) {
    const start = dx + r.int(-300, Math.max(0, end - dx));
    prescriptions.push({ start, end: start + r.int(30, 365), drug: r.pick(IMMUNO) });
  }
  if (r.chance(immuno ? 0.8 : 0.25)) {
    const day = dx + r.int(-200, Math.max(0, end - dx));
    const carrier = r.chance(0.015);
    const resolved = carrier || r.chance(0.2);
    labs.push({ day, test: 'hbsag', value: carrier ? r.uniform(1, 2000).toFixed(2) : r.uniform(0, 0.04).toFixed(2) });
    labs.push({
      day,
      test: 'antiHbc',
      value: resolved ? r.uniform(1.2, 12).toFixed(2) : r.uniform(0.05, 0.9).toFixed(2),
    });
  }

  // A few are treated by diet (or insulin) alone: no oral drug, so the recipe finds no index for them.
  const dietOnly = r.chance(0.04);
  const kept = dietOnly ? prescriptions.filter((x) => !(x.drug.drugClass in ORAL_DRUGS)) : prescriptions;
  kept.sort((a, b) => a.start - b.start);
  labs.sort((a, b) => a.day - b.day);
  conditions.sort((a, b) => a.day - b.day);
  return {
    id,
    sex,
    birthDay,
    labs,
    prescriptions: kept,
    conditions,
    truth: { pResponse, responder, firstDrug: dietOnly ? 'none' : firstDrug, indexDay: dx },
  };
}

export interface SynthTables {
  patients: string[][];
  labs: string[][];
  prescriptions: string[][];
  conditions: string[][];
  groundTruth: string[][];
}

export const HEADERS = {
  patients: ['patient_id', 'birth_date', 'sex'],
  labs: ['patient_id', 'date', 'test_code', 'test_name', 'value', 'unit'],
  prescriptions: ['patient_id', 'start_date', 'end_date', 'drug_code', 'drug_name', 'drug_class'],
  conditions: ['patient_id', 'onset_date', 'code', 'name'],
  groundTruth: ['patient_id', 'p_response', 'responder_latent', 'first_drug', 'start_date'],
} as const;

/** The DWH-style tables (rows of text cells, header excluded), in patient order. */
export function toTables(ps: readonly SynthPatient[]): SynthTables {
  const t: SynthTables = { patients: [], labs: [], prescriptions: [], conditions: [], groundTruth: [] };
  for (const p of ps) {
    t.patients.push([p.id, formatDay(p.birthDay), p.sex]);
    for (const l of p.labs) {
      const test = TESTS[l.test];
      t.labs.push([p.id, formatDay(l.day), test.code, test.name, l.value, test.unit]);
    }
    for (const x of p.prescriptions)
      t.prescriptions.push([
        p.id,
        formatDay(x.start),
        x.end === null ? '' : formatDay(x.end),
        x.drug.code,
        x.drug.name,
        x.drug.drugClass,
      ]);
    for (const c of p.conditions) t.conditions.push([p.id, formatDay(c.day), c.code, c.name]);
    t.groundTruth.push([
      p.id,
      p.truth.pResponse.toFixed(4),
      p.truth.responder ? '1' : '0',
      p.truth.firstDrug,
      formatDay(p.truth.indexDay),
    ]);
  }
  return t;
}

export function synthCohort(opts: SynthOptions): SynthPatient[] {
  return Array.from({ length: opts.patients }, (_, i) => synthPatient(opts.seed, i));
}
