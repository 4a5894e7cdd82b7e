"""Replicas: continuous copies of the hub's store on another cloud, and their outbox.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(), nullable=True),
        sa.Column("last_pass", sa.JSON(), nullable=True),
        sa.Column("last_verify_at", sa.DateTime(), nullable=True),
        sa.Column("last_verify", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_replicas_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_replicas"),
        sa.UniqueConstraint("name", name="uq_replicas_name"),
    )
    op.create_table(
        "replica_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replica_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["replica_id"], ["replicas.id"], name="fk_replica_changes_replica_id_replicas"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_replica_changes"),
    )
    op.create_index(
        "ix_replica_changes_replica_id", "replica_changes", ["replica_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_replica_changes_replica_id", table_name="replica_changes")
    op.drop_table("replica_changes")
    op.drop_table("replicas")
