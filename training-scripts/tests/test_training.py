"""train.py as a SageMaker training job on a binary problem (the churn example): outputs, champion scores,
quality bar, failures, bad days, and numbers that arrive as text."""
import csv
import json
import os
import re

from sklearn.metrics import roc_auc_score

from conftest import SCRIPT, generate, rewrite, validation_rows, write_schema


def test_trains_saves_and_writes_a_prediction_for_every_validation_row(baseline, data):
    # GIVEN the baseline job on the clean variant (3,000 train rows, 1,200 validation rows)
    # WHEN we look at what it left behind
    preds = baseline.predictions()
    rows = validation_rows(data)
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
    stdout = baseline.proc.stdout
    # THEN both match a number in the job's log
    auc = re.search(r"validation:roc_auc=([0-9.eE+-]+)", stdout)
    acc = re.search(r"validation:accuracy=([0-9.eE+-]+)", stdout)
    assert auc and acc, stdout
    assert 0.5 < float(auc.group(1)) <= 1.0
    assert 0.5 < float(acc.group(1)) <= 1.0
    for name in ("precision", "recall", "f1", "log_loss"):
        assert re.search(r"validation:%s=([0-9.eE+-]+)" % name, stdout), name


def test_learns_the_planted_signal_on_held_out_rows(baseline):
    # GIVEN predictions on validation rows drawn with another seed than the training rows
    preds = baseline.predictions()
    # WHEN we compute ROC AUC ourselves from the predictions file
    auc = roc_auc_score([p["label"] for p in preds], [p["candidate"] for p in preds])
    # THEN it is well above chance (a broken pipeline, e.g. shuffled labels or dropped features, lands near 0.5)
    assert auc > 0.75, auc


def test_the_default_estimator_is_linear_for_small_tables_and_gradient_boosting_for_larger_ones(baseline, train_module):
    # The baseline (3,000 training rows) ran with the default, auto.
    assert "estimator linear (auto: 3000 training rows, < 10000)" in baseline.proc.stderr
    assert train_module.choose_estimator("auto", 9999) == ("linear", " (auto: 9999 training rows, < 10000)")
    assert train_module.choose_estimator("auto", 10000) == ("hgb", " (auto: 10000 training rows, >= 10000)")
    assert train_module.choose_estimator("linear", 10 ** 6) == ("linear", "")


def test_gradient_boosting_also_learns_it(data, run_job):
    # GIVEN the other estimator
    job = run_job(data / "train", data / "validation", args=["--estimator", "hgb", "--max-iter", "60"])
    assert job.returncode == 0, job.proc.stderr
    preds = job.predictions()
    # THEN it scores every row and learns the signal too
    assert len(preds) == 1200
    assert roc_auc_score([p["label"] for p in preds], [p["candidate"] for p in preds]) > 0.75
    assert "estimator hgb" in job.proc.stderr


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
    champion_dir = baseline.package(tmp_path / "champion")
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
    champion_dir = baseline.package(tmp_path / "champion")
    generate(tmp_path / "train" / "a.csv", 1500, 21, "missing-column")
    generate(tmp_path / "validation" / "a.csv", 500, 22, "missing-column")
    # WHEN the candidate trains on what there is
    job = run_job(tmp_path / "train", tmp_path / "validation", champion_dir=champion_dir)
    # THEN the job succeeds, the champion column is null, and stderr names the missing column
    assert job.returncode == 0, job.proc.stderr
    assert all(p["champion"] is None for p in job.predictions())
    assert "support_tickets" in job.proc.stderr and "champion" in job.proc.stderr


def test_a_champion_archive_that_is_not_a_model_gives_null_not_a_failed_job(data, tmp_path, run_job):
    # GIVEN a champion channel whose model.tar.gz holds something else
    import tarfile
    (tmp_path / "champion").mkdir()
    (tmp_path / "junk.txt").write_text("not a model")
    with tarfile.open(str(tmp_path / "champion" / "model.tar.gz"), "w:gz") as tar:
        tar.add(str(tmp_path / "junk.txt"), arcname="junk.txt")
    job = run_job(data / "train", data / "validation", champion_dir=tmp_path / "champion")
    # THEN the candidate is trained and scored, and stderr says why the champion is null
    assert job.returncode == 0, job.proc.stderr
    assert all(p["champion"] is None for p in job.predictions())
    assert "champion: cannot load" in job.proc.stderr and "model.joblib" in job.proc.stderr


def test_trains_on_bad_days_that_do_not_break_the_pipeline(tmp_path, run_job):
    # GIVEN the variants whose data is degraded but still trainable (validation decides whether to block them)
    for variant in ("nulls", "shift", "empty-text", "new-category"):
        train_dir = tmp_path / variant / "train"
        validation_dir = tmp_path / variant / "validation"
        generate(train_dir / "a.csv", 1500, 31, variant)
        generate(validation_dir / "a.csv", 500, 32, variant)
        # WHEN trained
        job = run_job(train_dir, validation_dir)
        # THEN it completes with predictions for every row
        assert job.returncode == 0, "%s: %s" % (variant, job.proc.stderr)
        assert len(job.predictions()) == 500
        if variant == "empty-text":
            # (typed text by the champion's schema in the pipeline, categorical when inferred from nothing)
            assert "column 'last_message' is empty on every training row; training without it" in job.proc.stderr


def test_a_new_category_at_validation_time_is_scored_not_rejected(data, tmp_path, run_job):
    # GIVEN a model trained on clean data and validation rows with a plan and a country it never saw
    generate(tmp_path / "validation" / "a.csv", 600, 41, "new-category")
    job = run_job(data / "train", tmp_path / "validation")
    # THEN unknown categories are ignored by the one-hot encoder and every row is scored
    assert job.returncode == 0, job.proc.stderr
    assert len(job.predictions()) == 600


def test_a_third_label_under_binary_writes_a_failure_file_naming_file_row_and_column(tmp_path, run_job, data):
    # GIVEN a training file whose 3rd data row has a label that is neither 0 nor 1, and the pipeline's problem type
    lines = (data / "train" / "part-00000.csv").read_text().splitlines()[:50]
    header = lines[0].split(",")
    cells = lines[3].rsplit(",", 1)
    lines[3] = cells[0] + ",maybe"
    os.makedirs(str(tmp_path / "train"))
    bad_file = tmp_path / "train" / "part-00000.csv"
    bad_file.write_text("\n".join(lines) + "\n")
    # WHEN the job runs
    job = run_job(tmp_path / "train", data / "validation", args=["--problem-type", "binary_classification"])
    # THEN it exits non-zero and the failure file says where the problem is (row 4 of the file = 3rd data row)
    assert job.returncode != 0
    failure = job.failure()
    assert failure is not None
    assert failure.startswith("%s row 4 column '%s': label \"maybe\" makes a third class" % (bad_file, header[-1])), failure
    assert "binary_classification" in failure


def test_a_label_outside_the_schema_classes_names_the_row(tmp_path, run_job, data):
    # GIVEN the run's schema pinning the classes 0 and 1, and a validation row labelled 2
    schema = write_schema(tmp_path / "schema", {"labelColumn": "churned", "problemType": "binary_classification",
                                               "classes": ["0", "1"], "columns": []})
    bad = rewrite(data / "validation" / "part-00000.csv", tmp_path / "validation" / "part-00000.csv",
                   lambda rows: [dict(r, churned="2") if i == 6 else r for i, r in enumerate(rows)])
    job = run_job(data / "train", tmp_path / "validation", schema_dir=schema)
    # THEN the failure names the file, the row (header = row 1) and the column, and where the classes came from
    assert job.returncode != 0
    assert job.failure().startswith("%s row 8 column 'churned': label \"2\" is not one of the 2 classes (0, 1; from the schema)" % bad), job.failure()


def test_any_two_labels_work_and_the_second_class_is_the_positive_one(data, tmp_path, run_job, baseline):
    # GIVEN the churn label written as words, and a schema that orders them stayed, left
    relabel = lambda rows: [dict(r, churned={"0": "stayed", "1": "left"}[r["churned"]]) for r in rows]  # noqa: E731
    for split in ("train", "validation"):
        rewrite(data / split / "part-00000.csv", tmp_path / split / "part-00000.csv", relabel)
    schema = write_schema(tmp_path / "schema", {"labelColumn": "churned", "problemType": "binary_classification",
                                               "classes": ["stayed", "left"], "columns": []})
    job = run_job(tmp_path / "train", tmp_path / "validation", schema_dir=schema)
    assert job.returncode == 0, job.proc.stderr
    preds = job.predictions()
    # THEN label 1 means "left" (classes[1]) and the score is P(left): the same model as on 0/1
    assert [p["label"] for p in preds] == [p["label"] for p in baseline.predictions()]
    assert roc_auc_score([p["label"] for p in preds], [p["candidate"] for p in preds]) > 0.75
    assert max(abs(p["candidate"] - q["candidate"]) for p, q in zip(preds, baseline.predictions())) < 1e-9
    # WHEN the schema orders them the other way, THEN the positive class flips with it
    flipped = write_schema(tmp_path / "flipped", {"labelColumn": "churned", "classes": ["left", "stayed"],
                                                 "problemType": "binary_classification", "columns": []})
    job2 = run_job(tmp_path / "train", tmp_path / "validation", schema_dir=flipped)
    assert job2.returncode == 0, job2.proc.stderr
    assert all(p["label"] == 1 - q["label"] for p, q in zip(job2.predictions(), preds))
    assert max(abs(p["candidate"] - (1 - q["candidate"])) for p, q in zip(job2.predictions(), preds)) < 1e-4


def test_numbers_written_as_text_are_read_as_numbers(data, tmp_path, run_job, baseline):
    # GIVEN the same rows with numbers as exports write them: thousands separators, a unit, spaces
    def textify(rows):
        for r in rows:
            if r["company_size"]:
                r["company_size"] = "{:,}".format(int(r["company_size"]))
            if r["monthly_usage_hours"]:
                r["monthly_usage_hours"] = " %s h " % r["monthly_usage_hours"]
        return rows
    for split in ("train", "validation"):
        rewrite(data / split / "part-00000.csv", tmp_path / split / "part-00000.csv", textify)
    assert any("," in r["company_size"] for r in validation_rows(tmp_path))
    job = run_job(tmp_path / "train", tmp_path / "validation")
    # THEN the columns are still numbers and the model is the baseline's, score for score
    assert job.returncode == 0, job.proc.stderr
    assert max(abs(p["candidate"] - q["candidate"]) for p, q in zip(job.predictions(), baseline.predictions())) < 1e-9
    assert "monthly_usage_hours: numeric" in job.proc.stderr


def test_a_word_in_a_numeric_column_fails_naming_it_or_is_read_as_missing_when_asked(data, tmp_path, run_job):
    # GIVEN a training file with "lots" in the numeric seats column on its 10th data row
    bad = rewrite(data / "train" / "part-00000.csv", tmp_path / "train" / "part-00000.csv",
                   lambda rows: [dict(r, seats="lots") if i == 9 else r for i, r in enumerate(rows)])
    job = run_job(tmp_path / "train", data / "validation")
    # THEN the job fails naming the file, row, column and value, and how to get past it
    assert job.returncode != 0
    assert job.failure().startswith("%s row 11 column 'seats': expected a number, got \"lots\"" % bad), job.failure()
    assert "--non-numeric missing" in job.failure()
    # WHEN the user says such values are missing, THEN it trains and says how many it read as missing
    job = run_job(tmp_path / "train", data / "validation", args=["--non-numeric", "missing"])
    assert job.returncode == 0, job.proc.stderr
    assert "column 'seats': 1 value(s) are not numbers" in job.proc.stderr


def test_two_units_in_one_column_fail_naming_both_rows(data, tmp_path, run_job):
    # GIVEN usage in hours everywhere except one row in minutes
    with open(str(data / "train" / "part-00000.csv")) as f:
        present = [i for i, r in enumerate(csv.DictReader(f)) if r["monthly_usage_hours"]]
    first, odd = present[0], present[20]

    def units(rows):
        for i, r in enumerate(rows):
            if r["monthly_usage_hours"]:
                r["monthly_usage_hours"] = r["monthly_usage_hours"] + (" min" if i == odd else " h")
        return rows
    bad = rewrite(data / "train" / "part-00000.csv", tmp_path / "train" / "part-00000.csv", units)
    job = run_job(tmp_path / "train", data / "validation", args=["--numeric-columns", "monthly_usage_hours"])
    # THEN the failure names the row with the second unit, and the row where the first one was seen
    assert job.returncode != 0
    assert job.failure().startswith("%s row %d column 'monthly_usage_hours': unit 'min' differs from 'h' (%s row %d)"
                                    % (bad, odd + 2, bad, first + 2)), job.failure()


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
    # GIVEN no label column at all
    job = run_job(data / "train", data / "validation", reserved=False)
    assert job.returncode != 0
    assert "no label column: pass --label-column" in job.failure()


def test_a_bad_hyperparameter_fails_with_a_failure_file(tmp_path, run_job, data):
    # GIVEN a hyperparameter that is not a number, or not a problem type
    for args, named in ((["--C", "lots"], "--C"), (["--problem-type", "ranking"], "--problem-type"),
                        (["--max-text-features", "0"], "--max-text-features")):
        job = run_job(data / "train", data / "validation", args=args)
        # THEN the job fails, argparse names the argument on stderr and the failure file points at it
        assert job.returncode != 0
        assert named in job.proc.stderr
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

    env = dict(os.environ, SM_OUTPUT_DIR=str(tmp_path / "output"))
    proc = subprocess.run([sys.executable, "-S", SCRIPT], env=env, capture_output=True, text=True)
    # THEN the job fails and the failure file says what is missing and how to fix it, not a bare traceback
    assert proc.returncode != 0
    failure = (tmp_path / "output" / "failure").read_text()
    assert "cannot import" in failure and "RELEARN_PYTHON" in failure
    assert "Traceback" not in proc.stderr


def test_a_validation_row_without_an_id_fails_naming_it(tmp_path, run_job, data):
    # GIVEN a validation file whose 2nd data row has an empty customer_id
    lines = (data / "validation" / "part-00000.csv").read_text().splitlines()[:20]
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

    with open(SCRIPT) as f:
        ast.parse(f.read(), filename=SCRIPT, feature_version=(3, 9))


def test_without_a_problem_type_a_word_among_numeric_labels_is_a_typo_not_a_class(tmp_path, run_job, data):
    # GIVEN 0/1 labels with one "yes" on the 10th data row, and nothing saying what the problem type is
    bad = rewrite(data / "train" / "part-00000.csv", tmp_path / "train" / "part-00000.csv",
                   lambda rows: [dict(r, churned="yes") if i == 9 else r for i, r in enumerate(rows)])
    job = run_job(tmp_path / "train", data / "validation")
    # THEN it fails naming the row instead of training a three-class model
    assert job.returncode != 0
    assert job.failure().startswith("%s row 11 column 'churned': label \"yes\" is not a number, but 4199 of the 4200 labels are" % bad), job.failure()
