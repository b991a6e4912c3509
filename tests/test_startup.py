"""Start-up cost: the CLI imports heavy libraries only where a command uses them.

Checked by which modules a fresh interpreter has imported after the command ran
(never by wall time, which depends on the machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "auditor" / "example_data"

NEVER_FOR_HELP = (
    "pandas",
    "numpy",
    "pydantic",
    "reports.model",
    "scipy",
    "sklearn",
    "sqlalchemy",
    "alembic",
    "shap",
    "matplotlib",
    "weasyprint",
    "pyarrow",
    "pyspark",
    "streamlit",
)
NEVER_FOR_VALIDATE = (
    "scipy.stats",
    "sklearn",
    "sqlalchemy",
    "alembic",
    "shap",
    "matplotlib",
    "weasyprint",
    "pyspark",
    "streamlit",
    "auditor.measure.measurement",
    "auditor.judge.engine",
    "auditor.privacy.disclosure",
)

_PROBE = """
import contextlib, io, json, sys
from auditor.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _imported_by(*argv: str, cwd: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["audit", "--help"], ["history", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    result = _imported_by(*argv)
    assert result["code"] == 0
    assert "usage: auditor" in result["out"]
    loaded = set(result["modules"])
    assert [m for m in NEVER_FOR_HELP if m in loaded] == []


def test_validate_spec_imports_only_the_load_stage(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(
        "outcome,sex,risk\n"
        + "".join(f"{i % 3 == 0:d},{'FM'[i % 2]},{(i % 97) / 100}\n" for i in range(200))
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: startup\ndata: cohort.csv\nlabel: {column: outcome, positive: 1}\n"
        "model: {score_column: risk}\nsensitive: [sex]\nthreshold: 0.5\n"
    )
    result = _imported_by("validate-spec", str(spec), cwd=tmp_path)
    assert result["code"] == 0, result["out"]
    assert "valid" in result["out"]
    loaded = set(result["modules"])
    assert [m for m in NEVER_FOR_VALIDATE if m in loaded] == []
