// Our engine's side of the ML benchmarks: trains @ichigen/ml (the built dist) on the files written by generate.mjs
// with the anchors' settings, one configuration per process, and prints one JSON line with the same fields.
//
// Needs `npm run build` first (imports packages/ml/dist). Usage:
//   node bench/ml/ours.mjs --data DIR --model gbdt|logreg --threads 1 [--predict] [--rounds 100] [--dist DIR]
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DEFAULT_DIST = fileURLToPath(new URL('../../packages/ml/dist', import.meta.url));

function parseArgs(argv) {
  const get = (flag, dflt) => {
    const k = argv.indexOf(flag);
    return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1] : dflt;
  };
  const a = {
    data: get('--data', ''),
    model: get('--model', 'gbdt'),
    threads: Number(get('--threads', '1')),
    rounds: Number(get('--rounds', '100')),
    predict: argv.includes('--predict'),
    // run.mjs passes a snapshot of dist, so a rebuild during a long run cannot change the engine under it.
    dist: get('--dist', DEFAULT_DIST),
  };
  if (!a.data || !['gbdt', 'logreg'].includes(a.model) || !(a.threads >= 1) || !(a.rounds >= 1)) {
    console.error('usage: node bench/ml/ours.mjs --data DIR --model gbdt|logreg --threads N [--predict] [--rounds R]');
    process.exit(2);
  }
  return a;
}

const mbPeak = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB on Linux
const cpuSeconds = () => {
  // User + system time of every thread of this process (workers included): less sensitive to other load than wall time.
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const loadAvg = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const mbNow = () => process.memoryUsage().rss / 2 ** 20;

/** Reads one part (train/test) into the engine's shape: one Float64Array per feature (float32 → float64 is exact). */
function load(ml, dir, part) {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  const n = part === 'train' ? meta.nTrain : meta.nTest;
  const buf = readFileSync(join(dir, `${part}.x.f32`));
  const raw = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (raw.length !== n * meta.numFeatures) throw new Error(`${dir}/${part}.x.f32 has ${raw.length} values`);
  const columns = meta.featureNames.map((name, j) => ({
    name,
    kind: 'numeric',
    values: Float64Array.from(raw.subarray(j * n, (j + 1) * n)),
  }));
  const yb = readFileSync(join(dir, `${part}.y.u8`));
  const y = new Uint8Array(yb.buffer, yb.byteOffset, yb.byteLength);
  return { meta, frame: new ml.Frame(columns), y };
}

async function timePredict(model, frame) {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    model.predictProba(frame);
    best = Math.min(best, performance.now() - t);
  }
  // Single rows through predictRow, the call a scoring endpoint makes for one patient.
  const k = Math.min(2000, frame.numRows);
  const rows = [];
  for (let i = 0; i < k + 50; i++) {
    const row = {};
    for (const c of frame.columns) row[c.name] = c.values[i % frame.numRows];
    rows.push(row);
  }
  for (let i = 0; i < 50; i++) model.predictRow(rows[k + i]); // warm-up
  const lat = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const t = process.hrtime.bigint();
    model.predictRow(rows[i]);
    lat[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  lat.sort();
  return {
    predictRows: frame.numRows,
    batchRowsPerSec: frame.numRows / (best / 1000),
    singleRowMedianUs: lat[Math.floor(k / 2)],
    singleRowP99Us: lat[Math.min(k - 1, Math.floor(k * 0.99))],
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  // A floor inherited from the parent would show here (Linux keeps ru_maxrss across exec); it should be ~50 MB.
  const peakAtStartMB = mbPeak();
  const ml = await import(pathToFileURL(join(a.dist, 'index.js')).href);
  let t = performance.now();
  const train = load(ml, a.data, 'train');
  const test = load(ml, a.data, 'test');
  const out = {
    engine: a.model === 'gbdt' ? 'ours' : 'ours-logreg',
    dataset: train.meta.name,
    scale: train.meta.scale,
    threads: a.threads,
    nTrain: train.meta.nTrain,
    nTest: train.meta.nTest,
    numFeatures: train.meta.numFeatures,
    peakAtStartMB,
    loadSeconds: (performance.now() - t) / 1000,
    rssAfterLoadMB: mbNow(),
    peakAfterLoadMB: mbPeak(),
    engineVersion: ml.ENGINE_VERSION,
    loadAvgStart: loadAvg(),
  };
  let model;
  t = performance.now();
  const c = cpuSeconds();
  if (a.model === 'gbdt') {
    // XGBoost's defaults where the engine's differ (lambda 1, min_child_weight 1, no minimum row count per leaf).
    model = await ml.trainGbdt(train.frame, train.y, {
      objective: 'binary',
      numTrees: a.rounds,
      numLeaves: 255,
      maxDepth: 0,
      maxBins: 255,
      learningRate: 0.1,
      lambdaL2: 1,
      minSumHessianInLeaf: 1,
      minDataInLeaf: 1,
      numThreads: a.threads,
    });
    out.trainSeconds = (performance.now() - t) / 1000;
    out.trainCpuSeconds = cpuSeconds() - c;
    const json = model.toJSON();
    out.trees = json.trees.length;
    out.leaves = json.trees.reduce((s, tr) => s + countLeaves(tr), 0);
  } else {
    model = await ml.trainLogistic(train.frame, train.y, {});
    out.trainSeconds = (performance.now() - t) / 1000;
    out.trainCpuSeconds = cpuSeconds() - c;
    const info = model.toJSON().training;
    if (info) {
      out.iterations = info.iterations;
      out.converged = info.converged;
    }
  }
  const p = model.predictProba(test.frame);
  out.auc = ml.rocAuc(test.y, p);
  out.peakRssMB = mbPeak();
  out.loadAvgEnd = loadAvg();
  if (a.predict) Object.assign(out, await timePredict(model, test.frame));
  console.log(JSON.stringify(out));
}

/** Leaves of one serialized tree: nodes without a split feature. */
function countLeaves(tree) {
  return tree.splitFeature.filter((f) => f === -1).length;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
