"""Reuse the hub's cast of users on SQLite and PostgreSQL."""

from tests.hub.conftest import cast, db_kind

__all__ = ["cast", "db_kind"]
