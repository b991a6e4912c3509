"""Record who signed off as the login proved it: OIDC issuer and subject, and whether it did.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Sign-offs from a served dashboard carry the signer's authenticated identity;
those typed by a local user (the CLI, a local dashboard) say they were not
authenticated. Existing rows keep null (unknown), which the log also holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("signoffs", sa.Column("signer_issuer", sa.Text(), nullable=True))
    op.add_column("signoffs", sa.Column("signer_subject", sa.Text(), nullable=True))
    op.add_column("signoffs", sa.Column("authenticated", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signoffs") as batch:
        batch.drop_column("authenticated")
        batch.drop_column("signer_subject")
        batch.drop_column("signer_issuer")
