"""Defaults that help: the reference group, and clinical-default's gate against --baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.audit import NOTE_BASELINE_UNUSED
from auditor.measure.measurement import (
    NOTE_REFERENCE_DEFAULT,
    NOTE_REFERENCE_WITHHELD,
    measure,
)
from auditor.reduce.stats import reduce_frame
from tests.load_helpers import make_cohort, write_cohort, write_spec
from tests.test_cli import run


def _stats() -> object:
    """'rare' is the largest group but has 5 patients with the outcome: its label
    metrics are withheld, so it cannot be the reference."""
    rng = np.random.default_rng(4)
    groups = np.array(["rare"] * 900 + ["common"] * 600 + ["other"] * 400 + ["extra"] * 300)
    labels = np.where(groups == "rare", 0, (rng.random(groups.size) < 0.3).astype(int))
    labels[:5] = 1
    scores = np.clip(rng.random(groups.size) * 0.5 + labels * 0.4, 0, 1)
    return reduce_frame(pd.DataFrame({"unit": groups}), labels, scores)


def test_default_reference_is_the_largest_group_with_label_metrics_shown() -> None:
    m = measure(_stats(), views=[("unit",)], thresholds=[0.5], bootstrap=0)  # type: ignore[arg-type]
    assert m.privacy("unit", "rare").status == "label_withheld"  # type: ignore[union-attr]
    (info,) = m.attributes
    assert info.reference == "common"
    assert NOTE_REFERENCE_DEFAULT.format(attribute="unit", group="common") in m.notes
    shown = m.published()
    sens = [
        d
        for d in shown.disparities
        if d.metric == "sensitivity" and d.kind == "difference" and d.reference is not None
    ]
    assert {d.reference for d in sens} == {"common"}
    assert any(d.estimate is not None for d in sens)


def test_requested_reference_with_withheld_labels_falls_back() -> None:
    m = measure(
        _stats(),  # type: ignore[arg-type]
        views=[("unit",)],
        thresholds=[0.5],
        bootstrap=0,
        reference_groups={"unit": "rare"},
    )
    assert m.attributes[0].reference == "common"
    assert (
        NOTE_REFERENCE_WITHHELD.format(attribute="unit", group="rare", fallback="common") in m.notes
    )


def _audit(folder: Path, frame: pd.DataFrame, name: str, *args: object) -> tuple[int, dict]:
    sub = folder / name
    sub.mkdir()
    write_cohort(sub, frame)
    spec = write_spec(sub, bootstrap=200, explain={"enabled": False}, sensitive=["sex"])
    result = run("audit", spec, "--out", sub / "out", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads((sub / "out" / "report.json").read_text())


def test_clinical_default_gates_a_worse_release_against_the_baseline(tmp_path: Path) -> None:
    good = make_cohort(3000, seed=8)
    rng = np.random.default_rng(8)
    worse = good.copy()
    noise = rng.random(len(worse))
    worse["risk"] = np.round(0.3 * worse["risk"] + 0.7 * noise, 6)  # ranks far worse
    _audit(tmp_path, good, "v1")
    baseline = tmp_path / "v1" / "out" / "report.json"
    code, report = _audit(tmp_path, worse, "v2", "--baseline", baseline)
    regression = [r for r in report["policy_results"] if r["rule_id"] == "auroc-regression"]
    overall = next(r for r in regression if r["attribute"] == "overall")
    assert overall["status"] == "fail", overall["message"]
    assert code == 1 and report["verdict"] == "fail"
    # without --baseline the regression rules are not applicable, never undecided
    _, alone = _audit(tmp_path, worse, "v3")
    reg = [r for r in alone["policy_results"] if r["check"] == "regression"]
    assert reg and all(r["status"] == "not_evaluable" and r["undecided"] is None for r in reg)
    from auditor.audit import load_report
    from auditor.judge.verdict import counts_undecided

    published = load_report(tmp_path / "v3" / "out" / "report.json")
    assert not any(counts_undecided(r) for r in published.policy_results if r.check == "regression")
    assert NOTE_BASELINE_UNUSED not in alone["notes"]


def test_baseline_without_a_regression_rule_says_so(tmp_path: Path) -> None:
    frame = make_cohort(600, seed=9)
    _audit(tmp_path, frame, "v1", "--policy", "four-fifths")
    baseline = tmp_path / "v1" / "out" / "report.json"
    _, again = _audit(tmp_path, frame, "v2", "--policy", "four-fifths", "--baseline", baseline)
    assert NOTE_BASELINE_UNUSED in again["notes"]
