// Samplers with an ask/tell interface: random search and the Tree-structured Parzen Estimator (Bergstra et al. 2011,
// with Optuna's defaults: gamma, ramped weights, prior kernel, magic clip, 24 EI candidates, optional joint kernels).
import { Rng } from '../gbdt/rng.js';
import { MlError } from '../errors.js';
import { ParzenEstimator, sampleUniform } from './parzen.js';
import type { ParzenOptions } from './parzen.js';
import { compileSpace, decodeParams } from './space.js';
import type { Dimension, SearchSpace, SpaceNode, TrialParams } from './space.js';

export type Direction = 'maximize' | 'minimize';

/**
 * What a finished trial tells the sampler. Pruned trials carry their last reported (step, value); a trial pruned
 * between cross-validation folds also the number of folds it finished (it then got further than any trial pruned
 * inside its first fold) and, as value, the mean metric of those folds.
 */
export type TellResult =
  | { state: 'complete'; value: number }
  | { state: 'pruned'; step: number; value: number; folds?: number }
  | { state: 'failed' };

export interface AskedTrial {
  number: number;
  params: TrialParams;
  /** Sampled values by dimension key (numbers; categorical as choice index). */
  encoded: Map<string, number>;
}

export interface Sampler {
  /** Draws the next trial's parameters. Trials asked but not yet told are "running". */
  ask(): AskedTrial;
  tell(number: number, result: TellResult): void;
}

interface History {
  encoded: Map<string, number>;
  state: 'running' | TellResult['state'];
  /** Loss (lower is better) of a complete trial, or of a pruned trial's last intermediate value. */
  loss: number;
  step: number;
  /** Folds a pruned trial finished (0 when it was pruned inside its first fold). */
  folds: number;
}

/** The seed of trial `n`'s draws: a trial's parameters depend on the study seed, its number and the history only. */
function trialSeed(seed: number, n: number): number {
  let h = (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(n + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  return (h ^ (h >>> 12)) >>> 0;
}

abstract class BaseSampler implements Sampler {
  protected readonly root: SpaceNode;
  protected readonly history: History[] = [];
  protected readonly sign: number;

  constructor(
    space: SearchSpace,
    protected readonly seed: number,
    direction: Direction,
  ) {
    this.root = compileSpace(space);
    this.sign = direction === 'maximize' ? -1 : 1;
    if (!Number.isInteger(seed)) throw new MlError('INVALID_PARAM', `seed must be an integer, got ${seed}`);
  }

  ask(): AskedTrial {
    const number = this.history.length;
    const rng = new Rng(trialSeed(this.seed, number));
    const encoded = new Map<string, number>();
    const walk = (node: SpaceNode): void => {
      this.sampleNode(node, encoded, rng);
      for (const [key, kids] of node.children) {
        const d = node.dims.find((x) => x.key === key)!;
        const choice = d.dist.kind === 'categorical' ? d.dist.choices[encoded.get(key)!] : undefined;
        walk(kids.get(String(choice))!);
      }
    };
    walk(this.root);
    this.history.push({ encoded, state: 'running', loss: NaN, step: 0, folds: 0 });
    return { number, params: decodeParams(this.root, encoded), encoded };
  }

  tell(number: number, result: TellResult): void {
    const h = this.history[number];
    if (!h) throw new MlError('INVALID_PARAM', `trial ${number} was never asked`);
    if (h.state !== 'running') throw new MlError('INVALID_PARAM', `trial ${number} was already told`);
    h.state = result.state;
    if (result.state === 'complete' || result.state === 'pruned') {
      if (!Number.isFinite(result.value)) {
        // A NaN/∞ objective is a failure, not a (best or worst) value the model of the space should learn from.
        h.state = 'failed';
        return;
      }
      h.loss = this.sign * result.value;
      if (result.state === 'pruned') {
        h.step = result.step;
        h.folds = result.folds ?? 0;
      }
    }
  }

  protected abstract sampleNode(node: SpaceNode, encoded: Map<string, number>, rng: Rng): void;
}

/** Independent uniform (log-uniform) draws for every trial. */
export class RandomSampler extends BaseSampler {
  constructor(opts: { space: SearchSpace; seed?: number; direction?: Direction }) {
    super(opts.space, opts.seed ?? 0, opts.direction ?? 'maximize');
  }
  protected sampleNode(node: SpaceNode, encoded: Map<string, number>, rng: Rng): void {
    for (const d of node.dims) encoded.set(d.key, sampleUniform(d.dist, rng));
  }
}

export interface TpeOptions {
  space: SearchSpace;
  seed?: number;
  direction?: Direction;
  /** Random trials before the model is used (counting complete and pruned trials). Default 10. */
  nStartup?: number;
  /** Candidates drawn from l(x) per decision; the one with the largest l(x)/g(x) wins. Default 24. */
  nEiCandidates?: number;
  /** Size of the "good" set for n observations. Default Optuna's min(ceil(0.1 n), 25). */
  gamma?: (n: number) => number;
  /** Prior kernel weight. Default 1. */
  priorWeight?: number;
  /** Default true. */
  magicClip?: boolean;
  /**
   * One joint kernel over all parameters of a subspace (the parameters that are always sampled together; the
   * algorithm's branch opens its own subspace), instead of one estimator per parameter. Default true.
   */
  multivariate?: boolean;
  /**
   * Count running trials as bad observations ("constant liar"), so parallel trials spread out instead of
   * sampling the same region. Default true.
   */
  constantLiar?: boolean;
}

/** Optuna's default gamma: the best 10 % of observations, at most 25. */
export function defaultGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

/** Optuna's default weights: flat up to 25 observations, older ones ramped down beyond (in trial order). */
export function defaultWeights(n: number): number[] {
  if (n === 0) return [];
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = n - 25;
  const out: number[] = [];
  for (let i = 0; i < ramp; i++) out.push(ramp === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * i) / (ramp - 1));
  for (let i = 0; i < 25; i++) out.push(1);
  return out;
}

/** TPE: models p(x | good) and p(x | bad) with Parzen estimators and proposes the candidate maximising their ratio. */
export class TpeSampler extends BaseSampler {
  private readonly nStartup: number;
  private readonly nCandidates: number;
  private readonly gamma: (n: number) => number;
  private readonly parzen: ParzenOptions;
  private readonly multivariate: boolean;
  private readonly liar: boolean;

  constructor(o: TpeOptions) {
    super(o.space, o.seed ?? 0, o.direction ?? 'maximize');
    this.nStartup = o.nStartup ?? 10;
    this.nCandidates = o.nEiCandidates ?? 24;
    this.gamma = o.gamma ?? defaultGamma;
    this.multivariate = o.multivariate ?? true;
    this.liar = o.constantLiar ?? true;
    this.parzen = { priorWeight: o.priorWeight ?? 1, magicClip: o.magicClip ?? true, multivariate: this.multivariate };
    if (!(Number.isInteger(this.nStartup) && this.nStartup >= 0)) {
      throw new MlError('INVALID_PARAM', 'nStartup must be a non-negative integer');
    }
    if (!(Number.isInteger(this.nCandidates) && this.nCandidates >= 1)) {
      throw new MlError('INVALID_PARAM', 'nEiCandidates must be a positive integer');
    }
  }

  protected sampleNode(node: SpaceNode, encoded: Map<string, number>, rng: Rng): void {
    const finished = this.history.filter((h) => h.state === 'complete' || h.state === 'pruned').length;
    if (finished < this.nStartup) {
      for (const d of node.dims) encoded.set(d.key, sampleUniform(d.dist, rng));
      return;
    }
    if (node.dims.length === 0) return;
    const groups = this.multivariate ? [node.dims] : node.dims.map((d) => [d]);
    for (const dims of groups) {
      const [below, above] = this.split(dims);
      const l = new ParzenEstimator(dims, below.obs, below.weights, this.parzen);
      const g = new ParzenEstimator(dims, above.obs, above.weights, this.parzen);
      const cands = l.sample(rng, this.nCandidates);
      const ll = l.logPdf(cands);
      const lg = g.logPdf(cands);
      let best = 0;
      for (let i = 1; i < cands.length; i++) if (ll[i]! - lg[i]! > ll[best]! - lg[best]!) best = i;
      dims.forEach((d, j) => encoded.set(d.key, cands[best]![j]!));
    }
  }

  /**
   * Splits the trials that have every dimension of `dims` into the good set (the best gamma(n)) and the rest.
   * Complete trials rank by loss, then pruned ones (those that got further first — more finished folds, then more
   * rounds —, then by their last value),
   * then running ones (constant liar). Each side is weighted in trial order.
   */
  private split(dims: Dimension[]): [Side, Side] {
    const rows: { n: number; h: History }[] = [];
    this.history.forEach((h, n) => {
      if (h.state === 'failed' || (h.state === 'running' && !this.liar)) return;
      if (dims.every((d) => h.encoded.has(d.key))) rows.push({ n, h });
    });
    const rank = (h: History): number => (h.state === 'complete' ? 0 : h.state === 'pruned' ? 1 : 2);
    const ordered = [...rows].sort(
      (a, b) =>
        rank(a.h) - rank(b.h) ||
        (a.h.state === 'pruned' ? b.h.folds - a.h.folds || b.h.step - a.h.step : 0) ||
        (a.h.state === 'running' ? 0 : a.h.loss - b.h.loss) ||
        a.n - b.n,
    );
    const nBelow = Math.min(ordered.length, Math.max(0, this.gamma(ordered.length)));
    const good = new Set(ordered.slice(0, nBelow).map((r) => r.n));
    const side = (isGood: boolean): Side => {
      const mine = rows.filter((r) => good.has(r.n) === isGood); // rows are in trial order
      return {
        obs: mine.map((r) => dims.map((d) => r.h.encoded.get(d.key)!)),
        weights: defaultWeights(mine.length),
      };
    };
    return [side(true), side(false)];
  }
}

interface Side {
  obs: number[][];
  weights: number[];
}
