"""Results follow access through HTTP, and every DuckDB type comes back exact.

``GET /queries/{id}/result`` answers only the project's researcher members while
the project is active and the result is kept; anyone else gets the very body a
query that does not exist gets. Then every type of the generated matrix
(``tests/research/result_types.py``) through the real sandbox, as JSON, CSV and
Parquet.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.api.conftest import Api, assert_error
from tests.api.helpers import approved_project
from tests.research.result_types import SCALARS, Scalar, csv_cell

OUTSIDERS = ("remy", "admin", "stella", "simon", "aude", "olga", "otto")


def missing_body(api: Api, who: str, qid: int) -> dict[str, Any]:
    """What ``who`` is told about query ``qid``'s result, with the id blanked."""
    response = api.get(f"/queries/{qid}/result", who)
    error = assert_error(response, 404, "not_found")
    return {**error, "message": error["message"].replace(str(qid), "N")}


@pytest.fixture
def story(api: Api) -> tuple[int, int]:
    api.add_user("olga", "output-checker")
    api.add_user("otto", "operator")
    pid = approved_project(api)
    run = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": "SELECT 42 AS answer"})
    return pid, int(run["query"]["id"])


def test_only_members_of_an_active_project_read_a_result(api: Api, story: tuple[int, int]) -> None:
    pid, qid = story
    assert api.ok("GET", f"/queries/{qid}/result", "rita")["rows"] == [[42]]
    for who in OUTSIDERS:
        assert missing_body(api, who, qid) == missing_body(api, who, 999_999), who
    for verb, readable in [("suspend", False), ("reinstate", True), ("close", False)]:
        api.ok("POST", f"/projects/{pid}/{verb}", "simon")
        response = api.get(f"/queries/{qid}/result", "rita", params={"format": "csv"})
        if readable:
            assert response.status_code == 200 and response.text.splitlines()[1] == "42"
        else:
            assert (
                f"project {pid} is" in assert_error(response, 403, "permission_denied")["message"]
            )
        for who in OUTSIDERS:
            assert missing_body(api, who, qid) == missing_body(api, who, 999_999), (verb, who)


def test_an_expired_result_is_refused_before_any_purge(api: Api, story: tuple[int, int]) -> None:
    _, qid = story
    api.hub.config = dataclasses.replace(api.hub.config, result_retention_days=10)
    later = datetime.now(UTC) + timedelta(days=11)
    api.hub.clock = lambda: later
    for fmt in ("json", "csv", "parquet"):
        response = api.get(f"/queries/{qid}/result", "rita", params={"format": fmt})
        assert "expired" in assert_error(response, 403, "permission_denied")["message"]
    assert api.ok("GET", f"/queries/{qid}", "rita")["kept_until"] < later.date().isoformat()


def _select(scalars: list[Scalar]) -> str:
    return "SELECT " + ", ".join(f"{s.sql} AS c{i}" for i, s in enumerate(scalars))


def _check_every_format(api: Api, pid: int, scalars: list[Scalar]) -> None:
    flat = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": _select(scalars)})
    qid = flat["query"]["id"]
    expected = [s.json for s in scalars]
    assert flat["rows"] == [expected]
    page = api.ok("GET", f"/queries/{qid}/result", "rita")
    assert page["rows"] == [expected]
    got_csv = api.get(f"/queries/{qid}/result", "rita", params={"format": "csv"})
    rows = list(csv.reader(io.StringIO(got_csv.text)))
    assert rows[1] == [csv_cell(v) for v in expected]
    parquet = api.get(f"/queries/{qid}/result", "rita", params={"format": "parquet"})
    assert pq.read_table(io.BytesIO(parquet.content)).num_columns == len(scalars)

    nested_sql = "SELECT [{" + ", ".join(f"'c{i}': {s.sql}" for i, s in enumerate(scalars))
    nested_sql += "}] AS nested"
    nested = api.ok("POST", f"/projects/{pid}/queries", "rita", json={"sql": nested_sql})
    assert nested["rows"] == [[[{f"c{i}": v for i, v in enumerate(expected)}]]]
    refused = api.get(f"/queries/{nested['query']['id']}/result", "rita", params={"format": "csv"})
    assert "format=json" in assert_error(refused, 422, "invalid_request")["message"]


def test_every_type_comes_back_exact_in_every_format(api: Api) -> None:
    pid = approved_project(api)
    _check_every_format(api, pid, [s for s in SCALARS if not s.lossless])


def test_types_that_need_lossless_export_come_back_exact(api: Api) -> None:
    pid = approved_project(api)
    _check_every_format(api, pid, [s for s in SCALARS if s.lossless])
