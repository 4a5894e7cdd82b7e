"""Ingest runs: each ingestion's counts and its quarantine reasons, for the stewards' view.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("rows_in", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_ingest_runs_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_runs"),
    )
    op.create_index("ix_ingest_runs_dataset", "ingest_runs", ["dataset"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ingest_runs_dataset", table_name="ingest_runs")
    op.drop_table("ingest_runs")
