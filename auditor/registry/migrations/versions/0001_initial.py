"""Create the hash-chained log, the typed audit and sign-off tables, and the chain head.

Revision ID: 0001
Revises:
Create Date: 2025-11-25

The log and its typed copies are append-only: on SQLite and PostgreSQL the
database itself refuses UPDATE and DELETE on them (triggers), so only a
deliberate edit that first removes the triggers can change history, and the hash
chain shows that edit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_SHA256 = "0" * 64  # frozen copy of chain.GENESIS_SHA256: migrations never change
APPEND_ONLY_TABLES = ("log_entries", "audits", "signoffs")
PG_FUNCTION = "registry_append_only"


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("prev_sha256", sa.String(length=64), nullable=False),
        sa.Column("entry_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('audit', 'signoff')", name=op.f("ck_log_entries_kind")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_log_entries")),
    )
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("log_seq", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=255), nullable=False),
        sa.Column("model_version", sa.String(length=255), nullable=True),
        sa.Column("report_name", sa.String(length=255), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("ran_by", sa.String(length=255), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.Column("generated_at", sa.Text(), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("provenance_sha256", sa.Text(), nullable=False),
        sa.Column("report_dir", sa.Text(), nullable=True),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_seq"], ["log_entries.seq"], name=op.f("fk_audits_log_seq_log_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audits")),
        sa.UniqueConstraint("log_seq", name=op.f("uq_audits_log_seq")),
    )
    op.create_index(op.f("ix_audits_model_name"), "audits", ["model_name"], unique=False)
    op.create_table(
        "signoffs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("log_seq", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("signed_by", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.String(length=40), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("decision IN ('approve', 'reject')", name=op.f("ck_signoffs_decision")),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audits.id"], name=op.f("fk_signoffs_audit_id_audits")
        ),
        sa.ForeignKeyConstraint(
            ["log_seq"], ["log_entries.seq"], name=op.f("fk_signoffs_log_seq_log_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signoffs")),
        sa.UniqueConstraint("log_seq", name=op.f("uq_signoffs_log_seq")),
    )
    op.create_index(op.f("ix_signoffs_audit_id"), "signoffs", ["audit_id"], unique=False)
    chain_head = op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_head")),
    )
    op.bulk_insert(chain_head, [{"id": 1, "seq": 0, "entry_sha256": GENESIS_SHA256}])
    _create_append_only_guards()


def downgrade() -> None:
    _drop_append_only_guards()
    op.drop_table("chain_head")
    op.drop_index(op.f("ix_signoffs_audit_id"), table_name="signoffs")
    op.drop_table("signoffs")
    op.drop_index(op.f("ix_audits_model_name"), table_name="audits")
    op.drop_table("audits")
    op.drop_table("log_entries")


def _create_append_only_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )


def _drop_append_only_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
    elif dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
