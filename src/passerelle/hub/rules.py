"""Who may do what: the hub's access rules as one pure function.

``decide(actor, action, facts)`` takes plain data (the actor's roles, the state
of the project, grant or dataset involved, today's date) and returns a
``Decision``. Services load the facts, call ``decide``, write the decision to the
audit log (allowed or denied) and only then act. Nothing here touches a database.

The rules, in words:

- ``admin`` manages users and tokens, reads the audit trail and runs migrations;
  it is not a data role: admins do not read datasets nor approve projects.
- ``steward`` registers organizations and datasets, approves, suspends, reinstates
  and closes projects, and grants datasets; never for a project they submitted.
- ``researcher`` submits projects, sees discoverable catalog entries and those
  granted to their active projects, and reads only datasets granted to an active
  project they belong to (approved, within its dates, grant not expired/revoked).
  A quarantine dataset (rows refused at ingestion) is never granted, and no grant,
  even one made before this rule, lets a researcher see or read it.
- ``output-checker`` sees discoverable entries and projects, and approves or
  rejects flagged releases, never one they asked for (two-person rule).
- ``auditor`` reads the audit trail, nothing else.
- ``operator`` runs migrations and reads catalog entries (to know locations).
- anyone, signed in or not (``ANONYMOUS``), sees the public catalog: the entries that are
  discoverable and not a quarantine, the same ones researchers see without a grant.
- a steward imports a partner hub's catalog; the remote datasets it lists are read by
  the roles that read the catalog, and are never granted nor queried (they are not
  datasets of this hub).

A denied read of something the actor may not even know exists is ``hidden``:
the front-ends answer "not found", so project B's existence does not leak to a
researcher of project A. Visibility is decided before any other rule, for every
action on a project or dataset, and other users' tokens are hidden from all but
admins: a hidden thing is answered exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "ANONYMOUS",
    "Action",
    "DatasetFacts",
    "Decision",
    "GrantFacts",
    "Principal",
    "ProjectFacts",
    "ProjectStatus",
    "ResultFacts",
    "Role",
    "decide",
    "is_quarantine",
    "role_may",
]

_T = TypeVar("_T")


class Role(StrEnum):
    ADMIN = "admin"
    STEWARD = "steward"
    RESEARCHER = "researcher"
    OUTPUT_CHECKER = "output-checker"
    AUDITOR = "auditor"
    OPERATOR = "operator"


class ProjectStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Action(StrEnum):
    ORG_CREATE = "org.create"
    ORG_READ = "org.read"
    DATASET_CREATE = "dataset.create"
    DATASET_UPDATE = "dataset.update"
    DATASET_READ_ENTRY = "dataset.read-entry"
    DATASET_READ_DATA = "dataset.read-data"
    DATASET_READ_PUBLIC = "dataset.read-public"  # in the public catalog (DCAT export)
    REMOTE_CATALOG_IMPORT = "catalog.import"  # a partner hub's catalog, as remote datasets
    REMOTE_CATALOG_READ = "catalog.read-remote"
    PROJECT_SUBMIT = "project.submit"
    PROJECT_READ = "project.read"
    PROJECT_APPROVE = "project.approve"
    PROJECT_SUSPEND = "project.suspend"
    PROJECT_REINSTATE = "project.reinstate"
    PROJECT_CLOSE = "project.close"
    PROJECT_MANAGE_MEMBERS = "project.manage-members"
    GRANT_CREATE = "grant.create"
    GRANT_REVOKE = "grant.revoke"
    USER_MANAGE = "user.manage"
    USER_READ = "user.read"
    TOKEN_MANAGE_OWN = "token.manage-own"
    TOKEN_MANAGE_ANY = "token.manage-any"
    AUDIT_READ = "audit.read"
    MIGRATION_RUN = "migration.run"
    RELEASE_REQUEST = "release.request"
    RELEASE_DECIDE = "release.decide"
    QUERY_READ_RESULT = "query.read-result"
    RESULTS_PURGE = "results.purge"
    POLICY_READ = "policy.read"  # where each dataset lives against the placement policy
    COMPLIANCE_READ = "compliance.read"  # the compliance report (auditors and admins)
    MIGRATION_CERTIFICATE = "migration.certificate"  # sign a verified migration's manifest
    KEYS_READ = "keys.read"  # list the KEKs and what each protects (auditors and admins)
    KEYS_MANAGE = "keys.manage"  # create, rotate, destroy KEKs; wrap the hub's secrets (admins)
    INGEST_READ = "ingest.read"  # the record of ingestions: counts and quarantine reasons


@dataclass(frozen=True)
class Principal:
    """The authenticated actor: a user and their roles, and the token they came with.

    ``token_id`` and ``token_expires`` are set when the actor authenticated with an
    API token: a token it issues is recorded as its child and never outlives it.
    """

    user_id: int
    name: str
    roles: frozenset[Role]
    active: bool = True
    token_id: int | None = None
    token_expires: datetime | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles


ANONYMOUS = Principal(0, "anonymous", frozenset())
"""Whoever reads the public catalog without signing in: no user, no role."""


@dataclass(frozen=True)
class ProjectFacts:
    """What the rules need to know about a project."""

    id: int
    status: ProjectStatus
    submitted_by: int
    principal_investigator: int
    members: frozenset[int]
    start: date
    end: date

    def is_active(self, today: date) -> bool:
        """Approved and within its dates: the only state in which data is read."""
        return self.status is ProjectStatus.APPROVED and self.start <= today <= self.end

    def involves(self, user_id: int) -> bool:
        return (
            user_id in self.members
            or user_id == self.principal_investigator
            or user_id == self.submitted_by
        )


@dataclass(frozen=True)
class GrantFacts:
    """One grant of a dataset to a project, with that project's facts."""

    project: ProjectFacts
    expires: date
    revoked: bool = False

    def is_active(self, today: date) -> bool:
        return not self.revoked and today <= self.expires and self.project.is_active(today)


@dataclass(frozen=True)
class DatasetFacts:
    """A dataset's visibility, the grants that reach it, and whether it is a quarantine
    (see :func:`is_quarantine`)."""

    id: int
    discoverable: bool
    grants: tuple[GrantFacts, ...] = field(default=())
    quarantine: bool = False


def is_quarantine(name: str, locations: Iterable[str]) -> bool:
    """Whether a dataset holds quarantined rows, from its name or where its files are.

    Ingestion registers a source's refused rows as ``<name>_quarantine`` with files
    under ``quarantine/``; a dataset with either mark, or any file in a
    ``_quarantine`` folder, counts as one, so renaming cannot make it grantable.
    """
    if name.endswith("_quarantine"):
        return True
    for location in locations:
        path = location.removeprefix("hub:")
        in_hub_store = "://" not in path
        parts = path.split("://")[-1].strip("/").split("/")
        if "_quarantine" in parts or (in_hub_store and parts[0] == "quarantine"):
            return True
    return False


@dataclass(frozen=True)
class ResultFacts:
    """A stored query result: which query, and until when the hub keeps it."""

    query_id: int
    kept_until: date
    purged: bool = False


@dataclass(frozen=True)
class Decision:
    """``hidden``: answer "not found"; ``conflict``: the actor may, but not in this state."""

    allowed: bool
    reason: str
    hidden: bool = False
    conflict: bool = False

    def __bool__(self) -> bool:
        return self.allowed


def _allow(reason: str = "allowed") -> Decision:
    return Decision(True, reason)


def _deny(reason: str, *, hidden: bool = False) -> Decision:
    return Decision(False, reason, hidden)


def _conflict(reason: str) -> Decision:
    return Decision(False, reason, conflict=True)


_ROLE_ACTIONS: dict[Action, frozenset[Role]] = {
    Action.ORG_CREATE: frozenset({Role.STEWARD}),
    Action.ORG_READ: frozenset(
        {Role.ADMIN, Role.STEWARD, Role.RESEARCHER, Role.OUTPUT_CHECKER, Role.OPERATOR}
    ),
    Action.DATASET_CREATE: frozenset({Role.STEWARD}),
    Action.DATASET_UPDATE: frozenset({Role.STEWARD}),
    Action.PROJECT_SUBMIT: frozenset({Role.RESEARCHER}),
    Action.PROJECT_APPROVE: frozenset({Role.STEWARD}),
    Action.PROJECT_SUSPEND: frozenset({Role.STEWARD}),
    Action.PROJECT_REINSTATE: frozenset({Role.STEWARD}),
    Action.GRANT_CREATE: frozenset({Role.STEWARD}),
    Action.GRANT_REVOKE: frozenset({Role.STEWARD}),
    Action.USER_MANAGE: frozenset({Role.ADMIN}),
    Action.USER_READ: frozenset({Role.ADMIN, Role.STEWARD}),
    Action.TOKEN_MANAGE_OWN: frozenset(Role),
    Action.TOKEN_MANAGE_ANY: frozenset({Role.ADMIN}),
    Action.AUDIT_READ: frozenset({Role.ADMIN, Role.AUDITOR}),
    Action.MIGRATION_RUN: frozenset({Role.ADMIN, Role.OPERATOR}),
    Action.RESULTS_PURGE: frozenset({Role.ADMIN}),
    Action.POLICY_READ: frozenset({Role.ADMIN, Role.AUDITOR, Role.OPERATOR, Role.STEWARD}),
    Action.COMPLIANCE_READ: frozenset({Role.ADMIN, Role.AUDITOR}),
    Action.MIGRATION_CERTIFICATE: frozenset({Role.ADMIN, Role.OPERATOR}),
    Action.KEYS_READ: frozenset({Role.ADMIN, Role.AUDITOR}),
    Action.KEYS_MANAGE: frozenset({Role.ADMIN}),
    Action.INGEST_READ: frozenset({Role.ADMIN, Role.AUDITOR, Role.STEWARD}),
    Action.REMOTE_CATALOG_IMPORT: frozenset({Role.STEWARD}),
    Action.REMOTE_CATALOG_READ: frozenset(
        {Role.ADMIN, Role.STEWARD, Role.RESEARCHER, Role.OUTPUT_CHECKER, Role.OPERATOR}
    ),
}

_TRANSITIONS: dict[Action, tuple[frozenset[ProjectStatus], str]] = {
    Action.PROJECT_APPROVE: (frozenset({ProjectStatus.SUBMITTED}), "approved"),
    Action.PROJECT_SUSPEND: (frozenset({ProjectStatus.APPROVED}), "suspended"),
    Action.PROJECT_REINSTATE: (frozenset({ProjectStatus.SUSPENDED}), "reinstated"),
    Action.PROJECT_CLOSE: (
        frozenset({ProjectStatus.SUBMITTED, ProjectStatus.APPROVED, ProjectStatus.SUSPENDED}),
        "closed",
    ),
}


def decide(
    actor: Principal,
    action: Action,
    *,
    today: date,
    project: ProjectFacts | None = None,
    dataset: DatasetFacts | None = None,
    requested_by: int | None = None,
    result: ResultFacts | None = None,
) -> Decision:
    """Decide whether ``actor`` may perform ``action`` given the facts."""
    if not actor.active:
        return _deny(f"user {actor.name} is disabled")
    hidden = _out_of_sight(actor, action, project, dataset, today)
    if hidden is not None:
        return hidden
    if action is Action.RELEASE_REQUEST:
        return _request_release(actor, _need(project, action), today)
    if action is Action.RELEASE_DECIDE:
        return _decide_release(actor, _need(project, action), _need(requested_by, action))
    if action is Action.QUERY_READ_RESULT:
        return _read_result(actor, _need(project, action), _need(result, action), today)
    if action is Action.DATASET_READ_ENTRY:
        return _read_entry(actor, _need(dataset, action), today)
    if action is Action.DATASET_READ_PUBLIC:
        return _read_public(_need(dataset, action))
    if action is Action.DATASET_READ_DATA:
        return _read_data(actor, _need(dataset, action), today)
    if action is Action.PROJECT_READ:
        return _read_project(actor, _need(project, action))
    if action is Action.PROJECT_CLOSE:
        return _close_project(actor, _need(project, action))
    if action is Action.PROJECT_MANAGE_MEMBERS:
        return _manage_members(actor, _need(project, action))
    allowed_roles = _ROLE_ACTIONS[action]
    if not actor.roles & allowed_roles:
        names = " or ".join(sorted(allowed_roles))
        return _deny(f"{action} needs the role {names}; {actor.name} has {_roles(actor)}")
    if action in _TRANSITIONS:
        return _transition(actor, action, _need(project, action))
    if action is Action.GRANT_CREATE:
        return _grant(actor, _need(project, action), today, dataset)
    return _allow()


def _out_of_sight(
    actor: Principal,
    action: Action,
    project: ProjectFacts | None,
    dataset: DatasetFacts | None,
    today: date,
) -> Decision | None:
    """Whatever the action, a project or dataset the actor may not see is "not found".

    Checked before any role or state rule, so an answer never tells a hidden
    thing apart from a missing one (``PROJECT_READ`` and the dataset reads decide
    visibility themselves).
    """
    if (
        project is not None
        and action is not Action.PROJECT_READ
        and not (_sees_project(actor, project) or project.involves(actor.user_id))
    ):
        return _deny(f"no project {project.id} is visible to {actor.name}", hidden=True)
    reads = (Action.DATASET_READ_ENTRY, Action.DATASET_READ_DATA, Action.DATASET_READ_PUBLIC)
    if (
        dataset is not None
        and action not in reads
        and not _read_entry(actor, dataset, today).allowed
    ):
        return _deny(f"no dataset {dataset.id} is visible to {actor.name}", hidden=True)
    if action is Action.TOKEN_MANAGE_ANY and not actor.has(Role.ADMIN):
        return _deny(
            f"{actor.name} may not see other users' tokens: {action} needs the role admin",
            hidden=True,
        )
    return None


def role_may(actor: Principal, action: Action) -> bool:
    """Whether ``actor``'s roles are among those ``action`` needs, before any facts: what a
    front-end offers (a steward's "projects to approve"); the action still calls ``decide``.
    An action decided on its target's facts (a project's members, a dataset's grants) has
    no answer here: ``ValueError``, so that no front-end offers it on roles alone."""
    allowed = _ROLE_ACTIONS.get(action)
    if allowed is None:
        raise ValueError(f"{action} is decided on its target's facts: ask decide() with them")
    return actor.active and bool(actor.roles & allowed)


def _need(facts: _T | None, action: Action) -> _T:
    if facts is None:
        raise ValueError(f"{action} needs the facts of its target")
    return facts


def _roles(actor: Principal) -> str:
    return ", ".join(sorted(actor.roles)) or "no role"


def _transition(actor: Principal, action: Action, project: ProjectFacts) -> Decision:
    sources, verb = _TRANSITIONS[action]
    if actor.user_id == project.submitted_by:
        return _deny(
            f"project {project.id} was submitted by {actor.name}, who cannot have it {verb}"
        )
    if project.status not in sources:
        return _conflict(f"project {project.id} is {project.status} and cannot be {verb}")
    return _allow()


def _close_project(actor: Principal, project: ProjectFacts) -> Decision:
    if not (actor.has(Role.STEWARD) or actor.user_id == project.principal_investigator):
        if not _sees_project(actor, project):
            return _deny(f"no project {project.id} is visible to {actor.name}", hidden=True)
        return _deny("only a steward or the principal investigator may close a project")
    if project.status is ProjectStatus.CLOSED:
        return _conflict(f"project {project.id} is already closed")
    return _allow()


def _grant(
    actor: Principal, project: ProjectFacts, today: date, dataset: DatasetFacts | None
) -> Decision:
    if dataset is not None and dataset.quarantine:
        return _deny(
            f"dataset {dataset.id} is a quarantine (rows refused at ingestion) and is never "
            "granted; fix the source and ingest it again"
        )
    if actor.user_id == project.submitted_by:
        return _deny(
            f"project {project.id} was submitted by {actor.name}, who cannot grant it data"
        )
    if project.status is not ProjectStatus.APPROVED:
        return _conflict(
            f"project {project.id} is {project.status}; only approved projects get grants"
        )
    if today > project.end:
        return _conflict(f"project {project.id} ended on {project.end.isoformat()}")
    return _allow()


def _manage_members(actor: Principal, project: ProjectFacts) -> Decision:
    if actor.has(Role.STEWARD) or actor.user_id == project.principal_investigator:
        if project.status is ProjectStatus.CLOSED:
            return _conflict(f"project {project.id} is closed")
        return _allow()
    if _sees_project(actor, project):
        return _deny("only a steward or the principal investigator may change members")
    return _deny(f"no project {project.id} is visible to {actor.name}", hidden=True)


def _sees_project(actor: Principal, project: ProjectFacts) -> bool:
    if actor.roles & {Role.STEWARD, Role.ADMIN, Role.OUTPUT_CHECKER}:
        return True
    return actor.has(Role.RESEARCHER) and project.involves(actor.user_id)


def _read_project(actor: Principal, project: ProjectFacts) -> Decision:
    if _sees_project(actor, project):
        return _allow()
    return _deny(f"no project {project.id} is visible to {actor.name}", hidden=True)


def _researcher_grant(actor: Principal, dataset: DatasetFacts, today: date) -> GrantFacts | None:
    if dataset.quarantine:  # a grant from before quarantines were refused opens nothing
        return None
    for grant in dataset.grants:
        if actor.user_id in grant.project.members and grant.is_active(today):
            return grant
    return None


def _public(dataset: DatasetFacts) -> bool:
    """In the public catalog: discoverable, and not a quarantine."""
    return dataset.discoverable and not dataset.quarantine


def _read_public(dataset: DatasetFacts) -> Decision:
    if _public(dataset):
        return _allow()
    return _deny(f"dataset {dataset.id} is not in the public catalog", hidden=True)


def _read_entry(actor: Principal, dataset: DatasetFacts, today: date) -> Decision:
    if actor.roles & {Role.STEWARD, Role.OPERATOR}:
        return _allow()
    if _public(dataset) and actor.roles & {Role.RESEARCHER, Role.OUTPUT_CHECKER, Role.ADMIN}:
        return _allow()
    if actor.has(Role.RESEARCHER) and _researcher_grant(actor, dataset, today):
        return _allow()
    return _deny(f"no dataset {dataset.id} is visible to {actor.name}", hidden=True)


def _request_release(actor: Principal, project: ProjectFacts, today: date) -> Decision:
    if not (actor.has(Role.RESEARCHER) and actor.user_id in project.members):
        if _sees_project(actor, project):
            return _deny("only a researcher member of the project may ask for a release")
        return _deny(f"no project {project.id} is visible to {actor.name}", hidden=True)
    if not project.is_active(today):
        return _conflict(
            f"project {project.id} is not active ({project.status}, ends {project.end})"
        )
    return _allow()


def _decide_release(actor: Principal, project: ProjectFacts, requested_by: int) -> Decision:
    if not actor.has(Role.OUTPUT_CHECKER):
        if _sees_project(actor, project):
            return _deny("only an output-checker may approve or reject a release")
        return _deny(f"no project {project.id} is visible to {actor.name}", hidden=True)
    if actor.user_id == requested_by:
        return _deny("the two-person rule: whoever asked for a release cannot approve it")
    return _allow()


def _read_data(actor: Principal, dataset: DatasetFacts, today: date) -> Decision:
    if not actor.has(Role.RESEARCHER):
        return _deny(
            f"reading dataset rows needs the researcher role in an approved project; "
            f"{actor.name} has {_roles(actor)}"
        )
    if _researcher_grant(actor, dataset, today):
        return _allow()
    visible = _read_entry(actor, dataset, today)
    if dataset.quarantine and visible.allowed:
        return _deny(f"dataset {dataset.id} is a quarantine; researchers never read it")
    return _deny(
        f"dataset {dataset.id} is not granted to an active project of {actor.name}",
        hidden=not visible.allowed,
    )


def _read_result(
    actor: Principal, project: ProjectFacts, result: ResultFacts, today: date
) -> Decision:
    """Row-level results: the project's researcher members, while it is active, until expiry.

    Everyone else (admins, stewards, output checkers included) is told the result
    does not exist, in the words used for a query that does not exist.
    """
    if not (actor.has(Role.RESEARCHER) and actor.user_id in project.members):
        return _deny(f"no query {result.query_id} is visible to you", hidden=True)
    if not project.is_active(today):
        when = "has ended" if project.status is ProjectStatus.APPROVED else f"is {project.status}"
        return _deny(f"project {project.id} {when}, so its query results cannot be read")
    if result.purged or today > result.kept_until:
        return _deny(
            f"the result of query {result.query_id} expired on "
            f"{result.kept_until.isoformat()} under the hub's retention period; run the query again"
        )
    return _allow()
