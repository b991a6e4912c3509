"""The Streamlit dashboard, driven headless by ``streamlit.testing.v1.AppTest``.

Every view renders on the bundled example; the threshold slider and the
reference group re-measure; an invalid policy edit shows each JSON-path error;
a bad upload shows the CLI's own message; a careless report's suppressed
numbers never reach the screen. Streamlit's caches are process-wide, so the
example is loaded, scored and reduced once per test worker.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from auditor import cli
from auditor.dashboard import export, inputs, policy_editor
from auditor.dashboard.app import SOURCE_PATH_KEY, VIEW_LABELS
from auditor.errors import AuditorError
from auditor.load.examples import EXAMPLE_DIR
from reports.model import Report

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
sys.path.insert(0, str(Path(__file__).parent))
from report_factory import LEAKY_VALUES, make_report  # noqa: E402

INVALID_POLICY = """\
id: committee-draft
title: Committee draft
version: "0.1"
rules:
  - id: sensitivity-floor
    title: Sensitivity at least 0.5
    severity: blocker
    check: {metric: sensitivity, min: 0.5}
  - id: bogus-metric
    title: Made-up metric
    severity: warn
    check: {metric: sensitivty, max: 2}
"""


@pytest.fixture(autouse=True)
def _dashboard_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Small bootstrap counts, no spec from the command line, a private registry."""
    monkeypatch.setenv("AUDITOR_DASHBOARD_BOOTSTRAP", "0")
    monkeypatch.setenv("AUDITOR_DASHBOARD_FULL_BOOTSTRAP", "20")
    monkeypatch.delenv(inputs.ENV_SPEC, raising=False)
    monkeypatch.setenv("AUDITOR_REGISTRY", str(tmp_path / "registry.db"))
    monkeypatch.setattr(sys, "argv", ["streamlit_app.py"])


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


def _open(at: AppTest, view: str) -> AppTest:
    at.session_state["view"] = view
    return at.run()


VERDICTS = ("FAIL —", "PASS —", "WARN —")


def _errors(at: AppTest) -> list[str]:
    """Error boxes other than the verdict banner."""
    return [e.value for e in at.error if not e.value.startswith(VERDICTS)]


def _verdict(at: AppTest) -> str:
    return next(
        a.value for a in (*at.error, *at.warning, *at.success) if a.value.startswith(VERDICTS)
    )


def _texts(node: Any) -> Iterator[str]:
    """Every text the page shows, tables and chart data included (for privacy checks)."""
    from streamlit import dataframe_util

    children = getattr(node, "children", None)
    if isinstance(children, dict):
        if getattr(node, "proto", None) is not None:
            yield str(node.proto)
        for child in children.values():
            yield from _texts(child)
        return
    kind = getattr(node, "type", "")
    if kind in ("arrow_data_frame", "dataframe", "table"):
        yield node.value.to_csv()
    proto = getattr(node, "proto", None)
    if proto is None:
        return
    for dataset in getattr(proto, "datasets", []):
        yield dataframe_util.convert_arrow_bytes_to_pandas_df(dataset.data.data).to_csv()
    if kind not in ("arrow_data_frame", "dataframe", "table"):
        yield str(proto)


def _page_text(at: AppTest) -> str:
    return "\n".join(_texts(at._tree))


def unescape(markdown: str) -> str:
    """Text as the reader sees it (the page escapes untrusted text for markdown)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def _metric_table(at: AppTest) -> str:
    """Interactive grids and the static tables that wrap wide text, as CSV."""
    return "\n".join(d.value.to_csv() for d in (*at.dataframe, *at.table))


def test_opens_on_the_example_with_the_verdict_in_words() -> None:
    at = _app().run()
    assert not at.exception
    assert not _errors(at)
    assert _verdict(at)
    assert at.title[0].value == yaml.safe_load((EXAMPLE_DIR / "spec.yaml").read_text())["name"]
    assert any("Re-measured in" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("view", VIEW_LABELS)
def test_each_view_renders_on_the_example(view: str) -> None:
    at = _open(_app().run(), view)
    assert not at.exception, view
    assert not _errors(at), view
    if view in ("Subgroups", "Overview", "Fairness", "Policy", "Explanations"):
        assert at.dataframe or at.table, view
    if view in ("Subgroups", "Calibration & ROC", "Explanations", "Fairness"):
        assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), view


@pytest.fixture
def grid_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example with a declared threshold grid (the slider moves only on it)."""
    folder = tmp_path / "grid"
    shutil.copytree(EXAMPLE_DIR, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec.update(explain={"enabled": False}, threshold=[0.2, 0.3, 0.35])
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv(inputs.ENV_SPEC, str(folder / "spec.yaml"))
    return folder / "spec.yaml"


def test_threshold_slider_moves_only_on_the_declared_grid(grid_spec: Path) -> None:
    at = _open(_app().run(), "Subgroups")
    before = _metric_table(at)
    slider = at.sidebar.select_slider[0]
    assert slider.value == pytest.approx(0.2)
    assert [float(o) for o in slider.options] == [0.2, 0.3, 0.35]
    slider.set_value(0.35).run()
    assert not at.exception
    after = _metric_table(at)
    assert after != before
    assert "threshold 0.35" in after or any("0.35" in c.value for c in at.caption)
    timing = [c.value for c in at.sidebar.caption if "Re-measured in" in c.value]
    assert timing and "no data reload" in timing[0]


def test_reference_group_change_re_measures_disparities() -> None:
    at = _open(_app().run(), "Fairness")
    picker = at.selectbox(key="reference::race")
    other = next(o for o in picker.options if o != picker.value)
    before = _metric_table(at)
    picker.set_value(other).run()
    assert not at.exception
    assert at.selectbox(key="reference::race").value == other
    assert _metric_table(at) != before
    assert other in _metric_table(at)


def _settled(at: AppTest) -> AppTest:
    """Rerun until the background full intervals have replaced the interactive numbers."""
    for _ in range(240):
        if any("full intervals:" in c.value for c in at.sidebar.caption):
            return at
        time.sleep(0.5)
        at.run()
    raise AssertionError("the full intervals never replaced the interactive ones")


def test_full_intervals_replace_the_interactive_ones_by_themselves() -> None:
    at = _settled(_app().run())
    assert not at.exception
    caption = next(c.value for c in at.sidebar.caption if "Re-measured in" in c.value)
    assert "full intervals: 20 bootstrap replicates" in caption
    assert not any(w.value.startswith("PROVISIONAL") for w in at.warning)


def test_invalid_policy_edit_shows_each_json_path_error() -> None:
    from auditor.judge.policy import load_policy_text

    with pytest.raises(AuditorError) as expected:
        load_policy_text(INVALID_POLICY, name=policy_editor.EDITOR_NAME)
    lines = str(expected.value).splitlines()
    assert len(lines) >= 2 and all(line.startswith("policy editor: $.rules[") for line in lines)

    at = _open(_app().run(), "Policy")
    verdict_before = _verdict(at)
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(policy_editor.EDIT).run()
    assert not at.exception and not _errors(at)
    at.text_area(key=policy_editor.TEXT_KEY).input(INVALID_POLICY).run()
    assert not at.exception
    assert [unescape(e) for e in _errors(at)] == lines
    # Not applied: the verdict is still the audit's own.
    assert _verdict(at) == verdict_before


def test_valid_policy_edit_rejudges_at_once() -> None:
    strict = (
        "id: strict-draft\ntitle: Strict draft\nversion: '1'\nrules:\n"
        "  - id: auroc-099\n    title: AUROC of every group at least 0.99\n"
        "    severity: block\n    rationale: A test of the editor.\n    source: none\n"
        "    check: {kind: metric, metric: auroc, min: 0.99}\n"
    )
    at = _open(_app().run(), "Policy")
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(policy_editor.EDIT).run()
    at.text_area(key=policy_editor.TEXT_KEY).input(strict).run()
    assert not at.exception and not _errors(at)
    assert _verdict(at).startswith("FAIL —")
    assert any("strict-draft" in c.value for c in at.caption)
    table = _metric_table(at)
    assert "AUROC of every group at least 0.99" in table


def test_choosing_a_shipped_pack_rejudges() -> None:
    at = _open(_app().run(), "Policy")
    from auditor.judge.policy import list_packs

    packs = [p.source for p in list_packs()]
    own = next(c.value for c in at.caption if "· policy " in c.value)
    other = next(p for p in packs if f"policy {p} ·" not in own)
    at.selectbox(key=policy_editor.CHOICE_KEY).set_value(other).run()
    assert not at.exception and not _errors(at)
    now = next(c.value for c in at.caption if "· policy " in c.value)
    assert f"policy {other} ·" in now


def _upload_mode() -> AppTest:
    at = _app()
    at.session_state["source"] = inputs.SOURCE_UPLOAD
    return at.run()


def test_upload_size_limit_is_stated() -> None:
    at = _upload_mode()
    assert not at.exception
    assert any("200 MB" in c.value for c in at.sidebar.caption)


def _cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = cli.main(argv)
    assert code == 2
    return capsys.readouterr().err.strip()


def test_uploading_a_wrong_file_type_shows_the_cli_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = b"PK\x03\x04 not a spreadsheet the auditor reads"
    at = _upload_mode()
    at.sidebar.file_uploader(key="data_upload").set_value(
        ("cohort.xlsx", content, "application/vnd.ms-excel")
    ).run()
    assert not at.exception
    shown = _errors(at)
    assert len(shown) == 1
    assert not (at.session_state["_uploads"].files)  # a refused upload is not kept
    stored = at.session_state["_uploads"].folder / hashlib.sha256(content).hexdigest()[:16]
    stored.mkdir(parents=True, exist_ok=True)
    stored = stored / "cohort.xlsx"
    stored.write_bytes(content)
    spec = yaml.safe_load((EXAMPLE_DIR / "spec.yaml").read_text())
    spec["data"] = str(stored)
    spec["model"]["path"] = str(EXAMPLE_DIR / "model.skops")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    assert _cli_error(["audit", str(spec_path), "--out", str(tmp_path / "out")], capsys) == (
        f"error: {shown[0]}"
    )


def test_spec_with_a_missing_column_shows_the_cli_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE_DIR, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec["sensitive"] = ["race", "sex", "age_band", "insurer"]
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    at = _app()
    at.session_state["source"] = inputs.SOURCE_PATH
    at.session_state["spec_path"] = str(folder / "spec.yaml")
    at.run()
    assert not at.exception
    shown = _errors(at)
    assert len(shown) == 1 and "insurer" in shown[0]
    assert (
        _cli_error(["audit", str(folder / "spec.yaml"), "--out", str(tmp_path / "o")], capsys)
        == f"error: {shown[0]}"
    )


def test_uploading_an_untrusted_model_shows_the_cli_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import operator

    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    data = (EXAMPLE_DIR / "audit_cohort.csv").read_bytes()
    frame = pd.read_csv(io.BytesIO(data))
    features = yaml.safe_load((EXAMPLE_DIR / "spec.yaml").read_text())["features"]
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(frame[f])]
    # operator.neg is not among the types skops trusts by default.
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression(max_iter=200))
    model.fit(frame[numeric], frame["hospitalized"])
    buffer = io.BytesIO()
    sio.dump(model, buffer)

    at = _upload_mode()
    at.sidebar.file_uploader(key="data_upload").set_value(("cohort.csv", data, "text/csv"))
    at.sidebar.file_uploader(key="model_upload").set_value(
        ("model.skops", buffer.getvalue(), "application/octet-stream")
    )
    at.run()
    at.sidebar.selectbox(key="up_label").set_value("hospitalized")
    at.sidebar.multiselect(key="up_sensitive").set_value(["race", "sex"])
    at.run()
    assert not at.exception
    shown = _errors(at)
    assert len(shown) == 1 and "_operator.neg" in shown[0]
    spec_path = at.session_state[SOURCE_PATH_KEY]
    model_path = Path(yaml.safe_load(Path(spec_path).read_text())["model"]["path"])
    assert not model_path.exists()  # the refused model is not kept
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(buffer.getvalue())  # for the CLI to read the same file
    assert _cli_error(["audit", str(spec_path), "--out", str(tmp_path / "o")], capsys) == (
        f"error: {shown[0]}"
    )


def test_read_only_report_keeps_suppressed_numbers_off_every_view() -> None:
    text = make_report(leaky=True).to_json().encode("utf-8")
    at = _app()
    at.session_state["source"] = inputs.SOURCE_REPORT
    at.run()
    at.sidebar.file_uploader(key="report_upload").set_value(
        ("report.json", text, "application/json")
    ).run()
    # The leaked values as any view would format them (not as part of another number).
    leaks = [
        re.compile(rf"(?<![-\d.]){re.escape(f'{v:.{d}f}')}(?!\d)")
        for v in LEAKY_VALUES
        for d in (3, 4)
    ]
    for view in VIEW_LABELS:
        _open(at, view)
        assert not at.exception, view
        page = _page_text(at)
        for leak in leaks:
            assert not leak.search(page), (view, leak.pattern)
        assert "7 patients, fewer than 100" not in page, view
    _open(at, "Subgroups")
    assert "fewer than 11 patients" in _metric_table(at)


@pytest.mark.slow
def test_export_offers_every_format_of_what_is_on_screen(grid_spec: Path) -> None:
    at = _open(_app().run(), "Export")
    at.sidebar.select_slider[0].set_value(0.3).run()
    prepare = next(b for b in at.button if b.label == "Prepare the files")
    prepare.click().run()
    assert not at.exception and not _errors(at)
    labels = [d.proto.label for d in at.get("download_button")]
    files = at.session_state[export.RESULT_KEY]["files"]
    assert set(files) == {
        "governance.pdf",
        "report.pdf",
        "report.html",
        "report.json",
        "summary.md",
        "junit.xml",
    }
    assert len(labels) == len(files)
    exported = Report.from_json(files["report.json"].decode("utf-8"))
    assert exported.threshold == pytest.approx(0.3)
    assert files["report.pdf"].startswith(b"%PDF") and files["governance.pdf"].startswith(b"%PDF")


def test_a_single_declared_threshold_has_no_slider() -> None:
    at = _app().run()
    assert not at.sidebar.slider and not at.sidebar.select_slider
    assert any("Declare more thresholds" in c.value for c in at.sidebar.caption)


def test_compare_shows_deltas_between_two_thresholds(grid_spec: Path) -> None:
    at = _open(_app().run(), "Compare")
    at.sidebar.select_slider[0].set_value(0.3).run()
    assert not at.exception and not _errors(at)
    table = _metric_table(at)
    assert "Change" in table
    assert any(line.count("+") or line.count("-0.") for line in table.splitlines()[1:])


def test_mitigation_what_if_is_labelled_analysis() -> None:
    at = _open(_app().run(), "Mitigation what-if")
    assert not at.exception and not _errors(at)
    assert any("Analysis, not a change to the model" in w.value for w in at.warning)
    assert "Decision rule in the what-if" in _metric_table(at)
    at.selectbox(key="mitigation_method").set_value("per_group_thresholds").run()
    assert not at.exception and not _errors(at)
    assert "flag score >=" in _metric_table(at)


def test_opens_the_spec_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE_DIR, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec.update(name="Release candidate audit", explain={"enabled": False}, threshold=0.3)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv(inputs.ENV_SPEC, str(folder / "spec.yaml"))
    at = _app().run()
    assert not at.exception and not _errors(at)
    assert at.sidebar.radio(key="source").value == inputs.SOURCE_GIVEN
    assert at.title[0].value == "Release candidate audit"
    assert any("Score ≥ 0.3 predicts positive" in c.value for c in at.sidebar.caption)


def test_spec_path_from_the_command_line_wins_over_the_environment() -> None:
    env = {inputs.ENV_SPEC: "/data/env.yaml"}
    assert inputs.spec_from_start(["app.py", "given.yaml"], env) == Path("given.yaml")
    assert inputs.spec_from_start(["app.py"], env) == Path("/data/env.yaml")
    assert inputs.spec_from_start(["app.py"], {}) is None


def test_a_group_hidden_to_protect_another_reads_suppressed_not_fewer_than() -> None:
    from auditor.dashboard import display
    from auditor.privacy.suppression import (
        SUPPRESSED_COMPLEMENTARY,
        SUPPRESSED_SMALL,
        WITHHELD_COMPLEMENTARY,
    )
    from reports.model import Estimate, GroupResult

    reason = SUPPRESSED_SMALL.format(m=11)
    small = GroupResult(attribute="race", group="A", suppressed=True, suppression_reason=reason)
    protecting = GroupResult(
        attribute="race", group="B", suppressed=True, suppression_reason=SUPPRESSED_COMPLEMENTARY
    )
    withheld = GroupResult(
        attribute="race",
        group="C",
        n=175,
        label_metrics_withheld=True,
        suppression_reason=WITHHELD_COMPLEMENTARY,
        metrics={"n": Estimate(estimate=175), "selection_rate": Estimate(estimate=0.52)},
    )
    assert display.group_status(small, 11) == "fewer than 11 patients"
    assert display.group_status(protecting, 11) == "suppressed"
    table = display.metrics_table(
        [small, protecting, withheld], ["n", "selection_rate", "auroc"], min_cell_size=11
    )
    patients = dict(zip(table.frame["Group"], table.frame["Patients"]))
    assert patients == {"A": "fewer than 11 patients", "B": "suppressed", "C": "175"}
    assert table.notes == [
        "B: suppressed to protect a smaller group",
        "C: event count withheld to protect another group's count",
    ]
    assert not any("fewer than" in note for note in table.notes)
    report = make_report()
    for g in report.groups:
        if g.group == "Pacific Islander":
            g.suppression_reason = SUPPRESSED_COMPLEMENTARY
    assert display.hidden_text(report, "race", "Pacific Islander") == "suppressed"
    assert display.hidden_text(report, "race", "American Indian") == "fewer than 11 patients"
