"""Tables of the audit registry (SQLAlchemy 2 declarative models).

``log_entries`` is the append-only, hash-chained record and the source of truth.
``audits`` and ``signoffs`` are typed copies of the same facts, convenient to
query; every column that matters is also in the log payload, so
``Registry.verify_log`` can tell when one of them was edited. ``chain_head``
holds the last entry the registry wrote (so a deleted or forged tail shows) and
is the row writers lock on databases that lock rows.

The Alembic migrations in ``migrations/versions`` create exactly these tables; a
test compares them with this metadata.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HASH_LEN = 64
NAME_LEN = 255
TIME_LEN = 40
APPEND_ONLY_TABLES = ("log_entries", "audits", "signoffs")
"""Tables the database itself refuses to update or delete from (triggers)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LogEntry(Base):
    """One link of the chain: an audit recorded or a sign-off given."""

    __tablename__ = "log_entries"
    __table_args__ = (CheckConstraint("kind IN ('audit', 'signoff')", name="kind"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    """Canonical JSON (sorted keys, no spaces) of the facts; includes its own seq and kind."""
    content_sha256: Mapped[str] = mapped_column(String(HASH_LEN))
    prev_sha256: Mapped[str] = mapped_column(String(HASH_LEN))
    entry_sha256: Mapped[str] = mapped_column(String(HASH_LEN))


class AuditRow(Base):
    """A recorded audit; ``report_json`` is the report text exactly as given."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    log_seq: Mapped[int] = mapped_column(ForeignKey("log_entries.seq"), unique=True)
    model_name: Mapped[str] = mapped_column(String(NAME_LEN), index=True)
    model_version: Mapped[str | None] = mapped_column(String(NAME_LEN))
    report_name: Mapped[str] = mapped_column(String(NAME_LEN))
    verdict: Mapped[str] = mapped_column(String(16))
    ran_by: Mapped[str] = mapped_column(String(NAME_LEN))
    recorded_at: Mapped[str] = mapped_column(String(TIME_LEN))
    generated_at: Mapped[str | None] = mapped_column(Text)
    """As the report's provenance gives it (not written by the registry, so not bounded)."""
    report_sha256: Mapped[str] = mapped_column(String(HASH_LEN))
    provenance_sha256: Mapped[str] = mapped_column(Text)
    """Canonical JSON of the report's ``provenance.sha256`` (spec, data, model, policies)."""
    report_dir: Mapped[str | None] = mapped_column(Text)
    report_json: Mapped[str] = mapped_column(Text)


class SignoffRow(Base):
    """A committee member's decision on one audit, naming the report hash decided on."""

    __tablename__ = "signoffs"
    __table_args__ = (CheckConstraint("decision IN ('approve', 'reject')", name="decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    log_seq: Mapped[int] = mapped_column(ForeignKey("log_entries.seq"), unique=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id"), index=True)
    signed_by: Mapped[str] = mapped_column(String(NAME_LEN))
    role: Mapped[str] = mapped_column(String(NAME_LEN))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[str] = mapped_column(String(TIME_LEN))
    report_sha256: Mapped[str] = mapped_column(String(HASH_LEN))
    signer_issuer: Mapped[str | None] = mapped_column(Text)
    """OIDC issuer of the signer's login; null for a local, unauthenticated signer."""
    signer_subject: Mapped[str | None] = mapped_column(Text)
    """OIDC subject (the provider's stable id of the person); null when not authenticated."""
    authenticated: Mapped[bool | None] = mapped_column(Boolean)
    """True when the identity came from a login; false for a name typed by a local user."""


class ChainHead(Base):
    """The single row (id 1) naming the last entry written; seq 0 means an empty log."""

    __tablename__ = "chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_sha256: Mapped[str] = mapped_column(String(HASH_LEN))


# Core tables: on a plain connection (no ORM session) rows come back as named tuples.
LOG_TABLE: Table = LogEntry.__table__  # type: ignore[assignment]
AUDITS_TABLE: Table = AuditRow.__table__  # type: ignore[assignment]
SIGNOFFS_TABLE: Table = SignoffRow.__table__  # type: ignore[assignment]
HEAD_TABLE: Table = ChainHead.__table__  # type: ignore[assignment]

AUDIT_LOGGED_FIELDS = (
    "model_name",
    "model_version",
    "report_name",
    "verdict",
    "ran_by",
    "recorded_at",
    "generated_at",
    "report_sha256",
    "report_dir",
)
"""Columns of ``audits`` copied verbatim into the log payload (plus ``audit_id`` and
``provenance_sha256``, which the payload holds as a JSON object)."""

SIGNOFF_LOGGED_FIELDS = (
    "audit_id",
    "signed_by",
    "role",
    "decision",
    "comment",
    "signed_at",
    "report_sha256",
    "signer_issuer",
    "signer_subject",
    "authenticated",
)
"""Columns of ``signoffs`` copied verbatim into the log payload (plus ``signoff_id``)."""
