"""A commented starter spec for a data file: from a CSV to a first audit in two commands.

Guesses are made from column names and contents and always said out loud, so
the user reviews them rather than trusting them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from auditor.errors import DataError, OutputError

INIT_EXISTS = "{path}: already exists; choose another --out (nothing was overwritten)"
INIT_UNREADABLE = "{path}: cannot read the data file: {error}"
INIT_UNSUPPORTED = "{path}: unsupported data file type '{suffix}'; expected .csv or .parquet"

SENSITIVE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("race", r"^(race|race_?ethnicity|ethnic(ity)?|ethnic_group)$"),
    ("ethnicity", r"^(hispanic|latino|ethnicity)$"),
    ("sex", r"^(sex|gender|sex_at_birth|gender_identity)$"),
    ("age band", r"^(age_?(band|group|cat(egory)?|bucket|range)|agegroup|ageband)$"),
    ("payer", r"^(payer|insurance|insurance_type|payor|primary_payer|coverage)$"),
    ("language", r"^(language|preferred_language|primary_language|interpreter(_needed)?)$"),
    ("disability", r"^(disability|disabled|disability_status)$"),
)
LABEL_PATTERN = (
    r"^(died|death|dead|mortality|outcome|label|target|y|event|readmit(ted)?|readmission(_30d?)?"
    r"|hospitali[sz]ed|admitted|sepsis|deterioration|icu_transfer|positive)$"
)
SCORE_PATTERN = r"(score|risk|prob(ability)?|pred(iction)?|p_hat|yhat)"


@dataclass
class Guess:
    label: str | None = None
    positive: object = 1
    score: str | None = None
    sensitive: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read(path: Path, nrows: int = 5000) -> pd.DataFrame:
    from auditor.hashing import open_regular_file

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open_regular_file(path, error=DataError) as handle:  # a FIFO would block
                return pd.read_csv(handle, nrows=nrows)
        if suffix in (".parquet", ".pq"):
            with open_regular_file(path, error=DataError) as handle:
                return pd.read_parquet(handle).head(nrows)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: data file not found") from None
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise DataError(INIT_UNREADABLE.format(path=path, error=exc)) from None
    raise DataError(INIT_UNSUPPORTED.format(path=path, suffix=suffix))


def _is_binary(s: pd.Series) -> bool:
    return s.dropna().nunique() == 2


def _is_probability(s: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(s):
        return False
    v = s.dropna()
    return len(v) > 0 and v.between(0, 1).all() and v.nunique() > 2


def guess_columns(frame: pd.DataFrame) -> Guess:
    g = Guess()
    cols = list(frame.columns)
    lower = {c: str(c).lower() for c in cols}
    for c in cols:
        if re.search(LABEL_PATTERN, lower[c]) and _is_binary(frame[c]):
            g.label = c
            break
    if g.label is None:
        binaries = [c for c in cols if _is_binary(frame[c]) and not _is_probability(frame[c])]
        if binaries:
            g.label = binaries[-1]
            g.notes.append(
                f"no column is named like an outcome; guessed the binary column "
                f"'{g.label}' as the label — check it"
            )
    if g.label is not None:
        values = sorted(frame[g.label].dropna().unique().tolist(), key=str)
        g.positive = 1 if 1 in values else (True if True in values else values[-1])
    for c in cols:
        if c != g.label and re.search(SCORE_PATTERN, lower[c]) and _is_probability(frame[c]):
            g.score = c
            break
    for kind, pattern in SENSITIVE_PATTERNS:
        for c in cols:
            if re.match(pattern, lower[c]) and c not in g.sensitive:
                g.sensitive.append(c)
                g.notes.append(f"'{c}' looks like {kind}: listed as a sensitive attribute")
    taken = {g.label, g.score, *g.sensitive}
    g.features = [c for c in cols if c not in taken]
    return g


def _yaml_value(v: object) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    return str(v).lower() if isinstance(v, bool) else str(v)


def render_spec(data_path: Path, spec_path: Path, g: Guess) -> str:
    rel = Path(data_path).resolve()
    try:
        data_ref = str(rel.relative_to(spec_path.resolve().parent))
    except ValueError:
        data_ref = str(rel)
    lines = [
        "# Audit spec written by `auditor init`. Review every guess, then run:",
        f"#   auditor audit {spec_path.name} --out audit",
        "# Reference: README.md, section 'The audit spec'.",
        f"name: {data_path.stem} model audit",
        f"data: {data_ref}",
        "label:",
        f"  column: {g.label if g.label else 'SET_LABEL_COLUMN'}"
        + ("" if g.label else "   # no binary outcome column was found: name it here"),
        f"  positive: {_yaml_value(g.positive)}   # the value that means the event happened",
        "model:",
    ]
    if g.score:
        lines += [
            f"  score_column: {g.score}   # precomputed probabilities of the positive class",
            "  # path: model.skops        # or a model file instead of score_column",
        ]
    else:
        lines += [
            "  # No probability column was found. Give the model file (.skops, .onnx, an MLflow",
            "  # folder, or .pkl/.joblib with sha256) or a column of precomputed scores:",
            "  path: model.skops",
        ]
    lines.append("sensitive:" + ("" if g.sensitive else " []   # name the patient attributes"))
    lines += [f"  - {c}" for c in g.sensitive]
    if len(g.sensitive) >= 2:
        lines += ["intersections:", f"  - [{g.sensitive[0]}, {g.sensitive[1]}]"]
    lines += [
        "# reference_groups: {race: White}   # default: the largest group",
        "threshold: 0.5        # score >= threshold predicts positive; a list is allowed",
        "policy: clinical-default",
        "seed: 0",
        "bootstrap: 1000",
        "min_cell_size: 11     # groups smaller than this are suppressed in every output",
        "model_card:",
        "  intended_use: ''    # policies such as hti-1-transparency require these fields",
        "  developer: ''",
        "",
    ]
    return "\n".join(lines)


def init_spec(data_path: Path, out: Path | None = None) -> tuple[Path, Guess]:
    """Write a starter spec next to the data (or at ``out``); never overwrite."""
    data_path = Path(data_path)
    frame = _read(data_path)
    spec_path = Path(out) if out else data_path.with_name("audit-spec.yaml")
    if spec_path.exists():
        raise OutputError(INIT_EXISTS.format(path=spec_path))
    g = guess_columns(frame)
    spec_path.write_text(render_spec(data_path, spec_path, g), encoding="utf-8")
    return spec_path, g
