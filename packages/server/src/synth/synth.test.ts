// The synthetic diabetes EHR: same seed → same bytes, plausible values, every feature the study needs present, and
// the HbA1c recipe on it yields both classes with a sensible prevalence and labels the ground truth can predict.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelControlPeriods } from '../recipes/hba1c/labeler.js';
import { hba1cParamsSchema } from '../recipes/hba1c/params.js';
import { parseDay, recordsTable } from '../recipes/table.js';
import { HEADERS, synthCohort, toTables, type SynthTables } from './diabetes.js';
import { main } from '../cli/main.js';
import { writeDiabetesCohort } from './write.js';

const records = (header: readonly string[], rows: string[][]) =>
  rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));

/** Mann–Whitney AUC of scores against 0/1 labels. */
function auc(scores: number[], labels: number[]): number {
  const idx = scores.map((s, i) => [s, labels[i]!] as const).sort((a, b) => a[0] - b[0]);
  let rank = 0;
  let sumPos = 0;
  let pos = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j < idx.length && idx[j]![0] === idx[i]![0]) j++;
    const avg = (rank + 1 + rank + (j - i)) / 2;
    for (let k = i; k < j; k++) {
      if (idx[k]![1] === 1) {
        sumPos += avg;
        pos++;
      }
    }
    rank += j - i;
    i = j;
  }
  const neg = idx.length - pos;
  return (sumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

describe('synthetic diabetes EHR', () => {
  let t: SynthTables;
  const dirs: string[] = [];
  beforeAll(() => {
    t = toTables(synthCohort({ patients: 3000, seed: 7 }));
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes the same bytes for the same seed, and different bytes for another seed', async () => {
    const digests = async (seed: number) => {
      const out = mkdtempSync(path.join(os.tmpdir(), 'ichigen-synth-'));
      dirs.push(out);
      const s = await writeDiabetesCohort({ patients: 150, seed, out, fhirPatients: 20 });
      expect(s.fhirBundles).toBe(20);
      const files = [
        ...readdirSync(out).filter((f) => f.endsWith('.csv')),
        ...readdirSync(path.join(out, 'fhir')).map((f) => `fhir/${f}`),
      ].sort();
      return Object.fromEntries(
        files.map((f) => [
          f,
          createHash('sha256')
            .update(readFileSync(path.join(out, f)))
            .digest('hex'),
        ]),
      );
    };
    const a = await digests(7);
    const b = await digests(7);
    const c = await digests(8);
    expect(Object.keys(a)).toContain('labs.cp932.csv');
    expect(Object.keys(a)).toContain('fhir/P000001.json');
    expect(b).toEqual(a);
    expect(c['labs.csv']).not.toBe(a['labs.csv']);
    // The CP932 copy decodes to the UTF-8 text, Japanese names included.
    const dir = dirs[0]!;
    const utf8 = readFileSync(path.join(dir, 'prescriptions.csv'), 'utf8');
    expect(iconv.decode(readFileSync(path.join(dir, 'prescriptions.cp932.csv')), 'cp932')).toBe(utf8);
    expect(utf8).toMatch(/メトホルミン|シタグリプチン/);
    // A FHIR bundle holds the resource types and LOINC codes the CDS mapping reads.
    const bundle = JSON.parse(readFileSync(path.join(dir, 'fhir', 'P000001.json'), 'utf8'));
    expect(bundle.resourceType).toBe('Bundle');
    const types = new Set(bundle.entry.map((e: { resource: { resourceType: string } }) => e.resource.resourceType));
    expect([...types].sort()).toEqual(expect.arrayContaining(['MedicationRequest', 'Observation', 'Patient']));
    const codes = new Set(
      bundle.entry
        .filter((e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Observation')
        .map((e: { resource: { code: { coding: { code: string }[] } } }) => e.resource.code.coding[0]!.code),
    );
    expect(codes.has('4548-4') || codes.has('59261-8')).toBe(true);
    // Hepatitis B serology carries a POS/NEG interpretation for the reactivation rule.
    type Obs = {
      resourceType: string;
      code: { coding: { code: string }[] };
      interpretation?: { coding: { code: string }[] }[];
    };
    const serology = readdirSync(path.join(dir, 'fhir'))
      .flatMap((f) => JSON.parse(readFileSync(path.join(dir, 'fhir', f), 'utf8')).entry as { resource: Obs }[])
      .map((e) => e.resource)
      .filter((o) => o.resourceType === 'Observation' && ['5196-1', '13952-7'].includes(o.code.coding[0]!.code));
    expect(serology.length).toBeGreaterThan(0);
    for (const o of serology) expect(['POS', 'NEG']).toContain(o.interpretation?.[0]?.coding[0]?.code);
  });

  it('is plausible: valid dates, values in clinical ranges, every drug class, units mixed, serology and immunosuppressants', () => {
    const col = (table: keyof SynthTables, name: string) => {
      const i = (HEADERS[table] as readonly string[]).indexOf(name);
      return t[table].map((r) => r[i]!);
    };
    const hb = t.labs.filter((r) => r[2] === '4548-4').map((r) => Number(r[4]));
    const inRange = hb.filter((v) => v >= 3 && v <= 20);
    expect(inRange.length / hb.length).toBeGreaterThan(0.995);
    const mean = inRange.reduce((s, v) => s + v, 0) / inRange.length;
    expect(mean).toBeGreaterThan(6.3);
    expect(mean).toBeLessThan(8.5);
    const ifcc = t.labs.filter((r) => r[2] === '59261-8').map((r) => Number(r[4]));
    expect(ifcc.length).toBeGreaterThan(100);
    expect(Math.min(...ifcc.filter((v) => v < 200))).toBeGreaterThan(20);
    const dates = [...col('labs', 'date'), ...col('prescriptions', 'start_date'), ...col('patients', 'birth_date')];
    expect(dates.filter((d) => typeof parseDay(d) !== 'number')).toEqual([]);
    const classes = new Set(col('prescriptions', 'drug_class'));
    for (const c of [
      'biguanide',
      'dpp4_inhibitor',
      'sglt2_inhibitor',
      'sulfonylurea',
      'glinide',
      'alpha_glucosidase_inhibitor',
      'thiazolidinedione',
      'insulin',
      'immunosuppressant',
      'chemotherapy',
    ])
      expect(classes.has(c), c).toBe(true);
    const codes = new Set(col('conditions', 'code').map((c) => c.slice(0, 3)));
    expect([...codes].sort()).toEqual(['E11', 'I10', 'N18']);
    const tests = new Set(col('labs', 'test_code'));
    for (const c of ['33914-3', '39156-5', '5196-1', '13952-7']) expect(tests.has(c), c).toBe(true);
    // Visits are irregular: intervals vary, and some gaps exceed 180 days.
    const byPatient = new Map<string, number[]>();
    for (const r of t.labs)
      if (r[2] === '4548-4') byPatient.set(r[0]!, [...(byPatient.get(r[0]!) ?? []), parseDay(r[1])!]);
    const gaps = [...byPatient.values()].flatMap((ds) => ds.slice(1).map((d, i) => d - ds[i]!)).filter((g) => g > 0);
    expect(new Set(gaps).size).toBeGreaterThan(100);
    expect(gaps.filter((g) => g > 180).length).toBeGreaterThan(20);
    // Same-day duplicates exist (the labeler must merge them).
    const seen = new Set<string>();
    let dup = 0;
    for (const r of t.labs) {
      if (r[2] !== '4548-4' && r[2] !== '59261-8') continue;
      const k = `${r[0]}|${r[1]}`;
      if (seen.has(k)) dup++;
      seen.add(k);
    }
    expect(dup).toBeGreaterThan(5);
  });

  it('the HbA1c recipe yields both classes at a sensible prevalence, and the ground truth predicts the labels', () => {
    const p = hba1cParamsSchema.parse({});
    const res = labelControlPeriods(
      recordsTable('labs', records(HEADERS.labs, t.labs), [...HEADERS.labs]),
      recordsTable('prescriptions', records(HEADERS.prescriptions, t.prescriptions), [...HEADERS.prescriptions]),
      recordsTable('patients', records(HEADERS.patients, t.patients), [...HEADERS.patients]),
      p,
      recordsTable('conditions', records(HEADERS.conditions, t.conditions), [...HEADERS.conditions]),
    );
    const r = res.report;
    expect(r.eligible).toBeGreaterThan(2000);
    expect(r.prevalence!).toBeGreaterThan(0.25);
    expect(r.prevalence!).toBeLessThan(0.6);
    expect(r.hba1c.outOfRange.count).toBeGreaterThan(0);
    expect(r.excluded.noUncontrolledOnOralDrug).toBeGreaterThan(30); // diet-only patients
    expect(r.hba1c.fromIfcc).toBeGreaterThan(0);
    expect(r.hba1c.sameDayMerged).toBeGreaterThan(0);
    const truth = new Map(t.groundTruth.map((g) => [g[0]!, Number(g[1])]));
    const a = auc(
      res.rows.map((x) => truth.get(x.patient)!),
      res.rows.map((x) => x.label),
    );
    // The oracle (true response probability) separates the recipe's labels well but not perfectly.
    expect(a).toBeGreaterThan(0.7);
    expect(a).toBeLessThan(0.98);
  });

  it('`ichigen synth diabetes` writes the files without a server and reports them', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'ichigen-synth-cli-'));
    dirs.push(out);
    const lines: string[] = [];
    const errs: string[] = [];
    const code = await main(
      [
        'node',
        'ichigen',
        'synth',
        'diabetes',
        '--patients',
        '40',
        '--seed',
        '3',
        '--out',
        out,
        '--fhir-patients',
        '5',
        '--json',
      ],
      { out: (s) => lines.push(s), err: (s) => errs.push(s), env: {} },
    );
    expect(code, errs.join('\n')).toBe(0);
    const summary = JSON.parse(lines.join('\n'));
    expect(summary).toMatchObject({ patients: 40, fhirBundles: 5 });
    expect(summary.files['patients.csv'].rows).toBe(40);
    expect(readdirSync(path.join(out, 'fhir'))).toHaveLength(5);
    expect(errs.join('\n')).toContain('generated 40/40 patients');
    const bad = await main(['node', 'ichigen', 'synth', 'diabetes', '--patients', 'many', '--out', out], {
      out: () => undefined,
      err: (s) => errs.push(s),
      env: {},
    });
    expect(bad).toBe(1);
  });
});
