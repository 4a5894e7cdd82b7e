"""Query results: retention and purge; the digest of each stored result.

``result_sha256`` is the SHA-256 of the stored Parquet file (checked on every
read; empty for results stored before this revision); ``purged_at`` is when the
hub deleted the file under its retention period (the record stays: who ran
what, when, with which digest).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("result_sha256", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queries", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
        batch_op.drop_column("result_sha256")
