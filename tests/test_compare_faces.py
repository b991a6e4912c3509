"""`auditor compare` as a reader and a machine use it: JSON only on stdout with --json, a
header naming each model's name, version and kind, and a warning when the audits are not
like for like (other data, another outcome, another threshold)."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.judge.compare import compare_reports, format_comparison
from reports.model import Report
from tests.report_factory import make_report
from tests.test_cli import run


def _release(report: Report, version: str, **changes: object) -> Report:
    model = report.model.model_copy(update={"version": version})
    return report.model_copy(update={"model": model, **changes})


def _write(report: Report, path: Path) -> Path:
    path.write_text(report.model_dump_json())
    return path


def test_header_names_model_version_and_kind() -> None:
    before = make_report()
    after = _release(before, "2.4")
    text = format_comparison(compare_reports(before, after))
    first, second = text.splitlines()[:2]
    name, kind = before.model.name, before.model.kind
    assert first.startswith(f"before: {name} v{before.model.version} ({kind}) — {before.name}")
    assert second.startswith(f"after:  {name} v2.4 ({kind}) — {after.name}")
    assert "warning:" not in text


def test_different_data_and_label_are_warned() -> None:
    before = make_report()
    provenance = before.provenance.model_copy(
        update={"sha256": {**before.provenance.sha256, "data": "b" * 64}}
    )
    after = _release(
        before, "2.4", provenance=provenance, label={"column": "died_30d", "positive": 1}
    )
    comparison = compare_reports(before, after)
    assert comparison.warnings == [
        f"the audits used different data (SHA-256 {before.provenance.sha256['data'][:12]}… vs "
        "bbbbbbbbbbbb…): differences mix the model change with the change in patients",
        f"the audits measured different outcomes ({before.label['column']} = "
        f"{before.label['positive']} vs died_30d = 1): their metrics are not comparable",
    ]
    assert "warning: the audits used different data" in format_comparison(comparison)


def test_compare_json_is_pure_json_with_header_and_warnings(tmp_path: Path) -> None:
    before = make_report()
    after = _release(before, "2.4", label={"column": "died_30d", "positive": 1})
    a, b = _write(before, tmp_path / "a.json"), _write(after, tmp_path / "b.json")
    result = run("compare", a, b, "--json")
    assert result.returncode in (0, 1), result.stderr
    payload = json.loads(result.stdout)  # the whole of stdout, nothing after it
    assert payload["after_model"]["version"] == "2.4"
    assert payload["after_model"]["title"].endswith(f"v2.4 ({after.model.kind})")
    assert payload["summary"]["new_failures"] == len(payload["new_failures"])
    assert payload["warnings"][0].startswith("the audits measured different outcomes")
    assert "warning: the audits measured different outcomes" in result.stderr
    text = run("compare", a, b)
    assert text.stdout.splitlines()[-1].startswith("compare: ")
    assert "warning: the audits measured different outcomes" in text.stdout
