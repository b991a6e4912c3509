"""The audit spec: what to audit, as typed, validated data.

The YAML/JSON keys are a public contract (see ``auditor/schema/spec.schema.json``).
``load_spec`` validates against the schema first, then resolves relative paths
against the spec's own folder and applies cross-field rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_POLICY = "clinical-default"
DEFAULT_MIN_CELL_SIZE = 11
DEFAULT_BOOTSTRAP = 1000
MAX_BOOTSTRAP = 100_000
"""Most bootstrap replicates a spec may ask for (the spec schema's maximum)."""
MAX_SEED = 2**32 - 1
"""Largest seed numpy's legacy generators accept (the spec schema's maximum)."""
DEFAULT_BINS = 2000
DEFAULT_EXPLAIN_SAMPLE = 2000
MISSING_GROUP = "(missing)"
"""Group name of a missing sensitive value: an explicit group, never a dropped row."""


@dataclass(frozen=True)
class LabelSpec:
    column: str
    """Outcome column in the data."""
    positive: Any = 1
    """Value of ``column`` that means the event happened; every other value must be ``negative``."""
    negative: Any | None = None
    """Optional explicit negative value; when omitted, the label must be binary."""


@dataclass(frozen=True)
class TaskSpec:
    """The ``task:`` key and the task's own label and model keys (binary: nothing more)."""

    id: str = "binary"
    """``binary`` (default), ``survival``, ``multiclass`` or ``regression``."""
    time: str | None = None
    """survival: follow-up time column (``label.time``)."""
    event: str | None = None
    """survival: event indicator column (``label.event``)."""
    event_value: Any = 1
    """survival: value of ``event`` meaning the event happened."""
    horizon: float | None = None
    """survival: the time at which risk and time-dependent metrics are judged."""
    classes: tuple[Any, ...] = ()
    """multiclass: every class, in order (most acute first when ``ordered``)."""
    ordered: bool = False
    """multiclass: the classes form an ordinal (triage) scale."""
    score_columns: tuple[tuple[Any, str], ...] = ()
    """multiclass: (class, probability column) pairs, in ``classes`` order."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the task reads besides ``label.column`` and ``model.score_column``."""
        cols = [c for c in (self.event,) if c is not None]
        cols += [c for _, c in self.score_columns]
        return tuple(cols)

    def settings(self) -> dict[str, Any]:
        """What the task's metrics are measured with (kept in the report)."""
        if self.id == "survival":
            return {"horizon": self.horizon}
        if self.id == "multiclass":
            return {"classes": [str(c) for c in self.classes], "ordered": self.ordered}
        return {}


@dataclass(frozen=True)
class ModelSpec:
    score_column: str | None = None
    """Column of precomputed probabilities of the positive class."""
    path: Path | None = None
    """Model file/folder (.skops, .onnx, MLflow folder, .pkl/.joblib), resolved to absolute."""
    sha256: str | None = None
    """Pinned hash; required for pickle/joblib, verified for any format when given."""
    trusted_types: tuple[str, ...] = ()
    """skops types trusted beyond skops' defaults (written by the user, never from the file)."""
    name: str | None = None
    """Model name for reports and the registry (default: the spec's name)."""
    version: str | None = None
    """Model version/release for reports and the registry."""
    output: str = "probability"
    """``probability`` (every metric) or ``label`` (0/1 class predictions: threshold
    metrics only)."""


@dataclass(frozen=True)
class ExplainSpec:
    enabled: bool = True
    sample_size: int = DEFAULT_EXPLAIN_SAMPLE
    """Row budget of the seeded, stratified SHAP sample."""
    background_size: int = 100
    top_k: int = 5
    proxy_threshold: float | None = None
    """Features whose proxy_strength (2*AUROC-1) is above this are strong proxies; None: the
    policies' proxy bound (one threshold for the table and the rule), else 0.5."""


DEFAULT_MAX_GROUPS = 50
DEFAULT_ROUNDING = 3
ENGINE_KINDS = ("auto", "pandas", "streaming", "spark")
DEFAULT_BATCH_ROWS = 1_000_000
DEFAULT_SAMPLE_ROWS = 100_000
DEFAULT_MEMORY_BUDGET_MB = 1024
DEFAULT_SCORE_RESOLUTION = 1e-5


@dataclass(frozen=True)
class EngineSpec:
    """The ``engine:`` block: where rows are read and reduced (see docs/scale.md)."""

    kind: str = "auto"
    """``pandas`` (all rows in memory), ``streaming`` (batches from Parquet/CSV files),
    ``spark`` (PySpark); ``auto``: streaming for a folder or glob, else pandas."""
    batch_rows: int = DEFAULT_BATCH_ROWS
    """Rows read, scored and reduced at a time when streaming."""
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    """Size of the stratified sample kept for explanations and proxies (streaming, spark)."""
    memory_budget_mb: int = DEFAULT_MEMORY_BUDGET_MB
    """Exact score tables up to this size; beyond it scores are binned."""
    score_resolution: float = DEFAULT_SCORE_RESOLUTION
    """Width of a score bin once binning is needed (thresholds are always bin edges)."""
    master: str | None = None
    """Spark master URL (e.g. ``local[2]``); None: the session's own (spark-submit)."""
    table: str | None = None
    """Spark: read this table (``db.name``) instead of the ``data`` path."""
    format: str = "parquet"
    """Spark: ``parquet`` or ``delta`` for the ``data`` path."""
    conf: dict[str, str] = field(default_factory=dict)
    """Spark configuration (``spark.executor.memory`` ...)."""


@dataclass(frozen=True)
class PrivacySpec:
    """The ``privacy:`` block: what may leave the process, and how coarsely."""

    min_cell_size: int = DEFAULT_MIN_CELL_SIZE
    """Counts from 1 to ``min_cell_size - 1`` are never published or derivable."""
    complementary: bool = True
    """Hide more cells so that hidden ones cannot be recovered by subtraction; false
    publishes primary suppression only and stamps every page as internal."""
    rounding: int = DEFAULT_ROUNDING
    """Decimals of a figure published while the counts it is built from are withheld
    (for example a group's AUROC when its event count is hidden)."""
    max_groups: int = DEFAULT_MAX_GROUPS
    """A sensitive attribute with more groups is refused as identifier-like."""


DISCOVER_METRICS = ("auroc", "fnr", "oe_ratio")
"""Metrics the cohort search can test (binary task): one-sided tests exist for these."""
DISCOVER_TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": DISCOVER_METRICS,
    "survival": ("c_index", "oe_ratio_t", "sensitivity_t"),
    "multiclass": ("under_triage_rate", "over_triage_rate", "accuracy"),
    "regression": ("mae", "mean_error"),
}
"""Metrics each task's cohort search can test (auditor.discover.task_tests)."""


def default_discover_metrics(task: str, ordered: bool = False) -> tuple[str, ...]:
    """What a ``discover:`` block without ``metrics`` searches, per task: where the model
    fails patients clinically (an ordinal multiclass scale: under-triage first)."""
    if task == "multiclass":
        return ("under_triage_rate", "accuracy") if ordered else ("accuracy",)
    return DISCOVER_TASK_METRICS[task]


@dataclass(frozen=True)
class DiscoverSpec:
    """The ``discover:`` block: search for underperforming cohorts nobody named.

    Defaults are the issue's: model features plus sensitive attributes, AUROC, FNR at
    the threshold and calibration O/E, conjunctions up to 3, cohorts of at least 100
    patients and 20 with the outcome, false discovery rate 5% (Benjamini-Yekutieli).
    """

    features: tuple[str, ...] | None = None
    """Columns to search; None: the model's features plus the sensitive attributes."""
    metrics: tuple[str, ...] = DISCOVER_METRICS
    max_depth: int = 3
    """Most conditions joined by "and" in one cohort."""
    min_size: int = 100
    """Fewest patients of a cohort, in each half (never below the privacy floor)."""
    min_events: int = 20
    """Fewest patients with the outcome of a cohort, in each half."""
    fdr: float = 0.05
    correction: str = "by"
    """``by`` (Benjamini-Yekutieli, any dependence) or ``bh`` (Benjamini-Hochberg)."""
    bins: int = 4
    """Quantile bins of a numeric feature (edges rounded to readable numbers)."""
    max_candidates: int = 50
    """Most (cohort, metric) hypotheses carried from the search half to confirmation."""
    beam: int = 20
    """Cohorts of one depth extended by one more condition."""
    seed: int | None = None
    """Seed of the search/confirm split; None: the spec's seed."""


@dataclass(frozen=True)
class NamedGroup:
    """A cohort the spec names (often one discovery found), measured as an attribute.

    The audit adds an attribute ``name`` with the groups ``in`` and ``out`` and
    measures it like any sensitive attribute, under the same privacy plan.
    """

    name: str
    where: tuple[dict[str, Any], ...]
    """Conditions joined by "and": ``{column, op, value}`` with op one of
    ``==, !=, <, <=, >, >=``."""
    description: str | None = None


@dataclass(frozen=True)
class Waiver:
    """A committee-approved exception to one rule for one group (or all), until a date."""

    rule: str
    """Rule id, or ``policy_id/rule_id``."""
    group: tuple[str, ...] | None
    """Group values (one per attribute); ``None`` for ``all``."""
    reason: str
    approved_by: str
    expires: str
    """Last day it applies, ``YYYY-MM-DD``."""
    attribute: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AuditSpec:
    name: str
    data: Path
    label: LabelSpec
    model: ModelSpec
    sensitive: tuple[str, ...]
    features: tuple[str, ...] | None = None
    """None means: every column but label, sensitive and score columns."""
    intersections: tuple[tuple[str, ...], ...] = ()
    reference_groups: dict[str, str] = field(default_factory=dict)
    thresholds: tuple[float, ...] = (0.5,)
    """Decision thresholds; the first is the primary one. ``score >= t`` predicts positive."""
    policies: tuple[str, ...] = (DEFAULT_POLICY,)
    """Shipped pack names or resolved paths."""
    seed: int = 0
    bootstrap: int = DEFAULT_BOOTSTRAP
    bootstrap_bins: int = DEFAULT_BINS
    cluster: str | None = None
    """Patient id column: the bootstrap resamples patients and sizes count patients."""
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE
    """The privacy floor (``privacy.min_cell_size``, or the top-level key)."""
    privacy: PrivacySpec = field(default_factory=PrivacySpec)
    drop_missing_label: bool = False
    model_card: dict[str, Any] = field(default_factory=dict)
    explain: ExplainSpec = field(default_factory=ExplainSpec)
    engine: EngineSpec = field(default_factory=EngineSpec)
    reference_shares: dict[str, dict[str, float]] = field(default_factory=dict)
    """Population shares per attribute and group (e.g. census) for representation checks."""
    undecided: str | None = None
    """Overrides the policies' ``undecided`` (``warn`` or ``block``) when set."""
    waivers: tuple[Waiver, ...] = ()
    discover: DiscoverSpec | None = None
    """The cohort search; None when the spec has no ``discover:`` block."""
    named_groups: tuple[NamedGroup, ...] = ()
    """Cohorts named in the spec, measured as extra attributes (groups ``in``/``out``)."""
    source: Path | None = None
    """The spec file itself (None when built in code)."""
    raw: dict[str, Any] = field(default_factory=dict)
    """The spec as given, for the report's provenance."""
    source_sha256: str | None = None
    """SHA-256 of the spec file (None when built in code), for the report's provenance."""
    task: TaskSpec = field(default_factory=TaskSpec)
    """What kind of model is audited (``task:``); binary by default."""

    @property
    def threshold(self) -> float:
        return self.thresholds[0]


def group_label(value: Any) -> str:
    """The one string form of a data value used as a group name or label key.

    Data and spec disagree on types (CSV reads ``1`` as int, a column with
    gaps reads ``1.0`` as float, YAML may give ``"1"``); comparing these
    strings makes ``1``, ``1.0``, ``np.int64(1)`` and ``"1"`` the same group.
    Missing values are not handled here (see :data:`MISSING_GROUP`).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return str(value)
    return str(value)


def display_path(path: str | Path) -> str:
    """A path as shown in messages: relative to the working folder when inside it, else as is."""
    path = Path(path)
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return str(path)
    return str(path)
