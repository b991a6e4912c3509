"""`auditor history` and the dashboard's History chart as a reader sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import dashboard_history as view
from auditor.registry import Registry, commands
from reports.model import Report
from tests.report_factory import make_report
from tests.test_cli import run


def _release(version: str) -> Report:
    report = make_report()
    return report.model_copy(update={"model": report.model.model_copy(update={"version": version})})


@pytest.fixture()
def registry(tmp_path: Path) -> Registry:
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}") as registry:
        for version in ("1.0", "1.0", "1.1"):  # a release audited twice
            report = _release(version)
            if version == "1.0" and registry.models():
                report = report.model_copy(update={"name": report.name + " (rerun)"})
            registry.record(report, report_json=report.to_json(), ran_by="tester")
        yield registry


def test_history_table_names_the_audit_of_every_line(registry: Registry) -> None:
    model = registry.models()[0]
    rows = registry.history(model, metrics=["auroc"])
    text = commands.format_history(rows, ["auroc"])
    audits_table, _, groups_table = text.partition("key metrics per group")
    assert audits_table.splitlines()[0].split() == [
        "audit",
        "release",
        "recorded",
        "verdict",
        "sign-off",
    ]
    header = next(line for line in groups_table.splitlines() if line.startswith("audit"))
    assert header.split()[:4] == ["audit", "release", "attribute", "group"]
    first_cells = {line.split()[0] for line in groups_table.splitlines()[2:] if line.strip()}
    assert first_cells >= {"1", "2", "3"}
    assert text.count("key metrics per group") == 1


def test_history_help_shows_a_plain_percent_sign() -> None:
    result = run("history", "--help")
    assert result.returncode == 0
    assert "(estimate and 95% interval)" in result.stdout
    assert "%%" not in result.stdout


def test_history_chart_keeps_groups_and_reruns_apart(registry: Registry) -> None:
    rows = registry.history(registry.models()[0], metrics=["auroc"])
    frame = view.trend_frame(rows, "auroc", "race")
    labels = [view.audit_label(r) for r in rows]
    assert labels == ["1.0 (audit 1)", "1.0 (audit 2)", "1.1 (audit 3)"]
    assert set(frame["audit"]) == set(labels)  # the two audits of 1.0 are two x positions
    spec = view.trend_chart(frame, "auroc", labels).to_dict()
    for layer in spec["layer"]:
        encoding = layer["encoding"]
        assert encoding["x"]["field"] == "audit"
        assert encoding["xOffset"]["field"] == "group"  # groups side by side, not stacked
        assert encoding["color"]["scale"]["scheme"] == view.GROUP_COLOURS
    assert {layer["mark"]["type"] for layer in spec["layer"]} == {"line", "rule", "point"}


def test_history_chart_axis_holds_every_interval(registry: Registry) -> None:
    rows = registry.history(registry.models()[0], metrics=["auroc"])
    frame = view.trend_frame(rows, "auroc", "race")
    spec = view.trend_chart(frame, "auroc", [view.audit_label(r) for r in rows]).to_dict()
    bars = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
    low, high = bars["encoding"]["y"]["scale"]["domain"]
    assert low <= frame["ci_low"].min() and high >= frame["ci_high"].max()
