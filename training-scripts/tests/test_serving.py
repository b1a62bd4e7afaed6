"""The serving functions on a binary model: parity with the training job's predictions, formats, values that
arrive as text, and bad requests."""
import csv
import io
import json
import os

import joblib
import pytest


@pytest.fixture(scope="module")
def served(train_module, baseline):
    return train_module.model_fn(baseline.model_dir)


def _validation_csv(data, n=None):
    text = (data / "validation" / "part-00000.csv").read_text()
    if n is None:
        return text
    return "\n".join(text.splitlines()[: n + 1]) + "\n"


def _invoke(m, model, body, content_type, accept="application/json"):
    return m.output_fn(m.predict_fn(m.input_fn(body, content_type), model), accept)


NUMERIC = ("company_size", "monthly_usage_hours", "tenure_months", "seats", "support_tickets")


def test_model_fn_loaded_model_predicts_what_the_predictions_file_says_csv(train_module, served, baseline, data):
    # GIVEN every validation row as a text/csv request (the id and label columns are extra and ignored)
    body = _validation_csv(data).encode("utf-8")
    # WHEN served through input_fn -> predict_fn -> output_fn
    out = json.loads(_invoke(train_module, served, body, "text/csv"))
    # THEN the served scores equal the training job's offline scores, row for row (training/serving parity)
    offline = [p["candidate"] for p in baseline.predictions()]
    assert len(out["predictions"]) == len(offline)
    assert max(abs(a - b) for a, b in zip(out["predictions"], offline)) < 1e-9
    # and the answer names the classes and the predicted class of each row (P >= 0.5 -> the second class)
    assert out["classes"] == ["0", "1"]
    assert out["labels"] == ["1" if p >= 0.5 else "0" for p in out["predictions"]]


def test_json_requests_by_column_name_give_the_same_scores(train_module, served, baseline, data):
    # GIVEN 50 validation rows as JSON objects, with values typed as a client would send them
    rows = list(csv.DictReader(io.StringIO(_validation_csv(data, 50))))
    instances = []
    for r in rows:
        obj = {k: (None if v == "" else (float(v) if k in NUMERIC else v)) for k, v in r.items()}
        obj["last_message"] = r["last_message"] or None
        instances.append(obj)
    offline = [p["candidate"] for p in baseline.predictions()[:50]]
    # WHEN sent as {"instances": [...]}, as a bare list with the columns in another order, and with every value as text
    a = json.loads(_invoke(train_module, served, json.dumps({"instances": instances}), "application/json"))
    b = json.loads(_invoke(train_module, served, json.dumps([dict(reversed(list(i.items()))) for i in instances]),
                           "application/json; charset=utf-8"))
    c = json.loads(_invoke(train_module, served, json.dumps(rows), "application/json"))
    # THEN all match the offline scores
    assert max(abs(x - y) for x, y in zip(a["predictions"], offline)) < 1e-9
    assert a == b == c


def test_one_object_is_one_row(train_module, served, baseline, data):
    row = next(csv.DictReader(io.StringIO(_validation_csv(data, 1))))
    out = json.loads(_invoke(train_module, served, json.dumps(row), "application/json"))
    assert len(out["predictions"]) == 1
    assert abs(out["predictions"][0] - baseline.predictions()[0]["candidate"]) < 1e-9


def test_csv_output_has_one_score_per_line(train_module, served, data):
    out = _invoke(train_module, served, _validation_csv(data, 3), "text/csv", accept="text/csv")
    assert len(out.strip().splitlines()) == 3
    assert all(0.0 <= float(x) <= 1.0 for x in out.split())


def _row(**overrides):
    row = {"company_size": 40, "monthly_usage_hours": 12.5, "tenure_months": 3, "seats": 4, "support_tickets": 5,
           "plan": "free", "country": "DE", "last_message": "I want to cancel my subscription"}
    row.update(overrides)
    return row


def _error(m, model, body, content_type):
    with pytest.raises(ValueError) as info:
        m.predict_fn(m.input_fn(body, content_type), model)
    return info.value


def test_numbers_as_text_are_numbers(train_module, served):
    # GIVEN the same row with numbers as numbers, as plain text, with thousands separators and spaces
    as_numbers = json.loads(_invoke(train_module, served, json.dumps([_row(company_size=1200)]), "application/json"))
    as_text = json.loads(_invoke(train_module, served, json.dumps([_row(company_size=" 1,200 ", seats="4", monthly_usage_hours="12.5")]),
                                 "application/json"))
    # THEN they score the same; an empty string is a missing value, as an empty CSV cell is
    assert as_numbers == as_text
    missing = json.loads(_invoke(train_module, served, json.dumps([_row(company_size=None)]), "application/json"))
    empty = json.loads(_invoke(train_module, served, json.dumps([_row(company_size="")]), "application/json"))
    assert missing == empty


def test_missing_column_is_a_400_naming_the_column(train_module, served):
    row = _row()
    del row["tenure_months"]
    err = _error(train_module, served, json.dumps([row]), "application/json")
    assert isinstance(err, train_module.InvalidInput) and err.status_code == 400
    assert "missing column(s): tenure_months" in str(err)


def test_missing_column_in_csv_is_a_400_naming_it(train_module, served):
    err = _error(train_module, served, "company_size,plan\n10,free\n", "text/csv")
    assert err.status_code == 400 and "monthly_usage_hours" in str(err) and "missing" in str(err)


def test_wrong_type_is_a_400_naming_column_row_and_value(train_module, served):
    err = _error(train_module, served, json.dumps([_row(), _row(seats="many")]), "application/json")
    assert err.status_code == 400
    assert "column 'seats' row 2: expected a number" in str(err) and "many" in str(err)
    err = _error(train_module, served, json.dumps([_row(plan=["pro"])]), "application/json")
    assert err.status_code == 400 and "column 'plan' row 1: expected a string" in str(err)
    err = _error(train_module, served, json.dumps([_row(tenure_months=True)]), "application/json")
    assert err.status_code == 400 and "tenure_months" in str(err)
    # A unit the column never had in training is not silently dropped.
    err = _error(train_module, served, json.dumps([_row(monthly_usage_hours="12 h")]), "application/json")
    assert err.status_code == 400 and "column 'monthly_usage_hours' row 1: expected a number, got \"12 h\"" in str(err)
    header = ",".join(_row().keys())
    err = _error(train_module, served, header + "\n40,abc,3,4,5,free,DE,hi\n", "text/csv")
    assert "column 'monthly_usage_hours' row 1: expected a number" in str(err) and "abc" in str(err)


def test_empty_body_is_a_400(train_module, served):
    for body in (b"", "   \n", None):
        err = _error(train_module, served, body, "application/json")
        assert err.status_code == 400 and "empty request body" in str(err)
    err = _error(train_module, served, ",".join(_row().keys()) + "\n", "text/csv")
    assert err.status_code == 400 and "no rows" in str(err)
    err = _error(train_module, served, "[]", "application/json")
    assert err.status_code == 400 and "no rows" in str(err)


def test_malformed_json_is_a_400_saying_where(train_module, served):
    err = _error(train_module, served, '[{"plan": "free",', "application/json")
    assert err.status_code == 400 and "malformed JSON" in str(err) and "line 1" in str(err)
    err = _error(train_module, served, "[1, 2]", "application/json")
    assert err.status_code == 400 and "JSON row 1: expected an object" in str(err)


def test_unsupported_content_and_accept_types_are_415(train_module, served):
    err = _error(train_module, served, "x", "application/x-parquet")
    assert isinstance(err, train_module.UnsupportedContentType) and err.status_code == 415
    with pytest.raises(train_module.UnsupportedContentType) as info:
        train_module.output_fn([0.5], "application/xml")
    assert info.value.status_code == 415


def test_a_valid_request_with_nulls_and_unseen_categories_is_scored(train_module, served):
    out = json.loads(_invoke(train_module, served,
                             json.dumps([_row(company_size=None, plan="team", country="KE", last_message=None)]),
                             "application/json"))
    assert len(out["predictions"]) == 1 and 0.0 <= out["predictions"][0] <= 1.0


def test_model_fn_rejects_a_directory_without_the_model(train_module, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        train_module.model_fn(str(tmp_path))
    assert "model.joblib" in str(info.value)


def test_input_fn_itself_rejects_bad_rows_once_a_model_is_loaded(train_module, served):
    # Serving stacks map ValueErrors from input_fn to 400 (predict_fn errors are the model's 500s),
    # so the column and type checks must already fire in input_fn.
    row = _row()
    del row["country"]
    with pytest.raises(train_module.InvalidInput) as info:
        train_module.input_fn(json.dumps([row]), "application/json")
    assert "missing column(s): country" in str(info.value)
    with pytest.raises(train_module.InvalidInput) as info:
        train_module.input_fn(json.dumps([_row(seats="many")]), "application/json")
    assert "column 'seats' row 1" in str(info.value)


def test_booleans_map_to_the_spelling_the_training_data_used(train_module):
    # GIVEN a categorical column whose training CSV spelled booleans TRUE/FALSE
    import pandas as pd
    features = {"numeric": [], "categorical": ["trial"], "text": [], "units": {}, "bools": {"trial": {"true": "TRUE", "false": "FALSE"}}}
    # WHEN a JSON client sends true/false
    typed = train_module.typed_frame(features, pd.DataFrame({"trial": [True, False, None, "TRUE"]}, dtype=object))
    # THEN they become the training data's categories
    assert typed["trial"].tolist()[:2] == ["TRUE", "FALSE"] and typed["trial"].tolist()[3] == "TRUE"


def test_a_model_saved_by_the_churn_script_still_loads_serves_and_scores_as_champion(train_module, baseline, data, tmp_path, run_job):
    # GIVEN a model in the churn-only script's format 1 (binary over 0/1, no classes, units or problem type)
    artifact = joblib.load(os.path.join(baseline.model_dir, "model.joblib"))
    f = artifact["features"]
    old = {"format": 1, "pipeline": artifact["pipeline"], "features": {k: f[k] for k in ("numeric", "categorical", "text")},
           "label_column": "churned", "id_column": "customer_id", "sklearn_version": artifact["sklearn_version"], "trained_rows": 1}
    (tmp_path / "old").mkdir()
    joblib.dump(old, str(tmp_path / "old" / "model.joblib"))
    # WHEN served
    model = train_module.model_fn(str(tmp_path / "old"))
    out = json.loads(_invoke(train_module, model, _validation_csv(data, 5), "text/csv"))
    # THEN it answers as a binary model over classes 0 and 1
    offline = [p["candidate"] for p in baseline.predictions()[:5]]
    assert out["classes"] == ["0", "1"] and max(abs(a - b) for a, b in zip(out["predictions"], offline)) < 1e-9
    # and as a champion channel of a new run its scores are the ones it gave
    import tarfile
    (tmp_path / "champion").mkdir()
    with tarfile.open(str(tmp_path / "champion" / "model.tar.gz"), "w:gz") as tar:
        tar.add(str(tmp_path / "old" / "model.joblib"), arcname="model.joblib")
    job = run_job(data / "train", data / "validation", champion_dir=tmp_path / "champion", args=["--C", "0.3"])
    assert job.returncode == 0, job.proc.stderr
    assert max(abs(p["champion"] - q["candidate"]) for p, q in zip(job.predictions(), baseline.predictions())) < 1e-9


def test_through_the_local_serving_container_bad_requests_are_4xx_with_the_reason(baseline, data, serve):
    # GIVEN the model served by relearn's local stand-in for the SageMaker scikit-learn serving container
    server = serve(baseline.model_dir)
    # WHEN valid rows are sent, THEN the scores are the offline ones
    status, body = server.post(_validation_csv(data, 20), "text/csv")
    assert status == 200, body
    offline = [p["candidate"] for p in baseline.predictions()[:20]]
    assert max(abs(a - b) for a, b in zip(json.loads(body)["predictions"], offline)) < 1e-9
    # WHEN bad rows are sent, THEN each is a 4xx whose body says what is wrong (no stack trace)
    row = _row()
    del row["tenure_months"]
    for payload, content_type, expected in [
        (json.dumps([row]), "application/json", "missing column(s): tenure_months"),
        (json.dumps([_row(seats="many")]), "application/json", "column 'seats' row 1: expected a number"),
        ("", "application/json", "empty request body"),
        ('[{"plan": ', "application/json", "malformed JSON"),
    ]:
        status, body = server.post(payload, content_type)
        assert 400 <= status < 500, (status, body)
        assert expected in body and "Traceback" not in body
