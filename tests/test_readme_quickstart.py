"""The README's quick start as a new user on a fresh Debian 12 machine reads it: exactly two
commands, the first installing and running the demo, the second installing and running the
tests, both through `scripts/install.sh` (Debian packages, then a virtual environment, since
Debian's Python refuses `pip install` outside one); CI runs the same two steps."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "scripts" / "install.sh"
PDF_PACKAGES = {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"}


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _steps(command: str) -> list[list[str]]:
    return [shlex.split(part) for part in command.split("&&")]


def test_quick_start_is_two_commands() -> None:
    assert len(_quick_start()) == 2


def test_first_command_installs_and_runs_the_demo_from_the_venv() -> None:
    steps = _steps(_quick_start()[0])
    assert steps == [
        ["bash", "scripts/install.sh"],
        [".venv/bin/auditor", "demo", "--out", "audit-demo"],
    ]


def test_second_command_installs_the_dev_extras_and_runs_the_suite_ci_runs() -> None:
    steps = _steps(_quick_start()[1])
    assert steps[0] == ["bash", "scripts/install.sh", "dev"]
    test_command = steps[-1]
    assert test_command == ["python", "-m", "pytest", "-n", "2"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/install.sh dev" in ci
    assert "\n" + shlex.join(test_command) + "\n" in ci + "\n"
    assert not any(step[0] in ("pip", "pip3") for step in steps), "Debian refuses a bare pip"


def test_install_script_installs_the_pdf_libraries_into_a_venv() -> None:
    script = INSTALL.read_text(encoding="utf-8")
    listed = re.search(r"packages=\((.*?)\)", script, re.S)
    assert listed
    assert set(listed.group(1).split()) >= PDF_PACKAGES
    assert "python3 -m venv .venv" in script
    assert "pip install" in script and "-e '.[dev]'" in script


def test_install_script_refuses_an_unknown_extra() -> None:
    result = subprocess.run(
        ["bash", str(INSTALL), "everything"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: bash scripts/install.sh [dev]"
