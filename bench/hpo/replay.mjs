// Trial-by-trial CPU A/B of builds of packages/ml on one recorded study: replays its trials (same parameters, stopped
// at the same round or fold) through each build's trial-worker code (`runPoolTask`), in this process on one thread,
// alternating builds trial by trial so the load of a shared machine falls on all of them alike; prints the CPU
// seconds per build and whether every trial reproduced its recorded value.
//
// Usage: node bench/hpo/ours.mjs --data DIR --seed 1 --trials-json trials.json     (records a study)
//        node bench/hpo/replay.mjs --data DIR --trials trials.json [--reps 2] DIST_A DIST_B ...
// Each DIST is a built packages/ml/dist (with package.json and node_modules resolvable from it, as run.mjs makes).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { foldSplits, readData } from './data.mjs';

const argv = process.argv.slice(2);
const opts = new Map();
const dists = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith('--')) opts.set(argv[i], argv[++i]);
  else dists.push(resolve(argv[i]));
}
const reps = Number(opts.get('--reps') ?? 2);
const d = readData(opts.get('--data'));
const trials = JSON.parse(readFileSync(opts.get('--trials'), 'utf8'));
const { meta } = d;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const builds = [];
for (const dist of dists) {
  const ml = await import(join(dist, 'index.js'));
  const { runPoolTask } = await import(join(dist, 'hpo/worker-task.js'));
  const cols = {};
  meta.features.forEach((name, j) => {
    cols[name] = Float64Array.from(d.train, (r) => d.x[j * meta.rows + r]);
  });
  const splits = foldSplits(d);
  const data = {
    columns: ml.Frame.fromColumns(cols).columns,
    labels: Float64Array.from(d.train, (r) => d.y[r]),
    splits,
    fullSplits: splits,
  };
  builds.push({ dist, runPoolTask, data, cpu: 0, differ: 0 });
}

/** A schedule that stops the trial where the recorded one stopped (or none for a complete trial). */
function stopLikeRecord(t) {
  if (t.state === 'complete') return null;
  if (t.folds?.length) {
    const foldThresholds = t.folds.map((_, k) => (k === t.folds.length - 1 ? Infinity : null));
    return { steps: [], thresholds: [], direction: 'maximize', foldThresholds };
  }
  return { steps: [t.intermediate.at(-1)[0]], thresholds: [Infinity], direction: 'maximize' };
}

const seed = Number(opts.get('--seed') ?? 1);
for (let rep = 0; rep < reps; rep++) {
  for (const t of trials) {
    const { algorithm = 'gbdt', ...params } = t.params;
    const order = (t.number + rep) % 2 ? [...builds].reverse() : builds;
    for (const b of order) {
      const c0 = cpuMs();
      const task = { id: 1, algorithm, params, seed, prune: stopLikeRecord(t) };
      const r = await b.runPoolTask(b.data, task, () => false);
      b.cpu += cpuMs() - c0;
      const value =
        r.kind === 'done' ? r.mean : r.kind === 'pruned' ? (r.foldReports?.at(-1) ?? r.reports.at(-1))[1] : NaN;
      if (value !== t.value) b.differ++;
    }
  }
}
for (const b of builds) {
  const same = b.differ ? `${b.differ} trial values differ from the record` : 'every trial value as recorded';
  console.log(`${b.dist}: ${(b.cpu / 1000 / reps).toFixed(2)} CPU s per study; ${same}`);
}
