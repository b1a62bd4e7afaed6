"""Three classes (the support-tickets example): K probabilities in the schema's class order, recorded with the
model; a champion that knew other classes mapped by name; the serving shapes; multiclass metric lines."""
import csv
import io
import json
import os
import re

import joblib
import numpy as np
from sklearn.metrics import roc_auc_score

from conftest import TICKETS_SCHEMA, generate, read_rows, validation_rows, write_rows, write_schema

CLASSES = ["low", "medium", "high"]


def test_predictions_are_k_probabilities_in_the_schema_class_order(tickets_baseline, tickets_data):
    # GIVEN the job run with the schema channel naming the classes low, medium, high (not alphabetical)
    preds = tickets_baseline.predictions()
    rows = validation_rows(tickets_data)
    # THEN every validation row has its id, its label as an index into those classes, and three probabilities
    assert [p["id"] for p in preds] == [r["ticket_id"] for r in rows]
    assert [p["label"] for p in preds] == [CLASSES.index(r["priority"]) for r in rows]
    for p in preds:
        assert isinstance(p["candidate"], list) and len(p["candidate"]) == 3
        assert abs(sum(p["candidate"]) - 1) < 1e-9 and all(0 <= x <= 1 for x in p["candidate"])
        assert p["champion"] is None
    # and the class order travels with the model
    model = joblib.load(os.path.join(tickets_baseline.model_dir, "model.joblib"))
    assert model["classes"] == CLASSES and model["problem_type"] == "multiclass_classification"


def test_learns_the_planted_signal_per_class(tickets_baseline):
    preds = tickets_baseline.predictions()
    y = np.array([p["label"] for p in preds])
    proba = np.array([p["candidate"] for p in preds])
    # Accuracy well above the largest class's share, and each class separable from the rest.
    assert (proba.argmax(axis=1) == y).mean() > 0.55
    for k in range(3):
        assert roc_auc_score(y == k, proba[:, k]) > 0.7, CLASSES[k]


def test_prints_every_multiclass_metric_line(tickets_baseline):
    stdout = tickets_baseline.proc.stdout
    for name in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "roc_auc_ovr", "log_loss"):
        m = re.search(r"validation:%s=([0-9.eE+-]+)" % name, stdout)
        assert m, (name, stdout)
    assert 0.7 < float(re.search(r"validation:roc_auc_ovr=([0-9.eE+-]+)", stdout).group(1)) <= 1


def test_money_as_text_is_learned_as_a_number(tickets_baseline):
    # GIVEN account_mrr, a category in the schema ("$1,250": ValidateData knows no units)
    model = joblib.load(os.path.join(tickets_baseline.model_dir, "model.joblib"))
    # THEN the script learns it as a number in dollars, and says so
    assert "account_mrr" in model["features"]["numeric"] and model["features"]["units"]["account_mrr"] == "$"
    assert "column 'account_mrr' is categorical in the schema, but every value is a number in $" in tickets_baseline.proc.stderr


def test_rare_categories_are_grouped_and_the_fitted_preprocessing_ships_in_the_model(tickets_baseline):
    model = joblib.load(os.path.join(tickets_baseline.model_dir, "model.joblib"))
    pre = model["pipeline"].named_steps["preprocess"]
    names = [name for name, _, _ in pre.transformers_]
    assert names[:2] == ["numeric", "categorical"] and "text_subject" in names
    onehot = pre.named_transformers_["categorical"].named_steps["onehot"]
    account = model["features"]["categorical"].index("account_id")
    # Hundreds of accounts, one column each for the frequent ones and one shared by the rest.
    assert len(onehot.categories_[account]) > 100
    assert onehot.infrequent_categories_[account] is not None and len(onehot.infrequent_categories_[account]) > 50
    words = pre.named_transformers_["text_subject"].named_steps["words"]
    assert 0 < len(words.vocabulary_) <= 2000
    # The pruned words (introspection only, megabytes on a real vocabulary) are not shipped.
    assert words.stop_words_ is None


def test_a_champion_that_knew_other_classes_is_mapped_by_class_name(tickets_data, tmp_path, run_job, train_module):
    # GIVEN a champion trained on a day with a fourth class, `urgent`, its classes in another order
    generate(tmp_path / "old" / "train" / "a.csv", 2000, 51, "new-class", "tickets")
    generate(tmp_path / "old" / "validation" / "a.csv", 400, 52, "new-class", "tickets")
    schema = dict(TICKETS_SCHEMA, classes=["urgent", "high", "low", "medium"])
    champion_job = run_job(tmp_path / "old" / "train", tmp_path / "old" / "validation", example="tickets",
                           schema_dir=write_schema(tmp_path / "old-schema", schema))
    assert champion_job.returncode == 0, champion_job.proc.stderr
    champion_dir = champion_job.package(tmp_path / "champion")
    # WHEN today's candidate (low, medium, high) is trained with that champion
    job = run_job(tickets_data / "train", tickets_data / "validation", champion_dir=champion_dir, example="tickets",
                  schema_dir=write_schema(tmp_path / "schema", TICKETS_SCHEMA))
    assert job.returncode == 0, job.proc.stderr
    # THEN each row's champion vector is the champion's own probabilities for low, medium, high (urgent dropped)
    import pandas as pd
    champion = train_module.load_model(champion_job.model_dir)
    rows = pd.read_csv(str(tickets_data / "validation" / "part-00000.csv"), dtype=str, keep_default_na=False)
    own = train_module.class_scores(champion, train_module.typed_frame(champion["features"], rows))
    expected = own[:, [1 + ["high", "low", "medium"].index(c) for c in CLASSES]]
    got = np.array([p["champion"] for p in job.predictions()])
    assert got.shape == (len(rows), 3) and np.abs(got - expected).max() < 1e-12
    assert "champion: its classes (urgent, high, low, medium) differ" in job.proc.stderr


def test_a_champion_that_knew_fewer_classes_gets_zero_for_the_new_one(tickets_data, tmp_path, run_job, train_module):
    # GIVEN a champion trained when tickets were only low or high (binary)
    def two_classes(split):
        rows = [r for r in read_rows(tickets_data / split / "part-00000.csv") if r["priority"] != "medium"]
        return write_rows(tmp_path / "old" / split / "a.csv", rows)
    two_classes("train")
    two_classes("validation")
    champion_job = run_job(tmp_path / "old" / "train", tmp_path / "old" / "validation", example="tickets",
                           args=["--problem-type", "binary_classification"])
    assert champion_job.returncode == 0, champion_job.proc.stderr
    # WHEN today's three-class candidate scores it
    job = run_job(tickets_data / "train", tickets_data / "validation", champion_dir=champion_job.package(tmp_path / "champion"),
                  example="tickets", schema_dir=write_schema(tmp_path / "schema", TICKETS_SCHEMA))
    assert job.returncode == 0, job.proc.stderr
    # THEN medium, which it never knew, gets 0 and low/high keep its probabilities
    got = np.array([p["champion"] for p in job.predictions()])
    assert np.all(got[:, 1] == 0) and np.allclose(got[:, 0] + got[:, 2], 1)


def test_a_class_outside_the_schema_fails_naming_file_row_and_column(tickets_data, tmp_path, run_job, tickets_schema):
    # GIVEN a validation file with an `urgent` ticket that the schema's classes do not have
    rows = validation_rows(tickets_data)
    rows[4]["priority"] = "urgent"
    bad = write_rows(tmp_path / "validation" / "a.csv", rows)
    job = run_job(tickets_data / "train", tmp_path / "validation", example="tickets", schema_dir=tickets_schema)
    assert job.returncode != 0
    assert job.failure().startswith("%s row 6 column 'priority': label \"urgent\" is not one of the 3 classes (low, medium, high; from the schema)" % bad), job.failure()


def test_an_empty_label_fails_naming_its_row(tickets_data, tmp_path, run_job):
    generate(tmp_path / "train" / "a.csv", 600, 61, "unlabeled", "tickets")
    job = run_job(tmp_path / "train", tickets_data / "validation", example="tickets")
    assert job.returncode != 0
    assert re.match(r"^%s row \d+ column 'priority': the label is empty$" % re.escape(str(tmp_path / "train" / "a.csv")), job.failure()), job.failure()


def test_a_class_without_training_rows_gets_probability_zero(tickets_data, tmp_path, run_job, tickets_schema):
    # GIVEN training rows without any `high` ticket (the schema still names it)
    rows = [r for r in read_rows(tickets_data / "train" / "part-00000.csv") if r["priority"] != "high"]
    write_rows(tmp_path / "train" / "a.csv", rows)
    job = run_job(tmp_path / "train", tickets_data / "validation", example="tickets", schema_dir=tickets_schema)
    assert job.returncode == 0, job.proc.stderr
    assert "class(es) high have no training rows" in job.proc.stderr
    assert all(p["candidate"][2] == 0 and len(p["candidate"]) == 3 for p in job.predictions())


def test_serving_answers_probabilities_classes_and_labels(train_module, tickets_baseline, tickets_data, serve):
    # GIVEN the model behind relearn's local serving container
    server = serve(tickets_baseline.model_dir)
    text = (tickets_data / "validation" / "part-00000.csv").read_text()
    head = "\n".join(text.splitlines()[:31]) + "\n"
    offline = [p["candidate"] for p in tickets_baseline.predictions()[:30]]
    # WHEN 30 validation rows are sent as CSV
    status, body = server.post(head, "text/csv")
    assert status == 200, body
    out = json.loads(body)
    # THEN: K probabilities per row (the offline ones), the class names, and the predicted class per row
    assert out["classes"] == CLASSES
    assert np.abs(np.array(out["predictions"]) - np.array(offline)).max() < 1e-9
    assert out["labels"] == [CLASSES[int(np.argmax(p))] for p in offline]
    # WHEN the same rows are sent as JSON with every value as text, THEN the answer is the same
    rows = list(csv.DictReader(io.StringIO(head)))
    status, body2 = server.post(json.dumps({"instances": rows}), "application/json")
    assert status == 200 and json.loads(body2) == out
    # WHEN asked for CSV, THEN one line per row with the K probabilities comma-separated
    status, body3 = server.post(head, "text/csv", accept="text/csv")
    lines = body3.strip().splitlines()
    assert status == 200 and len(lines) == 30
    assert np.abs(np.array([[float(x) for x in line.split(",")] for line in lines]) - np.array(offline)).max() < 1e-12


def test_serving_reads_money_with_its_unit_and_rejects_another_currency(train_module, tickets_baseline, serve):
    server = serve(tickets_baseline.model_dir)
    row = {"account_id": "acct-00001", "region": "EMEA", "customer_tier": "enterprise", "channel": "phone",
           "product_area": "login", "affected_users": "250", "account_mrr": "$9,000", "prior_tickets_30d": 2,
           "opened_hour": 3, "subject": "nobody can log in since this morning"}
    status, with_unit = server.post(json.dumps([row]), "application/json")
    status2, without = server.post(json.dumps([dict(row, account_mrr=9000)]), "application/json")
    assert status == status2 == 200 and json.loads(with_unit) == json.loads(without)
    status, body = server.post(json.dumps([row, dict(row, account_mrr="\u20ac9,000")]), "application/json")
    assert status == 400 and "column 'account_mrr' row 2: expected a number (in $), got \"\u20ac9,000\"" in body, body
    # An account the model never saw, and a rare channel, are scored.
    status, body = server.post(json.dumps([dict(row, account_id="acct-99999", channel="fax")]), "application/json")
    assert status == 200 and len(json.loads(body)["predictions"][0]) == 3
