"""Disclosure rules on hand-built tables with known answers, and their invariants."""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.errors import ConfigError, UsageError
from passerelle.research.disclosure import (
    OPENSAFELY,
    SACRO_DEFAULTS,
    DisclosurePolicy,
    TableSpec,
    check_release,
    lines_of,
    policy_named,
    round_to_base,
    secondary_suppression,
)

FREQ = TableSpec(groups=("departement", "age"), statistics=("n_stays",))


def frequency(rows: list[tuple[str, str, int]], persons: list[int] | None = None) -> pa.Table:
    return pa.table(
        {
            "departement": [r[0] for r in rows],
            "age": [r[1] for r in rows],
            "n_stays": pa.array([r[2] for r in rows], pa.int64()),
            "n_persons": pa.array(persons or [r[2] for r in rows], pa.int64()),
        }
    )


def suppressed_cells(check_table: pa.Table, *groups: str) -> set[tuple[str, ...]]:
    rows = check_table.to_pylist()
    return {tuple(r[g] for g in groups) for r in rows if r["suppressed"]}


GRID = [
    ("75", "a1", 20), ("75", "a2", 15), ("75", "a3", 30),
    ("13", "a1", 25), ("13", "a2", 4), ("13", "a3", 12),
    ("69", "a1", 18), ("69", "a2", 22), ("69", "a3", 11),
]  # fmt: skip


def test_threshold_and_secondary_suppression_on_a_2d_table() -> None:
    check = check_release(frequency(GRID), FREQ)
    assert check.status == "review"
    assert check.table is not None
    assert suppressed_cells(check.table, "departement", "age") == {
        ("13", "a2"),  # primary: 4 < 10
        ("75", "a2"),  # protects (13, a2) in column a2 (smallest of 15, 22)
        ("13", "a3"),  # protects (13, a2) in row 13 (smallest of 25, 12)
        ("75", "a1"),  # protects (75, a2) in row 75
        ("69", "a3"),  # protects (13, a3) in column a3
        ("69", "a1"),  # protects (75, a1) in column a1
    }
    primary = [f for f in check.findings if f.rule == "threshold"]
    assert [(f.cell, f.column, f.value) for f in primary] == [
        ({"departement": "13", "age": "a2"}, "n_stays", 4),
        ({"departement": "13", "age": "a2"}, "n_persons", 4),
    ]
    assert sum(1 for f in check.findings if f.rule == "secondary") == 5
    released = {(r["departement"], r["age"]): r["n_stays"] for r in check.table.to_pylist()}
    assert {k: v for k, v in released.items() if v is not None} == {
        ("75", "a3"): 30,
        ("13", "a1"): 25,
        ("69", "a2"): 22,
    }
    assert all(r["n_persons"] is None for r in check.table.to_pylist() if r["suppressed"])
    report = check.report()
    assert report["status"] == "review" and report["suppressed_cells"] == 6
    assert report["findings_per_rule"] == {"threshold": 2, "secondary": 5}


def test_secondary_suppression_on_a_1d_table() -> None:
    spec = TableSpec(groups=("departement",), statistics=("n_stays",))
    table = pa.table(
        {
            "departement": ["75", "13", "69", "33"],
            "n_stays": [50, 3, 40, 12],
            "n_persons": [50, 3, 40, 12],
        }
    )
    check = check_release(table, spec)
    assert check.table is not None
    assert suppressed_cells(check.table, "departement") == {("13",), ("33",)}
    assert check.table.column("n_stays").to_pylist() == [50, None, 40, None]


def test_a_clean_table_passes_unchanged() -> None:
    rows = [(d, a, 10 + i) for i, (d, a, _) in enumerate(GRID)]
    check = check_release(frequency(rows), FREQ)
    assert check.status == "pass" and check.findings == ()
    assert check.table is not None
    assert check.table.column("n_stays").to_pylist() == [r[2] for r in rows]
    assert not any(check.table.column("suppressed").to_pylist())


def test_threshold_boundary_is_ten() -> None:
    spec = TableSpec(groups=("g",), statistics=("n",))
    table = pa.table({"g": ["a", "b", "c"], "n": [10, 9, 11], "n_persons": [10, 9, 11]})
    check = check_release(table, spec, DisclosurePolicy(secondary_suppression=False))
    assert check.table is not None
    assert check.table.column("n").to_pylist() == [10, None, 11]


def test_few_persons_behind_many_records_are_suppressed() -> None:
    rows = [("75", "a1", 40)]
    check = check_release(frequency(rows, persons=[3]), FREQ)
    assert [f.column for f in check.findings if f.rule == "threshold"] == ["n_persons"]
    assert check.table is not None and check.table.column("n_stays").to_pylist() == [None]


def test_zeros_are_disclosive_by_default_and_configurable() -> None:
    spec = TableSpec(groups=("g",), statistics=("n",))
    table = pa.table({"g": ["a", "b", "c"], "n": [0, 20, 30], "n_persons": [0, 20, 30]})
    check = check_release(table, spec)
    assert {f.rule for f in check.findings} == {"zero", "secondary"}
    assert check.table is not None and check.table.column("n").to_pylist() == [None, None, 30]
    relaxed = check_release(table, spec, DisclosurePolicy(zeros_disclosive=False))
    assert relaxed.status == "pass"


def test_missing_combinations_are_implicit_zeros_for_review() -> None:
    rows = [r for r in GRID if r[2] >= 10 and (r[0], r[1]) != ("69", "a2")]
    check = check_release(frequency(rows), FREQ)
    assert [f.rule for f in check.findings] == ["implicit-zero"]
    assert check.status == "review"


MAG = TableSpec(groups=("g",), statistics=("cost_mean",), kind="magnitude")


def magnitude(cells: list[tuple[str, int, float, float, float]]) -> pa.Table:
    return pa.table(
        {
            "g": [c[0] for c in cells],
            "cost_mean": [c[2] / c[1] for c in cells],
            "n_persons": pa.array([c[1] for c in cells], pa.int64()),
            "total": [c[2] for c in cells],
            "top1": [c[3] for c in cells],
            "top2": [c[4] for c in cells],
            "n_negative": pa.array([0] * len(cells), pa.int64()),
        }
    )


def test_nk_dominance_and_p_ratio_with_known_answers() -> None:
    cells = [
        ("dominated", 20, 1000.0, 850.0, 60.0),  # top two 91% >= 90%: dominance
        ("exactly90", 20, 1000.0, 800.0, 100.0),  # exactly 90%: dominance (>=, as ACRO)
        ("two-big", 20, 1000.0, 500.0, 450.0),  # 95%: dominance; rest 50 = 10% of 500: p passes
        ("fine", 20, 1000.0, 600.0, 250.0),  # 85%, rest 25% of top1
        ("few", 9, 1000.0, 200.0, 150.0),  # threshold on persons
    ]
    policy = DisclosurePolicy(secondary_suppression=False)
    check = check_release(magnitude(cells), MAG, policy)
    by_rule = defaultdict(set)
    for finding in check.findings:
        assert finding.cell is not None
        by_rule[finding.rule].add(finding.cell["g"])
    assert dict(by_rule) == {
        "dominance": {"dominated", "exactly90", "two-big"},
        "threshold": {"few"},
    }
    assert check.table is not None
    assert check.table.column_names == ["g", "cost_mean", "n_persons", "suppressed"]
    released = dict(
        zip(
            check.table.column("g").to_pylist(),
            check.table.column("cost_mean").to_pylist(),
            strict=True,
        )
    )
    assert released["fine"] == 50.0
    assert [g for g, v in released.items() if v is None] == [
        "dominated",
        "exactly90",
        "two-big",
        "few",
    ]


def test_p_ratio_alone() -> None:
    policy = DisclosurePolicy(nk_k=None, secondary_suppression=False)
    cells = [
        ("p-fails", 20, 1000.0, 500.0, 460.0),  # rest 40 < 10% of 500
        ("p-boundary", 20, 1000.0, 500.0, 450.0),  # rest 50 = 10%: passes
    ]
    check = check_release(magnitude(cells), MAG, policy)
    assert [(f.rule, f.cell) for f in check.findings] == [("p-ratio", {"g": "p-fails"})]


def test_negative_contributions_need_review() -> None:
    table = magnitude([("a", 20, 1000.0, 300.0, 200.0)]).set_column(
        6, "n_negative", pa.array([2], pa.int64())
    )
    check = check_release(table, MAG)
    assert [(f.rule, f.action) for f in check.findings] == [("negative", "review")]
    assert check.status == "review"


def test_magnitude_without_evidence_needs_review() -> None:
    table = pa.table({"g": ["a"], "cost_mean": [12.5], "n_persons": pa.array([30], pa.int64())})
    check = check_release(table, MAG)
    assert [f.rule for f in check.findings] == ["dominance-unknown"]
    assert check.status == "review"


def test_opensafely_redacts_seven_or_less_and_rounds_to_five() -> None:
    spec = TableSpec(groups=("g",), statistics=("n",))
    counts = [0, 5, 7, 8, 12, 13, 102]
    table = pa.table({"g": [str(c) for c in counts], "n": counts, "n_persons": counts})
    check = check_release(table, spec, OPENSAFELY)
    assert check.table is not None
    assert check.table.column("n").to_pylist() == [None, None, None, 10, 10, 15, 100]
    assert check.table.column("n_persons").to_pylist() == [None, None, None, 10, 10, 15, 100]
    assert {f.rule for f in check.findings} == {"redact", "round"}
    assert check.status == "review"
    clean = table.filter(pa.array([c > 7 for c in counts]))
    assert check_release(clean, spec, OPENSAFELY).status == "pass"


def test_opensafely_magnitude_cells_follow_their_person_count() -> None:
    table = pa.table(
        {"g": ["a", "b"], "cost_mean": [10.0, 20.0], "n_persons": pa.array([7, 8], pa.int64())}
    )
    check = check_release(table, MAG, OPENSAFELY)
    assert check.table is not None
    assert check.table.column("cost_mean").to_pylist() == [None, 20.0]
    assert check.table.column("n_persons").to_pylist() == [None, 10]


@pytest.mark.parametrize(
    ("table", "spec", "rule"),
    [
        (
            pa.table({"person_id": ["P1"], "n": [12], "n_persons": [1]}),
            TableSpec(groups=("person_id",), statistics=("n",)),
            "identifying",
        ),
        (
            pa.table({"g": ["a"], "n": [12], "n_persons": [12], "pseudonym": ["x"]}),
            TableSpec(groups=("g",), statistics=("n",)),
            "structure",
        ),
        (
            pa.table({"diag_label": ["a"], "n": [12], "n_persons": [12]}),
            TableSpec(
                groups=("diag_label",), statistics=("n",), identifying=frozenset({"DIAG_LABEL"})
            ),
            "identifying",
        ),
        (
            pa.table({"g": ["a", "a"], "n": [12, 13], "n_persons": [12, 13]}),
            TableSpec(groups=("g",), statistics=("n",)),
            "row-level",
        ),
        (
            pa.table({"g": ["x" * 65], "n": [12], "n_persons": [12]}),
            TableSpec(groups=("g",), statistics=("n",)),
            "free-text",
        ),
        (
            pa.table({"g": ["a"], "n": ["twelve"], "n_persons": [12]}),
            TableSpec(groups=("g",), statistics=("n",)),
            "free-text",
        ),
        (
            pa.table({"g": ["a"], "n": [12]}),
            TableSpec(groups=("g",), statistics=("n",)),
            "structure",
        ),
        (
            pa.table({"g": ["a"], "n": [12], "n_persons": [12.5]}),
            TableSpec(groups=("g",), statistics=("n",)),
            "structure",
        ),
        (
            pa.table({"n": [12, 13], "n_persons": [12, 13]}),
            TableSpec(groups=(), statistics=("n",)),
            "row-level",
        ),
    ],
)
def test_row_level_pseudonyms_and_free_text_are_never_releasable(
    table: pa.Table, spec: TableSpec, rule: str
) -> None:
    check = check_release(table, spec)
    assert check.status == "fail"
    assert check.table is None
    assert rule in {f.rule for f in check.findings}
    assert all(f.action == "fail" for f in check.findings)


def test_policies_and_specs_are_validated() -> None:
    assert policy_named("SACRO") is SACRO_DEFAULTS
    assert policy_named("opensafely") is OPENSAFELY
    with pytest.raises(ConfigError):
        policy_named("lenient")
    for bad in ({"nk_n": 3}, {"nk_k": 1.5}, {"p_ratio": 0.0}, {"round_to": 0}, {"min_count": 0}):
        with pytest.raises(ConfigError):
            DisclosurePolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        TableSpec(groups=("g",), statistics=())
    with pytest.raises(UsageError):
        TableSpec(groups=("g",), statistics=("g",))


@given(st.integers(-10_000, 10_000), st.sampled_from([1, 2, 5, 10]))
def test_rounding_goes_to_the_nearest_multiple(value: int, base: int) -> None:
    rounded = round_to_base(value, base)
    assert rounded % base == 0
    assert abs(rounded - value) <= base / 2


grids = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
    lambda shape: st.tuples(
        st.just(shape),
        st.lists(st.integers(0, 40), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]),
    )
)


@settings(max_examples=200, deadline=None)
@given(grids)
def test_released_tables_never_hold_a_small_or_recomputable_cell(
    grid: tuple[tuple[int, int], list[int]],
) -> None:
    (rows, cols), counts = grid
    cells = [(f"r{r}", f"c{c}", counts[r * cols + c]) for r in range(rows) for c in range(cols)]
    check = check_release(frequency(cells), FREQ)
    assert check.table is not None
    released = check.table.to_pylist()
    for row in released:
        if row["suppressed"]:
            assert row["n_stays"] is None and row["n_persons"] is None
        else:
            assert row["n_stays"] >= 10
    keys = [(r["departement"], r["age"]) for r in released]
    hidden = {i for i, r in enumerate(released) if r["suppressed"]}
    for line in lines_of(keys):
        in_line = [i for i in line if i in hidden]
        assert len(in_line) != 1 or len(line) == 1
    margins = {
        (f.cell["departement"], f.cell["age"])
        for f in check.findings
        if f.rule == "margin" and f.cell is not None
    }
    alone = {line[0] for line in lines_of(keys) if len(line) == 1}
    assert margins == {keys[i] for i in hidden & alone}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2)),
        min_size=1,
        max_size=30,
        unique=True,
    ),
    st.data(),
)
def test_secondary_suppression_invariants_in_three_dimensions(
    keys: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    weights = data.draw(st.lists(st.integers(0, 100), min_size=len(keys), max_size=len(keys)))
    primary = set(data.draw(st.lists(st.integers(0, len(keys) - 1), max_size=5)))
    result = secondary_suppression(keys, weights, primary)
    hidden = primary | {victim for victim, _ in result.added}
    assert len(hidden) == len(primary) + len(result.added)
    for line in lines_of(keys):
        count = sum(1 for i in line if i in hidden)
        assert count != 1 or len(line) == 1
    assert set(result.margin_only) <= hidden
