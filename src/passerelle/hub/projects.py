"""Research projects, their members and their grants of datasets.

A project goes ``submitted -> approved -> suspended | closed`` (a suspended
project can be reinstated). Access is computed from the current state on every
call: suspending a project, reaching its end date, or a grant's expiry cuts
access at once, with no cache to wait for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Protocol

from passerelle.errors import ConflictError, NotFoundError, UsageError, not_found
from passerelle.hub.accounts import user_named
from passerelle.hub.audit import append_event, authorize, deny
from passerelle.hub.catalog import parse_schema
from passerelle.hub.dataset_facts import dataset_facts, dataset_named
from passerelle.hub.rules import Action, Principal, ProjectFacts, ProjectStatus, Role, decide
from passerelle.hub.tables import Dataset, DatasetVersion, Grant, Project, ProjectMember, User
from passerelle.hub.views import DatasetFile, GrantView, Page, ProjectView

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from passerelle.hub.hub import Hub

__all__ = [
    "GrantedDataset",
    "add_member",
    "change_status",
    "create_grant",
    "get_project",
    "granted_datasets",
    "list_grants",
    "list_projects",
    "project_facts",
    "readable_project",
    "remove_member",
    "revoke_grant",
    "submit_project",
]

_TRANSITION_ACTIONS = {
    "approve": (Action.PROJECT_APPROVE, ProjectStatus.APPROVED),
    "suspend": (Action.PROJECT_SUSPEND, ProjectStatus.SUSPENDED),
    "reinstate": (Action.PROJECT_REINSTATE, ProjectStatus.APPROVED),
    "close": (Action.PROJECT_CLOSE, ProjectStatus.CLOSED),
}


def project_facts(session: Session, p: Project) -> ProjectFacts:
    return projects_facts(session, [p])[p.id]


class ProjectColumns(Protocol):
    """What the rules need of a project: a ``Project`` or a row of its columns."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def submitted_by(self) -> int: ...
    @property
    def principal_investigator(self) -> int: ...
    @property
    def start_date(self) -> date: ...
    @property
    def end_date(self) -> date: ...


FACT_COLUMNS = (
    Project.id,
    Project.status,
    Project.submitted_by,
    Project.principal_investigator,
    Project.start_date,
    Project.end_date,
)
"""The columns ``projects_facts`` reads, for a Core query that selects no entity."""


def projects_facts(session: Session, projects: Iterable[ProjectColumns]) -> dict[int, ProjectFacts]:
    """``project_facts`` of many projects at once, by id (one members query per 500, in
    SQL Core: the catalog's every read asks it)."""
    from collections import defaultdict

    from passerelle.hub.database import chunked

    unique = {p.id: p for p in projects}
    members: dict[int, set[int]] = defaultdict(set)
    connection = session.connection()
    for ids in chunked(sorted(unique)):
        for project_id, user_id in connection.execute(_members_of(), {"ids": list(ids)}):
            members[project_id].add(user_id)
    return {
        p.id: ProjectFacts(
            p.id,
            ProjectStatus(p.status),
            p.submitted_by,
            p.principal_investigator,
            frozenset(members[p.id]),
            p.start_date,
            p.end_date,
        )
        for p in unique.values()
    }


@cache
def _members_of() -> Select[int, int]:
    """The members of the projects ``:ids`` (built once: the catalog's every read runs it)."""
    from sqlalchemy import bindparam, select

    return select(ProjectMember.project_id, ProjectMember.user_id).where(
        ProjectMember.project_id.in_(bindparam("ids", expanding=True))
    )


def _names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    from sqlalchemy import select

    wanted = set(ids)
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


def _project_view(session: Session, p: Project, today: date) -> ProjectView:
    facts = project_facts(session, p)
    names = _names(
        session, {p.principal_investigator, p.submitted_by, p.decided_by or 0} | set(facts.members)
    )
    return ProjectView(
        p.id,
        p.title,
        p.purpose,
        names[p.principal_investigator],
        p.legal_basis,
        p.authorization_ref,
        p.start_date,
        p.end_date,
        p.status,
        facts.is_active(today),
        names[p.submitted_by],
        names.get(p.decided_by) if p.decided_by else None,
        sorted(names[m] for m in facts.members),
        p.created_at,
    )


def _project(session: Session, project_id: int, missing: NotFoundError | None = None) -> Project:
    p = session.get(Project, project_id)
    if p is None:
        raise missing or not_found("project", project_id)
    return p


def readable_project(
    hub: Hub,
    session: Session,
    actor: Principal,
    project_id: int,
    details: dict[str, object],
    *,
    missing: NotFoundError | None = None,
) -> Project:
    """The project, once ``actor`` may read it (decision audited); else not found.

    ``missing`` is what to answer when it is hidden (default: this project is not
    found), e.g. ``not_found("query", 7)`` when the caller asked for a query in it.
    """
    p = _project(session, project_id, missing)
    authorize(
        hub,
        session,
        actor,
        Action.PROJECT_READ,
        f"project:{p.id}",
        {"project": p.id, **details},
        missing=missing,
        project=project_facts(session, p),
    )
    return p


def submit_project(
    hub: Hub,
    actor: Principal,
    *,
    title: str,
    purpose: str,
    legal_basis: str,
    authorization_ref: str,
    start: date,
    end: date,
    principal_investigator: str | None = None,
    members: Iterable[str] = (),
) -> ProjectView:
    if not title.strip() or not purpose.strip():
        raise UsageError("a project needs a title and a purpose")
    if end < start:
        raise UsageError(f"the project ends ({end}) before it starts ({start})")
    with hub.transaction() as session:
        authorize(hub, session, actor, Action.PROJECT_SUBMIT, "project:new", {"title": title})
        pi = user_named(session, principal_investigator) if principal_investigator else None
        pi_id = pi.id if pi else actor.user_id
        now = hub.now()
        p = Project(
            title=title.strip(),
            purpose=purpose.strip(),
            principal_investigator=pi_id,
            legal_basis=legal_basis,
            authorization_ref=authorization_ref,
            start_date=start,
            end_date=end,
            status=ProjectStatus.SUBMITTED.value,
            submitted_by=actor.user_id,
            decided_by=None,
            created_at=now,
            updated_at=now,
        )
        session.add(p)
        session.flush()
        member_ids = {actor.user_id, pi_id}
        for name in members:
            member_ids.add(_researcher(session, name).id)
        for uid in sorted(member_ids):
            session.add(ProjectMember(project_id=p.id, user_id=uid, added_at=now))
        append_event(
            hub,
            session,
            actor=actor.name,
            action="project.created",
            target=f"project:{p.id}",
            decision="allowed",
            details={"project": p.id, "authorization_ref": authorization_ref},
        )
        session.flush()
        return _project_view(session, p, now.date())


def _researcher(session: Session, name: str) -> User:
    user = user_named(session, name)
    if Role.RESEARCHER.value not in user.roles.split(","):
        raise UsageError(f"{name} is not a researcher; only researchers can be project members")
    return user


def get_project(hub: Hub, actor: Principal, project_id: int) -> ProjectView:
    with hub.transaction() as session:
        p = readable_project(hub, session, actor, project_id, {})
        return _project_view(session, p, hub.now().date())


def list_projects(
    hub: Hub,
    actor: Principal,
    *,
    limit: int = 100,
    offset: int = 0,
    status: ProjectStatus | None = None,
) -> Page[ProjectView]:
    """The projects ``actor`` may see, oldest first; ``status`` keeps one state (a
    steward's "to approve" is ``submitted``)."""
    from sqlalchemy import select

    today = hub.now().date()
    query = select(Project).order_by(Project.id)
    if status is not None:
        query = query.where(Project.status == status.value)
    with hub.transaction() as session:
        everyone = [p for (p,) in session.execute(query)]
        facts = projects_facts(session, everyone)
        visible = [
            p
            for p in everyone
            if decide(actor, Action.PROJECT_READ, today=today, project=facts[p.id]).allowed
        ]
        append_event(
            hub,
            session,
            actor=actor.name,
            action="project.list",
            target="projects",
            decision="allowed",
            details={"visible": len(visible)} | ({"status": status.value} if status else {}),
        )
        page = visible[offset : offset + limit]
        return Page([_project_view(session, p, today) for p in page], len(visible), limit, offset)


def change_status(hub: Hub, actor: Principal, project_id: int, verb: str) -> ProjectView:
    """``approve``, ``suspend``, ``reinstate`` or ``close`` a project."""
    if verb not in _TRANSITION_ACTIONS:
        raise UsageError(f"unknown project change {verb!r}: use {', '.join(_TRANSITION_ACTIONS)}")
    action, new_status = _TRANSITION_ACTIONS[verb]
    with hub.transaction() as session:
        p = _project(session, project_id)
        authorize(
            hub,
            session,
            actor,
            action,
            f"project:{p.id}",
            {"project": p.id, "from": p.status, "to": new_status.value},
            project=project_facts(session, p),
        )
        p.status = new_status.value
        p.updated_at = hub.now()
        if verb in ("approve", "reinstate", "suspend"):
            p.decided_by = actor.user_id
        return _project_view(session, p, hub.now().date())


def add_member(hub: Hub, actor: Principal, project_id: int, user: str) -> ProjectView:
    with hub.transaction() as session:
        p = _project(session, project_id)
        authorize(
            hub,
            session,
            actor,
            Action.PROJECT_MANAGE_MEMBERS,
            f"project:{p.id}",
            {"project": p.id, "add": user},
            project=project_facts(session, p),
        )
        member = _researcher(session, user)
        if session.get(ProjectMember, (p.id, member.id)) is None:
            session.add(ProjectMember(project_id=p.id, user_id=member.id, added_at=hub.now()))
            session.flush()
        return _project_view(session, p, hub.now().date())


def remove_member(hub: Hub, actor: Principal, project_id: int, user: str) -> ProjectView:
    with hub.transaction() as session:
        p = _project(session, project_id)
        authorize(
            hub,
            session,
            actor,
            Action.PROJECT_MANAGE_MEMBERS,
            f"project:{p.id}",
            {"project": p.id, "remove": user},
            project=project_facts(session, p),
        )
        member = user_named(session, user)
        if member.id == p.principal_investigator:
            raise ConflictError("the principal investigator cannot be removed from the project")
        row = session.get(ProjectMember, (p.id, member.id))
        if row is not None:
            session.delete(row)
            session.flush()
        return _project_view(session, p, hub.now().date())


def _grant_view(session: Session, g: Grant, today: date) -> GrantView:
    d = session.get_one(Dataset, g.dataset_id)
    p = session.get_one(Project, g.project_id)
    active = (
        g.revoked_at is None
        and today <= g.expires_on
        and project_facts(session, p).is_active(today)
        and not dataset_facts(session, d).quarantine
    )
    return GrantView(
        g.id,
        g.project_id,
        d.name,
        g.columns,
        _names(session, [g.granted_by])[g.granted_by],
        g.granted_at,
        g.expires_on,
        g.revoked_at is not None,
        active,
    )


def create_grant(
    hub: Hub,
    actor: Principal,
    project_id: int,
    dataset: str,
    *,
    expires_on: date | None = None,
    columns: Iterable[str] | None = None,
) -> GrantView:
    """Grant a dataset (optionally some columns) to an approved project, until ``expires_on``."""
    with hub.transaction() as session:
        p = _project(session, project_id)
        facts = project_facts(session, p)
        sees = decide(actor, Action.PROJECT_READ, today=hub.now().date(), project=facts).allowed
        hidden = not_found("dataset", dataset) if sees else not_found("project", project_id)
        d = dataset_named(session, dataset, hidden)
        expiry = expires_on or p.end_date
        column_list = list(columns) if columns is not None else None
        authorize(
            hub,
            session,
            actor,
            Action.GRANT_CREATE,
            f"project:{p.id}",
            {
                "project": p.id,
                "dataset": d.id,
                "expires_on": expiry.isoformat(),
                "columns": column_list,
            },
            missing=hidden,
            project=facts,
            dataset=dataset_facts(session, d),
        )
        if expiry > p.end_date:
            raise UsageError(
                f"a grant cannot outlive its project: expiry {expiry} is after the project's end "
                f"{p.end_date}"
            )
        if column_list is not None:
            known = {c.name for c in parse_schema(d.schema)}
            unknown = [c for c in column_list if c not in known]
            if not column_list or unknown:
                raise UsageError(
                    f"dataset {d.name} has no column {(unknown or [''])[0]!r}; "
                    f"known columns: {', '.join(sorted(known)) or 'none declared'}"
                )
        g = Grant(
            project_id=p.id,
            dataset_id=d.id,
            columns=column_list,
            granted_by=actor.user_id,
            granted_at=hub.now(),
            expires_on=expiry,
            revoked_at=None,
            revoked_by=None,
        )
        session.add(g)
        session.flush()
        return _grant_view(session, g, hub.now().date())


def revoke_grant(hub: Hub, actor: Principal, grant_id: int) -> GrantView:
    with hub.transaction() as session:
        g = session.get(Grant, grant_id)
        if g is None:
            raise not_found("grant", grant_id)
        authorize(
            hub,
            session,
            actor,
            Action.GRANT_REVOKE,
            f"grant:{g.id}",
            {"project": g.project_id, "dataset": g.dataset_id},
            project=project_facts(session, session.get_one(Project, g.project_id)),
        )
        if g.revoked_at is None:
            g.revoked_at, g.revoked_by = hub.now(), actor.user_id
        return _grant_view(session, g, hub.now().date())


def list_grants(hub: Hub, actor: Principal, project_id: int) -> list[GrantView]:
    from sqlalchemy import select

    with hub.transaction() as session:
        p = readable_project(hub, session, actor, project_id, {"grants": True})
        rows = session.execute(select(Grant).where(Grant.project_id == p.id).order_by(Grant.id))
        return [_grant_view(session, g, hub.now().date()) for (g,) in rows]


@dataclass(frozen=True)
class GrantedDataset:
    """A dataset a project may read now: its current files and allowed columns."""

    name: str
    dataset_id: int
    version: int
    files: list[DatasetFile]
    columns: list[str] | None


def granted_datasets(
    hub: Hub, actor: Principal, project_id: int, session: Session
) -> list[GrantedDataset]:
    """Datasets ``actor`` may read rows of through ``project_id``; each check audited."""
    from sqlalchemy import select

    p = _project(session, project_id)
    authorize(
        hub,
        session,
        actor,
        Action.PROJECT_READ,
        f"project:{p.id}",
        {"project": p.id, "read": True},
        project=project_facts(session, p),
    )
    facts = project_facts(session, p)
    today = hub.now().date()
    if not facts.is_active(today):
        deny(
            hub,
            session,
            actor,
            Action.DATASET_READ_DATA,
            f"project:{p.id}",
            _inactive_reason(facts, today),
            {"project": p.id},
        )
    out = []
    rows = session.execute(
        select(Grant, Dataset)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .where(Grant.project_id == p.id, Grant.revoked_at.is_(None))
        .order_by(Dataset.name)
    )
    for g, d in rows:
        if g.expires_on < today:
            continue
        dataset = dataset_facts(session, d)
        if dataset.quarantine:  # a grant made before the rule: refused, audited, left out
            refused = decide(actor, Action.DATASET_READ_DATA, today=today, dataset=dataset)
            append_event(
                hub,
                session,
                actor=actor.name,
                action=Action.DATASET_READ_DATA,
                target=f"dataset:{d.id}",
                decision="denied",
                details={
                    "project": p.id,
                    "dataset": d.id,
                    "quarantine": True,
                    "reason": refused.reason,
                },
            )
            continue
        authorize(
            hub,
            session,
            actor,
            Action.DATASET_READ_DATA,
            f"dataset:{d.id}",
            {"project": p.id, "dataset": d.id},
            dataset=dataset,
        )
        version = session.execute(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == d.id, DatasetVersion.version == d.current_version
            )
        ).scalar_one_or_none()
        files = [DatasetFile(**f) for f in version.files] if version else []
        out.append(GrantedDataset(d.name, d.id, d.current_version, files, g.columns))
    return out


def _inactive_reason(facts: ProjectFacts, today: date) -> str:
    if facts.status is not ProjectStatus.APPROVED:
        return f"project {facts.id} is {facts.status}; only approved projects read data"
    if today < facts.start:
        return f"project {facts.id} starts on {facts.start.isoformat()}"
    return f"project {facts.id} ended on {facts.end.isoformat()}"
