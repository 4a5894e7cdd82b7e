"""The hub's own derivation of a researcher's query: which shapes, and evidence that is right.

The evidence SQL runs on DuckDB over tables hypothesis generates; every number
it gives is checked against a plain-Python computation from the same rows.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.research.disclosure.derive import TableFacts, derive, render

KEY = bytes(range(32))
FACTS = {
    "stays": TableFacts(
        "pseudonym",
        frozenset({"pseudonym", "dept", "sex", "cost", "age", "nir"}),
        frozenset({"pseudonym", "nir"}),
    )
}


def stays(rows: list[tuple[str, str, str, float | None, int]]) -> pa.Table:
    names = ["pseudonym", "dept", "sex", "cost", "age"]
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}).append_column(
        "nir", pa.array(["x"] * len(rows))
    )


def run(table: pa.Table, sql: str) -> pa.Table:
    con = duckdb.connect()
    con.register("stays", table)
    return con.sql(sql).to_arrow_table()


def derived(table: pa.Table, sql: str) -> tuple[Any, pa.Table]:
    names = run(table, sql).column_names
    d = derive(sql, FACTS, names, KEY)
    assert d.verdict == "derived", d.reasons
    assert d.sql is not None
    return d, run(table, d.sql)


ROWS = st.lists(
    st.tuples(
        st.sampled_from([f"p{i}" for i in range(12)]),
        st.sampled_from(["75", "13", "69"]),
        st.sampled_from(["F", "M"]),
        st.one_of(st.none(), st.floats(-50, 1000, allow_nan=False).map(lambda f: round(f, 2))),
        st.integers(0, 99),
    ),
    min_size=1,
    max_size=60,
)


@given(ROWS)
@settings(max_examples=40, deadline=None)
def test_the_hubs_cells_and_evidence_are_right(rows: list[Any]) -> None:
    table = stays(rows)
    sql = (
        "SELECT dept, sex AS s, count(*) AS n, sum(cost) AS total, avg(cost) AS top1, "
        "count(DISTINCT pseudonym) AS people FROM stays WHERE age > 10 GROUP BY dept, s"
    )
    researcher = {(r["dept"], r["s"]): r for r in run(table, sql).to_pylist()}
    d, hub = derived(table, sql)
    by_person: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    persons: dict[tuple[str, str], set[str]] = defaultdict(set)
    for who, dept, sex, cost, age in rows:
        if age <= 10:
            continue
        persons[(dept, sex)].add(who)
        if cost is not None:
            by_person[(dept, sex)][who] = by_person[(dept, sex)].get(who, 0.0) + cost
    assert {(r["dept"], r["s"]) for r in hub.to_pylist()} == set(researcher) == set(persons)
    names = {dom.statistic: dom for dom in d.spec.dominance}
    assert set(names) == {"total", "top1"}
    for row in hub.to_pylist():
        cell = (row["dept"], row["s"])
        mine = researcher[cell]
        for column in ("n", "people"):
            assert row[column] == mine[column]
        for column in ("total", "top1"):
            assert (row[column] is None) == (mine[column] is None)
            if mine[column] is not None:
                assert row[column] == pytest.approx(mine[column])
        contributions = sorted(by_person[cell].values(), reverse=True)
        with_cost = len(by_person[cell])
        # contributors are the persons whose contribution is not zero (sum(flag) is a count)
        adding = {
            sum(1 for c in by_person[cell].values() if c != 0),
            sum(1 for c in by_person[cell].values() if abs(c) > 1e-9),
        }
        assert row["_hub_persons"] in {min(len(persons[cell]), n) for n in adding}
        assert row["_hub_cell_n"] == len(persons[cell])
        evidence = names["total"]
        assert row[evidence.total] == pytest.approx(sum(contributions))
        assert row[evidence.top1] == pytest.approx(contributions[0] if contributions else 0)
        assert row[evidence.top2] == pytest.approx(contributions[1] if with_cost > 1 else 0)
        assert row[evidence.negative] == sum(1 for c in contributions if c < 0)
        hashes = sorted(
            int(hmac.new(KEY, p.encode(), hashlib.sha256).hexdigest()[:16], 16)
            for p in persons[cell]
        )
        assert sorted(row["_hub_sketch"]) == hashes[:128]


def test_a_constant_named_n_persons_does_not_become_evidence() -> None:
    table = stays([("p1", "75", "F", 1.0, 30)])
    sql = "SELECT dept, count(*) AS n, 100 AS n_persons FROM stays GROUP BY dept"
    d = derive(sql, FACTS, run(table, sql).column_names, KEY)
    assert d.verdict == "unverified" and "n_persons" in d.reasons[0]


SHAPES = [
    (
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept UNION ALL SELECT sex, count(*) "
        "FROM stays GROUP BY sex UNION ALL SELECT pseudonym, 1 FROM stays",
        "row-level",
    ),
    ("SELECT dept, count(*) AS n FROM stays GROUP BY dept", "derived"),
    ("SELECT dept, count(*) AS n FROM stays GROUP BY 1", "derived"),
    ("SELECT dept, count(*) AS n FROM stays GROUP BY ALL", "derived"),
    ("SELECT d, count(*) AS n FROM stays AS x GROUP BY x.dept AS d", None),
    ("SELECT x.dept, count(*) AS n FROM stays x GROUP BY x.dept", "derived"),
    ("SELECT count(*) AS n, sum(cost) AS s FROM stays", "derived"),
    ("SELECT dept, count(*) FILTER (WHERE sex = 'F') AS f FROM stays GROUP BY dept", "derived"),
    ("SELECT dept, max(cost) AS m FROM stays GROUP BY dept", "derived"),
    ("SELECT dept, count(*) AS n FROM stays GROUP BY dept HAVING count(*) > 1", "derived"),
    ("SELECT pseudonym, dept FROM stays", "row-level"),
    ("SELECT DISTINCT dept FROM stays", "row-level"),
    ("SELECT dept FROM stays GROUP BY dept", "row-level"),
    ("SELECT pseudonym, count(*) AS n FROM stays GROUP BY pseudonym", "row-level"),
    ("SELECT pseudonym AS p, count(*) AS n FROM stays GROUP BY p", "row-level"),
    ("SELECT pseudonym AS p, count(*) AS n FROM stays GROUP BY 1", "row-level"),
    ("SELECT s.pseudonym, count(*) AS n FROM stays s GROUP BY s.pseudonym", "row-level"),
    ("SELECT nir, count(*) AS n FROM stays GROUP BY ALL", "row-level"),
    ("SELECT left(pseudonym, 60) AS p, count(*) AS n FROM stays GROUP BY 1", "row-level"),
    ("SELECT dept, string_agg(pseudonym, ',') AS who FROM stays GROUP BY dept", "row-level"),
    ("SELECT dept, min(pseudonym) AS who FROM stays GROUP BY dept", "row-level"),
    ("SELECT dept, sum(age) OVER () AS s FROM stays", "row-level"),
    ("SELECT * FROM (SELECT pseudonym FROM stays)", "row-level"),
    (
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept UNION SELECT nir, 1 FROM stays",
        "row-level",
    ),
    (
        "WITH t AS (SELECT * FROM stays) SELECT dept, count(*) AS n FROM t GROUP BY dept",
        "unverified",
    ),
    ("SELECT dept, count(*) AS n FROM (SELECT * FROM stays) GROUP BY dept", "unverified"),
    (
        "SELECT a.dept, count(*) AS n FROM stays a JOIN stays b USING (pseudonym) GROUP BY a.dept",
        "unverified",
    ),
    (
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept UNION ALL SELECT 'all', count(*) FROM stays",
        "unverified",
    ),
    ("SELECT dept, count(*) + 0 AS n FROM stays GROUP BY dept", "unverified"),
    ("SELECT dept, 7 AS n FROM stays GROUP BY dept", "unverified"),
    ("SELECT dept, count(*) AS n FROM stays GROUP BY dept ORDER BY n LIMIT 1", "unverified"),
    ("SELECT dept, sex, count(*) AS n FROM stays GROUP BY ROLLUP (dept, sex)", "unverified"),
    ("SELECT dept, count(*) AS n FROM stays WHERE age IN (SELECT 1) GROUP BY dept", "unverified"),
    ("SELECT dept, sum(DISTINCT cost) AS s FROM stays GROUP BY dept", "unverified"),
    (
        "SELECT dept, count(*) AS n, rank() OVER (ORDER BY count(*)) AS r FROM stays GROUP BY dept",
        "unverified",
    ),
    ("SELECT count(*) AS n FROM stays USING SAMPLE 50%", "unverified"),
    ("SELECT dept, count(*) AS _hub_persons FROM stays GROUP BY dept", "unverified"),
]


@pytest.mark.parametrize(("sql", "verdict"), SHAPES)
def test_shapes(sql: str, verdict: str | None) -> None:
    table = stays([("p1", "75", "F", 1.0, 30), ("p2", "13", "M", 2.0, 40)])
    try:
        names = run(table, sql).column_names
    except duckdb.Error:
        assert verdict is None
        return
    assert derive(sql, FACTS, names, KEY).verdict == verdict


def test_filters_and_having_are_named_for_the_checker() -> None:
    table = stays([("p1", "75", "F", 1.0, 30)])
    for sql in (
        "SELECT count(*) AS n FROM stays WHERE pseudonym = 'p1'",
        "SELECT count(*) FILTER (WHERE nir = 'x') AS n FROM stays",
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept HAVING max(age) > 3",
    ):
        d = derive(sql, FACTS, run(table, sql).column_names, KEY)
        assert d.verdict == "derived" and d.review, sql


def test_rendering_round_trips_through_duckdb() -> None:
    import json

    con = duckdb.connect()
    sql = "SELECT (\"we\"\"ird\" + 1) * 2 = 'it''s'"
    tree = json.loads(con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0])
    expression = tree["statements"][0]["node"]["select_list"][0]
    assert render(expression) == "(((\"we\"\"ird\" + 1) * 2) = 'it''s')"
