"""Classifications named for the placement policy: ``aggregate`` becomes ``health-aggregate``
(released outputs) and ``open`` becomes ``reference`` (non-personal tables).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_RENAMED = (("aggregate", "health-aggregate"), ("open", "reference"))


def _rename(pairs: tuple[tuple[str, str], ...]) -> None:
    datasets = sa.table("datasets", sa.column("classification", sa.String(32)))
    for old, new in pairs:
        op.execute(
            datasets.update().where(datasets.c.classification == old).values(classification=new)
        )


def upgrade() -> None:
    _rename(_RENAMED)


def downgrade() -> None:
    _rename(tuple((new, old) for old, new in _RENAMED))
