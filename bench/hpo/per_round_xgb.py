# XGBoost side of bench/hpo/per-round.mjs: CPU ms per round of one configuration on fold 0, fixed rounds, one thread,
# validation log loss every round; parameters mapped as in optuna_xgb.py. Prints one number.
# Usage: /usr/bin/python3 bench/hpo/per_round_xgb.py DATA_DIR PARAMS_JSON ROUNDS REPS
import json
import os
import sys
import time

os.environ['OMP_NUM_THREADS'] = '1'
import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402

data, p, rounds, reps = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
meta = json.load(open(os.path.join(data, 'meta.json')))
N, F = meta['rows'], len(meta['features'])


def load(name, dtype):
    return np.fromfile(os.path.join(data, name), dtype=dtype)


X = load('x.f32', '<f4').reshape((F, N)).T.astype(np.float64)
Y = load('y.u8', np.uint8).astype(np.float64)
TRAIN, FOLD = load('train.u32', '<u4'), load('fold.i8', np.int8)
XT, YT = X[TRAIN], Y[TRAIN]
tr, te = np.where(FOLD != 0)[0], np.where(FOLD == 0)[0]
dtrain = xgb.DMatrix(XT[tr], label=YT[tr], missing=np.nan)
dtest = xgb.DMatrix(XT[te], label=YT[te], missing=np.nan)
params = {
    'eta': p['learningRate'],
    'max_leaves': p['numLeaves'],
    'max_depth': p['maxDepth'],
    'min_child_weight': 0.25 * p['minDataInLeaf'],
    'lambda': p['lambdaL2'],
    'colsample_bytree': p['featureFraction'],
    'subsample': p['baggingFraction'],
    'objective': 'binary:logistic',
    'eval_metric': 'logloss',
    'tree_method': 'hist',
    'grow_policy': 'lossguide',
    'max_bin': 255,
    'nthread': 1,
    'seed': 1,
    'verbosity': 0,
}


def train():
    xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dtest, 'valid')], verbose_eval=False)


train()  # warm-up: the gradient index of both matrices
c0 = time.process_time()
for _ in range(reps):
    train()
print((time.process_time() - c0) * 1000 / reps / rounds)
