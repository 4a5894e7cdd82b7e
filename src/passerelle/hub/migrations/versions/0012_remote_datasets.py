"""Remote datasets: the datasets of partner hubs' DCAT-AP catalogs (``catalog import``).

Found by search beside the hub's own catalog, never granted nor queried: they live
in a table of their own, which no grant, query or extract reads.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("catalog_iri", sa.Text(), nullable=False),
        sa.Column("catalog_title", sa.Text(), nullable=False),
        sa.Column("iri", sa.Text(), nullable=False),
        sa.Column("iri_sha256", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("publisher", sa.Text(), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("access_rights", sa.Text(), nullable=False),
        sa.Column("landing_page", sa.Text(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("distributions", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["imported_by"], ["users.id"], name="fk_remote_datasets_imported_by_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_remote_datasets"),
        sa.UniqueConstraint("iri_sha256", name="uq_remote_datasets_iri_sha256"),
    )
    op.create_index("ix_remote_datasets_source", "remote_datasets", ["source"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_remote_datasets_source", table_name="remote_datasets")
    op.drop_table("remote_datasets")
