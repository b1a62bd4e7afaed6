"""The serving functions: parity with the training job's predictions, formats, and bad requests."""
import csv
import io
import json

import pytest


@pytest.fixture(scope="module")
def served(train_module, baseline):
    return train_module.model_fn(baseline.model_dir)


def _validation_csv(data, n=None):
    with open(str(data / "validation" / "part-00000.csv")) as f:
        text = f.read()
    if n is None:
        return text
    return "\n".join(text.splitlines()[: n + 1]) + "\n"


def _invoke(m, model, body, content_type, accept="application/json"):
    return m.output_fn(m.predict_fn(m.input_fn(body, content_type), model), accept)


def test_model_fn_loaded_model_predicts_what_the_predictions_file_says_csv(train_module, served, baseline, data):
    # GIVEN every validation row as a text/csv request (the id and label columns are extra and ignored)
    body = _validation_csv(data).encode("utf-8")
    # WHEN served through input_fn -> predict_fn -> output_fn
    out = json.loads(_invoke(train_module, served, body, "text/csv"))
    # THEN the served scores equal the training job's offline scores, row for row (training/serving parity)
    offline = [p["candidate"] for p in baseline.predictions()]
    assert len(out["predictions"]) == len(offline)
    assert max(abs(a - b) for a, b in zip(out["predictions"], offline)) < 1e-9


def test_json_requests_by_column_name_give_the_same_scores(train_module, served, baseline, data):
    # GIVEN 50 validation rows as JSON objects, with values typed as a client would send them
    rows = list(csv.DictReader(io.StringIO(_validation_csv(data, 50))))
    numeric = ("company_size", "monthly_usage_hours", "tenure_months", "seats", "support_tickets")
    instances = []
    for r in rows:
        obj = {k: (None if v == "" else (float(v) if k in numeric else v)) for k, v in r.items()}
        obj["last_message"] = r["last_message"] or None
        instances.append(obj)
    offline = [p["candidate"] for p in baseline.predictions()[:50]]
    # WHEN sent as {"instances": [...]} and as a bare list, with the columns in another order
    a = json.loads(_invoke(train_module, served, json.dumps({"instances": instances}), "application/json"))
    b = json.loads(_invoke(train_module, served, json.dumps([dict(reversed(list(i.items()))) for i in instances]),
                           "application/json; charset=utf-8"))
    # THEN both match the offline scores
    assert max(abs(x - y) for x, y in zip(a["predictions"], offline)) < 1e-9
    assert a == b


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


def test_through_the_local_serving_container_bad_requests_are_4xx_with_the_reason(baseline, data, tmp_path):
    # GIVEN the model served by relearn's local stand-in for the SageMaker scikit-learn serving container
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from conftest import REPO
    serve = os.path.join(REPO, "local", "python", "serve.py")
    proc = subprocess.Popen(
        [sys.executable, serve, "--model-dir", baseline.model_dir, "--code-dir", os.path.join(REPO, "training-scripts", "churn"),
         "--program", "train.py", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stdout:
            if line.startswith("RELEARN_SERVING_PORT"):
                port = int(line.split()[1])
                break
        assert port, proc.stderr.read()

        def post(body, content_type):
            req = urllib.request.Request("http://127.0.0.1:%d/invocations" % port, data=body.encode("utf-8"),
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as res:
                    return res.status, res.read().decode("utf-8")
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode("utf-8")

        # WHEN valid rows are sent, THEN the scores are the offline ones
        status, body = post(_validation_csv(data, 20), "text/csv")
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
            status, body = post(payload, content_type)
            assert 400 <= status < 500, (status, body)
            assert expected in body and "Traceback" not in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
