"""Map a preprocessing step's output columns back to the data's own columns.

SHAP values computed after a pipeline's preprocessing belong to encoded
columns (``sex_F``, ``sex_M``, a scaled ``age``). A committee reads the data's
columns, so each encoded column is traced to the one data column it was made
from, and values are summed per data column (a sum keeps additivity: the
summed values still add up to the model output).

Supported: scikit-learn ``Pipeline`` and ``ColumnTransformer`` (with
``'passthrough'`` and ``'drop'``), ``OneHotEncoder`` (drop and infrequent
categories included), and any transformer whose ``get_feature_names_out``
names each output after one input (the scalers, ``OrdinalEncoder``,
``SimpleImputer`` with or without missing indicators, feature selectors,
``KBinsDiscretizer``, ``SplineTransformer``). A transformer that mixes columns
(PCA, polynomial features) has no per-column attribution:
:class:`FeatureMappingError` is raised and the caller explains the model on the
data's columns instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

UNMAPPABLE_OUTPUT = (
    "cannot trace the encoded column '{name}' made by {transformer} back to one of the "
    "columns {inputs}"
)
COUNT_MISMATCH = "{transformer} produced {actual} columns but its feature names list {expected}"
UNKNOWN_COLUMN_SELECTION = "cannot resolve the column selection {columns!r} of {transformer}"


class FeatureMappingError(ValueError):
    """An encoded column cannot be attributed to a single data column."""


def encoded_sources(preprocessor: Any, input_features: Sequence[str]) -> list[str]:
    """Name the data column behind each output column of ``preprocessor``.

    Parameters
    ----------
    preprocessor : fitted scikit-learn transformer, Pipeline, ColumnTransformer or None
        What turns the data columns into the model's input matrix; ``None``
        means the model reads the data columns as they are.
    input_features : sequence of str
        The data columns the preprocessor reads, in order.

    Returns
    -------
    list of str
        One data column name per output column, in output order.

    Raises
    ------
    FeatureMappingError
        When an output column is made from several data columns or cannot be traced.
    """
    names = [str(f) for f in input_features]
    if preprocessor is None:
        return names
    positions, _ = _trace(preprocessor, names)
    return [names[i] for i in positions]


def sum_by_source(
    values: np.ndarray, sources: Sequence[str], features: Sequence[str]
) -> np.ndarray:
    """Sum the columns of ``values`` that share a data column.

    ``values`` has shape (n_rows, n_encoded); the result has shape
    (n_rows, len(features)), columns in the order of ``features``. A feature
    with no encoded column (dropped by the preprocessing) gets zeros.
    """
    index = {f: j for j, f in enumerate(features)}
    indicator = np.zeros((len(sources), len(features)))
    for i, source in enumerate(sources):
        indicator[i, index[source]] = 1.0
    return np.asarray(values, dtype=np.float64) @ indicator


def _trace(step: Any, inputs: list[str]) -> tuple[list[int], list[str]]:
    """Return (input position of each output, output names) for one fitted step."""
    if isinstance(step, str):
        if step == "passthrough":
            return list(range(len(inputs))), list(inputs)
        raise FeatureMappingError(
            UNMAPPABLE_OUTPUT.format(name=step, transformer=step, inputs=inputs)
        )
    kind = type(step).__name__
    if kind == "Pipeline":
        return _trace_pipeline(step, inputs)
    if kind == "ColumnTransformer":
        return _trace_column_transformer(step, inputs)
    if kind == "OneHotEncoder":
        traced = _trace_one_hot(step, inputs)
        if traced is not None:
            return traced
    return _trace_by_names(step, inputs)


def _trace_pipeline(pipe: Any, inputs: list[str]) -> tuple[list[int], list[str]]:
    positions = list(range(len(inputs)))
    names = list(inputs)
    for _, step in pipe.steps:
        if step is None or step == "passthrough":
            continue
        step_positions, names = _trace(step, names)
        positions = [positions[i] for i in step_positions]
    return positions, names


def _trace_column_transformer(ct: Any, inputs: list[str]) -> tuple[list[int], list[str]]:
    known = list(getattr(ct, "feature_names_in_", inputs))
    known = [str(c) for c in known]
    position_of = {name: inputs.index(name) for name in known if name in inputs}
    n_out = max((s.stop for s in ct.output_indices_.values()), default=0)
    positions: list[int | None] = [None] * n_out
    names: list[str] = [""] * n_out
    for name, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        out = ct.output_indices_[name]
        if out.stop <= out.start:
            continue
        selected = _resolve_columns(columns, known, name)
        sub_positions, sub_names = _trace(transformer, selected)
        if len(sub_positions) != out.stop - out.start:
            raise FeatureMappingError(
                COUNT_MISMATCH.format(
                    transformer=name, actual=out.stop - out.start, expected=len(sub_positions)
                )
            )
        for offset, (p, sub_name) in enumerate(zip(sub_positions, sub_names)):
            column = selected[p]
            if column not in position_of:
                raise FeatureMappingError(
                    UNMAPPABLE_OUTPUT.format(name=sub_name, transformer=name, inputs=inputs)
                )
            positions[out.start + offset] = position_of[column]
            names[out.start + offset] = f"{name}__{sub_name}"
    if any(p is None for p in positions):
        missing = [i for i, p in enumerate(positions) if p is None]
        raise FeatureMappingError(
            UNMAPPABLE_OUTPUT.format(
                name=f"output {missing[0]}", transformer="ColumnTransformer", inputs=inputs
            )
        )
    return [int(p) for p in positions if p is not None], names


def _resolve_columns(columns: Any, known: list[str], transformer: str) -> list[str]:
    """Turn a fitted ColumnTransformer column selection into column names."""
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, (int, np.integer)):
        return [known[int(columns)]]
    if isinstance(columns, slice):
        if columns.start is None or isinstance(columns.start, (int, np.integer)):
            return known[columns]
        start = known.index(columns.start)
        stop = known.index(columns.stop) + 1 if columns.stop is not None else len(known)
        return known[start:stop]
    selection = np.asarray(columns)
    if selection.dtype == bool:
        return [c for c, keep in zip(known, selection) if keep]
    if selection.size == 0:
        return []
    if np.issubdtype(selection.dtype, np.integer):
        return [known[int(i)] for i in selection]
    if selection.dtype.kind in "OUS":
        return [str(c) for c in selection]
    raise FeatureMappingError(
        UNKNOWN_COLUMN_SELECTION.format(columns=columns, transformer=transformer)
    )


def _trace_one_hot(encoder: Any, inputs: list[str]) -> tuple[list[int], list[str]] | None:
    """Count each input's outputs from the fitted categories (None if they disagree)."""
    try:
        infrequent = encoder.infrequent_categories_
    except AttributeError:
        infrequent = [None] * len(encoder.categories_)
    drop_idx = getattr(encoder, "drop_idx_", None)
    positions: list[int] = []
    for i, categories in enumerate(encoder.categories_):
        count = len(categories)
        if infrequent[i] is not None:
            count -= len(infrequent[i]) - 1
        if drop_idx is not None and drop_idx[i] is not None:
            count -= 1
        positions.extend([i] * count)
    names = [str(n) for n in encoder.get_feature_names_out(inputs)]
    if len(names) != len(positions):
        return None
    return positions, names


def _trace_by_names(step: Any, inputs: list[str]) -> tuple[list[int], list[str]]:
    """Attribute each output to the input its name is built from.

    An output named exactly like an input comes from it; otherwise the longest
    input ``c`` with the output named ``c_...`` (encoders, binners, splines) or
    ``..._c`` (missing indicators) is taken, and a tie is an error.
    """
    if not hasattr(step, "get_feature_names_out"):
        raise FeatureMappingError(
            UNMAPPABLE_OUTPUT.format(
                name="(unnamed)", transformer=type(step).__name__, inputs=inputs
            )
        )
    names = [str(n) for n in step.get_feature_names_out(inputs)]
    exact = {name: i for i, name in enumerate(inputs)}
    positions: list[int] = []
    for name in names:
        if name in exact:
            positions.append(exact[name])
            continue
        candidates = [
            i for i, c in enumerate(inputs) if name.startswith(f"{c}_") or name.endswith(f"_{c}")
        ]
        longest = max((len(inputs[i]) for i in candidates), default=0)
        best = [i for i in candidates if len(inputs[i]) == longest]
        if len(best) != 1:
            raise FeatureMappingError(
                UNMAPPABLE_OUTPUT.format(name=name, transformer=type(step).__name__, inputs=inputs)
            )
        positions.append(best[0])
    return positions, names
