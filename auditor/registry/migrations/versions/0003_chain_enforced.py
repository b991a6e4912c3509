"""The database itself enforces the chain: appends must follow the head, the head moves only so.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Before this revision only UPDATE and DELETE were refused; anyone could INSERT an
entry anywhere or move ``chain_head``. Now, on SQLite and PostgreSQL:

- an INSERT into ``log_entries`` is refused unless ``seq`` is the head's seq + 1 and
  ``prev_sha256`` is the head's entry hash;
- the same INSERT moves ``chain_head`` to the new entry (a trigger, not the
  application), and ``chain_head`` refuses every other UPDATE, and any INSERT,
  DELETE or TRUNCATE;
- a typed row (``audits``, ``signoffs``) can only be inserted for the entry that is
  the head, i.e. in the transaction that appended it.

Someone who can drop triggers can still do anything; see docs/registry.md for what
is then detected and how.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MSG_APPEND = "log_entries: an entry must follow the chain head (seq = head + 1, prev_sha256 = head)"
MSG_HEAD = "chain_head moves only when an entry is appended to log_entries"
MSG_TYPED = "{table}: a row may only be added for the entry just appended"
TYPED_TABLES = ("audits", "signoffs")

SQLITE_TRIGGERS = {
    "log_entries_follow_head": f"""
        CREATE TRIGGER log_entries_follow_head BEFORE INSERT ON log_entries
        WHEN (SELECT count(*) FROM chain_head WHERE id = 1) != 1
          OR NEW.seq != (SELECT seq FROM chain_head WHERE id = 1) + 1
          OR NEW.prev_sha256 != (SELECT entry_sha256 FROM chain_head WHERE id = 1)
        BEGIN SELECT RAISE(ABORT, '{MSG_APPEND}'); END""",
    "log_entries_move_head": """
        CREATE TRIGGER log_entries_move_head AFTER INSERT ON log_entries
        BEGIN
          UPDATE chain_head SET seq = NEW.seq, entry_sha256 = NEW.entry_sha256 WHERE id = 1;
        END""",
    "chain_head_only_by_append": f"""
        CREATE TRIGGER chain_head_only_by_append BEFORE UPDATE ON chain_head
        WHEN NEW.id != OLD.id OR NEW.seq != OLD.seq + 1 OR NOT EXISTS (
          SELECT 1 FROM log_entries WHERE seq = NEW.seq AND entry_sha256 = NEW.entry_sha256
        )
        BEGIN SELECT RAISE(ABORT, '{MSG_HEAD}'); END""",
    "chain_head_no_insert": f"""
        CREATE TRIGGER chain_head_no_insert BEFORE INSERT ON chain_head
        BEGIN SELECT RAISE(ABORT, '{MSG_HEAD}'); END""",
    "chain_head_no_delete": f"""
        CREATE TRIGGER chain_head_no_delete BEFORE DELETE ON chain_head
        BEGIN SELECT RAISE(ABORT, '{MSG_HEAD}'); END""",
    **{
        f"{table}_for_head_only": f"""
        CREATE TRIGGER {table}_for_head_only BEFORE INSERT ON {table}
        WHEN NEW.log_seq != (SELECT seq FROM chain_head WHERE id = 1)
        BEGIN SELECT RAISE(ABORT, '{MSG_TYPED.format(table=table)}'); END"""
        for table in TYPED_TABLES
    },
}

PG_FUNCTIONS = {
    "registry_follow_head": f"""
        CREATE FUNCTION registry_follow_head() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE head_seq integer; head_hash text;
        BEGIN
          SELECT seq, entry_sha256 INTO head_seq, head_hash FROM chain_head WHERE id = 1
            FOR UPDATE;
          IF head_seq IS NULL OR NEW.seq <> head_seq + 1 OR NEW.prev_sha256 <> head_hash THEN
            RAISE EXCEPTION '{MSG_APPEND}';
          END IF;
          RETURN NEW;
        END $$""",
    "registry_move_head": """
        CREATE FUNCTION registry_move_head() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE chain_head SET seq = NEW.seq, entry_sha256 = NEW.entry_sha256 WHERE id = 1;
          RETURN NULL;
        END $$""",
    "registry_head_guard": f"""
        CREATE FUNCTION registry_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' THEN
            IF NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 AND EXISTS (
              SELECT 1 FROM log_entries WHERE seq = NEW.seq AND entry_sha256 = NEW.entry_sha256
            ) THEN
              RETURN NEW;
            END IF;
          END IF;
          RAISE EXCEPTION '{MSG_HEAD}';
        END $$""",
    "registry_for_head_only": """
        CREATE FUNCTION registry_for_head_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.log_seq IS DISTINCT FROM (SELECT seq FROM chain_head WHERE id = 1) THEN
            RAISE EXCEPTION '%: a row may only be added for the entry just appended',
              TG_TABLE_NAME;
          END IF;
          RETURN NEW;
        END $$""",
}
PG_TRIGGERS = {
    "log_entries_follow_head": "BEFORE INSERT ON log_entries FOR EACH ROW "
    "EXECUTE FUNCTION registry_follow_head()",
    "log_entries_move_head": "AFTER INSERT ON log_entries FOR EACH ROW "
    "EXECUTE FUNCTION registry_move_head()",
    "chain_head_only_by_append": "BEFORE INSERT OR UPDATE OR DELETE ON chain_head FOR EACH ROW "
    "EXECUTE FUNCTION registry_head_guard()",
    "chain_head_no_truncate": "BEFORE TRUNCATE ON chain_head FOR EACH STATEMENT "
    "EXECUTE FUNCTION registry_head_guard()",
    **{
        f"{table}_for_head_only": f"BEFORE INSERT ON {table} FOR EACH ROW "
        "EXECUTE FUNCTION registry_for_head_only()"
        for table in TYPED_TABLES
    },
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS.values():
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in PG_FUNCTIONS.values():
            op.execute(statement)
        for name, definition in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for name, definition in PG_TRIGGERS.items():
            table = definition.split(" ON ")[1].split()[0]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
