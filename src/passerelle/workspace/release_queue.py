"""The output checkers' queue: pending releases one may see, and whether one may decide each.

Both answers come from ``rules.decide`` (project visibility, then the two-person
rule), so the portal's buttons and the API's refusals cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from passerelle.hub.audit import append_event
from passerelle.hub.projects import project_facts
from passerelle.hub.rules import Action, Principal, decide
from passerelle.hub.tables import Project, ReleaseRequest
from passerelle.workspace.releases import ReleaseView, release_view

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = ["PendingRelease", "list_pending_releases", "pending_release"]


@dataclass(frozen=True)
class PendingRelease:
    """A release waiting for an output checker, as one actor sees it."""

    release: ReleaseView
    project_title: str
    decidable: bool
    """Whether this actor may approve or reject it (``rules.decide``)."""
    why_not: str | None
    """When not: the rule's sentence (e.g. the two-person rule)."""


def _pending(
    session: Session, actor: Principal, r: ReleaseRequest, today: date
) -> PendingRelease | None:
    """``r`` as ``actor`` sees it in the queue; None when its project is out of sight."""
    p = session.get_one(Project, r.project_id)
    facts = project_facts(session, p)
    if not decide(actor, Action.PROJECT_READ, today=today, project=facts).allowed:
        return None
    verdict = decide(
        actor, Action.RELEASE_DECIDE, today=today, project=facts, requested_by=r.requested_by
    )
    return PendingRelease(
        release_view(session, r, actor),
        p.title,
        verdict.allowed,
        None if verdict.allowed else verdict.reason,
    )


def list_pending_releases(hub: Hub, actor: Principal) -> list[PendingRelease]:
    """Every pending release in a project ``actor`` may read, oldest first (one audit event)."""
    today = hub.now().date()
    with hub.transaction() as session:
        rows = (
            session.query(ReleaseRequest)
            .filter(ReleaseRequest.status == "pending")
            .order_by(ReleaseRequest.id)
        )
        out = [q for r in rows if (q := _pending(session, actor, r, today)) is not None]
        append_event(
            hub,
            session,
            actor=actor.name,
            action="release.list",
            target="releases",
            decision="allowed",
            details={"pending": len(out)},
        )
    return out


def pending_release(hub: Hub, actor: Principal, release_id: int) -> PendingRelease | None:
    """One release if it is pending and in sight, with whether ``actor`` may decide it; for a
    page that already read (and audited) the release with ``get_release``."""
    with hub.db.read() as session:
        r = session.get(ReleaseRequest, release_id)
        if r is None or r.status != "pending":
            return None
        return _pending(session, actor, r, hub.now().date())
