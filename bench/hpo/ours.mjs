// Our side of the HPO benchmark: one study (TPE + successive halving, trials in a worker pool) of @ichigen/ml's GBDT
// over the default GBDT space on the benchmark data, then the holdout AUC of the best configuration after N trials.
// Prints one JSON line. Needs the built dist (`npm run build`).
//
// Usage: node bench/hpo/ours.mjs --data DIR --seed 1 [--trials 60] [--checkpoints 10,30,60] [--workers 2] [--live-rungs]
//        [--univariate] [--dist packages/ml/dist] [--trials-json FILE]
// --trials-json writes every trial's record (params, state, value, folds, rung values, duration) as one JSON array,
// to compare two builds trial by trial.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldSplits, readData } from './data.mjs';

const DEFAULT_DIST = fileURLToPath(new URL('../../packages/ml/dist', import.meta.url));

function parseArgs(argv) {
  const get = (flag, dflt) => {
    const k = argv.indexOf(flag);
    return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1] : dflt;
  };
  return {
    data: get('--data', ''),
    seed: Number(get('--seed', '1')),
    trials: Number(get('--trials', '60')),
    checkpoints: get('--checkpoints', '10,30,60').split(',').map(Number),
    workers: Number(get('--workers', '2')),
    multivariate: !argv.includes('--univariate'),
    liveRungs: argv.includes('--live-rungs'),
    dist: get('--dist', DEFAULT_DIST),
    trialsJson: get('--trials-json', ''),
    pruner: JSON.parse(get('--pruner', '{}')),
    foldPruner: JSON.parse(get('--fold-pruner', '{}')),
    lag: get('--lag', ''),
  };
}

const a = parseArgs(process.argv.slice(2));
const ml = await import(join(a.dist, 'index.js'));
const d = readData(a.data);
const { meta } = d;
const F = meta.features.length;

/** A frame of the given rows (float32 → float64 is exact, as numpy does). */
function frameOf(rows) {
  const cols = {};
  for (let j = 0; j < F; j++) {
    const v = new Float64Array(rows.length);
    const base = j * meta.rows;
    for (let i = 0; i < rows.length; i++) v[i] = d.x[base + rows[i]];
    cols[meta.features[j]] = v;
  }
  return ml.Frame.fromColumns(cols);
}

const trainFrame = frameOf(d.train);
const trainY = Float64Array.from(d.train, (r) => d.y[r]);
const holdFrame = frameOf(d.holdout);
const holdY = Float64Array.from(d.holdout, (r) => d.y[r]);
// The benchmark's fixed folds (also used by the XGBoost side).
const splits = foldSplits(d);

const space = ml.defaultGbdtSpace({ numRows: trainFrame.numRows });
const t0 = performance.now();
const pool = await ml.trialPool({ frame: trainFrame, labels: trainY, folds: splits, size: a.workers });
const tPool = performance.now() - t0;
const t1 = performance.now();
const cpu0 = process.resourceUsage();
const study = await ml.runStudy({
  space,
  objective: pool.objective,
  nTrials: a.trials,
  seed: a.seed,
  concurrency: a.workers,
  tpe: { multivariate: a.multivariate },
  pruner: { minResource: 10, reductionFactor: 3, ...a.pruner },
  maxStep: 1000,
  foldPruner: a.foldPruner,
  ...(a.lag ? { lag: Number(a.lag) } : {}),
  ...(a.liveRungs ? { liveRungs: true } : {}),
});
const searchSeconds = (performance.now() - t1) / 1000;
// User + system time of every thread of this process (the workers included): less sensitive to other load.
const cpu1 = process.resourceUsage();
const searchCpuSeconds = (cpu1.userCPUTime + cpu1.systemCPUTime - cpu0.userCPUTime - cpu0.systemCPUTime) / 1e6;
await pool.close();
if (a.trialsJson) writeFileSync(a.trialsJson, JSON.stringify(study.trials));

// Holdout AUC of the CV-best configuration among the first N trials, refit on the whole search part with the mean
// early-stopped round count of its folds.
const checkpoints = [];
const t2 = performance.now();
for (const n of a.checkpoints) {
  let best = null;
  for (const t of study.trials.slice(0, n)) {
    if (t.state === 'complete' && (best === null || t.value > best.value)) best = t;
  }
  if (!best) {
    checkpoints.push({ trials: n, cv: null, holdout: null });
    continue;
  }
  const { numTrees: _n, earlyStoppingRounds: _e, ...params } = best.params;
  const iters = best.attrs.bestIterations;
  const rounds = Math.max(1, Math.round(iters.reduce((s, v) => s + v, 0) / iters.length));
  const model = await ml.trainGbdt(trainFrame, trainY, {
    ...params,
    objective: 'binary',
    numTrees: rounds,
    seed: a.seed,
    numThreads: 0,
  });
  const auc = ml.rocAuc(holdY, model.predictProba(holdFrame));
  checkpoints.push({ trials: n, cv: best.value, holdout: auc, bestTrial: best.number, rounds });
}
const refitSeconds = (performance.now() - t2) / 1000;
const states = { complete: 0, pruned: 0, failed: 0 };
for (const t of study.trials) states[t.state]++;
console.log(
  JSON.stringify({
    engine: 'ours',
    seed: a.seed,
    trials: study.trials.length,
    multivariate: a.multivariate,
    workers: a.workers,
    poolStartSeconds: tPool / 1000,
    searchSeconds,
    searchCpuSeconds,
    refitSeconds,
    states,
    checkpoints,
  }),
);
