"""The schema channel (SM_CHANNEL_SCHEMA/schema.json, written by ValidateData): column types and roles, label,
id, problem type and classes from it; the reserved hyperparameters win over it; a bad schema names its file."""
import json
import os

import joblib

from conftest import write_schema

CHURN_COLUMNS = [
    {"name": "customer_id", "type": "text", "role": "id"},
    {"name": "company_size", "type": "numeric"},
    {"name": "monthly_usage_hours", "type": "numeric"},
    {"name": "tenure_months", "type": "numeric"},
    {"name": "seats", "type": "numeric"},
    {"name": "support_tickets", "type": "numeric"},
    {"name": "plan", "type": "categorical"},
    {"name": "country", "type": "categorical"},
    {"name": "last_message", "type": "text"},
    {"name": "churned", "type": "numeric", "role": "label"},
]


def _schema(**changes):
    schema = {"version": 1, "source": "inferred", "problemType": "binary_classification", "labelColumn": "churned",
              "idColumn": "customer_id", "classes": ["0", "1"], "columns": [dict(c) for c in CHURN_COLUMNS]}
    schema.update(changes)
    return schema


def _features(job):
    return joblib.load(os.path.join(job.model_dir, "model.joblib"))["features"]


def test_types_and_roles_come_from_the_schema(data, tmp_path, run_job):
    # GIVEN a schema that makes seats a category, ignores country, and names the label and id itself
    schema = _schema()
    for c in schema["columns"]:
        if c["name"] == "seats":
            c["type"] = "categorical"
        if c["name"] == "country":
            c["role"] = "ignore"
    # WHEN the job runs with no reserved hyperparameters at all (a bring-your-own local run)
    job = run_job(data / "train", data / "validation", schema_dir=write_schema(tmp_path / "schema", schema), reserved=False)
    assert job.returncode == 0, job.proc.stderr
    f = _features(job)
    # THEN the model learned what the schema said
    assert f["categorical"] == ["seats", "plan"] and "country" not in f["numeric"] + f["categorical"] + f["text"]
    assert f["text"] == ["last_message"] and "customer_id" not in f["text"]
    assert "seats: categorical (schema)" in job.proc.stderr and "problem type: schema" in job.proc.stderr
    assert job.predictions()[0]["id"].startswith("cust-12-")


def test_the_reserved_hyperparameters_win_over_the_schema(data, tmp_path, run_job):
    # GIVEN a schema that names another label and another problem type
    schema = write_schema(tmp_path / "schema", _schema(labelColumn="plan", problemType="multiclass_classification", classes=None))
    # WHEN the pipeline sends --label-column churned --id-column customer_id --problem-type binary_classification
    job = run_job(data / "train", data / "validation", schema_dir=schema, args=["--problem-type", "binary_classification"])
    assert job.returncode == 0, job.proc.stderr
    # THEN the hyperparameters decide (a binary churn model), and plan is a feature again
    assert isinstance(job.predictions()[0]["candidate"], float)
    assert "plan" in _features(job)["categorical"]
    assert "problem type: --problem-type" in job.proc.stderr


def test_column_overrides_win_over_the_schema(data, tmp_path, run_job):
    schema = write_schema(tmp_path / "schema", _schema())
    job = run_job(data / "train", data / "validation", schema_dir=schema,
                  args=["--categorical-columns", "support_tickets", "--ignore-columns", "last_message"])
    assert job.returncode == 0, job.proc.stderr
    f = _features(job)
    assert "support_tickets" in f["categorical"] and f["text"] == []
    # An override naming a column that does not exist fails, listing the columns there are.
    job = run_job(data / "train", data / "validation", schema_dir=schema, args=["--text-columns", "notes"])
    assert job.returncode != 0 and job.failure().startswith("--text-columns names notes, not in the training data (columns: customer_id,")


def test_columns_the_schema_and_the_data_disagree_on_are_reported(data, tmp_path, run_job):
    # GIVEN a schema that lacks plan and has a column the data does not
    schema = _schema()
    schema["columns"] = [c for c in schema["columns"] if c["name"] != "plan"] + [{"name": "region", "type": "categorical"}]
    job = run_job(data / "train", data / "validation", schema_dir=write_schema(tmp_path / "schema", schema))
    # THEN it trains, inferring plan, and says so for both
    assert job.returncode == 0, job.proc.stderr
    assert "warning: column 'plan' is not in the schema; inferred categorical" in job.proc.stderr
    assert "warning: schema column(s) region are not in the training data" in job.proc.stderr


def test_a_schema_under_another_file_name_is_read(data, tmp_path, run_job):
    os.makedirs(str(tmp_path / "schema"))
    with open(str(tmp_path / "schema" / "run-schema.json"), "w") as f:
        json.dump(_schema(classes=["1", "0"]), f)
    job = run_job(data / "train", data / "validation", schema_dir=tmp_path / "schema")
    assert job.returncode == 0, job.proc.stderr
    # classes 1, 0: the positive class is now "0", so label 1 means not churned
    assert "classes [1, 0]" in job.proc.stderr


def test_a_bad_schema_fails_naming_the_file(data, tmp_path, run_job):
    os.makedirs(str(tmp_path / "broken"))
    (tmp_path / "broken" / "schema.json").write_text('{"columns": [')
    job = run_job(data / "train", data / "validation", schema_dir=tmp_path / "broken")
    assert job.returncode != 0 and job.failure().startswith("%s: cannot be read as JSON" % (tmp_path / "broken" / "schema.json"))
    schema = _schema()
    schema["columns"][1]["type"] = "integer"
    job = run_job(data / "train", data / "validation", schema_dir=write_schema(tmp_path / "typed", schema))
    assert job.returncode != 0
    assert "column 'company_size': type must be numeric, categorical or text, but got 'integer'" in job.failure()
    job = run_job(data / "train", data / "validation", schema_dir=write_schema(tmp_path / "pt", _schema(problemType="ranking")))
    assert job.returncode != 0 and "problemType must be one of" in job.failure()


def test_binary_with_a_schema_of_three_classes_fails_before_training(data, tmp_path, run_job):
    schema = write_schema(tmp_path / "schema", _schema(classes=["0", "1", "2"]))
    job = run_job(data / "train", data / "validation", schema_dir=schema)
    assert job.returncode != 0
    assert job.failure().startswith("the label 'churned' has 3 classes (0, 1, 2) but the problem type is binary_classification, which needs exactly two")


def test_without_a_schema_the_problem_type_is_inferred_from_the_labels(delivery_data, tickets_data, run_job):
    # Numbers with fractions: a regression; a few words: classes, sorted by name.
    job = run_job(delivery_data / "train", delivery_data / "validation", example="delivery")
    assert job.returncode == 0, job.proc.stderr
    assert "setup: regression" in job.proc.stderr and "problem type: inferred from the labels" in job.proc.stderr
    job = run_job(tickets_data / "train", tickets_data / "validation", example="tickets")
    assert job.returncode == 0, job.proc.stderr
    assert "setup: multiclass_classification, label 'priority' classes [high, low, medium]" in job.proc.stderr
    assert len(job.predictions()[0]["candidate"]) == 3
