"""Named groups: cohorts the spec defines by conditions, measured as attributes.

A named group (often a cohort the discovery found, added from the dashboard) becomes
an attribute of its own with the groups ``in`` and ``out``, so every table, rule and
the privacy plan treat it as they treat any sensitive attribute.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.load.data import LoadedData
from auditor.load.spec import AuditSpec, NamedGroup, display_path, group_label

IN_GROUP = "in"
OUT_GROUP = "out"
NAMED_NOT_NUMERIC = (
    "{spec}: $.named_groups[{i}].where[{j}]: {op} needs a number, and column {column!r} "
    "or the value {value!r} is not numeric"
)


def _spec_name(spec: AuditSpec) -> str:
    return display_path(spec.source) if spec.source is not None else "the spec"


def group_rows(
    group: NamedGroup, frame: pd.DataFrame, *, index: int, spec: AuditSpec, batch: bool = False
) -> np.ndarray:
    """True for the rows of the named group (missing values are never in it).

    ``batch``: the frame is one batch of a stream, so a column with no value in this
    batch is not (yet) evidence that it is not numeric.
    """
    rows = np.ones(len(frame), dtype=bool)
    for j, cond in enumerate(group.where):
        column, op, value = cond["column"], cond["op"], cond["value"]
        series = frame[column]
        if op in ("==", "!="):
            labels = series.map(lambda v: None if pd.isna(v) else group_label(v))
            hit = (labels == group_label(value)).to_numpy(dtype=bool)
            present = labels.notna().to_numpy(dtype=bool)
            rows &= hit if op == "==" else (present & ~hit)
            continue
        x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        not_numeric = np.isnan(x).all() and not (batch and series.isna().all())
        if isinstance(value, bool) or not isinstance(value, int | float) or not_numeric:
            raise DataError(
                NAMED_NOT_NUMERIC.format(
                    spec=_spec_name(spec), i=index, j=j, op=op, column=column, value=value
                )
            )
        with np.errstate(invalid="ignore"):
            rows &= {"<": x < value, "<=": x <= value, ">": x > value, ">=": x >= value}[op]
    return rows


def with_named_groups(data: LoadedData, spec: AuditSpec) -> LoadedData:
    """The data with one extra sensitive column per named group (``in`` / ``out``)."""
    if not spec.named_groups:
        return data
    sensitive = data.sensitive.copy()
    for i, group in enumerate(spec.named_groups):
        rows = group_rows(group, data.frame, index=i, spec=spec)
        sensitive[group.name] = pd.Categorical(
            np.where(rows, IN_GROUP, OUT_GROUP), categories=[IN_GROUP, OUT_GROUP]
        )
    return dataclasses.replace(data, sensitive=sensitive)


def named_group_columns(spec: AuditSpec, frame: pd.DataFrame) -> dict[str, pd.Categorical]:
    """Each named group's ``in`` / ``out`` per row of one batch (streaming engine): a
    row-wise condition, so the groups are the same however the data is cut."""
    return {
        group.name: pd.Categorical(
            np.where(group_rows(group, frame, index=i, spec=spec, batch=True), IN_GROUP, OUT_GROUP),
            categories=[IN_GROUP, OUT_GROUP],
        )
        for i, group in enumerate(spec.named_groups)
    }


def named_group_columns_used(spec: AuditSpec) -> list[str]:
    """The data columns the named groups' conditions read."""
    return [str(c["column"]) for g in spec.named_groups for c in g.where]
