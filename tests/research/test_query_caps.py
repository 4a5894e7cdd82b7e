"""The hub's caps on a query: hub.toml sets them, the CLI and the API may only ask for less."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from passerelle import hub as H
from passerelle.errors import ConfigError, UsageError
from passerelle.hub.hub import load_config
from passerelle.research.caps import LimitRequest, QueryCaps, resolve_limits
from passerelle.workspace import run_query
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.conftest import Cast, approved_project, cast, db_kind
from tests.research.test_query_errors_hub import publish_table as publish
from tests.research.test_query_errors_hub import real_time_tokens

__all__ = ["cast", "db_kind"]

CAPS = QueryCaps(max_rows=50, max_seconds=5, max_memory_mb=256, max_threads=1)


@given(
    rows=st.one_of(st.none(), st.integers(1, 200)),
    seconds=st.one_of(st.none(), st.floats(0.1, 20)),
    memory=st.one_of(st.none(), st.integers(16, 1024)),
    threads=st.one_of(st.none(), st.integers(1, 4)),
)
def test_a_request_gets_what_it_asks_within_the_caps_or_is_refused(
    rows: int | None, seconds: float | None, memory: int | None, threads: int | None
) -> None:
    request = LimitRequest(rows, seconds, memory, threads)
    over = (
        (rows or 0) > CAPS.max_rows
        or (seconds or 0) > CAPS.max_seconds
        or (memory or 0) > CAPS.max_memory_mb
        or (threads or 0) > CAPS.max_threads
    )
    if over:
        with pytest.raises(UsageError, match="more than this hub allows"):
            resolve_limits(CAPS, request)
        return
    limits = resolve_limits(CAPS, request)
    assert limits.max_rows == (rows or CAPS.max_rows)
    assert limits.timeout_s == (seconds or CAPS.max_seconds)
    assert limits.memory_mb == (memory or CAPS.max_memory_mb)
    assert limits.threads == (threads or CAPS.max_threads)


def test_the_refusal_names_the_cap_and_its_setting() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_limits(CAPS, LimitRequest(timeout_s=600))
    assert str(caught.value) == (
        "timeout 600 s is more than this hub allows (5 s, query_max_seconds in hub.toml); "
        "ask for 5 s or less."
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("query_max_rows", "0"),
        ("query_max_rows", "true"),
        ("query_max_seconds", '"lots"'),
        ("query_max_seconds", "-1"),
        ("query_max_memory_mb", "8"),
        ("query_max_threads", "1.5"),
    ],
)
def test_bad_caps_in_hub_toml_are_one_sentence(tmp_path: Path, setting: str, value: str) -> None:
    hub, _ = H.init_hub(tmp_path / "hub")
    hub.close()
    config = tmp_path / "hub" / "hub.toml"
    config.write_text(config.read_text() + f"{setting} = {value}\n")
    with pytest.raises(ConfigError, match=setting):
        load_config(tmp_path / "hub")


def test_caps_set_at_init_are_written_and_read_back(tmp_path: Path) -> None:
    settings = {"query_max_rows": 500, "query_max_seconds": 7.5, "query_max_memory_mb": 300}
    hub, _ = H.init_hub(tmp_path / "hub", settings=settings)
    hub.close()
    caps = load_config(tmp_path / "hub").query_caps()
    assert caps == QueryCaps(500, 7.5, 300, 2)
    assert "query_max_threads" not in (tmp_path / "hub" / "hub.toml").read_text()


TABLE = pa.table({"dept": [str(i % 7) for i in range(300)], "los": list(range(300))})


def capped(c: Cast) -> int:
    publish(c, "stays", TABLE)
    pid = approved_project(c)
    H.create_grant(c.hub, c.steward, pid, "stays")
    c.hub.config = dataclasses.replace(
        c.hub.config, query_max_rows=100, query_max_seconds=5, query_max_memory_mb=512
    )
    return pid


def test_the_library_applies_the_hubs_caps(cast: Cast) -> None:
    pid = capped(cast)
    view, table = run_query(cast.hub, cast.alice, pid, "SELECT * FROM stays")
    assert view.truncated and table.num_rows == 100  # the cap, when nothing is asked
    view, table = run_query(cast.hub, cast.alice, pid, "SELECT * FROM stays", LimitRequest(10))
    assert view.truncated and table.num_rows == 10
    for asked in (
        LimitRequest(max_rows=101),
        LimitRequest(timeout_s=6),
        LimitRequest(memory_mb=4096),
    ):
        with pytest.raises(UsageError, match="more than this hub allows"):
            run_query(cast.hub, cast.alice, pid, "SELECT * FROM stays", asked)


def test_the_api_cannot_ask_more_than_the_caps(cast: Cast) -> None:
    from passerelle.api import create_app

    pid = capped(cast)
    alice = {"Authorization": f"Bearer {cast.tokens['alice']}"}
    with TestClient(create_app(cast.hub)) as client:
        for body in ({"timeout_s": 60}, {"max_rows": 1000}, {"memory_mb": 4096}):
            response = client.post(
                f"/projects/{pid}/queries", json={"sql": "SELECT 1 AS x", **body}, headers=alice
            )
            assert response.status_code == 422, response.text
            assert "more than this hub allows" in response.json()["error"]["message"]
        fine = client.post(
            f"/projects/{pid}/queries",
            json={"sql": "SELECT * FROM stays", "timeout_s": 5, "memory_mb": 256},
            headers=alice,
        )
        assert fine.status_code == 201, fine.text
        assert fine.json()["query"]["rows"] == 100


def test_the_cli_cannot_ask_more_than_the_caps(cast: Cast) -> None:
    publish(cast, "stays", TABLE)
    pid = approved_project(cast)
    H.create_grant(cast.hub, cast.steward, pid, "stays")
    config = cast.hub.config.directory / "hub.toml"
    config.write_text(config.read_text() + "query_max_seconds = 5\nquery_max_memory_mb = 512\n")
    tokens = real_time_tokens(cast, "alice")
    env = {"PASSERELLE_HUB": str(cast.hub.config.directory), "PASSERELLE_TOKEN": tokens["alice"]}
    for option in (["--timeout", "60"], ["--memory-mb", "4096"]):
        proc = run_cli("query", "SELECT 1 AS x", "--project", str(pid), *option, env=env)
        assert_one_sentence(proc, "more than this hub allows", "hub.toml")
    ok = run_cli(
        "query", "SELECT count(*) AS n FROM stays", "--project", str(pid), "--timeout", "5", env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert "300" in ok.stdout
