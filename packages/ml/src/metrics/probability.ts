// Proper scoring rules for predicted probabilities: Brier score and log loss (as in scikit-learn).
import { checkBinary, checkProbabilities, type Labels, type Scores } from './validate.js';

/** Mean squared difference between predicted probability and outcome (sklearn brier_score_loss). */
export function brierScore(labels: Labels, probs: Scores): number {
  checkBinary(labels, probs);
  checkProbabilities(probs);
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const d = probs[i]! - labels[i]!;
    s += d * d;
  }
  return s / labels.length;
}

/** Mean negative log-likelihood, probabilities clipped to [ε, 1 − ε] with ε = 2⁻⁵² (sklearn log_loss, eps='auto'). */
export function logLoss(labels: Labels, probs: Scores): number {
  checkBinary(labels, probs);
  checkProbabilities(probs);
  const eps = Number.EPSILON;
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(probs[i]!, eps), 1 - eps);
    s -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return s / labels.length;
}
