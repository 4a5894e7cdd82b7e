"""Disclosure policy set by the hub, and the evidence kept about each release.

``projects.disclosure_policy`` / ``projects.order_statistics``: the policy a
steward sets for a project (never the researcher). ``release_cells``: per
released cell, the keyed person sketch used to catch differencing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "disclosure_policy", sa.String(length=32), nullable=False, server_default="sacro"
            )
        )
        batch_op.add_column(
            sa.Column("order_statistics", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "release_cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("cell", sa.Integer(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("sketch", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("release_cells", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_cells_release_id"), ["release_id"])
        batch_op.create_index(batch_op.f("ix_release_cells_project_id"), ["project_id"])
        batch_op.create_index(batch_op.f("ix_release_cells_persons"), ["persons"])


def downgrade() -> None:
    with op.batch_alter_table("release_cells", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_cells_persons"))
        batch_op.drop_index(batch_op.f("ix_release_cells_project_id"))
        batch_op.drop_index(batch_op.f("ix_release_cells_release_id"))
    op.drop_table("release_cells")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("order_statistics")
        batch_op.drop_column("disclosure_policy")
