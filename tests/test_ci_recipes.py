"""The CI recipes users copy: valid YAML, and the audit commands they run really work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / "examples" / "ci" / "github-actions.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
ACTION = ROOT / "action.yml"


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    bindir = Path(sys.executable).parent
    path = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, **env, "PATH": path},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _step(steps: list[dict], name: str) -> dict:
    return next(s for s in steps if s.get("name") == name)


def test_recipes_are_valid_yaml_with_the_expected_shape() -> None:
    gh = yaml.safe_load(GITHUB.read_text())
    steps = gh["jobs"]["audit"]["steps"]
    assert {s.get("uses", "").split("@")[0] for s in steps} >= {
        "actions/checkout",
        "actions/upload-artifact",
        "mikepenz/action-junit-report",
    }
    assert "GITHUB_STEP_SUMMARY" in _step(steps, "Audit")["run"]
    gl = yaml.safe_load(GITLAB.read_text())
    job = gl["model-audit"]
    assert job["artifacts"]["reports"]["junit"] == "$AUDIT_OUT/junit.xml"
    assert job["artifacts"]["when"] == "always"
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"spec", "out", "policy", "fail-on"}
    assert all("shell" in s for s in action["runs"]["steps"] if "run" in s)


@pytest.fixture()
def ci_workspace(fast_spec: Path, tmp_path: Path) -> tuple[Path, Path]:
    work = tmp_path / "repo"
    shutil.copytree(fast_spec.parent, work / "audit")
    return work, work / "audit" / fast_spec.name


def test_github_audit_step_gates_and_writes_the_summary(ci_workspace: tuple[Path, Path]) -> None:
    work, spec = ci_workspace
    script = _step(yaml.safe_load(GITHUB.read_text())["jobs"]["audit"]["steps"], "Audit")["run"]
    summary, output = work / "summary.txt", work / "output.txt"
    env = {
        "AUDIT_SPEC": str(spec),
        "AUDIT_OUT": "audit-report",
        "AUDIT_FAIL_ON": "block",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    result = _bash(script, env, work)
    assert result.returncode in (0, 1), result.stderr
    assert (work / "audit-report" / "junit.xml").exists()
    assert summary.read_text().startswith((work / "audit-report" / "summary.md").read_text()[:40])
    assert output.read_text().strip() == f"exit_code={result.returncode}"

    env["AUDIT_SPEC"] = str(work / "missing.yaml")
    bad = _bash(script, env, work)
    assert bad.returncode == 2


def test_composite_action_audit_step(ci_workspace: tuple[Path, Path]) -> None:
    work, spec = ci_workspace
    action = yaml.safe_load(ACTION.read_text())
    script = _step(action["runs"]["steps"], "Audit")["run"]
    output = work / "output.txt"
    env = {
        "AUDIT_SPEC": str(spec),
        "AUDIT_OUT": "out",
        "AUDIT_POLICY": "four-fifths",
        "AUDIT_FAIL_ON": "warn",
        "GITHUB_STEP_SUMMARY": str(work / "s.md"),
        "GITHUB_OUTPUT": str(output),
    }
    result = _bash(script, env, work)
    assert result.returncode in (0, 1), result.stderr
    assert "four-fifths" in (work / "out" / "report.json").read_text()


def test_gitlab_script_runs(ci_workspace: tuple[Path, Path]) -> None:
    work, spec = ci_workspace
    job = yaml.safe_load(GITLAB.read_text())["model-audit"]
    env = {
        **{k: str(v) for k, v in yaml.safe_load(GITLAB.read_text())["variables"].items()},
        "AUDIT_SPEC": str(spec),
    }
    result = _bash("\n".join(job["script"]), env, work)
    assert result.returncode in (0, 1), result.stderr
    assert (work / "audit-report" / "junit.xml").exists()
