// Where a study's time went, trial by trial: reads the records `ours.mjs --trials-json` wrote and prints each trial's
// state, learning rate, leaves, depth, rungs reached, folds, boosting rounds and duration, then the totals by group.
//
// Usage: node bench/hpo/trials.mjs FILE.json [FILE.json ...] [--top 10]
// Rounds are exact for fold 0 of a pruned trial (its last reported step) and for complete trials (each fold's best
// round + the early-stopping patience, at most the round cap); a trial pruned between folds kept no round counts
// for its finished folds, so its rounds are shown as "?" and left out of the totals.
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const k = argv.indexOf('--top');
const top = k >= 0 ? Number(argv[k + 1]) : 10;
const files = argv.filter((x, i) => !x.startsWith('--') && (k < 0 || i !== k + 1));
const PATIENCE = 50;
const CAP = 1000;

/** Rounds a trial trained (null when unknown) and the part of them spent after each fold's best round. */
function rounds(t) {
  const best = t.attrs?.bestIterations;
  if (best) {
    let all = 0;
    let patience = 0;
    for (const b of best) {
      const n = Math.min(CAP, b + PATIENCE);
      all += n;
      patience += n - b;
    }
    return { all, patience };
  }
  if (t.folds) return null;
  const last = t.intermediate.at(-1);
  return { all: last ? last[0] : 0, patience: 0 };
}

for (const file of files) {
  const trials = JSON.parse(readFileSync(file, 'utf8'));
  const total = { ms: 0, rounds: 0, patience: 0, startupMs: 0, startupRounds: 0 };
  const rows = trials.map((t) => {
    const r = rounds(t);
    total.ms += t.durationMs;
    if (r) {
      total.rounds += r.all;
      total.patience += r.patience;
    }
    // With the default lag (3 × 2 workers) trials 0–5 start before any trial has finished: nothing can prune them.
    if (t.number < 6) {
      total.startupMs += t.durationMs;
      total.startupRounds += r?.all ?? 0;
    }
    return { t, r };
  });
  console.log(`${file}: ${trials.length} trials, ${Math.round(total.ms)} ms of trial time, ${total.rounds} rounds`);
  console.log(
    `  trials 0–5: ${Math.round(total.startupMs)} ms (${((100 * total.startupMs) / total.ms).toFixed(0)} %), ` +
      `${total.startupRounds} rounds; rounds after the best (early-stopping patience): ${total.patience}`,
  );
  console.log('   #  state     lr     leaves depth rungs           folds rounds  ms     value');
  for (const { t, r } of [...rows].sort((a, b) => b.t.durationMs - a.t.durationMs).slice(0, top)) {
    const p = t.params;
    console.log(
      `  ${String(t.number).padStart(2)}  ${t.state.padEnd(8)}  ${Number(p.learningRate).toFixed(3)}  ` +
        `${String(p.numLeaves).padStart(6)} ${String(p.maxDepth).padStart(5)} ` +
        `${t.intermediate
          .map(([s]) => s)
          .join(',')
          .padEnd(15)} ${String(t.folds?.length ?? 0).padStart(5)} ${String(r ? r.all : '?').padStart(6)} ` +
        `${String(Math.round(t.durationMs)).padStart(6)} ${t.value === null ? '-' : t.value.toFixed(4)}`,
    );
  }
}
