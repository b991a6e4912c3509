"""Load the model under audit behind one small protocol: ``scores(frame) -> P(positive)``.

Trust comes only from the spec the reviewer wrote, never from the file being
audited: skops files may contain only skops' default types plus the spec's
``model.trusted_types``; pickle/joblib (and MLflow folders that unpickle) load
only when the spec pins their SHA-256 and the bytes match, checked before
anything is deserialised. Every scorer's output is checked: a NaN or a value
outside [0, 1] stops the audit.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from auditor.errors import ModelError
from auditor.load.data import row_numbers
from auditor.load.hashing import (
    UnsafeTreeError,
    copy_tree_hashed,
    read_regular_file,
    sha256_bytes,
    sha256_path,
)
from auditor.load.spec import AuditSpec, display_path, group_label

__all__ = [
    "EstimatorScorer",
    "MlflowPyfuncScorer",
    "OnnxScorer",
    "ScoreColumnScorer",
    "Scorer",
    "load_scorer",
    "model_format",
    "sha256_path",
    "validate_scores",
]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")

MODEL_NOT_SET = "{spec}: the model names neither model.score_column nor model.path"
MODEL_NOT_FOUND = "{file}: model file not found (named by $.model.path in {spec})"
MODEL_UNSUPPORTED = (
    "{file}: unsupported model format {suffix!r}; expected .skops, .onnx, "
    ".pkl/.pickle/.joblib, or an MLflow model folder"
)
MODEL_FOLDER_NOT_MLFLOW = "{file}: the folder has no MLmodel file; expected an MLflow model folder"
SHA_MISMATCH = (
    "{file}: SHA-256 mismatch: the spec pins {expected} (model.sha256) but the file has "
    "{actual}; refusing to load it"
)
PICKLE_NEEDS_SHA = (
    "{file}: pickle/joblib files can run arbitrary code when loaded, so the spec must pin "
    "their SHA-256; after checking the file comes from a trusted source, add "
    "model.sha256: {actual}"
)
SKOPS_UNTRUSTED = (
    "{file}: the skops file contains types that are not trusted: {types}; review them and, "
    "if you trust them, list them under model.trusted_types in the spec"
)
SKOPS_UNREADABLE = "{file}: cannot read the skops file ({reason})"
PICKLE_UNREADABLE = "{file}: cannot unpickle the model ({reason})"
ONNX_EXTRA_MISSING = (
    "{file}: ONNX models need onnxruntime: pip install 'clinical-fairness-auditor[onnx]'"
)
ONNX_UNREADABLE = "{file}: cannot load the ONNX model ({reason})"
ONNX_NO_PROBABILITY = (
    "{file}: the ONNX model has no probability output; its outputs are {outputs}; expected "
    "an output named like 'probabilities' (skl2onnx: export classifiers with "
    "options={{id(model): {{'zipmap': False}}}})"
)
ONNX_INPUT_MISSING = (
    "{file}: ONNX input {name!r} is not a column of the data; the model's inputs are {inputs}"
)
MLFLOW_EXTRA_MISSING = (
    "{file}: MLflow models need mlflow: pip install 'clinical-fairness-auditor[mlflow]'"
)
MLFLOW_NEEDS_SHA = (
    "{file}: this MLflow model ({how}) loads by unpickling or importing code, which can run "
    "anything, so the spec must pin the folder's SHA-256; after checking it comes from a "
    "trusted source, add model.sha256: {actual}"
)
MLFLOW_UNREADABLE = "{file}: cannot load the MLflow model ({reason})"
NO_PREDICT_PROBA = (
    "{file}: the model ({type}) has no predict_proba; expected a fitted probabilistic classifier"
)
NOT_BINARY = "{file}: the model has {n} classes ({classes}); expected a binary classifier"
POSITIVE_NOT_IN_CLASSES = (
    "{file}: the model's classes ({classes}) do not include the positive label {positive}; "
    "expected a binary classifier trained on this label"
)
SCORES_INVALID = (
    "{source}: {count} score(s) are NaN or outside [0, 1] (rows {rows}); "
    "expected probabilities of the positive class"
)
SCORES_SHAPE = "{source}: returned scores of shape {shape} for {rows} rows; expected one per row"
SCORING_FAILED = "{source}: scoring failed ({reason})"
SCORES_NOT_NUMERIC = (
    "{source}: returned scores of type {dtype}, not numbers; expected probabilities of the "
    "positive class"
)
SCORES_COLUMNS = (
    "{source}: returned scores of shape {shape} for a binary classifier; expected one "
    "column per class (2) or one column of P(positive)"
)
SCORE_COLUMN_NOT_NUMERIC = (
    "{source} is not numeric ({dtype}); expected probabilities of the positive class"
)
NOT_NUMBERS = (
    "{source}: column {column!r} is not numeric ({dtype}): {count} value(s) are not numbers: "
    "{values} (rows {rows}); expected numbers{hint}"
)
SAS_MISSING_HINT = (
    "; '.' is how SAS writes a missing value: export missing values as empty cells, "
    "which are read as missing"
)
PROBA_ONE_DIMENSIONAL = (
    "{source}: predict_proba returned one value per row (shape {shape}); expected one column "
    "per class, shape ({rows}, 2), as scikit-learn classifiers return; if these values are "
    "already probabilities of the positive class, give them as model.score_column"
)
ONNX_MATRIX_NEEDS_FEATURES = (
    "{file}: the ONNX model takes one matrix input {name!r} of shape {shape}, not one input per "
    "column; list the data columns under features in the spec, in the model's input order"
)
LIGHTGBM_CATEGORICAL = (
    "{source}: the LightGBM model was trained with pandas categorical features, but these "
    "columns of the data are not categories: {columns} ({reason}); CSV loses category types and "
    "Parquet keeps them: save the data as Parquet with those columns as pandas categories "
    "(the categories in training order)"
)


@runtime_checkable
class Scorer(Protocol):
    """What every model looks like to the audit: probabilities of the positive class."""

    kind: str
    """"score_column", "skops", "pickle", "onnx", "mlflow" or "estimator"."""
    estimator: Any | None
    """Fitted scikit-learn object when there is one (for SHAP), else None."""
    runtime: dict[str, str]
    """Versions of the runtime that scores (onnxruntime, mlflow, lightgbm, ...); may be empty."""

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """float64 P(positive) in [0, 1], one per row of ``frame``."""
        ...


def validate_scores(values: Any, frame: pd.DataFrame, source: str) -> np.ndarray:
    """Return ``values`` as float64 of length ``len(frame)``; ModelError if NaN or out of [0, 1]."""
    scores = as_float_scores(values, source)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1 or len(scores) != len(frame):
        raise ModelError(SCORES_SHAPE.format(source=source, shape=scores.shape, rows=len(frame)))
    with np.errstate(invalid="ignore"):
        bad = ~((scores >= 0.0) & (scores <= 1.0))  # NaN compares False
    if bad.any():
        raise ModelError(
            SCORES_INVALID.format(
                source=source, count=int(bad.sum()), rows=row_numbers(frame.index, bad)
            )
        )
    return scores


def non_numeric_message(frame: pd.DataFrame, columns: Sequence[str], source: str) -> str | None:
    """Name the first column read as text only because some values are not numbers.

    A column where most values are numbers and a few are text (SAS's '.', 'NA', '?')
    makes a model fail with "could not convert string to float"; say where instead.
    A column of text only is a category (or the wrong column), not a broken number.
    """
    for column in columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            continue
        parsed = pd.to_numeric(series, errors="coerce")
        bad = (parsed.isna() & series.notna()).to_numpy()
        if not bad.any() or bad[series.notna().to_numpy()].all():
            continue
        distinct = pd.unique(series[bad])
        shown = ", ".join(repr(str(v)) for v in distinct[:5]) + (
            ", ..." if len(distinct) > 5 else ""
        )
        return NOT_NUMBERS.format(
            source=source,
            column=column,
            dtype=series.dtype,
            count=int(bad.sum()),
            values=shown,
            rows=row_numbers(frame.index, bad),
            hint=SAS_MISSING_HINT if "." in {str(v).strip() for v in distinct} else "",
        )
    return None


def _lightgbm_categorical(
    estimator: Any, inputs: pd.DataFrame, exc: Exception, source: str
) -> str | None:
    """LightGBM's own words for category columns that lost their type, if that is the error."""
    text = str(exc)
    if "categorical_feature do not match" not in text and "bad pandas dtypes" not in text:
        return None
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if not type(final).__module__.startswith("lightgbm"):
        return None
    booster = getattr(final, "booster_", None)
    names = list(getattr(final, "feature_name_", []) or [])
    categorical: list[str] = []
    if booster is not None:
        dumped = booster.dump_model(num_iteration=0)
        indices = set()
        for tree in dumped.get("tree_info", []):
            stack = [tree.get("tree_structure", {})]
            while stack:
                node = stack.pop()
                if node.get("decision_type") == "==":
                    indices.add(node["split_feature"])
                stack += [node[k] for k in ("left_child", "right_child") if k in node]
        categorical = [names[i] for i in sorted(indices) if i < len(names)]
    not_category = [
        c
        for c in (categorical or list(inputs.columns))
        if c in inputs.columns and not isinstance(inputs[c].dtype, pd.CategoricalDtype)
    ]
    return LIGHTGBM_CATEGORICAL.format(
        source=source,
        columns=", ".join(repr(c) for c in not_category) or "(none)",
        reason=text.strip().rstrip("."),
    )


def as_float_scores(values: Any, source: str) -> np.ndarray:
    """``values`` as a float64 array; ModelError naming the type when they are not numbers."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested sequences
        raise ModelError(SCORES_NOT_NUMERIC.format(source=source, dtype="mixed")) from exc
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        kind = {"U": "text", "S": "bytes", "O": "object"}.get(array.dtype.kind, str(array.dtype))
        raise ModelError(SCORES_NOT_NUMERIC.format(source=source, dtype=kind))
    return array.astype(np.float64, copy=False)


def positive_column(array: np.ndarray, index: int, source: str, rows: int) -> np.ndarray:
    """Column ``index`` of a (rows, 2) probability matrix; 1-D scores pass through.

    Any other width is refused: a "binary" model returning 3 columns is not
    a binary model, and picking one column would silently audit the wrong thing.
    """
    if array.ndim == 2 and array.shape[1] == 2:
        return array[:, index]
    if array.ndim == 2 and array.shape[1] != 1:
        raise ModelError(SCORES_COLUMNS.format(source=source, shape=array.shape))
    if array.ndim > 2:
        raise ModelError(SCORES_SHAPE.format(source=source, shape=array.shape, rows=rows))
    return array


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)


def positive_class_index(classes: Sequence[Any], positive: Any, source: str) -> int:
    """Column of ``predict_proba`` that belongs to the positive label.

    A model trained on the 0/1 labels the audit derives (``positive -> 1``)
    is accepted too: then class ``1`` (or ``True``) is the positive one.
    """
    keys = [group_label(c) for c in classes]
    shown = ", ".join(_show(c) for c in classes)
    if len(keys) != 2:
        raise ModelError(NOT_BINARY.format(file=source, n=len(keys), classes=shown))
    wanted = group_label(positive)
    if wanted in keys:
        return keys.index(wanted)
    for pair, pos in (({"0", "1"}, "1"), ({"False", "True"}, "True")):
        if set(keys) == pair:
            return keys.index(pos)
    raise ModelError(
        POSITIVE_NOT_IN_CLASSES.format(file=source, classes=shown, positive=_show(positive))
    )


class ScoreColumnScorer:
    """Scores precomputed in a column of the data."""

    kind = "score_column"
    estimator: Any | None = None

    def __init__(self, column: str, *, source: str | None = None) -> None:
        self.column = column
        self.source = source or f"score column {column!r}"
        self.path: Path | None = None
        self.sha256: str | None = None
        self.runtime: dict[str, str] = {}

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.column]
        if not (
            pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        ):
            text = non_numeric_message(frame, [self.column], self.source)
            raise ModelError(
                text or SCORE_COLUMN_NOT_NUMERIC.format(source=self.source, dtype=values.dtype)
            )
        return validate_scores(
            values.to_numpy(dtype=np.float64, na_value=np.nan), frame, self.source
        )


class EstimatorScorer:
    """Any fitted scikit-learn-compatible classifier: ``predict_proba`` of the positive class.

    ``features`` selects the columns the estimator reads; when None, its
    ``feature_names_in_`` are used, else every column but ``exclude``.
    """

    def __init__(
        self,
        estimator: Any,
        features: Sequence[str] | None = None,
        *,
        positive: Any = 1,
        kind: str = "estimator",
        source: str | None = None,
        exclude: Sequence[str] = (),
        path: Path | None = None,
        sha256: str | None = None,
    ) -> None:
        self.source = source or type(estimator).__name__
        if not callable(getattr(estimator, "predict_proba", None)):
            raise ModelError(
                NO_PREDICT_PROBA.format(file=self.source, type=type(estimator).__name__)
            )
        self.estimator: Any | None = estimator
        self.features = tuple(features) if features is not None else None
        self.kind = kind
        self.exclude = tuple(exclude)
        self.path = path
        self.sha256 = sha256
        self.runtime: dict[str, str] = {}
        classes = getattr(estimator, "classes_", None)
        self.positive_index = (
            positive_class_index(list(classes), positive, self.source) if classes is not None else 1
        )

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.features is not None:
            return frame[list(self.features)]
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is not None:
            return frame[[str(n) for n in names]]
        return frame.drop(columns=[c for c in self.exclude if c in frame.columns])

    def _failure(self, inputs: pd.DataFrame, exc: Exception) -> str:
        """The most specific message for a failed predict_proba: where the user can act."""
        return (
            _lightgbm_categorical(self.estimator, inputs, exc, self.source)
            or non_numeric_message(inputs, list(inputs.columns), self.source)
            or SCORING_FAILED.format(source=self.source, reason=exc)
        )

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        inputs = self._inputs(frame)
        try:
            raw = self.estimator.predict_proba(inputs)  # type: ignore[union-attr]
        except Exception as exc:  # any estimator error is the model's, not ours
            raise ModelError(self._failure(inputs, exc)) from exc
        proba = as_float_scores(raw, self.source)
        if proba.ndim == 1:
            raise ModelError(
                PROBA_ONE_DIMENSIONAL.format(source=self.source, shape=proba.shape, rows=len(frame))
            )
        if proba.ndim != 2:
            raise ModelError(
                SCORES_SHAPE.format(source=self.source, shape=proba.shape, rows=len(frame))
            )
        if proba.shape[1] != 2:
            raise ModelError(SCORES_COLUMNS.format(source=self.source, shape=proba.shape))
        return validate_scores(proba[:, self.positive_index], frame, self.source)


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


def _onnx_class_labels(content: bytes) -> list[Any] | None:
    """Class labels written by the converter (e.g. LinearClassifier), if onnx is installed."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load_model_from_string(content)
    except Exception:
        return None
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_ints", "classlabels_int64s"):
                return list(attribute.ints)
            if attribute.name == "classlabels_strings":
                return [s.decode("utf-8") for s in attribute.strings]
    return None


class OnnxScorer:
    """An ONNX classifier run by onnxruntime; one named input per column, or one matrix input.

    The session is built from ``content``, the bytes that were hashed, never by
    reopening ``path``.
    """

    kind = "onnx"
    estimator: Any | None = None

    def __init__(
        self,
        path: Path,
        *,
        content: bytes | None = None,
        features: Sequence[str] | None = None,
        positive: Any = 1,
        sha256: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.source = display_path(self.path)
        if content is None:
            content = read_regular_file(self.path, error=ModelError, file=self.source)
        self.sha256 = sha256 or sha256_bytes(content)
        self.features = tuple(features) if features is not None else None
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError(ONNX_EXTRA_MISSING.format(file=self.source)) from exc
        self.runtime = {"onnxruntime": ort.__version__}
        try:
            self.session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(ONNX_UNREADABLE.format(file=self.source, reason=exc)) from exc
        self.inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        matches = [o for o in outputs if "prob" in o.name.lower()]
        if not matches:
            listed = ", ".join(f"{o.name} ({o.type} {list(o.shape)})" for o in outputs)
            raise ModelError(ONNX_NO_PROBABILITY.format(file=self.source, outputs=listed))
        self.output = matches[0]
        labels = _onnx_class_labels(content)
        self.class_labels = labels
        self.positive = positive
        self.positive_index = (
            positive_class_index(labels, positive, self.source) if labels is not None else 1
        )

    def _feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        names = [i.name for i in self.inputs]
        if all(n in frame.columns for n in names):
            feeds = {}
            for spec in self.inputs:
                dtype = _ONNX_DTYPES.get(spec.type, np.float32)
                column = frame[spec.name]
                if dtype is object:
                    values = column.astype(str).to_numpy(dtype=object)
                else:
                    values = column.to_numpy(dtype=dtype)
                rank = len(spec.shape) if spec.shape is not None else 2
                feeds[spec.name] = values.reshape(-1, 1) if rank == 2 else values
            return feeds
        if len(self.inputs) == 1 and self.features is not None:
            spec = self.inputs[0]
            dtype = _ONNX_DTYPES.get(spec.type, np.float32)
            columns = list(self.features)
            text = non_numeric_message(frame, columns, self.source)
            if text:
                raise ModelError(text)
            return {spec.name: frame[columns].to_numpy(dtype=dtype)}
        dims = list(self.inputs[0].shape or []) if len(self.inputs) == 1 else []
        if len(dims) == 2 and dims[1] != 1:
            spec = self.inputs[0]
            shape = "(" + ", ".join(str(d) if isinstance(d, int) else "rows" for d in dims) + ")"
            raise ModelError(
                ONNX_MATRIX_NEEDS_FEATURES.format(file=self.source, name=spec.name, shape=shape)
            )
        missing = next(n for n in names if n not in frame.columns)
        raise ModelError(
            ONNX_INPUT_MISSING.format(file=self.source, name=missing, inputs=", ".join(names))
        )

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        feeds = self._feeds(frame)
        try:
            (result,) = self.session.run([self.output.name], feeds)
        except Exception as exc:
            raise ModelError(SCORING_FAILED.format(source=self.source, reason=exc)) from exc
        if isinstance(result, list):  # ZipMap: one {label: probability} per row
            key = next(
                (
                    k
                    for k in (result[0] if result else {})
                    if group_label(k) == group_label(self.positive)
                ),
                None,
            )
            if key is None and result:
                keys = list(result[0])
                key = keys[positive_class_index(keys, self.positive, self.source)]
            result = np.array([row[key] for row in result], dtype=np.float64)
        array = positive_column(
            as_float_scores(result, self.source), self.positive_index, self.source, len(frame)
        )
        return validate_scores(array, frame, self.source)


class MlflowPyfuncScorer:
    """An MLflow pyfunc model whose ``predict`` returns P(positive) (1-D, or 2 columns)."""

    kind = "mlflow"
    estimator: Any | None = None

    def __init__(
        self,
        model: Any,
        *,
        features: Sequence[str] | None,
        positive: Any,
        source: str,
        path: Path | None = None,
        sha256: str | None = None,
    ) -> None:
        self.model = model
        self.features = tuple(features) if features is not None else None
        self.positive = positive
        self.source = source
        self.path = path
        self.sha256 = sha256
        self.runtime: dict[str, str] = {}

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        inputs = frame[list(self.features)] if self.features is not None else frame
        try:
            result = self.model.predict(inputs)
        except Exception as exc:
            raise ModelError(SCORING_FAILED.format(source=self.source, reason=exc)) from exc
        if isinstance(result, pd.DataFrame):
            if result.shape[1] == 2:
                index = positive_class_index(list(result.columns), self.positive, self.source)
                result = result.iloc[:, index]
            elif result.shape[1] != 1:
                raise ModelError(SCORES_COLUMNS.format(source=self.source, shape=result.shape))
            result = result.to_numpy()
        array = positive_column(as_float_scores(result, self.source), 1, self.source, len(frame))
        return validate_scores(array, frame, self.source)


def model_format(path: Path) -> str:
    """``"skops"``, ``"onnx"``, ``"pickle"`` or ``"mlflow"`` from the path; ModelError otherwise."""
    path = Path(path)
    if path.is_dir():
        if not (path / "MLmodel").is_file():
            raise ModelError(MODEL_FOLDER_NOT_MLFLOW.format(file=display_path(path)))
        return "mlflow"
    suffix = path.suffix.lower()
    if suffix == ".skops":
        return "skops"
    if suffix == ".onnx":
        return "onnx"
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    raise ModelError(
        MODEL_UNSUPPORTED.format(file=display_path(path), suffix=path.suffix or "(none)")
    )


def _load_skops(content: bytes, trusted_types: Sequence[str], file: str) -> Any:
    """skops.io.loads of the hashed bytes, trusting skops' defaults plus the reviewer's list."""
    import skops.io

    try:
        needed = skops.io.get_untrusted_types(data=content)
    except Exception as exc:
        raise ModelError(SKOPS_UNREADABLE.format(file=file, reason=exc)) from exc
    allowed = set(trusted_types)
    untrusted = sorted(t for t in needed if t not in allowed)
    if untrusted:
        raise ModelError(SKOPS_UNTRUSTED.format(file=file, types=", ".join(untrusted)))
    try:
        return skops.io.loads(content, trusted=[t for t in needed if t in allowed])
    except Exception as exc:
        raise ModelError(SKOPS_UNREADABLE.format(file=file, reason=exc)) from exc


RUNTIME_PACKAGES = {"lightgbm": "lightgbm", "xgboost": "xgboost", "catboost": "catboost"}
"""Top-level module of an estimator's class -> the distribution whose version is recorded."""


def _version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def estimator_runtimes(estimator: Any) -> dict[str, str]:
    """Versions of the gradient-boosting libraries inside ``estimator`` (pipelines included)."""
    found: dict[str, str] = {}
    stack: list[Any] = [estimator]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen or len(seen) > 200:
            continue
        seen.add(id(obj))
        root = type(obj).__module__.split(".")[0]
        if root in RUNTIME_PACKAGES:
            # the version of the module that is loaded (its distribution may be named
            # differently, e.g. xgboost-cpu)
            module = sys.modules.get(root)
            version = getattr(module, "__version__", None) or _version(RUNTIME_PACKAGES[root])
            if isinstance(version, str):
                found[RUNTIME_PACKAGES[root]] = version
        for name in ("steps", "estimators_", "calibrated_classifiers_"):
            children = getattr(obj, name, None)
            if isinstance(children, (list, tuple)):
                stack += [c[-1] if isinstance(c, tuple) else c for c in children]
        for name in ("estimator", "base_estimator", "final_estimator_", "_final_estimator"):
            child = getattr(obj, name, None)
            if child is not None and not isinstance(child, (str, int, float)):
                stack.append(child)
    return dict(sorted(found.items()))


@contextlib.contextmanager
def _mlflow_deserialization_allowed() -> Iterator[None]:
    """MLflow 3 refuses to deserialise unless this is set; we set it only after the hash matched."""
    name = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
    before = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _load_mlflow(spec: AuditSpec, path: Path, copy: Path, actual_sha: str) -> Scorer:
    """Load the private ``copy`` of the MLflow folder ``path`` (the copy is what was hashed)."""
    import yaml

    from auditor.load.safe_yaml import load_yaml

    file = display_path(path)
    try:
        text = read_regular_file(copy / "MLmodel", error=ModelError, file=f"{file}/MLmodel")
        meta = load_yaml(text.decode("utf-8"), source=f"{file}/MLmodel", error=ModelError) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelError(MLFLOW_UNREADABLE.format(file=file, reason=exc)) from exc
    flavors = (meta.get("flavors") or {}) if isinstance(meta, dict) else {}
    sklearn_conf = flavors.get("sklearn") or {}
    pyfunc_conf = flavors.get("python_function") or {}
    common = {
        "positive": spec.label.positive,
        "kind": "mlflow",
        "source": file,
        "exclude": _excluded_columns(spec),
        "path": path,
        "sha256": actual_sha,
    }
    model_file = sklearn_conf.get("pickled_model")
    skops_only = (
        sklearn_conf.get("serialization_format") == "skops"
        and isinstance(model_file, str)
        and not sklearn_conf.get("code")
        and not pyfunc_conf.get("code")
        and pyfunc_conf.get("loader_module", "mlflow.sklearn") == "mlflow.sklearn"
    )
    if skops_only:
        inner = (copy / str(model_file)).resolve()
        if copy.resolve() in inner.parents and inner.is_file():
            # Load the skops file ourselves: MLflow would trust the list in MLmodel.
            inner_file = display_path(path / str(model_file))
            content = read_regular_file(inner, error=ModelError, file=inner_file)
            estimator = _load_skops(content, spec.model.trusted_types, inner_file)
            scorer = EstimatorScorer(estimator, spec.features, **common)
            scorer.runtime = estimator_runtimes(estimator)
            return scorer
    if spec.model.sha256 is None:
        how = (
            f"sklearn flavor, {sklearn_conf.get('serialization_format', 'pickle')} format"
            if sklearn_conf
            else f"loader {pyfunc_conf.get('loader_module', 'unknown')}"
        )
        raise ModelError(MLFLOW_NEEDS_SHA.format(file=file, how=how, actual=actual_sha))
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise ModelError(MLFLOW_EXTRA_MISSING.format(file=file)) from exc
    try:
        with _mlflow_deserialization_allowed():
            loaded = mlflow.pyfunc.load_model(str(copy))
    except Exception as exc:
        raise ModelError(MLFLOW_UNREADABLE.format(file=file, reason=exc)) from exc
    try:
        raw = loaded.get_raw_model()
    except Exception:
        raw = None
    runtime = {"mlflow": _version("mlflow", "mlflow-skinny") or "unknown"}
    pyfunc: EstimatorScorer | MlflowPyfuncScorer
    if raw is not None and callable(getattr(raw, "predict_proba", None)):
        pyfunc = EstimatorScorer(raw, spec.features, **common)
        runtime |= estimator_runtimes(raw)
    else:
        pyfunc = MlflowPyfuncScorer(
            loaded,
            features=spec.features,
            positive=spec.label.positive,
            source=file,
            path=path,
            sha256=actual_sha,
        )
    pyfunc.runtime = dict(sorted(runtime.items()))
    return pyfunc


def _spec_name(spec: AuditSpec) -> str:
    return display_path(spec.source) if spec.source is not None else "the spec"


def _excluded_columns(spec: AuditSpec) -> tuple[str, ...]:
    excluded = [spec.label.column, *spec.sensitive, *spec.task.columns]
    if spec.model.score_column is not None:
        excluded.append(spec.model.score_column)
    return tuple(excluded)


def load_scorer(spec: AuditSpec) -> Scorer:
    """The spec's model as a :class:`Scorer`; every trust decision is made here.

    The model's SHA-256 is computed first and compared with ``model.sha256``
    when the spec pins one, before any byte of the model is deserialised.
    """
    if spec.model.score_column is not None:
        column = spec.model.score_column
        return ScoreColumnScorer(
            column, source=f"{display_path(spec.data)}: score column {column!r}"
        )
    if spec.model.path is None:
        raise ModelError(MODEL_NOT_SET.format(spec=_spec_name(spec)))
    path = Path(spec.model.path)
    file = display_path(path)
    if not path.exists():
        raise ModelError(MODEL_NOT_FOUND.format(file=file, spec=_spec_name(spec)))
    kind = model_format(path)
    expected = spec.model.sha256
    if kind == "mlflow":
        return _load_mlflow_folder(spec, path)
    content = read_regular_file(path, error=ModelError, file=file)  # read once: hashed = loaded
    actual = sha256_bytes(content)
    if expected is not None and expected.lower() != actual:
        raise ModelError(SHA_MISMATCH.format(file=file, expected=expected.lower(), actual=actual))
    common: dict[str, Any] = {
        "positive": spec.label.positive,
        "source": file,
        "exclude": _excluded_columns(spec),
        "path": path,
        "sha256": actual,
    }
    if kind == "onnx":
        return OnnxScorer(
            path,
            content=content,
            features=spec.features,
            positive=spec.label.positive,
            sha256=actual,
        )
    if kind == "skops":
        estimator = _load_skops(content, spec.model.trusted_types, file)
    else:
        if expected is None:
            raise ModelError(PICKLE_NEEDS_SHA.format(file=file, actual=actual))
        import joblib

        try:  # joblib reads plain pickles too; these are the bytes whose hash matched
            estimator = joblib.load(io.BytesIO(content))
        except Exception as exc:
            raise ModelError(PICKLE_UNREADABLE.format(file=file, reason=exc)) from exc
    loaded = EstimatorScorer(estimator, spec.features, kind=kind, **common)
    loaded.runtime = estimator_runtimes(estimator)
    return loaded


def _load_mlflow_folder(spec: AuditSpec, path: Path) -> Scorer:
    """Copy the folder privately while hashing it, check the pin, load the copy.

    The copy lives as long as the scorer (MLflow may read artifacts lazily).
    """
    file = display_path(path)
    private = tempfile.TemporaryDirectory(prefix="auditor-model-")
    try:
        copy = Path(private.name) / "model"
        copy.mkdir()
        try:
            actual = copy_tree_hashed(path, copy, file=file)
        except UnsafeTreeError as exc:
            raise ModelError(str(exc)) from exc
        expected = spec.model.sha256
        if expected is not None and expected.lower() != actual:
            raise ModelError(
                SHA_MISMATCH.format(file=file, expected=expected.lower(), actual=actual)
            )
        scorer = _load_mlflow(spec, path, copy, actual)
    except BaseException:
        private.cleanup()
        raise
    scorer._private_copy = private  # type: ignore[attr-defined]
    return scorer
