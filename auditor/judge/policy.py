"""Policies: load, validate and resolve ``extends`` into typed, immutable rules.

A policy is data (YAML or JSON) written by a governance committee. The JSON
Schema in ``policies/schema/policy.schema.json`` is the single definition of the
language; this module validates against it with ``Draft202012Validator`` and
adds the checks a schema cannot express (metric ids from the one registry,
``min <= max``, unique rule ids, a direction for regression metrics). Every
problem of a file is collected before anything is raised, so a user fixes them
all in one pass; each is one line ``<file>: <JSON path>: <what was expected>``.

A reference to a policy is either a shipped pack name (``clinical-default``)
or a path to a ``.yaml``/``.yml``/``.json`` file. ``extends`` names another
policy the same way (relative paths resolve against the extending file); the
parent's rules are inherited in order and a child rule with the same id
replaces the parent's rule in place.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

import policies as packs
from auditor.errors import PolicyError
from auditor.load.hashing import read_regular_file
from auditor.load.safe_yaml import load_json, load_yaml
from auditor.measure.disparities import FAIRNESS
from auditor.measure.metrics import METRICS
from auditor.server_config import inside
from auditor.tasks import all_metric_ids, find_metric
from reports.model import PolicyInfo, Severity

__all__ = [
    "Bounds",
    "CalibrationCheck",
    "Check",
    "DiscoveryCheck",
    "DisparityCheck",
    "DocumentationCheck",
    "MetricCheck",
    "Policy",
    "ProxyCheck",
    "RegressionCheck",
    "RepresentationCheck",
    "Rule",
    "Selector",
    "list_packs",
    "load_policies",
    "load_policy_text",
    "validate_policy_file",
]

BoundOn = Literal["estimate", "interval"]
CHECK_KINDS: tuple[str, ...] = tuple(packs.schema()["$defs"]["check"]["properties"]["kind"]["enum"])
"""The check kinds, as the schema (the one definition of the language) lists them."""
PATH_SUFFIXES = (".yaml", ".yml", ".json")

# Messages (tests assert these exact texts).
POLICY_NOT_FOUND = "{file}: policy file not found{hint}"
POLICY_UNREADABLE = "{file}: cannot read the policy file: {error}"
NOT_UTF8 = "{file}: not UTF-8 text"
UNKNOWN_PACK = "unknown policy pack {name!r}{hint}; shipped packs: {packs}"
PACK_HINT = "; did you mean the shipped pack {name}?"
DID_YOU_MEAN = "; did you mean {name}?"
POLICY_NOT_ALLOWED = (
    "{ref}: not a shipped policy pack or a policy file in the server's policy folder "
    "(name it relative to that folder, without '..')"
)
YAML_SYNTAX = "{file}: line {line}, column {column}: not valid YAML: {problem}"
JSON_SYNTAX = "{file}: line {line}, column {column}: not valid JSON: {problem}"
NOT_A_MAPPING = (
    "{file}: $: expected a policy (a mapping with id, title, version and rules), got {got}"
)
ERROR_LINE = "{file}: {problem}"
UNKNOWN_KEY = "unknown key {key!r}{hint}; expected one of: {allowed}"
EXPECTED_AT_LEAST_ONE = "expected at least one of: {keys}"
EXPECTED_EXACTLY_ONE = "expected exactly one of: {keys}"
UNKNOWN_METRIC = "unknown metric {metric!r}{hint}"
KNOWN_METRICS = "; known metrics: {known}"
UNKNOWN_FAIRNESS_METRIC = "unknown fairness metric {metric!r}{hint}"
KNOWN_FAIRNESS_METRICS = "; known fairness metrics: {known}"
NO_DIRECTION = (
    "metric {metric!r} has no better direction; a regression check needs a metric where "
    "higher, lower or closer to a target is better"
)
MIN_ABOVE_MAX = "min {min} is greater than max {max}"
DUPLICATE_RULE = "rule id {id!r} is already used by $.rules[{first}]; rule ids must be unique"
EXTENDS_CYCLE = "{file}: $.extends: extends cycle: {chain}"
EXTENDS_FAILED = "{file}: $.extends: {error}"
NO_RULES = "{file}: $.rules: a policy needs at least one rule (here or through extends)"
DUPLICATE_POLICY = (
    "policy id {id!r} is used by both {first} and {second}; give each policy its own id"
)


# ----------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Bounds:
    """An inclusive range; ``None`` leaves that side open."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class MetricCheck:
    """A registry metric of every selected group within bounds."""

    metric: str
    bounds: Bounds
    bound_on: BoundOn = "estimate"
    kind: ClassVar[Literal["metric"]] = "metric"


@dataclass(frozen=True)
class DisparityCheck:
    """A between-group difference/ratio (per group or worst case) or a named fairness metric."""

    bounds: Bounds
    metric: str | None = None
    measure: Literal["difference", "ratio"] = "difference"
    compare_to: Literal["reference", "worst_case"] = "reference"
    fairness_metric: str | None = None
    bound_on: BoundOn = "estimate"
    kind: ClassVar[Literal["disparity"]] = "disparity"


@dataclass(frozen=True)
class CalibrationCheck:
    """Calibration slope, intercept and O/E ratio per group; ``None`` means not checked."""

    slope: Bounds | None = None
    intercept: Bounds | None = None
    oe_ratio: Bounds | None = None
    bound_on: BoundOn = "estimate"
    kind: ClassVar[Literal["calibration"]] = "calibration"

    def quantities(self) -> list[tuple[str, Bounds]]:
        """(metric id, bounds) of every quantity the check looks at, in a fixed order."""
        pairs = (
            ("calibration_slope", self.slope),
            ("calibration_intercept", self.intercept),
            ("oe_ratio", self.oe_ratio),
        )
        return [(metric, b) for metric, b in pairs if b is not None]


@dataclass(frozen=True)
class RegressionCheck:
    """No worse than the baseline report by more than ``margin`` (metric units)."""

    metric: str
    margin: float
    bound_on: BoundOn = "estimate"
    kind: ClassVar[Literal["regression"]] = "regression"


@dataclass(frozen=True)
class RepresentationCheck:
    """Minimum size, events, share, or share relative to the reference population."""

    min_n: int | None = None
    min_events: int | None = None
    min_share: float | None = None
    min_share_ratio: float | None = None
    kind: ClassVar[Literal["representation"]] = "representation"


@dataclass(frozen=True)
class ProxyCheck:
    """No feature predicts a sensitive attribute with proxy strength above the maximum."""

    max_strength: float
    include_joint: bool = False
    kind: ClassVar[Literal["proxy"]] = "proxy"


@dataclass(frozen=True)
class DocumentationCheck:
    """Model card fields (dotted keys allowed) that must be present and non-empty."""

    fields: tuple[str, ...]
    kind: ClassVar[Literal["documentation"]] = "documentation"


@dataclass(frozen=True)
class DiscoveryCheck:
    """Every confirmed discovered cohort on ``metric`` within bounds (estimate, and its
    ratio to the rest's value)."""

    metric: str
    bounds: Bounds
    max_ratio_to_rest: float | None = None
    kind: ClassVar[Literal["discovery"]] = "discovery"


Check = (
    MetricCheck
    | DisparityCheck
    | CalibrationCheck
    | RegressionCheck
    | RepresentationCheck
    | ProxyCheck
    | DocumentationCheck
    | DiscoveryCheck
)


Undecided = Literal["warn", "block"]
DEFAULT_UNDECIDED: Undecided = "warn"
Intervals = Literal["per_result", "simultaneous"]
DEFAULT_INTERVALS: Intervals = "per_result"
ALL_ATTRIBUTES = "all"
"""``selector.attributes: all``: every attribute and every intersection of the audit."""


@dataclass(frozen=True)
class Selector:
    """Which groups a rule judges. Attribute and group names are tuples (one per attribute)."""

    attributes: tuple[tuple[str, ...], ...] | None = None
    """``None``: every single attribute of the audit; ``()``: none (overall-only rules)."""
    groups: tuple[tuple[str, ...], ...] | None = None
    """``None``: every group of the selected attributes."""
    include_overall: bool = False
    include_intersections: bool = False
    """Add every intersection the audit measured to the selected attributes."""
    min_n: int | None = None
    """Groups with fewer patients are not evaluable for this rule."""


@dataclass(frozen=True)
class Rule:
    """One requirement of a policy, as the committee wrote it."""

    id: str
    title: str
    severity: Severity
    rationale: str
    source: str
    check: Check
    selector: Selector = field(default_factory=Selector)
    tasks: tuple[str, ...] = ()
    """The tasks (binary, survival, multiclass, regression) the rule judges; empty: all."""

    @property
    def kind(self) -> str:
        return self.check.kind


@dataclass(frozen=True)
class Policy:
    """A validated policy with its ``extends`` chain resolved into one list of rules."""

    id: str
    title: str
    version: str
    description: str | None
    source: str
    """Shipped pack name, or the policy file's name."""
    sha256: str
    """SHA-256 of this policy's own file content."""
    rules: tuple[Rule, ...]
    extends: tuple[str, ...] = ()
    """Sources of the inherited policies, nearest parent first."""
    extends_sha256: tuple[str, ...] = ()
    """SHA-256 of each inherited policy's file, parallel to ``extends``."""
    path: Path | None = None
    """The file read, or ``None`` for a shipped pack."""
    undecided: Undecided = DEFAULT_UNDECIDED
    """What a blocking rule that is inconclusive or not evaluable does to the verdict:
    ``warn`` (the verdict is at most WARN) or ``block`` (FAIL, exit 1)."""
    intervals: Intervals = DEFAULT_INTERVALS
    """Which intervals rules on intervals use: each result's own 95% interval, or
    simultaneous intervals covering all of a rule's groups jointly (docs/statistics.md)."""

    def info(self) -> PolicyInfo:
        """The summary a report and ``auditor policies`` show."""
        return PolicyInfo(
            id=self.id,
            title=self.title,
            version=self.version,
            source=self.source,
            sha256=self.sha256,
            rule_count=len(self.rules),
            description=self.description,
            intervals=self.intervals,
        )


# ---------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    key: str
    """Identity for cycle detection: ``pack:<name>`` or the resolved absolute path."""
    display: str
    """How messages name the file."""
    name: str
    """``Policy.source``: the pack name or the file name."""
    data: bytes
    base_dir: Path | None
    """Folder that relative ``extends`` paths resolve against (None for packs)."""
    path: Path | None
    is_json: bool
    allowed_dirs: tuple[Path, ...] | None = None
    """When set (a served dashboard), the only folders a policy file may come from."""


def _looks_like_path(ref: str | Path) -> bool:
    if isinstance(ref, Path):
        return True
    return ref.lower().endswith(PATH_SUFFIXES) or "/" in ref or os.sep in ref


def _close(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _within(ref: str | Path, folders: Sequence[Path]) -> Path:
    """The policy file ``ref`` names inside ``folders``; one message whatever went wrong."""
    found = inside(ref, folders, allow_absolute=True)
    if found is None:
        raise PolicyError(POLICY_NOT_ALLOWED.format(ref=ref))
    return found


def _resolve(
    ref: str | Path, base_dir: Path | None, allowed_dirs: tuple[Path, ...] | None = None
) -> _Source:
    if not _looks_like_path(ref):
        name = str(ref)
        resource = packs.pack_resource(name)
        names = packs.pack_names()
        if resource is None:
            close = _close(name, names)
            hint = DID_YOU_MEAN.format(name=close) if close else ""
            raise PolicyError(UNKNOWN_PACK.format(name=name, hint=hint, packs=", ".join(names)))
        return _Source(
            key=f"pack:{name}",
            display=name + packs.PACK_SUFFIX,
            name=name,
            data=resource.read_bytes(),
            base_dir=None,
            path=None,
            is_json=False,
            allowed_dirs=allowed_dirs,
        )
    if allowed_dirs is not None:
        path = _within(ref, allowed_dirs)
        base_dir = path.parent
    else:
        path = Path(ref)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    display = str(path)
    if not path.exists():
        hint = PACK_HINT.format(name=path.stem) if path.stem in packs.pack_names() else ""
        raise PolicyError(POLICY_NOT_FOUND.format(file=display, hint=hint))
    data = read_regular_file(path, error=PolicyError, file=display)  # hashed and parsed once
    return _Source(
        key=str(path.resolve()),
        display=display,
        name=path.name,
        data=data,
        base_dir=path.parent,
        path=path,
        is_json=path.suffix.lower() == ".json",
        allowed_dirs=allowed_dirs,
    )


def _parse(src: _Source) -> Any:
    try:
        text = src.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(NOT_UTF8.format(file=src.display)) from exc
    if src.is_json:
        try:
            return load_json(text, source=src.display, error=PolicyError)
        except json.JSONDecodeError as exc:
            raise PolicyError(
                JSON_SYNTAX.format(
                    file=src.display, line=exc.lineno, column=exc.colno, problem=exc.msg
                )
            ) from exc
    try:
        return load_yaml(text, source=src.display, error=PolicyError)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise PolicyError(
            YAML_SYNTAX.format(file=src.display, line=line, column=column, problem=problem)
        ) from exc


# ------------------------------------------------------------------------- validation

PathTuple = tuple[str | int, ...]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(path: Iterable[str | int]) -> str:
    """``$.rules[2].check.metric`` for ('rules', 2, 'check', 'metric')."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


@cache
def _validator() -> Draft202012Validator:
    schema = packs.schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _required_alternatives(branches: Any) -> list[str] | None:
    """The keys of an anyOf/oneOf whose branches are each ``{"required": [key]}``."""
    if not isinstance(branches, list):
        return None
    keys: list[str] = []
    for branch in branches:
        if not (isinstance(branch, dict) and set(branch) == {"required"}):
            return None
        keys.extend(branch["required"])
    return keys


def _explain(error: ValidationError) -> Iterator[tuple[PathTuple, str]]:
    """One or more (path, message) for a schema error, in words a policy author can act on."""
    path: PathTuple = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        for key in sorted(k for k in error.instance if k not in allowed):
            close = _close(str(key), allowed)
            hint = f" (did you mean {close}?)" if close else ""
            yield (
                (*path, str(key)),
                UNKNOWN_KEY.format(key=key, hint=hint, allowed=", ".join(allowed)),
            )
        return
    if error.validator in ("anyOf", "oneOf"):
        keys = _required_alternatives(error.validator_value)
        if keys is not None:
            template = EXPECTED_AT_LEAST_ONE if error.validator == "anyOf" else EXPECTED_EXACTLY_ONE
            yield path, template.format(keys=", ".join(keys))
            return
    yield path, error.message


def _unknown_metric(metric: str) -> str:
    known = all_metric_ids()
    close = _close(metric, known)
    hint = (
        DID_YOU_MEAN.format(name=close) if close else KNOWN_METRICS.format(known=", ".join(known))
    )
    return UNKNOWN_METRIC.format(metric=metric, hint=hint)


def fairness_metric_names() -> list[str]:
    """Named fairness metrics a disparity check may use (defined in auditor.measure.disparities)."""
    return [f.name for f in FAIRNESS]


def _unknown_fairness_metric(name: str) -> str:
    known = fairness_metric_names()
    close = _close(name, known)
    hint = (
        DID_YOU_MEAN.format(name=close)
        if close
        else KNOWN_FAIRNESS_METRICS.format(known=", ".join(known))
    )
    return UNKNOWN_FAIRNESS_METRIC.format(metric=name, hint=hint)


def _number(value: Any) -> float | None:
    """The value if it is a number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _bounds_errors(obj: Mapping[str, Any], path: PathTuple) -> Iterator[tuple[PathTuple, str]]:
    lo, hi = _number(obj.get("min")), _number(obj.get("max"))
    if lo is not None and hi is not None and lo > hi:
        yield path, MIN_ABOVE_MAX.format(min=obj["min"], max=obj["max"])


def _check_errors(check: Mapping[str, Any], path: PathTuple) -> Iterator[tuple[PathTuple, str]]:
    """Registry and range checks the schema cannot express (robust to malformed input)."""
    kind = check.get("kind")
    metric = check.get("metric")
    unknown_kind = kind not in CHECK_KINDS
    if (kind in ("metric", "disparity", "regression") or unknown_kind) and isinstance(metric, str):
        definition = METRICS.get(metric) or find_metric(metric)
        if definition is None:
            yield (*path, "metric"), _unknown_metric(metric)
        elif kind == "regression" and definition.direction == "none":
            yield (*path, "metric"), NO_DIRECTION.format(metric=metric)
    fairness = check.get("fairness_metric")
    if (
        kind == "disparity"
        and isinstance(fairness, str)
        and fairness not in fairness_metric_names()
    ):
        yield (*path, "fairness_metric"), _unknown_fairness_metric(fairness)
    if kind in ("metric", "disparity"):
        yield from _bounds_errors(check, path)
    if kind == "calibration":
        for key in ("slope", "intercept", "oe_ratio"):
            sub = check.get(key)
            if isinstance(sub, dict):
                yield from _bounds_errors(sub, (*path, key))


def _semantic_errors(doc: Mapping[str, Any]) -> Iterator[tuple[PathTuple, str]]:
    rules = doc.get("rules")
    if not isinstance(rules, list):
        return
    first_index: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        rule_id = rule.get("id")
        if isinstance(rule_id, str):
            if rule_id in first_index:
                yield (
                    ("rules", i, "id"),
                    DUPLICATE_RULE.format(id=rule_id, first=first_index[rule_id]),
                )
            else:
                first_index[rule_id] = i
        check = rule.get("check")
        if isinstance(check, dict):
            yield from _check_errors(check, ("rules", i, "check"))


def _sort_key(item: tuple[PathTuple, str]) -> tuple[tuple[tuple[int, int, str], ...], str]:
    path, message = item
    parts = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)
    return parts, message


def document_errors(doc: Any) -> list[str]:
    """Every problem of a parsed policy document as ``<JSON path>: <message>``, sorted by path.

    Schema errors (all of them, not only ``best_match``) and registry checks together.
    """
    found: list[tuple[PathTuple, str]] = []
    for error in _validator().iter_errors(doc):
        found.extend(_explain(error))
    if isinstance(doc, dict):
        found.extend(_semantic_errors(doc))
    lines: list[str] = []
    for path, message in sorted(set(found), key=_sort_key):
        lines.append(f"{json_path(path)}: {message}")
    return lines


def _describe_type(doc: Any) -> str:
    if doc is None:
        return "an empty document"
    if isinstance(doc, list):
        return "a list"
    return f"a {type(doc).__name__} ({doc!r:.40})"


def _validated(src: _Source) -> dict[str, Any]:
    doc = _parse(src)
    if not isinstance(doc, dict):
        raise PolicyError(NOT_A_MAPPING.format(file=src.display, got=_describe_type(doc)))
    problems = document_errors(doc)
    if problems:
        raise PolicyError(
            "\n".join(ERROR_LINE.format(file=src.display, problem=p) for p in problems)
        )
    return doc


# ----------------------------------------------------------------------------- build


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _bounds(obj: Mapping[str, Any]) -> Bounds:
    lo, hi = obj.get("min"), obj.get("max")
    return Bounds(
        min=None if lo is None else float(lo),
        max=None if hi is None else float(hi),
    )


def _check(obj: Mapping[str, Any]) -> Check:
    kind = obj["kind"]
    bound_on = obj.get("bound_on", "estimate")
    if kind == "metric":
        return MetricCheck(metric=obj["metric"], bounds=_bounds(obj), bound_on=bound_on)
    if kind == "disparity":
        return DisparityCheck(
            bounds=_bounds(obj),
            metric=obj.get("metric"),
            measure=obj.get("measure", "difference"),
            compare_to=obj.get("compare_to", "reference"),
            fairness_metric=obj.get("fairness_metric"),
            bound_on=bound_on,
        )
    if kind == "calibration":
        return CalibrationCheck(
            slope=_bounds(obj["slope"]) if "slope" in obj else None,
            intercept=_bounds(obj["intercept"]) if "intercept" in obj else None,
            oe_ratio=_bounds(obj["oe_ratio"]) if "oe_ratio" in obj else None,
            bound_on=bound_on,
        )
    if kind == "regression":
        return RegressionCheck(metric=obj["metric"], margin=float(obj["margin"]), bound_on=bound_on)
    if kind == "representation":
        return RepresentationCheck(
            min_n=obj.get("min_n"),
            min_events=obj.get("min_events"),
            min_share=obj.get("min_share"),
            min_share_ratio=obj.get("min_share_ratio"),
        )
    if kind == "proxy":
        return ProxyCheck(
            max_strength=float(obj["max_strength"]),
            include_joint=bool(obj.get("include_joint", False)),
        )
    if kind == "discovery":
        ratio = obj.get("max_ratio_to_rest")
        return DiscoveryCheck(
            metric=obj["metric"],
            bounds=_bounds(obj),
            max_ratio_to_rest=None if ratio is None else float(ratio),
        )
    return DocumentationCheck(fields=tuple(obj["fields"]))


def _selector(obj: Mapping[str, Any] | None) -> Selector:
    if not obj:
        return Selector()
    attributes = obj.get("attributes")
    groups = obj.get("groups")
    every = attributes == ALL_ATTRIBUTES
    return Selector(
        attributes=None if attributes is None or every else tuple(_names(a) for a in attributes),
        groups=None if groups is None else tuple(_names(g) for g in groups),
        include_overall=bool(obj.get("include_overall", False)),
        include_intersections=every or bool(obj.get("include_intersections", False)),
        min_n=obj.get("min_n"),
    )


def _rule(obj: Mapping[str, Any]) -> Rule:
    return Rule(
        id=obj["id"],
        title=obj["title"],
        severity=obj["severity"],
        rationale=obj["rationale"],
        source=obj["source"],
        check=_check(obj["check"]),
        selector=_selector(obj.get("selector")),
        tasks=tuple(obj.get("tasks") or ()),
    )


def _merge(inherited: Sequence[Rule], own: Sequence[Rule]) -> tuple[Rule, ...]:
    """Parent rules in order, each replaced by the child's rule of the same id; new ones last."""
    overrides = {rule.id: rule for rule in own}
    merged = [overrides.pop(rule.id, rule) for rule in inherited]
    merged.extend(rule for rule in own if rule.id in overrides)
    return tuple(merged)


def _load(src: _Source, chain: tuple[_Source, ...] = ()) -> Policy:
    doc = _validated(src)
    own = [_rule(r) for r in doc.get("rules", [])]
    rules: tuple[Rule, ...] = tuple(own)
    extends: tuple[str, ...] = ()
    extends_sha: tuple[str, ...] = ()
    parent_ref = doc.get("extends")
    if parent_ref is not None:
        try:
            parent_src = _resolve(parent_ref, src.base_dir, src.allowed_dirs)
        except PolicyError as exc:
            raise PolicyError(EXTENDS_FAILED.format(file=src.display, error=exc.message)) from exc
        seen = (*chain, src)
        if any(s.key == parent_src.key for s in seen):
            names = " -> ".join(s.display for s in (*seen, parent_src))
            raise PolicyError(EXTENDS_CYCLE.format(file=src.display, chain=names))
        parent = _load(parent_src, seen)
        rules = _merge(parent.rules, own)
        extends = (parent.source, *parent.extends)
        extends_sha = (parent.sha256, *parent.extends_sha256)
    if not rules:
        raise PolicyError(NO_RULES.format(file=src.display))
    undecided = doc.get("undecided")
    if undecided is None:
        undecided = parent.undecided if parent_ref is not None else DEFAULT_UNDECIDED
    intervals = doc.get("intervals")
    if intervals is None:
        intervals = parent.intervals if parent_ref is not None else DEFAULT_INTERVALS
    return Policy(
        id=doc["id"],
        title=doc["title"],
        version=doc["version"],
        description=doc.get("description"),
        source=src.name,
        sha256=hashlib.sha256(src.data).hexdigest(),
        rules=rules,
        extends=extends,
        extends_sha256=extends_sha,
        path=src.path,
        undecided=undecided,
        intervals=intervals,
    )


# ------------------------------------------------------------------------------ API


def load_policies(
    refs: Sequence[str | Path],
    *,
    base_dir: Path | None = None,
    allowed_dirs: Sequence[Path] | None = None,
) -> list[Policy]:
    """Load, validate and resolve every policy named in ``refs``, in order.

    A ref is a shipped pack name (``"clinical-default"``) or a path to a YAML/JSON
    file; relative paths resolve against ``base_dir`` (the audit spec's folder)
    or, without it, the working directory. With ``allowed_dirs`` (a served
    dashboard) a file, and anything it extends, must lie inside one of those
    folders and is named relative to it. Raises :class:`PolicyError` listing
    every problem of the first invalid file, or naming two policies with one id.
    """
    loaded: list[Policy] = []
    seen: dict[str, Policy] = {}
    for ref in refs:
        allowed = tuple(allowed_dirs) if allowed_dirs is not None else None
        policy = _load(_resolve(ref, base_dir, allowed))
        earlier = seen.get(policy.id)
        if earlier is not None:
            raise PolicyError(
                DUPLICATE_POLICY.format(id=policy.id, first=_where(earlier), second=_where(policy))
            )
        seen[policy.id] = policy
        loaded.append(policy)
    return loaded


def _where(policy: Policy) -> str:
    return str(policy.path) if policy.path is not None else f"the shipped pack {policy.source}"


def validate_policy_file(path: str | Path) -> Policy:
    """Validate one policy file (and whatever it extends); return it resolved.

    Raises :class:`PolicyError` whose message has one line per problem:
    ``<file>: $.rules[2].severity: 'blocker' is not one of ['block', 'warn', 'info']``.
    """
    return _load(_resolve(Path(path), None))


def load_policy_text(
    text: str,
    *,
    name: str = "policy.yaml",
    base_dir: Path | None = None,
    allowed_dirs: Sequence[Path] | None = None,
) -> Policy:
    """Validate a policy given as YAML/JSON text (e.g. from the dashboard's editor).

    ``name`` is how messages name the text; a relative ``extends`` path resolves
    against ``base_dir`` (default: the working directory); with ``allowed_dirs``
    ``extends`` may name only a shipped pack or a file inside those folders.
    """
    data = text.encode("utf-8")
    src = _Source(
        key=f"text:{hashlib.sha256(data).hexdigest()}",
        display=name,
        name=name,
        data=data,
        base_dir=base_dir if base_dir is not None else Path(),
        path=None,
        is_json=name.lower().endswith(".json"),
        allowed_dirs=tuple(allowed_dirs) if allowed_dirs is not None else None,
    )
    return _load(src)


def list_packs() -> list[PolicyInfo]:
    """The shipped packs with their rule counts (after ``extends``) and descriptions."""
    return [_load(_resolve(name, None)).info() for name in packs.pack_names()]
