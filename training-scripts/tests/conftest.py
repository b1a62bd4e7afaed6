"""Fixtures: data from the TypeScript example generators, and a runner for train.py as SageMaker runs it."""
import csv
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CODE_DIR = os.path.join(REPO, "training-scripts", "tabular")
SCRIPT = os.path.join(CODE_DIR, "train.py")
SERVE = os.path.join(REPO, "local", "python", "serve.py")

#: The bundled examples: generator, label column, id column (what the pipeline sends as reserved hyperparameters).
EXAMPLES = {
    "churn": ("examples/churn/generate.ts", "churned", "customer_id"),
    "tickets": ("examples/support-tickets/generate.ts", "priority", "ticket_id"),
    "delivery": ("examples/delivery-times/generate.ts", "delivery_minutes", "order_id"),
}


def generate(path, rows, seed, variant="clean", example="churn"):
    """Writes an example's CSV through its TypeScript generator (one generator for TypeScript and Python)."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    subprocess.run(
        ["npx", "--no-install", "tsx", EXAMPLES[example][0], "--rows", str(rows), "--seed", str(seed),
         "--variant", variant, "--out", str(path)],
        cwd=REPO, check=True, capture_output=True,
    )
    return path


def read_rows(path):
    """A CSV file's rows as dicts of text."""
    with open(str(path)) as f:
        return list(csv.DictReader(f))


def validation_rows(data):
    """The rows of a data fixture's validation channel."""
    return read_rows(data / "validation" / "part-00000.csv")


def write_rows(path, rows, header=None):
    """Writes rows (dicts) as CSV with a header, as the generators quote; returns path."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header or list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def rewrite(src, dst, edit):
    """Copies a CSV with edit(rows) applied to its rows (a list of dicts); returns dst."""
    with open(str(src)) as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    return write_rows(dst, edit(rows), header)


def write_schema(directory, schema):
    """A schema channel as the pipeline mounts it: SM_CHANNEL_SCHEMA/schema.json."""
    os.makedirs(str(directory), exist_ok=True)
    with open(os.path.join(str(directory), "schema.json"), "w") as f:
        json.dump(schema, f)
    return directory


@pytest.fixture(scope="session")
def train_module():
    """train.py imported as a module (the way the serving container imports the entry point)."""
    spec = importlib.util.spec_from_file_location("train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["train"] = module
    spec.loader.exec_module(module)
    return module


class Job:
    """One run of train.py laid out like /opt/ml, through its command line, as the container runs it."""

    def __init__(self, root, train_dir, validation_dir, champion_dir=None, args=(), example="churn", schema_dir=None,
                 reserved=True, script=SCRIPT):
        self.root = root
        self.model_dir = os.path.join(root, "model")
        self.output_dir = os.path.join(root, "output")
        self.output_data_dir = os.path.join(self.output_dir, "data")
        # SageMaker creates these before it starts the script.
        for d in (self.model_dir, self.output_data_dir):
            os.makedirs(d, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "SM_MODEL_DIR": self.model_dir,
            "SM_OUTPUT_DIR": self.output_dir,
            "SM_OUTPUT_DATA_DIR": self.output_data_dir,
            "SM_CHANNEL_TRAIN": str(train_dir),
            "SM_CHANNEL_VALIDATION": str(validation_dir),
        })
        for name, value in (("SM_CHANNEL_CHAMPION", champion_dir), ("SM_CHANNEL_SCHEMA", schema_dir)):
            env.pop(name, None)
            if value is not None:
                env[name] = str(value)
        _, label, id_column = EXAMPLES[example]
        cmd = [sys.executable, script]
        if reserved:
            cmd += ["--label-column", label, "--id-column", id_column]
        self.cmd = cmd + list(args)
        self.proc = subprocess.run(self.cmd, env=env, capture_output=True, text=True)

    @property
    def returncode(self):
        return self.proc.returncode

    def metrics(self):
        out = {}
        for line in self.proc.stdout.splitlines():
            if "=" in line and ":" in line.split("=")[0]:
                k, v = line.split("=", 1)
                out[k] = float(v)
        return out

    def predictions(self):
        with open(os.path.join(self.output_data_dir, "predictions.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def failure(self):
        path = os.path.join(self.output_dir, "failure")
        return open(path).read() if os.path.exists(path) else None

    def package(self, directory):
        """model.tar.gz as SageMaker uploads it (the model directory's contents at the root)."""
        os.makedirs(str(directory), exist_ok=True)
        with tarfile.open(os.path.join(str(directory), "model.tar.gz"), "w:gz") as tar:
            for name in os.listdir(self.model_dir):
                tar.add(os.path.join(self.model_dir, name), arcname=name)
        return directory


@pytest.fixture
def run_job(tmp_path):
    counter = {"n": 0}

    def run(train_dir, validation_dir, champion_dir=None, args=(), example="churn", schema_dir=None, reserved=True, script=SCRIPT):
        counter["n"] += 1
        root = tmp_path / ("job%d" % counter["n"])
        root.mkdir()
        return Job(str(root), train_dir, validation_dir, champion_dir, args, example, schema_dir, reserved, script)

    return run


def _channels(tmp_path_factory, example, train_rows, validation_rows, variant="clean", seeds=(11, 12)):
    root = tmp_path_factory.mktemp("data-%s-%s" % (example, variant))
    generate(root / "train" / "part-00000.csv", train_rows, seeds[0], variant, example)
    generate(root / "validation" / "part-00000.csv", validation_rows, seeds[1], variant, example)
    return root


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """Churn: train (seed 11) and held-out validation (seed 12) channels of the clean variant, small."""
    return _channels(tmp_path_factory, "churn", 3000, 1200)


@pytest.fixture(scope="session")
def tickets_data(tmp_path_factory):
    """Support tickets (three classes): train (seed 11) and validation (seed 12), clean."""
    return _channels(tmp_path_factory, "tickets", 2400, 800)


@pytest.fixture(scope="session")
def delivery_data(tmp_path_factory):
    """Delivery times (regression): train (seed 11) and validation (seed 12), clean."""
    return _channels(tmp_path_factory, "delivery", 2400, 800)


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, data):
    """One churn job on the clean data with default hyperparameters, shared by the read-only tests."""
    root = tmp_path_factory.mktemp("baseline")
    job = Job(str(root), data / "train", data / "validation")
    assert job.returncode == 0, job.proc.stderr
    return job


TICKETS_SCHEMA = {
    "version": 1, "source": "inferred", "problemType": "multiclass_classification", "labelColumn": "priority",
    "idColumn": "ticket_id", "classes": ["low", "medium", "high"],
    "columns": [
        {"name": "ticket_id", "type": "text", "role": "id"},
        {"name": "account_id", "type": "categorical"},
        {"name": "region", "type": "categorical"},
        {"name": "customer_tier", "type": "categorical"},
        {"name": "channel", "type": "categorical"},
        {"name": "product_area", "type": "categorical"},
        {"name": "affected_users", "type": "numeric"},
        # ValidateData knows no units: "$1,250" is a category to it (a few hundred distinct values).
        {"name": "account_mrr", "type": "categorical"},
        {"name": "prior_tickets_30d", "type": "numeric"},
        {"name": "opened_hour", "type": "numeric"},
        {"name": "subject", "type": "text"},
        {"name": "priority", "type": "categorical", "role": "label"},
    ],
}


@pytest.fixture(scope="session")
def tickets_schema(tmp_path_factory):
    return write_schema(tmp_path_factory.mktemp("schema-tickets"), TICKETS_SCHEMA)


@pytest.fixture(scope="session")
def tickets_baseline(tmp_path_factory, tickets_data, tickets_schema):
    """One multiclass job with the run's schema channel (classes low, medium, high), as the pipeline runs it."""
    root = tmp_path_factory.mktemp("baseline-tickets")
    job = Job(str(root), tickets_data / "train", tickets_data / "validation", example="tickets", schema_dir=tickets_schema,
              args=["--problem-type", "multiclass_classification"])
    assert job.returncode == 0, job.proc.stderr
    return job


@pytest.fixture(scope="session")
def delivery_baseline(tmp_path_factory, delivery_data):
    """One regression job without a schema channel (roles inferred), with the problem type sent by the pipeline."""
    root = tmp_path_factory.mktemp("baseline-delivery")
    job = Job(str(root), delivery_data / "train", delivery_data / "validation", example="delivery",
              args=["--problem-type", "regression"])
    assert job.returncode == 0, job.proc.stderr
    return job


class Served:
    """A model served by relearn's local stand-in for the SageMaker scikit-learn serving container."""

    def __init__(self, model_dir, code_dir=CODE_DIR):
        # The server logs every request on stderr: a file, so a full pipe never blocks it.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, SERVE, "--model-dir", model_dir, "--code-dir", code_dir, "--program", "train.py", "--port", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.port = None
        for line in self.proc.stdout:
            if line.startswith("RELEARN_SERVING_PORT"):
                self.port = int(line.split()[1])
                break
        if not self.port:
            self.log.seek(0)
            raise AssertionError("serve.py did not start: %s" % self.log.read())

    def post(self, body, content_type, accept="application/json"):
        req = urllib.request.Request("http://127.0.0.1:%d/invocations" % self.port, data=body.encode("utf-8"),
                                     headers={"Content-Type": content_type, "Accept": accept})
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return res.status, res.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def serve():
    started = []

    def start(model_dir, code_dir=CODE_DIR):
        s = Served(model_dir, code_dir)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
