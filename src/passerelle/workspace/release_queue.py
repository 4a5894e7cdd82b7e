"""The output checkers' queue: pending releases one may see, and whether one may decide each.

Both answers come from ``rules.decide`` (project visibility, then the two-person
rule), so the portal's buttons and the API's refusals cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.hub.audit import append_event
from passerelle.hub.projects import project_facts
from passerelle.hub.rules import Action, Principal, decide
from passerelle.hub.tables import Project, ReleaseRequest
from passerelle.workspace.releases import ReleaseView, release_view

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = ["PendingRelease", "list_pending_releases"]


@dataclass(frozen=True)
class PendingRelease:
    """A release waiting for an output checker, as one actor sees it."""

    release: ReleaseView
    project_title: str
    decidable: bool
    """Whether this actor may approve or reject it (``rules.decide``)."""
    why_not: str | None
    """When not: the rule's sentence (e.g. the two-person rule)."""


def list_pending_releases(hub: Hub, actor: Principal) -> list[PendingRelease]:
    """Every pending release in a project ``actor`` may read, oldest first (one audit event)."""
    today = hub.now().date()
    out: list[PendingRelease] = []
    with hub.transaction() as session:
        rows = (
            session.query(ReleaseRequest)
            .filter(ReleaseRequest.status == "pending")
            .order_by(ReleaseRequest.id)
        )
        for r in rows:
            p = session.get_one(Project, r.project_id)
            facts = project_facts(session, p)
            if not decide(actor, Action.PROJECT_READ, today=today, project=facts).allowed:
                continue
            verdict = decide(
                actor,
                Action.RELEASE_DECIDE,
                today=today,
                project=facts,
                requested_by=r.requested_by,
            )
            out.append(
                PendingRelease(
                    release_view(session, r, actor),
                    p.title,
                    verdict.allowed,
                    None if verdict.allowed else verdict.reason,
                )
            )
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
