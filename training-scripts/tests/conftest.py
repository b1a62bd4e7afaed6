"""Fixtures: data from the one TypeScript generator, and a runner for train.py as SageMaker runs it."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(REPO, "training-scripts", "churn", "train.py")


def generate(path, rows, seed, variant="clean"):
    """Writes churn CSV through examples/churn/generate.ts (one generator for TypeScript and Python)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(
        ["npx", "--no-install", "tsx", "examples/churn/generate.ts", "--rows", str(rows), "--seed", str(seed),
         "--variant", variant, "--out", path],
        cwd=REPO, check=True, capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def train_module():
    """train.py imported as a module (the way the serving container imports the entry point)."""
    spec = importlib.util.spec_from_file_location("train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["train"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """Train (seed 11) and held-out validation (seed 12) channels of the clean variant, small."""
    root = tmp_path_factory.mktemp("data")
    generate(str(root / "train" / "part-00000.csv"), 3000, 11)
    generate(str(root / "validation" / "part-00000.csv"), 1200, 12)
    return root


class Job:
    """One run of train.py laid out like /opt/ml, through its command line, as the container runs it."""

    def __init__(self, root, train_dir, validation_dir, champion_dir=None, args=()):
        self.root = root
        self.model_dir = os.path.join(root, "model")
        self.output_dir = os.path.join(root, "output")
        self.output_data_dir = os.path.join(self.output_dir, "data")
        env = dict(os.environ)
        env.update({
            "SM_MODEL_DIR": self.model_dir,
            "SM_OUTPUT_DIR": self.output_dir,
            "SM_OUTPUT_DATA_DIR": self.output_data_dir,
            "SM_CHANNEL_TRAIN": str(train_dir),
            "SM_CHANNEL_VALIDATION": str(validation_dir),
        })
        env.pop("SM_CHANNEL_CHAMPION", None)
        if champion_dir is not None:
            env["SM_CHANNEL_CHAMPION"] = str(champion_dir)
        cmd = [sys.executable, SCRIPT, "--label-column", "churned", "--id-column", "customer_id"] + list(args)
        self.proc = subprocess.run(cmd, env=env, capture_output=True, text=True)

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
        os.makedirs(directory, exist_ok=True)
        with tarfile.open(os.path.join(directory, "model.tar.gz"), "w:gz") as tar:
            for name in os.listdir(self.model_dir):
                tar.add(os.path.join(self.model_dir, name), arcname=name)
        return directory


@pytest.fixture
def run_job(tmp_path):
    counter = {"n": 0}

    def run(train_dir, validation_dir, champion_dir=None, args=()):
        counter["n"] += 1
        root = tmp_path / ("job%d" % counter["n"])
        root.mkdir()
        return Job(str(root), train_dir, validation_dir, champion_dir, args)

    return run


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, data):
    """One job on the clean data with default hyperparameters, shared by the read-only tests."""
    root = tmp_path_factory.mktemp("baseline")
    job = Job(str(root), data / "train", data / "validation")
    assert job.returncode == 0, job.proc.stderr
    return job


def copy_tree(src, dst):
    shutil.copytree(str(src), str(dst))
    return dst
