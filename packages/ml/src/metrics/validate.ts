// Input checks shared by the evaluation metrics: labels must be 0/1, scores finite, lengths equal.
// One place so every metric rejects the same bad input with the same MlError code.
import { MlError } from '../errors.js';

export type Labels = ArrayLike<number>;
export type Scores = ArrayLike<number>;

/** Counts of positives and negatives after checking that labels are 0/1 and scores are finite numbers. */
export function checkBinary(labels: Labels, scores: Scores, what = 'scores'): { pos: number; neg: number } {
  const n = labels.length;
  if (n === 0) throw new MlError('EMPTY_INPUT', 'no cases to evaluate');
  if (scores.length !== n) {
    throw new MlError('LENGTH_MISMATCH', `${n} labels but ${scores.length} ${what}`);
  }
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y === 1) pos++;
    else if (y !== 0) throw new MlError('LABEL_NOT_BINARY', `label at row ${i} is ${String(y)}; labels must be 0 or 1`);
    const s = scores[i]!;
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new MlError('SCORE_NOT_FINITE', `${what} at row ${i} is ${String(s)}; scores must be finite numbers`);
    }
  }
  return { pos, neg: n - pos };
}

/** Like checkBinary, and both classes must be present (AUC, ROC and DeLong are undefined otherwise). */
export function checkBothClasses(labels: Labels, scores: Scores, what = 'scores'): { pos: number; neg: number } {
  const c = checkBinary(labels, scores, what);
  if (c.pos === 0 || c.neg === 0) {
    throw new MlError('SINGLE_CLASS', `only one class present (${c.pos} positives, ${c.neg} negatives)`);
  }
  return c;
}

/** Checks that predicted probabilities lie in [0, 1]. */
export function checkProbabilities(scores: Scores): void {
  for (let i = 0; i < scores.length; i++) {
    const p = scores[i]!;
    if (p < 0 || p > 1) {
      throw new MlError(
        'SCORE_NOT_PROBABILITY',
        `score at row ${i} is ${p}; this metric needs probabilities in [0, 1]`,
      );
    }
  }
}

/** Row indices ordered by score, highest first (ties keep no particular order). */
export function orderByScoreDesc(scores: Scores): Uint32Array {
  const n = scores.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const s = Float64Array.from(scores);
  idx.sort((a, b) => s[b]! - s[a]!);
  return idx;
}
