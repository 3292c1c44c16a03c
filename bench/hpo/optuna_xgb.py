# The anchor of the HPO benchmark: Optuna's TPE sampler with successive-halving pruning searching XGBoost `hist`
# (lossguide trees) over the space of our default GBDT space, with the same folds, holdout, trial count and protocol
# as bench/hpo/ours.mjs. Prints one JSON line on stdout.
#
# Run with Debian's interpreter (python3-optuna, python3-xgboost, python3-sklearn):
#   /usr/bin/python3 bench/hpo/optuna_xgb.py --data DIR --seed 1 [--trials 60] [--checkpoints 10,30,60]
#       [--threads 1] [--jobs 2] [--multivariate]
# Default: two trials at once (Optuna's n_jobs=2, threads; XGBoost releases the GIL) with one XGBoost thread each,
# the same layout as our two single-threaded workers. On a loaded machine XGBoost with nthread=2 per trial spends most
# of its time in OpenMP barriers (measured 15× slower than nthread=1 at load average 13 on 2 cores).
import argparse
import json
import math
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument('--data', required=True)
p.add_argument('--seed', type=int, default=1)
p.add_argument('--trials', type=int, default=60)
p.add_argument('--checkpoints', default='10,30,60')
p.add_argument('--threads', type=int, default=1)
p.add_argument('--jobs', type=int, default=2)
p.add_argument('--multivariate', action='store_true')
ARGS = p.parse_args()
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
    os.environ[var] = str(ARGS.threads)

try:
    import numpy as np
    import optuna
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score
except ImportError as e:
    print(f'{e}\napt-get update && apt-get install -y python3-optuna python3-xgboost python3-sklearn', file=sys.stderr)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.WARNING)

with open(os.path.join(ARGS.data, 'meta.json')) as f:
    META = json.load(f)
N = META['rows']
F = len(META['features'])


def load(name, dtype):
    return np.fromfile(os.path.join(ARGS.data, name), dtype=dtype)


X = load('x.f32', '<f4').reshape((F, N)).T.astype(np.float64)  # column-major on disk
Y = load('y.u8', np.uint8).astype(np.float64)
TRAIN = load('train.u32', '<u4')
HOLD = load('holdout.u32', '<u4')
FOLD = load('fold.i8', np.int8)
XT, YT = X[TRAIN], Y[TRAIN]
XH, YH = X[HOLD], Y[HOLD]
FOLDS = [(np.where(FOLD != k)[0], np.where(FOLD == k)[0]) for k in range(META['folds'])]
DTRAIN = [xgb.DMatrix(XT[tr], label=YT[tr], missing=np.nan) for tr, _ in FOLDS]
DTEST = [xgb.DMatrix(XT[te], label=YT[te], missing=np.nan) for _, te in FOLDS]

# Our default GBDT space (packages/ml/src/hpo/space.ts, defaultGbdtSpace) in XGBoost's names. XGBoost has no row
# count per leaf; min_child_weight (hessian per leaf, <= 0.25 per row) covers the same leaf sizes at p = 0.5.
NROWS = len(TRAIN)
MAX_LEAVES = max(8, min(256, round(NROWS / 40)))
MAX_LEAF_DATA = max(20, min(1000, round(NROWS / 100)))


def params_of(trial):
    return {
        'eta': trial.suggest_float('learningRate', 0.01, 0.3, log=True),
        'max_leaves': trial.suggest_int('numLeaves', 4, MAX_LEAVES, log=True),
        'max_depth': trial.suggest_int('maxDepth', 2, 12),
        'min_child_weight': 0.25 * trial.suggest_int('minDataInLeaf', 5, MAX_LEAF_DATA, log=True),
        'lambda': trial.suggest_float('lambdaL2', 1e-3, 30, log=True),
        'colsample_bytree': trial.suggest_float('featureFraction', 0.4, 1.0),
        'subsample': trial.suggest_float('baggingFraction', 0.5, 1.0),
    }


def base(params):
    return {
        **params,
        'objective': 'binary:logistic',
        'eval_metric': 'logloss',
        'tree_method': 'hist',
        'grow_policy': 'lossguide',
        'max_bin': 255,
        'nthread': ARGS.threads,
        'seed': ARGS.seed,
        'verbosity': 0,
    }


class ReportNegLogLoss(xgb.callback.TrainingCallback):
    """Reports −(validation log loss) after each round, as our GBDT does, and stops the trial when pruned."""

    def __init__(self, trial):
        self.trial = trial
        self.pruned = False

    def after_iteration(self, model, epoch, evals_log):
        value = -evals_log['valid']['logloss'][-1]
        self.trial.report(value, epoch + 1)
        if self.trial.should_prune():
            self.pruned = True
            return True
        return False


def objective(trial):
    params = base(params_of(trial))
    aucs, iters = [], []
    for k in range(len(FOLDS)):
        cb = ReportNegLogLoss(trial) if k == 0 else None
        booster = xgb.train(
            params,
            DTRAIN[k],
            num_boost_round=1000,
            evals=[(DTEST[k], 'valid')],
            early_stopping_rounds=50,
            callbacks=[cb] if cb else None,
            verbose_eval=False,
        )
        if cb and cb.pruned:
            raise optuna.TrialPruned()
        best = booster.best_iteration + 1
        iters.append(best)
        aucs.append(roc_auc_score(YT[FOLDS[k][1]], booster.predict(DTEST[k], iteration_range=(0, best))))
    trial.set_user_attr('bestIterations', iters)
    trial.set_user_attr('folds', aucs)
    return float(np.mean(aucs))


sampler = optuna.samplers.TPESampler(seed=ARGS.seed, multivariate=ARGS.multivariate)
pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=10, reduction_factor=3)
study = optuna.create_study(direction='maximize', sampler=sampler, pruner=pruner)
t0 = time.perf_counter()
c0 = time.process_time()  # all threads of the process
study.optimize(objective, n_trials=ARGS.trials, n_jobs=ARGS.jobs)
search_seconds = time.perf_counter() - t0
search_cpu_seconds = time.process_time() - c0

checkpoints = []
t1 = time.perf_counter()
dall = xgb.DMatrix(XT, label=YT, missing=np.nan)
dhold = xgb.DMatrix(XH, missing=np.nan)
for n in [int(c) for c in ARGS.checkpoints.split(',')]:
    # Trials are numbered in the order they started, as ours are.
    done = [t for t in study.trials[:n] if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        checkpoints.append({'trials': n, 'cv': None, 'holdout': None})
        continue
    best = max(done, key=lambda t: (t.value, -t.number))
    iters = best.user_attrs['bestIterations']
    rounds = max(1, round(sum(iters) / len(iters)))
    params = base(params_of(optuna.trial.FixedTrial(best.params)))
    booster = xgb.train(params, dall, num_boost_round=rounds)
    auc = roc_auc_score(YH, booster.predict(dhold))
    checkpoints.append({'trials': n, 'cv': best.value, 'holdout': auc, 'bestTrial': best.number, 'rounds': rounds})
refit_seconds = time.perf_counter() - t1
states = {'complete': 0, 'pruned': 0, 'failed': 0}
for t in study.trials:
    key = {'COMPLETE': 'complete', 'PRUNED': 'pruned'}.get(t.state.name, 'failed')
    states[key] += 1
print(
    json.dumps(
        {
            'engine': 'optuna-xgb',
            'seed': ARGS.seed,
            'trials': len(study.trials),
            'multivariate': ARGS.multivariate,
            'threads': ARGS.threads,
            'jobs': ARGS.jobs,
            'searchSeconds': search_seconds,
            'searchCpuSeconds': search_cpu_seconds,
            'refitSeconds': refit_seconds,
            'states': states,
            'checkpoints': checkpoints,
            'versions': {'optuna': optuna.__version__, 'xgboost': xgb.__version__},
        }
    )
)
