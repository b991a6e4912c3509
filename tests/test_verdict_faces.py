"""One way of counting, everywhere: every face prints the same verdict summary.

The bundled example is audited once through the CLI; the CLI's last line,
summary.md, junit.xml, report.html, report.pdf, governance.pdf and the dashboard's
verdict sentence must all carry the counts of :func:`auditor.judge.verdict.verdict_summary`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from auditor.audit import load_report
from auditor.judge.verdict import verdict_summary
from reports.findings import headline_text
from tests.conftest import write_spec


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    import shutil

    from auditor.load.examples import demo_spec_path

    folder = tmp_path_factory.mktemp("faces")
    for f in demo_spec_path().parent.iterdir():
        if f.is_file():
            shutil.copy(f, folder / f.name)
    spec = write_spec(folder, "fast.yaml", bootstrap=100)
    out = folder / "out"
    result = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", str(spec), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1767225600"},
    )
    assert result.returncode in (0, 1), result.stderr
    yield out, result.stdout


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _pdf(path: Path) -> str:
    return _flat(" ".join(page.extract_text() or "" for page in PdfReader(path).pages))


def _pdf_page(path: Path, index: int) -> str:
    return _flat(PdfReader(path).pages[index].extract_text() or "")


def test_every_face_prints_the_same_counts(audited: tuple[Path, str]) -> None:
    out, stdout = audited
    report = load_report(out / "report.json")
    summary = verdict_summary(report.policy_results)
    assert summary.verdict == report.verdict
    sentence = summary.counts_text()
    headline = headline_text(report)
    assert headline.lower().startswith(sentence.lower()[:20])
    # the CLI's last line
    last = stdout.strip().splitlines()[-1]
    assert last.startswith(f"verdict: {report.verdict.upper()} — {sentence}; reports in ")
    # summary.md, report.html
    assert headline in _flat((out / "summary.md").read_text(encoding="utf-8"))
    html = _flat((out / "report.html").read_text(encoding="utf-8"))
    assert headline in html
    # junit.xml: the summary property, and failures counted the same way
    root = ET.parse(out / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["summary"] == headline
    failures = [f.get("type") for f in root.iter("failure")]
    assert failures.count("blocking") == summary.results_failed["block"]
    assert failures.count("warn") == summary.results_failed["warn"]
    assert failures.count("undecided") == len(summary.undecided)
    skipped_warn = [
        s for s in root.iter("skipped") if (s.get("message") or "").startswith("Fail (Warning")
    ]
    assert not skipped_warn, "a failed warning result is a failure, never skipped"
    # report.pdf and governance.pdf (page 1 holds the verdict box)
    assert _flat(headline) in _pdf(out / "report.pdf")
    assert _flat(headline) in _pdf_page(out / "governance.pdf", 0)
    # the dashboard's verdict sentence
    from auditor.dashboard.display import verdict_words

    assert headline in verdict_words(report)


def test_undecided_blocking_checks_are_named_on_governance_page_one(
    audited: tuple[Path, str],
) -> None:
    out, stdout = audited
    report = load_report(out / "report.json")
    summary = verdict_summary(report.policy_results)
    assert summary.undecided, "the example has undecided blocking checks (age band 95+ ...)"
    assert report.verdict != "pass"
    page_one = _pdf_page(out / "governance.pdf", 0)
    head = f"{len(summary.undecided)} blocking check"
    assert head in page_one and "could not be decided" in page_one
    assert summary.undecided[0].subject in page_one
    # and the terminal names them before the verdict line
    assert "could not be decided" in stdout.strip().splitlines()[-2]
    assert "could not be decided" in (out / "summary.md").read_text(encoding="utf-8")


def test_example_intersections_have_policy_results(audited: tuple[Path, str]) -> None:
    out, _ = audited
    report = load_report(out / "report.json")
    judged = {
        tuple(r.attribute)
        for r in report.policy_results
        if isinstance(r.attribute, list) and r.status != "not_evaluable"
    }
    assert ("race", "sex") in judged and ("race", "age_band") in judged
