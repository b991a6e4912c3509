"""A real PostgreSQL server for tests, started and stopped by the test run itself.

Import the fixtures into a test module::

    from postgres_fixture import postgres_server, postgres_url  # noqa: F401

``postgres_server`` (session) runs ``initdb`` in a fresh temporary folder and
``pg_ctl start`` on a free port of 127.0.0.1, and stops the server when the
session ends, even after failures. ``postgres_url`` (per test) creates an empty
database and drops it afterwards. PostgreSQL refuses to run as root, so as root
the server runs as the ``postgres`` user.

``AUDITOR_TEST_POSTGRES_URL`` (a server URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) uses an existing server
instead; ``AUDITOR_PG_BINDIR`` names the folder holding ``initdb`` and ``pg_ctl``.
Without binaries the tests are skipped, except when ``CI`` is set: then they fail,
so a CI machine that lost its PostgreSQL does not pass silently.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV_URL = "AUDITOR_TEST_POSTGRES_URL"
ENV_BINDIR = "AUDITOR_PG_BINDIR"
SERVER_USER = "postgres"
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
START_ATTEMPTS = 3

MSG_NO_BINARIES = (
    "PostgreSQL tests need initdb and pg_ctl (Debian: apt-get install postgresql; looked in "
    f"${ENV_BINDIR}, PATH and {DEBIAN_GLOB}) or {ENV_URL} naming a running server"
)
MSG_NO_DRIVER = "PostgreSQL tests need the psycopg driver: pip install 'psycopg[binary]'"
MSG_NO_USER = "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(message: str) -> None:
    """Skip outside CI; fail in CI, where PostgreSQL must be there."""
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)")
    pytest.skip(message)


def find_bindir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: env override, PATH, then Debian's newest."""
    candidates: list[Path] = []
    if os.environ.get(ENV_BINDIR):
        candidates.append(Path(os.environ[ENV_BINDIR]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)

    def major(path: Path) -> int:
        digits = re.sub(r"\D", "", path.parent.name)
        return int(digits) if digits else 0

    candidates += sorted((Path(p) for p in glob.glob(DEBIAN_GLOB)), key=major, reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: connect as ``postgres`` to ``host:port``."""

    host: str
    port: int
    user: str = SERVER_USER
    base_url: str | None = None

    def url(self, database: str) -> str:
        if self.base_url is not None:
            from sqlalchemy.engine import make_url

            return make_url(self.base_url).set(database=database).render_as_string(False)
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction on the maintenance database."""
        import psycopg
        from sqlalchemy.engine import make_url

        if self.base_url is not None:
            u = make_url(self.base_url)
            conninfo: dict[str, Any] = {
                "host": u.host or "127.0.0.1",
                "port": u.port or 5432,
                "user": u.username or SERVER_USER,
                "password": u.password,
                "dbname": u.database or "postgres",
            }
        else:
            conninfo = {
                "host": self.host,
                "port": self.port,
                "user": self.user,
                "dbname": "postgres",
            }
        with psycopg.connect(
            **{k: v for k, v in conninfo.items() if v is not None}, autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


class _LocalServer:
    """initdb + pg_ctl in a temporary folder owned by the user the server runs as."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self.account = pwd.getpwnam(SERVER_USER)
            except KeyError:
                pytest.fail(MSG_NO_USER)
        self.folder = Path(tempfile.mkdtemp(prefix="auditor-pg-"))
        if self.as_root:
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.as_root:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            **kwargs,
        )

    def start(self) -> PostgresServer:
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            SERVER_USER,
            "-E",
            "UTF8",
            "--no-sync",
        )
        if done.returncode != 0:
            pytest.fail(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {self.folder} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                self.started = True
                return PostgresServer(host="127.0.0.1", port=port)
        log = self.log.read_text() if self.log.exists() else ""
        self.stop()
        pytest.fail(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable(MSG_NO_DRIVER)
    if os.environ.get(ENV_URL):
        yield PostgresServer(host="", port=0, base_url=os.environ[ENV_URL])
        return
    bindir = find_bindir()
    if bindir is None:
        _unavailable(MSG_NO_BINARIES)
        return
    local = _LocalServer(bindir)
    atexit.register(local.stop)  # also stops it if the session dies before teardown
    try:
        yield local.start()
    finally:
        local.stop()
        atexit.unregister(local.stop)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"auditor_test_{uuid.uuid4().hex[:12]}"
    postgres_server.admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
