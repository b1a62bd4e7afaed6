"""Regression (the delivery-times example): values as predictions, regression metric lines, numbers with units,
a champion of another problem type, and the fitted preprocessing shipped inside the model."""
import csv
import io
import json
import os
import re
import subprocess
import sys

import joblib
import numpy as np

from conftest import generate, validation_rows


def test_predictions_are_values_with_the_label_as_a_number(delivery_baseline, delivery_data):
    preds = delivery_baseline.predictions()
    rows = validation_rows(delivery_data)
    assert [p["id"] for p in preds] == [r["order_id"] for r in rows]
    assert [p["label"] for p in preds] == [float(r["delivery_minutes"]) for r in rows]
    assert all(isinstance(p["candidate"], float) and p["champion"] is None for p in preds)
    # Learns the planted signal: clearly better than predicting the mean (R^2 computed here, from the file).
    y = np.array([p["label"] for p in preds])
    yhat = np.array([p["candidate"] for p in preds])
    r2 = 1 - ((y - yhat) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2 > 0.35, r2


def test_prints_the_regression_metric_lines(delivery_baseline):
    stdout = delivery_baseline.proc.stdout
    values = {}
    for name in ("rmse", "mae", "r2"):
        m = re.search(r"validation:%s=([0-9.eE+-]+)" % name, stdout)
        assert m, (name, stdout)
        values[name] = float(m.group(1))
    assert 0 < values["mae"] < values["rmse"] < 15 and 0.35 < values["r2"] < 1
    assert "validation:roc_auc" not in stdout and "validation:accuracy" not in stdout


def test_a_distance_with_a_unit_is_a_number(delivery_baseline):
    model = joblib.load(os.path.join(delivery_baseline.model_dir, "model.joblib"))
    assert model["problem_type"] == "regression" and model["classes"] is None
    assert "distance" in model["features"]["numeric"] and model["features"]["units"]["distance"] == "km"
    assert "notes" in model["features"]["text"] and "restaurant_id" in model["features"]["categorical"]


def test_a_distance_the_schema_calls_text_is_still_a_number(delivery_data, tmp_path, run_job):
    # GIVEN the schema ValidateData writes for this data: "6.6 km" is text to it; the hour is forced categorical
    from conftest import write_schema
    schema = write_schema(tmp_path / "schema", {
        "problemType": "regression", "labelColumn": "delivery_minutes", "idColumn": "order_id",
        "columns": [{"name": "distance", "type": "text"}, {"name": "restaurant_id", "type": "categorical"}]})
    job = run_job(delivery_data / "train", delivery_data / "validation", example="delivery", schema_dir=schema,
                  args=["--categorical-columns", "hour"])
    assert job.returncode == 0, job.proc.stderr
    f = joblib.load(os.path.join(job.model_dir, "model.joblib"))["features"]
    # THEN distance is learned as kilometres, and the hyperparameter's category stands
    assert "distance" in f["numeric"] and f["units"]["distance"] == "km" and "hour" in f["categorical"]
    assert "note: column 'distance' is text in the schema, but every value is a number in km: learning it as a number" in job.proc.stderr


def test_the_fitted_preprocessing_ships_in_the_model_and_needs_no_code_of_ours(delivery_baseline, delivery_data, tmp_path):
    # GIVEN model.joblib alone, in a Python that cannot import train.py (another folder, nothing on sys.path)
    program = """
import json, sys
import joblib, numpy as np, pandas as pd
artifact = joblib.load(sys.argv[1])
assert "train" not in sys.modules
rows = pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)
f = artifact["features"]
frame = pd.DataFrame({c: rows[c].str.replace(" km", "", regex=False).replace("", np.nan).astype(float) for c in f["numeric"]})
for c in f["categorical"] + f["text"]:
    frame[c] = rows[c].replace("", np.nan)
print(json.dumps(artifact["pipeline"].predict(frame).tolist()))
"""
    (tmp_path / "check.py").write_text(program)
    proc = subprocess.run([sys.executable, str(tmp_path / "check.py"), os.path.join(delivery_baseline.model_dir, "model.joblib"),
                           str(delivery_data / "validation" / "part-00000.csv")], cwd=str(tmp_path), capture_output=True, text=True)
    # WHEN it predicts the raw validation rows (only the unit stripped), THEN it gives the job's predictions:
    # imputation, scaling, one-hot and TF-IDF were all fitted in training and saved inside the pipeline
    assert proc.returncode == 0, proc.stderr
    offline = [p["candidate"] for p in delivery_baseline.predictions()]
    assert np.abs(np.array(json.loads(proc.stdout)) - np.array(offline)).max() < 1e-9


def test_text_in_the_label_fails_naming_file_row_and_column(delivery_data, tmp_path, run_job):
    generate(tmp_path / "train" / "a.csv", 2000, 71, "label-text", "delivery")
    job = run_job(tmp_path / "train", delivery_data / "validation", example="delivery", args=["--problem-type", "regression"])
    assert job.returncode != 0
    m = re.match(r"^(.+) row (\d+) column 'delivery_minutes': a regression label must be a finite number, got \"(\d+) min\"$", job.failure())
    assert m and m.group(1) == str(tmp_path / "train" / "a.csv"), job.failure()
    line = (tmp_path / "train" / "a.csv").read_text().splitlines()[int(m.group(2)) - 1]
    assert line.endswith(",%s min" % m.group(3))


def test_the_champion_is_scored_and_a_classifier_champion_gives_null(delivery_baseline, delivery_data, tmp_path, run_job, baseline):
    # GIVEN the baseline as champion of a candidate with other hyperparameters
    job = run_job(delivery_data / "train", delivery_data / "validation", champion_dir=delivery_baseline.package(tmp_path / "champion"),
                  example="delivery", args=["--estimator", "hgb", "--max-iter", "50"])
    assert job.returncode == 0, job.proc.stderr
    own = {p["id"]: p["candidate"] for p in delivery_baseline.predictions()}
    assert all(abs(p["champion"] - own[p["id"]]) < 1e-9 for p in job.predictions())
    assert "validation:champion_rmse" in job.metrics()
    # GIVEN a champion that is a churn classifier, THEN its scores are null and stderr says why; the job succeeds
    job = run_job(delivery_data / "train", delivery_data / "validation", champion_dir=baseline.package(tmp_path / "classifier"),
                  example="delivery")
    assert job.returncode == 0, job.proc.stderr
    assert all(p["champion"] is None for p in job.predictions())
    assert "champion: it is a binary_classification model and this run is regression" in job.proc.stderr


def test_serving_answers_values_and_reads_values_sent_as_text(train_module, delivery_baseline, delivery_data, serve):
    server = serve(delivery_baseline.model_dir)
    text = (delivery_data / "validation" / "part-00000.csv").read_text()
    head = "\n".join(text.splitlines()[:21]) + "\n"
    offline = [p["candidate"] for p in delivery_baseline.predictions()[:20]]
    # WHEN sent as CSV, and as JSON with every value as the CSV's text (what the serving check sends)
    status, body = server.post(head, "text/csv")
    assert status == 200, body
    out = json.loads(body)
    rows = list(csv.DictReader(io.StringIO(head)))
    status2, body2 = server.post(json.dumps(rows), "application/json")
    # THEN the values are the offline predictions, with no classes or labels for a regression
    assert set(out) == {"predictions"} and np.abs(np.array(out["predictions"]) - np.array(offline)).max() < 1e-9
    assert status2 == 200 and json.loads(body2) == out
    # and typed JSON (as the printed invoke command sends: numbers as numbers) gives the same
    typed = [{k: (float(v) if k in ("items", "hour", "courier_rating", "prep_estimate_min") and v else v) for k, v in r.items()} for r in rows]
    status3, body3 = server.post(json.dumps(typed), "application/json")
    assert status3 == 200 and np.abs(np.array(json.loads(body3)["predictions"]) - np.array(offline)).max() < 1e-9
    # WHEN asked for CSV, THEN one value per line
    status4, body4 = server.post(head, "text/csv", accept="text/csv")
    assert status4 == 200 and [float(x) for x in body4.split()] == out["predictions"]
    # WHEN a distance comes in miles, THEN 400 naming the row, the column and the unit it expects
    bad = dict(rows[0], distance="2.1 mi")
    status5, body5 = server.post(json.dumps([rows[1], bad]), "application/json")
    assert status5 == 400 and "column 'distance' row 2: expected a number (in km), got \"2.1 mi\"" in body5, body5
