"""The access rules as a matrix: every role x action x project state x relation."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from passerelle.hub.rules import (
    Action,
    DatasetFacts,
    GrantFacts,
    Principal,
    ProjectFacts,
    ProjectStatus,
    ResultFacts,
    Role,
    decide,
    is_quarantine,
    role_may,
)

TODAY = date(2026, 6, 1)
ME = 7
OTHER = 99
RELATIONS = ("submitter", "pi", "member", "outsider")
DATES = {
    "current": (date(2026, 1, 1), date(2026, 12, 31)),
    "ended": (date(2025, 1, 1), date(2026, 5, 31)),
    "future": (date(2026, 7, 1), date(2027, 1, 1)),
}
PROJECT_ACTIONS = (
    Action.PROJECT_READ,
    Action.PROJECT_APPROVE,
    Action.PROJECT_SUSPEND,
    Action.PROJECT_REINSTATE,
    Action.PROJECT_CLOSE,
    Action.PROJECT_MANAGE_MEMBERS,
    Action.GRANT_CREATE,
    Action.RELEASE_REQUEST,
    Action.RELEASE_DECIDE,
)
GLOBAL_ACTIONS = tuple(
    a
    for a in Action
    if a not in PROJECT_ACTIONS and "dataset.read" not in a and a is not Action.QUERY_READ_RESULT
)


def principal(*roles: Role, active: bool = True) -> Principal:
    return Principal(ME, "me", frozenset(roles), active)


def project(status: ProjectStatus, relation: str, dates: str = "current") -> ProjectFacts:
    start, end = DATES[dates]
    return ProjectFacts(
        id=1,
        status=status,
        submitted_by=ME if relation == "submitter" else OTHER,
        principal_investigator=ME if relation == "pi" else OTHER,
        members=frozenset({ME, OTHER} if relation in ("member", "submitter", "pi") else {OTHER}),
        start=start,
        end=end,
    )


ROLE_SETS = [frozenset({r}) for r in Role] + [frozenset({Role.STEWARD, Role.RESEARCHER})]


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)))
def test_project_matrix(roles: frozenset[Role]) -> None:
    """Checks the stated rules for every action, state, relation and date window."""
    actor = Principal(ME, "me", roles)
    for action, status, relation, dates in itertools.product(
        PROJECT_ACTIONS, ProjectStatus, RELATIONS, DATES
    ):
        facts = project(status, relation, dates)
        requester = ME if relation == "submitter" else OTHER
        d = decide(actor, action, today=TODAY, project=facts, requested_by=requester)
        case = f"{sorted(roles)} {action} {status} {relation} {dates}"
        steward = Role.STEWARD in roles
        if action is Action.PROJECT_APPROVE:
            assert d.allowed == (steward and relation != "submitter" and status == "submitted"), (
                case
            )
        elif action is Action.PROJECT_SUSPEND:
            assert d.allowed == (steward and relation != "submitter" and status == "approved"), case
        elif action is Action.PROJECT_REINSTATE:
            assert d.allowed == (steward and relation != "submitter" and status == "suspended"), (
                case
            )
        elif action is Action.GRANT_CREATE:
            expected = (
                steward and relation != "submitter" and status == "approved" and dates != "ended"
            )
            assert d.allowed == expected, case
        elif action is Action.PROJECT_CLOSE:
            assert d.allowed == ((steward or relation == "pi") and status != "closed"), case
        elif action is Action.PROJECT_READ:
            sees = bool(roles & {Role.STEWARD, Role.ADMIN, Role.OUTPUT_CHECKER}) or (
                Role.RESEARCHER in roles and relation != "outsider"
            )
            assert d.allowed == sees, case
            assert d.hidden == (not sees), case
        elif action is Action.RELEASE_REQUEST:
            expected = (
                Role.RESEARCHER in roles
                and relation != "outsider"
                and status == "approved"
                and dates == "current"
            )
            assert d.allowed == expected, case
        elif action is Action.RELEASE_DECIDE:  # "submitter" stands for the requester here
            expected = Role.OUTPUT_CHECKER in roles and relation != "submitter"
            assert d.allowed == expected, case
        elif action is Action.PROJECT_MANAGE_MEMBERS:
            assert d.allowed == ((steward or relation == "pi") and status != "closed"), case
        if not d.allowed:
            assert d.reason and d.reason != "allowed", case
            if d.conflict:  # a state refusal only for someone who could act in another state
                assert not d.hidden, case


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)))
def test_global_actions_by_role(roles: frozenset[Role]) -> None:
    expected = {
        Action.ORG_CREATE: {Role.STEWARD},
        Action.DATASET_CREATE: {Role.STEWARD},
        Action.DATASET_UPDATE: {Role.STEWARD},
        Action.PROJECT_SUBMIT: {Role.RESEARCHER},
        Action.USER_MANAGE: {Role.ADMIN},
        Action.TOKEN_MANAGE_ANY: {Role.ADMIN},
        Action.AUDIT_READ: {Role.ADMIN, Role.AUDITOR},
        Action.MIGRATION_RUN: {Role.ADMIN, Role.OPERATOR},
        Action.GRANT_REVOKE: {Role.STEWARD},
        Action.USER_READ: {Role.ADMIN, Role.STEWARD},
        Action.TOKEN_MANAGE_OWN: set(Role),
        Action.ORG_READ: set(Role) - {Role.AUDITOR},
        Action.RESULTS_PURGE: {Role.ADMIN},
        Action.KEYS_READ: {Role.ADMIN, Role.AUDITOR},
        Action.KEYS_MANAGE: {Role.ADMIN},
        Action.POLICY_READ: {Role.ADMIN, Role.AUDITOR, Role.OPERATOR, Role.STEWARD},
        Action.COMPLIANCE_READ: {Role.ADMIN, Role.AUDITOR},
        Action.MIGRATION_CERTIFICATE: {Role.ADMIN, Role.OPERATOR},
        Action.INGEST_READ: {Role.ADMIN, Role.AUDITOR, Role.STEWARD},
        Action.REMOTE_CATALOG_IMPORT: {Role.STEWARD},
        Action.REMOTE_CATALOG_READ: set(Role) - {Role.AUDITOR},
    }
    actor = Principal(ME, "me", roles)
    for action in GLOBAL_ACTIONS:
        allowed = decide(actor, action, today=TODAY).allowed
        assert allowed == bool(roles & expected[action]), f"{sorted(roles)} {action}"
        assert role_may(actor, action) == allowed  # what a front-end offers is what it may do


def test_auditor_reads_the_trail_and_nothing_else() -> None:
    auditor = principal(Role.AUDITOR)
    allowed = [a for a in GLOBAL_ACTIONS if decide(auditor, a, today=TODAY).allowed]
    evidence = {Action.AUDIT_READ, Action.KEYS_READ, Action.POLICY_READ, Action.COMPLIANCE_READ}
    evidence.add(Action.INGEST_READ)  # the record of ingestions: counts, no rows
    assert set(allowed) == {*evidence, Action.TOKEN_MANAGE_OWN}
    facts = project(ProjectStatus.APPROVED, "outsider")
    for action in PROJECT_ACTIONS:
        assert not decide(auditor, action, today=TODAY, project=facts, requested_by=OTHER).allowed
    data = DatasetFacts(3, True, ())
    assert not decide(auditor, Action.DATASET_READ_ENTRY, today=TODAY, dataset=data).allowed


def test_disabled_user_is_refused_everything() -> None:
    ghost = principal(*Role, active=False)
    for action in GLOBAL_ACTIONS:
        assert not decide(ghost, action, today=TODAY).allowed


GRANT_CASES = list(
    itertools.product(
        ProjectStatus, ("member", "outsider"), DATES, ("valid", "expired", "revoked"), (True, False)
    )
)


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)))
def test_dataset_read_matrix(roles: frozenset[Role]) -> None:
    actor = Principal(ME, "me", roles)
    for status, relation, dates, grant_state, discoverable in GRANT_CASES:
        facts = project(status, relation, dates)
        grant = GrantFacts(
            facts,
            expires=date(2026, 5, 1) if grant_state == "expired" else facts.end,
            revoked=grant_state == "revoked",
        )
        dataset = DatasetFacts(5, discoverable, (grant,))
        case = f"{sorted(roles)} {status} {relation} {dates} {grant_state} disc={discoverable}"
        active_grant = (
            status == "approved"
            and dates == "current"
            and grant_state == "valid"
            and relation == "member"
        )
        reads = decide(actor, Action.DATASET_READ_DATA, today=TODAY, dataset=dataset)
        assert reads.allowed == (Role.RESEARCHER in roles and active_grant), case
        entry = decide(actor, Action.DATASET_READ_ENTRY, today=TODAY, dataset=dataset)
        sees = (
            bool(roles & {Role.STEWARD, Role.OPERATOR})
            or (discoverable and bool(roles & {Role.RESEARCHER, Role.OUTPUT_CHECKER, Role.ADMIN}))
            or (Role.RESEARCHER in roles and active_grant)
        )
        assert entry.allowed == sees, case
        assert entry.hidden == (not sees), case


def test_the_submitter_never_approves_even_with_both_roles() -> None:
    both = principal(Role.STEWARD, Role.RESEARCHER)
    d = decide(
        both,
        Action.PROJECT_APPROVE,
        today=TODAY,
        project=project(ProjectStatus.SUBMITTED, "submitter"),
    )
    assert not d.allowed and "submitted by me" in d.reason


def test_missing_facts_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        decide(principal(Role.STEWARD), Action.PROJECT_APPROVE, today=TODAY)


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)))
def test_a_quarantine_is_never_granted_nor_read(roles: frozenset[Role]) -> None:
    """Every state of every grant, old or new: a quarantine opens to no researcher."""
    actor = Principal(ME, "me", roles)
    for status, relation, dates, grant_state, discoverable in GRANT_CASES:
        facts = project(status, relation, dates)
        grant = GrantFacts(facts, facts.end, revoked=grant_state == "revoked")
        quarantine = DatasetFacts(5, discoverable, (grant,), quarantine=True)
        plain = DatasetFacts(5, discoverable, (grant,))
        case = f"{sorted(roles)} {status} {relation} {dates} {grant_state} disc={discoverable}"
        reads = decide(actor, Action.DATASET_READ_DATA, today=TODAY, dataset=quarantine)
        assert not reads.allowed, case
        entry = decide(actor, Action.DATASET_READ_ENTRY, today=TODAY, dataset=quarantine)
        assert entry.allowed == bool(roles & {Role.STEWARD, Role.OPERATOR}), case
        if Role.RESEARCHER in roles:  # a researcher is told nothing that exists
            assert reads.hidden == (not entry.allowed), case
        granted = decide(actor, Action.GRANT_CREATE, today=TODAY, project=facts, dataset=quarantine)
        assert not granted.allowed and not granted.conflict, case
        if Role.STEWARD in roles and relation != "submitter":
            assert "never granted" in granted.reason, case
        plain_grant = decide(actor, Action.GRANT_CREATE, today=TODAY, project=facts, dataset=plain)
        if Role.STEWARD in roles:  # the same facts without the mark: the usual grant rules
            assert plain_grant == decide(actor, Action.GRANT_CREATE, today=TODAY, project=facts), (
                case
            )


@pytest.mark.parametrize(
    ("name", "locations", "expected"),
    [
        ("pmsi_stays", ["datasets/pmsi_stays/v1/pmsi_stays"], False),
        ("pmsi_stays_quarantine", [], True),
        ("pmsi_stays_quarantine", ["datasets/x/v1/x"], True),
        ("renamed", ["quarantine/pmsi_stays/v1/_quarantine/pmsi_stays"], True),
        ("renamed", ["hub:quarantine/pmsi_stays/v1"], True),
        ("renamed", ["datasets/x/v1", "/quarantine/x/v2"], True),
        ("renamed", ["datasets/x/v1/_quarantine/x"], True),
        ("renamed", ["s3://bucket/data/_quarantine/x"], True),
        ("covid", ["s3://bucket/quarantine/covid"], False),  # another store's own folder
        ("quarantined_people", ["datasets/quarantined_people/v1"], False),
        ("x_quarantine_2", ["datasets/x_quarantine_2/v1"], False),
    ],
)
def test_what_counts_as_a_quarantine(name: str, locations: list[str], expected: bool) -> None:
    assert is_quarantine(name, locations) is expected


RESULT_STATES = {
    "kept": ResultFacts(5, kept_until=TODAY),
    "expired": ResultFacts(5, kept_until=date(2026, 5, 31)),
    "purged": ResultFacts(5, kept_until=TODAY, purged=True),
}


@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda r: "+".join(sorted(r)))
def test_result_read_matrix(roles: frozenset[Role]) -> None:
    """Row-level results: researcher members, active project, within retention; the rest
    of the world (admins, stewards, output checkers included) is told it does not exist."""
    actor = Principal(ME, "me", roles)
    for status, relation, dates, state in itertools.product(
        ProjectStatus, RELATIONS, DATES, RESULT_STATES
    ):
        facts = project(status, relation, dates)
        d = decide(
            actor,
            Action.QUERY_READ_RESULT,
            today=TODAY,
            project=facts,
            result=RESULT_STATES[state],
        )
        case = f"{sorted(roles)} {status} {relation} {dates} {state}"
        member = Role.RESEARCHER in roles and relation != "outsider"
        active = status == "approved" and dates == "current"
        assert d.allowed == (member and active and state == "kept"), case
        assert d.hidden == (not member), case
        if member and not d.allowed:
            assert "project 1" in d.reason or "expired" in d.reason, case


def test_role_may_refuses_to_answer_for_an_action_decided_on_facts() -> None:
    """A front-end asking ``role_may`` about a project's close or a dataset's data would
    offer it on roles alone; the answer needs the target's facts."""
    admin = Principal(ME, "me", frozenset(Role))
    decided_on_facts = {
        Action.DATASET_READ_ENTRY,
        Action.DATASET_READ_DATA,
        Action.DATASET_READ_PUBLIC,
        Action.PROJECT_READ,
        Action.PROJECT_CLOSE,
        Action.PROJECT_MANAGE_MEMBERS,
        Action.RELEASE_REQUEST,
        Action.RELEASE_DECIDE,
        Action.QUERY_READ_RESULT,
    }
    for action in decided_on_facts:
        with pytest.raises(ValueError, match="decided on its target's facts"):
            role_may(admin, action)


@pytest.mark.parametrize("roles", [frozenset(), *ROLE_SETS], ids=lambda r: "+".join(sorted(r)))
def test_the_public_catalog_is_what_a_researcher_sees_without_a_grant(
    roles: frozenset[Role],
) -> None:
    """One rule for the public catalog, whoever asks (signed in or ``ANONYMOUS``): the
    discoverable entries that are not a quarantine, the ones an ungranted researcher sees."""
    from passerelle.hub.rules import ANONYMOUS

    researcher = principal(Role.RESEARCHER)
    for actor in (Principal(ME, "me", roles), ANONYMOUS):
        for discoverable, quarantine in itertools.product((True, False), repeat=2):
            facts = DatasetFacts(3, discoverable, quarantine=quarantine)
            d = decide(actor, Action.DATASET_READ_PUBLIC, today=TODAY, dataset=facts)
            assert d.allowed == (discoverable and not quarantine), (actor, facts)
            assert d.hidden == (not d.allowed)
            entry = decide(researcher, Action.DATASET_READ_ENTRY, today=TODAY, dataset=facts)
            assert entry.allowed == d.allowed


def test_anonymous_may_do_nothing_but_read_the_public_catalog() -> None:
    from passerelle.hub.rules import ANONYMOUS

    assert not [a for a in GLOBAL_ACTIONS if decide(ANONYMOUS, a, today=TODAY).allowed]
    hidden = DatasetFacts(3, False)
    for action in (Action.DATASET_READ_ENTRY, Action.DATASET_READ_DATA):
        seen = decide(ANONYMOUS, action, today=TODAY, dataset=DatasetFacts(3, True))
        assert not seen.allowed
        assert not decide(ANONYMOUS, action, today=TODAY, dataset=hidden).allowed
