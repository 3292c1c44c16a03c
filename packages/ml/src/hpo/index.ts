// Hyperparameter search: search spaces, TPE and random samplers, successive-halving pruning, the study runner,
// pruning between folds, cross-validation of one configuration, the worker-thread trial pool (optionally searching on
// a sample of the rows) and the confirmation of the best configurations on every row. Pure computation; no I/O.
export {
  compileSpace,
  validateSpace,
  overrideSpace,
  defaultSearchSpace,
  defaultGbdtSpace,
  defaultLogisticSpace,
  LARGE_DATA_ROWS,
} from './space.js';
export type {
  SearchSpace,
  ParamSpec,
  FloatParam,
  IntParam,
  CategoricalParam,
  ConstParam,
  BranchParam,
  ParamValue,
  TrialParams,
  SpaceOverrides,
  BranchOverride,
  DefaultSpaceOptions,
} from './space.js';
export { TpeSampler, RandomSampler, defaultGamma, defaultWeights } from './tpe.js';
export type { Sampler, AskedTrial, TellResult, TpeOptions, Direction } from './tpe.js';
export { SuccessiveHalvingPruner, FoldPruner, RungBoard, shouldPrune, shouldPruneFold } from './pruner.js';
export type { SuccessiveHalvingOptions, FoldPrunerOptions, PruneSchedule, LiveRungs } from './pruner.js';
export { runStudy, TrialPruned } from './study.js';
export type {
  StudyOptions,
  StudyResult,
  TrialRecord,
  TrialState,
  TrialContext,
  Objective,
  ObjectiveResult,
} from './study.js';
export { crossValidate, cvSplits, PrunedError, FoldPrunedError } from './cross-validate.js';
export type { CrossValidateOptions, CvResult, FoldResult, CvAlgorithm } from './cross-validate.js';
export { trialPool } from './pool.js';
export type { TrialPool, TrialPoolOptions, PoolRunResult } from './pool.js';
export { confirmFinalists } from './finalists.js';
export type { Finalist, ConfirmOptions } from './finalists.js';
