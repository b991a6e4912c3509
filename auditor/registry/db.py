"""Where the registry lives, how to connect, how writers take turns, and migrations.

A SQLite file needs no setup and is the default; a team points ``--registry`` (or
the ``AUDITOR_REGISTRY`` environment variable) at PostgreSQL
(``postgresql+psycopg://user@host/db``). Writers are serialized so the hash
chain never forks: SQLite with ``BEGIN IMMEDIATE`` (one writer holds the
database's write lock for the whole transaction), other databases by locking
the ``chain_head`` row (``SELECT ... FOR UPDATE``). Alembic runs from the
``migrations`` folder shipped inside this package, configured in code, so an
installed wheel migrates without an ``alembic.ini``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from auditor.errors import RegistryError
from auditor.registry.names import (  # noqa: F401  (re-exported)
    APP_DIR_NAME,
    DEFAULT_FILE_NAME,
    ENV_REGISTRY,
    default_registry_path,
)

SQLITE_BUSY_TIMEOUT_S = 60.0
"""How long a SQLite writer waits for another writer before giving up."""
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_WRITE_OPTION = "auditor_registry_write"
_PG_MIGRATION_LOCK_KEY = 0x61756469746F72  # "auditor": one advisory lock for migrations

MSG_BAD_URL = (
    "cannot use the registry URL {url!r}: {reason}. Give a SQLite file path, "
    "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
)
MSG_NO_DEFAULT_FOLDER = (
    "cannot create the registry folder {folder} ({reason}): give --registry or set "
    f"{ENV_REGISTRY}"
)
MSG_NO_FOLDER = "cannot create the registry {path}: the folder {folder} does not exist"
MSG_CANNOT_OPEN = "cannot open the registry at {url}: {reason}"
MSG_NEWER_SCHEMA = (
    "the registry at {url} has schema revision {revision}, which this version of the "
    "auditor does not know: it was created by a newer version; upgrade the auditor"
)


def resolve_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$AUDITOR_REGISTRY``, else the default file.

    A value without ``://`` is a SQLite file path. The default file's folder is
    created; a folder the user named must exist (a typo should not scatter
    databases around the disk).
    """
    given = url or os.environ.get(ENV_REGISTRY) or None
    if given is None:
        path = default_registry_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(
                MSG_NO_DEFAULT_FOLDER.format(folder=path.parent, reason=exc.strerror)
            ) from exc
        return URL.create("sqlite", database=str(path)).render_as_string()
    if "://" not in given:
        path = Path(given).expanduser().resolve()
        given = URL.create("sqlite", database=str(path)).render_as_string()
    try:
        parsed = make_url(given)
    except ArgumentError as exc:
        raise RegistryError(MSG_BAD_URL.format(url=given, reason=exc)) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.parent.is_dir():
            raise RegistryError(MSG_NO_FOLDER.format(path=path, folder=path.parent))
    return given


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def make_engine(url: str) -> Engine:
    """An engine whose transactions can be marked as writes (see :func:`write_connection`)."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            _install_sqlite_transactions(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise RegistryError(MSG_BAD_URL.format(url=display_url(url), reason=exc)) from exc
    return engine


def _install_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, say BEGIN, so a writer can say IMMEDIATE.

    This is the recipe of SQLAlchemy's SQLite documentation, plus foreign keys.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction holds the writers' lock from its first statement.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE``; on other databases
    the caller locks the ``chain_head`` row (see ``service``) or, for migrations,
    an advisory lock. Leaving the block commits; an exception rolls back, so a
    crash mid-write leaves nothing behind.
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn
    except OperationalError as exc:
        raise _cannot_open(engine, exc) from exc


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection seeing one consistent snapshot for all its reads."""
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
    except OperationalError as exc:
        raise _cannot_open(engine, exc) from exc


def _cannot_open(engine: Engine, exc: OperationalError) -> RegistryError:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return RegistryError(MSG_CANNOT_OPEN.format(url=display_url(str(engine.url)), reason=reason))


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code (no ``alembic.ini``).

    With ``connection`` the migrations run inside that connection's transaction;
    with only ``url`` Alembic's own commands (``revision``, ``history``) work too.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of the auditor."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the registry package ships no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (``None`` for an empty database)."""
    with read_connection(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision`` (default: the newest); a no-op when already there.

    Concurrent openers of a new database take turns: the migration runs under the
    writers' lock and Alembic re-reads the revision inside it.
    """
    current = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError as exc:
            raise RegistryError(
                MSG_NEWER_SCHEMA.format(url=display_url(str(engine.url)), revision=current)
            ) from exc
    if revision == "head" and current == script.get_current_head():
        return
    _run_alembic(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate down to ``revision``; ``base`` drops every registry table (and its data)."""
    _run_alembic(engine, command.downgrade, revision)


def _run_alembic(engine: Engine, action: Any, revision: str) -> None:
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            conn.execute(lock, {"key": _PG_MIGRATION_LOCK_KEY})
        action(alembic_config(connection=conn), revision)
