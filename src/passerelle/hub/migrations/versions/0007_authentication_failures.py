"""Accounts: token lineage (the token each token was issued with).

A token issued through another token records it as ``parent_id``: its expiry
never passes the parent's, and revoking a token revokes the tokens issued with
it. Authentication-failure floods need no table: they are counted in memory per
process and written to the audit log as ``auth.flood`` events.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "parent_id",
                sa.Integer(),
                sa.ForeignKey("tokens.id", name="fk_tokens_parent_id_tokens"),
                nullable=True,
            )
        )
        batch_op.create_index(batch_op.f("ix_tokens_parent_id"), ["parent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_parent_id"))
        batch_op.drop_constraint("fk_tokens_parent_id_tokens", type_="foreignkey")
        batch_op.drop_column("parent_id")
