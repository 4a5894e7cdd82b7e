"""Releasing query results: disclosure control, then the two-person rule."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from passerelle import hub as H
from passerelle.errors import ConflictError, NotFoundError, PermissionDeniedError
from passerelle.hub.audit import AuditFilter, list_events
from passerelle.workspace import (
    decide_release,
    request_release,
    request_table_release,
    run_query,
)
from tests.hub.conftest import Cast, approved_project
from tests.workspace.test_queries import publish, publish_version

# 3 departments x 2 age groups; one cell of 4 persons must go, and a partner with it
ROWS = (
    [("75", "18-64", f"a{i}") for i in range(40)]
    + [("75", "65+", f"b{i}") for i in range(30)]
    + [("13", "18-64", f"c{i}") for i in range(25)]
    + [("13", "65+", f"d{i}") for i in range(4)]
    + [("69", "18-64", f"e{i}") for i in range(22)]
    + [("69", "65+", f"f{i}") for i in range(18)]
)
STAYS = pa.table(
    {
        "dept": [r[0] for r in ROWS],
        "age_group": [r[1] for r in ROWS],
        "pseudonym": [r[2] for r in ROWS],
    }
)
COUNT_SQL = (
    "SELECT dept, age_group, count(*) AS n_stays, count(DISTINCT pseudonym) AS n_persons "
    "FROM stays GROUP BY dept, age_group ORDER BY dept, age_group"
)


@pytest.fixture
def project(cast: Cast) -> int:
    publish(cast, "stays", STAYS)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "stays")
    H.update_user(cast.hub, cast.admin, "bob", roles="researcher,output-checker")
    H.add_member(cast.hub, cast.alice, pid, "bob")
    return pid


def released_csv(cast: Cast, key: str) -> dict[str, list[object]]:
    data = cast.hub.store().get(key).read()
    return pacsv.read_csv(io.BytesIO(data)).to_pydict()  # type: ignore[no-any-return]


def test_small_cells_are_suppressed_then_a_second_person_approves(cast: Cast, project: int) -> None:
    view, table = run_query(cast.hub, cast.alice, project, COUNT_SQL)
    assert min(table.column("n_stays").to_pylist()) == 4  # the full table stays inside
    release = request_release(cast.hub, cast.alice, view.id)
    assert release.status == "pending" and release.output_key is None
    rules = release.report["findings_per_rule"]
    assert rules.get("threshold") and rules.get("secondary"), rules
    with pytest.raises(PermissionDeniedError, match="output-checker"):
        decide_release(cast.hub, cast.alice, release.id, approve=True)
    bob = H.authenticate(cast.hub, cast.tokens["bob"])
    mine = request_release(cast.hub, bob, view.id)
    with pytest.raises(PermissionDeniedError, match="two-person"):
        decide_release(cast.hub, bob, mine.id, approve=True)
    approved = decide_release(cast.hub, cast.checker, release.id, approve=True, comment="ok")
    assert approved.status == "released" and approved.decided_by == "checker"
    out = released_csv(cast, approved.output_key or "")
    counts = [v for v in out["n_stays"] if v is not None]
    assert counts and min(counts) >= 10 and len(counts) < len(out["n_stays"])
    assert "top1" not in out and "suppressed" not in out
    with pytest.raises(ConflictError):
        decide_release(cast.hub, cast.checker, release.id, approve=False)
    actions = {
        (e["action"], e["decision"])
        for e in list_events(cast.hub, cast.auditor, AuditFilter(project=project), limit=10_000)
    }
    assert {
        ("release.request", "allowed"),
        ("release.decide", "allowed"),
        ("release.decide", "denied"),
    } <= actions


def test_row_level_results_never_leave(cast: Cast, project: int) -> None:
    view, _ = run_query(cast.hub, cast.alice, project, "SELECT pseudonym, dept FROM stays")
    release = request_release(cast.hub, cast.alice, view.id)
    assert release.status == "rejected" and release.output_key is None
    with pytest.raises(ConflictError):
        decide_release(cast.hub, cast.checker, release.id, approve=True)


def test_a_clean_table_is_released_at_once(cast: Cast, project: int) -> None:
    view, _ = run_query(
        cast.hub,
        cast.alice,
        project,
        "SELECT dept, count(*) AS n_stays, count(DISTINCT pseudonym) AS n_persons FROM stays "
        "WHERE dept <> '13' GROUP BY dept ORDER BY dept",
    )
    release = request_release(cast.hub, cast.alice, view.id)
    assert release.status == "released", release.report
    assert released_csv(cast, release.output_key or "")["n_stays"] == [40, 70]


def test_outsiders_cannot_request(cast: Cast, project: int) -> None:
    view, _ = run_query(cast.hub, cast.alice, project, COUNT_SQL)
    H.update_user(cast.hub, cast.admin, "bob", roles="researcher")
    H.remove_member(cast.hub, cast.alice, project, "bob")
    bob = H.authenticate(cast.hub, cast.tokens["bob"])
    with pytest.raises(NotFoundError):
        request_release(cast.hub, bob, view.id)


def test_a_table_the_hub_computes_cannot_be_faked(cast: Cast, project: int) -> None:
    H.create_dataset(  # a dataset whose person column the catalog names
        cast.hub,
        cast.steward,
        name="stays2",
        organization="750712184",
        classification="health-pseudonymized",
        schema=[
            {"name": "dept", "type": "string"},
            {"name": "age_group", "type": "string"},
            {"name": "pseudonym", "type": "string", "description": "person pseudonym"},
        ],
    )
    publish_version(cast, "stays2", STAYS)
    H.create_grant(cast.hub, cast.steward, project, "stays2")
    faked, _ = run_query(  # a researcher's own n_persons is taken as given...
        cast.hub,
        cast.alice,
        project,
        "SELECT dept, age_group, count(*) AS n_stays, 100 AS n_persons FROM stays GROUP BY 1, 2",
    )
    assert request_release(cast.hub, cast.alice, faked.id).report["computed_by"] == "researcher"
    release = request_table_release(cast.hub, cast.alice, project, "stays2", ["dept", "age_group"])
    assert release.report["computed_by"] == "hub"
    assert release.status == "pending" and release.report["findings_per_rule"].get("threshold")
