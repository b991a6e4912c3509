"""The whole audit as a library call: reproducible, with provenance that matches the inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from auditor.audit import build_report, prepare, rejudge, run_audit
from auditor.judge.policy import load_policies
from auditor.load.scorers import load_scorer
from auditor.load.spec_loader import load_spec
from tests.conftest import write_spec


@pytest.fixture()
def spec_path(example_dir: Path) -> Path:
    return write_spec(example_dir, "small.yaml", bootstrap=100)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_inputs_and_seed_give_the_same_report(
    spec_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    spec = load_spec(spec_path)
    first = run_audit(spec).report.to_json()
    second = run_audit(spec).report.to_json()
    assert first == second
    assert '"generated_at": "2026-01-01T00:00:00Z"' in first


def test_seed_moves_intervals_not_estimates(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    prepared = prepare(spec)
    policies = load_policies(spec.policies)
    a = build_report(prepared, policies=policies, seed=0)
    b = build_report(prepared, policies=policies, seed=1)
    auroc_a, auroc_b = a.overall.metrics["auroc"], b.overall.metrics["auroc"]
    assert auroc_a.estimate == auroc_b.estimate
    assert (auroc_a.ci_low, auroc_a.ci_high) != (auroc_b.ci_low, auroc_b.ci_high)
    assert b.provenance.seed == 1


def test_provenance_hashes_the_inputs(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    report = run_audit(spec).report
    hashes = report.provenance.sha256
    assert hashes["spec"] == _digest(spec_path)
    assert hashes["data"] == _digest(spec.data)
    assert hashes["model"] == _digest(spec.model.path)
    pack = Path(__import__("policies").__file__).parent / "clinical-default.yaml"
    assert hashes["policies"]["clinical-default"] == _digest(pack)
    assert report.provenance.spec["name"] == spec.raw["name"]
    assert report.provenance.bootstrap_replicates == 100


def test_score_column_audit_explains_nothing_but_checks_data(
    example_dir: Path, tmp_path: Path
) -> None:
    spec = load_spec(example_dir / "spec.yaml")
    cohort = pd.read_csv(spec.data)
    cohort["risk"] = load_scorer(spec).scores(cohort)
    cohort.to_csv(example_dir / "scored.csv", index=False)
    scored = write_spec(
        example_dir,
        "scored.yaml",
        data="scored.csv",
        model={"score_column": "risk"},
        bootstrap=50,
    )
    report = run_audit(load_spec(scored)).report
    assert report.model.kind == "score_column"
    assert report.explanations.status == "not_evaluable"
    assert "score column" in (report.explanations.reason or "")
    assert report.data_checks.representation
    assert report.explanations.proxies, "proxy detection needs no model"
    model_report = run_audit(load_spec(write_spec(example_dir, "m.yaml", bootstrap=50))).report
    assert report.overall.metrics["auroc"].estimate == pytest.approx(
        model_report.overall.metrics["auroc"].estimate, abs=1e-12
    )


def test_rejudge_swaps_policies_and_their_hashes(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    report = run_audit(spec).report
    four_fifths = load_policies(["four-fifths"])
    again = rejudge(report, four_fifths)
    assert {r.policy for r in again.policy_results} == {"four-fifths"}
    assert list(again.provenance.sha256["policies"]) == ["four-fifths"]
    assert again.groups == report.groups
