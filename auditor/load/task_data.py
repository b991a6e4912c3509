"""Load the outcome and the model's output for a survival, multiclass or regression audit.

The binary path is :func:`auditor.load.data.load_data` and
:func:`auditor.load.scorers.load_scorer`; this module reads the same file the same
way (same limits, same checks of named columns) and maps the task's label keys:

* survival: ``label.time`` (a number >= 0), ``label.event`` (``event_value`` = the
  event, anything else = censored); the risk by the horizon from ``model.score_column``
  (a probability), a scikit-survival estimator in a ``.skops`` file (or a pinned
  pickle), whose ``predict_survival_function`` gives S(horizon), or a lifelines
  regression fitter in a pinned pickle, whose ``predict_survival_function(df,
  times=[horizon])`` gives it: risk = 1 − S(horizon).
* multiclass: ``label.column`` must hold only the declared ``classes``; the
  probabilities from ``model.score_columns`` or a model's ``predict_proba`` whose
  ``classes_`` are the declared classes.
* regression: ``label.column`` a finite number; the prediction from
  ``model.score_column`` or a model's ``predict``.

Every problem is a DataError or ModelError naming the file, the column, the rows and
what was expected.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import DataError, ModelError
from auditor.load.data import (
    DATA_EMPTY,
    DATA_NOT_FOUND,
    LoadedData,
    _sensitive_groups,
    check_columns,
    check_plain_values,
    read_data_file,
    resolve_features,
    row_numbers,
)
from auditor.load.hashing import read_regular_file, sha256_bytes
from auditor.load.scorers import (
    PICKLE_NEEDS_SHA,
    PICKLE_UNREADABLE,
    SHA_MISMATCH,
    _load_skops,
    estimator_runtimes,
    model_format,
)
from auditor.load.spec import AuditSpec, display_path, group_label

NOT_NUMBERS = (
    "{file}: column {column!r} ({path}) has {count} value(s) that are not numbers "
    "(rows {rows}); expected {expected}"
)
MISSING_VALUES = (
    "{file}: column {column!r} ({path}) has {count} row(s) with no value (rows {rows}); "
    "fill them in, or set drop_missing_label: true in the spec to drop them"
)
NEGATIVE_TIME = (
    "{file}: time column {column!r} has {count} negative value(s) (rows {rows}); "
    "expected a follow-up time >= 0"
)
NO_EVENT_VALUE = (
    "{file}: event column {column!r} never has the event value {value!r}; values found: "
    "{values}; set label.event_value to the value that means the event happened"
)
HORIZON_BEYOND = (
    "{file}: label.horizon {horizon} is beyond the longest follow-up ({longest}) in "
    "{column!r}; choose a horizon within follow-up"
)
UNKNOWN_CLASSES = (
    "{file}: label column {column!r} has {count} row(s) whose value is not one of "
    "label.classes ({classes}): values {values} (rows {rows})"
)
PROBA_RANGE = (
    "{source}: {count} probability value(s) outside [0, 1] or missing (rows {rows}); "
    "expected probabilities"
)
PREDICTION_NOT_FINITE = (
    "{source}: {count} prediction(s) missing or not finite (rows {rows}); expected a number "
    "for every patient"
)
NO_SURVIVAL_FUNCTION = (
    "{file}: the model ({type}) has no predict_survival_function; a survival audit needs a "
    "scikit-survival estimator (risk = 1 − S(horizon)) or a score_column of risks"
)
SURVIVAL_FAILED = "{file}: predict_survival_function failed at the horizon {horizon} ({reason})"
LIFELINES_UNIVARIATE = (
    "{file}: the model is a lifelines {type}, a univariate fitter without covariates: it "
    "gives every patient the same survival curve, so no patient's risk can be audited; give "
    "a lifelines regression fitter (CoxPHFitter, WeibullAFTFitter, LogNormalAFTFitter, "
    "LogLogisticAFTFitter, ...) fitted on the features, pinned by model.sha256"
)
LIFELINES_SKOPS = (
    "{file}: lifelines models are read from a pickle/joblib file pinned by model.sha256, "
    "not from .skops"
)
NO_PREDICT = "{file}: the model ({type}) has no {method}; task {task} needs it"
CLASSES_DIFFER = (
    "{file}: the model's classes ({model}) are not the declared label.classes ({declared})"
)
MODEL_FORMAT_TASK = (
    "{file}: task {task} reads .skops files and pinned pickles only (got {kind}); give the "
    "model's output as a score column instead"
)


@dataclass
class TaskScorer:
    """The model of a non-binary audit: its outputs per patient, and one score to explain.

    ``scores(frame)`` is the number explanations attribute (survival: the risk at the
    horizon; multiclass: the probability of the first, most acute, class; regression:
    the prediction), computed by the same code as the audited outputs. A multiclass
    model's every class is explained too (``explained_classes``, ``probabilities``).
    """

    kind: str
    spec: AuditSpec
    estimator: Any | None = None
    model: Any | None = None
    path: Path | None = None
    sha256: str | None = None
    runtime: dict[str, str] = field(default_factory=dict)

    def outputs(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        task = self.spec.task
        if task.id == "survival":
            return {"risk": self._risk(frame)}
        if task.id == "multiclass":
            proba = self._proba(frame)
            return {f"p_{i}": proba[:, i] for i in range(proba.shape[1])}
        return {"prediction": self._prediction(frame)}

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        out = self.outputs(frame)
        return next(iter(out.values()))

    @property
    def explained_classes(self) -> tuple[str, ...]:
        """Multiclass: the declared classes, each of whose probability is explained."""
        if self.spec.task.id != "multiclass":
            return ()
        return tuple(group_label(c) for c in self.spec.task.classes)

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Multiclass: (rows, classes) probabilities, columns in the declared order."""
        return self._proba(frame)

    @property
    def source(self) -> str:
        if self.path is not None:
            return display_path(self.path)
        return f"{display_path(self.spec.data)}: score column {self.spec.model.score_column!r}"

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None:
            return frame[[str(n) for n in names]]
        return frame[list(resolve_features(self.spec, frame.columns))]

    def _risk(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model is None:
            column = str(self.spec.model.score_column)
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
            return _probabilities(values, frame, self.source)
        horizon = float(self.spec.task.horizon or 0.0)
        if is_lifelines(self.model):
            return _probabilities(self._lifelines_risk(frame, horizon), frame, self.source)
        if not callable(getattr(self.model, "predict_survival_function", None)):
            raise ModelError(
                NO_SURVIVAL_FUNCTION.format(file=self.source, type=type(self.model).__name__)
            )
        try:
            functions = self.model.predict_survival_function(self._inputs(frame))
            risk = 1.0 - np.array([float(fn(horizon)) for fn in functions])
        except Exception as exc:  # the model's error, said against the model
            raise ModelError(
                SURVIVAL_FAILED.format(file=self.source, horizon=horizon, reason=exc)
            ) from exc
        return _probabilities(np.clip(risk, 0.0, 1.0), frame, self.source)

    def _lifelines_risk(self, frame: pd.DataFrame, horizon: float) -> np.ndarray:
        """1 − S(horizon) from a lifelines regression fitter's own
        ``predict_survival_function(df, times=[horizon])`` (one row per time, one column
        per patient)."""
        try:
            survival = self.model.predict_survival_function(  # type: ignore[union-attr]
                self._inputs(frame), times=[horizon]
            )
            values = np.asarray(survival, dtype=np.float64)
            if values.shape != (1, len(frame)):
                raise ValueError(
                    f"expected one survival probability per patient, got shape {values.shape}"
                )
        except Exception as exc:  # the model's error, said against the model
            raise ModelError(
                SURVIVAL_FAILED.format(file=self.source, horizon=horizon, reason=exc)
            ) from exc
        return 1.0 - values[0]

    def _proba(self, frame: pd.DataFrame) -> np.ndarray:
        task = self.spec.task
        if self.model is None:
            cols = [
                pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
                for _, c in task.score_columns
            ]
            proba = np.column_stack(cols)
        else:
            if not callable(getattr(self.model, "predict_proba", None)):
                raise ModelError(
                    NO_PREDICT.format(
                        file=self.source,
                        type=type(self.model).__name__,
                        method="predict_proba",
                        task=task.id,
                    )
                )
            declared = [group_label(c) for c in task.classes]
            model_classes = [group_label(c) for c in getattr(self.model, "classes_", [])]
            if sorted(model_classes) != sorted(declared):
                raise ModelError(
                    CLASSES_DIFFER.format(
                        file=self.source,
                        model=", ".join(model_classes),
                        declared=", ".join(declared),
                    )
                )
            raw = np.asarray(self.model.predict_proba(self._inputs(frame)), dtype=np.float64)
            proba = raw[:, [model_classes.index(c) for c in declared]]
        bad = ~np.all((proba >= 0) & (proba <= 1), axis=1)
        if bad.any():
            raise ModelError(
                PROBA_RANGE.format(
                    source=self.source, count=int(bad.sum()), rows=row_numbers(frame.index, bad)
                )
            )
        return proba

    def _prediction(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model is None:
            column = str(self.spec.model.score_column)
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        else:
            if not callable(getattr(self.model, "predict", None)):
                raise ModelError(
                    NO_PREDICT.format(
                        file=self.source,
                        type=type(self.model).__name__,
                        method="predict",
                        task="regression",
                    )
                )
            values = np.asarray(self.model.predict(self._inputs(frame)), dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ModelError(
                PREDICTION_NOT_FINITE.format(
                    source=self.source, count=int(bad.sum()), rows=row_numbers(frame.index, bad)
                )
            )
        return values


def _probabilities(values: np.ndarray, frame: pd.DataFrame, source: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        bad = ~((values >= 0.0) & (values <= 1.0))
    if bad.any():
        raise ModelError(
            PROBA_RANGE.format(
                source=source, count=int(bad.sum()), rows=row_numbers(frame.index, bad)
            )
        )
    return values


def load_task_scorer(spec: AuditSpec) -> TaskScorer:
    """The model of a non-binary audit: score columns, or a hashed .skops / pinned pickle."""
    if spec.model.path is None:
        return TaskScorer(kind="score_column", spec=spec)
    path = Path(spec.model.path)
    file = display_path(path)
    kind = model_format(path)
    if kind not in ("skops", "pickle"):
        raise ModelError(MODEL_FORMAT_TASK.format(file=file, task=spec.task.id, kind=kind))
    content = read_regular_file(path, error=ModelError, file=file)
    actual = sha256_bytes(content)
    expected = spec.model.sha256
    if expected is not None and expected.lower() != actual:
        raise ModelError(SHA_MISMATCH.format(file=file, expected=expected.lower(), actual=actual))
    if kind == "skops":
        model = _load_skops(content, spec.model.trusted_types, file)
    else:
        if expected is None:
            raise ModelError(PICKLE_NEEDS_SHA.format(file=file, actual=actual))
        import joblib

        try:
            model = joblib.load(io.BytesIO(content))
        except Exception as exc:
            raise ModelError(PICKLE_UNREADABLE.format(file=file, reason=exc)) from exc
    if is_lifelines(model):
        _check_lifelines(model, spec, file, kind)
    return TaskScorer(
        kind=kind,
        spec=spec,
        model=model,
        path=path,
        sha256=actual,
        runtime=estimator_runtimes(model),
    )


def is_lifelines(model: Any) -> bool:
    """Whether the model is a lifelines fitter (by its class's module: lifelines is
    imported only when such a model was unpickled)."""
    return type(model).__module__.split(".")[0] == "lifelines"


def _check_lifelines(model: Any, spec: AuditSpec, file: str, kind: str) -> None:
    """A lifelines model audits a survival task as a regression fitter (covariates), and
    only from a pinned pickle."""
    if spec.task.id != "survival":
        raise ModelError(
            NO_PREDICT.format(
                file=file,
                type=type(model).__name__,
                method="predict_proba" if spec.task.id == "multiclass" else "predict",
                task=spec.task.id,
            )
        )
    if kind != "pickle":
        raise ModelError(LIFELINES_SKOPS.format(file=file))
    from lifelines.fitters import RegressionFitter

    if not isinstance(model, RegressionFitter) or not callable(
        getattr(model, "predict_survival_function", None)
    ):
        raise ModelError(LIFELINES_UNIVARIATE.format(file=file, type=type(model).__name__))


def _numbers(frame: pd.DataFrame, column: str, path: str, file: str, expected: str) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        raise DataError(
            NOT_NUMBERS.format(
                file=file,
                column=column,
                path=path,
                count=int(bad.sum()),
                rows=row_numbers(frame.index, bad),
                expected=expected,
            )
        )
    return values


@dataclass
class TaskOutcome:
    """The outcome columns of the statistic (``time``/``event``, or ``label``), per row."""

    columns: dict[str, np.ndarray]
    event_by_horizon: np.ndarray | None = None


def load_task_data(spec: AuditSpec) -> tuple[LoadedData, TaskOutcome]:
    """Read the data and map the task's outcome; rows with a missing outcome are an
    error unless ``drop_missing_label`` (then dropped and counted)."""
    path = Path(spec.data)
    file = display_path(path)
    if not path.exists():
        raise DataError(DATA_NOT_FOUND.format(file=file, spec=_spec_name(spec)))
    frame, digest = read_data_file(path)
    if len(frame) == 0:
        raise DataError(DATA_EMPTY.format(file=file))
    frame.columns = [str(c) for c in frame.columns]
    check_columns(spec, list(frame.columns))
    check_plain_values(spec, frame)
    rows_total = len(frame)
    frame, outcome, dropped = outcome_rows(spec, frame, file)
    check_whole_outcome(spec, OutcomeSummary.of(spec, frame, outcome), file)
    labels = outcome.event_by_horizon
    sensitive = pd.DataFrame(
        {name: _sensitive_groups(frame[name]) for name in spec.sensitive}, index=frame.index
    )
    data = LoadedData(
        frame=frame,
        labels=(labels if labels is not None else np.zeros(len(frame))).astype(np.int8),
        sensitive=sensitive,
        features=resolve_features(spec, frame.columns),
        rows_total=rows_total,
        rows_dropped_missing_label=dropped,
        path=path,
        sha256=digest,
    )
    return data, outcome


def outcome_rows(
    spec: AuditSpec, frame: pd.DataFrame, file: str
) -> tuple[pd.DataFrame, TaskOutcome, int]:
    """The rows kept (a missing outcome is an error, or dropped with drop_missing_label),
    their outcome columns, and how many were dropped.

    Row-wise only, so the streaming engine runs it on every batch; what needs every
    row (an event somewhere, the horizon within follow-up) is :func:`check_whole_outcome`.
    """
    task = spec.task
    outcome_cols = [spec.label.column] + ([task.event] if task.event else [])
    missing = frame[outcome_cols].isna().any(axis=1).to_numpy()
    if missing.any():
        if not spec.drop_missing_label:
            column = next(c for c in outcome_cols if frame[c].isna().any())
            path_key = "$.label.event" if column == task.event else "$.label.column"
            if task.id == "survival" and column == spec.label.column:
                path_key = "$.label.time"
            raise DataError(
                MISSING_VALUES.format(
                    file=file,
                    column=column,
                    path=path_key,
                    count=int(frame[column].isna().sum()),
                    rows=row_numbers(frame.index, frame[column].isna().to_numpy()),
                )
            )
        frame = frame.loc[~missing]
    dropped = int(missing.sum())
    if task.id == "survival":
        outcome = _survival(spec, frame, file)
    elif task.id == "multiclass":
        outcome = _multiclass(spec, frame, file)
    else:
        y = _numbers(frame, spec.label.column, "$.label.column", file, "a number per patient")
        outcome = TaskOutcome({"label": y})
    return frame, outcome, dropped


@dataclass
class OutcomeSummary:
    """What the whole-data outcome checks need, mergeable across batches (survival:
    whether any row had the event, the event values seen, the longest follow-up)."""

    any_event: bool = False
    event_values: set[str] = field(default_factory=set)
    longest: float = -np.inf
    rows: int = 0

    @classmethod
    def of(cls, spec: AuditSpec, frame: pd.DataFrame, outcome: TaskOutcome) -> OutcomeSummary:
        summary = cls(rows=len(frame))
        if spec.task.id == "survival" and len(frame):
            summary.any_event = bool(outcome.columns["event"].any())
            summary.event_values = {str(group_label(v)) for v in frame[str(spec.task.event)]}
            summary.longest = float(outcome.columns["time"].max())
        return summary

    def add(self, other: OutcomeSummary) -> None:
        self.any_event |= other.any_event
        if len(self.event_values) < 100:
            self.event_values |= other.event_values
        self.longest = max(self.longest, other.longest)
        self.rows += other.rows


def check_whole_outcome(spec: AuditSpec, summary: OutcomeSummary, file: str) -> None:
    """Checks over every row: a survival outcome has the event somewhere and follow-up
    reaching the horizon."""
    task = spec.task
    if task.id != "survival" or summary.rows == 0:
        return
    if not summary.any_event:
        values = ", ".join(sorted(summary.event_values)[:10])
        raise DataError(
            NO_EVENT_VALUE.format(
                file=file, column=str(task.event), value=task.event_value, values=values
            )
        )
    horizon = float(task.horizon or 0.0)
    if horizon > summary.longest:
        raise DataError(
            HORIZON_BEYOND.format(
                file=file, horizon=horizon, longest=summary.longest, column=spec.label.column
            )
        )


def _spec_name(spec: AuditSpec) -> str:
    return display_path(spec.source) if spec.source is not None else "the spec"


def _survival(spec: AuditSpec, frame: pd.DataFrame, file: str) -> TaskOutcome:
    task = spec.task
    time_col, event_col = spec.label.column, str(task.event)
    time = _numbers(frame, time_col, "$.label.time", file, "a follow-up time >= 0")
    negative = time < 0
    if negative.any():
        raise DataError(
            NEGATIVE_TIME.format(
                file=file,
                column=time_col,
                count=int(negative.sum()),
                rows=row_numbers(frame.index, negative),
            )
        )
    labels = frame[event_col].map(group_label).to_numpy()
    event = labels == group_label(task.event_value)
    horizon = float(task.horizon or 0.0)
    return TaskOutcome(
        {"time": time, "event": event.astype(np.float64)},
        event_by_horizon=(event & (time <= horizon)).astype(np.int8),
    )


def _multiclass(spec: AuditSpec, frame: pd.DataFrame, file: str) -> TaskOutcome:
    classes = [group_label(c) for c in spec.task.classes]
    labels = frame[spec.label.column].map(group_label).to_numpy()
    index = {c: i for i, c in enumerate(classes)}
    codes = np.array([index.get(v, -1) for v in labels])
    bad = codes < 0
    if bad.any():
        raise DataError(
            UNKNOWN_CLASSES.format(
                file=file,
                column=spec.label.column,
                count=int(bad.sum()),
                classes=", ".join(classes),
                values=", ".join(sorted({str(v) for v in labels[bad]})[:10]),
                rows=row_numbers(frame.index, bad),
            )
        )
    return TaskOutcome({"label": codes.astype(np.float64)})
