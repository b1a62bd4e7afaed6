"""relearn's built-in tabular model: any CSV table, trained and served in SageMaker script mode.

Training (the SKLearn container runs ``python train.py --name value ...``):
  reads every CSV in SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION; takes the label, the id, the problem type,
  the class order and each column's type and role from the run's validated schema (SM_CHANNEL_SCHEMA/
  schema.json), or infers them when there is no schema channel; fits ONE scikit-learn Pipeline
  (ColumnTransformer: numbers imputed + scaled with missing indicators, categories one-hot with rare ones
  grouped and unseen ones ignored, free text TF-IDF with a bounded vocabulary; then a linear model or
  gradient boosting); saves it whole to SM_MODEL_DIR/model.joblib; scores every validation row with the
  candidate and, when SM_CHANNEL_CHAMPION holds a model.tar.gz, with the champion, and writes
  SM_OUTPUT_DATA_DIR/predictions.jsonl. Metric lines (``validation:roc_auc=0.8712``) go to stdout.
  Any error: a readable reason (file, row, column) in $SM_OUTPUT_DIR/failure and a non-zero exit.

Serving (the same file is the container's SAGEMAKER_PROGRAM): model_fn, input_fn, predict_fn, output_fn.
Bad requests raise InvalidInput (HTTP 400) or UnsupportedContentType (HTTP 415), both ValueError
subclasses with a ``status_code``.

The contract this keeps is docs/training-contract.md. Nothing here knows any dataset's columns.
Keep this file Python 3.9 compatible and on the scikit-learn 1.2.1 API (the SKLearn 1.2-1 container).
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import math
import os
import re
import sys
import tarfile
import tempfile
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

# OpenMP threads (gradient boosting) that spin while they wait for each other slow training 10-20x when the
# CPUs are shared with other processes (measured: 98 s instead of 6 s on a busy 2-core machine); waiting
# passively costs next to nothing on a dedicated instance. Set before scikit-learn loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, RobustScaler
from sklearn import metrics as skm

MODEL_FILE = "model.joblib"
PREDICTIONS_FILE = "predictions.jsonl"
SCHEMA_FILE = "schema.json"
#: Version of the saved artifact's layout (a dict of plain scikit-learn objects, no classes of this file).
#: Format 1 was the churn-only script's (binary, classes 0/1); model_fn still loads it, so a champion
#: trained before the upgrade is scored and served.
ARTIFACT_FORMAT = 2
BINARY, MULTICLASS, REGRESSION = "binary_classification", "multiclass_classification", "regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)
#: Values read as missing in every column (compared trimmed and lower-cased), as ValidateData reads them.
MISSING_TOKENS = frozenset(["", "na", "n/a", "null", "none", "nan"])
#: Ingest's own row id (added when dataset.idColumn is unset): never a feature.
INGEST_ROW_ID = "_row_id"
#: Scaled numbers are clipped to this many interquartile ranges, so one outlier cannot dominate a linear model.
CLIP = 5.0
#: A number as exports write it: an optional currency sign, thousands separators, an optional unit after it
#: ("$1,250", "12.5 km", "45 min", "3%"). A column keeps one unit; the model records it.
_NUMBER_WITH_UNIT = re.compile(
    r"^(?P<pre>[$\u20ac\u00a3\u00a5])?\s*"
    r"(?P<num>[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"\s*(?P<unit>[A-Za-z%\u00b0\u00b5][A-Za-z%\u00b0\u00b5\u00b2\u00b3/.]{0,15})?$"
)
#: Default --max-text-features per estimator: gradient boosting needs dense input, so its vocabulary is smaller.
DEFAULT_TEXT_FEATURES = {"linear": 2000, "hgb": 300}
DEFAULT_MAX_ITER = {"linear": 1000, "hgb": 200}
#: Below this many training rows, gradient boosting does not hold out 10 % of them for early stopping.
EARLY_STOPPING_MIN_ROWS = 1000
#: --estimator auto: the linear model below this many training rows, gradient boosting from there. On the
#: bundled examples (2,400-4,000 rows) the linear model is as good or better on two of three at a fifth of
#: the time; with 24,000 rows gradient boosting is clearly better on all three (bench/training.ts --rows).
AUTO_HGB_MIN_ROWS = 10000


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


class BadValue(Exception):
    """A value a column cannot take; the caller says where (a file row in training, a request row in serving)."""

    def __init__(self, column: str, index: int, value: Any, expected: str) -> None:
        super().__init__(expected)
        self.column = column
        self.index = index
        self.value = value
        self.expected = expected

    def shown(self) -> str:
        return json.dumps(self.value, default=str, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# Values: text to numbers and to categories, the same way in training, scoring and serving
# --------------------------------------------------------------------------------------------------


def _is_missing_scalar(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip().lower() in MISSING_TOKENS


def _parse_number_text(text: str) -> Tuple[Optional[float], Optional[str]]:
    """(value, unit) of one non-missing text value, or (None, None) when it is not a number."""
    t = text.strip()
    try:
        return float(t), None
    except ValueError:
        pass
    m = _NUMBER_WITH_UNIT.match(t)
    if not m:
        return None, None
    unit = (m.group("pre") or "") + ("" if not m.group("unit") else (" " if m.group("pre") else "") + m.group("unit"))
    return float(m.group("num").replace(",", "")), (unit or None)


def to_numbers(values: pd.Series) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers from a column: (values with NaN for missing, the unit of each value or None, a mask of bad values).

    Missing tokens, empty cells, null and +-inf are missing. Text is a number when it parses as one, with
    thousands separators and a currency sign or unit allowed ("1,234", "$12.50", "45 min"); booleans,
    lists and other text are bad.
    """
    n = len(values)
    units = np.full(n, None, dtype=object)
    if pd.api.types.is_bool_dtype(values):
        return np.full(n, np.nan), units, np.ones(n, dtype=bool)
    if pd.api.types.is_numeric_dtype(values):
        out = values.to_numpy(dtype=float, na_value=np.nan).copy()
        out[~np.isfinite(out)] = np.nan
        return out, units, np.zeros(n, dtype=bool)
    out = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    obj = values.to_numpy(dtype=object)
    if all(isinstance(v, str) for v in obj):
        # The training CSV (every value text): vectorized, with the slow path only for what to_numeric cannot read.
        text = values.str.strip()
        missing = text.str.lower().isin(MISSING_TOKENS).to_numpy()
        plain = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
        out = plain.copy()
        for i in np.flatnonzero(np.isnan(plain) & ~missing):
            value, unit = _parse_number_text(obj[i])
            if value is None:
                bad[i] = True
            else:
                out[i], units[i] = value, unit
    else:
        for i, v in enumerate(obj):
            if _is_missing_scalar(v):
                continue
            if isinstance(v, (bool, np.bool_)):
                bad[i] = True
            elif isinstance(v, (int, float, np.integer, np.floating)):
                out[i] = float(v)
            elif isinstance(v, str):
                value, unit = _parse_number_text(v)
                if value is None:
                    bad[i] = True
                else:
                    out[i], units[i] = value, unit
            else:
                bad[i] = True
    out[~np.isfinite(out)] = np.nan
    return out, units, bad


def _category_text(v: Any, bools: Optional[Dict[str, str]]) -> Any:
    """One value as the category text the training CSV would have held, np.nan when missing; raises TypeError."""
    if _is_missing_scalar(v):
        return np.nan
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (bool, np.bool_)):
        key = "true" if v else "false"
        return (bools or {}).get(key, key)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    raise TypeError(type(v).__name__)


def to_categories(column: str, values: pd.Series, bools: Optional[Dict[str, str]] = None) -> np.ndarray:
    """Category or text values as trimmed strings (np.nan when missing); a list or object is a BadValue."""
    obj = values.to_numpy(dtype=object)
    if all(isinstance(v, str) for v in obj):
        text = values.str.strip()
        return text.where(~text.str.lower().isin(MISSING_TOKENS), np.nan).to_numpy(dtype=object)
    out = np.empty(len(obj), dtype=object)
    for i, v in enumerate(obj):
        try:
            out[i] = _category_text(v, bools)
        except TypeError:
            raise BadValue(column, i, v, "expected a string")
    return out


def _unit_phrase(unit: Optional[str]) -> str:
    return "a number" if not unit else "a number (in %s)" % unit


def typed_frame(features: Dict[str, Any], frame: pd.DataFrame, bad_numbers_missing: bool = False) -> pd.DataFrame:
    """The frame the fitted pipeline expects (columns in its order, numbers as float, categories as str).

    Raises BadValue for the first value a column cannot take (the caller names the file or request row), or,
    with bad_numbers_missing, reads a value that is not a number (in the column's unit) as missing.
    It is idempotent: a typed frame comes back unchanged.
    """
    units = features.get("units") or {}
    bools = features.get("bools") or {}
    out = pd.DataFrame(index=frame.index)
    for c in features["numeric"]:
        values, seen, bad = to_numbers(frame[c])
        allowed = units.get(c)
        wrong = np.array([u is not None and u != allowed for u in seen], dtype=bool) if len(seen) else bad
        problem = bad | wrong
        if problem.any() and bad_numbers_missing:
            values[problem] = np.nan
        elif problem.any():
            i = int(np.argmax(problem))
            raise BadValue(c, i, frame[c].iloc[i], "expected %s" % _unit_phrase(allowed))
        out[c] = values
    for c in features["categorical"] + features["text"]:
        out[c] = to_categories(c, frame[c], bools.get(c))
    return out


# --------------------------------------------------------------------------------------------------
# Reading the channels and the schema
# --------------------------------------------------------------------------------------------------


class Table:
    """Every CSV row of one channel, all values as the file's text, and where each row came from."""

    def __init__(self, name: str, frame: pd.DataFrame, files: List[str], file_of_row: np.ndarray, line_of_row: np.ndarray):
        self.name = name
        self.frame = frame
        self.files = files
        self.file_of_row = file_of_row
        self.line_of_row = line_of_row

    @property
    def columns(self) -> List[str]:
        return list(self.frame.columns)

    def where(self, i: int, column: Optional[str] = None) -> str:
        """`<file> row <n> column '<c>'`: n counts the header as row 1, as a spreadsheet does."""
        at = "%s row %d" % (self.files[int(self.file_of_row[i])], int(self.line_of_row[i]))
        return at if column is None else "%s column '%s'" % (at, column)


def read_channel(directory: str, name: str) -> Table:
    """Every .csv / .csv.gz under a channel, concatenated, as text. Errors name the file."""
    if not directory or not os.path.isdir(directory):
        raise TrainingError("channel '%s': directory %s does not exist" % (name, directory))
    files = sorted(
        f for f in glob.glob(os.path.join(directory, "**", "*"), recursive=True)
        if os.path.isfile(f) and (f.endswith(".csv") or f.endswith(".csv.gz"))
    )
    if not files:
        raise TrainingError("channel '%s': no .csv files in %s" % (name, directory))
    frames = []
    columns: Optional[List[str]] = None
    file_of_row = []
    line_of_row = []
    for k, f in enumerate(files):
        try:
            # Every value as its text: types are decided per column (schema or inference), errors per cell.
            frame = pd.read_csv(f, dtype=str, keep_default_na=False, na_filter=False)
        except Exception as e:  # noqa: BLE001 - pandas raises many kinds; the message names the line
            raise TrainingError("%s: cannot be read as CSV: %s" % (f, e))
        if columns is None:
            columns = list(frame.columns)
        elif list(frame.columns) != columns:
            raise TrainingError("%s: header %s differs from %s's %s" % (f, list(frame.columns), files[0], columns))
        frames.append(frame)
        file_of_row.append(np.full(len(frame), k, dtype=np.int32))
        line_of_row.append(np.arange(2, len(frame) + 2, dtype=np.int64))
    frame = pd.concat(frames, ignore_index=True)
    table = Table(name, frame, files, np.concatenate(file_of_row), np.concatenate(line_of_row))
    if len(frame) == 0:
        raise TrainingError("channel '%s': %s has a header and no rows" % (name, ", ".join(files)))
    return table


def load_schema(directory: Optional[str]) -> Optional[Dict[str, Any]]:
    """The run's validated schema (SM_CHANNEL_SCHEMA/schema.json), or None when there is no schema channel."""
    if not directory:
        return None
    if not os.path.isdir(directory):
        print("schema: channel directory %s does not exist; inferring column roles" % directory, file=sys.stderr)
        return None
    path = os.path.join(directory, SCHEMA_FILE)
    if not os.path.isfile(path):
        found = sorted(glob.glob(os.path.join(directory, "**", "*.json"), recursive=True))
        if len(found) != 1:
            raise TrainingError("channel 'schema': expected %s in %s, found %s" % (SCHEMA_FILE, directory, found or "no .json file"))
        path = found[0]
    try:
        with open(path) as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        raise TrainingError("%s: cannot be read as JSON: %s" % (path, e))
    if not isinstance(schema, dict) or not isinstance(schema.get("columns", []), list):
        raise TrainingError("%s: expected an object with a \"columns\" list" % path)
    for i, col in enumerate(schema.get("columns", [])):
        if not isinstance(col, dict) or not isinstance(col.get("name"), str):
            raise TrainingError("%s: columns[%d] has no \"name\"" % (path, i))
        if col.get("type", "numeric") not in ("numeric", "categorical", "text"):
            raise TrainingError("%s: column '%s': type must be numeric, categorical or text, but got %r" % (path, col["name"], col.get("type")))
        if col.get("role", "feature") not in ("feature", "id", "label", "ignore"):
            raise TrainingError("%s: column '%s': role must be feature, id, label or ignore, but got %r" % (path, col["name"], col.get("role")))
    pt = schema.get("problemType")
    if pt is not None and pt not in PROBLEM_TYPES:
        raise TrainingError("%s: problemType must be one of %s, but got %r" % (path, ", ".join(PROBLEM_TYPES), pt))
    classes = schema.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, (str, int, float)) for c in classes)):
        raise TrainingError("%s: classes must be a list of class names, but got %s" % (path, json.dumps(classes)))
    schema["_path"] = path
    return schema


# --------------------------------------------------------------------------------------------------
# The setup: label, id, problem type, classes, column types (hyperparameters > schema > inference)
# --------------------------------------------------------------------------------------------------


def _is_number_text(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except (TypeError, ValueError):
        return False


def _class_name(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class ClassIndex:
    """Maps a label to its class index: trimmed text first; numerically when every class is a number (1 == 1.0)."""

    def __init__(self, classes: List[str]):
        self.classes = [str(c).strip() for c in classes]
        self.exact = {c: i for i, c in enumerate(self.classes)}
        self.numeric = all(_is_number_text(c) for c in self.classes)
        self.by_value = {float(c): i for i, c in enumerate(self.classes)} if self.numeric else {}

    def __call__(self, label: Any) -> Optional[int]:
        s = str(label).strip()
        if s in self.exact:
            return self.exact[s]
        if self.numeric and _is_number_text(s):
            return self.by_value.get(float(s))
        return None


def infer_classes(labels: List[str]) -> List[str]:
    """The ordered class list of these labels: numeric order when every label is a number, else text order."""
    distinct = sorted(set(s.strip() for s in labels))
    if distinct and all(_is_number_text(s) for s in distinct):
        return [_class_name(v) for v in sorted(set(float(s) for s in distinct))]
    return distinct


def infer_problem_type(labels: List[str]) -> str:
    """Fallback without a schema or --problem-type: numbers with fractions or >10 values are a regression."""
    distinct = set(s.strip() for s in labels)
    if distinct and all(_is_number_text(s) for s in distinct):
        values = set(float(s) for s in distinct)
        if len(values) > 10 or any(not v.is_integer() for v in values):
            return REGRESSION
        distinct = set(_class_name(v) for v in values)
    return BINARY if len(distinct) <= 2 else MULTICLASS


def infer_type(values: pd.Series) -> str:
    """A column's type from its text, by ValidateData's rule (lambdas/shared/stats/schema.ts inferKinds), except
    that numbers with a unit or thousands separators are numbers: numeric when 90 % of present values are
    numbers; text when values average three or more words; categorical when they repeat and are short."""
    text = values.astype(str).str.strip()
    present = text[~text.str.lower().isin(MISSING_TOKENS)]
    if len(present) == 0:
        return "categorical"
    sample = present.iloc[:20000]
    numbers, units, bad = to_numbers(sample)
    if (~bad).sum() >= 0.9 * len(sample) and len(set(u for u in units if u is not None)) <= 1:
        return "numeric"
    if sample.str.split().str.len().mean() >= 3:
        return "text"
    distinct = present.nunique()
    if (distinct <= 50 or distinct / len(present) <= 0.2) and present.str.len().mean() <= 40:
        return "categorical"
    return "text"


def _looks_like_numbers_with_units(values: pd.Series) -> Optional[str]:
    """A text column whose every present value is a number carrying one unit or thousands separators: why, else None."""
    present = values[~values.str.strip().str.lower().isin(MISSING_TOKENS)]
    if len(present) == 0:
        return None
    numbers, units, bad = to_numbers(present)
    seen = set(u for u in units if u is not None)
    if bad.any() or len(seen) > 1:
        return None
    if seen:
        return "every value is a number in %s" % seen.pop()
    if present.str.contains(",", regex=False).any():
        return "every value is a number (with thousands separators)"
    return None


class Setup:
    """What training needs to know about the table, resolved once from the arguments, the schema and the data."""

    def __init__(self) -> None:
        self.label = ""
        self.id_column: Optional[str] = None
        self.problem_type = ""
        self.classes: Optional[List[str]] = None
        self.numeric: List[str] = []
        self.categorical: List[str] = []
        self.text: List[str] = []
        self.sources: Dict[str, str] = {}

    @property
    def columns(self) -> List[str]:
        return self.numeric + self.categorical + self.text


def _schema_column(schema: Optional[Dict[str, Any]], role: str) -> Optional[str]:
    for col in (schema or {}).get("columns", []):
        if col.get("role") == role:
            return col["name"]
    return None


def resolve_setup(args: argparse.Namespace, schema: Optional[Dict[str, Any]], train: Table, validation: Table) -> Setup:
    s = Setup()
    cols = train.columns
    where_schema = " (schema %s)" % schema["_path"] if schema else ""

    # 1. The label and the id: hyperparameters (sent by the pipeline) > schema > Ingest's _row_id.
    s.label = args.label_column or (schema or {}).get("labelColumn") or _schema_column(schema, "label") or ""
    if not s.label:
        raise TrainingError("no label column: pass --label-column (the pipeline sends dataset.labelColumn) or a schema with labelColumn")
    s.id_column = args.id_column or (schema or {}).get("idColumn") or _schema_column(schema, "id")
    if not s.id_column and INGEST_ROW_ID in cols:
        s.id_column = INGEST_ROW_ID
    for table in (train, validation):
        for required, what in ((s.label, "label"), (s.id_column, "id")):
            if required and required not in table.columns:
                raise TrainingError("%s: no %s column '%s' (columns: %s)" % (table.files[0], what, required, ", ".join(table.columns)))
    if not s.id_column:
        print("note: no id column (--id-column, schema idColumn or %s); predictions.jsonl ids are validation row numbers"
              % INGEST_ROW_ID, file=sys.stderr)

    # 2. The problem type and the classes.
    labels = train.frame[s.label]
    for table in (train, validation):
        empty = table.frame[s.label].str.strip().str.lower().isin(MISSING_TOKENS).to_numpy()
        if empty.any():
            raise TrainingError("%s: the label is empty" % table.where(int(np.argmax(empty)), s.label))
    s.problem_type = args.problem_type or (schema or {}).get("problemType") or ""
    if s.problem_type:
        s.sources["problem type"] = "--problem-type" if args.problem_type else "schema"
    else:
        _check_stray_labels(s.label, train, validation)
        s.problem_type = infer_problem_type(list(labels) + list(validation.frame[s.label]))
        s.sources["problem type"] = "inferred from the labels"
    if s.problem_type != REGRESSION:
        schema_classes = (schema or {}).get("classes")
        if schema_classes:
            s.classes = [str(c).strip() for c in schema_classes]
            s.sources["classes"] = "schema"
        else:
            s.classes = infer_classes(list(labels) + list(validation.frame[s.label]))
            s.sources["classes"] = "inferred from the labels"
        if s.problem_type == BINARY and len(s.classes) > 2 and not schema_classes:
            raise TrainingError(_too_many_classes(s, train, validation))
        if s.problem_type == BINARY and len(s.classes) != 2:
            raise TrainingError("the label '%s' has %d classes (%s) but the problem type is %s, which needs exactly two%s"
                                % (s.label, len(s.classes), ", ".join(s.classes[:20]), BINARY, where_schema))
        if s.problem_type == MULTICLASS and len(s.classes) < 2:
            raise TrainingError("the label '%s' has %d class (%s); %s needs at least two"
                                % (s.label, len(s.classes), ", ".join(s.classes), MULTICLASS))

    # 3. The features: every other column, typed by hyperparameter > schema > inference.
    by_name = {c["name"]: c for c in (schema or {}).get("columns", [])}
    excluded = {s.label, INGEST_ROW_ID}
    if s.id_column:
        excluded.add(s.id_column)
    overrides: Dict[str, str] = {}
    for kind, names in (("numeric", args.numeric_columns), ("categorical", args.categorical_columns),
                        ("text", args.text_columns), ("ignore", args.ignore_columns)):
        unknown = [c for c in names if c not in cols]
        if unknown:
            raise TrainingError("--%s-columns names %s, not in the training data (columns: %s)"
                                % (kind, ", ".join(unknown), ", ".join(cols)))
        for c in names:
            overrides[c] = kind
    candidates = [c for c in cols if c not in excluded
                  and by_name.get(c, {}).get("role", "feature") == "feature" and overrides.get(c) != "ignore"]
    if args.feature_columns != "all":
        wanted = _columns(args.feature_columns)
        unknown = [c for c in wanted if c not in candidates]
        if unknown:
            raise TrainingError("--feature-columns names %s, not in the training data (columns: %s)"
                                % (", ".join(unknown), ", ".join(candidates)))
        candidates = wanted
    if schema:
        missing = [c for c, col in by_name.items() if col.get("role", "feature") == "feature" and c not in cols and c not in excluded]
        if missing:
            print("warning: schema column(s) %s are not in the training data; training without them" % ", ".join(missing), file=sys.stderr)
    for c in candidates:
        values = train.frame[c]
        if c in overrides:
            kind, source = overrides[c], "--%s-columns" % overrides[c]
        elif c in by_name:
            kind, source = by_name[c].get("type", "numeric"), "schema"
            why = _looks_like_numbers_with_units(values) if kind in ("text", "categorical") else None
            if why:
                # ValidateData has no notion of units: "6.6 km" is text or a category to it. TF-IDF or one-hot of
                # "$1,250" learns little; the number does. (The --categorical-columns hyperparameter keeps a category.)
                print("note: column '%s' is %s in the schema, but %s: learning it as a number" % (c, kind, why), file=sys.stderr)
                kind, source = "numeric", "schema (%s), numbers with a unit" % kind
        else:
            kind, source = infer_type(values), "inferred"
            if schema:
                print("warning: column '%s' is not in the schema; inferred %s" % (c, kind), file=sys.stderr)
        reason = _unusable(kind, values)
        if reason:
            print("warning: %s column '%s' %s; training without it" % (kind, c, reason), file=sys.stderr)
            continue
        getattr(s, kind).append(c)
        s.sources[c] = "%s (%s)" % (kind, source)
    if not s.columns:
        raise TrainingError("no feature columns left to learn from (columns: %s; label '%s', id '%s')"
                            % (", ".join(cols), s.label, s.id_column))
    missing = [c for c in s.columns if c not in validation.columns]
    if missing:
        raise TrainingError("channel 'validation' lacks feature column(s) %s that the train channel has (%s)"
                            % (", ".join(missing), validation.files[0]))
    return s


def _check_stray_labels(label: str, train: Table, validation: Table) -> None:
    """With nothing to say the problem type, labels that are numbers but for a few are a typo, not new classes:
    fail naming the first (ValidateData types a column numeric at 90 % numbers, and so does this)."""
    tables = (train, validation)
    numeric = [table.frame[label].map(_is_number_text).to_numpy() for table in tables]
    n = sum(len(m) for m in numeric)
    count = sum(int(m.sum()) for m in numeric)
    if count == n or count < 0.9 * n:
        return
    for table, mask in zip(tables, numeric):
        if not mask.all():
            i = int(np.argmin(mask))
            raise TrainingError("%s: label %s is not a number, but %d of the %d labels are (a typo? otherwise pass --problem-type)"
                                % (table.where(i, label), json.dumps(table.frame[label].iloc[i]), count, n))


def _too_many_classes(s: Setup, train: Table, validation: Table) -> str:
    """A binary label with a third class: names the first row of the rarest class (most likely the stray one)."""
    index = ClassIndex(s.classes or [])
    counts: Dict[int, int] = {}
    first: Dict[int, Tuple[Table, int]] = {}
    for table in (train, validation):
        for i, v in enumerate(table.frame[s.label].tolist()):
            j = index(v)
            counts[j] = counts.get(j, 0) + 1
            first.setdefault(j, (table, i))
    rarest = min(counts, key=lambda j: (counts[j], j))
    table, i = first[rarest]
    listed = ", ".join("%s (%d rows)" % (c, counts.get(j, 0)) for j, c in enumerate(s.classes or []))
    return ("%s: label %s makes a third class, but the problem type is %s, which needs exactly two "
            "(the label '%s' has %s)" % (table.where(i, s.label), json.dumps(table.frame[s.label].iloc[i]), BINARY, s.label, listed))


def _unusable(kind: str, values: pd.Series) -> Optional[str]:
    """Why a column has nothing to learn from (empty everywhere; text: no word on two rows), else None."""
    present = values[~values.str.strip().str.lower().isin(MISSING_TOKENS)]
    if len(present) == 0:
        return "is empty on every training row"
    if kind != "text":
        return None
    # min_df=2 is monotone: a sample with a repeated word proves the whole column has one.
    for sample in (present.iloc[:20000], present):
        try:
            CountVectorizer(min_df=2, max_features=1).fit(sample.tolist())
            return None
        except ValueError:
            if len(sample) == len(present):
                break
    return "has no word that appears on two rows (an id or a free-form code?)"


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


def _problem_type(value: str) -> Optional[str]:
    if value in ("", "auto"):
        return None
    if value not in PROBLEM_TYPES:
        raise argparse.ArgumentTypeError("expected one of %s, got %r" % (", ".join(PROBLEM_TYPES), value))
    return value


def _estimator(value: str) -> str:
    # "logistic" and "ridge" were the churn script's names; they still mean the linear model.
    v = {"logistic": "linear", "ridge": "linear"}.get(value.lower(), value.lower())
    if v not in ("linear", "hgb", "auto"):
        raise argparse.ArgumentTypeError("expected linear, hgb or auto, got %r" % value)
    return v


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError("expected a positive %s, got %r" % (kind.__name__, value))
        if not v > 0:
            raise argparse.ArgumentTypeError("expected a positive %s, got %r" % (kind.__name__, value))
        return v
    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="relearn's built-in tabular model (SageMaker script mode)")
    # Reserved: sent by the pipeline (dataset.labelColumn, dataset.idColumn, evaluation.problemType); win over the schema.
    p.add_argument("--label-column", default=None)
    p.add_argument("--id-column", default=None)
    p.add_argument("--problem-type", type=_problem_type, default=None, help=", ".join(PROBLEM_TYPES) + " or auto")
    # Columns (the schema's types and roles, which config dataset.columnRoles sets, are the usual way).
    p.add_argument("--feature-columns", default="all",
                   help="comma-separated subset of columns to learn from, or 'all' (a small subset makes a weak model)")
    p.add_argument("--numeric-columns", type=_columns, default=[], help="force these columns to numbers")
    p.add_argument("--categorical-columns", type=_columns, default=[], help="force these columns to categories")
    p.add_argument("--text-columns", type=_columns, default=[], help="force these columns to free text")
    p.add_argument("--ignore-columns", type=_columns, default=[], help="never learn from these columns")
    p.add_argument("--non-numeric", choices=["fail", "missing"], default="fail",
                   help="a training value that is not a number in a numeric column: fail (naming it) or treat it as missing")
    # Model.
    p.add_argument("--estimator", type=_estimator, default="auto",
                   help="linear (logistic / ridge regression), hgb (gradient boosting), or auto: linear below %d "
                   "training rows, hgb from there" % AUTO_HGB_MIN_ROWS)
    p.add_argument("-C", "--C", type=_positive(float), default=1.0, help="inverse regularization strength (linear, classification)")
    p.add_argument("--alpha", type=_positive(float), default=1.0, help="regularization strength (linear, regression)")
    p.add_argument("--max-iter", type=_positive(int), default=None,
                   help="solver iterations (linear, default %d) or boosting rounds (hgb, default %d)"
                   % (DEFAULT_MAX_ITER["linear"], DEFAULT_MAX_ITER["hgb"]))
    p.add_argument("--learning-rate", type=_positive(float), default=0.1, help="hgb")
    p.add_argument("--max-leaf-nodes", type=_positive(int), default=31, help="hgb")
    p.add_argument("--min-samples-leaf", type=_positive(int), default=20, help="hgb")
    p.add_argument("--l2-regularization", type=float, default=0.0, help="hgb")
    p.add_argument("--early-stopping", type=_bool, default=True, help="hgb: stop when a 10%%%% holdout of the training rows stops improving (with %d rows or more)" % EARLY_STOPPING_MIN_ROWS)
    p.add_argument("--class-weight-balanced", type=_bool, default=False)
    p.add_argument("--max-text-features", type=_positive(int), default=None,
                   help="vocabulary size per text column (default %d linear, %d hgb)" % (DEFAULT_TEXT_FEATURES["linear"], DEFAULT_TEXT_FEATURES["hgb"]))
    p.add_argument("--ngram-max", type=_positive(int), default=2, help="longest word n-gram of the text features")
    p.add_argument("--min-category-count", type=_positive(int), default=5,
                   help="categories seen on fewer training rows are grouped into one 'infrequent' category")
    p.add_argument("--max-categories", type=_positive(int), default=50, help="one-hot columns per categorical column, at most")
    p.add_argument("--random-state", type=int, default=0)
    # Paths (SageMaker's environment; arguments for local runs).
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    p.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    p.add_argument("--champion", default=os.environ.get("SM_CHANNEL_CHAMPION"))
    p.add_argument("--schema", default=os.environ.get("SM_CHANNEL_SCHEMA"))
    p.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    return p.parse_args(argv)


def choose_estimator(name: str, training_rows: int) -> Tuple[str, str]:
    """(linear or hgb, why) for --estimator linear, hgb or auto."""
    if name != "auto":
        return name, ""
    chosen = "hgb" if training_rows >= AUTO_HGB_MIN_ROWS else "linear"
    return chosen, " (auto: %d training rows, %s %d)" % (training_rows, ">=" if chosen == "hgb" else "<", AUTO_HGB_MIN_ROWS)


def build_pipeline(s: Setup, args: argparse.Namespace, n_rows: int) -> Pipeline:
    transformers: List[Any] = []
    if s.numeric:
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            # Median/IQR scaling and a clip: one extreme value (a typo, an outlier) cannot swamp a linear model.
            ("scale", RobustScaler()),
            ("clip", FunctionTransformer(np.clip, kw_args={"a_min": -CLIP, "a_max": CLIP})),
        ]), s.numeric))
    if s.categorical:
        transformers.append(("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            # Rare categories share one column; a category never seen in training maps to it (or to nothing).
            ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=args.min_category_count,
                                     max_categories=args.max_categories)),
        ]), s.categorical))
    text_features = args.max_text_features or DEFAULT_TEXT_FEATURES[args.estimator]
    for c in s.text:
        transformers.append(("text_" + c, Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="")),
            # TfidfVectorizer wants one string per row; np.ravel pickles by reference to numpy.
            ("flatten", FunctionTransformer(np.ravel)),
            ("words", TfidfVectorizer(max_features=text_features, ngram_range=(1, args.ngram_max), min_df=2,
                                      sublinear_tf=True)),
        ]), [c]))
    weight = "balanced" if args.class_weight_balanced else None
    max_iter = args.max_iter or DEFAULT_MAX_ITER[args.estimator]
    if args.estimator == "hgb":
        pre = ColumnTransformer(transformers, sparse_threshold=0.0)  # HistGradientBoosting needs dense input
        common = dict(learning_rate=args.learning_rate, max_iter=max_iter, max_leaf_nodes=args.max_leaf_nodes,
                      min_samples_leaf=args.min_samples_leaf, l2_regularization=args.l2_regularization,
                      early_stopping=args.early_stopping and n_rows >= EARLY_STOPPING_MIN_ROWS,
                      random_state=args.random_state)
        if s.problem_type == REGRESSION:
            model: Any = HistGradientBoostingRegressor(**common)
        else:
            model = HistGradientBoostingClassifier(class_weight=weight, **common)
    else:
        pre = ColumnTransformer(transformers)
        if s.problem_type == REGRESSION:
            model = Ridge(alpha=args.alpha)
        else:
            model = LogisticRegression(C=args.C, max_iter=max_iter, class_weight=weight,
                                       multi_class="multinomial" if s.problem_type == MULTICLASS else "auto")
    return Pipeline([("preprocess", pre), ("model", model)])


def _typed(features: Dict[str, Any], table: Table, args: argparse.Namespace) -> pd.DataFrame:
    """typed_frame for a channel's rows: a bad value becomes a TrainingError naming file, row and column."""
    try:
        return typed_frame(features, table.frame, bad_numbers_missing=args.non_numeric == "missing")
    except BadValue as e:
        raise TrainingError("%s: %s, got %s" % (table.where(e.index, e.column), e.expected, e.shown()))


def learn_features(s: Setup, train: Table, args: argparse.Namespace) -> Dict[str, Any]:
    """The model's column spec: types, each numeric column's unit, how booleans are spelled in categories."""
    units: Dict[str, Optional[str]] = {}
    for c in s.numeric:
        values, seen, bad = to_numbers(train.frame[c])
        if bad.any():
            i = int(np.argmax(bad))
            if args.non_numeric == "fail":
                raise TrainingError("%s: expected a number, got %s (a category? set dataset.columnRoles, or the "
                                    "--non-numeric missing hyperparameter to read such values as missing)"
                                    % (train.where(i, c), json.dumps(train.frame[c].iloc[i])))
            print("warning: column '%s': %d value(s) are not numbers (first: %s); read as missing"
                  % (c, int(bad.sum()), train.where(i, c)), file=sys.stderr)
        first: Dict[str, int] = {}
        for i, u in enumerate(seen):
            if u is not None and u not in first:
                first[u] = i
        if len(first) > 1:
            (u1, i1), (u2, i2) = sorted(first.items(), key=lambda kv: kv[1])[:2]
            raise TrainingError("%s: unit '%s' differs from '%s' (%s); convert the column to one unit"
                                % (train.where(i2, c), u2, u1, train.where(i1)))
        units[c] = next(iter(first), None)
    bools: Dict[str, Dict[str, str]] = {}
    for c in s.categorical:
        spelled = {}
        for v in train.frame[c].str.strip().unique()[:1000]:
            if v.lower() in ("true", "false") and v.lower() not in spelled:
                spelled[v.lower()] = v
        if spelled:
            bools[c] = spelled
    return {"numeric": list(s.numeric), "categorical": list(s.categorical), "text": list(s.text),
            "units": units, "bools": bools}


def encode_labels(s: Setup, table: Table) -> np.ndarray:
    """Class indices into s.classes (classification) or float values (regression); errors name the row."""
    raw = table.frame[s.label]
    if s.problem_type == REGRESSION:
        values = pd.to_numeric(raw.str.strip(), errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise TrainingError("%s: a regression label must be a finite number, got %s" % (table.where(i, s.label), json.dumps(raw.iloc[i])))
        return values
    index = ClassIndex(s.classes or [])
    mapping = {v: index(v) for v in raw.unique()}
    out = raw.map(mapping)
    unknown = out.isna().to_numpy()
    if unknown.any():
        i = int(np.argmax(unknown))
        raise TrainingError("%s: label %s is not one of the %d classes (%s; from the %s)"
                            % (table.where(i, s.label), json.dumps(raw.iloc[i]), len(s.classes or []),
                               ", ".join(s.classes or []), s.sources.get("classes")))
    return out.to_numpy(dtype=np.int64)


def class_scores(model: Dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Scores of typed rows: (n, K) probabilities in the model's class order, or (n,) regression values."""
    pipeline = model["pipeline"]
    if model["problem_type"] == REGRESSION:
        return np.asarray(pipeline.predict(frame), dtype=float)
    proba = pipeline.predict_proba(frame)
    full = np.zeros((len(frame), len(model["classes"])))
    # A class absent from the training rows has no column in predict_proba: its probability is 0.
    full[:, np.asarray(pipeline.classes_, dtype=int)] = proba
    return full


def map_to_classes(scores: np.ndarray, from_classes: List[str], to_classes: List[str]) -> np.ndarray:
    """Class probabilities re-ordered by class name into another class list; classes it never knew get 0."""
    index = ClassIndex(from_classes)
    out = np.zeros((scores.shape[0], len(to_classes)))
    for j, name in enumerate(to_classes):
        i = index(name)
        if i is not None:
            out[:, j] = scores[:, i]
    return out


def champion_scores(champion: Dict[str, Any], validation: Table, s: Setup) -> Optional[np.ndarray]:
    """The champion's scores on today's rows in today's shape, or None (with a line on stderr) when it cannot."""
    cp = champion["problem_type"]
    if (cp == REGRESSION) != (s.problem_type == REGRESSION):
        print("champion: it is a %s model and this run is %s; champion scores are null" % (cp, s.problem_type), file=sys.stderr)
        return None
    missing = [c for c in _required_columns(champion) if c not in validation.columns]
    if missing:
        print("champion: cannot score the validation rows: missing column(s) %s (the champion needs: %s); champion scores are null"
              % (", ".join(missing), ", ".join(_required_columns(champion))), file=sys.stderr)
        return None
    try:
        scores = class_scores(champion, typed_frame(champion["features"], validation.frame))
    except BadValue as e:
        print("champion: cannot score %s: %s, got %s; champion scores are null"
              % (validation.where(e.index, e.column), e.expected, e.shown()), file=sys.stderr)
        return None
    if s.problem_type == REGRESSION:
        return scores
    if [c.strip() for c in champion["classes"]] != s.classes:
        print("champion: its classes (%s) differ from this run's (%s); its probabilities are mapped by class name"
              % (", ".join(champion["classes"]), ", ".join(s.classes or [])), file=sys.stderr)
    return map_to_classes(scores, champion["classes"], s.classes or [])


def load_champion(channel: Optional[str]) -> Optional[Dict[str, Any]]:
    """The champion's model from its model.tar.gz, or None when no champion channel is given."""
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
    return load_model(target)


def _prediction_value(scores: np.ndarray, i: int, problem_type: str) -> Any:
    if problem_type == MULTICLASS:
        return [float(x) for x in scores[i]]
    if problem_type == BINARY:
        return float(scores[i, 1])
    return float(scores[i])


def compute_metrics(problem_type: str, y: np.ndarray, scores: np.ndarray, k: int) -> Dict[str, float]:
    """The metric lines' values (informational: Evaluate computes the deciding metrics from predictions.jsonl)."""
    out: Dict[str, float] = {}
    if problem_type == REGRESSION:
        out["rmse"] = float(math.sqrt(skm.mean_squared_error(y, scores)))
        out["mae"] = float(skm.mean_absolute_error(y, scores))
        if len(y) > 1:
            out["r2"] = float(skm.r2_score(y, scores))
        return out
    predicted = scores.argmax(axis=1)
    labels = list(range(k))
    out["accuracy"] = float(skm.accuracy_score(y, predicted))
    clipped = np.clip(scores, 1e-15, 1.0)
    out["log_loss"] = float(skm.log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=labels))
    if problem_type == BINARY:
        if len(set(y)) > 1:
            out["roc_auc"] = float(skm.roc_auc_score(y, scores[:, 1]))
        out["precision"] = float(skm.precision_score(y, predicted, zero_division=0))
        out["recall"] = float(skm.recall_score(y, predicted, zero_division=0))
        out["f1"] = float(skm.f1_score(y, predicted, zero_division=0))
        return out
    out["f1_macro"] = float(skm.f1_score(y, predicted, labels=labels, average="macro", zero_division=0))
    out["f1_weighted"] = float(skm.f1_score(y, predicted, labels=labels, average="weighted", zero_division=0))
    out["precision_macro"] = float(skm.precision_score(y, predicted, labels=labels, average="macro", zero_division=0))
    out["recall_macro"] = float(skm.recall_score(y, predicted, labels=labels, average="macro", zero_division=0))
    # Macro one-vs-rest over the classes that have both positive and negative rows here.
    aucs = [skm.roc_auc_score(y == j, scores[:, j]) for j in labels if 0 < int((y == j).sum()) < len(y)]
    if aucs:
        out["roc_auc_ovr"] = float(np.mean(aucs))
    return out


PRIMARY = {BINARY: "roc_auc", MULTICLASS: "roc_auc_ovr", REGRESSION: "rmse"}


def train(args: argparse.Namespace) -> Dict[str, float]:
    started = time.time()
    schema = load_schema(args.schema)
    train_t = read_channel(args.train, "train")
    valid_t = read_channel(args.validation, "validation")
    s = resolve_setup(args, schema, train_t, valid_t)
    if s.id_column:
        empty = valid_t.frame[s.id_column].str.strip().eq("").to_numpy()
        if empty.any():
            # predictions.jsonl is joined with the validation split on the id: every row needs one.
            raise TrainingError("%s: the id is empty" % valid_t.where(int(np.argmax(empty)), s.id_column))
    y_train = encode_labels(s, train_t)
    y_valid = encode_labels(s, valid_t)
    if s.problem_type != REGRESSION:
        present = sorted(set(int(v) for v in y_train))
        if len(present) < 2:
            raise TrainingError("channel 'train': the label '%s' has a single class (%s); a classifier needs at least two"
                                % (s.label, s.classes[present[0]] if s.classes else "?"))
        absent = [s.classes[j] for j in range(len(s.classes or [])) if j not in present]
        if absent:
            print("warning: class(es) %s have no training rows; their probability is always 0" % ", ".join(absent), file=sys.stderr)
    args.estimator, estimator_note = choose_estimator(args.estimator, len(train_t.frame))
    print("setup: %s, label '%s'%s, id '%s'; %d numeric, %d categorical, %d text column(s); estimator %s%s"
          % (s.problem_type, s.label, " classes [%s]" % ", ".join(s.classes) if s.classes else "", s.id_column,
             len(s.numeric), len(s.categorical), len(s.text), args.estimator, estimator_note), file=sys.stderr)
    for c, how in s.sources.items():
        print("  %s: %s" % (c, how), file=sys.stderr)

    features = learn_features(s, train_t, args)
    x_train = _typed(features, train_t, args)
    x_valid = _typed(features, valid_t, args)
    pipeline = build_pipeline(s, args, len(x_train))
    pipeline.fit(x_train, y_train)
    for name, transformer, _ in pipeline.named_steps["preprocess"].transformers_:
        if name.startswith("text_"):
            # Every pruned word, kept only for introspection: it can be megabytes in model.joblib.
            transformer.named_steps["words"].stop_words_ = None
    artifact = {
        "format": ARTIFACT_FORMAT,
        "pipeline": pipeline,
        "problem_type": s.problem_type,
        "classes": s.classes,
        "features": features,
        "label_column": s.label,
        "id_column": s.id_column,
        "estimator": args.estimator,
        "sklearn_version": sklearn.__version__,
        "trained_rows": int(len(train_t.frame)),
    }
    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(artifact, os.path.join(args.model_dir, MODEL_FILE))

    candidate = class_scores(artifact, x_valid)
    champ = None
    champion = None
    try:
        champion = load_champion(args.champion)
    except Exception as e:  # noqa: BLE001 - a champion that cannot load is reported, not fatal
        print("champion: cannot load the champion model: %s; champion scores are null" % e, file=sys.stderr)
    if champion is not None:
        try:
            champ = champion_scores(champion, valid_t, s)
        except Exception as e:  # noqa: BLE001 - whatever the champion raises, the candidate's run goes on
            print("champion: cannot score the validation rows: %s: %s; champion scores are null" % (type(e).__name__, e), file=sys.stderr)

    ids = valid_t.frame[s.id_column] if s.id_column else pd.Series([str(i + 1) for i in range(len(valid_t.frame))])
    os.makedirs(args.output_data_dir, exist_ok=True)
    with open(os.path.join(args.output_data_dir, PREDICTIONS_FILE), "w") as out:
        for i in range(len(valid_t.frame)):
            out.write(json.dumps({
                "id": str(ids.iloc[i]),
                "label": float(y_valid[i]) if s.problem_type == REGRESSION else int(y_valid[i]),
                "candidate": _prediction_value(candidate, i, s.problem_type),
                "champion": None if champ is None else _prediction_value(champ, i, s.problem_type),
            }) + "\n")

    k = len(s.classes or [])
    metrics = {"validation:%s" % m: v for m, v in compute_metrics(s.problem_type, y_valid, candidate, k).items()}
    if champ is not None:
        primary = PRIMARY[s.problem_type]
        champion_metrics = compute_metrics(s.problem_type, y_valid, champ, k)
        if primary in champion_metrics:
            metrics["validation:champion_%s" % primary] = champion_metrics[primary]
    metrics["train:rows"] = float(len(train_t.frame))
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


def load_model(model_dir: str) -> Dict[str, Any]:
    """model.joblib from a model directory, in the current format (format 1, binary churn-era models, upgraded)."""
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError("%s not found: the model directory holds %s" % (path, os.listdir(model_dir)))
    artifact = joblib.load(path)
    if not isinstance(artifact, dict) or artifact.get("format") not in (1, ARTIFACT_FORMAT):
        raise ValueError("%s is not a relearn tabular model (format %s expected)" % (path, ARTIFACT_FORMAT))
    if artifact["format"] == 1:
        # The churn-only script's models: binary over labels 0/1, numbers read as plain numbers.
        artifact = dict(artifact, format=ARTIFACT_FORMAT, problem_type=BINARY, classes=["0", "1"],
                        features=dict(artifact["features"], units={}, bools={}))
    if artifact.get("sklearn_version") != sklearn.__version__:
        print("warning: %s was saved by scikit-learn %s and is loaded by %s; predictions may differ"
              % (path, artifact.get("sklearn_version"), sklearn.__version__), file=sys.stderr)
    return artifact


def model_fn(model_dir: str) -> Dict[str, Any]:
    global _SERVING_MODEL
    _SERVING_MODEL = load_model(model_dir)
    return _SERVING_MODEL


def _required_columns(model: Dict[str, Any]) -> List[str]:
    f = model["features"]
    return f["numeric"] + f["categorical"] + f["text"]


def _check_frame(model: Dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Checks columns and types by name; returns the typed frame the pipeline expects, or raises InvalidInput."""
    if len(frame) == 0:
        raise InvalidInput("the request has no rows")
    required = _required_columns(model)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInput("missing column(s): %s (the model needs: %s)" % (", ".join(missing), ", ".join(required)))
    try:
        typed = typed_frame(model["features"], frame.reset_index(drop=True))
    except BadValue as e:
        raise InvalidInput("column '%s' row %d: %s, got %s" % (e.column, e.index + 1, e.expected, e.shown()))
    return typed


def input_fn(request_body: Any, request_content_type: str) -> pd.DataFrame:
    """text/csv (a header row, then rows) or application/json (a list of objects, one object or {"instances": [...]}).

    Values may arrive as text ("12.5", "1,234", "") and are typed by the model's column types. Once model_fn has
    loaded a model, the rows are also checked against its columns and types here.
    """
    frame = _decode(request_body, request_content_type)
    return _check_frame(_SERVING_MODEL, frame) if _SERVING_MODEL is not None else frame


def _decode(request_body: Any, request_content_type: str) -> pd.DataFrame:
    content_type = (request_content_type or "").split(";")[0].strip().lower()
    if content_type not in ("text/csv", "application/json"):
        raise UnsupportedContentType("content type %r is not supported: send text/csv or application/json" % request_content_type)
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
            # Every value as text: types are checked per column, by name, in _check_frame.
            frame = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False, na_filter=False)
        except Exception as e:  # noqa: BLE001
            raise InvalidInput("malformed CSV: %s" % e)
        if len(frame) == 0:
            raise InvalidInput("the CSV has a header but no rows (a header row naming the columns comes first)")
        return frame
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
    # dtype=object keeps each value as the client sent it (a number, a string, null, a boolean).
    return pd.DataFrame.from_records(data).astype(object)


def predict_fn(input_data: pd.DataFrame, model: Dict[str, Any]) -> Dict[str, Any]:
    """Scores per row: P(classes[1]) (binary), K class probabilities (multiclass) or the value (regression)."""
    scores = class_scores(model, _check_frame(model, input_data))
    return {"problem_type": model["problem_type"], "classes": model.get("classes"), "scores": scores}


def output_fn(prediction: Any, accept: str) -> Any:
    """application/json: {"predictions": [...], "classes": [...], "labels": [...]} (classes, labels: classification);
    text/csv: one line per row (the number, or the K probabilities comma-separated)."""
    accept_type = (accept or "application/json").split(";")[0].strip().lower()
    if accept_type not in ("application/json", "*/*", "", "text/csv"):
        raise UnsupportedContentType("accept type %r is not supported: ask for application/json or text/csv" % accept)
    if isinstance(prediction, dict):
        problem_type, classes, scores = prediction["problem_type"], prediction["classes"], np.asarray(prediction["scores"])
    else:  # a bare array (another predict_fn): one number per row
        problem_type, classes, scores = REGRESSION, None, np.asarray(prediction, dtype=float).ravel()
    n = scores.shape[0]
    values = [_prediction_value(scores, i, problem_type) for i in range(n)]
    if accept_type == "text/csv":
        return "".join((",".join(repr(x) for x in v) if isinstance(v, list) else repr(v)) + "\n" for v in values)
    body: Dict[str, Any] = {"predictions": values}
    if problem_type != REGRESSION:
        body["classes"] = list(classes)
        body["labels"] = [classes[int(j)] for j in scores.argmax(axis=1)]
    return json.dumps(body)


if __name__ == "__main__":
    sys.exit(main())
