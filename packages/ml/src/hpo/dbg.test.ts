import { test } from 'vitest';
import { RandomSampler, TpeSampler } from '/work/main/packages/ml/src/hpo/tpe.js';
import type { SearchSpace, TrialParams } from './space.js';
const spaces: [string, SearchSpace, (p: TrialParams) => number][] = [
  ['cat', { c: { type: 'categorical', choices: ['r', 'g', 'b', 'w'] } }, (p) => (p.c === 'g' ? 0 : -1)],
  ['intlog', { k: { type: 'int', low: 1, high: 100, log: true } }, (p) => -Math.abs(Math.log2(p.k as number) - 4)],
  ['floatlog', { y: { type: 'float', low: 1e-3, high: 10, log: true } }, (p) => -Math.abs(Math.log10(p.y as number) + 1)],
];
test('dbg', () => {
  for (const [name, space, f] of spaces) for (const mv of [true, false]) {
    const res: number[] = [];
    for (let seed = 1; seed < 12; seed++) {
      const s = new TpeSampler({ space, seed, multivariate: mv });
      let late = 0;
      for (let i = 0; i < 40; i++) {
        const t = s.ask();
        const v = f(t.params);
        if (i >= 20) late += v / 20;
        s.tell(t.number, { state: 'complete', value: v });
      }
      res.push(late);
    }
    const r: number[] = [];
    for (let seed = 1; seed < 12; seed++) { const s = new RandomSampler({ space, seed }); let late = 0; for (let i = 0; i < 40; i++) { const t = s.ask(); if (i >= 20) late += f(t.params) / 20; } r.push(late); }
    console.log(name, mv, res.map((x) => x.toFixed(2)).join(' '), '| random', r.map((x) => x.toFixed(2)).join(' '));
  }
});
