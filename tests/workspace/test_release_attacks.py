"""Attacks on automatic releases, played by a researcher of an approved project.

Each test is an attempt to get a single person's value, or a cell of fewer than
the threshold of persons, out through a release that is *released at once*
(no output checker). The bar: none of them may be ``released``.
"""

from __future__ import annotations

import contextlib
import json

import pyarrow as pa
import pytest

from passerelle import hub as H
from passerelle.errors import PasserelleError, PermissionDeniedError
from passerelle.workspace import decide_release, request_release, run_query
from passerelle.workspace.release_policy import set_release_policy
from tests.hub.conftest import Cast, approved_project
from tests.workspace.test_releases import (
    COUNT_SQL,
    STAYS,
    project,
    publish_people,
    release_of,
    released_csv,
    rules_of,
)

__all__ = ["project"]

# dept 75 / 18-64 holds 40 persons; a7 is the only one aged 97
ONE_CELL = "FROM stays WHERE dept = '75' AND age_group = '18-64'"


def never_released(release: dict[str, object]) -> None:
    assert release["status"] != "released" and release["output_key"] is None, release["report"]


@pytest.mark.parametrize(
    "sql",
    [
        # two statistics of one cell whose populations differ by one person
        f"SELECT sum(cost) AS a, sum(cost) FILTER (WHERE age <> 97) AS b {ONE_CELL}",
        f"SELECT sum(cost) AS a, sum(CASE WHEN age <> 97 THEN cost END) AS b {ONE_CELL}",
        f"SELECT avg(cost) AS a, avg(cost) FILTER (WHERE age <> 97) AS b, count(*) AS n {ONE_CELL}",
        f"SELECT count(*) AS n, count(*) FILTER (WHERE age <> 97) AS m {ONE_CELL}",
        f"SELECT count(*) AS n, count(CASE WHEN age <> 97 THEN 1 END) AS m {ONE_CELL}",
    ],
)
def test_two_statistics_of_one_cell_differing_by_one_person(
    cast: Cast, project: int, sql: str
) -> None:
    never_released(release_of(cast, project, sql))


@pytest.mark.parametrize(
    "sql",
    [
        # every other person contributes a constant the researcher chose
        f"SELECT avg(CASE WHEN age = 97 THEN cost ELSE 5 END) AS m {ONE_CELL}",
        f"SELECT sum(CASE WHEN age = 97 THEN cost ELSE 1 END) AS s {ONE_CELL}",
        f"SELECT stddev_pop(CASE WHEN age = 97 THEN cost ELSE 0 END) AS s, count(*) AS n "
        f"{ONE_CELL}",
        f"SELECT sum(cost * (age = 97)::INTEGER + 1) AS s {ONE_CELL}",
        f"SELECT sum(coalesce(nullif(age, 97) * 0, cost)) AS s {ONE_CELL}",
    ],
)
def test_a_persons_value_hidden_among_constants(cast: Cast, project: int, sql: str) -> None:
    never_released(release_of(cast, project, sql))


def test_two_releases_whose_statistics_differ_by_one_person(cast: Cast, project: int) -> None:
    """The cells have the same persons, one statistic leaves a7 out (FILTER)."""
    first = release_of(
        cast,
        project,
        "SELECT dept, sum(cost) AS s FROM stays WHERE age_group = '18-64' GROUP BY dept",
    )
    assert first["status"] == "released", first["report"]
    second = release_of(
        cast,
        project,
        "SELECT dept, sum(cost) FILTER (WHERE age <> 97) AS s, count(*) AS n FROM stays "
        "WHERE age_group = '18-64' GROUP BY dept",
    )
    never_released(second)
    assert rules_of(second).get("differencing")


def test_rows_without_a_person_are_not_behind_a_release(cast: Cast) -> None:
    """A row whose person is NULL is nobody the hub counts (no threshold, no dominance, no
    sketch): its value must not ride along in a released cell, where two releases with the
    same sketches would give it by subtraction."""
    rows = pa.table(
        {
            "pseudonym": [f"p{i}" for i in range(20)] + [None],
            "cost": [100.0] * 20 + [5000.0],
        }
    )
    publish_people(cast, "bills", rows)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "bills")
    release = release_of(cast, pid, "SELECT sum(cost) AS s, count(*) AS n FROM bills")
    assert release["status"] == "released", release["report"]
    assert released_csv(cast, str(release["output_key"])) == {"s": [2000.0], "n": [20]}


def test_the_released_order_is_the_hubs(cast: Cast, project: int) -> None:
    """``ORDER BY sum(cost)`` would rank the cells by a value not released: the hub's table
    is ordered by its groups."""
    release = release_of(
        cast,
        project,
        "SELECT dept, count(*) AS n FROM stays WHERE cost < 1000 GROUP BY dept ORDER BY sum(cost)",
    )
    assert release["status"] == "released", release["report"]
    assert released_csv(cast, str(release["output_key"]))["dept"] == [13, 69, 75]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COLUMNS('pseud.*'), count(*) AS n FROM stays GROUP BY ALL",
        "SELECT COLUMNS('pseud.*') AS g, count(*) AS n FROM stays GROUP BY ALL",
        "SELECT md5(stays::VARCHAR) AS g, count(*) AS n FROM stays GROUP BY 1",
        'SELECT "Pseudonym" AS g, count(*) AS n FROM stays GROUP BY 1',
        "SELECT hash(pseudonym) % 1000000 AS g, count(*) AS n FROM stays GROUP BY 1",
        "SELECT dept, max(COLUMNS('cost')) AS m FROM stays GROUP BY dept",
        "SELECT dept, sum(COLUMNS('cost')) AS m FROM stays GROUP BY dept",
        "SELECT dept, first(cost) AS m FROM stays GROUP BY dept",
        "SELECT dept, arbitrary(cost) AS m FROM stays GROUP BY dept",
        "SELECT dept, bit_and(age) AS m FROM stays GROUP BY dept",
        "SELECT dept, product(age) AS m FROM stays GROUP BY dept",
        "SELECT dept, kurtosis(cost) AS m FROM stays GROUP BY dept",
        "SELECT dept, entropy(cost) AS m FROM stays GROUP BY dept",
        "SELECT dept, bool_or(age = 97)::INTEGER AS m FROM stays GROUP BY dept",
        "SELECT dept, approx_quantile(cost, 0.5) AS m FROM stays GROUP BY dept",
        "SELECT DISTINCT ON (dept) dept, count(*) AS n FROM stays GROUP BY dept",
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept QUALIFY n > 1",
        "SELECT dept, count(*) AS n FROM stays GROUP BY GROUPING SETS ((dept), ())",
        "SELECT age_group AS dept, count(*) AS n FROM stays GROUP BY dept, age_group",
    ],
)
def test_disguised_values_and_shapes_are_never_released_at_once(
    cast: Cast, project: int, sql: str
) -> None:
    with contextlib.suppress(PasserelleError):  # the sandbox refused it (QUALIFY...)
        never_released(release_of(cast, project, sql))


def test_cross_project_differencing(cast: Cast) -> None:
    publish_people(cast, "stays", STAYS)
    one, two = approved_project(cast), approved_project(cast)
    for pid in (one, two):
        H.create_grant(cast.hub, cast.steward, pid, "stays")
    where = "WHERE dept = '75' AND age_group = '18-64'"
    first = release_of(cast, one, f"SELECT sum(cost) AS s FROM stays {where}")
    assert first["status"] == "released", first["report"]
    second = release_of(cast, two, f"SELECT sum(cost) AS s FROM stays {where} AND age <> 97")
    never_released(second)
    report = second["report"]
    assert isinstance(report, dict)
    assert any(
        f["rule"] == "differencing"
        and f["value"] == first["id"]
        and "another project" in f["detail"]
        for f in report["findings"]
    )


@pytest.fixture
def tariffs(cast: Cast) -> int:
    """30 persons billed a flat 100.0 (a tariff), 20 with other costs, and z0, the only
    person aged 97, billed 123.45."""
    people = [(f"f{i}", 40, 100.0) for i in range(30)]
    people += [(f"v{i}", 50, 200.0 + 7 * i) for i in range(20)]
    people += [("z0", 97, 123.45)]
    table = pa.table(
        {
            "pseudonym": [p for p, _, _ in people],
            "age": [a for _, a, _ in people],
            "cost": [c for _, _, c in people],
        }
    )
    publish_people(cast, "bills", table)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "bills")
    return pid


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT sum(cost) AS s, count(*) AS n FROM bills WHERE age = 97 OR cost = 100",
        "SELECT avg(cost) AS s FROM bills WHERE age = 97 OR cost BETWEEN 99.99 AND 100.01",
        "SELECT age = 97 OR cost = 100 AS g, sum(cost) AS s FROM bills GROUP BY 1",
        "SELECT sum(cost) FILTER (WHERE age = 97 OR cost = 100) AS s, count(*) AS n FROM bills",
    ],
)
def test_a_filter_on_the_summed_column_makes_the_others_known(
    cast: Cast, tariffs: int, sql: str
) -> None:
    """Dominance assumes the other contributions are unknown; a filter on the summed
    value itself (a flat tariff) makes them known, and the sum gives z0's cost."""
    release = release_of(cast, tariffs, sql)
    never_released(release)
    assert rules_of(release).get("filter") or rules_of(release).get("evidence-not-verified")


def test_a_sum_with_its_filter_on_another_column_is_still_released(
    cast: Cast, tariffs: int
) -> None:
    """The conservative rules above leave a plain grouped sum alone."""
    release = release_of(
        cast, tariffs, "SELECT age, sum(cost) AS s FROM bills WHERE age < 97 GROUP BY age"
    )
    assert release["status"] == "released", release["report"]


def test_a_person_moved_to_another_cell_is_caught(cast: Cast, project: int) -> None:
    """Differencing across cells: a7 moved from 75 to 13 leaves 75 one person short."""
    first = release_of(cast, project, "SELECT dept, count(*) AS n FROM stays GROUP BY dept")
    assert first["status"] == "released"
    second = release_of(
        cast,
        project,
        "SELECT CASE WHEN age = 97 THEN '13' ELSE dept END AS dept, count(*) AS n "
        "FROM stays GROUP BY 1",
    )
    never_released(second)
    assert rules_of(second).get("differencing")


def test_one_person_dominating_a_sum_under_a_policy_without_dominance(
    cast: Cast, project: int
) -> None:
    """OpenSAFELY's rules have no dominance rule (its outputs are all checked by people):
    b3's 1e6 in the 75/65+ cost cell must not leave at once through a sum."""
    set_release_policy(cast.hub, cast.steward2, project, "opensafely")
    sql = "SELECT age_group, sum(cost) AS s FROM stays WHERE dept = '75' GROUP BY 1"
    release = release_of(cast, project, sql)
    never_released(release)
    assert rules_of(release).get("dominance")
    clean = release_of(
        cast, project, "SELECT age_group, sum(cost) AS s FROM stays WHERE dept = '69' GROUP BY 1"
    )
    assert clean["status"] == "released", clean["report"]


def test_the_report_that_leaves_carries_no_withheld_number(cast: Cast, project: int) -> None:
    """The report published beside an approved table must not say what was suppressed:
    the 13/65+ cell holds 4 persons, its secondary partner some other count."""
    view, _ = run_query(cast.hub, cast.alice, project, COUNT_SQL)
    release = request_release(cast.hub, cast.alice, view.id)
    assert release.status == "pending"
    approved = decide_release(cast.hub, cast.checker, release.id, approve=True)
    key = str(approved.output_key).replace(".csv", ".report.json")
    published = json.loads(cast.hub.store().get(key).read())
    withheld = [f for f in published["findings"] if f["action"] == "suppress"]
    assert withheld and all(set(f) == {"rule", "action", "cell", "column"} for f in withheld)
    assert " 4," not in json.dumps(published)


def test_a_sum_of_flags_is_a_count_of_the_persons_flagged(cast: Cast) -> None:
    """``sum(hiv)`` over 40 persons of whom 3 have hiv = 1 is a count of 3: the persons
    behind a magnitude are those who add something to it, and a cell nobody adds to is
    a zero."""
    table = pa.table(
        {
            "pseudonym": [f"h{i}" for i in range(80)],
            "ward": ["A"] * 40 + ["B"] * 40,
            "hiv": [1.0 if i in (1, 2, 3) else 0.0 for i in range(80)],
        }
    )
    publish_people(cast, "cohort", table)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "cohort")
    for sql in (
        "SELECT ward, sum(hiv) AS s FROM cohort GROUP BY ward",
        "SELECT ward, avg(hiv) AS s, count(*) AS n FROM cohort GROUP BY ward",
        "SELECT ward, sum(CAST(hiv AS FLOAT)) AS s FROM cohort GROUP BY ward",
    ):
        release = release_of(cast, pid, sql)
        never_released(release)
        small = {
            f["cell"]["ward"] for f in release["report"]["findings"] if f["rule"] == "threshold"
        }  # type: ignore[index]
        assert small == {"A", "B"}, release["report"]


def test_a_steward_in_the_project_cannot_choose_its_rules(cast: Cast) -> None:
    """A researcher who is also a steward (and not the submitter) used to be allowed to set
    their own project's policy: order statistics out at once, then max(cost)."""
    publish_people(cast, "stays", STAYS)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "stays")
    H.update_user(cast.hub, cast.admin, "bob", roles="researcher,steward")
    H.add_member(cast.hub, cast.alice, pid, "bob")
    bob = H.authenticate(cast.hub, cast.tokens["bob"])
    with pytest.raises(PermissionDeniedError, match="member"):
        set_release_policy(cast.hub, bob, pid, "sacro", order_statistics=True)
    view, _ = run_query(cast.hub, bob, pid, "SELECT dept, max(cost) AS m FROM stays GROUP BY 1")
    never_released(
        {
            "status": (r := request_release(cast.hub, bob, view.id)).status,
            "output_key": r.output_key,
            "report": r.report,
        }
    )
    set_release_policy(cast.hub, cast.steward2, pid, "sacro", order_statistics=True)  # outsider


def test_a_statistic_that_leaves_one_person_out_of_the_margin(cast: Cast, project: int) -> None:
    """The total first, then per department with a7 left out by a FILTER: the cells of the
    second add up to the total minus a7's cost, though its whole population is the same."""
    where = "WHERE age_group = '18-64'"
    first = release_of(cast, project, f"SELECT sum(cost) AS s FROM stays {where}")
    assert first["status"] == "released", first["report"]
    second = release_of(
        cast,
        project,
        "SELECT dept, sum(cost) FILTER (WHERE age <> 97) AS s, count(*) AS n "
        f"FROM stays {where} GROUP BY dept",
    )
    never_released(second)
    report = second["report"]
    assert isinstance(report, dict)
    assert any(
        f["rule"] == "differencing" and f["value"] == first["id"] and f["cell"] is None
        for f in report["findings"]
    ), report["findings"]
