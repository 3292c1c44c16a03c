# Serving benchmark anchor: what a data scientist deploys instead of Ichigen — a Flask app that trains an XGBoost
# classifier (100 trees, same depth/learning rate as our GBDT) on the same cohort CSV and serves predict_proba on
# {"rows": [...]}, one-hot encoding with numpy. Run with /usr/bin/python3 (Debian python3-flask, -xgboost, -waitress).
import csv
import math
import sys

import numpy as np
import xgboost as xgb
from flask import Flask, jsonify, request

FEATURES = ['age', 'sex', 'hba1c_baseline', 'egfr', 'bmi', 'drug_class']
NUMERIC = ['age', 'hba1c_baseline', 'egfr', 'bmi']
CATEGORICAL = ['sex', 'drug_class']


def number(v):
    if v is None or v == '':
        return math.nan
    return float(v)


def encode(rows):
    # One-hot encoding with the training columns (what pandas get_dummies + reindex gives), with numpy only.
    x = np.zeros((len(rows), len(COLUMNS)), dtype=float)
    for i, r in enumerate(rows):
        for j, f in enumerate(NUMERIC):
            x[i, j] = number(r.get(f))
        for f in CATEGORICAL:
            k = INDEX.get((f, str(r.get(f))))
            if k is not None:
                x[i, k] = 1.0
    return x


csv_path, server_kind = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else 'waitress'
with open(csv_path, newline='') as fh:
    train = list(csv.DictReader(fh))
CATEGORIES = [(f, c) for f in CATEGORICAL for c in sorted({r[f] for r in train})]
COLUMNS = NUMERIC + [f'{f}_{c}' for f, c in CATEGORIES]
INDEX = {fc: len(NUMERIC) + k for k, fc in enumerate(CATEGORIES)}
model = xgb.XGBClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, min_child_weight=1, tree_method='hist')
model.fit(encode(train), np.array([int(r['responder']) for r in train]))

app = Flask(__name__)


@app.post('/predict')
def predict():
    rows = request.get_json()['rows']
    p = model.predict_proba(encode(rows))[:, 1]
    return jsonify({'predictions': [{'probability': float(v)} for v in p]})


if server_kind == 'waitress':
    from waitress import create_server

    server = create_server(app, host='127.0.0.1', port=0)
    print(f'listening on http://127.0.0.1:{server.effective_port}', flush=True)
    server.run()
else:
    from werkzeug.serving import make_server

    server = make_server('127.0.0.1', 0, app, threaded=True)
    print(f'listening on http://127.0.0.1:{server.server_port}', flush=True)
    server.serve_forever()
