"""The verdict is judged on the full measurement; privacy applies only to what is published.

The cohort of issue 12: one 203-patient race group whose scores rank patients
backwards, withheld by complementary suppression because two tiny groups are
suppressed. The gate must fail on it, and its AUROC must be printed nowhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pypdf import PdfReader

from auditor.measure.measurement import measure
from auditor.privacy.publish import WITHHELD_MESSAGE, PublishPlan, publish
from auditor.privacy.suppression import SUPPRESSED_COMPLEMENTARY
from auditor.reduce.stats import reduce_frame

BACKWARDS = "Asian"
SIZES = {"White": 1400, "Black": 700, BACKWARDS: 203, "Pacific": 5, "Other": 4}


def backwards_cohort(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = np.concatenate([[k] * v for k, v in SIZES.items()])
    n = race.size
    died = (rng.random(n) < 0.3).astype(int)
    signal = np.where(race == BACKWARDS, -1.0, 1.0) * (died - 0.5) * 2.0
    risk = 1.0 / (1.0 + np.exp(-(signal + rng.normal(0.0, 1.0, n) - 1.0)))
    return pd.DataFrame(
        {
            "died": died,
            "risk": np.round(risk, 6),
            "race": race,
            "sex": rng.choice(["female", "male"], n),
        }
    )


def _auroc(frame: pd.DataFrame, group: str) -> float:
    from sklearn.metrics import roc_auc_score

    part = frame[frame.race == group]
    return float(roc_auc_score(part.died, part.risk))


def _forms(value: float) -> list[str]:
    """Ways a renderer could print the value specific enough not to occur by chance."""
    return [f"{value:.{d}f}" for d in (4, 5, 6)] + [repr(value)]


def _short_forms(value: float) -> list[str]:
    """Shorter forms: looked for only on the lines that name the group."""
    return [f"{value:.2f}", f"{value:.3f}", f"{value * 100:.1f}%"]


def _write_audit(folder: Path, frame: pd.DataFrame, **spec_changes: object) -> Path:
    frame.to_csv(folder / "cohort.csv", index=False)
    spec = {
        "name": "Backwards group audit",
        "data": "cohort.csv",
        "label": {"column": "died", "positive": 1},
        "model": {"score_column": "risk"},
        "sensitive": ["race", "sex"],
        "bootstrap": 200,
        "explain": {"enabled": False},
        "model_card": {
            "intended_use": "test",
            "out_of_scope_use": "test",
            "limitations": "test",
        },
        **spec_changes,
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**__import__("os").environ, "SOURCE_DATE_EPOCH": "1767225600"},
    )


def _all_output_text(out: Path) -> str:
    texts = []
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".pdf":
            texts.append("\n".join(page.extract_text() or "" for page in PdfReader(path).pages))
        elif path.suffix in (".json", ".html", ".md", ".xml", ".txt", ".svg", ".csv"):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def test_the_cohort_is_what_the_issue_describes() -> None:
    frame = backwards_cohort()
    stats = reduce_frame(frame[["race", "sex"]], frame.died.to_numpy(), frame.risk.to_numpy())
    m = measure(stats, views=[("race",), ("sex",)], thresholds=[0.5], bootstrap=0)
    privacy = m.privacy("race", BACKWARDS)
    assert privacy is not None and privacy.reason == SUPPRESSED_COMPLEMENTARY
    assert m.privacy("race", "Pacific").suppressed and m.privacy("race", "Other").suppressed
    full = next(g for g in m.groups if g.group == BACKWARDS and g.attribute == "race")
    assert full.n == 203
    assert full.metrics["auroc"].estimate == pytest.approx(_auroc(frame, BACKWARDS))
    assert full.metrics["auroc"].estimate < 0.3


def test_backwards_group_fails_the_gate_and_its_auroc_is_printed_nowhere(tmp_path: Path) -> None:
    frame = backwards_cohort()
    spec = _write_audit(tmp_path, frame)
    out = tmp_path / "out"
    result = _cli("audit", spec, "--out", out)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == "fail"
    ours = [
        r
        for r in report["policy_results"]
        if r["rule_id"] == "discrimination" and r["attribute"] == "race" and r["group"] == BACKWARDS
    ]
    assert len(ours) == 1
    r = ours[0]
    assert r["status"] == "fail"
    assert r["observed"] is None and r["ci_low"] is None and r["ci_high"] is None
    assert r["value_withheld"] == SUPPRESSED_COMPLEMENTARY
    assert "withheld for privacy" in r["message"]
    group = next(
        g for g in report["groups"] if g["attribute"] == "race" and g["group"] == BACKWARDS
    )
    assert group["suppressed"] and group["metrics"] == {} and "n" not in group
    auroc = _auroc(frame, BACKWARDS)
    text = _all_output_text(out) + result.stdout + result.stderr
    for form in _forms(auroc):
        assert form not in text, form
    for line in text.splitlines():
        if BACKWARDS in line:
            assert not any(form in line for form in _short_forms(auroc)), line


def test_publish_keeps_status_and_withholds_evidence() -> None:
    """The publish step on its own: statuses and counts unchanged, numbers gone."""
    from auditor.audit import build_report, prepare
    from auditor.judge.policy import load_policies
    from auditor.load.spec_loader import load_spec

    frame = backwards_cohort()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        spec = load_spec(_write_audit(Path(folder), frame, bootstrap=100))
        prepared = prepare(spec)
        report = build_report(prepared, policies=load_policies(["clinical-default"]))
    judged, plan = report._unpublished
    assert isinstance(plan, PublishPlan)
    assert [r.status for r in judged.policy_results] == [r.status for r in report.policy_results]
    assert judged.counts == report.counts and judged.verdict == report.verdict == "fail"
    withheld = [r for r in report.policy_results if r.value_withheld]
    assert withheld, "some results concern withheld groups"
    for r in withheld:
        assert r.observed is None and r.ci_low is None and r.ci_high is None
        assert (
            r.message.endswith(WITHHELD_MESSAGE.split("{reason}")[1])
            and "withheld for privacy" in r.message
        )
    # publishing twice changes nothing more
    again = publish(report, plan)
    assert again.policy_results == report.policy_results
