"""The research query route is ``async`` (its query waits in a pool of its own): nothing
that grows with the researcher's result may then run on the event loop, or one wide
preview stalls every other request of the process (sign-ins, the catalog, the pages)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import SQLITE_ONLY, Api
from tests.api.helpers import published_project

pytestmark = SQLITE_ONLY


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_a_querys_preview_is_converted_off_the_event_loop(
    api: Api, synth_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import passerelle.api.tables as tables

    pid = published_project(api, synth_sources)
    original = tables.json_rows
    where: list[bool] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        where.append(_on_event_loop())
        return original(*args, **kwargs)

    monkeypatch.setattr(tables, "json_rows", spy)
    body = {"sql": "SELECT * FROM pmsi_stays", "preview_rows": 1000}
    answer = api.ok("POST", f"/projects/{pid}/queries", "rita", json=body)
    assert answer["rows"] and answer["columns"] and answer["query"]["id"]
    assert where == [False], "json_rows ran on the event loop"


def test_the_query_answer_keeps_its_shape_and_status(api: Api, synth_sources: Path) -> None:
    pid = published_project(api, synth_sources)
    sql = {"sql": "SELECT count(*) AS n FROM pmsi_stays", "preview_rows": 5}
    answer = api.post(f"/projects/{pid}/queries", "rita", json=sql)
    assert answer.status_code == 201 and answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"query", "columns", "rows"}
    assert answer.json()["columns"] == [{"name": "n", "type": "int64"}]
    schema = api.client.get("/openapi.json").json()
    created = schema["paths"]["/projects/{project_id}/queries"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QueryRun"
    }


def test_two_slow_ingests_do_not_stall_every_other_request(
    api: Api, synth_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` caps the request threads at 2 by default; an ingestion reads its whole
    source (a big file, or a slow bucket a steward names) in one of them. Two at once
    must not leave a researcher's catalog read, or a sign-in, waiting until they end."""
    import threading

    from fastapi.testclient import TestClient

    import passerelle.hub.ingestion as ingestion
    from passerelle.api import create_app
    from passerelle.api.threads import ThreadLimits
    from tests.api.helpers import ingest_body, org_body

    api.ok("POST", "/organizations", "stella", json=org_body())
    release = threading.Event()
    entered = threading.Semaphore(0)

    def slow_ingest(*args: Any, **kwargs: Any) -> Any:
        entered.release()
        release.wait(30)  # the source being read
        raise RuntimeError("not reached in the test")

    monkeypatch.setattr(ingestion, "ingest_dataset", slow_ingest)
    app = create_app(api.hub, threads=ThreadLimits(request_threads=2, query_threads=4))
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {api.tokens['stella']}"}
        ingests = [
            threading.Thread(
                target=client.post,
                args=("/ingests",),
                kwargs={"json": ingest_body(synth_sources), "headers": headers},
            )
            for _ in range(2)
        ]
        for t in ingests:
            t.start()
        assert entered.acquire(timeout=10) and entered.acquire(timeout=10)
        answered: list[int] = []
        reader = threading.Thread(
            target=lambda: answered.append(
                client.get(
                    "/datasets", headers={"Authorization": f"Bearer {api.tokens['rita']}"}
                ).status_code
            )
        )
        reader.start()
        reader.join(timeout=5)
        stalled = reader.is_alive()
        release.set()
        reader.join(timeout=30)
        for t in ingests:
            t.join(timeout=30)
    assert not stalled, "the catalog read waited for the two ingestions to end"
    assert answered == [200]
