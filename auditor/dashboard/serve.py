"""Start the dashboard as the server configuration says: ``python -m auditor.dashboard.serve``.

Checks before Streamlit starts, so a mistake stops the server rather than
showing a page: the server configuration must read, and a served dashboard
must have a complete ``[auth]`` section in its secrets (else exit code 2
with the message). Local mode always binds 127.0.0.1. Other arguments go to
``streamlit run`` unchanged (e.g. ``--server.port 8501 --secrets.files FILE``).
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.dashboard.access import AUTH_KEYS, PROVIDER_KEYS, SERVED_NEEDS_AUTH
from auditor.errors import EXIT_BAD_INPUT, AuditorError
from auditor.server_config import server_config

APP = Path(__file__).resolve().with_name("page.py")
SECRETS_UNREADABLE = "{file}: cannot read the secrets: {reason}"


def _option(args: Sequence[str], name: str) -> list[str]:
    """Every value given to ``--name VALUE`` or ``--name=VALUE``."""
    found = []
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith(name + "="):
            found.append(arg.split("=", 1)[1])
    return found


def secrets_files(args: Sequence[str], cwd: Path) -> list[Path]:
    """Where Streamlit will look for secrets.toml (the flag wins over its defaults)."""
    given = _option(args, "--secrets.files")
    if given:
        return [Path(g) for g in given]
    return [Path.home() / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]


def auth_complete(files: Sequence[Path]) -> bool:
    """True when the merged secrets hold an [auth] section with a usable provider."""
    auth: dict[str, Any] = {}
    for file in files:
        if not file.is_file():
            continue
        try:
            auth.update(tomllib.loads(file.read_text(encoding="utf-8")).get("auth", {}))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AuditorError(SECRETS_UNREADABLE.format(file=file, reason=exc)) from exc
    if not all(auth.get(k) for k in AUTH_KEYS):
        return False
    providers = [auth, *(v for v in auth.values() if isinstance(v, dict))]
    return any(all(p.get(k) for k in PROVIDER_KEYS) for p in providers)


def command(args: Sequence[str], cwd: Path) -> list[str]:
    """The ``streamlit run`` command line, or AuditorError when the server must not start."""
    config = server_config([sys.argv[0], *args], os.environ)
    run = [sys.executable, "-m", "streamlit", "run", str(APP)]
    streamlit_args = list(args)
    app_args: list[str] = []
    if "--" in streamlit_args:
        cut = streamlit_args.index("--")
        streamlit_args, app_args = streamlit_args[:cut], streamlit_args[cut:]
    if config.served:
        if not auth_complete(secrets_files(streamlit_args, cwd)):
            raise AuditorError(SERVED_NEEDS_AUTH)
    else:
        streamlit_args = [
            a for i, a in enumerate(streamlit_args) if not _is_address(streamlit_args, i)
        ]
        streamlit_args += ["--server.address", "127.0.0.1"]
    return [*run, *streamlit_args, *app_args]


def _is_address(args: Sequence[str], i: int) -> bool:
    arg = args[i]
    if arg == "--server.address" or arg.startswith("--server.address="):
        return True
    return i > 0 and args[i - 1] == "--server.address"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cmd = command(args, Path.cwd())
    except AuditorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
