// One benchmark run of the ML engine against its anchors: generates the data, runs XGBoost, scikit-learn and our
// engine on it in the same run (each configuration in its own process), and prints Markdown tables with ratios.
//
// Usage: node bench/ml/run.mjs [--quick] [--only higgs,wide,clinical,linear] [--threads 1,2] [--engines xgb,hgb,ours]
//                              [--skip-build] [--dist DIR] [--out .bench-data]
// --dist DIR runs our engine from another build of packages/ml (e.g. a copy of dist made before a change), for an
// A/B against the anchors in the same conditions; DIR must lie inside the repository so it finds node_modules.
// Results: <out>/results/<scale>-<timestamp>.jsonl (one JSON line per run) and .md (the tables printed at the end).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));
const PYTHON = '/usr/bin/python3';

function parseArgs(argv) {
  const get = (flag, dflt) => {
    const k = argv.indexOf(flag);
    return k >= 0 && argv[k + 1] ? argv[k + 1] : dflt;
  };
  return {
    scale: argv.includes('--quick') ? 'quick' : 'full',
    only: get('--only', 'higgs,wide,clinical,linear').split(','),
    threads: get('--threads', '1,2').split(',').map(Number),
    engines: get('--engines', 'xgb,hgb,ours').split(','),
    skipBuild: argv.includes('--skip-build'),
    dist: get('--dist', ''),
    out: get('--out', join(ROOT, '.bench-data')),
    report: get('--report', ''),
  };
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** Runs one configuration in a child process and returns its JSON line (or an error row that the tables show). */
function runChild(label, cmd, args) {
  process.stderr.write(`[${new Date().toISOString()}] ${label} ... `);
  const r = sh(cmd, args, { cwd: ROOT, timeout: 3 * 3600 * 1000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const row = JSON.parse(line);
    process.stderr.write(`${row.trainSeconds?.toFixed(2)} s, AUC ${row.auc?.toFixed(4)}\n`);
    return row;
  } catch {
    const why = (r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' | ');
    process.stderr.write(`FAILED (exit ${r.code}): ${why}\n`);
    return { label, failed: true, exitCode: r.code, error: why };
  }
}

const f = (v, digits = 2) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—');
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const signed = (v) => (typeof v === 'number' && Number.isFinite(v) ? (v >= 0 ? '+' : '') + v.toFixed(4) : '—');

function tables(rows, env) {
  const find = (engine, dataset, threads) =>
    rows.find((r) => r.engine === engine && r.dataset === dataset && r.threads === threads);
  const out = [];
  out.push(
    `Command: \`${env.command}\`  `,
    `Date: ${env.date}; machine: ${env.nproc} cores, ${env.cpu}; Node ${env.node}; ` +
      `Python ${env.py.python}, XGBoost ${env.py.xgboost}, scikit-learn ${env.py.sklearn}, numpy ${env.py.numpy}; ` +
      `engine ${env.engine}.  `,
    `Load average (1 min) across runs: ${env.loadMin}–${env.loadMax} (2 cores: above ~2 means other processes ` +
      `competed for the CPU; CPU seconds are less affected than wall seconds).`,
    '',
    '**GBDT training** (100 rounds, 255 leaves leaf-wise, 255 bins, learning rate 0.1; time includes binning). ' +
      'Wall seconds, CPU seconds in parentheses; AUC on the held-out test set; peak RSS of the whole process.',
    '',
    '| data set | threads | XGBoost s | sklearn HGB s | ours s | ours / XGBoost wall (CPU) | AUC XGBoost | AUC HGB | AUC ours | ' +
      'ΔAUC ours − XGB | peak MB XGB / HGB / ours |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const ds of ['higgs', 'wide', 'clinical']) {
    for (const t of env.threads) {
      const x = find('xgboost', ds, t);
      const h = find('sklearn-hgb', ds, t);
      const o = find('ours', ds, t);
      if (!x && !h && !o) continue;
      const sz = x ?? h ?? o;
      const cell = (r) => (r ? `${f(r.trainSeconds, 1)} (${f(r.trainCpuSeconds, 1)})` : '—');
      out.push(
        `| ${ds} ${sz.nTrain.toLocaleString('en')}×${sz.numFeatures} | ${t} | ${cell(x)} | ${cell(h)} | ${cell(o)} | ` +
          `${ratio(o?.trainSeconds, x?.trainSeconds)} (${ratio(o?.trainCpuSeconds, x?.trainCpuSeconds)}) | ${f(x?.auc, 4)} | ${f(h?.auc, 4)} | ${f(o?.auc, 4)} | ` +
          `${signed(o && x ? o.auc - x.auc : undefined)} | ${f(x?.peakRssMB, 0)} / ${f(h?.peakRssMB, 0)} / ` +
          `${f(o?.peakRssMB, 0)} |`,
      );
    }
  }
  const pred = rows.filter((r) => typeof r.batchRowsPerSec === 'number');
  if (pred.length > 0) {
    out.push(
      '',
      '**Prediction** with the 100-tree higgs model trained on 1 thread, predicting on 1 thread: batched over the ' +
        'test set (best of 3), and one row at a time (XGBoost `inplace_predict` on a 1×28 array; ours `predictRow` ' +
        'on an object; sklearn `predict_proba` on a 1×28 array), including each language’s call overhead.',
      '',
      '| engine | rows | batched rows/s | single-row median µs | single-row p99 µs |',
      '|---|---:|---:|---:|---:|',
    );
    for (const r of pred) {
      out.push(
        `| ${r.engine} | ${r.predictRows.toLocaleString('en')} | ${Math.round(r.batchRowsPerSec).toLocaleString('en')} | ` +
          `${f(r.singleRowMedianUs, 1)} | ${f(r.singleRowP99Us, 1)} |`,
      );
    }
  }
  const lr = rows.filter((r) => r.engine === 'sklearn-logreg' || r.engine === 'ours-logreg');
  if (lr.length > 0) {
    out.push(
      '',
      '**Logistic regression** (L2, C = 1, L-BFGS) on the linear data set. sklearn: `LogisticRegression(solver=' +
        "'lbfgs')` with its defaults (tol 1e-4, max_iter 100, no standardization); ours: `trainLogistic` defaults " +
        '(standardizes inside, tol 1e-7 on the mean-loss scale, maxIter 1000).',
      '',
      '| engine | threads | rows × features | fit s (CPU s) | iterations | converged | test AUC | peak MB |',
      '|---|---:|---|---:|---:|---|---:|---:|',
    );
    for (const r of lr) {
      out.push(
        `| ${r.engine} | ${r.threads} | ${r.nTrain.toLocaleString('en')}×${r.numFeatures} | ` +
          `${f(r.trainSeconds, 2)} (${f(r.trainCpuSeconds, 2)}) | ${r.iterations ?? '—'} | ${r.converged ?? '—'} | ` +
          `${f(r.auc, 4)} | ${f(r.peakRssMB, 0)} |`,
      );
    }
  }
  const failed = rows.filter((r) => r.failed);
  if (failed.length > 0) {
    out.push('', '**Failed runs**', '');
    for (const r of failed) out.push(`- ${r.label}: exit ${r.exitCode}: ${r.error}`);
  }
  return out.join('\n') + '\n';
}

/** The commit the engine was built from, and whether packages/ml had uncommitted edits at that moment. */
function gitState() {
  const head = sh('git', ['log', '-1', '--format=%h'], { cwd: ROOT }).stdout.trim();
  const dirty = sh('git', ['status', '--porcelain', 'packages/ml'], { cwd: ROOT }).stdout.trim();
  return `commit ${head || '?'}${dirty ? ' + uncommitted packages/ml edits' : ''}`;
}

function describe(rows, a, py, builtFrom, startedAt) {
  const loads = rows.flatMap((r) => [r.loadAvgStart, r.loadAvgEnd]).filter((v) => typeof v === 'number');
  return {
    command: `node bench/ml/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    date: startedAt,
    nproc: cpus().length,
    cpu: (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown',
    node: process.version,
    py,
    engine: `${rows.find((r) => r.engineVersion)?.engineVersion ?? '—'} at ${builtFrom}`,
    threads: a.threads,
    loadMin: loads.length ? Math.min(...loads).toFixed(1) : '—',
    loadMax: loads.length ? Math.max(...loads).toFixed(1) : '—',
  };
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  const versions = sh(PYTHON, [join(HERE, 'anchors.py'), 'versions']);
  if (versions.code !== 0) {
    console.error(`The anchors cannot run with ${PYTHON}:\n${versions.stderr || versions.error}`);
    process.exit(3);
  }
  if (a.report) {
    // Tables again from an earlier (possibly unfinished) run's JSON lines, e.g. after it was interrupted.
    const rows = readFileSync(a.report, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const started = (a.report.match(/(\d{4}-\d\d-\d\dT\d\d-\d\d)/) ?? [])[1]
      ?.replace('T', ' ')
      .replace(/-(\d\d)$/, ':$1');
    const env = describe(rows, a, JSON.parse(versions.stdout), '(see the run log)', `${started ?? '?'} UTC`);
    env.command = `node bench/ml/run.mjs ${a.scale === 'quick' ? '--quick ' : ''}(rendered with --report ${a.report})`;
    console.log(tables(rows, env));
    return;
  }
  const startedAt = new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let dist = join(ROOT, 'packages/ml/dist');
  const builtFrom = a.dist ? `the build in ${a.dist}` : gitState();
  if (a.dist) dist = resolve(a.dist);
  if (a.engines.includes('ours') && !a.dist) {
    if (!a.skipBuild) {
      const b = sh('npx', ['tsc', '-b', 'packages/ml'], { cwd: ROOT });
      if (b.code !== 0) {
        console.error(`npx tsc -b packages/ml failed:\n${b.stdout}${b.stderr}`);
        process.exit(1);
      }
    }
    // A copy of the built engine: other work may rebuild packages/ml while a long run is going.
    const snap = join(a.out, 'engine-dist', stamp);
    cpSync(dist, snap, { recursive: true });
    dist = snap;
  }
  // Generated in a child process: Linux carries a parent's resident size into a child's ru_maxrss across
  // fork/exec, so this runner must stay small for the children's peak memory to be their own.
  const gen = sh(process.execPath, [
    join(HERE, 'generate.mjs'),
    '--scale',
    a.scale,
    '--out',
    a.out,
    '--only',
    a.only.join(','),
  ]);
  process.stderr.write(gen.stdout + gen.stderr);
  if (gen.code !== 0) process.exit(1);
  const resultsDir = join(a.out, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonl = join(resultsDir, `${a.scale}-${stamp}.jsonl`);
  const rows = [];
  const record = (row) => {
    rows.push(row);
    appendFileSync(jsonl, JSON.stringify(row) + '\n');
  };
  const anchor = (model, dir, t, predict) =>
    runChild(`${model} ${dir} t=${t}`, PYTHON, [
      join(HERE, 'anchors.py'),
      'run',
      '--data',
      dir,
      '--model',
      model,
      '--threads',
      String(t),
      ...(predict ? ['--predict'] : []),
    ]);
  const ours = (model, dir, t, predict) =>
    runChild(`ours-${model} ${dir} t=${t}`, process.execPath, [
      join(HERE, 'ours.mjs'),
      '--data',
      dir,
      '--model',
      model,
      '--threads',
      String(t),
      '--dist',
      dist,
      ...(predict ? ['--predict'] : []),
    ]);
  // Interleaved per configuration, so slow drift in machine load hits every engine alike.
  for (const ds of a.only.filter((d) => d !== 'linear')) {
    const dir = join(a.out, a.scale, ds);
    for (const t of a.threads) {
      const predict = ds === 'higgs' && t === 1;
      if (a.engines.includes('xgb')) record(anchor('xgb', dir, t, predict));
      if (a.engines.includes('hgb')) record(anchor('hgb', dir, t, predict));
      if (a.engines.includes('ours')) record(ours('gbdt', dir, t, predict));
    }
  }
  if (a.only.includes('linear')) {
    const dir = join(a.out, a.scale, 'linear');
    for (const t of a.threads) {
      if (a.engines.includes('hgb') || a.engines.includes('xgb')) record(anchor('logreg', dir, t, false));
      // Our logistic regression has no threads: one run is enough.
      if (a.engines.includes('ours') && t === a.threads[0]) record(ours('logreg', dir, 1, false));
    }
  }
  const env = describe(rows, a, JSON.parse(versions.stdout), builtFrom, startedAt);
  const md = tables(rows, env);
  writeFileSync(jsonl.replace(/\.jsonl$/, '.md'), md);
  console.log(md);
  console.error(`results: ${jsonl}`);
}

main();
