"""The CLI as a user and a CI pipeline run it: subprocesses, exit codes, last lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_spec
from tests.test_metrics import PUBLIC_ORDER

VERDICT_LINE = re.compile(
    r"^verdict: (PASS|WARN|FAIL) — (\d+) blocking rules? failed \((\d+) results?\); "
    r"(\d+) warning rules? failed \((\d+) results?\); "
    r"(\d+) info rules? flagged \((\d+) results?\); "
    r"(\d+) blocking checks? undecided(?:; [^;]+)*; reports in .+/$"
)
REPORT_FILES = {
    "report.json",
    "report.html",
    "report.pdf",
    "governance.pdf",
    "summary.md",
    "junit.xml",
}


def run(*args: object, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    env.pop("AUDITOR_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "auditor", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def assert_bad_input(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr


def policy_file(folder: Path, severity: str, **check: object) -> Path:
    policy = {
        "id": f"test-{severity}",
        "title": f"Test policy with one {severity} rule",
        "version": "1.0",
        "rules": [
            {
                "id": "auroc-floor",
                "title": "AUROC at least the bound overall",
                "rationale": "A test rule.",
                "source": "Test suite",
                "severity": severity,
                "selector": {"attributes": ["sex"]},
                "check": {"kind": "metric", "metric": "auroc", "min": check.get("min", 0.5)},
            }
        ],
    }
    path = folder / f"policy-{severity}.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


@pytest.fixture()
def passing_policy(example_dir: Path) -> Path:
    return policy_file(example_dir, "block", min=0.5)


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in (
        "audit",
        "demo",
        "init",
        "validate-spec",
        "validate-policy",
        "policies",
        "metrics",
        "compare",
        "record",
        "history",
        "signoff",
        "verify-log",
    ):
        assert command in result.stdout
    for command in ("audit", "demo", "init", "compare"):
        sub = run(command, "--help")
        assert sub.returncode == 0
        assert "example" in sub.stdout


def test_no_command_is_a_usage_error() -> None:
    assert run().returncode == 2


def test_audit_writes_every_report_and_a_verdict_line(fast_spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    result = run("audit", fast_spec, "--out", out, "--quiet")
    assert result.returncode in (0, 1), result.stderr
    last = result.stdout.strip().splitlines()[-1]
    match = VERDICT_LINE.match(last)
    assert match, last
    assert {p.name for p in out.iterdir()} == REPORT_FILES
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == match.group(1).lower()
    assert (result.returncode == 1) == (report["verdict"] == "fail")
    counts = report["counts"]
    # issue 12: the verdict summary (rules and rule x group results by severity)
    assert [int(g) for g in match.groups()[1:]] == [
        counts["rules_failed_blocking"],
        counts["blocking_failures"],
        counts["rules_failed_warning"],
        counts["warnings"]
        - sum(
            r["status"] == "inconclusive" and r["severity"] == "warn" and r["waiver"] is None
            for r in report["policy_results"]
        ),
        len(
            {
                (r["policy"], r["rule_id"])
                for r in report["policy_results"]
                if r["status"] == "fail" and r["severity"] == "info"
            }
        ),
        counts["info_findings"],
        counts["undecided_blocking"],
    ]
    assert result.stderr == ""  # not a terminal: no progress output


def test_blocking_failure_exits_1(fast_spec: Path, example_dir: Path, tmp_path: Path) -> None:
    impossible = policy_file(example_dir, "block", min=0.999)
    result = run(
        "audit",
        fast_spec,
        "--out",
        tmp_path / "a",
        "--policy",
        impossible,
        "--formats",
        "json,md",
        "--quiet",
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("verdict: FAIL")


def test_passing_policy_exits_0(fast_spec: Path, passing_policy: Path, tmp_path: Path) -> None:
    result = run(
        "audit",
        fast_spec,
        "--out",
        tmp_path / "a",
        "--policy",
        passing_policy,
        "--formats",
        "json",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("verdict: PASS")


def test_warning_exits_0_unless_fail_on_warn(
    fast_spec: Path, example_dir: Path, tmp_path: Path
) -> None:
    warning = policy_file(example_dir, "warn", min=0.999)
    base = ("audit", fast_spec, "--policy", warning, "--formats", "json", "--quiet")
    relaxed = run(*base, "--out", tmp_path / "a")
    assert relaxed.returncode == 0, relaxed.stderr
    assert relaxed.stdout.strip().splitlines()[-1].startswith("verdict: WARN")
    strict = run(*base, "--out", tmp_path / "b", "--fail-on", "warn")
    assert strict.returncode == 1


def test_existing_output_needs_force(fast_spec: Path, passing_policy: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ("audit", fast_spec, "--out", out, "--policy", passing_policy, "--formats", "json")
    refused = run(*args)
    assert_bad_input(refused, "the output folder exists and is not empty", "--force")
    not_reports = run(*args, "--force")
    assert_bad_input(not_reports, "--force replaces only a folder of audit reports", "notes.txt")
    assert (out / "notes.txt").read_text() == "keep me"
    (out / "notes.txt").unlink()
    (out / "report.json").write_text("{}")
    (out / "summary.md").write_text("old summary")
    forced = run(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert {p.name for p in out.iterdir()} == {"report.json"}
    assert json.loads((out / "report.json").read_text())["verdict"] == "pass"


def test_output_folder_holding_an_input_is_refused(fast_spec: Path) -> None:
    result = run("audit", fast_spec, "--out", fast_spec.parent, "--force", "--formats", "json")
    assert_bad_input(result, "contains an input of this audit")
    assert fast_spec.exists()


def test_spec_file_is_never_modified(fast_spec: Path, passing_policy: Path, tmp_path: Path) -> None:
    before = {p.name: p.read_bytes() for p in fast_spec.parent.iterdir() if p.is_file()}
    run(
        "audit",
        fast_spec,
        "--out",
        tmp_path / "a",
        "--policy",
        passing_policy,
        "--threshold",
        "0.15",
        "--seed",
        "3",
        "--formats",
        "json",
    )
    after = {p.name: p.read_bytes() for p in fast_spec.parent.iterdir() if p.is_file()}
    assert before == after


def test_threshold_and_seed_override(fast_spec: Path, passing_policy: Path, tmp_path: Path) -> None:
    out = tmp_path / "a"
    result = run(
        "audit",
        fast_spec,
        "--out",
        out,
        "--policy",
        passing_policy,
        "--threshold",
        "0.15",
        "--threshold",
        "0.3",
        "--seed",
        "7",
        "--formats",
        "json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["thresholds"] == [0.15, 0.3]
    assert report["provenance"]["seed"] == 7


def test_interrupted_write_keeps_the_previous_report(
    fast_spec: Path, passing_policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor import cli

    out = tmp_path / "audit"
    args = [
        "audit",
        str(fast_spec),
        "--out",
        str(out),
        "--policy",
        str(passing_policy),
        "--formats",
        "json,md",
        "--quiet",
    ]
    assert cli.main(args) == 0
    first = (out / "report.json").read_bytes()

    import reports

    real_render = reports.render

    def render_then_crash(report, out_dir, formats):  # type: ignore[no-untyped-def]
        real_render(report, out_dir, ["json"])
        raise KeyboardInterrupt

    monkeypatch.setattr(reports, "render", render_then_crash)
    assert cli.main([*args, "--force", "--threshold", "0.3"]) == 130
    assert (out / "report.json").read_bytes() == first
    assert {p.name for p in out.iterdir()} == {"report.json", "summary.md"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_format_and_threshold_are_usage_errors(fast_spec: Path, tmp_path: Path) -> None:
    result = run("audit", fast_spec, "--out", tmp_path / "a", "--formats", "json,docx")
    assert_bad_input(result, "--formats: unknown format 'docx'")
    result = run("audit", fast_spec, "--out", tmp_path / "a", "--threshold", "1.5")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"data": "missing.csv"}, ("missing.csv",)),
        ({"label": {"column": "no_such_column", "positive": 1}}, ("no_such_column",)),
        ({"sensitive": ["race", "ethnicity"]}, ("ethnicity",)),
        ({"colour": "blue"}, ("colour",)),
        ({"model": {"score_column": "risk", "path": "model.skops"}}, ("score_column",)),
    ],
)
def test_bad_spec_inputs_exit_2(
    example_dir: Path, tmp_path: Path, change: dict, fragments: tuple[str, ...]
) -> None:
    spec = write_spec(example_dir, "bad.yaml", **change)
    result = run("audit", spec, "--out", tmp_path / "a")
    assert_bad_input(
        result, "bad.yaml" if "colour" in change or "model" in change else "", *fragments
    )
    assert not (tmp_path / "a").exists()
    assert run("validate-spec", spec).returncode == 2


def test_missing_spec_file(tmp_path: Path) -> None:
    assert_bad_input(run("audit", tmp_path / "nope.yaml", "--out", tmp_path / "a"), "nope.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: x\ndata: [unclosed\nlabel: {column: y}\n")
    result = run("validate-spec", spec)
    assert_bad_input(result, "broken.yaml", "line")


def test_validate_spec_accepts_the_example(example_dir: Path) -> None:
    result = run("validate-spec", example_dir / "spec.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_policies_and_metrics_listings() -> None:
    policies = run("policies", "--json")
    assert policies.returncode == 0
    ids = {p["id"] for p in json.loads(policies.stdout)}
    assert {
        "clinical-default",
        "four-fifths",
        "equalized-odds-strict",
        "hti-1-transparency",
        "tripod-ai",
    } <= ids
    metrics = run("metrics", "--json")
    assert metrics.returncode == 0
    assert [m["id"] for m in json.loads(metrics.stdout)] == PUBLIC_ORDER


def test_validate_policy(tmp_path: Path, passing_policy: Path) -> None:
    ok = run("validate-policy", passing_policy)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad-policy.yaml"
    policy = yaml.safe_load(passing_policy.read_text())
    policy["rules"][0]["severity"] = "blocker"
    policy["rules"][0]["check"]["metric"] = "sensitivty"
    bad.write_text(yaml.safe_dump(policy))
    result = run("validate-policy", bad)
    assert_bad_input(result, "bad-policy.yaml", "$.rules[0].severity")


def test_init_then_audit_in_two_commands(example_dir: Path, tmp_path: Path) -> None:
    import pandas as pd

    from auditor.load.scorers import load_scorer
    from auditor.load.spec_loader import load_spec

    spec = load_spec(example_dir / "spec.yaml")
    cohort = pd.read_csv(spec.data)
    cohort["risk_score"] = load_scorer(spec).scores(cohort)
    data = tmp_path / "cohort.csv"
    cohort.to_csv(data, index=False)

    init = run("init", data)
    assert init.returncode == 0, init.stderr
    written = tmp_path / "audit-spec.yaml"
    assert f"wrote {written}" in init.stdout
    guessed = yaml.safe_load(written.read_text())
    assert guessed["label"]["column"] == "hospitalized"
    assert guessed["model"]["score_column"] == "risk_score"
    assert set(guessed["sensitive"]) >= {"race", "sex", "age_band", "payer"}
    again = run("init", data)
    assert_bad_input(again, "already exists")

    audit = run("audit", written, "--out", tmp_path / "audit", "--formats", "json,md")
    assert audit.returncode in (0, 1), audit.stderr
    assert VERDICT_LINE.match(audit.stdout.strip().splitlines()[-1])


def test_compare_two_releases(example_dir: Path, fast_spec: Path, tmp_path: Path) -> None:
    """A retrained model (no utilisation features) against the shipped one."""
    import pandas as pd
    import skops.io as sio
    from sklearn.base import clone

    from auditor.load.scorers import load_scorer
    from auditor.load.spec_loader import load_spec

    spec = load_spec(fast_spec)
    shipped = load_scorer(spec).estimator
    cohort = pd.read_csv(spec.data)
    retrained = clone(shipped).set_params(**{shipped.steps[-1][0] + "__C": 0.001})
    retrained.fit(
        cohort[list(spec.features or shipped.feature_names_in_)], cohort[spec.label.column]
    )
    sio.dump(retrained, example_dir / "model-v2.skops")
    raw = yaml.safe_load(fast_spec.read_text())
    raw["model"]["path"] = "model-v2.skops"
    raw["model"]["version"] = "2.0"
    v2 = example_dir / "v2.yaml"
    v2.write_text(yaml.safe_dump(raw, sort_keys=False))

    a, b = tmp_path / "v1", tmp_path / "v2"
    assert run("audit", fast_spec, "--out", a, "--formats", "json").returncode in (0, 1)
    assert run("audit", v2, "--out", b, "--formats", "json").returncode in (0, 1)
    result = run("compare", a / "report.json", b / "report.json", "--json")
    assert result.returncode in (0, 1), result.stderr
    payload = json.loads(result.stdout)  # --json prints the JSON document only
    assert payload["deltas"], "a retrained model must move some metric"
    new_blocking = [c for c in payload["new_failures"] if c["severity"] == "block"]
    assert (result.returncode == 1) == bool(new_blocking)
    same = run("compare", a, a)
    assert same.returncode == 0
    assert "0 new failures" in same.stdout.strip().splitlines()[-1]


def test_compare_missing_report(tmp_path: Path) -> None:
    assert_bad_input(run("compare", tmp_path / "a.json", tmp_path / "b.json"), "a.json")


def _cohort_variant(example_dir: Path, name: str, change) -> str:  # type: ignore[no-untyped-def]
    import pandas as pd

    cohort = pd.read_csv(example_dir / "audit_cohort.csv")
    change(cohort)
    cohort.to_csv(example_dir / name, index=False)
    return name


def _bad_data_and_models(example_dir: Path) -> dict[str, tuple[dict, tuple[str, ...]]]:
    import operator

    import joblib
    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    header = (example_dir / "audit_cohort.csv").read_text().splitlines()[0]
    (example_dir / "empty.csv").write_text(header + "\n")
    (example_dir / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")

    def third_label(c):  # type: ignore[no-untyped-def]
        c.loc[4, "hospitalized"] = 2

    def nan_scores(c):  # type: ignore[no-untyped-def]
        c["risk"] = 0.2
        c.loc[[1, 6], "risk"] = np.nan

    def big_scores(c):  # type: ignore[no-untyped-def]
        c["risk"] = 0.2
        c.loc[3, "risk"] = 1.5

    shipped = sio.load(example_dir / "model.skops")
    joblib.dump(shipped, example_dir / "model.pkl")
    sio.dump(FunctionTransformer(operator.neg), example_dir / "untrusted.skops")
    third = _cohort_variant(example_dir, "third.csv", third_label)
    nan = _cohort_variant(example_dir, "nan.csv", nan_scores)
    big = _cohort_variant(example_dir, "big.csv", big_scores)
    return {
        "empty data": ({"data": "empty.csv"}, ("empty.csv", "no rows")),
        "corrupt parquet": ({"data": "corrupt.parquet"}, ("corrupt.parquet", "Parquet")),
        "third label value": ({"data": third}, ("third.csv", "hospitalized", "row")),
        "NaN scores": (
            {"data": nan, "model": {"score_column": "risk"}},
            ("nan.csv", "risk", "NaN"),
        ),
        "out-of-range scores": (
            {"data": big, "model": {"score_column": "risk"}},
            ("big.csv", "risk", "[0, 1]"),
        ),
        "missing model file": ({"model": {"path": "nope.skops"}}, ("nope.skops", "not found")),
        "pickle without sha256": (
            {"model": {"path": "model.pkl"}},
            ("model.pkl", "must pin their SHA-256"),
        ),
        "pickle whose hash differs": (
            {"model": {"path": "model.pkl", "sha256": "0" * 64}},
            ("model.pkl", "SHA-256 mismatch"),
        ),
        "untrusted skops type": (
            {"model": {"path": "untrusted.skops"}},
            ("untrusted.skops", "not trusted", "_operator.neg"),
        ),
        "neither score_column nor path": ({"model": {}}, ("$.model",)),
    }


def test_every_bad_data_and_model_input_exits_2(example_dir: Path, tmp_path: Path) -> None:
    cases = _bad_data_and_models(example_dir)
    for label, (change, fragments) in cases.items():
        spec = write_spec(example_dir, "bad.yaml", bootstrap=20, **change)
        result = run("audit", spec, "--out", tmp_path / "out", "--formats", "json")
        assert result.returncode == 2, (label, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, label
        assert result.stderr.startswith("error: "), (label, result.stderr)
        for fragment in fragments:
            assert fragment in result.stderr, (label, fragment, result.stderr)
        assert not (tmp_path / "out").exists(), label
        checked = run("validate-spec", spec)
        assert checked.returncode == 2, (label, checked.stdout)
        assert checked.stderr.startswith("error: "), (label, checked.stderr)


def test_baseline_regression_rule(fast_spec: Path, example_dir: Path, tmp_path: Path) -> None:
    policy = {
        "id": "no-regression",
        "title": "No group gets worse than the previous release",
        "version": "1.0",
        "rules": [
            {
                "id": "auroc-regression",
                "title": "AUROC no more than 0.001 below the baseline",
                "rationale": "A test rule.",
                "source": "Test suite",
                "severity": "block",
                "selector": {"attributes": ["sex"], "include_overall": True},
                "check": {"kind": "regression", "metric": "auroc", "margin": 0.001},
            }
        ],
    }
    path = example_dir / "regression.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    base = run("audit", fast_spec, "--out", tmp_path / "v1", "--formats", "json")
    assert base.returncode in (0, 1), base.stderr
    no_baseline = run(
        "audit", fast_spec, "--out", tmp_path / "nb", "--policy", path, "--formats", "json"
    )
    assert no_baseline.returncode == 0, no_baseline.stderr
    # issue 12: without a baseline the regression rule is not applicable (not evaluable,
    # never an undecided blocking check); the CLI line counts by the verdict summary
    assert "0 blocking checks undecided" in no_baseline.stdout
    nb = json.loads((tmp_path / "nb" / "report.json").read_text())
    assert {r["status"] for r in nb["policy_results"]} == {"not_evaluable"}
    report = json.loads(base_report := (tmp_path / "v1" / "report.json").read_text())
    # A baseline that was better everywhere: the current release regressed in every group.
    for entry in [report["overall"], *report["groups"]]:
        auroc = entry["metrics"].get("auroc")
        if auroc and auroc["estimate"] is not None:
            auroc["estimate"] = min(1.0, auroc["estimate"] + 0.05)
    better = tmp_path / "better.json"
    better.write_text(json.dumps(report))
    assert base_report
    gated = run(
        "audit",
        fast_spec,
        "--out",
        tmp_path / "v2",
        "--policy",
        path,
        "--baseline",
        better,
        "--formats",
        "json",
    )
    assert gated.returncode == 1, gated.stderr
    results = json.loads((tmp_path / "v2" / "report.json").read_text())["policy_results"]
    assert {r["status"] for r in results} == {"fail"}
    assert len(results) == 3  # overall, female, male
    same = run(
        "audit",
        fast_spec,
        "--out",
        tmp_path / "v3",
        "--policy",
        path,
        "--baseline",
        tmp_path / "v1",
        "--formats",
        "json",
    )
    assert same.returncode == 0, same.stderr


def test_compare_exits_1_on_a_new_blocking_failure(fast_spec: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("audit", fast_spec, "--out", a, "--formats", "json").returncode in (0, 1)
    strict = run(
        "audit",
        fast_spec,
        "--out",
        b,
        "--policy",
        "clinical-default",
        "--policy",
        "equalized-odds-strict",
        "--formats",
        "json",
    )
    assert strict.returncode == 1, strict.stderr
    result = run("compare", a, b)
    assert result.returncode == 1
    assert "[block] equalized-odds-strict/" in result.stdout
    back = run("compare", b, a)
    assert back.returncode == 0
    assert "Resolved failures" in back.stdout


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    plain = run("audit", tmp_path / "nope.yaml", "--out", tmp_path / "a")
    debug = run("audit", tmp_path / "nope.yaml", "--out", tmp_path / "a", "--debug")
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr
    assert debug.returncode == plain.returncode == 2


def test_progress_goes_to_a_terminal_only(fast_spec: Path, tmp_path: Path) -> None:
    import pty

    out = tmp_path / "a"
    command = [sys.executable, "-m", "auditor", "audit", str(fast_spec), "--out", str(out)]
    command += ["--formats", "json"]
    primary, secondary = pty.openpty()
    proc = subprocess.run(
        command, stdin=secondary, stdout=subprocess.PIPE, stderr=secondary, timeout=600
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    shown = b"".join(chunks).decode()
    assert proc.returncode in (0, 1)
    for step in (
        "reading spec",
        "loading data",
        "reducing",
        "bootstrap",
        "explaining",
        "rendering",
    ):
        assert step in shown, (step, shown)


def test_spec_context_in_reference_group_and_pack_errors(example_dir: Path) -> None:
    ref = write_spec(example_dir, "ref.yaml", reference_groups={"race": "Martian"})
    assert_bad_input(
        run("validate-spec", ref),
        "ref.yaml: $.reference_groups.race: 'Martian' is not a group of race in "
        "audit_cohort.csv; its groups are: Black, Not Black",
    )
    pack = write_spec(example_dir, "pack.yaml", policy="no-such-pack")
    assert_bad_input(run("validate-spec", pack), "pack.yaml: $.policy: unknown policy pack")
    cli = run("audit", example_dir / "spec.yaml", "--out", example_dir / "o", "--policy", "nope")
    assert_bad_input(cli, "--policy: unknown policy pack 'nope'")


def test_lowered_privacy_floor_warns_in_one_line(example_dir: Path) -> None:
    low = write_spec(example_dir, "low.yaml", min_cell_size=5)
    result = run("validate-spec", low, "--debug")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {low}: $.min_cell_size is 5, below the privacy floor of 11: groups with "
        "as few as 5 patients will appear in reports; lower it only with your data "
        "governance's approval"
    ]
