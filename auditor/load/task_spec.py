"""Cross-field rules of the ``task:`` key: each task's label and model keys, and no other's.

The JSON Schema says which keys exist and which a task requires; these rules say
what the schema cannot (a key that belongs to another task, score columns that do
not match the classes), with the JSON path and what was expected.
"""

from __future__ import annotations

from typing import Any

from auditor.load.spec import group_label

LABEL_KEYS = {
    "binary": ("column", "positive", "negative"),
    "survival": ("time", "event", "event_value", "horizon"),
    "multiclass": ("column", "classes", "ordered"),
    "regression": ("column",),
}
MODEL_SCORE_KEYS = {
    "binary": ("score_column", "path"),
    "survival": ("score_column", "path"),
    "multiclass": ("score_columns", "path"),
    "regression": ("score_column", "path"),
}
KEY_NOT_FOR_TASK = "{key!r} is not used by task {task}; its label keys are: {allowed}"
MODEL_KEY_NOT_FOR_TASK = (
    "{key!r} is not used by task {task}; give one of: {allowed} (multiclass: score_columns "
    "as {{class: column}}, one probability column per class)"
)
SCORE_COLUMNS_MISMATCH = (
    "score_columns must name one column per class of $.label.classes ({classes}); "
    "missing: {missing}; not a class: {extra}"
)
OUTPUT_LABEL_ONLY_BINARY = (
    "output: label is only for binary classifiers; task {task} needs the model's "
    "probabilities (or risk, or predicted value)"
)
ENGINE_NOT_FOR_TASK = (
    "engine {kind} streams or distributes binary audits only; task {task} reads every row "
    "in memory (engine: pandas, or leave engine out)"
)
BINARY_ONLY_KEY = (
    "{key} is for binary classifiers only so far; task {task} would ignore it, so it is "
    "refused (remove {key} from the spec; see docs/tasks.md, Limits)"
)
BINARY_ONLY_KEYS = ("discover",)
SURVIVAL_COLUMNS_SAME = "the time and event columns must differ; both are {column!r}"


def task_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of the task block of an already schema-valid spec, as (path, message)."""
    task = raw.get("task", "binary")
    label = raw.get("label") or {}
    model = raw.get("model") or {}
    problems: list[tuple[str, str]] = []
    allowed = LABEL_KEYS[task]
    for key in label:
        if key not in allowed:
            problems.append(
                (
                    f"$.label.{key}",
                    KEY_NOT_FOR_TASK.format(key=key, task=task, allowed=", ".join(allowed)),
                )
            )
    scoring = MODEL_SCORE_KEYS[task]
    for key in ("score_column", "score_columns"):
        if key in model and key not in scoring:
            problems.append(
                (
                    f"$.model.{key}",
                    MODEL_KEY_NOT_FOR_TASK.format(key=key, task=task, allowed=", ".join(scoring)),
                )
            )
    if task != "binary" and model.get("output") == "label":
        problems.append(("$.model.output", OUTPUT_LABEL_ONLY_BINARY.format(task=task)))
    engine = raw.get("engine") or {}
    kind = engine.get("kind") if isinstance(engine, dict) else None
    if task != "binary" and kind in ("streaming", "spark"):
        problems.append(("$.engine.kind", ENGINE_NOT_FOR_TASK.format(kind=kind, task=task)))
    if task != "binary":
        problems += [
            (f"$.{key}", BINARY_ONLY_KEY.format(key=key, task=task))
            for key in BINARY_ONLY_KEYS
            if raw.get(key) is not None
        ]
    if task == "survival" and label.get("time") == label.get("event"):
        problems.append(("$.label.event", SURVIVAL_COLUMNS_SAME.format(column=label.get("time"))))
    if task == "multiclass" and isinstance(model.get("score_columns"), dict):
        classes = [group_label(c) for c in label.get("classes") or ()]
        given = [group_label(c) for c in model["score_columns"]]
        missing = [c for c in classes if c not in given]
        extra = [c for c in given if c not in classes]
        if missing or extra:
            problems.append(
                (
                    "$.model.score_columns",
                    SCORE_COLUMNS_MISMATCH.format(
                        classes=", ".join(classes),
                        missing=", ".join(missing) or "(none)",
                        extra=", ".join(extra) or "(none)",
                    ),
                )
            )
    return problems
