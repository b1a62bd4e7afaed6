"""The smallest training script that keeps relearn's training contract (docs/training-contract.md): a
regression on two numeric columns of the delivery-times example. A starting point for your own script,
not a good model; relearn's built-in script (training-scripts/tabular/train.py) is the full version.

Config: "training": {"sourceDir": "examples/bring-your-own", "metricDefinitions":
[{"name": "validation:rmse", "regex": "validation:rmse=([0-9.eE+-]+)"}]}, "evaluation": {"problemType": "regression"}.
"""
import argparse
import json
import os
import sys

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

FEATURES = ["items", "hour"]


def read(channel):
    """Every CSV part of a channel, values as text (ids stay exactly as written)."""
    d = os.environ["SM_CHANNEL_" + channel.upper()]
    parts = [pd.read_csv(os.path.join(d, f), dtype=str, keep_default_na=False) for f in sorted(os.listdir(d)) if f.endswith(".csv")]
    return pd.concat(parts, ignore_index=True)


def numbers(frame):
    """Values arrive as text, in training and in serving: "6", 6 and 6.0 are one number; missing is 0 here."""
    return frame[FEATURES].apply(lambda c: pd.to_numeric(c, errors="coerce")).fillna(0.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--label-column")  # the reserved hyperparameters the pipeline always sends
    p.add_argument("--id-column")
    p.add_argument("--problem-type")
    a = p.parse_args()
    train, valid = read("train"), read("validation")
    model = Ridge().fit(numbers(train), train[a.label_column].astype(float))
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    y, pred = valid[a.label_column].astype(float), model.predict(numbers(valid))
    out = os.environ["SM_OUTPUT_DATA_DIR"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "predictions.jsonl"), "w") as f:
        for i, label, value in zip(valid[a.id_column], y, pred):
            # No champion scores: every run is compared with nothing (the built-in script shows how to score one).
            f.write(json.dumps({"id": i, "label": label, "candidate": float(value), "champion": None}) + "\n")
    print("validation:rmse=%f" % np.sqrt(np.mean((y - pred) ** 2)))


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    if content_type.split(";")[0].strip() != "application/json":
        raise ValueError("send application/json, not %s" % content_type)  # serve.py: a ValueError here is a 400
    rows = json.loads(body)
    return pd.DataFrame(rows["instances"] if isinstance(rows, dict) else rows)


def predict_fn(frame, model):
    return model.predict(numbers(frame))


def output_fn(prediction, accept):
    return json.dumps({"predictions": [float(x) for x in prediction]})


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the reason SageMaker shows as FailureReason
        with open(os.path.join(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"), "failure"), "w") as f:
            f.write("%s: %s" % (type(e).__name__, e))
        sys.exit(1)
