"""Bad evidence is refused, not audited: class-label scores and one-class labels (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from auditor.judge.engine import NOT_MEASURED_LABEL_OUTPUT
from auditor.load.evidence import (
    LABEL_OUTPUT_NOT_LABELS,
    NOTE_LABEL_OUTPUT,
    ONE_CLASS_LABEL,
    SCORES_ARE_LABELS,
)
from tests.load_helpers import make_cohort, write_cohort, write_spec
from tests.test_cli import assert_bad_input, run

FAST = {"bootstrap": 50, "explain": {"enabled": False}}


def _labels_cohort(folder: Path) -> None:
    frame = make_cohort(600, seed=3)
    frame["risk"] = (frame["risk"] >= 0.3).astype(int)  # a predicted class, not a probability
    write_cohort(folder, frame)


def test_class_label_scores_are_refused_with_the_fix(tmp_path: Path) -> None:
    _labels_cohort(tmp_path)
    spec = write_spec(tmp_path, **FAST)
    result = run("audit", spec, "--out", tmp_path / "out")
    assert_bad_input(result)
    assert result.stderr.strip() == "error: " + SCORES_ARE_LABELS.format(
        source="score column 'risk'"
    )
    assert not (tmp_path / "out" / "report.json").exists()


def test_declared_label_model_gets_threshold_metrics_only(tmp_path: Path) -> None:
    _labels_cohort(tmp_path)
    spec = write_spec(tmp_path, model={"score_column": "risk", "output": "label"}, **FAST)
    out = tmp_path / "out"
    result = run("audit", spec, "--out", out)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["output"] == "label"
    assert NOTE_LABEL_OUTPUT in report["notes"]
    metrics = report["overall"]["metrics"]
    assert "sensitivity" in metrics and metrics["sensitivity"]["estimate"] is not None
    for absent in ("auroc", "calibration_slope", "brier", "log_loss"):
        assert absent not in metrics
    auroc = [r for r in report["policy_results"] if r["metric"] == "auroc"]
    assert auroc and all(r["status"] == "not_evaluable" for r in auroc)
    overall = next(r for r in auroc if r["attribute"] == "overall")
    assert overall["reason"] == NOT_MEASURED_LABEL_OUTPUT
    assert NOTE_LABEL_OUTPUT.split(":")[0] in (out / "summary.md").read_text() or (
        NOTE_LABEL_OUTPUT[:40] in (out / "report.html").read_text()
    )
    # the blocking AUROC rule could not be decided: the verdict is never PASS
    assert report["verdict"] != "pass"


def test_label_output_with_probabilities_is_refused(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(300, seed=1))
    spec = write_spec(tmp_path, model={"score_column": "risk", "output": "label"}, **FAST)
    result = run("audit", spec, "--out", tmp_path / "out")
    assert_bad_input(result)
    assert "model.output: label" in result.stderr
    first = result.stderr.strip().removeprefix("error: ")
    example = first.split("(for example ")[1].split(")")[0]
    assert first == LABEL_OUTPUT_NOT_LABELS.format(source="score column 'risk'", example=example)


def test_one_class_label_is_refused(tmp_path: Path) -> None:
    frame = make_cohort(300, seed=2)
    frame["died"] = 1
    write_cohort(tmp_path, frame)
    spec = write_spec(tmp_path, **FAST)
    result = run("audit", spec, "--out", tmp_path / "out")
    assert_bad_input(result)
    assert result.stderr.strip() == "error: " + ONE_CLASS_LABEL.format(
        column="died", n=300, which="every row is the positive class 1"
    )


def test_one_class_check_counts_rows_after_loading() -> None:
    from auditor.load.evidence import check_evidence

    scores = np.linspace(0.01, 0.99, 10)
    check_evidence(
        scores,
        np.array([0, 1] * 5),
        output="probability",
        source="s",
        label_column="y",
        positive=1,
    )
