"""Refuse identifier-like sensitive attributes before anything heavy runs.

A patient id (or a postcode, a timestamp) named as a sensitive attribute by mistake
would publish one "group" per patient: every name in the report identifies a
person, and measuring tens of thousands of groups exhausts memory long before the
report is written. So a sensitive attribute is refused (exit 2) when it has more
groups than ``privacy.max_groups`` (default 50), or when most rows fall in groups
below the small-cell floor (their names would be all the report could show).

The check counts group sizes with one ``bincount`` over integer codes: memory is
bounded by the number of rows and distinct values of one column, and it runs right
after the data are read, before the model is loaded, scores are computed or
anything is reduced.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from auditor.errors import DataError

DEFAULT_MAX_GROUPS = 50

TOO_MANY_GROUPS = (
    "{file}: sensitive attribute {column!r} has {count:,} distinct values, more than "
    "privacy.max_groups ({limit}); it looks like an identifier, not a group: every group "
    "name would point at a few patients. Name a coarser attribute (for example an age band "
    "instead of a date of birth), or raise privacy.max_groups if {count:,} groups are intended."
)
MOSTLY_SMALL_GROUPS = (
    "{file}: sensitive attribute {column!r} has {count:,} distinct values and {small:,} of "
    "{rows:,} rows ({share:.0%}) are in groups of fewer than {m} patients; it looks like an "
    "identifier, not a group: most patients could only be shown by a group name. Name a "
    "coarser attribute, or merge its rare values."
)
MAX_GROUPS_INVALID = "privacy.max_groups must be a whole number of at least 2, got {value!r}."


def check_max_groups(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(MAX_GROUPS_INVALID.format(value=value))
    return value


def group_sizes(column: pd.Series) -> np.ndarray:
    """Rows per distinct value (missing counted as one group), without keeping the values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(column.cat.codes, dtype=np.int64)
    else:
        codes, _ = pd.factorize(column, use_na_sentinel=True)
    codes = np.where(codes < 0, codes.max(initial=-1) + 1, codes)
    sizes = np.bincount(codes)
    return sizes[sizes > 0]


def refuse_identifier_like(
    sensitive: pd.DataFrame | Mapping[str, pd.Series],
    *,
    min_cell_size: int,
    max_groups: int = DEFAULT_MAX_GROUPS,
    file: str = "the data",
) -> None:
    """Raise DataError naming the first sensitive column that looks like an identifier."""
    refuse_identifier_like_sizes(
        {str(name): group_sizes(column) for name, column in sensitive.items()},
        min_cell_size=min_cell_size,
        max_groups=max_groups,
        file=file,
    )


def refuse_identifier_like_sizes(
    group_rows: Mapping[str, np.ndarray],
    *,
    min_cell_size: int,
    max_groups: int = DEFAULT_MAX_GROUPS,
    file: str = "the data",
) -> None:
    """:func:`refuse_identifier_like` from each attribute's group sizes (streamed data)."""
    limit = check_max_groups(max_groups)
    for name, sizes in group_rows.items():
        sizes = np.asarray(sizes)
        sizes = sizes[sizes > 0]
        rows = int(sizes.sum())
        if sizes.size > limit:
            raise DataError(
                TOO_MANY_GROUPS.format(file=file, column=str(name), count=sizes.size, limit=limit)
            )
        small = int(sizes[sizes < min_cell_size].sum())
        if rows and small * 2 > rows:
            raise DataError(
                MOSTLY_SMALL_GROUPS.format(
                    file=file,
                    column=str(name),
                    count=sizes.size,
                    small=small,
                    rows=rows,
                    share=small / rows,
                    m=min_cell_size,
                )
            )
