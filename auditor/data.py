"""Load the audit cohort (CSV or Parquet) and check it against the spec.

Why the checks are strict: a silently dropped row or a misread label changes
every subgroup metric downstream, so anything ambiguous stops here with a
message that names the file, the column and the first offending data rows
(row 1 is the first row after the header).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.hashing import sha256_path
from auditor.spec import MISSING_GROUP, AuditSpec, display_path, group_label

__all__ = [
    "DATA_SUFFIXES",
    "LoadedData",
    "check_columns",
    "data_format",
    "load_data",
    "read_columns",
    "resolve_features",
    "row_numbers",
]

DATA_SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
ROWS_SHOWN = 5
COLUMNS_SHOWN = 30

DATA_NOT_FOUND = "{file}: data file not found (named by $.data in {spec})"
DATA_UNSUPPORTED = (
    "{file}: unsupported data format {suffix!r}; expected a CSV (.csv, .csv.gz) "
    "or Parquet (.parquet, .pq) file"
)
PARQUET_UNREADABLE = (
    "{file}: cannot read the Parquet file; it is corrupt, truncated or not Parquet ({reason})"
)
CSV_UNREADABLE = "{file}: cannot read the CSV file ({reason})"
DATA_EMPTY = "{file}: the data file has no rows; expected a header and one row per patient"
COLUMN_MISSING = (
    "{file}: column {column!r} (named by {path} in {spec}) is not in the data{hint}; "
    "columns in the file: {columns}"
)
LABEL_MISSING = (
    "{file}: label column {column!r} has {count} row(s) with no value (rows {rows}); "
    "fill them in, or set drop_missing_label: true in the spec to drop them "
    "(the report records how many)"
)
LABEL_ALL_MISSING = (
    "{file}: label column {column!r} has no value in any row; expected {positive} "
    "for the event and one other value"
)
LABEL_OTHER_VALUES = (
    "{file}: label column {column!r} has {count} row(s) whose value is neither the "
    "positive value {positive} nor the negative value {negative}: {values} (rows {rows}); "
    "expected exactly two label values"
)
LABEL_NO_POSITIVE = (
    "{file}: label column {column!r} never has the positive value {positive}; "
    "values found: {values}; set label.positive to the value that means the event happened"
)


@dataclass(frozen=True)
class LoadedData:
    """The cohort as read, with the label mapped to 0/1 and sensitive groups as strings.

    ``frame.index`` is the 0-based row position in the file (gaps where rows were
    dropped), so ``index + 1`` is the data row number users see in messages.
    """

    frame: pd.DataFrame
    labels: np.ndarray
    sensitive: pd.DataFrame
    features: tuple[str, ...]
    rows_total: int
    rows_dropped_missing_label: int
    path: Path
    sha256: str


def _spec_name(spec: AuditSpec) -> str:
    return display_path(spec.source) if spec.source is not None else "the spec"


def data_format(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name; DataError for anything else."""
    name = path.name.lower()
    for suffix, kind in DATA_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    suffix = path.suffix or "(none)"
    raise DataError(DATA_UNSUPPORTED.format(file=display_path(path), suffix=suffix))


def _parquet_error(path: Path, exc: Exception) -> DataError:
    # pyarrow prefixes "Could not open Parquet input source '<path>': "; the file is named already.
    reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(exc))
    return DataError(PARQUET_UNREADABLE.format(file=display_path(path), reason=reason))


def read_columns(path: Path) -> list[str]:
    """Column names only, cheaply: the Parquet schema or the CSV header row."""
    path = Path(path)
    kind = data_format(path)
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.ParquetDataset(path).schema if path.is_dir() else pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(path, exc) from exc
        return [str(name) for name in schema.names if not str(name).startswith("__index_level")]
    try:
        header = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError as exc:
        raise DataError(DATA_EMPTY.format(file=display_path(path))) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(CSV_UNREADABLE.format(file=display_path(path), reason=exc)) from exc
    return [str(c) for c in header.columns]


def _read_frame(path: Path) -> pd.DataFrame:
    if data_format(path) == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(path, exc) from exc
        return frame.reset_index(drop=True)
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(DATA_EMPTY.format(file=display_path(path))) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(CSV_UNREADABLE.format(file=display_path(path), reason=exc)) from exc


def named_columns(spec: AuditSpec) -> list[tuple[str, str]]:
    """Every column the spec names, as ``(json_path, column)``, first mention first."""
    named: list[tuple[str, str]] = [("$.label.column", spec.label.column)]
    if spec.model.score_column is not None:
        named.append(("$.model.score_column", spec.model.score_column))
    named += [(f"$.sensitive[{i}]", c) for i, c in enumerate(spec.sensitive)]
    named += [(f"$.features[{i}]", c) for i, c in enumerate(spec.features or ())]
    for i, view in enumerate(spec.intersections):
        named += [(f"$.intersections[{i}][{j}]", c) for j, c in enumerate(view)]
    named += [(f"$.reference_groups.{c}", c) for c in spec.reference_groups]
    seen: set[str] = set()
    unique = []
    for path, column in named:
        if column not in seen:
            seen.add(column)
            unique.append((path, column))
    return unique


def _close_match(column: str, columns: Sequence[str]) -> str:
    lower = {c.lower(): c for c in columns}
    if column.lower() in lower:
        return f"; did you mean {lower[column.lower()]!r}?"
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _list_columns(columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:COLUMNS_SHOWN])
    if len(columns) > COLUMNS_SHOWN:
        shown += f", ... ({len(columns) - COLUMNS_SHOWN} more)"
    return shown or "(none)"


def check_columns(spec: AuditSpec, columns: Sequence[str]) -> None:
    """Raise DataError (one line per missing column) unless every named column exists."""
    present = set(columns)
    lines = [
        COLUMN_MISSING.format(
            file=display_path(spec.data),
            column=column,
            path=path,
            spec=_spec_name(spec),
            hint=_close_match(column, columns),
            columns=_list_columns(list(columns)),
        )
        for path, column in named_columns(spec)
        if column not in present
    ]
    if lines:
        raise DataError("\n".join(lines))


def resolve_features(spec: AuditSpec, columns: Iterable[str]) -> tuple[str, ...]:
    """The spec's features, or every column but the label, sensitive and score columns."""
    if spec.features is not None:
        return tuple(spec.features)
    excluded = {spec.label.column, *spec.sensitive}
    if spec.model.score_column is not None:
        excluded.add(spec.model.score_column)
    return tuple(c for c in columns if c not in excluded)


def row_numbers(index: pd.Index, mask: np.ndarray) -> str:
    """First data row numbers (1-based) where ``mask`` holds, for messages."""
    positions = np.flatnonzero(mask)
    if pd.api.types.is_integer_dtype(index.dtype):
        numbers = np.asarray(index)[positions[:ROWS_SHOWN]] + 1
    else:
        numbers = positions[:ROWS_SHOWN] + 1
    text = ", ".join(str(int(n)) for n in numbers)
    return text + (", ..." if len(positions) > ROWS_SHOWN else "")


def _show(value: Any) -> str:
    """A data value as users wrote it: 1 for 1 or 1.0, 'yes' quoted."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value) if isinstance(value, str) else str(value)


def _factorize(series: pd.Series) -> tuple[np.ndarray, list[str], list[Any]]:
    """Codes (-1 for missing), group_label strings and original values of the uniques."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    originals = list(uniques)
    return codes, [group_label(u) for u in originals], originals


def _map_labels(spec: AuditSpec, frame: pd.DataFrame, file: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels int8 over all rows, -1 where missing; missing mask).

    Works on the factorized codes, so comparing ``positive`` costs one pass over
    the distinct values, not over the rows.
    """
    column = spec.label.column
    codes, keys, originals = _factorize(frame[column])
    missing = codes == -1
    if missing.all():
        raise DataError(
            LABEL_ALL_MISSING.format(file=file, column=column, positive=_show(spec.label.positive))
        )
    positive = group_label(spec.label.positive)
    positive_codes = [i for i, key in enumerate(keys) if key == positive]
    if not positive_codes:
        values = ", ".join(sorted({_show(v) for v in originals}))
        raise DataError(
            LABEL_NO_POSITIVE.format(
                file=file, column=column, positive=_show(spec.label.positive), values=values
            )
        )
    counts = np.bincount(codes[~missing], minlength=len(keys))
    other_codes = [i for i in range(len(keys)) if i not in positive_codes]
    if spec.label.negative is not None:
        negative = group_label(spec.label.negative)
        negative_codes = [i for i in other_codes if keys[i] == negative]
        negative_shown = _show(spec.label.negative)
    elif other_codes:
        # the most frequent other value is the negative one (ties: first in sorted order)
        top = max(counts[i] for i in other_codes)
        negative = sorted(keys[i] for i in other_codes if counts[i] == top)[0]
        negative_codes = [i for i in other_codes if keys[i] == negative]
        negative_shown = _show(originals[negative_codes[0]])
    else:
        negative_codes, negative_shown = [], "(none found)"
    third_codes = [i for i in other_codes if i not in negative_codes]
    third = np.isin(codes, third_codes)
    if third.any():
        shown = sorted({_show(originals[i]) for i in third_codes})
        raise DataError(
            LABEL_OTHER_VALUES.format(
                file=file,
                column=column,
                count=int(third.sum()),
                positive=_show(spec.label.positive),
                negative=negative_shown,
                values=", ".join(shown[:ROWS_SHOWN]) + (", ..." if len(shown) > ROWS_SHOWN else ""),
                rows=row_numbers(frame.index, third),
            )
        )
    labels = np.isin(codes, positive_codes).astype(np.int8)
    labels[missing] = -1
    return labels, missing


def _sensitive_groups(series: pd.Series) -> pd.Categorical:
    """Categorical of group names; missing becomes the explicit group ``(missing)``.

    Categories keep the order of a categorical source column, else sorted order.
    """
    codes, keys, _ = _factorize(series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        seen = set(keys)
        order = [group_label(c) for c in series.dtype.categories if group_label(c) in seen]
    else:
        order = sorted(set(keys))
    position = {name: i for i, name in enumerate(order)}
    if (codes == -1).any():
        position[MISSING_GROUP] = len(order)
        order.append(MISSING_GROUP)
    # map each distinct value (and -1, via the trailing entry) to its category code
    remap = np.array([position[k] for k in keys] + [position.get(MISSING_GROUP, -1)])
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(order, dtype="str"))


def load_data(spec: AuditSpec) -> LoadedData:
    """Read ``spec.data``, check the named columns and map the label through ``positive``.

    Raises DataError for a missing, unsupported, corrupt or empty file, a missing
    column, a missing label (unless ``drop_missing_label``) and a third label value.
    """
    path = Path(spec.data)
    file = display_path(path)
    if not path.exists():
        raise DataError(DATA_NOT_FOUND.format(file=file, spec=_spec_name(spec)))
    data_format(path)
    frame = _read_frame(path)
    if len(frame) == 0:
        raise DataError(DATA_EMPTY.format(file=file))
    frame.columns = [str(c) for c in frame.columns]
    check_columns(spec, list(frame.columns))
    rows_total = len(frame)

    labels, missing = _map_labels(spec, frame, file)
    dropped = int(missing.sum())
    if dropped:
        if not spec.drop_missing_label:
            raise DataError(
                LABEL_MISSING.format(
                    file=file,
                    column=spec.label.column,
                    count=dropped,
                    rows=row_numbers(frame.index, missing),
                )
            )
        frame = frame.loc[~missing]
        labels = labels[~missing]

    sensitive = pd.DataFrame(
        {name: _sensitive_groups(frame[name]) for name in spec.sensitive}, index=frame.index
    )
    return LoadedData(
        frame=frame,
        labels=labels.astype(np.int8),
        sensitive=sensitive,
        features=resolve_features(spec, frame.columns),
        rows_total=rows_total,
        rows_dropped_missing_label=dropped,
        path=path,
        sha256=sha256_path(path),
    )
