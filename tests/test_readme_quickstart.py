"""The README's quick start as a new user on a fresh Debian 12 machine reads it: exactly two
commands, the first installing the venv module and every system library PDF rendering needs
(the same list CI installs), the second creating a virtual environment (Debian's Python
refuses `pip install` outside one), installing into it and running the demo."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands() -> None:
    assert len(_quick_start()) == 2


def test_first_command_installs_venv_and_the_pdf_libraries_ci_installs() -> None:
    first = shlex.split(_quick_start()[0])
    assert first[:3] == ["sudo", "apt-get", "update"]
    packages = set(first[first.index("-y") + 1 :])
    assert {"python3-venv", "python3-pip"} <= packages
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    listed = re.search(r"system_packages=\((.*?)\)", ci, re.S)
    assert listed
    pdf = {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"}
    assert pdf <= set(listed.group(1).split())
    assert pdf <= packages


def test_second_command_uses_a_virtual_environment_and_runs_the_demo() -> None:
    steps = [shlex.split(part) for part in _quick_start()[1].split("&&")]
    assert steps[0] == ["python3", "-m", "venv", ".venv"]
    assert steps[1] == [".venv/bin/pip", "install", "-e", "."]
    assert steps[2] == [".venv/bin/auditor", "demo", "--out", "audit-demo"]
    assert not any(step[0] in ("pip", "pip3") for step in steps), "Debian refuses a bare pip"
