// Scale check, off by default (about 1.6 GB and a minute on 2 cores): ICHIGEN_BENCH=1 npx vitest run
// packages/ml/src/logistic.bench.test.ts — trains on 1M rows × 100 numeric features with missing values.
import { describe, expect, it } from 'vitest';
import { Frame } from './frame.js';
import { trainLogistic } from './logistic.js';
import { rocAuc } from './metrics/index.js';

describe.runIf(process.env.ICHIGEN_BENCH === '1')('trainLogistic at 1M × 100', () => {
  const n = 1_000_000;
  const p = 100;
  let s = 12345;
  const rand = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const gauss = (): number => Math.sqrt(-2 * Math.log(rand() + 1e-300)) * Math.cos(2 * Math.PI * rand());
  const cols: Record<string, Float64Array> = {};
  const eta = new Float64Array(n).fill(-1);
  // Ten informative features (±0.3 per SD), ninety noise features; raw scales and offsets differ per column.
  for (let j = 0; j < p; j++) {
    const v = new Float64Array(n);
    const beta = j < 10 ? 0.3 * (j % 2 ? -1 : 1) : 0;
    for (let i = 0; i < n; i++) {
      const z = gauss();
      v[i] = rand() < 0.02 ? NaN : 10 * j + (1 + j) * z;
      if (beta !== 0 && !Number.isNaN(v[i]!)) eta[i] = eta[i]! + beta * z;
    }
    cols[`x${j}`] = v;
  }
  const y = Float64Array.from(eta, (e) => (rand() < 1 / (1 + Math.exp(-e)) ? 1 : 0));
  const frame = Frame.fromColumns(cols);

  for (const penalty of ['l2', 'elasticnet'] as const) {
    it(`${penalty} converges and recovers the informative coefficients`, { timeout: 600_000 }, async () => {
      const t0 = performance.now();
      const model = await trainLogistic(frame, y, { penalty, C: 1, l1Ratio: 0.5 });
      const seconds = (performance.now() - t0) / 1000;
      console.log(JSON.stringify({ penalty, seconds: Number(seconds.toFixed(1)), ...model.training }));
      expect(model.training.converged).toBe(true);
      const coef = model.coefficients;
      // Standardized coefficients ≈ 0.3 × SD(z)/SD(x)·SD(x) = ±0.3, shrunk slightly by the 2 % imputation.
      for (let j = 0; j < 10; j++) expect(Math.abs(Math.abs(coef[j]!) - 0.29)).toBeLessThan(0.02);
      for (let j = 10; j < p; j++) expect(Math.abs(coef[j]!)).toBeLessThan(0.01);
      expect(rocAuc(y, model.predictProba(frame))).toBeGreaterThan(0.7);
    });
  }
});
