"""Audit checkpoints: numbered, witnessed outside the database (no schema change).

Checkpoints and their witness live outside the database on purpose (the database
is what they check), so this revision changes nothing; it keeps its place in
the chain of revisions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
