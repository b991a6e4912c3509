"""A commented starter spec for a data file: from a CSV to a first audit in two commands.

Every guess is made from column names *and* contents, said out loud with its
evidence and the alternatives, and asked about at a terminal when the evidence
is thin, so the user reviews guesses rather than trusting them. The written
spec audits without edits when the guesses are right; fields only a person can
fill (the model card) are written as ``TODO``, which the documentation rules
treat as an explicit failure rather than a silent pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from auditor.errors import DataError, OutputError
from auditor.judge.engine import TODO_MARK
from auditor.load.spec import group_label

INIT_EXISTS = "{path}: already exists; choose another --out (nothing was overwritten)"
INIT_UNREADABLE = "{path}: cannot read the data file: {error}"
INIT_UNSUPPORTED = "{path}: unsupported data file type '{suffix}'; expected .csv or .parquet"

SAMPLE_ROWS = 5000
"""Rows read to guess from: enough to see every coded value, cheap on any file."""

MAX_GROUPS = 12
"""A sensitive attribute with more distinct values than this is continuous (an age in years)."""

MIN_SCORE_DISTINCT = 10
"""A score column has many distinct values; a predicted class or a flag has two."""

OUTCOME_TOKENS = frozenset(
    {
        "died", "death", "deaths", "dead", "deceased", "mortality", "mort", "outcome",
        "label", "target", "event", "events", "status", "fstat", "fstatus", "delta",
        "readmit", "readmitted", "readmission", "hospitalized", "hospitalised", "admitted",
        "sepsis", "deterioration", "failure", "relapse", "recurrence", "diagnosis", "case",
    }
)  # fmt: skip
"""Name parts that mean "the event happened", with prefixes and suffixes (death_1y, readmit30d)."""

WEAK_OUTCOME_TOKENS = frozenset({"status", "case", "diagnosis", "event", "events", "delta"})
"""Outcome words that also name other things (smoking_status, case_id): they count less, so
``died`` beats ``smoking_status``."""

STRONG_NAME, WEAK_NAME, POSITION = 30, 20, 1
"""Label evidence weights: a name always outweighs where the column sits."""

CENSOR_TOKENS = frozenset({"censor", "censored", "censoring"})
"""Name parts of the inverse of an event indicator: never guessed as the label."""

PREDICTION_TOKENS = frozenset(
    {"pred", "predicted", "prediction", "predictions", "yhat", "hat", "phat", "score",
     "scores", "risk", "prob", "probability", "proba", "p"}
)  # fmt: skip
"""Name parts of a model output: a score when continuous, a predicted class when binary."""

SAS_SCORE = re.compile(r"^P_(?P<level>.+)$")
"""SAS PROC LOGISTIC's predicted probability of a response level (P_1, P_0, P_Yes)."""

SAS_INTO = re.compile(r"^I_(?P<target>.+)$")
"""SAS's predicted class ("into") of the response named after the prefix (I_death_1y)."""

SAS_FROM = re.compile(r"^F_(?P<target>.+)$")
"""SAS's observed level ("from") of the response named after the prefix."""

SENSITIVE_TOKENS: tuple[tuple[str, frozenset[str]], ...] = (
    ("race", frozenset({"race", "raceeth", "ethnicity", "ethnic", "white", "black", "hispanic",
                        "latino", "racial"})),
    ("sex", frozenset({"sex", "gender", "male", "female"})),
    ("age", frozenset({"age", "ageband", "agegroup", "agecat", "agegrp", "age80"})),
    ("payer", frozenset({"payer", "payor", "insurance", "medicaid", "medicare", "coverage"})),
    ("language", frozenset({"language", "interpreter"})),
    ("disability", frozenset({"disability", "disabled"})),
)  # fmt: skip
"""Name parts of patient attributes whose groups an audit compares."""

POSITIVE_WORDS = ("1", "True", "yes", "y", "true", "positive", "pos", "dead", "died", "event")
"""Label values that mean the event happened, in order of preference."""

Asker = Callable[[str, list[str], str], str]
"""``ask(question, options, default) -> answer``: a terminal prompt, or a test double."""


@dataclass
class Decision:
    """One guess as the user reads it: what was chosen, why, and what else was possible."""

    what: str
    choice: str | None
    evidence: str
    alternatives: list[str] = field(default_factory=list)
    unsure: bool = False

    def line(self) -> str:
        choice = self.choice if self.choice is not None else "none"
        text = f"{self.what}: {choice} ({self.evidence})"
        if self.alternatives:
            text += "; alternatives: " + ", ".join(self.alternatives)
        if self.unsure:
            text += "; unsure: check it"
        return text


@dataclass
class Guess:
    label: str | None = None
    positive: object = 1
    score: str | None = None
    sensitive: list[str] = field(default_factory=list)
    reference_groups: dict[str, str] = field(default_factory=dict)
    group_values: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    predicted_class: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sampled: bool = False


def _read(path: Path, nrows: int = SAMPLE_ROWS) -> pd.DataFrame:
    from auditor.load.hashing import open_regular_file

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


def name_tokens(name: object) -> list[str]:
    """Lower-case parts of a column name: ``I_death_1y`` -> ``[i, death, 1y]``, ``readmit30d``
    -> ``[readmit, 30d]``, ``ageBand`` -> ``[age, band]``."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", str(name)).lower()
    return re.findall(r"[a-z]+|\d+[a-z]*", text)


def _values(s: pd.Series) -> list[str]:
    return sorted({group_label(v) for v in s.dropna().unique()}, key=_natural)


def _natural(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _is_binary(s: pd.Series) -> bool:
    return s.dropna().nunique() == 2


def _is_probability(s: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    v = s.dropna()
    return len(v) > 0 and bool(v.between(0, 1).all()) and v.nunique() >= MIN_SCORE_DISTINCT


def _sensitive_kind(name: object) -> str | None:
    tokens = set(name_tokens(name))
    joined = re.sub(r"[^a-z0-9]", "", str(name).lower())
    for kind, words in SENSITIVE_TOKENS:
        if tokens & words or joined in words:
            return kind
    return None


def _shown(values: list[str], limit: int = 6) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values)} values)" if len(values) > limit else "")


def _positive(s: pd.Series) -> tuple[object, str]:
    """The label value that means the event happened, typed as the audit compares it."""
    if pd.api.types.is_bool_dtype(s):
        return True, "a true/false column: true means the event happened"
    values = _values(s)
    lowered = {v.lower(): v for v in values}
    for word in POSITIVE_WORDS:
        if word.lower() in lowered:
            value = lowered[word.lower()]
            typed: object = int(value) if value.lstrip("-").isdigit() else value
            return typed, f"the value {value} among {', '.join(values)}"
    counts = s.dropna().map(group_label).value_counts()
    rare = str(counts.idxmin())
    return rare, f"the rarer value among {', '.join(values)}: events are usually the minority"


def _sas_targets(cols: list[str]) -> dict[str, str]:
    """Response names that SAS's I_/F_ columns refer to, mapped to the column that names them."""
    targets: dict[str, str] = {}
    for c in cols:
        for pattern in (SAS_INTO, SAS_FROM):
            m = pattern.match(str(c))
            if m and m.group("target") in cols:
                targets.setdefault(m.group("target"), str(c))
    return targets


def _guess_label(frame: pd.DataFrame, g: Guess, excluded: set[str]) -> None:
    cols = [str(c) for c in frame.columns]
    sas = _sas_targets(cols)
    scored: list[tuple[int, int, str, str]] = []
    for i, c in enumerate(cols):
        if c in excluded or not _is_binary(frame[c]):
            continue
        tokens = set(name_tokens(c))
        if tokens & CENSOR_TOKENS:
            continue
        points, why = 0, []
        hit = sorted(tokens & OUTCOME_TOKENS, key=lambda t: (t in WEAK_OUTCOME_TOKENS, t))
        if hit or c.lower() == "y":
            points += WEAK_NAME if hit and hit[0] in WEAK_OUTCOME_TOKENS else STRONG_NAME
            why.append(f"named like an outcome ('{hit[0] if hit else c}')")
        if c in sas:
            points += STRONG_NAME
            why.append(f"SAS's {sas[c]} refers to it")
        if i in (0, len(cols) - 1):
            points += POSITION
            why.append("the " + ("first" if i == 0 else "last") + " column")
        values = _values(frame[c])
        why.append(f"two values: {', '.join(values)}")
        scored.append((points, -i, c, "; ".join(why)))
    if not scored:
        g.decisions.append(Decision("label", None, "no column has exactly two values", unsure=True))
        return
    scored.sort(reverse=True)
    best_points, _, best, evidence = scored[0]
    alternatives = [c for _, _, c, _ in scored[1:]]
    tied = len(scored) > 1 and scored[1][0] == best_points
    unsure = best_points < WEAK_NAME or tied
    if best_points < WEAK_NAME:
        evidence = "no column is named like an outcome; " + evidence
    g.label = best
    g.decisions.append(Decision("label", best, evidence, alternatives, unsure))


def _guess_score(frame: pd.DataFrame, g: Guess, excluded: set[str]) -> None:
    cols = [str(c) for c in frame.columns]
    named: list[tuple[str, str]] = []
    content_only: list[tuple[str, str]] = []
    for c in cols:
        if c in excluded or c == g.label:
            continue
        s = frame[c]
        tokens = set(name_tokens(c))
        sas = SAS_SCORE.match(c)
        if _is_binary(s) and (tokens & PREDICTION_TOKENS or SAS_INTO.match(c)):
            target = SAS_INTO.match(c)
            why = (
                f"SAS's predicted class of {target.group('target')}"
                if target and target.group("target") in cols
                else "two values and named like a prediction"
            )
            g.predicted_class.append(c)
            g.decisions.append(
                Decision(
                    "predicted class (not audited as a score)", c, f"{why}: {_shown(_values(s))}"
                )
            )
            continue
        if not _is_probability(s):
            continue
        distinct = s.dropna().nunique()
        shape = f"values in [0, 1], {distinct} distinct"
        if sas:
            level = sas.group("level")
            if g.label is not None and level == group_label(g.positive):
                named.insert(
                    0, (c, f"SAS's probability of level {level} (the positive value); {shape}")
                )
            else:
                named.append((c, f"SAS's probability of level {level}; {shape}"))
        elif tokens & PREDICTION_TOKENS:
            named.append((c, f"named like a score; {shape}"))
        else:
            content_only.append((c, shape))
    candidates = named or content_only
    if not candidates:
        g.decisions.append(
            Decision(
                "score column",
                None,
                "no column has values in [0, 1] with many distinct values; "
                "set model.path to the model file",
            )
        )
        return
    g.score, evidence = candidates[0]
    others = [c for c, _ in (named + content_only) if c != g.score]
    unsure = not named or (len(named) > 1 and not SAS_SCORE.match(g.score))
    if not named:
        evidence = "not named like a score; " + evidence
    g.decisions.append(Decision("score column", g.score, evidence, others, unsure))


def _guess_sensitive(frame: pd.DataFrame, g: Guess, excluded: set[str]) -> None:
    for c in (str(c) for c in frame.columns):
        if c in excluded or c == g.label or c == g.score:
            continue
        kind = _sensitive_kind(c)
        if kind is None:
            continue
        s = frame[c]
        distinct = s.dropna().nunique()
        if distinct > MAX_GROUPS:
            g.notes.append(
                f"'{c}' looks like {kind} but has {distinct} distinct values: not listed as "
                f"sensitive; add a banded column (e.g. {c}_band) to audit it"
            )
            continue
        if distinct < 2:
            continue
        counts = s.map(lambda v: group_label(v) if pd.notna(v) else None).value_counts()
        values = sorted(
            ((str(k), int(n)) for k, n in counts.items()), key=lambda kv: _natural(kv[0])
        )
        g.sensitive.append(c)
        g.group_values[c] = values
        largest = max(values, key=lambda kv: kv[1])
        g.reference_groups[c] = largest[0]
        coded = all(_natural(v)[0] == 0 for v, _ in values)
        g.decisions.append(
            Decision(
                "sensitive attribute",
                c,
                f"named like {kind}; {len(values)} groups: "
                + ", ".join(f"{v} ({n})" for v, n in values)
                + ("; coded as numbers: write down what each code means" if coded else ""),
            )
        )


def guess_columns(frame: pd.DataFrame, ask: Asker | None = None) -> Guess:
    """Guess label, positive value, score column and sensitive attributes of ``frame``.

    ``ask`` is called for each unsure guess (at a terminal); without it the best
    guess stands and is marked unsure in its decision line.
    """
    g = Guess()
    cols = [str(c) for c in frame.columns]
    sensitive_named = {c for c in cols if _sensitive_kind(c) is not None}
    prediction_named = {
        c
        for c in cols
        if set(name_tokens(c)) & PREDICTION_TOKENS or SAS_INTO.match(c) or SAS_SCORE.match(c)
    }
    _guess_label(frame, g, excluded=sensitive_named | prediction_named)
    label = next(d for d in g.decisions if d.what == "label")
    if ask is not None and label.unsure and label.choice is not None:
        options = [label.choice, *label.alternatives]
        answer = ask("Which column is the outcome (the label)?", options, label.choice)
        if answer in options and answer != label.choice:
            g.label = answer
            label.alternatives = [c for c in options if c != answer]
            label.choice, label.evidence = answer, "chosen at the terminal"
        label.unsure = False
    if g.label is not None:
        g.positive, why = _positive(frame[g.label])
        g.decisions.append(Decision("positive value", group_label(g.positive), why))
    _guess_score(frame, g, excluded=set(g.predicted_class))
    score = next(d for d in g.decisions if d.what == "score column")
    if ask is not None and score.unsure and score.choice is not None:
        options = [score.choice, *score.alternatives, "none"]
        answer = ask("Which column holds the model's scores?", options, score.choice)
        if answer in options and answer != score.choice:
            g.score = None if answer == "none" else answer
            score.alternatives = [c for c in options if c not in (answer, "none")]
            score.choice, score.evidence = g.score, "chosen at the terminal"
        score.unsure = False
    _guess_sensitive(frame, g, excluded=set(g.predicted_class))
    if not g.sensitive:
        g.notes.append("no sensitive attribute found: name at least one under 'sensitive'")
    outcome_like = [
        c for c in cols if c != g.label and set(name_tokens(c)) & OUTCOME_TOKENS and c in cols
    ]
    taken = {g.label, g.score, *g.sensitive, *g.predicted_class, *outcome_like}
    g.features = [c for c in cols if c not in taken]
    return g


def _yaml_value(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    return text.replace("\n", " ")


def render_spec(data_path: Path, spec_path: Path, g: Guess) -> str:
    rel = Path(data_path).resolve()
    try:
        data_ref = str(rel.relative_to(spec_path.resolve().parent))
    except ValueError:
        data_ref = str(rel)
    lines = [
        "# Audit spec written by `auditor init`. Review every guess, then run:",
        f"#   auditor audit {spec_path.name} --out audit",
        "# Reference: README.md, section 'The audit spec'. What was guessed and why:",
        *(f"#   {_comment(d.line())}" for d in g.decisions),
        *(f"#   note: {_comment(n)}" for n in g.notes),
        f"name: {_yaml_value(data_path.stem + ' model audit')}",
        f"data: {_yaml_value(data_ref)}",
        "label:",
        f"  column: {_yaml_value(g.label) if g.label else 'SET_LABEL_COLUMN'}"
        + ("" if g.label else "   # no two-valued outcome column was found: name it here"),
        f"  positive: {_yaml_value(g.positive)}   # the value that means the event happened",
        "model:",
    ]
    if g.score:
        lines += [
            f"  score_column: {_yaml_value(g.score)}   # probabilities of the positive class",
            "  # path: model.skops        # or a model file instead of score_column",
        ]
    else:
        lines += [
            "  # No probability column was found. Give the model file (.skops, .onnx, an MLflow",
            "  # folder, or .pkl/.joblib with sha256) or a column of precomputed scores:",
            "  path: model.skops",
        ]
    lines.append("sensitive:" + ("" if g.sensitive else " []   # name the patient attributes"))
    lines += [f"  - {_yaml_value(c)}" for c in g.sensitive]
    if len(g.sensitive) >= 2:
        pair = ", ".join(_yaml_value(c) for c in g.sensitive[:2])
        lines += ["intersections:", f"  - [{pair}]"]
    if g.sensitive:
        lines.append("# reference groups: default is each attribute's largest group; to choose:")
        lines.append("# reference_groups:")
        for c in g.sensitive:
            counts = ", ".join(f"{v} ({n})" for v, n in g.group_values[c])
            lines.append(
                f"#   {_yaml_value(c)}: {_yaml_value(g.reference_groups[c])}   # values: {counts}"
            )
    todo = f"{TODO_MARK}: "
    lines += [
        "threshold: 0.5        # score >= threshold predicts positive; a list is allowed",
        "policy: clinical-default",
        "seed: 0",
        "bootstrap: 1000",
        "min_cell_size: 11     # groups smaller than this are suppressed in every output",
        "# The clinical-default policy requires these model card fields; a field left as",
        f"# '{TODO_MARK}' fails that rule on purpose until someone writes it.",
        "model_card:",
        f'  intended_use: "{todo}what the model is for, for which patients and decisions"',
        f'  out_of_scope_use: "{todo}where the model must not be used"',
        f'  limitations: "{todo}what is known to limit the model"',
        f'  developer: "{todo}who built and maintains the model"',
        "",
    ]
    return "\n".join(lines)


def init_spec(
    data_path: Path, out: Path | None = None, ask: Asker | None = None
) -> tuple[Path, Guess]:
    """Write a starter spec next to the data (or at ``out``); never overwrite."""
    data_path = Path(data_path)
    frame = _read(data_path)
    spec_path = Path(out) if out else data_path.with_name("audit-spec.yaml")
    if spec_path.exists():
        raise OutputError(INIT_EXISTS.format(path=spec_path))
    g = guess_columns(frame, ask=ask)
    g.sampled = len(frame) >= SAMPLE_ROWS
    if g.sampled:
        g.notes.append(f"guessed from the first {SAMPLE_ROWS} rows; group counts are of those")
    spec_path.write_text(render_spec(data_path, spec_path, g), encoding="utf-8")
    return spec_path, g
