"""Researchers query granted datasets through the hub: grants, columns, audit, workspace."""

from __future__ import annotations

import io
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle import hub as H
from passerelle.errors import (
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    SandboxViolation,
)
from passerelle.hub.audit import AuditFilter, list_events
from passerelle.hub.views import DatasetFile
from passerelle.workspace import list_queries, read_result, run_query
from tests.hub.conftest import Cast, approved_project


def publish(c: Cast, name: str, table: pa.Table) -> None:
    H.create_dataset(
        c.hub,
        c.steward,
        name=name,
        organization="750712184",
        classification="health-pseudonymized",
        schema=[{"name": f.name, "type": str(f.type)} for f in table.schema],
    )
    publish_version(c, name, table)


def publish_version(c: Cast, name: str, table: pa.Table) -> None:
    """Write ``table`` as the dataset's version 1 (keeping the schema the catalog has)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = f"datasets/{name}/v1/part-00000.parquet"
    body = buffer.getvalue()
    c.hub.store().put(key, body, size=len(body))
    H.add_version(
        c.hub,
        c.steward,
        name,
        digest=f"sha256:{name}",
        row_count=table.num_rows,
        schema=H.get_dataset(c.hub, c.steward, name).schema,
        files=[DatasetFile(key, len(body), "0" * 64, table.num_rows)],
    )


STAYS = pa.table(
    {
        "pseudonym": [f"p{i % 40}" for i in range(200)],
        "dept": [["75", "13", "69", "2A"][i % 4] for i in range(200)],
        "los": [i % 9 for i in range(200)],
    }
)


@pytest.fixture
def project(cast: Cast) -> int:
    publish(cast, "stays", STAYS)
    publish(cast, "registry", pa.table({"pseudonym": ["p1"], "cancer": [True]}))
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "stays", columns=["dept", "los"])
    return pid


def test_a_member_counts_stays_by_department(cast: Cast, project: int) -> None:
    view, table = run_query(
        cast.hub,
        cast.alice,
        project,
        "SELECT dept, count(*) AS n FROM stays GROUP BY dept ORDER BY dept",
    )
    assert table.to_pydict() == {"dept": ["13", "2A", "69", "75"], "n": [50, 50, 50, 50]}
    assert view.datasets == ["stays"] and view.rows == 4
    assert read_result(cast.hub, cast.alice, view.id).equals(table)
    assert view.result_key.startswith(f"workspaces/project-{project}/queries/")
    assert [q.id for q in list_queries(cast.hub, cast.alice, project)] == [view.id]
    audited = [
        e
        for e in list_events(cast.hub, cast.auditor, AuditFilter(project=project), limit=10_000)
        if e["action"] == "query.run"
    ]
    assert audited[-1]["details"]["statement_sha256"] == view.digest  # type: ignore[index]
    assert audited[-1]["details"]["rows"] == 4  # type: ignore[index]


def test_ungranted_columns_and_datasets_are_invisible(cast: Cast, project: int) -> None:
    with pytest.raises(QueryError, match="pseudonym"):  # not granted: as if it did not exist
        run_query(cast.hub, cast.alice, project, "SELECT pseudonym FROM stays")
    with pytest.raises(SandboxViolation):
        run_query(cast.hub, cast.alice, project, "SELECT * FROM registry")
    with pytest.raises(SandboxViolation):
        run_query(
            cast.hub,
            cast.alice,
            project,
            "SELECT * FROM read_parquet('datasets/registry/v1/part-00000.parquet')",
        )
    denied = [
        e
        for e in list_events(cast.hub, cast.auditor, AuditFilter(actor="alice"), limit=10_000)
        if e["action"] == "query.run" and e["decision"] in ("denied", "error")
    ]
    assert [e["decision"] for e in denied] == ["error", "denied", "denied"]


def test_outsiders_suspended_and_expired_projects_cannot_query(cast: Cast, project: int) -> None:
    with pytest.raises(NotFoundError):
        run_query(cast.hub, cast.bob, project, "SELECT 1")
    with pytest.raises(NotFoundError):
        read_result(cast.hub, cast.bob, 1)
    H.change_status(cast.hub, cast.steward, project, "suspend")
    with pytest.raises(PermissionDeniedError, match="suspended"):
        run_query(cast.hub, cast.alice, project, "SELECT count(*) FROM stays")
    H.change_status(cast.hub, cast.steward, project, "reinstate")
    cast.clock.set_day(date(2027, 1, 1))
    with pytest.raises(PermissionDeniedError, match="ended"):
        run_query(cast.hub, cast.alice, project, "SELECT count(*) FROM stays")
