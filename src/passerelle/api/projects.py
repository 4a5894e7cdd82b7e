"""``/projects``: research projects, their status changes and members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query

from passerelle.api.auth import Actor, HubDep
from passerelle.api.errors import ERROR_RESPONSES
from passerelle.api.models import MemberAdd, ProjectApproval, ProjectCreate, ReleasePolicySet
from passerelle.api.params import ItemId, Limit, Offset, UserName
from passerelle.hub.rules import ProjectStatus
from passerelle.hub.views import Page, ProjectView
from passerelle.workspace.release_policy import ReleasePolicyView

__all__ = ["router"]

_CHANGES = {
    "approve": "Approve a submitted project (a steward who did not submit it)",
    "suspend": "Suspend an approved project: its access stops at once (stewards)",
    "reinstate": "Reinstate a suspended project (stewards)",
    "close": "Close a project for good (stewards or its principal investigator)",
}


def router() -> APIRouter:
    r = APIRouter(prefix="/projects", tags=["projects"], responses=ERROR_RESPONSES)

    @r.post("", status_code=201, summary="Submit a project (researchers)")
    def submit(body: ProjectCreate, hub: HubDep, actor: Actor) -> ProjectView:
        from passerelle.hub import submit_project

        return submit_project(
            hub,
            actor,
            title=body.title,
            purpose=body.purpose,
            legal_basis=body.legal_basis,
            authorization_ref=body.authorization_ref,
            start=body.start,
            end=body.end,
            principal_investigator=body.principal_investigator,
            members=body.members,
        )

    @r.get("", summary="List the projects the caller may see")
    def list_all(
        hub: HubDep,
        actor: Actor,
        limit: Limit = 100,
        offset: Offset = 0,
        status: Annotated[
            ProjectStatus | None, Query(description="Keep the projects in this state.")
        ] = None,
    ) -> Page[ProjectView]:
        from passerelle.hub import list_projects

        return list_projects(hub, actor, limit=limit, offset=offset, status=status)

    @r.get("/{project_id}", summary="Read a project")
    def read(project_id: ItemId, hub: HubDep, actor: Actor) -> ProjectView:
        from passerelle.hub import get_project

        return get_project(hub, actor, project_id)

    @r.post("/{project_id}/approve", summary=_CHANGES["approve"], name="approve_project")
    def approve(
        project_id: ItemId, hub: HubDep, actor: Actor, body: ProjectApproval | None = None
    ) -> ProjectView:
        from passerelle.workspace.release_policy import approve_with_policy

        chosen = body or ProjectApproval()
        return approve_with_policy(
            hub, actor, project_id, chosen.policy, order_statistics=chosen.order_statistics
        )

    for verb, summary in _CHANGES.items():
        if verb == "approve":
            continue
        r.add_api_route(
            f"/{{project_id}}/{verb}",
            _status_change(verb),
            methods=["POST"],
            summary=summary,
            name=f"{verb}_project",
        )

    @r.post("/{project_id}/members", summary="Add a researcher to a project")
    def add(project_id: ItemId, body: MemberAdd, hub: HubDep, actor: Actor) -> ProjectView:
        from passerelle.hub import add_member

        return add_member(hub, actor, project_id, body.user)

    @r.delete("/{project_id}/members/{user}", summary="Remove a member from a project")
    def remove(project_id: ItemId, user: UserName, hub: HubDep, actor: Actor) -> ProjectView:
        from passerelle.hub import remove_member

        return remove_member(hub, actor, project_id, user)

    @r.get("/{project_id}/disclosure-policy", summary="The disclosure policy of its releases")
    def read_policy(project_id: ItemId, hub: HubDep, actor: Actor) -> ReleasePolicyView:
        from passerelle.workspace.release_policy import get_release_policy

        return get_release_policy(hub, actor, project_id)

    @r.put(
        "/{project_id}/disclosure-policy",
        summary="Set the disclosure policy of a project's releases (stewards)",
    )
    def set_policy(
        project_id: ItemId, body: ReleasePolicySet, hub: HubDep, actor: Actor
    ) -> ReleasePolicyView:
        from passerelle.workspace.release_policy import set_release_policy

        return set_release_policy(
            hub, actor, project_id, body.policy, order_statistics=body.order_statistics
        )

    return r


def _status_change(verb: str) -> Callable[..., ProjectView]:
    """The route for one status change (FastAPI reads its signature)."""

    def change(project_id: ItemId, hub: HubDep, actor: Actor) -> ProjectView:
        from passerelle.hub import change_status

        return change_status(hub, actor, project_id, verb)

    return change
