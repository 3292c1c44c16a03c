// CPU per boosting round of one recorded trial's configuration on fold 0 of the benchmark data, ours against
// XGBoost with the same parameters (as bench/hpo/optuna_xgb.py maps them), a fixed number of rounds, one thread,
// validation log loss every round on both sides. Separates the cost of a round from the number of rounds a search
// trains (the whole-study CPU of two searches compares different trials).
//
// Usage: node bench/hpo/per-round.mjs --data DIR --trials trials.json --trial N [--rounds 200] [--reps 3]
//        [--dist packages/ml/dist] [--no-xgboost]
// trials.json comes from `ours.mjs --trials-json`; XGBoost needs Debian's python3-xgboost (/usr/bin/python3).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldSplits, readData } from './data.mjs';

const argv = process.argv.slice(2);
const get = (flag, dflt) => {
  const k = argv.indexOf(flag);
  return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1] : dflt;
};
const dataDir = get('--data', '');
const trialsPath = get('--trials', '');
const number = Number(get('--trial', '0'));
const rounds = Number(get('--rounds', '200'));
const reps = Number(get('--reps', '3'));
const dist = get('--dist', fileURLToPath(new URL('../../packages/ml/dist', import.meta.url)));

const trial = JSON.parse(readFileSync(trialsPath, 'utf8')).find((t) => t.number === number);
if (!trial) throw new Error(`no trial ${number} in ${trialsPath}`);
const ml = await import(join(dist, 'index.js'));
const d = readData(dataDir);
const { meta } = d;
const cols = {};
meta.features.forEach((name, j) => (cols[name] = Float64Array.from(d.train, (r) => d.x[j * meta.rows + r])));
const frame = ml.Frame.fromColumns(cols);
const y = Float64Array.from(d.train, (r) => d.y[r]);
const split = foldSplits(d)[0];
const trX = frame.take(split.train);
const teX = frame.take(split.test);
const trY = Float64Array.from(split.train, (r) => y[r]);
const teY = Float64Array.from(split.test, (r) => y[r]);
const { numTrees: _n, earlyStoppingRounds: _e, algorithm: _a, ...params } = trial.params;
const binCache = new ml.GbdtBinCache();
const train = () =>
  ml.trainGbdt(trX, trY, {
    ...params,
    objective: 'binary',
    numTrees: rounds,
    seed: 1,
    numThreads: 1,
    validation: { frame: teX, labels: teY },
    binCache,
  });
await train(); // warm-up: bins, kernels, JIT
const c0 = process.cpuUsage();
for (let r = 0; r < reps; r++) await train();
const c = process.cpuUsage(c0);
const ours = (c.user + c.system) / 1000 / reps / rounds;
let xgb = null;
if (!argv.includes('--no-xgboost')) {
  const py = fileURLToPath(new URL('./per_round_xgb.py', import.meta.url));
  const args = [py, dataDir, JSON.stringify(trial.params), String(rounds), String(reps)];
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`per_round_xgb.py failed:\n${r.stderr}`);
  xgb = Number(r.stdout.trim());
}
console.log(
  JSON.stringify({ trial: number, params: trial.params, rounds, oursCpuMsPerRound: ours, xgboostCpuMsPerRound: xgb }),
);
