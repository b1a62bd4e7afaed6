"""The bring-your-own skeleton that docs/training-contract.md points to (examples/bring-your-own/train.py) keeps
the contract: the pipeline's arguments, predictions.jsonl, a metric line, serving through serve.py."""
import json
import os
import re

from conftest import REPO

BYO_DIR = os.path.join(REPO, "examples", "bring-your-own")


def test_the_bring_your_own_skeleton_keeps_the_contract(delivery_data, run_job, serve):
    # GIVEN the skeleton run as the pipeline runs a script (with the three reserved hyperparameters)
    job = run_job(delivery_data / "train", delivery_data / "validation", example="delivery",
                  args=["--problem-type", "regression"], script=os.path.join(BYO_DIR, "train.py"))
    assert job.returncode == 0, job.proc.stderr
    # THEN it wrote one prediction per validation row in the contract's shape, and the documented metric line
    preds = job.predictions()
    assert len(preds) == 800 and set(preds[0]) == {"id", "label", "candidate", "champion"}
    assert isinstance(preds[0]["id"], str) and isinstance(preds[0]["label"], float)
    assert re.search(r"validation:rmse=([0-9.eE+-]+)", job.proc.stdout)
    # AND served by the local serving container, it answers what VerifyServing sends (values as text) in the documented shape
    server = serve(job.model_dir, BYO_DIR)
    status, body = server.post(json.dumps([{"order_id": "x", "items": "3", "hour": "19", "city": "Berlin"}]), "application/json")
    assert status == 200 and len(json.loads(body)["predictions"]) == 1, body
    status, body = server.post("items,hour\n3,19\n", "text/csv")
    assert status == 400 and "send application/json" in body


def test_a_failure_is_written_where_sagemaker_reads_it(delivery_data, run_job):
    job = run_job(delivery_data / "train", delivery_data / "validation", example="churn", script=os.path.join(BYO_DIR, "train.py"))
    assert job.returncode != 0 and job.failure().startswith("KeyError")


def test_the_skeleton_is_python_3_9_syntax():
    import ast

    path = os.path.join(BYO_DIR, "train.py")
    with open(path) as f:
        ast.parse(f.read(), filename=path, feature_version=(3, 9))
