"""What a principal may do to a project now, asked of ``rules.decide`` on its real facts.

Front-ends offer only these (a steward sees "approve" on a submitted project
they did not submit); the functions that act still decide and audit for
themselves, so an offer is never a permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.hub.rules import Action, Principal, decide

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub

__all__ = ["ProjectChoices", "project_choices"]

_CHANGES = (
    ("approve", Action.PROJECT_APPROVE),
    ("suspend", Action.PROJECT_SUSPEND),
    ("reinstate", Action.PROJECT_REINSTATE),
    ("close", Action.PROJECT_CLOSE),
)


@dataclass(frozen=True)
class ProjectChoices:
    changes: list[str]  # status changes, by verb (``change_status``)
    may_grant: bool
    may_revoke: bool


def project_choices(hub: Hub, actor: Principal, project_id: int) -> ProjectChoices:
    """The changes, grants and revocations ``actor`` may make on ``project_id`` today
    (none when the project is missing or out of sight; nothing is audited: the read of
    the project that shows them is)."""
    from passerelle.hub.projects import project_facts
    from passerelle.hub.tables import Project

    today = hub.now().date()
    with hub.db.read() as session:
        p = session.get(Project, project_id)
        if p is None:
            return ProjectChoices([], False, False)
        facts = project_facts(session, p)
    if not decide(actor, Action.PROJECT_READ, today=today, project=facts):
        return ProjectChoices([], False, False)

    def may(action: Action) -> bool:
        return decide(actor, action, today=today, project=facts).allowed

    return ProjectChoices(
        [verb for verb, action in _CHANGES if may(action)],
        may(Action.GRANT_CREATE),
        may(Action.GRANT_REVOKE),
    )
