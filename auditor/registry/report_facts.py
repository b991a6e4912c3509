"""What the registry reads from an audit report: facts for the log and key metrics.

Reports are validated with :class:`reports.model.Report` when recorded, tolerating
fields this version does not know; stored reports are read back as plain JSON so
audits recorded by older or newer versions of the auditor still show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from auditor.errors import RegistryError
from auditor.judge.compare import label
from auditor.registry.chain import sha256_text
from auditor.registry.records import GroupMetrics, HistoryRow, MetricValue
from reports.model import PolicyResult, Report

VERDICTS = ("pass", "warn", "fail")
OVERALL_ATTRIBUTE = "overall"
OVERALL_GROUP = "all"

MSG_INVALID_REPORT = "{source} is not a valid audit report: at {path}: {problem}"
MSG_VERDICT_EDITED = (
    "{source}: its verdict is {found!r} but its own policy results make it {expected!r}: "
    "the report was changed after it was judged; refusing to record it"
)
MSG_COUNTS_EDITED = (
    "{source}: its summary says {field} = {found} but its own policy results give "
    "{expected}: the report was changed after it was judged; refusing to record it"
)
MSG_JSON_MISMATCH = (
    "report_json does not match the report given with it: {field} is {in_json!r} in the JSON "
    "but {in_report!r} in the report"
)


@dataclass
class AuditFacts:
    """What a report contributes to its log entry (everything but ids and time)."""

    model_name: str
    model_version: str | None
    report_name: str
    verdict: str
    generated_at: str | None
    report_sha256: str
    provenance_sha256: dict[str, Any] = field(default_factory=dict)


def parse_report_json(text: str, *, source: str) -> dict[str, Any]:
    """Validate a report text against :class:`Report`, tolerating fields it does not know.

    A report written by a newer auditor may carry extra fields; every field this
    version knows must still be valid.
    """
    try:
        Report.model_validate_json(text)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["type"] != "extra_forbidden"]
        if errors:
            first = errors[0]
            raise RegistryError(
                MSG_INVALID_REPORT.format(
                    source=source, path=_json_path(first["loc"]), problem=first["msg"]
                )
            ) from exc
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def check_report(text: str, *, source: str) -> None:
    """The report validates against its schema and its verdict follows from its own results.

    Re-judges the summary: the counts and the verdict are recomputed from
    ``policy_results`` with the judge's own rules (one definition), so a report
    whose verdict was edited from fail to pass is refused. Editing the results
    themselves is what report signatures catch.
    """
    from auditor.judge.engine import count_results, verdict_of

    data = parse_report_json(text, source=source)
    results = [
        PolicyResult.model_validate({k: v for k, v in r.items() if k in PolicyResult.model_fields})
        for r in data.get("policy_results") or []
        if isinstance(r, dict)
    ]  # fields a newer version added are ignored; parse_report_json checked the rest
    stated = data.get("counts") or {}
    counts = count_results(results)
    for field_name, expected in counts.model_dump().items():
        found = stated.get(field_name, 0)
        if found != expected:
            raise RegistryError(
                MSG_COUNTS_EDITED.format(
                    source=source, field=field_name, found=found, expected=expected
                )
            )
    expected_verdict = verdict_of(results)
    if data.get("verdict") != expected_verdict:
        raise RegistryError(
            MSG_VERDICT_EDITED.format(
                source=source, found=data.get("verdict"), expected=expected_verdict
            )
        )


def _json_path(loc: Iterable[Any]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def audit_facts(report: Report | Mapping[str, Any], report_json: str) -> AuditFacts:
    data = report.model_dump(mode="json") if isinstance(report, Report) else dict(report)
    try:
        in_json = json.loads(report_json)
    except ValueError as exc:
        raise RegistryError(
            MSG_INVALID_REPORT.format(source="report_json", path="$", problem=f"not JSON ({exc})")
        ) from exc
    if not isinstance(in_json, dict):
        raise RegistryError(
            MSG_INVALID_REPORT.format(
                source="report_json", path="$", problem="expected a JSON object"
            )
        )
    for key in ("name", "verdict", "model"):
        if in_json.get(key) != data.get(key):
            raise RegistryError(
                MSG_JSON_MISMATCH.format(
                    field=key, in_json=in_json.get(key), in_report=data.get(key)
                )
            )
    model = data.get("model") or {}
    provenance = data.get("provenance") or {}
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        raise RegistryError(
            MSG_INVALID_REPORT.format(
                source="report",
                path="$.verdict",
                problem=f"expected pass, warn or fail, got {verdict!r}",
            )
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(
            MSG_INVALID_REPORT.format(
                source="report", path="$.name", problem="expected a non-empty name"
            )
        )
    return AuditFacts(
        model_name=model.get("name") or name,
        model_version=model.get("version"),
        report_name=name,
        verdict=verdict,
        generated_at=provenance.get("generated_at"),
        report_sha256=sha256_text(report_json),
        provenance_sha256=dict(provenance.get("sha256") or {}),
    )


def task_key_metrics(task: object) -> tuple[str, ...]:
    """The key metrics of a report's task (its renderer hints' chart metrics); a report
    without a task, or of a task this version does not know, is read as binary."""
    from auditor.tasks import TASK_IDS, task_hints

    return task_hints(task if task in TASK_IDS else None).chart_metrics  # type: ignore[arg-type]


def report_task(report_json: str) -> str | None:
    """The task a recorded report audited (None: a report without one, read as binary)."""
    from auditor.tasks import TASK_IDS

    task = json.loads(report_json).get("task")
    return task if task in TASK_IDS else None


def history_metrics(rows: Sequence[HistoryRow]) -> list[str]:
    """The columns of a history read with each report's own key metrics: every metric
    any row shows, in the order the reports give them."""
    seen: dict[str, None] = {}
    for row in rows:
        for group in row.groups:
            seen.update(dict.fromkeys(group.metrics))
    return list(seen)


def key_metrics(report_json: str, metrics: Sequence[str] | None = None) -> list[GroupMetrics]:
    """The chosen metrics of the overall population and every group, read from report JSON
    (``None``: the key metrics of the report's task, :func:`task_key_metrics`).

    Reads plain JSON rather than :class:`Report`, so reports recorded by older or
    newer versions of the auditor still show. The overall population is named
    ``overall`` / ``all`` whatever the report calls it.
    """
    data = json.loads(report_json)
    if metrics is None:
        metrics = task_key_metrics(data.get("task"))
    out = []
    if isinstance(data.get("overall"), dict):
        out.append(_group_metrics(data["overall"], metrics, OVERALL_ATTRIBUTE, OVERALL_GROUP))
    for group in data.get("groups") or []:
        if isinstance(group, dict):
            out.append(
                _group_metrics(
                    group, metrics, label(group.get("attribute")), label(group.get("group"))
                )
            )
    return out


def _group_metrics(
    group: Mapping[str, Any], metrics: Sequence[str], attribute: str, name: str
) -> GroupMetrics:
    suppressed = bool(group.get("suppressed"))
    values = group.get("metrics") or {}
    chosen = {}
    if not suppressed:  # a suppressed group shows no numbers, even if a producer left some
        for metric in metrics:
            value = values.get(metric)
            if isinstance(value, dict):
                chosen[metric] = MetricValue(
                    value.get("estimate"),
                    value.get("ci_low"),
                    value.get("ci_high"),
                    value.get("reason"),
                )
    return GroupMetrics(
        attribute=attribute,
        group=name,
        n=None if suppressed else group.get("n"),
        suppressed=suppressed,
        label_metrics_withheld=bool(group.get("label_metrics_withheld")),
        metrics=chosen,
    )
