// HPO sample-efficiency benchmark: our TPE + successive halving searching @ichigen/ml's GBDT (trials in a 2-worker
// pool) against Optuna's TPE searching XGBoost (2 threads per trial), same data, folds, holdout, space and trial
// budget; holdout AUC of the CV-best configuration after 10, 30, 60 trials, median over seeds, and wall time.
//
// Usage: node bench/hpo/run.mjs [--seeds 5] [--first-seed 1] [--live-rungs] [--trials 60] [--rows 20000] [--skip-build] [--out .bench-data]
//        [--engines ours,optuna] [--json results.jsonl] [--dist DIR]
// --dist takes the engine from another build of packages/ml (e.g. one commit's `git archive` built with tsc) instead
// of building and snapshotting this checkout's.
// Runs the engines one after the other (never at the same time), seed by seed, and prints a Markdown table.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureData } from './data.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const argv = process.argv.slice(2);
const get = (flag, dflt) => {
  const k = argv.indexOf(flag);
  return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1] : dflt;
};
const seeds = Number(get('--seeds', '5'));
const firstSeed = Number(get('--first-seed', '1'));
const trials = Number(get('--trials', '60'));
const rows = Number(get('--rows', '20000'));
const out = get('--out', join(ROOT, '.bench-data'));
const engines = get('--engines', 'ours,optuna').split(',');
const jsonOut = get('--json', '');
const checkpoints = [10, 30, 60].filter((c) => c <= trials);
if (!checkpoints.includes(trials)) checkpoints.push(trials);

const fromDist = get('--dist', '');
if (!argv.includes('--skip-build') && !fromDist) {
  execFileSync('npx', ['tsc', '-b', 'packages/ml'], { cwd: ROOT, stdio: 'inherit' });
}
// A snapshot of dist, so a rebuild by someone else during a long run cannot change the engine under it.
const dist = mkdtempSync(join(tmpdir(), 'ichigen-hpo-dist-'));
// (Without a node_modules the source may hold: the link below would otherwise be made inside its target.)
const source = fromDist || join(ROOT, 'packages/ml/dist');
cpSync(source, dist, { recursive: true, filter: (src) => relative(source, src).split(sep)[0] !== 'node_modules' });
// dist imports its dependencies (apache-arrow, protobufjs) by name: resolve them from the repository.
cpSync(join(ROOT, 'packages/ml/package.json'), join(dist, 'package.json'));
const distLink = join(dist, 'node_modules');
symlinkSync(join(ROOT, 'node_modules'), distLink);

const dataDir = await ensureData({ out, rows, dist });
const meta = JSON.parse(readFileSync(join(dataDir, 'meta.json'), 'utf8'));
console.error(
  `data ${dataDir}: ${meta.rows} rows × ${meta.features.length}, ${meta.patients} patients, ` +
    `${((100 * meta.positives) / meta.rows).toFixed(1)} % positive; search ${meta.train}, holdout ${meta.holdout}`,
);

function runOne(engine, seed) {
  const common = [
    '--data',
    dataDir,
    '--seed',
    String(seed),
    '--trials',
    String(trials),
    '--checkpoints',
    checkpoints.join(','),
  ];
  const [cmd, args] =
    engine === 'ours'
      ? [
          process.execPath,
          [
            join(ROOT, 'bench/hpo/ours.mjs'),
            ...common,
            '--workers',
            '2',
            '--dist',
            dist,
            ...(argv.includes('--live-rungs') ? ['--live-rungs'] : []),
          ],
        ]
      : ['/usr/bin/python3', [join(ROOT, 'bench/hpo/optuna_xgb.py'), ...common, '--threads', '1', '--jobs', '2']];
  const load = loadavg()[0];
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${engine} seed ${seed} failed (${r.status}):\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop();
  const res = { ...JSON.parse(line), loadBefore: load };
  if (jsonOut) appendFileSync(jsonOut, JSON.stringify(res) + '\n');
  console.error(
    `${engine} seed ${seed}: ` +
      res.checkpoints.map((c) => `${c.trials}: cv ${c.cv?.toFixed(4)} holdout ${c.holdout?.toFixed(4)}`).join(' | ') +
      ` | search ${res.searchSeconds.toFixed(1)} s (CPU ${res.searchCpuSeconds.toFixed(1)} s), states ${JSON.stringify(res.states)}, load ${load.toFixed(1)}`,
  );
  return res;
}

const results = Object.fromEntries(engines.map((e) => [e, []]));
try {
  for (let s = firstSeed; s < firstSeed + seeds; s++) for (const e of engines) results[e].push(runOne(e, s));
} finally {
  rmSync(dist, { recursive: true, force: true });
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const names = {
  ours: '@ichigen/ml TPE + SH → our GBDT (2 workers)',
  optuna: 'Optuna 3.1 TPE + SH → XGBoost hist (n_jobs 2 × 1 thread)',
};
const header = [
  'sampler → learner',
  ...checkpoints.map((c) => `holdout AUC @${c}`),
  ...checkpoints.map((c) => `CV AUC @${c}`),
  `search wall s (${trials} trials)`,
  'search CPU s',
  'pruned / trials',
];
const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
for (const e of engines) {
  const rs = results[e];
  const at = (c, key) => median(rs.map((r) => r.checkpoints.find((x) => x.trials === c)?.[key]));
  lines.push(
    `| ${names[e]} | ${checkpoints.map((c) => at(c, 'holdout').toFixed(4)).join(' | ')} | ` +
      `${checkpoints.map((c) => at(c, 'cv').toFixed(4)).join(' | ')} | ${median(rs.map((r) => r.searchSeconds)).toFixed(0)} | ` +
      `${median(rs.map((r) => r.searchCpuSeconds)).toFixed(0)} | ` +
      `${median(rs.map((r) => r.states.pruned))} / ${trials} |`,
  );
}
console.log(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; medians over ${seeds} seeds`,
);
console.log(lines.join('\n'));
