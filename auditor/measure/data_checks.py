"""Representation and data quality per group: who is in the data, and what is missing.

A model can only be as fair as its data lets an audit see. These checks answer
two questions a governance committee asks before any metric: is every group
represented in proportion to the population the model will serve (sizes and
shares, against reference shares such as census figures when the spec gives
them), and is the data as complete for every group (the missingness rate of
each feature per group, and the features whose missingness differs most
between groups; a lab measured less often in one group is a warning sign of
unequal care and of a model that learns from that gap).

Outcome prevalence per group is a metric (see :mod:`auditor.measure.metrics`) and is
not repeated here. Groups below ``min_cell_size`` keep only their name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import SpecError
from auditor.load.spec import MISSING_GROUP
from auditor.reduce.check_counts import CheckCounts, count_checks
from auditor.reduce.sampling import check_row_alignment
from reports.model import DataChecks, GroupKey, MissingnessRow, RepresentationRow, group_key

UNDER_REPRESENTED_RATIO = 0.8
"""A group whose share is below this fraction of its reference share is called out."""
MISSINGNESS_NOTE_DIFFERENCE = 0.05
"""Differences in missingness rate from this size up are described in the notes."""

UNKNOWN_REFERENCE_ATTRIBUTE = (
    "reference_shares.{attribute}: '{attribute}' is not a sensitive attribute; expected one "
    "of: {attributes}"
)
BAD_REFERENCE_SHARE = (
    "reference_shares.{attribute}.{group}: expected a share between 0 and 1; got {value!r}"
)
MISSING_FEATURE = "the feature '{feature}' is not a column of the data"

DROPPED_NOTE = (
    "{dropped} of {total} rows had no label and were left out of the audit; their groups "
    "are not counted below."
)
DROPPED_FEW_NOTE = (
    "Fewer than {m} rows had no label and were left out of the audit; the number of rows "
    "read is withheld too, so that their number cannot be recovered by subtraction."
)
MISSING_WITHHELD = (
    "missingness withheld: fewer than {m} patients of this group with or without a value"
)
MISSING_COMPLEMENTARY = (
    "missingness withheld so that another group's count of missing values cannot be "
    "recovered by subtraction (complementary suppression)"
)
LABEL_MISSINGNESS_MIN = 100
"""Patients with and without the outcome needed for the outcome-missingness note, whose
whole-percent rates then cannot give an exact count."""
SUPPRESSED_NOTE = (
    "{attribute}: {count} group(s) with fewer than {min_cell_size} patients are shown "
    "without counts ({groups})."
)
UNDER_REPRESENTED_NOTE = (
    "{attribute} = {group} makes up {share:.1%} of the audited patients against a reference "
    "share of {reference:.1%} (ratio {ratio:.2f})."
)
ABSENT_REFERENCE_NOTE = (
    "{attribute} = {group} has a reference share of {reference:.1%} but fewer than "
    "{min_cell_size} patients in the data."
)
MISSINGNESS_NOTE = (
    "{feature} is missing for {max_rate:.1%} of {attribute} = {max_group} against "
    "{min_rate:.1%} of {attribute} = {min_group}."
)
HIDDEN_NOTE = "{attribute}: {groups} shown without counts: {reason}."
HIDDEN_REASON = "suppressed"
"""Said of a suppressed group whose reason the caller did not give."""
NO_MISSING_NOTE = "No feature has missing values."
LABEL_MISSINGNESS_NOTE = (
    "{feature} is missing for {positive:.0%} of patients with the outcome against "
    "{negative:.0%} of those without: missingness that depends on the outcome can bias the "
    "model and its audit."
)


def data_checks(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive: pd.DataFrame,
    labels: np.ndarray | None,
    min_cell_size: int = 11,
    reference_shares: dict[str, dict[str, float]] | None = None,
    rows_total: int,
    rows_dropped_missing_label: int = 0,
) -> DataChecks:
    """Group sizes and shares, and feature missingness per group.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, ...)
        The audited rows (after any rows without a label were dropped).
    features : sequence of str
        Columns whose missingness is measured.
    sensitive : DataFrame of shape (n_rows, n_attributes)
        Group names per attribute (strings, ``(missing)`` for missing).
    labels : array of shape (n_rows,) or None
        0/1 outcomes; used only to call out missingness that depends on the
        outcome (overall, never per group).
    min_cell_size : int
        Groups with fewer patients keep their name only.
    reference_shares : dict, optional
        ``{attribute: {group: share}}``, e.g. census shares of the served population.
    rows_total, rows_dropped_missing_label : int
        Rows in the file, and rows left out for a missing label.

    Returns
    -------
    DataChecks
        Aggregates only.
    """
    _check_inputs(frame, features, sensitive, labels, reference_shares)
    counts = count_checks(frame, features=features, sensitive=sensitive, labels=labels)
    return data_checks_from_counts(
        counts,
        features=features,
        min_cell_size=min_cell_size,
        reference_shares=reference_shares,
        rows_total=rows_total,
        rows_dropped_missing_label=rows_dropped_missing_label,
    )


def data_checks_from_counts(
    counts: CheckCounts,
    *,
    features: Sequence[str],
    min_cell_size: int = 11,
    reference_shares: dict[str, dict[str, float]] | None = None,
    rows_total: int,
    rows_dropped_missing_label: int = 0,
) -> DataChecks:
    """Group sizes and shares, and feature missingness per group, from counts."""
    reference_shares = reference_shares or {}
    n = counts.rows
    representation: list[RepresentationRow] = []
    missingness: list[MissingnessRow] = []
    disparities: list[dict[str, Any]] = []
    notes: list[str] = []
    published_total: int | None = rows_total
    published_dropped: int | None = rows_dropped_missing_label
    if 0 < rows_dropped_missing_label < min_cell_size:
        published_total = published_dropped = None
        notes.append(DROPPED_FEW_NOTE.format(m=min_cell_size))
    elif rows_dropped_missing_label:
        notes.append(DROPPED_NOTE.format(dropped=rows_dropped_missing_label, total=rows_total))
    for name, group_counts_of in counts.attributes.items():
        sizes = group_counts_of.sizes
        missing_by_group = group_counts_of.missing
        index = {g: i for i, g in enumerate(group_counts_of.names)}
        references = {str(g): float(s) for g, s in reference_shares.get(name, {}).items()}
        suppressed: list[str] = []
        rates: list[tuple[str, np.ndarray]] = []
        seen = {g for g, k in zip(group_counts_of.names, sizes.tolist()) if k > 0}
        for group in _order_names(seen, group_counts_of.categories, extra=references):
            at = index.get(group)
            count = int(sizes[at]) if at is not None else 0
            hidden = count < min_cell_size
            representation.append(
                RepresentationRow(
                    attribute=name,
                    group=group,
                    n=None if hidden else count,
                    share=None if hidden or n == 0 else count / n,
                    reference_share=references.get(group),
                    suppressed=hidden,
                )
            )
            if hidden:
                if count > 0:
                    suppressed.append(group)
                if group in references and references[group] > 0:
                    notes.append(
                        ABSENT_REFERENCE_NOTE.format(
                            attribute=name,
                            group=group,
                            reference=references[group],
                            min_cell_size=min_cell_size,
                        )
                    )
                continue
            note = _under_represented_note(representation[-1])
            if note is not None:
                notes.append(note)
            group_counts = missing_by_group[at]
            rates.append((group, group_counts / count))
            missingness.extend(
                MissingnessRow(
                    attribute=name, group=group, feature=str(f), missing_rate=float(k) / count
                )
                for f, k in zip(features, group_counts.tolist())
            )
        if suppressed:
            notes.append(
                SUPPRESSED_NOTE.format(
                    attribute=name,
                    count=len(suppressed),
                    min_cell_size=min_cell_size,
                    groups=", ".join(suppressed),
                )
            )
        missingness = _missing_cells(missingness, representation, name, min_cell_size)
        rates = _rates(missingness, name)[0] if features else []
        attribute_gaps = _disparities(name, rates, features)
        disparities.extend(attribute_gaps)
        note = _missingness_note(attribute_gaps)
        if note is not None:
            notes.append(note)
    if features and not counts.any_missing:
        notes.append(NO_MISSING_NOTE)
    notes.extend(_label_missingness(counts, features, min_cell_size))
    return DataChecks(
        rows_total=published_total,
        rows_dropped_missing_label=published_dropped,
        representation=representation,
        missingness=missingness,
        missingness_disparities=disparities,
        notes=notes,
    )


def _missing_cells(
    rows: list[MissingnessRow],
    representation: Sequence[RepresentationRow],
    attribute: str,
    m: int,
) -> list[MissingnessRow]:
    """Counts are cells: a group's missing (and present) count of a feature is 0 or at
    least ``m``, else its rate is withheld; the groups of an attribute add up to everyone,
    so one withheld rate takes the next smallest count with it (at least two withheld,
    adding up to ``m`` or more)."""
    sizes = {r.group: r.n for r in representation if r.attribute == attribute and r.n}
    out = [r for r in rows if r.attribute != attribute]
    mine = [r for r in rows if r.attribute == attribute]
    for feature in dict.fromkeys(r.feature for r in mine):
        cells = [r for r in mine if r.feature == feature]
        count = {r.group: round((r.missing_rate or 0.0) * sizes[r.group]) for r in cells}
        withheld: dict[str, str] = {}
        for r in cells:
            k, n = count[r.group], sizes[r.group]
            if 0 < k < m or 0 < n - k < m:
                withheld[r.group] = MISSING_WITHHELD.format(m=m)
        for part in (count, {g: sizes[g] - k for g, k in count.items()}):
            while withheld:
                hidden = [g for g in count if g in withheld]
                rest = sorted((g for g in count if g not in withheld), key=lambda g: part[g])
                small = sum(part[g] for g in hidden)
                if (len(hidden) >= 2 and (small == 0 or small >= m)) or not rest:
                    break
                withheld[rest[0]] = MISSING_COMPLEMENTARY
        for r in cells:
            if r.group in withheld:
                r = r.model_copy(update={"missing_rate": None, "reason": withheld[r.group]})
            out.append(r)
    return out


def restrict_to_reportable(
    checks: DataChecks, suppressed: Mapping[GroupKey, str | None]
) -> DataChecks:
    """The data checks with every group the measurement suppressed shown by name only.

    The measure stage may suppress more groups than this module's own size floor
    (complementary suppression: with one small group hidden, the published total
    minus the others would give its size). A group of ``suppressed`` (by
    :func:`reports.model.group_key`, with its reason) loses its size, share and
    missingness rates; the features whose missingness differs between groups, and
    the notes about them, are recomputed from the groups still shown.
    """
    newly: dict[str, list[str]] = {}
    reasons: dict[str, list[str]] = {}
    representation = []
    for row in checks.representation:
        key = group_key(row.attribute, row.group)
        if key in suppressed and not row.suppressed:
            newly.setdefault(row.attribute, []).append(row.group)
            reason = suppressed[key] or HIDDEN_REASON
            if reason not in reasons.setdefault(row.attribute, []):
                reasons[row.attribute].append(reason)
            row = row.model_copy(update={"suppressed": True, "n": None, "share": None})
        representation.append(row)
    if not newly:
        return checks
    dropped = {(a, g) for a, groups in newly.items() for g in groups}
    missingness = [m for m in checks.missingness if (m.attribute, m.group) not in dropped]
    notes = list(checks.notes)
    for row in checks.representation:
        old = _under_represented_note(row) if row.group in newly.get(row.attribute, ()) else None
        if old is not None and old in notes:
            notes.remove(old)
    disparities: list[dict[str, Any]] = []
    for attribute in dict.fromkeys(r.attribute for r in checks.representation):
        before = [d for d in checks.missingness_disparities if d.get("attribute") == attribute]
        if attribute not in newly:
            disparities.extend(before)
            continue
        after = _disparities(attribute, *_rates(missingness, attribute))
        disparities.extend(after)
        replaced = [
            HIDDEN_NOTE.format(
                attribute=attribute,
                groups=", ".join(newly[attribute]),
                reason="; ".join(reasons[attribute]),
            )
        ]
        new_note = _missingness_note(after)
        if new_note is not None:
            replaced.append(new_note)
        old_note = _missingness_note(before)
        if old_note is not None and old_note in notes:
            at = notes.index(old_note)
            notes[at : at + 1] = replaced
        else:
            notes.extend(replaced)
    return checks.model_copy(
        update={
            "representation": representation,
            "missingness": missingness,
            "missingness_disparities": disparities,
            "notes": notes,
        },
        deep=True,
    )


def _rates(
    missingness: Sequence[MissingnessRow], attribute: str
) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """(group, missingness rate per feature) of an attribute's groups, and the features."""
    features: list[str] = []
    by_group: dict[str, dict[str, float]] = {}
    for m in missingness:
        if m.attribute != attribute:
            continue
        if m.feature not in features:
            features.append(m.feature)
        if m.missing_rate is None:
            continue
        by_group.setdefault(m.group, {})[m.feature] = m.missing_rate
    rates = [
        (group, np.array([values.get(f, np.nan) for f in features], dtype=np.float64))
        for group, values in by_group.items()
    ]
    return rates, features


def _under_represented_note(row: RepresentationRow) -> str | None:
    """The note on a shown group whose share falls well short of its reference share."""
    if row.suppressed or row.share is None or not row.reference_share:
        return None
    ratio = row.share / row.reference_share
    if ratio >= UNDER_REPRESENTED_RATIO:
        return None
    return UNDER_REPRESENTED_NOTE.format(
        attribute=row.attribute,
        group=row.group,
        share=row.share,
        reference=row.reference_share,
        ratio=ratio,
    )


def _missingness_note(gaps: list[dict[str, Any]]) -> str | None:
    """The note on an attribute's largest gap in missingness, when it is large enough."""
    if gaps and gaps[0]["difference"] >= MISSINGNESS_NOTE_DIFFERENCE:
        return MISSINGNESS_NOTE.format(**gaps[0])
    return None


def _disparities(
    attribute: str, rates: list[tuple[str, np.ndarray]], features: Sequence[str]
) -> list[dict[str, Any]]:
    """Features whose missingness differs between reportable groups, largest gap first."""
    if len(rates) < 2:
        return []
    table = np.vstack([r for _, r in rates])
    rows: list[dict[str, Any]] = []
    for j, feature in enumerate(features):
        column = table[:, j]
        if np.isnan(column).sum() > len(column) - 2:
            continue
        high, low = int(np.nanargmax(column)), int(np.nanargmin(column))
        difference = float(table[high, j] - table[low, j])
        if difference <= 0:
            continue
        rows.append(
            {
                "attribute": attribute,
                "feature": str(feature),
                "max_group": rates[high][0],
                "max_rate": float(table[high, j]),
                "min_group": rates[low][0],
                "min_rate": float(table[low, j]),
                "difference": difference,
            }
        )
    rows.sort(key=lambda row: (-row["difference"], row["feature"]))
    return rows


def _label_missingness(
    counts: CheckCounts, features: Sequence[str], min_cell_size: int
) -> list[str]:
    """Notes on features missing more often with one outcome than the other."""
    if counts.label_rows is None or counts.label_missing is None or not len(features):
        return []
    floor = max(min_cell_size, LABEL_MISSINGNESS_MIN)
    negatives, positives = (int(k) for k in counts.label_rows)
    if positives < floor or negatives < floor:
        return []
    positive = counts.label_missing[1] / positives
    negative = counts.label_missing[0] / negatives
    notes = []
    for j in np.argsort(-np.abs(positive - negative), kind="stable"):
        if abs(positive[j] - negative[j]) < MISSINGNESS_NOTE_DIFFERENCE:
            break
        notes.append(
            LABEL_MISSINGNESS_NOTE.format(
                feature=features[j], positive=positive[j], negative=negative[j]
            )
        )
    return notes


def _order_names(
    seen: set[str], categories: list[str] | None, *, extra: dict[str, float]
) -> list[str]:
    """Observed groups in categorical (else sorted) order, then reference-only groups;
    ``(missing)`` last."""
    names = [c for c in categories if c in seen] if categories is not None else sorted(seen)
    names = [g for g in names if g != MISSING_GROUP]
    names.extend(sorted(g for g in extra if g not in seen and g != MISSING_GROUP))
    if MISSING_GROUP in seen or MISSING_GROUP in extra:
        names.append(MISSING_GROUP)
    return names


def _check_inputs(
    frame: pd.DataFrame,
    features: Sequence[str],
    sensitive: pd.DataFrame,
    labels: np.ndarray | None,
    reference_shares: dict[str, dict[str, float]] | None,
) -> None:
    check_row_alignment(frame, sensitive, labels)
    for feature in features:
        if feature not in frame.columns:
            raise ValueError(MISSING_FEATURE.format(feature=feature))
    attributes = [str(a) for a in sensitive.columns]
    for attribute, shares in (reference_shares or {}).items():
        if attribute not in attributes:
            raise SpecError(
                UNKNOWN_REFERENCE_ATTRIBUTE.format(
                    attribute=attribute, attributes=", ".join(attributes)
                )
            )
        for group, value in shares.items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0.0 <= float(value) <= 1.0:
                raise SpecError(
                    BAD_REFERENCE_SHARE.format(attribute=attribute, group=group, value=value)
                )
