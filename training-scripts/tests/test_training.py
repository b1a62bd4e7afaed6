"""train.py as a SageMaker training job: outputs, champion scores, quality bar, failures, bad days."""
import csv
import json
import os

from sklearn.metrics import roc_auc_score

from conftest import generate


def _validation_rows(data):
    with open(str(data / "validation" / "part-00000.csv")) as f:
        return list(csv.DictReader(f))


def test_trains_saves_and_writes_a_prediction_for_every_validation_row(baseline, data):
    # GIVEN the baseline job on the clean variant (3,000 train rows, 1,200 validation rows)
    # WHEN we look at what it left behind
    preds = baseline.predictions()
    rows = _validation_rows(data)
    # THEN the whole pipeline is saved, and every validation row has one prediction with its id and label
    assert os.path.isfile(os.path.join(baseline.model_dir, "model.joblib"))
    assert [p["id"] for p in preds] == [r["customer_id"] for r in rows]
    assert [p["label"] for p in preds] == [int(r["churned"]) for r in rows]
    assert all(0.0 <= p["candidate"] <= 1.0 for p in preds)
    # and without a champion channel the champion column is null
    assert all(p["champion"] is None for p in preds)
    assert baseline.failure() is None


def test_prints_the_metric_lines_the_default_metric_definitions_scrape(baseline):
    # GIVEN the default MetricDefinitions regexes (lambdas/shared/config/training.ts)
    import re
    stdout = baseline.proc.stdout
    # THEN both match a number in the job's log
    auc = re.search(r"validation:roc_auc=([0-9.eE+-]+)", stdout)
    acc = re.search(r"validation:accuracy=([0-9.eE+-]+)", stdout)
    assert auc and acc, stdout
    assert 0.5 < float(auc.group(1)) <= 1.0
    assert 0.5 < float(acc.group(1)) <= 1.0


def test_learns_the_planted_signal_on_held_out_rows(baseline):
    # GIVEN predictions on validation rows drawn with another seed than the training rows
    preds = baseline.predictions()
    # WHEN we compute ROC AUC ourselves from the predictions file
    auc = roc_auc_score([p["label"] for p in preds], [p["candidate"] for p in preds])
    # THEN it is well above chance (a broken pipeline, e.g. shuffled labels or dropped features, lands near 0.5)
    assert auc > 0.75, auc


def test_a_deliberately_weak_model_is_clearly_worse(baseline, data, run_job):
    # GIVEN the same data, trained with only the plan as a feature (the documented way to make a weak model)
    weak = run_job(data / "train", data / "validation", args=["--feature-columns", "plan"])
    assert weak.returncode == 0, weak.proc.stderr
    # THEN its held-out AUC is clearly below the full model's
    full_auc = baseline.metrics()["validation:roc_auc"]
    weak_auc = weak.metrics()["validation:roc_auc"]
    assert full_auc - weak_auc > 0.08, (full_auc, weak_auc)


def test_scores_the_champion_on_the_same_rows_when_a_champion_channel_is_given(baseline, data, run_job, tmp_path):
    # GIVEN the baseline's model packaged as SageMaker does, in a champion channel
    champion_dir = baseline.package(str(tmp_path / "champion"))
    # AND a candidate trained with different hyperparameters
    job = run_job(data / "train", data / "validation", champion_dir=champion_dir, args=["--C", "0.05"])
    assert job.returncode == 0, job.proc.stderr
    preds = job.predictions()
    # THEN every row carries the champion's score, and it is exactly what the champion predicted on its own run
    baseline_scores = {p["id"]: p["candidate"] for p in baseline.predictions()}
    assert all(p["champion"] is not None for p in preds)
    assert all(abs(p["champion"] - baseline_scores[p["id"]]) < 1e-12 for p in preds)
    # and the candidate is a different model
    assert any(abs(p["candidate"] - p["champion"]) > 1e-3 for p in preds)
    assert "validation:champion_roc_auc" in job.metrics()


def test_a_champion_that_cannot_score_the_rows_gives_null_and_says_why(baseline, tmp_path, run_job):
    # GIVEN a bad day where the upstream dropped the support_tickets column, and a champion that needs it
    champion_dir = baseline.package(str(tmp_path / "champion"))
    generate(str(tmp_path / "train" / "a.csv"), 1500, 21, "missing-column")
    generate(str(tmp_path / "validation" / "a.csv"), 500, 22, "missing-column")
    # WHEN the candidate trains on what there is
    job = run_job(tmp_path / "train", tmp_path / "validation", champion_dir=champion_dir)
    # THEN the job succeeds, the champion column is null, and stderr names the missing column
    assert job.returncode == 0, job.proc.stderr
    assert all(p["champion"] is None for p in job.predictions())
    assert "support_tickets" in job.proc.stderr and "champion" in job.proc.stderr


def test_trains_on_bad_days_that_do_not_break_the_pipeline(tmp_path, run_job):
    # GIVEN the variants whose data is degraded but still trainable (validation decides whether to block them)
    for variant in ("nulls", "shift", "empty-text", "new-category"):
        train_dir = tmp_path / variant / "train"
        validation_dir = tmp_path / variant / "validation"
        generate(str(train_dir / "a.csv"), 1500, 31, variant)
        generate(str(validation_dir / "a.csv"), 500, 32, variant)
        # WHEN trained
        job = run_job(train_dir, validation_dir)
        # THEN it completes with predictions for every row
        assert job.returncode == 0, "%s: %s" % (variant, job.proc.stderr)
        assert len(job.predictions()) == 500
        if variant == "empty-text":
            assert "last_message" in job.proc.stderr and "empty" in job.proc.stderr


def test_a_new_category_at_validation_time_is_scored_not_rejected(data, tmp_path, run_job):
    # GIVEN a model trained on clean data and validation rows with a plan and a country it never saw
    generate(str(tmp_path / "validation" / "a.csv"), 600, 41, "new-category")
    job = run_job(data / "train", tmp_path / "validation")
    # THEN unknown categories are ignored by the one-hot encoder and every row is scored
    assert job.returncode == 0, job.proc.stderr
    assert len(job.predictions()) == 600


def test_a_bad_label_writes_a_failure_file_naming_file_row_and_column(tmp_path, run_job, data):
    # GIVEN a training file whose 3rd data row has a label that is not 0/1
    with open(str(data / "train" / "part-00000.csv")) as f:
        lines = f.read().splitlines()[:50]
    header = lines[0].split(",")
    cells = lines[3].rsplit(",", 1)
    lines[3] = cells[0] + ",maybe"
    os.makedirs(str(tmp_path / "train"))
    bad_file = tmp_path / "train" / "part-00000.csv"
    bad_file.write_text("\n".join(lines) + "\n")
    # WHEN the job runs
    job = run_job(tmp_path / "train", data / "validation")
    # THEN it exits non-zero and the failure file says where the problem is (row 4 of the file = 3rd data row)
    assert job.returncode != 0
    failure = job.failure()
    assert failure is not None
    assert str(bad_file) in failure and "row 4" in failure and "'%s'" % header[-1] in failure and "maybe" in failure


def test_an_empty_channel_and_an_unknown_feature_fail_with_a_readable_reason(tmp_path, run_job, data):
    # GIVEN an empty train channel
    os.makedirs(str(tmp_path / "empty"))
    job = run_job(tmp_path / "empty", data / "validation")
    # THEN the failure names the channel
    assert job.returncode != 0
    assert "channel 'train'" in job.failure() and "no .csv files" in job.failure()
    # GIVEN a feature subset naming a column that does not exist
    job = run_job(data / "train", data / "validation", args=["--feature-columns", "plan,favourite_colour"])
    # THEN the failure names it and lists what there is
    assert job.returncode != 0
    assert "favourite_colour" in job.failure() and "monthly_usage_hours" in job.failure()


def test_a_bad_hyperparameter_fails_with_a_failure_file(tmp_path, run_job, data):
    # GIVEN a hyperparameter that is not a number
    job = run_job(data / "train", data / "validation", args=["--C", "lots"])
    # THEN the job fails, argparse names the argument on stderr and the failure file points at it
    assert job.returncode != 0
    assert "--C" in job.proc.stderr
    assert "bad hyperparameters" in job.failure()


def test_predictions_lines_match_the_pipeline_contract(baseline):
    # GIVEN the predictions file (read by lambdas/shared/predictions.ts)
    with open(os.path.join(baseline.output_data_dir, "predictions.jsonl")) as f:
        first = json.loads(f.readline())
    # THEN each line has exactly id (string), label (number), candidate (number), champion (number or null)
    assert set(first) == {"id", "label", "candidate", "champion"}
    assert isinstance(first["id"], str) and isinstance(first["label"], int) and isinstance(first["candidate"], float)


def test_a_python_without_scikit_learn_fails_with_a_clear_reason(tmp_path):
    # GIVEN the interpreter without its site packages (-S), so numpy/pandas/scikit-learn cannot be imported
    import subprocess
    import sys

    from conftest import SCRIPT
    env = dict(os.environ, SM_OUTPUT_DIR=str(tmp_path / "output"))
    proc = subprocess.run([sys.executable, "-S", SCRIPT], env=env, capture_output=True, text=True)
    # THEN the job fails and the failure file says what is missing and how to fix it, not a bare traceback
    assert proc.returncode != 0
    failure = (tmp_path / "output" / "failure").read_text()
    assert "cannot import" in failure and "RELEARN_PYTHON" in failure
    assert "Traceback" not in proc.stderr


def test_a_validation_row_without_an_id_fails_naming_it(tmp_path, run_job, data):
    # GIVEN a validation file whose 2nd data row has an empty customer_id
    with open(str(data / "validation" / "part-00000.csv")) as f:
        lines = f.read().splitlines()[:20]
    lines[2] = "," + lines[2].split(",", 1)[1]
    os.makedirs(str(tmp_path / "validation"))
    (tmp_path / "validation" / "part-00000.csv").write_text("\n".join(lines) + "\n")
    job = run_job(data / "train", tmp_path / "validation")
    # THEN the failure names the file, the row and the id column
    assert job.returncode != 0
    assert "row 3 column 'customer_id': the id is empty" in job.failure()


def test_the_script_is_python_3_9_syntax():
    # The SKLearn 1.2-1 container runs Python 3.9; this interpreter is newer, so check the grammar explicitly.
    import ast

    from conftest import SCRIPT
    with open(SCRIPT) as f:
        ast.parse(f.read(), filename=SCRIPT, feature_version=(3, 9))
