# Anchor runs for the ML benchmarks: XGBoost `hist`, scikit-learn HistGradientBoosting and LogisticRegression on the
# files written by generate.mjs. One configuration per process, so the peak memory (ru_maxrss) belongs to that run.
#
# Run with Debian's interpreter: /usr/bin/python3 bench/ml/anchors.py run --data DIR --model xgb --threads 1
#   models: xgb | hgb (GBDT, 100 rounds, 255 leaves, 255 bins, eta 0.1) | logreg (lbfgs)
#   --predict  also time prediction of the trained model (batched rows/s and single-row latency, on 1 thread)
# /usr/bin/python3 bench/ml/anchors.py versions   prints library versions and BLAS/OpenMP info as JSON.
# Prints exactly one JSON line on stdout per run; diagnostics go to stderr.
import argparse
import json
import os
import resource
import sys
import time

MISSING_HELP = (
    'anchors.py needs numpy, scikit-learn, xgboost and threadpoolctl for /usr/bin/python3. Install them with:\n'
    '  apt-get update && apt-get install -y python3-xgboost python3-sklearn python3-numpy python3-threadpoolctl'
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--data', required=True, help='data set directory with meta.json')
    r.add_argument('--model', required=True, choices=['xgb', 'hgb', 'logreg'])
    r.add_argument('--threads', type=int, default=1)
    r.add_argument('--rounds', type=int, default=100)
    r.add_argument('--predict', action='store_true')
    sub.add_parser('versions')
    return p.parse_args()


ARGS = parse_args()
if ARGS.cmd == 'run':
    # Thread pools read these when the libraries load, so they are set before any import below.
    for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(ARGS.threads)

try:
    import numpy as np
    import sklearn
    import xgboost as xgb
    from threadpoolctl import threadpool_info, threadpool_limits
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
except ImportError as e:  # the one failure a user can fix by themselves: say how
    print(f'{e}\n{MISSING_HELP}', file=sys.stderr)
    sys.exit(3)


def mb_peak():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mb_now():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def cpu_seconds():
    # User + system time of every thread of this process: less sensitive than wall time to other load on the machine.
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loadavg():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


def load(directory, part):
    with open(os.path.join(directory, 'meta.json')) as f:
        meta = json.load(f)
    n = meta['nTrain'] if part == 'train' else meta['nTest']
    d = meta['numFeatures']
    # Files are column-major: reshape to (d, n) and transpose, which is a zero-copy Fortran-ordered (n, d) view.
    x = np.fromfile(os.path.join(directory, f'{part}.x.f32'), dtype='<f4').reshape(d, n).T
    y = np.fromfile(os.path.join(directory, f'{part}.y.u8'), dtype=np.uint8)
    return meta, x, y


def versions():
    return {
        'python': sys.version.split()[0],
        'numpy': np.__version__,
        'sklearn': sklearn.__version__,
        'xgboost': xgb.__version__,
        'OPENBLAS_CORETYPE': os.environ.get('OPENBLAS_CORETYPE'),
        'OPENBLAS_L2_SIZE': os.environ.get('OPENBLAS_L2_SIZE'),
        'threadpools': [
            {k: i.get(k) for k in ('internal_api', 'version', 'num_threads', 'architecture')} for i in threadpool_info()
        ],
    }


def time_predict(predict_batch, predict_one, xt):
    """Best of 3 batched passes over the test set, then per-row latency on up to 2000 single rows."""
    best = float('inf')
    for _ in range(3):
        t = time.perf_counter()
        predict_batch(xt)
        best = min(best, time.perf_counter() - t)
    k = min(2000, xt.shape[0])
    for i in range(50):  # warm-up
        predict_one(xt[i : i + 1])
    lat = np.empty(k)
    for i in range(k):
        row = xt[i : i + 1]
        t = time.perf_counter_ns()
        predict_one(row)
        lat[i] = time.perf_counter_ns() - t
    return {
        'predictRows': int(xt.shape[0]),
        'batchRowsPerSec': xt.shape[0] / best,
        'singleRowMedianUs': float(np.median(lat)) / 1000,
        'singleRowP99Us': float(np.percentile(lat, 99)) / 1000,
    }


def run(a):
    # A floor inherited from the parent would show here (Linux keeps ru_maxrss across exec); it should be small.
    peak_at_start = mb_peak()
    t = time.perf_counter()
    meta, x, y = load(a.data, 'train')
    _, xt, yt = load(a.data, 'test')
    # Each library gets the layout and dtype it works in, converted before the clock starts (as ours.mjs does).
    if a.model == 'xgb':
        x, xt = np.ascontiguousarray(x), np.ascontiguousarray(xt)
    else:
        x, xt = np.asfortranarray(x, dtype=np.float64), np.ascontiguousarray(xt, dtype=np.float64)
    load_s = time.perf_counter() - t
    out = {
        'engine': {'xgb': 'xgboost', 'hgb': 'sklearn-hgb', 'logreg': 'sklearn-logreg'}[a.model],
        'dataset': meta['name'],
        'scale': meta['scale'],
        'threads': a.threads,
        'nTrain': meta['nTrain'],
        'nTest': meta['nTest'],
        'numFeatures': meta['numFeatures'],
        'peakAtStartMB': peak_at_start,
        'loadSeconds': load_s,
        'rssAfterLoadMB': mb_now(),
        'peakAfterLoadMB': mb_peak(),
        'loadAvgStart': loadavg(),
    }
    with threadpool_limits(limits=a.threads):
        t = time.perf_counter()
        c = cpu_seconds()
        if a.model == 'xgb':
            # DMatrix construction is timed with training: our engine bins its input inside train as well.
            dtrain = xgb.DMatrix(x, label=y, nthread=a.threads)
            params = {
                'objective': 'binary:logistic',
                'tree_method': 'hist',
                'grow_policy': 'lossguide',
                'max_leaves': 255,
                'max_depth': 0,
                'max_bin': 255,
                'eta': 0.1,
                'nthread': a.threads,
                'verbosity': 0,
            }
            booster = xgb.train(params, dtrain, num_boost_round=a.rounds)
            out['trainSeconds'] = time.perf_counter() - t
            out['trainCpuSeconds'] = cpu_seconds() - c
            booster.set_param({'nthread': 1})
            p = booster.inplace_predict(xt)
            out['trees'] = a.rounds
            out['leaves'] = sum(s.count('leaf=') for s in booster.get_dump())
        elif a.model == 'hgb':
            model = HistGradientBoostingClassifier(
                max_leaf_nodes=255, max_bins=255, learning_rate=0.1, max_iter=a.rounds, early_stopping=False
            )
            model.fit(x, y)
            out['trainSeconds'] = time.perf_counter() - t
            out['trainCpuSeconds'] = cpu_seconds() - c
            p = model.predict_proba(xt)[:, 1]
            out['trees'] = model.n_iter_
            out['leaves'] = sum(pred.get_n_leaf_nodes() for it in model._predictors for pred in it)
        else:
            model = LogisticRegression(solver='lbfgs')
            model.fit(x, y)
            out['trainSeconds'] = time.perf_counter() - t
            out['trainCpuSeconds'] = cpu_seconds() - c
            p = model.predict_proba(xt)[:, 1]
            out['iterations'] = int(model.n_iter_[0])
            out['converged'] = bool(model.n_iter_[0] < model.max_iter)
        out['auc'] = float(roc_auc_score(yt, p))
        out['peakRssMB'] = mb_peak()
        out['loadAvgEnd'] = loadavg()
    if a.predict:
        with threadpool_limits(limits=1):
            if a.model == 'xgb':
                xt32 = np.ascontiguousarray(xt)
                out.update(time_predict(booster.inplace_predict, booster.inplace_predict, xt32))
            else:
                f = lambda rows: model.predict_proba(rows)  # noqa: E731
                out.update(time_predict(f, f, xt))
    return out


if __name__ == '__main__':
    if ARGS.cmd == 'versions':
        print(json.dumps(versions()))
    else:
        print(json.dumps(run(ARGS)))
