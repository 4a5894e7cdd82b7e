"""The rule under every "not found": whatever the action, what the actor may not see is hidden.

Generated facts (roles, relation to the project, its state and dates, the
dataset's visibility and grants) for every action that takes a project or a
dataset: when the actor may not read the project (or the dataset's entry), the
decision is a hidden refusal, never a role or state refusal that would tell a
real object from a made-up one.
"""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

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
)

TODAY = date(2026, 6, 1)
ME, OTHER = 7, 99

roles = st.frozensets(st.sampled_from(list(Role)), min_size=1, max_size=3)


@st.composite
def projects(draw: st.DrawFn) -> ProjectFacts:
    relation = draw(st.sampled_from(["submitter", "pi", "member", "outsider"]))
    start = draw(st.sampled_from([date(2026, 1, 1), date(2026, 7, 1)]))
    return ProjectFacts(
        id=draw(st.integers(1, 10**6)),
        status=draw(st.sampled_from(list(ProjectStatus))),
        submitted_by=ME if relation == "submitter" else OTHER,
        principal_investigator=ME if relation == "pi" else OTHER,
        members=frozenset({ME} if relation == "member" else {OTHER}),
        start=start,
        end=draw(st.sampled_from([date(2026, 5, 31), date(2026, 12, 31)])),
    )


@settings(max_examples=500, deadline=None)
@given(
    actor_roles=roles,
    project=projects(),
    action=st.sampled_from(list(Action)),
    requester=st.sampled_from([ME, OTHER]),
)
def test_a_project_out_of_sight_is_hidden_for_every_action(
    actor_roles: frozenset[Role], project: ProjectFacts, action: Action, requester: int
) -> None:
    actor = Principal(ME, "me", actor_roles)
    read = decide(actor, Action.PROJECT_READ, today=TODAY, project=project)
    if read.allowed or project.involves(ME):
        return
    result = ResultFacts(query_id=1, kept_until=date(2027, 1, 1))
    d = decide(actor, action, today=TODAY, project=project, requested_by=requester, result=result)
    assert not d.allowed and d.hidden, (sorted(actor_roles), action, d)


@settings(max_examples=500, deadline=None)
@given(
    actor_roles=roles,
    discoverable=st.booleans(),
    granted=st.one_of(st.none(), projects()),
    action=st.sampled_from([Action.DATASET_UPDATE, Action.GRANT_CREATE]),
    project=projects(),
)
def test_a_dataset_out_of_sight_is_hidden_for_every_action(
    actor_roles: frozenset[Role],
    discoverable: bool,
    granted: ProjectFacts | None,
    action: Action,
    project: ProjectFacts,
) -> None:
    actor = Principal(ME, "me", actor_roles)
    grants = (GrantFacts(granted, expires=date(2027, 1, 1)),) if granted else ()
    dataset = DatasetFacts(3, discoverable, grants)
    entry = decide(actor, Action.DATASET_READ_ENTRY, today=TODAY, dataset=dataset)
    if entry.allowed:
        return
    on = project if action is Action.GRANT_CREATE else None
    d = decide(actor, action, today=TODAY, dataset=dataset, project=on)
    assert not d.allowed and d.hidden, (sorted(actor_roles), action, d)


def test_other_users_tokens_are_hidden_from_all_but_admins() -> None:
    for role in Role:
        d = decide(Principal(ME, "me", frozenset({role})), Action.TOKEN_MANAGE_ANY, today=TODAY)
        assert d.allowed == (role is Role.ADMIN)
        assert d.hidden == (role is not Role.ADMIN)
