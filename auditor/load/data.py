"""Load the audit cohort (CSV or Parquet) and check it against the spec.

Why the checks are strict: a silently dropped row or a misread label changes
every subgroup metric downstream, so anything ambiguous stops here with a
message that names the file, the column and the first offending data rows
(row 1 is the first row after the header).
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import AuditInputError, DataError
from auditor.load.hashing import open_regular_file, read_regular_file, sha256_bytes
from auditor.load.spec import MISSING_GROUP, AuditSpec, display_path, group_label

__all__ = [
    "DATA_SUFFIXES",
    "ENV_MAX_DATA_BYTES",
    "ENV_MAX_ROWS",
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
ENV_MAX_DATA_BYTES = "AUDITOR_MAX_DATA_BYTES"
"""Environment variable: most bytes a data file may hold once decompressed."""
ENV_MAX_ROWS = "AUDITOR_MAX_ROWS"
"""Environment variable: most data rows a data file may hold."""
DEFAULT_MAX_DATA_BYTES = 1024**3
DEFAULT_MAX_ROWS = 10_000_000
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
DATA_TOO_LARGE = (
    "{file}: the data is larger than {limit:,} bytes once decompressed, the limit set by "
    "{setting}; raise it if a file this large is expected"
)
DATA_TOO_MANY_ROWS = (
    "{file}: the data has more than {limit:,} rows, the limit set by {setting}; raise it "
    "if a file this large is expected"
)
LIMIT_INVALID = "{setting}: {value!r} is not a whole number of at least 1"
DUPLICATE_COLUMNS = (
    "{file}: column name {column!r} appears {count} times in the header (columns {positions}); "
    "expected each column name once"
)
RAGGED_ROW = (
    "{file}: data row {row} has {found} field(s) but the header has {expected}; "
    "expected the same number of fields in every row"
)
NESTED_VALUES = (
    "{file}: column {column!r} (named by {path} in {spec}) holds {kind} values in {count} "
    "row(s) (rows {rows}); expected one plain value (text, number or true/false) per row"
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


def data_limit(setting: str, default: int) -> int:
    """A size limit from the environment (``setting``), else ``default``."""
    text = os.environ.get(setting, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise AuditInputError(LIMIT_INVALID.format(setting=setting, value=text))
    return value


def _check_header(path: Path, names: Sequence[str]) -> None:
    seen: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        seen.setdefault(str(name), []).append(position)
    for name, positions in seen.items():
        if len(positions) > 1:
            raise DataError(
                DUPLICATE_COLUMNS.format(
                    file=display_path(path),
                    column=name,
                    count=len(positions),
                    positions=", ".join(str(p) for p in positions),
                )
            )


def _csv_header(names: Sequence[str]) -> list[str]:
    """Header cells as pandas names them (an empty cell is ``Unnamed: i``)."""
    return [name if name else f"Unnamed: {i}" for i, name in enumerate(names)]


def read_columns(path: Path) -> list[str]:
    """Column names only, cheaply: the Parquet schema or the CSV header row.

    Refuses anything but a regular file and a header naming a column twice.
    """
    path = Path(path)
    kind = data_format(path)
    file = display_path(path)
    with open_regular_file(path, error=DataError, file=file) as handle:
        if kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                names = [str(n) for n in pq.read_schema(handle).names]
            except (pa.ArrowException, OSError) as exc:
                raise _parquet_error(path, exc) from exc
            names = [n for n in names if not n.startswith("__index_level")]
        else:
            raw: Any = gzip.GzipFile(fileobj=handle) if _gzipped(path) else handle
            try:
                header = next(
                    csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")), None
                )
            except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
                raise DataError(CSV_UNREADABLE.format(file=file, reason=exc)) from exc
            if not header:
                raise DataError(DATA_EMPTY.format(file=file))
            names = _csv_header(header)
    _check_header(path, names)
    return names


def _gzipped(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _gunzip(path: Path, data: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes; a bomb stops at the limit, not at the disk."""
    file = display_path(path)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            out = handle.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(CSV_UNREADABLE.format(file=file, reason=exc)) from exc
    if len(out) > limit:
        raise DataError(DATA_TOO_LARGE.format(file=file, limit=limit, setting=ENV_MAX_DATA_BYTES))
    return out


def _check_csv_rows(path: Path, text: str, max_rows: int) -> None:
    """Every record has as many fields as the header; at most ``max_rows`` records.

    pandas pads a short row with missing values, which would invent a
    "(missing)" group; this pass refuses it instead, naming the row.
    """
    file = display_path(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise DataError(DATA_EMPTY.format(file=file))
        _check_header(path, _csv_header(header))
        expected = len(header)
        row = 0
        for record in reader:
            if not record:
                continue  # a blank line, skipped by the parser too
            row += 1
            if row > max_rows:
                raise DataError(
                    DATA_TOO_MANY_ROWS.format(file=file, limit=max_rows, setting=ENV_MAX_ROWS)
                )
            if len(record) != expected:
                raise DataError(
                    RAGGED_ROW.format(file=file, row=row, found=len(record), expected=expected)
                )
    except csv.Error as exc:
        raise DataError(CSV_UNREADABLE.format(file=file, reason=exc)) from exc


def _parse_csv(path: Path, data: bytes, max_rows: int) -> pd.DataFrame:
    file = display_path(path)
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Excel) is not part of a name
    except UnicodeDecodeError as exc:
        raise DataError(CSV_UNREADABLE.format(file=file, reason=exc)) from exc
    _check_csv_rows(path, text, max_rows)
    try:
        return pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError as exc:
        raise DataError(DATA_EMPTY.format(file=file)) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(CSV_UNREADABLE.format(file=file, reason=exc)) from exc


def _parse_parquet(path: Path, data: bytes, max_rows: int, max_bytes: int) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = display_path(path)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        meta = parquet.metadata
        names = [n for n in parquet.schema_arrow.names if not n.startswith("__index_level")]
        _check_header(path, names)
        if meta.num_rows > max_rows:
            raise DataError(
                DATA_TOO_MANY_ROWS.format(file=file, limit=max_rows, setting=ENV_MAX_ROWS)
            )
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if size > max_bytes:
            raise DataError(
                DATA_TOO_LARGE.format(file=file, limit=max_bytes, setting=ENV_MAX_DATA_BYTES)
            )
        frame = parquet.read().to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise _parquet_error(path, exc) from exc
    return frame.reset_index(drop=True)


def read_data_file(path: Path) -> tuple[pd.DataFrame, str]:
    """The table in ``path`` and the SHA-256 of the very bytes it was parsed from.

    The file is read once, under the limits named by :data:`ENV_MAX_DATA_BYTES`
    and :data:`ENV_MAX_ROWS`; nothing is read a second time for hashing.
    """
    path = Path(path)
    kind = data_format(path)
    max_bytes = data_limit(ENV_MAX_DATA_BYTES, DEFAULT_MAX_DATA_BYTES)
    max_rows = data_limit(ENV_MAX_ROWS, DEFAULT_MAX_ROWS)
    file = display_path(path)
    data = read_regular_file(
        path, error=DataError, file=file, limit=max_bytes, setting=ENV_MAX_DATA_BYTES
    )
    digest = sha256_bytes(data)
    if kind == "parquet":
        return _parse_parquet(path, data, max_rows, max_bytes), digest
    if _gzipped(path):
        data = _gunzip(path, data, max_bytes)
    return _parse_csv(path, data, max_rows), digest


def named_columns(spec: AuditSpec) -> list[tuple[str, str]]:
    """Every column the spec names, as ``(json_path, column)``, first mention first."""
    named: list[tuple[str, str]] = [("$.label.column", spec.label.column)]
    if spec.model.score_column is not None:
        named.append(("$.model.score_column", spec.model.score_column))
    if spec.task.event is not None:
        named.append(("$.label.event", spec.task.event))
    named += [(f"$.model.score_columns.{k}", c) for k, c in spec.task.score_columns]
    named += [(f"$.sensitive[{i}]", c) for i, c in enumerate(spec.sensitive)]
    if spec.cluster is not None:
        named.append(("$.cluster", spec.cluster))
    named += [(f"$.features[{i}]", c) for i, c in enumerate(spec.features or ())]
    for i, view in enumerate(spec.intersections):
        named += [(f"$.intersections[{i}][{j}]", c) for j, c in enumerate(view)]
    named += [(f"$.reference_groups.{c}", c) for c in spec.reference_groups]
    if spec.discover is not None:
        named += [
            (f"$.discover.features[{i}]", c) for i, c in enumerate(spec.discover.features or ())
        ]
    for i, group in enumerate(spec.named_groups):
        named += [
            (f"$.named_groups[{i}].where[{j}].column", str(w["column"]))
            for j, w in enumerate(group.where)
        ]
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
    excluded = {spec.label.column, *spec.sensitive, *spec.task.columns}
    if spec.cluster is not None:
        excluded.add(spec.cluster)  # a patient id is never a model feature
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


_NESTED_TYPES = (list, tuple, dict, set, frozenset, np.ndarray)


def _nested_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "nested (mapping)"
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return "nested (list)"
    return None


def check_plain_values(spec: AuditSpec, frame: pd.DataFrame) -> None:
    """Label, score and sensitive columns hold one plain value per row (not lists or maps).

    Parquet can store lists and structs in a cell; they cannot be grouped or
    compared, so they are refused here, naming the column and rows.
    """
    named = [("$.label.column", spec.label.column)]
    if spec.model.score_column is not None:
        named.append(("$.model.score_column", spec.model.score_column))
    named += [(f"$.sensitive[{i}]", c) for i, c in enumerate(spec.sensitive)]
    for path, column in named:
        series = frame[column]
        if series.dtype != object:
            continue
        nested = series.map(lambda v: isinstance(v, _NESTED_TYPES)).to_numpy(dtype=bool)
        if nested.any():
            kind = _nested_kind(series.iloc[int(np.flatnonzero(nested)[0])]) or "nested"
            raise DataError(
                NESTED_VALUES.format(
                    file=display_path(spec.data),
                    column=column,
                    path=path,
                    spec=_spec_name(spec),
                    kind=kind,
                    count=int(nested.sum()),
                    rows=row_numbers(frame.index, nested),
                )
            )


def load_data(spec: AuditSpec) -> LoadedData:
    """Read ``spec.data``, check the named columns and map the label through ``positive``.

    Raises DataError for a missing, unsupported, corrupt or empty file, a missing
    column, a missing label (unless ``drop_missing_label``) and a third label value,
    a file that is not a regular file, too large, ragged or with a duplicate column
    name, and nested values in the label, score or sensitive columns. ``sha256`` is
    the hash of the bytes parsed.
    """
    path = Path(spec.data)
    file = display_path(path)
    if not os.path.lexists(path):
        raise DataError(DATA_NOT_FOUND.format(file=file, spec=_spec_name(spec)))
    frame, digest = read_data_file(path)
    if len(frame) == 0:
        raise DataError(DATA_EMPTY.format(file=file))
    frame.columns = [str(c) for c in frame.columns]
    check_columns(spec, list(frame.columns))
    check_plain_values(spec, frame)
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
        sha256=digest,
    )
