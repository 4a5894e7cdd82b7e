"""A project's disclosure policy: set by a steward of the hub, never by the researcher.

Every release of a project is checked with the policy kept on the project
(``sacro`` by default, from approval on). Changing it takes the same right as
granting the project data (a steward who did not submit the project, while it
is approved: ``Action.GRANT_CREATE`` in ``hub/rules.py``); the decision and the
change (from, to) are audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from passerelle.errors import ConfigError, UsageError, not_found
from passerelle.hub.audit import append_event, authorize, deny
from passerelle.hub.projects import project_facts, readable_project
from passerelle.hub.rules import Action, Principal
from passerelle.hub.tables import Project

if TYPE_CHECKING:
    from passerelle.hub.hub import Hub
    from passerelle.hub.views import ProjectView

__all__ = ["ReleasePolicyView", "approve_with_policy", "get_release_policy", "set_release_policy"]


@dataclass(frozen=True)
class ReleasePolicyView:
    project_id: int
    policy: str
    order_statistics: bool


def _view(p: Project) -> ReleasePolicyView:
    return ReleasePolicyView(p.id, p.disclosure_policy, bool(p.order_statistics))


def get_release_policy(hub: Hub, actor: Principal, project_id: int) -> ReleasePolicyView:
    """The policy applied to a project's releases (for whoever may read the project)."""
    with hub.transaction() as session:
        return _view(readable_project(hub, session, actor, project_id, {"policy": True}))


def set_release_policy(
    hub: Hub, actor: Principal, project_id: int, policy: str, *, order_statistics: bool = False
) -> ReleasePolicyView:
    """Set the disclosure policy (``sacro`` or ``opensafely``) of a project, and whether
    its order statistics (min, max, median...) may leave without an output checker."""
    from passerelle.research.disclosure import policy_named

    try:
        chosen = policy_named(policy)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    with hub.transaction() as session:
        p = session.get(Project, project_id)
        if p is None:
            raise not_found("project", project_id)
        change = {
            "project": p.id,
            "disclosure_policy": chosen.name,
            "order_statistics": order_statistics,
        }
        facts = project_facts(session, p)
        if actor.user_id in facts.members or actor.user_id == facts.principal_investigator:
            # a steward who is also a researcher of the project would choose the rules
            # their own releases are checked by (order statistics out at once, say)
            deny(
                hub,
                session,
                actor,
                "project.disclosure-policy",
                f"project:{p.id}",
                f"{actor.name} is a member of project {p.id} and cannot set the rules its "
                "releases are checked by; ask another steward",
                change,
            )
        authorize(
            hub,
            session,
            actor,
            Action.GRANT_CREATE,
            f"project:{p.id}",
            change,
            missing=not_found("project", project_id),
            project=facts,
        )
        before = {"disclosure_policy": p.disclosure_policy, "order_statistics": p.order_statistics}
        p.disclosure_policy, p.order_statistics = chosen.name, order_statistics
        p.updated_at = hub.now()
        append_event(
            hub,
            session,
            actor=actor.name,
            action="project.disclosure-policy",
            target=f"project:{p.id}",
            decision="allowed",
            details={**change, "before": before},
        )
        return _view(p)


def approve_with_policy(
    hub: Hub,
    actor: Principal,
    project_id: int,
    policy: str | None = None,
    *,
    order_statistics: bool = False,
) -> ProjectView:
    """Approve a submitted project and, with ``policy``, set its disclosure policy at once
    (the name is checked before the approval; both steps are audited)."""
    from passerelle.hub.projects import change_status, get_project
    from passerelle.research.disclosure import policy_named

    if policy is not None:
        try:
            policy_named(policy)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    elif order_statistics:
        raise UsageError("--order-statistics goes with a policy: name it (sacro or opensafely)")
    view = change_status(hub, actor, project_id, "approve")
    if policy is None:
        return view
    set_release_policy(hub, actor, project_id, policy, order_statistics=order_statistics)
    return get_project(hub, actor, project_id)
