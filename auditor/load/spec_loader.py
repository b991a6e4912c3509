"""Read an audit spec (YAML or JSON), validate it, and build an :class:`AuditSpec`.

Every problem is collected before reporting, one line each, as
``<file>: <JSON path>: <what is wrong>`` (sorted by path), so a user fixes the
spec in one pass. Schema rules live in ``auditor/schema/spec.schema.json``;
rules across fields (intersections of sensitive attributes only, ...) live in
:func:`cross_field_problems` because JSON Schema cannot express them clearly.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from auditor.errors import DataError, ModelError, SpecError
from auditor.load.data import DATA_NOT_FOUND, check_columns, read_columns
from auditor.load.hashing import read_regular_file, sha256_bytes
from auditor.load.safe_yaml import load_json, load_yaml
from auditor.load.scorers import MODEL_NOT_FOUND, model_format
from auditor.load.spec import (
    DEFAULT_BINS,
    DEFAULT_BOOTSTRAP,
    DEFAULT_MAX_GROUPS,
    DEFAULT_MIN_CELL_SIZE,
    DEFAULT_POLICY,
    DEFAULT_ROUNDING,
    DISCOVER_TASK_METRICS,
    AuditSpec,
    DiscoverSpec,
    EngineSpec,
    ExplainSpec,
    LabelSpec,
    ModelSpec,
    NamedGroup,
    PrivacySpec,
    TaskSpec,
    Waiver,
    default_discover_metrics,
    display_path,
    group_label,
)
from auditor.load.stream import data_files, is_multi_file
from auditor.schema import spec_schema

__all__ = [
    "MIN_CELL_SIZE_LOWERED",
    "cross_field_problems",
    "is_pack_name",
    "load_spec",
    "parse_spec",
    "validate_spec",
]

SPEC_NOT_FOUND = "{file}: spec file not found"
SPEC_NOT_A_FILE = "{file}: is a folder; expected an audit spec file (.yaml, .yml or .json)"
SPEC_UNREADABLE = "{file}: cannot read the spec ({reason})"
SPEC_YAML_ERROR = "{file}: line {line}, column {column}: invalid YAML: {problem}"
YAML_CONTEXT = " ({context} that starts at line {line}, column {column})"
SPEC_JSON_ERROR = "{file}: line {line}, column {column}: invalid JSON: {problem}"
SPEC_EMPTY = (
    "{file}: the spec is empty; expected a mapping with at least data, label, model, "
    "name and sensitive"
)
SPEC_NOT_MAPPING = "{file}: $: expected a mapping of keys to values, got {kind}"
SPEC_PROBLEM = "{file}: {path}: {message}"
UNKNOWN_KEY = "unknown key {key!r}{hint}; allowed keys: {allowed}"
MODEL_BOTH = (
    "give exactly one of 'score_column' (a column of precomputed probabilities) and 'path' "
    "(a model file or folder), not both"
)
MODEL_NEITHER = (
    "give exactly one of 'score_column' (a column of precomputed probabilities) and 'path' "
    "(a model file or folder); neither is set"
)
MODEL_SCORE_COLUMNS_AND = (
    "give exactly one of 'score_columns' (multiclass: a probability column per class) and "
    "{other!r}, not both"
)
NOT_SHA256 = "{value!r} is not a SHA-256; expected 64 hexadecimal digits"
NOT_ANY_TYPE = "{value!r} is not of type {types}"
NOT_SENSITIVE = (
    "{attr!r} is not a sensitive attribute; {what} must be listed in $.sensitive ({sensitive})"
)
INTERSECTION_REPEATED = "repeats $.intersections[{first}] (the order of attributes does not matter)"
LABEL_IS_SENSITIVE = "the label column {column!r} cannot also be a sensitive attribute"
LABEL_IS_FEATURE = (
    "the label column {column!r} cannot be a feature: the model must not read the outcome"
)
SCORE_IS_LABEL = "the score column {column!r} cannot be the label column"
MIN_CELL_SIZE_TWICE = (
    "$.min_cell_size is {top} but $.privacy.min_cell_size is {block}; give it once "
    "(privacy.min_cell_size)"
)
NEGATIVE_IS_POSITIVE = "the negative value {value!r} is the same as the positive value"
MIN_CELL_SIZE_LOWERED = (
    "{file}: $.min_cell_size is {value}, below the privacy floor of {floor}: groups with as few "
    "as {value} patients will appear in reports; lower it only with your data governance's "
    "approval"
)

_PACK_SUFFIXES = (".yaml", ".yml", ".json")
_BOOL_TAG = "tag:yaml.org,2002:bool"


class _SpecYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false) and duplicate keys as errors.

    YAML 1.1 reads ``positive: yes`` or ``race: NO`` as booleans, which would never
    match the strings in the data; a duplicate key silently drops the first value.
    """


_SpecYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _SpecYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key: let the constructor report it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


_SpecYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(str(part))}]"
    return text


def _type_names(schema: dict[str, Any]) -> list[str]:
    types = schema.get("type")
    if isinstance(types, str):
        return [types]
    return list(types or [])


def _explain_error(error: ValidationError) -> list[tuple[str, str]]:
    """One schema error as plain ``(json path, message)`` pairs."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [
            name
            for name in error.validator_value
            if isinstance(error.instance, dict) and name not in error.instance
        ]
        name = next((n for n in missing if error.message.startswith(repr(n))), missing[0])
        return [(_json_path([*path, name]), error.message)]
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        problems = []
        for key in extras:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = UNKNOWN_KEY.format(key=key, hint=hint, allowed=", ".join(allowed))
            problems.append((_json_path([*path, key]), message))
        return problems
    if error.validator == "oneOf" and path == ["model"] and isinstance(error.instance, dict):
        given = [k for k in ("score_column", "path", "score_columns") if k in error.instance]
        if "score_columns" in given and len(given) > 1:
            return [(_json_path(path), MODEL_SCORE_COLUMNS_AND.format(other=given[0]))]
        both = "score_column" in error.instance and "path" in error.instance
        return [(_json_path(path), MODEL_BOTH if both else MODEL_NEITHER)]
    if error.validator == "pattern" and path and path[-1] == "sha256":
        return [(_json_path(path), NOT_SHA256.format(value=error.instance))]
    if error.validator in ("anyOf", "oneOf"):
        # Prefer what went wrong inside the branch whose type fits (e.g. a threshold of 1.5).
        inner = [e for e in error.context or [] if e.validator != "type"]
        if inner:
            deepest = max(inner, key=lambda e: len(e.absolute_path))
            return _explain_error(deepest)
        types: list[str] = []
        for branch in error.validator_value:
            branch = _resolve_ref(branch)
            types += [t for t in _type_names(branch) if t not in types]
        shown = " or ".join(repr(t) for t in types)
        return [(_json_path(path), NOT_ANY_TYPE.format(value=error.instance, types=shown))]
    return [(_json_path(path), error.message)]


def _resolve_ref(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = spec_schema()["$defs"][ref.split("/")[-1]]
        return resolved
    return schema


def schema_problems(raw: Any) -> list[tuple[str, str]]:
    """Every schema violation of ``raw`` as ``(json path, message)``, sorted."""
    validator = Draft202012Validator(spec_schema())
    problems: set[tuple[str, str]] = set()
    for error in validator.iter_errors(raw):
        problems.update(_explain_error(error))
    return sorted(problems)


def is_pack_name(ref: str) -> bool:
    """A shipped policy pack name (``clinical-default``) rather than a path to a policy file."""
    return "/" not in ref and "\\" not in ref and not ref.lower().endswith(_PACK_SUFFIXES)


def cross_field_problems(spec: AuditSpec) -> list[tuple[str, str]]:
    """Rules across fields, as ``(json path, message)``, sorted."""
    problems: list[tuple[str, str]] = []
    sensitive = list(spec.sensitive)
    listed = ", ".join(sensitive)
    label = spec.label.column

    def not_sensitive(attr: str, what: str) -> str:
        return NOT_SENSITIVE.format(attr=attr, what=what, sensitive=listed)

    seen_views: dict[frozenset[str], int] = {}
    for i, view in enumerate(spec.intersections):
        for j, attr in enumerate(view):
            if attr not in sensitive:
                problems.append(
                    (
                        f"$.intersections[{i}][{j}]",
                        not_sensitive(attr, "attributes of intersections"),
                    )
                )
        key = frozenset(view)
        if key in seen_views:
            problems.append(
                (f"$.intersections[{i}]", INTERSECTION_REPEATED.format(first=seen_views[key]))
            )
        else:
            seen_views[key] = i
    for attr in spec.reference_groups:
        if attr not in sensitive:
            problems.append(
                (
                    _json_path(["reference_groups", attr]),
                    not_sensitive(attr, "keys of reference_groups"),
                )
            )
    for attr in spec.reference_shares:
        if attr not in sensitive:
            problems.append(
                (
                    _json_path(["reference_shares", attr]),
                    not_sensitive(attr, "keys of reference_shares"),
                )
            )
    if label in sensitive:
        problems.append(
            (f"$.sensitive[{sensitive.index(label)}]", LABEL_IS_SENSITIVE.format(column=label))
        )
    features = list(spec.features or ())
    if label in features:
        problems.append(
            (f"$.features[{features.index(label)}]", LABEL_IS_FEATURE.format(column=label))
        )
    if spec.model.score_column is not None and spec.model.score_column == label:
        problems.append(("$.model.score_column", SCORE_IS_LABEL.format(column=label)))
    if spec.label.negative is not None and group_label(spec.label.negative) == group_label(
        spec.label.positive
    ):
        problems.append(
            ("$.label.negative", NEGATIVE_IS_POSITIVE.format(value=spec.label.negative))
        )
    problems += _discover_problems(spec)
    if spec.raw:
        from auditor.load.task_spec import task_problems

        problems.extend(task_problems(spec.raw))
    for column in spec.task.columns:
        if column in sensitive:
            where = f"$.sensitive[{sensitive.index(column)}]"
            problems.append((where, LABEL_IS_SENSITIVE.format(column=column)))
        if column in features:
            problems.append(
                (f"$.features[{features.index(column)}]", LABEL_IS_FEATURE.format(column=column))
            )
    block = spec.raw.get("privacy") or {}
    top = spec.raw.get("min_cell_size")
    twice = "min_cell_size" in block and top is not None
    if twice and block["min_cell_size"] != top:
        problems.append(
            (
                "$.privacy.min_cell_size",
                MIN_CELL_SIZE_TWICE.format(top=top, block=block["min_cell_size"]),
            )
        )
    return sorted(problems)


DISCOVER_BELOW_FLOOR = (
    "{value} is below the privacy floor (min_cell_size {floor}): a discovered cohort "
    "must be at least as large as the smallest group the report may publish"
)
DISCOVER_METRIC_NOT_FOR_TASK = (
    "{metric} cannot be searched for a {task} audit; the {task} search tests: {allowed}"
)
DISCOVER_NEEDS_ORDER = (
    "{metric} needs ordered classes (label.ordered: true, most acute first); an unordered "
    "multiclass search tests accuracy"
)
NAMED_GROUP_CLASH = (
    "{name!r} is already {what}; a named group needs a name of its own (it becomes an "
    "attribute with the groups in and out)"
)


def _discover_problems(spec: AuditSpec) -> list[tuple[str, str]]:
    """The search may not go below the privacy floor; named groups need their own names."""
    problems: list[tuple[str, str]] = []
    floor = spec.min_cell_size
    if spec.discover is not None:
        allowed = DISCOVER_TASK_METRICS[spec.task.id]
        for i, metric in enumerate(spec.discover.metrics):
            if metric not in allowed:
                problems.append(
                    (
                        f"$.discover.metrics[{i}]",
                        DISCOVER_METRIC_NOT_FOR_TASK.format(
                            metric=metric, task=spec.task.id, allowed=", ".join(allowed)
                        ),
                    )
                )
            elif metric in ("under_triage_rate", "over_triage_rate") and not spec.task.ordered:
                problems.append(
                    (f"$.discover.metrics[{i}]", DISCOVER_NEEDS_ORDER.format(metric=metric))
                )
        for key in ("min_size", "min_events"):
            value = getattr(spec.discover, key)
            if value < floor:
                problems.append(
                    (f"$.discover.{key}", DISCOVER_BELOW_FLOOR.format(value=value, floor=floor))
                )
    seen: set[str] = set()
    for i, group in enumerate(spec.named_groups):
        what = None
        if group.name in spec.sensitive:
            what = "a sensitive attribute"
        elif group.name == spec.label.column:
            what = "the label column"
        elif group.name in seen:
            what = "the name of another named group"
        if what:
            problems.append(
                (f"$.named_groups[{i}].name", NAMED_GROUP_CLASH.format(name=group.name, what=what))
            )
        seen.add(group.name)
    return problems


def _raise_problems(file: str, problems: list[tuple[str, str]]) -> None:
    if problems:
        lines = [SPEC_PROBLEM.format(file=file, path=p, message=m) for p, m in sorted(problems)]
        raise SpecError("\n".join(lines))


def _parse_text(text: str, path: Path, file: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return load_json(text, source=file, error=SpecError)
        except json.JSONDecodeError as exc:
            raise SpecError(
                SPEC_JSON_ERROR.format(
                    file=file, line=exc.lineno, column=exc.colno, problem=exc.msg
                )
            ) from exc
    try:
        return load_yaml(text, source=file, loader=_SpecYamlLoader, error=SpecError)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else ("?", "?")
        problem = exc.problem or exc.context or "cannot parse"
        start = exc.context_mark
        if exc.problem and exc.context and start is not None and start is not mark:
            problem += YAML_CONTEXT.format(
                context=exc.context, line=start.line + 1, column=start.column + 1
            )
        raise SpecError(
            SPEC_YAML_ERROR.format(file=file, line=line, column=column, problem=problem)
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(SPEC_UNREADABLE.format(file=file, reason=exc)) from exc


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _task(raw: dict[str, Any]) -> TaskSpec:
    """The task block: ``task:`` and the task's own label/model keys."""
    task = raw.get("task", "binary")
    label, model = raw["label"], raw["model"]
    if task == "survival":
        return TaskSpec(
            id=task,
            time=label["time"],
            event=label["event"],
            event_value=label.get("event_value", 1),
            horizon=float(label["horizon"]),
        )
    if task == "multiclass":
        columns = model.get("score_columns") or {}
        by_label = {group_label(k): v for k, v in columns.items()}
        return TaskSpec(
            id=task,
            classes=tuple(label["classes"]),
            ordered=bool(label.get("ordered", False)),
            score_columns=tuple(
                (c, by_label[group_label(c)])
                for c in label["classes"]
                if group_label(c) in by_label
            ),
        )
    return TaskSpec(id=task)


def _build(raw: dict[str, Any], base: Path) -> AuditSpec:
    label = raw["label"]
    model = raw["model"]
    task = _task(raw)
    label_column = label["time"] if task.id == "survival" else label["column"]
    threshold = raw.get("threshold", 0.5)
    thresholds = tuple(
        float(t) for t in (threshold if isinstance(threshold, list) else [threshold])
    )
    policy = raw.get("policy", DEFAULT_POLICY)
    policies = tuple(
        p if is_pack_name(p) else str(_resolve(base, p))
        for p in (policy if isinstance(policy, list) else [policy])
    )
    features = raw.get("features")
    return AuditSpec(
        name=raw["name"],
        data=_resolve(base, raw["data"]),
        label=LabelSpec(
            column=label_column, positive=label.get("positive"), negative=label.get("negative")
        ),
        task=task,
        model=ModelSpec(
            score_column=model.get("score_column"),
            path=_resolve(base, model["path"]) if "path" in model else None,
            sha256=model["sha256"].lower() if "sha256" in model else None,
            trusted_types=tuple(model.get("trusted_types", ())),
            name=model.get("name"),
            version=model.get("version"),
            output=model.get("output", "probability"),
        ),
        sensitive=tuple(raw["sensitive"]),
        features=tuple(features) if features is not None else None,
        intersections=tuple(tuple(view) for view in raw.get("intersections", ())),
        reference_groups={k: group_label(v) for k, v in raw.get("reference_groups", {}).items()},
        thresholds=thresholds,
        policies=policies,
        seed=raw.get("seed", 0),
        bootstrap=raw.get("bootstrap", DEFAULT_BOOTSTRAP),
        bootstrap_bins=raw.get("bootstrap_bins", DEFAULT_BINS),
        cluster=raw.get("cluster"),
        min_cell_size=_min_cell_size(raw),
        privacy=PrivacySpec(
            min_cell_size=_min_cell_size(raw),
            complementary=raw.get("privacy", {}).get("complementary", True),
            rounding=raw.get("privacy", {}).get("rounding", DEFAULT_ROUNDING),
            max_groups=raw.get("privacy", {}).get("max_groups", DEFAULT_MAX_GROUPS),
        ),
        drop_missing_label=raw.get("drop_missing_label", False),
        model_card=copy.deepcopy(raw.get("model_card", {})),
        explain=ExplainSpec(**raw.get("explain", {})),
        engine=_engine(raw.get("engine", {})),
        reference_shares={
            attr: {group_label(g): float(s) for g, s in shares.items()}
            for attr, shares in raw.get("reference_shares", {}).items()
        },
        undecided=raw.get("undecided"),
        waivers=tuple(waiver_from(w) for w in raw.get("waivers", ())),
        discover=_discover(raw.get("discover"), task),
        named_groups=tuple(
            NamedGroup(
                name=g["name"],
                where=tuple(dict(c) for c in g["where"]),
                description=g.get("description"),
            )
            for g in raw.get("named_groups", ())
        ),
        raw=copy.deepcopy(raw),
    )


def _discover(block: Any, task: TaskSpec) -> DiscoverSpec | None:
    """The ``discover:`` block (``true`` or ``{}`` for every default; absent: no search);
    without ``metrics``, the task's default search metrics."""
    if block is None or block is False:
        return None
    values = {} if block is True else dict(block)
    for key in ("features", "metrics"):
        if key in values:
            values[key] = tuple(values[key])
    values.setdefault("metrics", default_discover_metrics(task.id, task.ordered))
    return DiscoverSpec(**values)


def _engine(block: dict[str, Any]) -> EngineSpec:
    conf = {str(k): str(v) for k, v in block.get("conf", {}).items()}
    return EngineSpec(**{**block, "conf": conf})


def _min_cell_size(raw: dict[str, Any]) -> int:
    """``privacy.min_cell_size``, else the top-level ``min_cell_size`` (kept working)."""
    block = raw.get("privacy", {})
    return int(block.get("min_cell_size", raw.get("min_cell_size", DEFAULT_MIN_CELL_SIZE)))


def waiver_from(obj: dict[str, Any]) -> Waiver:
    """One validated ``waivers`` entry of a spec."""
    group = obj["group"]
    attribute = obj.get("attribute")
    return Waiver(
        rule=obj["rule"],
        group=None
        if group == "all"
        else tuple(map(str, [group] if isinstance(group, str) else group)),
        reason=obj["reason"],
        approved_by=obj["approved_by"],
        expires=obj["expires"],
        attribute=None
        if attribute is None
        else tuple([attribute] if isinstance(attribute, str) else attribute),
    )


def parse_spec(raw: Any, *, base_dir: str | Path = ".", file: str = "the spec") -> AuditSpec:
    """Validate an already-parsed spec mapping and build the :class:`AuditSpec`.

    Relative paths resolve against ``base_dir``. Raises SpecError listing every
    problem; warns (UserWarning) when ``min_cell_size`` is below the privacy floor.
    """
    if raw is None:
        raise SpecError(SPEC_EMPTY.format(file=file))
    if not isinstance(raw, dict):
        raise SpecError(SPEC_NOT_MAPPING.format(file=file, kind=type(raw).__name__))
    _raise_problems(file, schema_problems(raw))
    spec = _build(raw, Path(base_dir).absolute())
    _raise_problems(file, cross_field_problems(spec))
    if spec.min_cell_size < DEFAULT_MIN_CELL_SIZE:
        warnings.warn(
            MIN_CELL_SIZE_LOWERED.format(
                file=file, value=spec.min_cell_size, floor=DEFAULT_MIN_CELL_SIZE
            ),
            UserWarning,
            stacklevel=3,
        )
    return spec


def load_spec(path: str | Path) -> AuditSpec:
    """Read, validate and build the audit spec at ``path`` (YAML, or JSON by suffix).

    Raises SpecError for a missing or unreadable file, a YAML/JSON syntax error
    (with its line), and every schema or cross-field problem (with its JSON
    path), one per line. Files the spec names are checked by :func:`validate_spec`.
    """
    path = Path(path)
    file = display_path(path)
    if path.is_dir():
        raise SpecError(SPEC_NOT_A_FILE.format(file=file))
    if not path.exists():
        raise SpecError(SPEC_NOT_FOUND.format(file=file))
    content = read_regular_file(path, error=SpecError, file=file)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(SPEC_UNREADABLE.format(file=file, reason=f"not UTF-8 text: {exc}")) from exc
    raw = _parse_text(text, path, file)
    spec = parse_spec(raw, base_dir=path.absolute().parent, file=file)
    return _with_source(spec, path.absolute(), sha256_bytes(content))


def _with_source(spec: AuditSpec, source: Path, digest: str) -> AuditSpec:

    return replace(spec, source=source, source_sha256=digest)


def validate_spec(spec: AuditSpec) -> None:
    """Check what the spec names outside itself: files exist, columns are in the data.

    Reads only the data's header (Parquet schema or the CSV's first row). Raises
    SpecError (cross-field rules), DataError (data file, columns) or ModelError
    (model file or format), naming the file and the column.
    """
    spec_file = display_path(spec.source) if spec.source is not None else "the spec"
    _raise_problems(spec_file, cross_field_problems(spec))
    spark = spec.engine.kind == "spark"  # the data may be a table or a cluster path
    data = Path(spec.data)
    first = None
    if not spark and is_multi_file(data):  # a folder or glob: its first file's columns
        first = data_files(data, spec_name=spec_file)[0]
    elif not spark and not data.exists():
        raise DataError(DATA_NOT_FOUND.format(file=display_path(data), spec=spec_file))
    if spec.model.path is not None:
        model = Path(spec.model.path)
        if not model.exists():
            raise ModelError(MODEL_NOT_FOUND.format(file=display_path(model), spec=spec_file))
        model_format(model)
    if first is not None:
        check_columns(replace(spec, data=first), read_columns(first))
    elif not spark:
        check_columns(spec, read_columns(data))
