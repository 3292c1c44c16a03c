// Prediction benchmark: our GBDT predictor (@ichigen/ml, built dist) against XGBoost's `inplace_predict` / `predict`
// on the same data and the same model shape (100 trees, 255 and 31 leaves, 255 bins), both on one core, in one run.
//
// Usage: node bench/ml/predict.mjs [--scale quick|full] [--leaves 255,31] [--rounds 100] [--repeats 7]
//                                  [--dist packages/ml/dist] [--out .bench-data] [--cache DIR] [--compare DIR] [--js]
// Needs `npm run build` (or `npx tsc -b packages/ml`) first, and /usr/bin/python3 with numpy + xgboost
// (apt-get install -y python3-xgboost python3-numpy). Data: the higgs set of generate.mjs (written if missing).
// --cache DIR keeps the trained models (ours as JSON, XGBoost as its JSON) so a rerun only times prediction.
// --compare DIR loads a second build of the package (say a copy of packages/ml/dist from before a change), checks
// that it predicts the very same numbers on the same model, and times both batched in one process, passes
// interleaved (this build, that build, this, that, ...): on a shared machine that is the fair before/after.
// When the build has both prediction kernels (WebAssembly and JS, see setPredictKernel in gbdt/predict.ts), each
// model is also timed with the JS kernel forced, passes interleaved with the default kernel: the in-process A/B of
// the two kernels ("Kernels" table); both must predict every row identically. --js times everything on the JS kernel.
// With several --leaves, every model is timed once more at the end, all in one interleaved loop (an order check: a
// model must not run slower for not being the first one loaded).
// Prints a Markdown table and one JSON line per engine × model; the table goes under docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generate } from './generate.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = '/usr/bin/python3';

function parseArgs(argv) {
  const get = (flag, dflt) => {
    const k = argv.indexOf(flag);
    return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1] : dflt;
  };
  return {
    scale: get('--scale', 'quick'),
    leaves: get('--leaves', '255,31').split(',').map(Number),
    rounds: Number(get('--rounds', '100')),
    repeats: Number(get('--repeats', '7')),
    dist: get('--dist', join(ROOT, 'packages/ml/dist')),
    out: get('--out', join(ROOT, '.bench-data')),
    cache: get('--cache', ''),
    compare: get('--compare', ''),
    js: argv.includes('--js'),
  };
}

const loadAvg = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function loadPart(ml, dir, meta, part) {
  const n = part === 'train' ? meta.nTrain : meta.nTest;
  const buf = readFileSync(join(dir, `${part}.x.f32`));
  const raw = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const columns = meta.featureNames.map((name, j) => ({
    name,
    kind: 'numeric',
    values: Float64Array.from(raw.subarray(j * n, (j + 1) * n)),
  }));
  const yb = readFileSync(join(dir, `${part}.y.u8`));
  return { frame: new ml.Frame(columns), y: new Uint8Array(yb.buffer, yb.byteOffset, yb.byteLength) };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

/** Batched: best of `repeats` passes over the test set (wall and CPU). Single rows: predictRow on 2,000 objects. */
function timeOurs(model, frame, repeats) {
  let bestWall = Infinity;
  let bestCpu = Infinity;
  model.predictProba(frame); // compiles the trees and warms the kernels up
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    const c = cpuSeconds();
    model.predictProba(frame);
    bestCpu = Math.min(bestCpu, cpuSeconds() - c);
    bestWall = Math.min(bestWall, (performance.now() - t) / 1000);
  }
  const k = Math.min(2000, frame.numRows);
  const rows = [];
  for (let i = 0; i < k; i++) {
    const row = {};
    for (const col of frame.columns) row[col.name] = col.values[i];
    rows.push(row);
  }
  for (let i = 0; i < Math.min(200, k); i++) model.predictRow(rows[i]);
  const lat = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const t = process.hrtime.bigint();
    model.predictRow(rows[i]);
    lat[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  lat.sort();
  return {
    batchRowsPerSec: frame.numRows / bestWall,
    batchRowsPerCpuSec: frame.numRows / bestCpu,
    singleRowMedianUs: quantile(lat, 0.5),
    singleRowP99Us: quantile(lat, 0.99),
  };
}

/**
 * Best CPU-second and wall rates of `engines` ({ model, frame, before? }) over `repeats` interleaved passes each;
 * `before()` runs ahead of each of an engine's passes, outside the clock (it picks the kernel).
 */
function timeInterleaved(engines, repeats) {
  const best = engines.map(() => ({ cpu: Infinity, wall: Infinity }));
  for (const e of engines) {
    e.before?.();
    e.model.predictProba(e.frame);
  }
  for (let r = 0; r < repeats; r++) {
    engines.forEach((e, i) => {
      e.before?.();
      const t = performance.now();
      const c = cpuSeconds();
      e.model.predictProba(e.frame);
      best[i].cpu = Math.min(best[i].cpu, cpuSeconds() - c);
      best[i].wall = Math.min(best[i].wall, (performance.now() - t) / 1000);
    });
  }
  return best.map((b, i) => ({
    batchRowsPerSec: engines[i].frame.numRows / b.wall,
    batchRowsPerCpuSec: engines[i].frame.numRows / b.cpu,
  }));
}

const PY = String.raw`
import json, os, sys, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np
import xgboost as xgb
a = json.loads(sys.argv[1])
meta = json.load(open(os.path.join(a['dir'], 'meta.json')))
def load(part):
    n = meta['nTrain'] if part == 'train' else meta['nTest']
    d = meta['numFeatures']
    x = np.fromfile(os.path.join(a['dir'], part + '.x.f32'), dtype=np.float32).reshape(d, n).T
    y = np.fromfile(os.path.join(a['dir'], part + '.y.u8'), dtype=np.uint8)
    return np.ascontiguousarray(x), y
xt, yt = load('test')
cache = a['cache']
if cache and os.path.exists(cache):
    booster = xgb.Booster(model_file=cache)
    train_s = None
else:
    x, y = load('train')
    params = {'objective': 'binary:logistic', 'tree_method': 'hist', 'grow_policy': 'lossguide',
              'max_leaves': a['leaves'], 'max_depth': 0, 'max_bin': 255, 'eta': 0.1, 'nthread': 1, 'verbosity': 0}
    t = time.perf_counter()
    booster = xgb.train(params, xgb.DMatrix(x, label=y, nthread=1), num_boost_round=a['rounds'])
    train_s = time.perf_counter() - t
    if cache:
        booster.save_model(cache)
booster.set_param({'nthread': 1})
def best_of(f):
    f()
    wall, cpu = float('inf'), float('inf')
    for _ in range(a['repeats']):
        t, c = time.perf_counter(), time.process_time()
        f()
        cpu = min(cpu, time.process_time() - c)
        wall = min(wall, time.perf_counter() - t)
    return wall, cpu
p = booster.inplace_predict(xt)
order = np.argsort(-p, kind='stable')
ranks = np.empty(len(p)); ranks[order] = np.arange(len(p), 0, -1)
pos = yt == 1
auc = (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())
ip_wall, ip_cpu = best_of(lambda: booster.inplace_predict(xt))
# XGBoost caches predictions per DMatrix, so every pass gets a fresh one (built outside the clock).
mats = [xgb.DMatrix(xt, nthread=1) for _ in range(a['repeats'] + 1)]
pr_wall, pr_cpu = best_of(lambda: booster.predict(mats.pop()))
k = min(2000, xt.shape[0])
for i in range(200):
    booster.inplace_predict(xt[i:i + 1])
lat = np.empty(k)
for i in range(k):
    row = xt[i:i + 1]
    t = time.perf_counter_ns()
    booster.inplace_predict(row)
    lat[i] = (time.perf_counter_ns() - t) / 1000
lat.sort()
n = xt.shape[0]
leaves = sum(s.count('leaf=') for s in booster.get_dump())
print(json.dumps({'engine': 'xgboost', 'version': xgb.__version__, 'trainSeconds': train_s, 'auc': float(auc),
    'leaves': leaves, 'batchRowsPerSec': n / ip_wall, 'batchRowsPerCpuSec': n / ip_cpu,
    'dmatrixRowsPerSec': n / pr_wall, 'dmatrixRowsPerCpuSec': n / pr_cpu,
    'singleRowMedianUs': float(lat[k // 2]), 'singleRowP99Us': float(lat[min(k - 1, int(k * 0.99))])}))
`;

function runXgb(args) {
  const r = spawnSync(PYTHON, ['-c', PY, JSON.stringify(args)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
    maxBuffer: 16 << 20,
  });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    const why = (r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' | ');
    return { engine: 'xgboost', failed: true, error: why };
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ml = await import(pathToFileURL(join(a.dist, 'index.js')).href);
  const other = a.compare ? await import(pathToFileURL(join(a.compare, 'index.js')).href) : null;
  // The kernel switch (absent from builds before the WebAssembly kernel).
  const predictModule = await import(pathToFileURL(join(a.dist, 'gbdt/predict.js')).href).catch(() => ({}));
  const setKernel = predictModule.setPredictKernel ?? null;
  const defaultKernel = a.js ? 'js' : 'auto';
  setKernel?.(defaultKernel);
  const { dir, meta } = generate('higgs', a.scale, a.out);
  if (a.cache) mkdirSync(a.cache, { recursive: true });
  const train = loadPart(ml, dir, meta, 'train');
  const test = loadPart(ml, dir, meta, 'test');
  const otherTest = other ? loadPart(other, dir, meta, 'test') : null;
  const rows = [];
  const comparisons = [];
  const kernelRows = [];
  const models = [];
  const loads = [loadAvg()];
  for (const leaves of a.leaves) {
    const tag = `higgs-${a.scale}-${a.rounds}x${leaves}`;
    const oursCache = a.cache ? join(a.cache, `${tag}.ours.json`) : '';
    let model;
    let trainSeconds = null;
    if (oursCache && existsSync(oursCache)) model = ml.GbdtModel.fromJSON(readFileSync(oursCache, 'utf8'));
    else {
      const t = performance.now();
      model = await ml.trainGbdt(train.frame, train.y, {
        objective: 'binary',
        numTrees: a.rounds,
        numLeaves: leaves,
        maxDepth: 0,
        maxBins: 255,
        learningRate: 0.1,
        lambdaL2: 1,
        minSumHessianInLeaf: 1,
        minDataInLeaf: 1,
        numThreads: 1,
      });
      trainSeconds = (performance.now() - t) / 1000;
      if (oursCache) writeFileSync(oursCache, JSON.stringify(model.toJSON()));
    }
    models.push({ leaves, model });
    const auc = ml.rocAuc(test.y, model.predictProba(test.frame));
    const numLeaves = model.trees.reduce((s, t) => s + t.splitFeature.filter((f) => f === -1).length, 0);
    const ours = {
      engine: 'ours',
      leavesSetting: leaves,
      trainSeconds,
      auc,
      leaves: numLeaves,
      ...timeOurs(model, test.frame, a.repeats),
    };
    loads.push(loadAvg());
    if (setKernel && !a.js) {
      setKernel('js');
      const js = model.predictRaw(test.frame);
      setKernel('auto');
      const auto = model.predictRaw(test.frame);
      let mismatches = 0;
      for (let i = 0; i < js.length; i++) if (!Object.is(js[i], auto[i])) mismatches++;
      const [dflt, jsOnly] = timeInterleaved(
        [
          { model, frame: test.frame, before: () => setKernel('auto') },
          { model, frame: test.frame, before: () => setKernel('js') },
        ],
        a.repeats,
      );
      setKernel(defaultKernel);
      const row = { engine: 'kernels', leavesSetting: leaves, mismatches, auto: dflt, js: jsOnly, load: loadAvg() };
      kernelRows.push(row);
      console.log(JSON.stringify(row));
    }
    if (other) {
      const twin = other.GbdtModel.fromJSON(JSON.stringify(model.toJSON()));
      const mine = model.predictRaw(test.frame);
      const theirs = twin.predictRaw(otherTest.frame);
      let mismatches = 0;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) mismatches++;
      const [thisBuild, thatBuild] = timeInterleaved(
        [
          { model, frame: test.frame },
          { model: twin, frame: otherTest.frame },
        ],
        a.repeats,
      );
      const row = { engine: 'compare', leavesSetting: leaves, mismatches, thisBuild, thatBuild, load: loadAvg() };
      comparisons.push(row);
      console.log(JSON.stringify(row));
    }
    const xgbRow = runXgb({
      dir,
      leaves,
      rounds: a.rounds,
      repeats: a.repeats,
      cache: a.cache ? join(a.cache, `${tag}.xgb.json`) : '',
    });
    loads.push(loadAvg());
    for (const r of [ours, { ...xgbRow, leavesSetting: leaves }]) {
      r.trees = a.rounds;
      r.predictRows = meta.nTest;
      rows.push(r);
      console.log(JSON.stringify(r));
    }
  }
  // Order check: every model again, passes interleaved, after all of them were loaded and timed. A model that is
  // slower here than in its own row above (beyond noise) runs on worse code for not being the first one loaded.
  const again =
    models.length > 1
      ? timeInterleaved(
          models.map((m) => ({ model: m.model, frame: test.frame })),
          a.repeats,
        )
      : [];
  again.forEach((r, i) => console.log(JSON.stringify({ engine: 'ours-again', leavesSetting: models[i].leaves, ...r })));
  const f0 = (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en') : '—');
  const f1 = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(1) : '—');
  const xgbVersion = rows.find((r) => r.version)?.version ?? '?';
  const head = spawnSync('git', ['log', '-1', '--format=%h'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const lines = [
    `Command: \`node bench/ml/predict.mjs ${process.argv.slice(2).join(' ')}\`  `,
    `Date: ${new Date().toISOString()}; ${cpus().length} cores, ${cpus()[0]?.model ?? '?'}; Node ${process.versions.node}; ` +
      `XGBoost ${xgbVersion}; engine ${ml.ENGINE_VERSION} at commit ${head}.  `,
    `Data: higgs ${a.scale}, ${meta.nTrain.toLocaleString('en')} training rows, predicting ` +
      `${meta.nTest.toLocaleString('en')} test rows × ${meta.numFeatures} features. ` +
      `Load average (1 min) during the run: ${Math.min(...loads)}–${Math.max(...loads)} on ${cpus().length} cores.`,
    '',
    '| model | engine | leaves (total) | test AUC | batched rows/s (wall) | batched rows/CPU-s | XGB predict(DMatrix) rows/s | single-row median µs | single-row p99 µs |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const name = r.engine === 'ours' ? 'ours `predictProba` / `predictRow`' : 'XGBoost `inplace_predict`';
    lines.push(
      `| ${r.trees} trees × ${r.leavesSetting} leaves | ${name}${r.failed ? ` (failed: ${r.error})` : ''} | ${f0(r.leaves)} | ` +
        `${typeof r.auc === 'number' ? r.auc.toFixed(4) : '—'} | ${f0(r.batchRowsPerSec)} | ${f0(r.batchRowsPerCpuSec)} | ` +
        `${f0(r.dmatrixRowsPerSec)} | ${f1(r.singleRowMedianUs)} | ${f1(r.singleRowP99Us)} |`,
    );
  }
  if (again.length > 0) {
    lines.push(
      '',
      `Order check: all our models again after every one was loaded, ${a.repeats} interleaved passes each, best pass:`,
      '',
      '| model | batched rows/s (wall) | batched rows/CPU-s | first run rows/CPU-s |',
      '|---|---:|---:|---:|',
    );
    again.forEach((r, i) => {
      const first = rows.find((x) => x.engine === 'ours' && x.leavesSetting === models[i].leaves);
      lines.push(
        `| ${a.rounds} trees × ${models[i].leaves} leaves | ${f0(r.batchRowsPerSec)} | ${f0(r.batchRowsPerCpuSec)} | ` +
          `${f0(first?.batchRowsPerCpuSec)} |`,
      );
    });
  }
  if (kernelRows.length > 0) {
    lines.push(
      '',
      `Kernels: the default (WebAssembly where the model allows it) against the JS kernel forced, same build and model, ${a.repeats} interleaved passes each, best pass:`,
      '',
      '| model | default rows/CPU-s | JS kernel rows/CPU-s | ratio | rows predicted differently | load (1 min) |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const r of kernelRows) {
      lines.push(
        `| ${a.rounds} trees × ${r.leavesSetting} leaves | ${f0(r.auto.batchRowsPerCpuSec)} | ${f0(r.js.batchRowsPerCpuSec)} | ` +
          `${(r.auto.batchRowsPerCpuSec / r.js.batchRowsPerCpuSec).toFixed(2)} | ${r.mismatches} | ${r.load} |`,
      );
    }
  }
  if (other) {
    lines.push(
      '',
      `Same models, this build (\`${relative(ROOT, a.dist)}\`) against \`${relative(ROOT, a.compare)}\`, ${a.repeats} interleaved passes each, best pass:`,
      '',
      '| model | this build rows/CPU-s | that build rows/CPU-s | ratio | rows predicted differently | load (1 min) |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const r of comparisons) {
      lines.push(
        `| ${a.rounds} trees × ${r.leavesSetting} leaves | ${f0(r.thisBuild.batchRowsPerCpuSec)} | ` +
          `${f0(r.thatBuild.batchRowsPerCpuSec)} | ${(r.thisBuild.batchRowsPerCpuSec / r.thatBuild.batchRowsPerCpuSec).toFixed(2)} | ` +
          `${r.mismatches} | ${r.load} |`,
      );
    }
  }
  console.log('\n' + lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
