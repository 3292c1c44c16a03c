# Serving benchmark anchor: what a data scientist deploys instead of Ichigen — a Flask app that trains an XGBoost
# classifier (100 trees, same depth/learning rate as our GBDT) on the same cohort CSV and serves predict_proba on
# {"rows": [...]} through pandas. Run with /usr/bin/python3 (Debian python3-flask, -xgboost, -pandas, -waitress).
import json
import sys

import pandas as pd
import xgboost as xgb
from flask import Flask, jsonify, request

FEATURES = ['age', 'sex', 'hba1c_baseline', 'egfr', 'bmi', 'drug_class']
CATEGORICAL = ['sex', 'drug_class']


def encode(df):
    # One-hot encoding with the training columns, as a notebook would do with get_dummies + reindex.
    x = pd.get_dummies(df[FEATURES], columns=CATEGORICAL, dtype=float)
    return x.reindex(columns=COLUMNS, fill_value=0.0).astype(float)


csv_path, server_kind = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else 'waitress'
train = pd.read_csv(csv_path)
COLUMNS = list(pd.get_dummies(train[FEATURES], columns=CATEGORICAL, dtype=float).columns)
model = xgb.XGBClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, min_child_weight=1, tree_method='hist')
model.fit(encode(train), train['responder'])

app = Flask(__name__)


@app.post('/predict')
def predict():
    rows = request.get_json()['rows']
    p = model.predict_proba(encode(pd.DataFrame(rows, columns=FEATURES)))[:, 1]
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
