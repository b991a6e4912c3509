"""Alembic environment for the audit registry.

``auditor.registry.db`` runs migrations with a connection already inside the
writers' lock (``config.attributes["connection"]``). Alembic's own command line
works too when given ``sqlalchemy.url`` (see ``db.alembic_config``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from auditor.registry.db import make_engine
from auditor.registry.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (see auditor.registry.db.alembic_config)")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
