"""relearn's example model: customer churn, trained and served in SageMaker script mode.

Training (the SKLearn container runs ``python train.py --name value ...``):
  reads every CSV in SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION, fits ONE scikit-learn Pipeline
  (ColumnTransformer: numeric impute+scale, categorical one-hot, text word frequencies; then the
  estimator), saves it whole to SM_MODEL_DIR/model.joblib, scores every validation row with the
  candidate and, when SM_CHANNEL_CHAMPION holds a model.tar.gz, with the champion too, and writes
  SM_OUTPUT_DATA_DIR/predictions.jsonl. Metric lines (``validation:roc_auc=0.8712``) go to stdout.
  Any error: a readable reason in $SM_OUTPUT_DIR/failure and a non-zero exit.

Serving (the same file is the container's SAGEMAKER_PROGRAM): model_fn, input_fn, predict_fn,
output_fn. Bad requests raise InvalidInput (HTTP 400) or UnsupportedContentType (HTTP 415), both
ValueError subclasses with a ``status_code``; see docs/training-contract.md.

Keep this file Python 3.9 compatible and on the scikit-learn 1.2.1 API (the SKLearn 1.2-1 container).
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import math
import os
import sys
import tarfile
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional

try:
    import joblib
    import numpy as np
    import pandas as pd
    import sklearn
except ImportError as _missing:  # a clear reason instead of a bare traceback (e.g. a python without scikit-learn)
    _reason = ("%s cannot import %s: run this script with a Python that has scikit-learn 1.2.1, pandas and joblib "
               "(locally: set RELEARN_PYTHON, e.g. Debian's /usr/bin/python3 with python3-sklearn)" % (sys.executable, _missing.name))
    if __name__ == "__main__":
        _failure = os.path.join(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"), "failure")
        try:
            os.makedirs(os.path.dirname(_failure), exist_ok=True)
            with open(_failure, "w") as _f:
                _f.write(_reason)
        except OSError:
            pass
        print("training failed: " + _reason, file=sys.stderr)
        sys.exit(1)
    raise ImportError(_reason) from _missing
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

MODEL_FILE = "model.joblib"
PREDICTIONS_FILE = "predictions.jsonl"
#: Version of the saved artifact's layout (a dict of plain scikit-learn objects, no classes of this file).
ARTIFACT_FORMAT = 1


# --------------------------------------------------------------------------------------------------
# Errors: a serving stack maps these to HTTP statuses (status_code); training writes them to `failure`.
# --------------------------------------------------------------------------------------------------

try:  # Inside SageMaker's inference toolkit these also carry the status the toolkit returns.
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError  # type: ignore
except Exception:  # noqa: BLE001 - not installed outside the container

    class _ToolkitError(Exception):  # type: ignore[no-redef]
        def __init__(self, status_code: int, message: str, phrase: str) -> None:
            super().__init__(message)
            self.status_code = status_code
            self.message = message
            self.phrase = phrase


class InvalidInput(_ToolkitError, ValueError):
    """A request the model cannot score (missing column, wrong type, empty body, malformed JSON): HTTP 400."""

    status_code = 400

    def __init__(self, message: str) -> None:
        _ToolkitError.__init__(self, 400, message, "Bad Request")
        self.status_code = 400
        self.message = message
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


class UnsupportedContentType(InvalidInput):
    """A content type or accept type the model does not speak: HTTP 415."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status_code = 415


class TrainingError(Exception):
    """Bad training input or configuration; its message is written to the failure file as it is."""


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected true or false, got %r" % value)


def _columns(value: str) -> List[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="relearn churn model (SageMaker script mode)")
    # Reserved: always sent by the pipeline (from config.dataset).
    p.add_argument("--label-column", default="churned")
    p.add_argument("--id-column", default="_row_id")
    # Reserved, set by the pipeline from evaluation.problemType; this example trains binary classifiers only.
    p.add_argument("--problem-type", default="binary_classification", choices=["binary_classification"])
    # Feature selection.
    p.add_argument("--text-columns", type=_columns, default=["last_message"],
                   help="comma-separated free-text columns (word frequencies)")
    p.add_argument("--categorical-columns", default="auto",
                   help="comma-separated, or 'auto': every non-numeric column that is not text, label or id")
    p.add_argument("--feature-columns", default="all",
                   help="comma-separated subset of columns to learn from, or 'all' (a small subset makes a weak model)")
    # Model.
    p.add_argument("--estimator", choices=["logistic", "hgb"], default="logistic")
    p.add_argument("-C", "--C", type=float, default=1.0, help="inverse regularization strength (logistic)")
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--max-text-features", type=int, default=2000)
    p.add_argument("--ngram-max", type=int, default=2, help="longest word n-gram of the text features")
    p.add_argument("--learning-rate", type=float, default=0.1, help="hgb only")
    p.add_argument("--max-leaf-nodes", type=int, default=31, help="hgb only")
    p.add_argument("--class-weight-balanced", type=_bool, default=False)
    p.add_argument("--random-state", type=int, default=0)
    # Paths (SageMaker's environment; arguments for local runs).
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    p.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    p.add_argument("--champion", default=os.environ.get("SM_CHANNEL_CHAMPION"))
    p.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    return p.parse_args(argv)


def read_channel(directory: str, name: str, id_column: str, label_column: str) -> pd.DataFrame:
    """Every .csv / .csv.gz under a channel, concatenated. Errors name the file (and the row and column)."""
    if not directory or not os.path.isdir(directory):
        raise TrainingError("channel '%s': directory %s does not exist" % (name, directory))
    files = sorted(
        f for f in glob.glob(os.path.join(directory, "**", "*"), recursive=True)
        if os.path.isfile(f) and (f.endswith(".csv") or f.endswith(".csv.gz"))
    )
    if not files:
        raise TrainingError("channel '%s': no .csv files in %s" % (name, directory))
    frames = []
    columns = None
    for f in files:
        try:
            # Ids are kept as the exact text of the file: predictions.jsonl is joined on them.
            frame = pd.read_csv(f, dtype={id_column: str}, keep_default_na=True)
        except Exception as e:  # noqa: BLE001 - pandas raises many kinds; the message names the line
            raise TrainingError("%s: cannot be read as CSV: %s" % (f, e))
        if columns is None:
            columns = list(frame.columns)
        elif list(frame.columns) != columns:
            raise TrainingError("%s: header %s differs from %s's %s" % (f, list(frame.columns), files[0], columns))
        for required in (id_column, label_column):
            if required not in frame.columns:
                raise TrainingError("%s: no column '%s' (columns: %s)" % (f, required, ", ".join(frame.columns)))
        no_id = frame[id_column].isna()
        if no_id.any():
            # predictions.jsonl is joined with the validation split on the id: every row needs one.
            raise TrainingError("%s row %d column '%s': the id is empty" % (f, int(np.argmax(no_id.values)) + 2, id_column))
        labels = pd.to_numeric(frame[label_column], errors="coerce")
        bad = labels.isna() | ~labels.isin([0, 1])
        if bad.any():
            i = int(np.argmax(bad.values))
            raise TrainingError(
                "%s row %d column '%s': label must be 0 or 1, got %r"
                % (f, i + 2, label_column, frame[label_column].iloc[i])
            )
        frame[label_column] = labels.astype(int)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def feature_spec(frame: pd.DataFrame, args: argparse.Namespace) -> Dict[str, List[str]]:
    """Which columns are numeric, categorical and text (validated against the training data)."""
    reserved = {args.label_column, args.id_column}
    available = [c for c in frame.columns if c not in reserved]
    if args.feature_columns != "all":
        wanted = _columns(args.feature_columns)
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise TrainingError("--feature-columns names %s, not in the training data (columns: %s)"
                                % (", ".join(unknown), ", ".join(available)))
        available = wanted
    text = [c for c in args.text_columns if c in available]
    missing_text = [c for c in args.text_columns if c not in frame.columns]
    if missing_text:
        raise TrainingError("text column(s) %s not in the training data (columns: %s); set --text-columns"
                            % (", ".join(missing_text), ", ".join(frame.columns)))
    empty_text = [c for c in text if frame[c].fillna("").astype(str).str.strip().eq("").all()]
    for c in empty_text:
        # A vocabulary cannot be learned from nothing; the model is trained without this column.
        print("warning: text column '%s' is empty on every training row; training without it" % c, file=sys.stderr)
    text = [c for c in text if c not in empty_text]
    if args.categorical_columns == "auto":
        categorical = [c for c in available if c not in text and c not in empty_text
                       and not pd.api.types.is_numeric_dtype(frame[c])]
    else:
        categorical = _columns(args.categorical_columns)
        unknown = [c for c in categorical if c not in frame.columns]
        if unknown:
            raise TrainingError("categorical column(s) %s not in the training data" % ", ".join(unknown))
        categorical = [c for c in categorical if c in available]
    numeric = [c for c in available if c not in text and c not in categorical and c not in empty_text]
    for c in numeric:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            values = frame[c]
            coerced = pd.to_numeric(values, errors="coerce")
            i = int(np.argmax((coerced.isna() & values.notna()).values))
            raise TrainingError("column '%s' row %d: expected a number, got %r (list it in --categorical-columns if it is a category)"
                                % (c, i + 2, values.iloc[i]))
    if not (numeric or categorical or text):
        raise TrainingError("no feature columns left to learn from")
    return {"numeric": numeric, "categorical": categorical, "text": text}


def build_pipeline(spec: Dict[str, List[str]], args: argparse.Namespace) -> Pipeline:
    transformers: List[Any] = []
    if spec["numeric"]:
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]), spec["numeric"]))
    if spec["categorical"]:
        transformers.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]), spec["categorical"]))
    for c in spec["text"]:
        transformers.append(("text_" + c, Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="")),
            # TfidfVectorizer wants one string per row; np.ravel pickles by reference to numpy.
            ("flatten", FunctionTransformer(np.ravel)),
            ("words", TfidfVectorizer(max_features=args.max_text_features, ngram_range=(1, args.ngram_max),
                                      sublinear_tf=True)),
        ]), [c]))
    weight = "balanced" if args.class_weight_balanced else None
    if args.estimator == "hgb":
        # HistGradientBoosting needs dense input.
        pre = ColumnTransformer(transformers, sparse_threshold=0.0)
        model = HistGradientBoostingClassifier(learning_rate=args.learning_rate, max_leaf_nodes=args.max_leaf_nodes,
                                               random_state=args.random_state, class_weight=weight)
    else:
        pre = ColumnTransformer(transformers)
        model = LogisticRegression(C=args.C, max_iter=args.max_iter, class_weight=weight)
    return Pipeline([("preprocess", pre), ("model", model)])


def _frame_for(spec: Dict[str, List[str]], frame: pd.DataFrame) -> pd.DataFrame:
    cols = spec["numeric"] + spec["categorical"] + spec["text"]
    out = frame[cols].copy()
    for c in spec["categorical"] + spec["text"]:
        out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
        out.loc[out[c].notna(), c] = out.loc[out[c].notna(), c].astype(str)
    for c in spec["numeric"]:
        out[c] = out[c].astype(float)
    return out


def load_champion(channel: Optional[str]) -> Optional[Dict[str, Any]]:
    """The champion's model from its model.tar.gz (via model_fn), or None when no champion channel is given."""
    if not channel:
        return None
    if not os.path.isdir(channel):
        print("champion: channel directory %s does not exist; no champion scores" % channel, file=sys.stderr)
        return None
    tarballs = sorted(glob.glob(os.path.join(channel, "**", "*.tar.gz"), recursive=True))
    if not tarballs:
        print("champion: no model.tar.gz in %s; no champion scores" % channel, file=sys.stderr)
        return None
    target = tempfile.mkdtemp(prefix="champion-")
    with tarfile.open(tarballs[0], "r:gz") as tar:
        for member in tar.getmembers():
            resolved = os.path.realpath(os.path.join(target, member.name))
            if not resolved.startswith(os.path.realpath(target) + os.sep):
                raise TrainingError("champion %s: unsafe path %r in the archive" % (tarballs[0], member.name))
        tar.extractall(target)
    return model_fn(target)


def score(model: Dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Scores rows read from the dataset's CSV files (the offline path; serving goes through _check_frame)."""
    missing = [c for c in _required_columns(model) if c not in frame.columns]
    if missing:
        raise InvalidInput("missing column(s): %s (the model needs: %s)"
                           % (", ".join(missing), ", ".join(_required_columns(model))))
    return model["pipeline"].predict_proba(_frame_for(model["features"], frame))[:, 1]


def train(args: argparse.Namespace) -> Dict[str, Any]:
    started = time.time()
    train_df = read_channel(args.train, "train", args.id_column, args.label_column)
    valid_df = read_channel(args.validation, "validation", args.id_column, args.label_column)
    if train_df[args.label_column].nunique() < 2:
        raise TrainingError("channel 'train': the label '%s' has a single value (%s); a classifier needs both 0 and 1"
                            % (args.label_column, train_df[args.label_column].iloc[0]))
    spec = feature_spec(train_df, args)
    missing = [c for c in spec["numeric"] + spec["categorical"] + spec["text"] if c not in valid_df.columns]
    if missing:
        raise TrainingError("channel 'validation' lacks feature column(s) %s that the train channel has"
                            % ", ".join(missing))
    pipeline = build_pipeline(spec, args)
    pipeline.fit(_frame_for(spec, train_df), train_df[args.label_column].values)
    artifact = {
        "format": ARTIFACT_FORMAT,
        "pipeline": pipeline,
        "features": spec,
        "label_column": args.label_column,
        "id_column": args.id_column,
        "sklearn_version": sklearn.__version__,
        "trained_rows": int(len(train_df)),
    }
    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(artifact, os.path.join(args.model_dir, MODEL_FILE))

    candidate = score(artifact, valid_df)
    champion_scores = None
    champion = None
    try:
        champion = load_champion(args.champion)
    except Exception as e:  # noqa: BLE001 - a champion that cannot load is reported, not fatal
        print("champion: cannot load the champion model: %s; champion scores are null" % e, file=sys.stderr)
    if champion is not None:
        try:
            champion_scores = score(champion, valid_df)
        except Exception as e:  # noqa: BLE001 - e.g. a column the champion needs is gone
            print("champion: cannot score the validation rows: %s; champion scores are null" % e, file=sys.stderr)

    labels = valid_df[args.label_column].values
    os.makedirs(args.output_data_dir, exist_ok=True)
    with open(os.path.join(args.output_data_dir, PREDICTIONS_FILE), "w") as out:
        for i in range(len(valid_df)):
            out.write(json.dumps({
                "id": str(valid_df[args.id_column].iloc[i]),
                "label": int(labels[i]),
                "candidate": float(candidate[i]),
                "champion": None if champion_scores is None else float(champion_scores[i]),
            }) + "\n")

    metrics = {"validation:accuracy": float(accuracy_score(labels, candidate >= 0.5))}
    if len(set(labels)) > 1:
        metrics["validation:roc_auc"] = float(roc_auc_score(labels, candidate))
        if champion_scores is not None:
            metrics["validation:champion_roc_auc"] = float(roc_auc_score(labels, champion_scores))
    metrics["train:rows"] = float(len(train_df))
    metrics["train:seconds"] = time.time() - started
    for name, value in metrics.items():
        print("%s=%.6f" % (name, value))
    return metrics


def write_failure(message: str) -> None:
    path = os.path.join(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"), "failure")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(message[:20000])
    except OSError as e:
        print("cannot write the failure file %s: %s" % (path, e), file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:  # argparse already printed the usage and the bad argument
        if e.code:
            write_failure("bad hyperparameters: see the usage line in the job log (arguments: %s)"
                          % " ".join(argv if argv is not None else sys.argv[1:]))
        raise
    try:
        train(args)
        return 0
    except TrainingError as e:
        message = str(e)
    except Exception as e:  # noqa: BLE001 - anything else is reported with its type and trace
        message = "%s: %s" % (type(e).__name__, e)
        traceback.print_exc()
    print("training failed: " + message, file=sys.stderr)
    write_failure(message)
    return 1


# --------------------------------------------------------------------------------------------------
# Serving (SageMaker scikit-learn container handler functions)
# --------------------------------------------------------------------------------------------------


#: The model the serving container loaded last. input_fn has no model argument in SageMaker's API, yet the
#: column and type checks need the model's schema: done in input_fn, a bad request is a client error (4xx)
#: in every serving stack that maps input_fn's ValueErrors to 400, not a model error (500) from predict_fn.
_SERVING_MODEL: Optional[Dict[str, Any]] = None


def model_fn(model_dir: str) -> Dict[str, Any]:
    global _SERVING_MODEL
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError("%s not found: the model directory holds %s" % (path, os.listdir(model_dir)))
    artifact = joblib.load(path)
    if not isinstance(artifact, dict) or artifact.get("format") != ARTIFACT_FORMAT:
        raise ValueError("%s is not a relearn churn model (format %s expected)" % (path, ARTIFACT_FORMAT))
    if artifact.get("sklearn_version") != sklearn.__version__:
        print("warning: %s was saved by scikit-learn %s and is loaded by %s; predictions may differ"
              % (path, artifact.get("sklearn_version"), sklearn.__version__), file=sys.stderr)
    _SERVING_MODEL = artifact
    return artifact


def _required_columns(model: Dict[str, Any]) -> List[str]:
    f = model["features"]
    return f["numeric"] + f["categorical"] + f["text"]


def _check_frame(model: Dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Checks columns and types by name; returns the frame the pipeline expects, or raises InvalidInput."""
    if len(frame) == 0:
        raise InvalidInput("the request has no rows")
    missing = [c for c in _required_columns(model) if c not in frame.columns]
    if missing:
        raise InvalidInput("missing column(s): %s (the model needs: %s)"
                           % (", ".join(missing), ", ".join(_required_columns(model))))
    f = model["features"]
    for c in f["numeric"]:
        values = frame[c]
        coerced = pd.to_numeric(values.replace("", np.nan), errors="coerce")
        bad = coerced.isna() & values.notna() & (values.astype(str) != "")
        bool_like = values.map(lambda v: isinstance(v, bool))
        bad = bad | bool_like
        if bad.any():
            i = int(np.argmax(bad.values))
            raise InvalidInput("column '%s' row %d: expected a number, got %s" % (c, i + 1, json.dumps(values.iloc[i], default=str)))
    for c in f["categorical"] + f["text"]:
        values = frame[c]
        # Strings (and whole numbers, read as their text, as the training CSV would give them); null is missing.
        bad = values.map(lambda v: v is not None and not isinstance(v, str)
                         and not (isinstance(v, float) and math.isnan(v))
                         and not (isinstance(v, (int, np.integer)) and not isinstance(v, bool)))
        if bad.any():
            i = int(np.argmax(bad.values))
            raise InvalidInput("column '%s' row %d: expected a string, got %s" % (c, i + 1, json.dumps(values.iloc[i], default=str)))
    out = pd.DataFrame(index=frame.index)
    for c in f["numeric"]:
        out[c] = pd.to_numeric(frame[c].replace("", np.nan), errors="coerce").astype(float)
    for c in f["categorical"] + f["text"]:
        col = frame[c].astype(object)
        present = col.notna()
        out[c] = col.where(present, np.nan)
        out.loc[present, c] = col[present].map(str)
    return out


def input_fn(request_body: Any, request_content_type: str) -> pd.DataFrame:
    """text/csv (a header row, then rows) or application/json (a list of objects or {"instances": [...]}).

    Once model_fn has loaded a model, the rows are also checked against its columns and types here.
    """
    frame = _decode(request_body, request_content_type)
    return _check_frame(_SERVING_MODEL, frame) if _SERVING_MODEL is not None else frame


def _decode(request_body: Any, request_content_type: str) -> pd.DataFrame:
    content_type = (request_content_type or "").split(";")[0].strip().lower()
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = request_body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput("the body is not UTF-8 text: %s" % e)
    if request_body is None or not str(request_body).strip():
        raise InvalidInput("empty request body")
    body = str(request_body)
    if content_type == "text/csv":
        try:
            # Every value as text first: types are checked per column, by name, in _check_frame.
            frame = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
        except Exception as e:  # noqa: BLE001
            raise InvalidInput("malformed CSV: %s" % e)
        if len(frame) == 0:
            raise InvalidInput("the CSV has a header but no rows (a header row naming the columns comes first)")
        return frame.replace("", np.nan)
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except json.JSONDecodeError as e:
            raise InvalidInput("malformed JSON: %s (line %d column %d)" % (e.msg, e.lineno, e.colno))
        if isinstance(data, dict) and "instances" in data:
            data = data["instances"]
        elif isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise InvalidInput("JSON body must be a list of objects or {\"instances\": [...]}, got %s" % type(data).__name__)
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise InvalidInput("JSON row %d: expected an object keyed by column name, got %s" % (i + 1, json.dumps(row)))
        if not data:
            raise InvalidInput("the request has no rows")
        return pd.DataFrame.from_records(data)
    raise UnsupportedContentType("content type %r is not supported: send text/csv or application/json" % request_content_type)


def predict_fn(input_data: pd.DataFrame, model: Dict[str, Any]) -> np.ndarray:
    """The probability of churn (class 1) per row."""
    frame = _check_frame(model, input_data)
    return model["pipeline"].predict_proba(frame)[:, 1]


def output_fn(prediction: Any, accept: str) -> Any:
    accept_type = (accept or "application/json").split(";")[0].strip().lower()
    values = [float(v) for v in np.asarray(prediction).ravel()]
    if accept_type in ("application/json", "*/*", ""):
        return json.dumps({"predictions": values})
    if accept_type == "text/csv":
        return "".join("%r\n" % v for v in values)
    raise UnsupportedContentType("accept type %r is not supported: ask for application/json or text/csv" % accept)


if __name__ == "__main__":
    sys.exit(main())
