"""Read data larger than memory: Parquet or CSV files, a folder or a glob, in batches.

Every batch passes the same checks as the in-memory loader (columns, plain values,
label values, missing labels), with row numbers counted within its file. Each file
is opened once, as a regular file: its bytes are hashed in chunks, then the same
open file is parsed batch by batch (a rename during the audit cannot swap it).
The provenance records every file's SHA-256 and one hash over all of them, defined
like a folder's tree hash: ``<relative path>\\0<sha256>\\n`` per file, in sorted order.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.load.data import (
    CSV_UNREADABLE,
    DATA_EMPTY,
    DATA_NOT_FOUND,
    DATA_SUFFIXES,
    LABEL_ALL_MISSING,
    LABEL_NO_POSITIVE,
    LABEL_OTHER_VALUES,
    _check_header,
    _factorize,
    _parquet_error,
    _sensitive_groups,
    _show,
    check_columns,
    check_plain_values,
    data_format,
    row_numbers,
)
from auditor.load.hashing import open_regular_file
from auditor.load.spec import AuditSpec, display_path, group_label

GLOB_CHARS = "*?["
CSV_BYTES_PER_ROW = 64
"""CSV bytes parsed per batch row asked for (``batch_rows`` x this, at least 64 KB);
column types are inferred from the first block."""

DATA_NO_MATCH = (
    "{pattern}: no data file matches (named by $.data in {spec}); expected a Parquet or "
    "CSV file, a folder of them, or a glob such as data/*.parquet"
)
DATA_FOLDER_EMPTY = (
    "{folder}: the folder holds no Parquet (.parquet, .pq) or CSV (.csv, .csv.gz) file "
    "(named by $.data in {spec})"
)
DATA_MIXED_FORMATS = (
    "{data}: the files mix Parquet and CSV ({first} and {other}); expected files of one format"
)
LABEL_MISSING_STREAMED = (
    "{file}: label column {column!r} has rows with no value (rows {rows}); fill them in, or "
    "set drop_missing_label: true in the spec to drop them (the report records how many)"
)
CSV_TYPE_CHANGED = (
    "{file}: cannot read the CSV file in batches ({reason}); a column's values change type "
    "after the first block of rows (numbers, then text): give the column one type, or "
    "convert the file to Parquet"
)


def is_multi_file(path: Path) -> bool:
    """A folder or a glob pattern: read in batches, file by file."""
    return any(c in str(path) for c in GLOB_CHARS) or path.is_dir()


def _base(path: Path) -> Path:
    """The folder a glob starts from (its longest prefix without wildcards)."""
    parts: list[str] = []
    for part in path.parts:
        if any(c in part for c in GLOB_CHARS):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def data_files(path: Path, *, spec_name: str = "the spec") -> list[Path]:
    """The data files a ``data`` value names: a file, a folder's data files, or a glob's."""
    shown = display_path(path)
    if any(c in str(path) for c in GLOB_CHARS):
        names = sorted(glob.glob(str(path), recursive=True))
        files = [Path(n) for n in names if _is_data_name(n) and not Path(n).is_dir()]
        if not files:
            raise DataError(DATA_NO_MATCH.format(pattern=shown, spec=spec_name))
    elif path.is_dir():
        files = sorted(
            Path(root) / name
            for root, _dirs, names in os.walk(path)
            for name in names
            if _is_data_name(name) and not name.startswith((".", "_"))
        )
        if not files:
            raise DataError(DATA_FOLDER_EMPTY.format(folder=shown, spec=spec_name))
    elif os.path.lexists(path):
        files = [path]
    else:
        raise DataError(DATA_NOT_FOUND.format(file=shown, spec=spec_name))
    kinds = {data_format(f) for f in files}
    if len(kinds) > 1:
        first = data_format(files[0])
        other = next(f for f in files if data_format(f) != first)
        raise DataError(
            DATA_MIXED_FORMATS.format(data=shown, first=files[0].name, other=other.name)
        )
    return files


def _is_data_name(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(suffix) for suffix in DATA_SUFFIXES)


def relative_name(file: Path, data: Path) -> str:
    """A file's name in the combined hash: relative to the folder or the glob's base."""
    base = data if data.is_dir() else _base(data) if is_multi_file(data) else file.parent
    try:
        return file.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return file.name


def combined_sha256(hashes: dict[str, str]) -> str:
    """One hash over several files' hashes (sorted by relative name; see module docstring)."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(name.encode("utf-8") + b"\0" + hashes[name].encode() + b"\n")
    return digest.hexdigest()


def _hash_open_file(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


@dataclass
class Batch:
    """One batch as read: rows numbered within their file (index = 0-based row)."""

    frame: pd.DataFrame
    file: Path
    names: list[str]
    """Every column of the file (the batch holds only the columns the audit reads)."""


class FileBatches:
    """Iterate a data file's batches; ``sha256`` is set once the file was opened."""

    def __init__(self, path: Path, *, columns: Sequence[str] | None, batch_rows: int) -> None:
        self.path = path
        self.columns = list(columns) if columns is not None else None
        self.batch_rows = batch_rows
        self.sha256: str | None = None
        self.names: list[str] = []

    def __iter__(self) -> Iterator[Batch]:
        file = display_path(self.path)
        kind = data_format(self.path)
        with open_regular_file(self.path, error=DataError, file=file) as handle:
            self.sha256 = _hash_open_file(handle)
            if kind == "parquet":
                yield from self._parquet(handle, file)
            else:
                yield from self._csv(handle, file)

    def _parquet(self, handle: BinaryIO, file: str) -> Iterator[Batch]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(handle)
            self.names = [n for n in parquet.schema_arrow.names if not n.startswith("__index")]
            _check_header(self.path, self.names)
            wanted = [c for c in self.columns if c in self.names] if self.columns else None
            offset = 0
            for record in parquet.iter_batches(batch_size=self.batch_rows, columns=wanted):
                frame = record.to_pandas()
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                offset += len(frame)
                yield Batch(frame, self.path, self.names)
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(self.path, exc) from exc

    def _csv(self, handle: BinaryIO, file: str) -> Iterator[Batch]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        source: Any = handle
        if self.path.name.lower().endswith(".gz"):
            source = pa.CompressedInputStream(pa.PythonFile(handle, mode="r"), "gzip")
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    block_size=max(1 << 16, self.batch_rows * CSV_BYTES_PER_ROW)
                ),
                convert_options=pacsv.ConvertOptions(
                    strings_can_be_null=True,
                    include_columns=None,
                ),
            )
            self.names = list(reader.schema.names)
            _check_header(self.path, self.names)
            offset = 0
            for record in reader:
                frame = record.to_pandas()
                if self.columns:
                    frame = frame[[c for c in self.columns if c in frame.columns]]
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                offset += len(frame)
                yield Batch(frame, self.path, self.names)
        except pa.ArrowInvalid as exc:
            reason = str(exc)
            if "conversion error" in reason.lower():
                raise DataError(CSV_TYPE_CHANGED.format(file=file, reason=reason)) from exc
            if "empty" in reason.lower():
                raise DataError(DATA_EMPTY.format(file=file)) from exc
            raise DataError(CSV_UNREADABLE.format(file=file, reason=reason)) from exc
        except (pa.ArrowException, OSError) as exc:
            raise DataError(CSV_UNREADABLE.format(file=file, reason=exc)) from exc


class LabelMapper:
    """Map a streamed label column to 0/1 with the in-memory loader's rules.

    The negative value is the spec's, else the first other value seen; a third value
    anywhere is refused, naming the rows of the batch it appeared in.
    """

    def __init__(self, spec: AuditSpec) -> None:
        self.column = spec.label.column
        self.positive = group_label(spec.label.positive)
        self.positive_shown = _show(spec.label.positive)
        self.negative: str | None = (
            group_label(spec.label.negative) if spec.label.negative is not None else None
        )
        self.negative_shown = (
            _show(spec.label.negative) if spec.label.negative is not None else "(none found)"
        )
        self.values: set[str] = set()
        self.any_positive = False
        self.any_label = False

    def __call__(self, frame: pd.DataFrame, file: str) -> tuple[np.ndarray, np.ndarray]:
        codes, keys, originals = _factorize(frame[self.column])
        missing = codes == -1
        self.values.update(_show(v) for v in originals)
        positive_codes = [i for i, k in enumerate(keys) if k == self.positive]
        if self.negative is None:
            others = [i for i, k in enumerate(keys) if k != self.positive]
            if others:
                counts = np.bincount(codes[~missing], minlength=len(keys))
                top = max(counts[i] for i in others)
                first = sorted(keys[i] for i in others if counts[i] == top)[0]
                self.negative = first
                self.negative_shown = _show(originals[keys.index(first)])
        negative_codes = [i for i, k in enumerate(keys) if k == self.negative]
        third_codes = [
            i for i in range(len(keys)) if i not in positive_codes and i not in negative_codes
        ]
        third = np.isin(codes, third_codes)
        if third.any():
            shown = sorted({_show(originals[i]) for i in third_codes})
            raise DataError(
                LABEL_OTHER_VALUES.format(
                    file=file,
                    column=self.column,
                    count=int(third.sum()),
                    positive=self.positive_shown,
                    negative=self.negative_shown,
                    values=", ".join(shown[:5]) + (", ..." if len(shown) > 5 else ""),
                    rows=row_numbers(frame.index, third),
                )
            )
        labels = np.isin(codes, positive_codes).astype(np.int8)
        self.any_positive |= bool(labels[~missing].any())
        self.any_label |= bool((~missing).any())
        return labels, missing

    def finish(self, file: str) -> None:
        """After the last batch: the label had a value somewhere, and the positive one."""
        if not self.any_label:
            raise DataError(
                LABEL_ALL_MISSING.format(
                    file=file, column=self.column, positive=self.positive_shown
                )
            )
        if not self.any_positive:
            raise DataError(
                LABEL_NO_POSITIVE.format(
                    file=file,
                    column=self.column,
                    positive=self.positive_shown,
                    values=", ".join(sorted(self.values)),
                )
            )


@dataclass
class CheckedBatch:
    """A batch after the loader's checks: kept rows, 0/1 labels, sensitive groups."""

    frame: pd.DataFrame
    labels: np.ndarray
    sensitive: pd.DataFrame
    rows_read: int
    rows_dropped: int


def check_batch(
    spec: AuditSpec, batch: Batch, labels_of: LabelMapper, *, checked_columns: set[Path]
) -> CheckedBatch:
    """The in-memory loader's checks on one batch (columns once per file)."""
    file = display_path(batch.file)
    frame = batch.frame
    frame.columns = [str(c) for c in frame.columns]
    if batch.file not in checked_columns:
        check_columns(replace(spec, data=batch.file), batch.names)
        checked_columns.add(batch.file)
    check_plain_values(spec, frame)
    labels, missing = labels_of(frame, file)
    dropped = int(missing.sum())
    if dropped:
        if not spec.drop_missing_label:
            raise DataError(
                LABEL_MISSING_STREAMED.format(
                    file=file, column=spec.label.column, rows=row_numbers(frame.index, missing)
                )
            )
        frame = frame.loc[~missing]
        labels = labels[~missing]
    sensitive = pd.DataFrame(
        {name: _sensitive_groups(frame[name]) for name in spec.sensitive}, index=frame.index
    )
    return CheckedBatch(frame, labels.astype(np.int8), sensitive, len(batch.frame), dropped)
