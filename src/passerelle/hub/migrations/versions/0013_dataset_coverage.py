"""The period a dataset's data covers, as its steward declares it (``--covers``).

Shown in the DCAT-AP export as ``dct:temporal``; unknown (both empty) for every
dataset registered before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("covers_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("covers_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("covers_until")
        batch.drop_column("covers_from")
