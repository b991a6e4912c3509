"""The launcher refuses to start a served dashboard without login, and keeps local mode local."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.dashboard import serve
from auditor.dashboard.access import SERVED_NEEDS_AUTH

sys.path.insert(0, str(Path(__file__).parent))
from served_helpers import AUTH_SECRETS, make_site

ROOT = Path(__file__).resolve().parents[1]


def _secrets(path: Path, **auth: str) -> Path:
    lines = ["[auth]", *(f'{k} = "{v}"' for k, v in auth.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_served_without_auth_does_not_start(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    env = {
        **os.environ,
        "AUDITOR_SERVER_CONFIG": str(site.config),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "auditor.dashboard.serve", "--server.port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {SERVED_NEEDS_AUTH}"


def test_served_with_auth_runs_streamlit_with_the_given_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path / "site")
    monkeypatch.setenv("AUDITOR_SERVER_CONFIG", str(site.config))
    secrets = _secrets(tmp_path / "s.toml", **AUTH_SECRETS)
    cmd = serve.command(["--secrets.files", str(secrets), "--server.port", "8501"], tmp_path)
    assert cmd[1:5] == ["-m", "streamlit", "run", str(serve.APP)]
    assert cmd[5:] == ["--secrets.files", str(secrets), "--server.port", "8501"]
    incomplete = _secrets(tmp_path / "t.toml", redirect_uri="x", cookie_secret="y")
    with pytest.raises(Exception, match="no login is configured"):
        serve.command(["--secrets.files", str(incomplete)], tmp_path)


def test_local_mode_always_binds_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITOR_SERVER_CONFIG", raising=False)
    cmd = serve.command(["--server.address", "0.0.0.0", "--server.port", "8501"], tmp_path)
    assert cmd[5:] == ["--server.port", "8501", "--server.address", "127.0.0.1"]
