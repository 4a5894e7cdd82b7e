"""``passerelle projects|grants``: research projects, their members and grants."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from passerelle.cli.hub_context import HubOpt, JsonOpt, TokenOpt, emit, open_as

__all__ = ["register"]

projects = typer.Typer(
    help="Research projects: submit, approve, suspend, close.", no_args_is_help=True
)
grants = typer.Typer(help="Grants of datasets to projects.", no_args_is_help=True)

DateOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")]
_PROJECT_COLUMNS = ["id", "title", "status", "active", "principal_investigator", "end_date"]


@projects.command("submit")
def _submit(
    title: Annotated[str, typer.Option(help="Project title.")],
    purpose: Annotated[str, typer.Option(help="The research purpose.")],
    legal_basis: Annotated[str, typer.Option(help="e.g. MR-004, public interest.")],
    authorization: Annotated[
        str, typer.Option(help="Authorization reference, e.g. a CNIL decision.")
    ],
    start: DateOpt,
    end: DateOpt,
    pi: Annotated[
        str | None, typer.Option(help="Principal investigator (default yourself).")
    ] = None,
    member: Annotated[
        list[str] | None, typer.Option(help="Another researcher (repeatable).")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a project for approval (researchers)."""
    from passerelle.hub import submit_project

    h, me = open_as(hub, token)
    emit(
        submit_project(
            h,
            me,
            title=title,
            purpose=purpose,
            legal_basis=legal_basis,
            authorization_ref=authorization,
            start=start.date(),
            end=end.date(),
            principal_investigator=pi,
            members=member or [],
        ),
        as_json,
    )


@projects.command("list")
def _list(
    limit: int = 100,
    offset: int = 0,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the projects you may see."""
    from passerelle.hub import list_projects

    h, me = open_as(hub, token)
    emit(list_projects(h, me, limit=limit, offset=offset), as_json, _PROJECT_COLUMNS)


@projects.command("show")
def _show(
    project: int, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one project."""
    from passerelle.hub import get_project

    h, me = open_as(hub, token)
    emit(get_project(h, me, project), as_json)


def _status_command(verb: str, doc: str) -> None:
    def command(
        project: int, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
    ) -> None:
        from passerelle.hub import change_status

        h, me = open_as(hub, token)
        emit(change_status(h, me, project, verb), as_json)

    command.__doc__ = doc
    projects.command(verb)(command)


@projects.command("approve")
def _approve(
    project: int,
    policy: Annotated[
        str | None,
        typer.Option(help="The disclosure policy of its releases: sacro (default) or opensafely."),
    ] = None,
    order_statistics: Annotated[
        bool,
        typer.Option(help="With --policy: min, max, median... leave without an output checker."),
    ] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a submitted project (stewards; never your own), with its disclosure policy."""
    from passerelle.workspace.release_policy import approve_with_policy

    h, me = open_as(hub, token)
    emit(approve_with_policy(h, me, project, policy, order_statistics=order_statistics), as_json)


_status_command("suspend", "Suspend a project: its members lose data access at once.")
_status_command("reinstate", "Reinstate a suspended project.")
_status_command("close", "Close a project for good (stewards or its investigator).")


@projects.command("policy")
def _policy(
    project: int,
    set_to: Annotated[
        str | None,
        typer.Option("--set", help="Set the disclosure policy: sacro or opensafely (stewards)."),
    ] = None,
    order_statistics: Annotated[
        bool,
        typer.Option(help="With --set: min, max, median... leave without an output checker."),
    ] = False,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show (or, for stewards, set) the disclosure policy every release of the project gets."""
    from passerelle.workspace.release_policy import get_release_policy, set_release_policy

    h, me = open_as(hub, token)
    if set_to is None:
        emit(get_release_policy(h, me, project), as_json)
        return
    emit(set_release_policy(h, me, project, set_to, order_statistics=order_statistics), as_json)


@projects.command("add-member")
def _add_member(
    project: int, user: str, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Add a researcher to a project (stewards or the investigator)."""
    from passerelle.hub import add_member

    h, me = open_as(hub, token)
    emit(add_member(h, me, project, user), as_json)


@projects.command("remove-member")
def _remove_member(
    project: int, user: str, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Remove a researcher from a project."""
    from passerelle.hub import remove_member

    h, me = open_as(hub, token)
    emit(remove_member(h, me, project, user), as_json)


@grants.command("add")
def _grant(
    project: int,
    dataset: str,
    expires: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Expiry (default: project end).")
    ] = None,
    column: Annotated[
        list[str] | None, typer.Option(help="Grant only this column (repeatable).")
    ] = None,
    hub: HubOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant a dataset to an approved project (stewards)."""
    from passerelle.hub import create_grant

    h, me = open_as(hub, token)
    expiry: date | None = expires.date() if expires else None
    emit(create_grant(h, me, project, dataset, expires_on=expiry, columns=column), as_json)


@grants.command("list")
def _grants(
    project: int, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List a project's grants."""
    from passerelle.hub import list_grants

    h, me = open_as(hub, token)
    emit(list_grants(h, me, project), as_json)


@grants.command("revoke")
def _revoke(
    grant: int, hub: HubOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Revoke a grant at once (stewards)."""
    from passerelle.hub import revoke_grant

    h, me = open_as(hub, token)
    emit(revoke_grant(h, me, grant), as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(projects, name="projects")
    app.add_typer(grants, name="grants")
