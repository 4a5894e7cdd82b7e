"""Releasing query results: the hub computes its own evidence, then the two-person rule.

Every attack is played by a researcher with a valid account in the project, on
SQLite and PostgreSQL (the ``cast`` fixture).
"""

from __future__ import annotations

import base64
import hashlib
import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from sqlalchemy import select

from passerelle import hub as H
from passerelle.errors import ConflictError, NotFoundError, PermissionDeniedError, UsageError
from passerelle.hub.audit import AuditFilter, list_events
from passerelle.hub.tables import ReleaseCell
from passerelle.research.disclosure.derive import SKETCH_SIZE
from passerelle.workspace import (
    decide_release,
    request_release,
    request_table_release,
    run_query,
)
from passerelle.workspace.release_evidence import _seal_key, open_sketch
from passerelle.workspace.release_policy import (
    approve_with_policy,
    get_release_policy,
    set_release_policy,
)
from tests.hub.conftest import Cast, approved_project
from tests.workspace.test_queries import publish_version

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
        "age": [97 if r[2] == "a7" else 20 + i % 40 for i, r in enumerate(ROWS)],
        "cost": [1e6 if r[2] == "b3" else 100.0 + i for i, r in enumerate(ROWS)],
    }
)
COUNT_SQL = (
    "SELECT dept, age_group, count(*) AS n_stays FROM stays GROUP BY dept, age_group "
    "ORDER BY dept, age_group"
)


def publish_people(cast: Cast, name: str, table: pa.Table, person: str = "pseudonym") -> None:
    """A dataset whose person column the catalog names (as ingestion does)."""
    H.create_dataset(
        cast.hub,
        cast.steward,
        name=name,
        organization="750712184",
        classification="health-pseudonymized",
        schema=[
            {
                "name": f.name,
                "type": str(f.type),
                "description": "person pseudonym" if f.name == person else "",
            }
            for f in table.schema
        ],
    )
    publish_version(cast, name, table)


@pytest.fixture
def project(cast: Cast) -> int:
    publish_people(cast, "stays", STAYS)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "stays")
    H.update_user(cast.hub, cast.admin, "bob", roles="researcher,output-checker")
    H.add_member(cast.hub, cast.alice, pid, "bob")
    return pid


def released_csv(cast: Cast, key: str) -> dict[str, list[object]]:
    data = cast.hub.store().get(key).read()
    return pacsv.read_csv(io.BytesIO(data)).to_pydict()  # type: ignore[no-any-return]


def release_of(cast: Cast, project: int, sql: str) -> dict[str, object]:
    view, _ = run_query(cast.hub, cast.alice, project, sql)
    r = request_release(cast.hub, cast.alice, view.id)
    return {"id": r.id, "status": r.status, "report": r.report, "output_key": r.output_key}


def rules_of(release: dict[str, object]) -> dict[str, int]:
    report = release["report"]
    assert isinstance(report, dict)
    return dict(report["findings_per_rule"])


def test_small_cells_are_suppressed_then_a_second_person_approves(cast: Cast, project: int) -> None:
    view, table = run_query(cast.hub, cast.alice, project, COUNT_SQL)
    assert min(table.column("n_stays").to_pylist()) == 4  # the full table stays inside
    release = request_release(cast.hub, cast.alice, view.id)
    assert release.status == "pending" and release.output_key is None
    assert release.report["computed_by"] == "hub" and release.report["evidence_verified"]
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
    assert set(out) == {"dept", "age_group", "n_stays"}  # no evidence, no suppressed flag
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


def test_a_clean_table_is_released_at_once(cast: Cast, project: int) -> None:
    release = release_of(
        cast,
        project,
        "SELECT dept, count(*) AS n_stays, count(DISTINCT pseudonym) AS n_persons FROM stays "
        "WHERE dept <> '13' GROUP BY dept ORDER BY dept",
    )
    assert release["status"] == "released", release["report"]
    out = released_csv(cast, str(release["output_key"]))
    assert out == {"dept": [69, 75], "n_stays": [40, 70], "n_persons": [40, 70]}


def test_the_released_table_is_the_hubs_not_the_researchers(cast: Cast, project: int) -> None:
    """A count named like a group column is still a count: the hub checks it."""
    release = release_of(
        cast,
        project,
        "SELECT age_group, count(*) AS dept FROM stays WHERE dept = '13' GROUP BY age_group",
    )
    assert release["status"] == "pending"
    report = release["report"]
    assert isinstance(report, dict)
    small = [f for f in report["findings"] if f["rule"] == "threshold"]
    assert small and {f["cell"]["age_group"] for f in small} == {"65+"}


def test_a_constant_aliased_as_n_persons_is_never_released(cast: Cast, project: int) -> None:
    release = release_of(
        cast,
        project,
        "SELECT dept, age_group, count(*) AS n_stays, 100 AS n_persons FROM stays GROUP BY 1, 2",
    )
    assert release["status"] == "pending" and release["output_key"] is None
    report = release["report"]
    assert isinstance(report, dict)
    assert report["computed_by"] == "researcher" and report["evidence_verified"] is False
    assert any(
        f["rule"] == "evidence-not-verified" and "evidence not verified" in f["detail"]
        for f in report["findings"]
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT dept, max(cost) AS top_cost FROM stays GROUP BY dept",
        "SELECT dept, median(age) AS m FROM stays GROUP BY dept",
        "SELECT dept, quantile_cont(cost, 0.99) AS p99 FROM stays GROUP BY dept",
        "SELECT dept, arg_max(age, cost) AS age_of_costliest FROM stays GROUP BY dept",
    ],
)
def test_order_statistics_wait_for_a_checker(cast: Cast, project: int, sql: str) -> None:
    release = release_of(cast, project, sql)
    assert release["status"] == "pending" and rules_of(release).get("order-statistic")


def test_a_steward_may_allow_order_statistics(cast: Cast, project: int) -> None:
    sql = "SELECT dept, max(age) AS oldest FROM stays GROUP BY dept"
    assert release_of(cast, project, sql)["status"] == "pending"
    set_release_policy(cast.hub, cast.steward2, project, "sacro", order_statistics=True)
    allowed = release_of(cast, project, sql)
    assert "order-statistic" not in rules_of(allowed)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pseudonym, dept FROM stays",
        "SELECT pseudonym, count(*) AS n FROM stays GROUP BY pseudonym",
        "SELECT upper(pseudonym) AS who, sum(cost) AS c FROM stays GROUP BY 1",
        "SELECT * FROM (SELECT pseudonym, cost FROM stays)",
        "SELECT dept, count(*) OVER (PARTITION BY dept) AS n FROM stays",
        "SELECT dept, list(cost) AS costs FROM stays GROUP BY dept",
        "SELECT dept, max(pseudonym) AS who FROM stays GROUP BY dept",
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept UNION ALL "
        "SELECT pseudonym, 1 FROM stays",
    ],
)
def test_row_level_results_never_leave(cast: Cast, project: int, sql: str) -> None:
    view, _ = run_query(cast.hub, cast.alice, project, sql)
    release = request_release(cast.hub, cast.alice, view.id)
    assert release.status == "rejected" and release.output_key is None, release.report
    with pytest.raises(ConflictError):
        decide_release(cast.hub, cast.checker, release.id, approve=True)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH t AS (SELECT pseudonym AS who FROM stays) SELECT who, count(*) AS n FROM t "
        "GROUP BY who",
        "SELECT who, count(*) AS n FROM (SELECT pseudonym AS who FROM stays) GROUP BY who",
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept UNION ALL "
        "SELECT age_group, count(*) FROM stays GROUP BY age_group",
        "SELECT dept, count(*) * 10 AS n FROM stays GROUP BY dept",
        "SELECT s.dept, count(*) AS n FROM stays s JOIN stays t ON s.pseudonym = t.pseudonym "
        "GROUP BY s.dept",
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept LIMIT 2",
    ],
)
def test_what_the_hub_cannot_derive_waits_marked_unverified(
    cast: Cast, project: int, sql: str
) -> None:
    release = release_of(cast, project, sql)
    assert release["status"] in ("pending", "rejected") and release["output_key"] is None
    report = release["report"]
    assert isinstance(report, dict)
    if release["status"] == "pending":
        assert report["evidence_verified"] is False
        assert rules_of(release).get("evidence-not-verified")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) AS n, sum(cost) AS total FROM stays WHERE pseudonym = 'a1'",
        "SELECT dept, count(*) AS n FROM stays WHERE age = 97 GROUP BY dept",
        "SELECT count(*) FILTER (WHERE pseudonym = 'a1') AS n, count(*) AS all_n FROM stays",
    ],
)
def test_a_filter_that_isolates_one_person_is_caught(cast: Cast, project: int, sql: str) -> None:
    release = release_of(cast, project, sql)
    assert release["status"] == "pending" and release["output_key"] is None
    rules = rules_of(release)
    assert rules.get("threshold") or rules.get("zero") or rules.get("filter"), rules


def test_an_empty_result_is_a_zero(cast: Cast, project: int) -> None:
    release = release_of(
        cast, project, "SELECT dept, count(*) AS n FROM stays WHERE age > 200 GROUP BY dept"
    )
    assert release["status"] == "pending" and rules_of(release).get("zero")


@pytest.mark.parametrize(
    "having",
    [
        "HAVING count(*) < 30",
        "HAVING bool_or(pseudonym = 'd1')",
        "HAVING max(age) > 90",
    ],
)
def test_having_clauses_wait_for_a_checker(cast: Cast, project: int, having: str) -> None:
    release = release_of(
        cast, project, f"SELECT dept, count(*) AS n FROM stays GROUP BY dept {having}"
    )
    assert release["status"] == "pending"
    assert rules_of(release).get("filter")


@pytest.mark.parametrize("group_by", ["GROUP BY dept, age_group", "GROUP BY ALL"])
def test_dominance_evidence_is_the_hubs(cast: Cast, project: int, group_by: str) -> None:
    """One person (b3) dominates the 75/65+ cost cell: the hub finds it from the rows,
    whatever the researcher names ``total``, ``top1`` or ``top2``."""
    release = release_of(
        cast,
        project,
        "SELECT dept, age_group, sum(cost) AS total, avg(cost) AS top1, count(*) AS top2 "
        f"FROM stays WHERE dept = '75' {group_by}",
    )
    report = release["report"]
    assert isinstance(report, dict) and report["evidence_verified"], report
    assert release["status"] == "pending"
    dominated = {
        (f["cell"]["age_group"], f["column"])
        for f in report["findings"]
        if f["rule"] in ("dominance", "p-ratio")
    }
    assert ("65+", "total") in dominated and ("65+", "top1") in dominated
    assert not any(cell == "18-64" for cell, _ in dominated)


def test_a_grant_that_hides_the_person_column_still_counts_persons(cast: Cast) -> None:
    publish_people(cast, "stays", STAYS)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "stays", columns=["dept", "age_group"])
    release = release_of(cast, pid, COUNT_SQL)
    report = release["report"]
    assert isinstance(report, dict) and report["evidence_verified"], report
    assert release["status"] == "pending" and rules_of(release).get("threshold")


def test_differencing_one_person_out_is_held_naming_the_first_release(
    cast: Cast, project: int
) -> None:
    first = release_of(cast, project, "SELECT dept, count(*) AS n FROM stays GROUP BY dept")
    assert first["status"] == "released", first["report"]
    again = release_of(cast, project, "SELECT dept, count(*) AS n FROM stays GROUP BY dept")
    assert again["status"] == "released", "the same population twice discloses nothing new"
    other = release_of(cast, project, "SELECT age_group, avg(age) AS a FROM stays GROUP BY 1")
    assert "differencing" not in rules_of(other)
    # a7, the only person aged 97, filtered out: 75 has one person fewer
    second = release_of(
        cast, project, "SELECT dept, count(*) AS n FROM stays WHERE age <> 97 GROUP BY dept"
    )
    assert second["status"] == "pending" and rules_of(second).get("differencing")
    report = second["report"]
    assert isinstance(report, dict)
    named = {f["value"] for f in report["findings"] if f["rule"] == "differencing"}
    assert first["id"] in named
    cells = {
        tuple(f["cell"].items()) if f["cell"] else None
        for f in report["findings"]
        if f["rule"] == "differencing"
    }
    assert (("dept", "75"),) in cells and None in cells  # the cell and the whole population


def test_differencing_above_the_sketch_size_is_caught(cast: Cast) -> None:
    """Populations larger than the exact sketch: one person out is still held."""
    n = SKETCH_SIZE * 4
    people = pa.table(
        {
            "pseudonym": [f"q{i}" for i in range(n)],
            "sex": ["F" if i % 2 else "M" for i in range(n)],
            "age": [i for i in range(n)],
        }
    )
    publish_people(cast, "cohort", people)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "cohort")
    first = release_of(cast, pid, "SELECT count(*) AS n FROM cohort")
    assert first["status"] == "released"
    caught = 0
    for age in (3, 77, 200, 311, 500):
        out = release_of(cast, pid, f"SELECT count(*) AS n FROM cohort WHERE age <> {age}")
        caught += bool(rules_of(out).get("differencing"))
    assert caught == 5
    far = release_of(cast, pid, "SELECT count(*) AS n FROM cohort WHERE age < 300")
    assert "differencing" not in rules_of(far)


def test_kept_evidence_is_keyed_sealed_and_bounded(cast: Cast, project: int) -> None:
    """A copy of the database holds no pseudonym, no hash and nothing that links two cells."""
    sql = "SELECT dept, count(*) AS n FROM stays GROUP BY dept"
    first, again = release_of(cast, project, sql), release_of(cast, project, sql)
    assert first["status"] == again["status"] == "released"
    with cast.hub.db.read() as session:
        cells = [
            (c.release_id, c.cell, c.persons, c.sketch)
            for c in session.execute(select(ReleaseCell).order_by(ReleaseCell.id)).scalars()
        ]
    assert len(cells) == 2 * 4  # three departments and the whole population, twice
    texts = [sealed for *_, sealed in cells]
    assert all(len(t) <= 4 * (12 + 16 + 16 * (SKETCH_SIZE + 1)) // 3 + 4 for t in texts)
    assert len(set(texts)) == len(texts)  # the same persons never read the same twice
    people = STAYS.column("pseudonym").to_pylist()
    for text in texts:
        for person in people:
            for plain in (hashlib.sha256, hashlib.md5):
                assert plain(person.encode()).hexdigest()[:16] not in text
    key = _seal_key(cast.hub, project)
    for release_id, cell, persons, sealed in cells:
        where = f"project:{project}/release:{release_id}/cell:{cell}".encode()
        opened = open_sketch(key, persons, sealed, where)
        assert opened is not None and len(opened.minima) == min(persons, SKETCH_SIZE)
        moved = f"project:{project}/release:{release_id + 1}/cell:{cell}".encode()
        assert open_sketch(key, persons, sealed, moved) is None
        assert open_sketch(b"x" * 32, persons, sealed, where) is None


def test_altered_evidence_holds_the_next_release(cast: Cast, project: int) -> None:
    first = release_of(cast, project, "SELECT dept, count(*) AS n FROM stays GROUP BY dept")
    with cast.hub.transaction() as session:
        for cell in session.execute(select(ReleaseCell)).scalars():
            cell.sketch = base64.b64encode(b"\0" * 40).decode()
    second = release_of(cast, project, "SELECT dept, count(*) AS n FROM stays GROUP BY dept")
    assert second["status"] == "pending"
    report = second["report"]
    assert isinstance(report, dict)
    assert any(
        f["rule"] == "differencing" and "does not open" in f["detail"] and f["value"] == first["id"]
        for f in report["findings"]
    )


def test_the_policy_is_the_projects_set_by_a_steward(cast: Cast, project: int) -> None:
    assert get_release_policy(cast.hub, cast.alice, project).policy == "sacro"
    with pytest.raises(PermissionDeniedError):
        set_release_policy(cast.hub, cast.alice, project, "opensafely")
    with pytest.raises(UsageError, match="No disclosure policy"):
        set_release_policy(cast.hub, cast.steward, project, "lenient")
    with pytest.raises(TypeError):
        request_release(cast.hub, cast.alice, 1, policy="opensafely")  # type: ignore[call-arg]
    set_release_policy(cast.hub, cast.steward, project, "opensafely")
    release = release_of(cast, project, COUNT_SQL)
    report = release["report"]
    assert isinstance(report, dict) and report["policy"] == "opensafely"
    assert rules_of(release).get("redact")
    events = list_events(cast.hub, cast.auditor, AuditFilter(project=project), limit=10_000)
    changes = [e for e in events if e["action"] == "project.disclosure-policy"]
    assert changes and changes[-1]["details"]["disclosure_policy"] == "opensafely"
    assert changes[-1]["actor"] == "steward"


def test_a_steward_sets_the_policy_at_approval(cast: Cast) -> None:
    submitted = H.submit_project(
        cast.hub,
        cast.alice,
        title="Order statistics",
        purpose="Ages",
        legal_basis="MR-004",
        authorization_ref="CNIL-2026-043",
        start=cast.clock.now.date(),
        end=cast.clock.now.date().replace(year=2027),
    )
    with pytest.raises(UsageError, match="No disclosure policy"):
        approve_with_policy(cast.hub, cast.steward, submitted.id, "lenient")
    assert H.get_project(cast.hub, cast.steward, submitted.id).status == "submitted"
    with pytest.raises(PermissionDeniedError):
        approve_with_policy(cast.hub, cast.alice, submitted.id, "opensafely")
    view = approve_with_policy(
        cast.hub, cast.steward, submitted.id, "opensafely", order_statistics=True
    )
    assert view.status == "approved"
    policy = get_release_policy(cast.hub, cast.alice, submitted.id)
    assert (policy.policy, policy.order_statistics) == ("opensafely", True)


def test_outsiders_cannot_request(cast: Cast, project: int) -> None:
    view, _ = run_query(cast.hub, cast.alice, project, COUNT_SQL)
    H.update_user(cast.hub, cast.admin, "bob", roles="researcher")
    H.remove_member(cast.hub, cast.alice, project, "bob")
    bob = H.authenticate(cast.hub, cast.tokens["bob"])
    with pytest.raises(NotFoundError):
        request_release(cast.hub, bob, view.id)


def test_a_table_the_hub_writes(cast: Cast, project: int) -> None:
    release = request_table_release(cast.hub, cast.alice, project, "stays", ["dept", "age_group"])
    assert release.report["computed_by"] == "hub" and release.report["evidence_verified"]
    assert release.status == "pending" and release.report["findings_per_rule"].get("threshold")
    magnitude = request_table_release(
        cast.hub, cast.alice, project, "stays", ["dept"], value="cost", statistics=("sum", "mean")
    )
    assert magnitude.report["evidence_verified"]
    assert magnitude.report["findings_per_rule"].get("dominance")
