// A small synthetic diabetes cohort (one row per patient) with a known response mechanism, for training tests.
// Deterministic for a seed; the outcome depends non-linearly on baseline HbA1c, eGFR, age, BMI and drug class.

export function cohortCsv(opts: {
  patients: number;
  seed?: number;
  missingTarget?: number;
  singleClass?: boolean;
}): string {
  let s = (opts.seed ?? 1) >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const drugs = ['metformin', 'dpp4', 'sglt2', 'su'];
  const lines = ['patient_id,index_date,age,sex,hba1c_baseline,egfr,bmi,drug_class,responder'];
  for (let i = 0; i < opts.patients; i++) {
    const age = Math.round(40 + rnd() * 45);
    const sex = rnd() < 0.55 ? 'M' : 'F';
    const a1c = +(7 + Math.abs(normal()) * 1.5).toFixed(1);
    const egfr = Math.round(30 + rnd() * 80);
    const bmi = rnd() < 0.1 ? '' : (20 + rnd() * 15).toFixed(1);
    const drug = drugs[Math.floor(rnd() * drugs.length)]!;
    const logit =
      2.2 -
      0.9 * (a1c - 7.5) +
      0.015 * (egfr - 70) -
      0.02 * (age - 60) +
      (drug === 'sglt2' && egfr > 60 ? 0.8 : 0) +
      (drug === 'su' ? -0.5 : 0) -
      (bmi && +bmi > 30 ? 0.4 : 0);
    const p = 1 / (1 + Math.exp(-logit));
    let y: string = rnd() < p ? '1' : '0';
    if (opts.singleClass) y = '1';
    if (i < (opts.missingTarget ?? 0)) y = '';
    const day = new Date(Date.UTC(2018, 0, 1) + Math.floor(rnd() * 1500) * 86400000).toISOString().slice(0, 10);
    lines.push(`P${String(i).padStart(5, '0')},${day},${age},${sex},${a1c},${egfr},${bmi},${drug},${y}`);
  }
  return lines.join('\n') + '\n';
}
