"""Is the hub's database schema the one this passerelle expects? Bring it there.

``SCHEMA_REVISION`` is the newest Alembic revision shipped in
``hub/migrations/versions`` (a test keeps the two equal). ``schema_state``
decides, from the revision a database reports, whether it is current, empty,
behind (``passerelle upgrade`` brings it forward) or ahead (written by a newer
passerelle). ``require_current_schema`` turns every state but "current" into one
sentence; ``upgrade_hub`` applies the missing revisions and audits the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from passerelle.errors import ConfigError

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = [
    "SCHEMA_REVISION",
    "SchemaState",
    "UpgradeView",
    "known_revisions",
    "require_current_schema",
    "schema_state",
    "upgrade_hub",
]

SCHEMA_REVISION = "0013"


class SchemaState(StrEnum):
    CURRENT = "current"
    EMPTY = "empty"
    BEHIND = "behind"
    AHEAD = "ahead"


@dataclass(frozen=True)
class UpgradeView:
    before: str | None
    after: str
    applied: list[str]


def known_revisions() -> list[str]:
    """Every shipped revision, oldest first (read from the migration scripts)."""
    from importlib import resources

    from alembic.script import ScriptDirectory

    location = resources.files("passerelle.hub") / "migrations"
    scripts = ScriptDirectory(str(location))
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def schema_state(revision: str | None, known: list[str]) -> SchemaState:
    """Pure: where a database at ``revision`` stands against the shipped ``known`` list."""
    if revision is None:
        return SchemaState.EMPTY
    if revision == known[-1]:
        return SchemaState.CURRENT
    if revision in known:
        return SchemaState.BEHIND
    return SchemaState.AHEAD


def require_current_schema(hub: Hub) -> None:
    """Raise one sentence unless the hub's database is at this passerelle's revision."""
    revision = hub.db.revision()
    if revision == SCHEMA_REVISION:
        return
    where = hub.db.url.split("@")[-1]
    state = schema_state(revision, known_revisions())
    if state is SchemaState.EMPTY:
        raise ConfigError(f"the hub database {where} is empty: run `passerelle init`")
    if state is SchemaState.BEHIND:
        raise ConfigError(
            f"the hub database {where} has schema revision {revision} but this passerelle "
            f"needs {SCHEMA_REVISION}: back the database up, then run `passerelle upgrade`"
        )
    raise ConfigError(
        f"the hub database {where} has schema revision {revision}, newer than this "
        f"passerelle knows ({SCHEMA_REVISION}): install the passerelle that wrote it"
    )


def upgrade_hub(hub: Hub) -> UpgradeView:
    """Apply every missing revision, then record the change in the audit log."""
    from passerelle.hub.audit import SYSTEM, append_event

    known = known_revisions()
    before = hub.db.revision()
    state = schema_state(before, known)
    where = hub.db.url.split("@")[-1]
    if state is SchemaState.EMPTY:
        raise ConfigError(f"the hub database {where} is empty: run `passerelle init` instead")
    if state is SchemaState.AHEAD:
        raise ConfigError(
            f"the hub database {where} has schema revision {before}, newer than this "
            f"passerelle knows ({known[-1]}): install the passerelle that wrote it"
        )
    if state is SchemaState.CURRENT:
        return UpgradeView(before, known[-1], [])
    hub.db.upgrade()
    after = hub.db.revision() or known[-1]
    applied = known[known.index(str(before)) + 1 : known.index(after) + 1]
    with hub.transaction() as session:
        append_event(
            hub,
            session,
            actor=SYSTEM,
            action="hub.upgrade",
            target=f"schema:{after}",
            decision="allowed",
            details={"from": before, "to": after, "applied": applied},
        )
    return UpgradeView(before, after, applied)
