"""Property-based fuzzing of every route from the app's own OpenAPI schema (schemathesis).

Each operation gets generated requests (valid and invalid) as an admin and as a
steward, on a SQLite hub holding a small catalog and an approved project. Every
answer must be documented by the schema (status, content type, body) and none
may be a server error. The audit routes are also fuzzed as an auditor on a log
that holds real query errors and refusals, a flood, and an event of every action
the hub writes with every verdict.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from passerelle.api import create_app
from passerelle.hub import (
    Hub,
    Principal,
    authenticate,
    change_status,
    create_dataset,
    create_grant,
    create_organization,
    create_user,
    init_hub,
    issue_token,
    submit_project,
)
from passerelle.hub.ingestion import ingest_dataset
from passerelle.workspace import request_release, run_query
from tests.api.conftest import drop_postgres_database, fresh_postgres_database, require_postgres

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZERS = ("fuzz-admin", "fuzz-steward")
MAX_EXAMPLES = int(os.environ.get("PASSERELLE_FUZZ_EXAMPLES", "15"))
"""Examples per operation and role; raise it (e.g. 200) for a deeper run.

``PASSERELLE_FUZZ_ON_POSTGRES=1`` fuzzes a PostgreSQL hub instead of SQLite."""


@dataclass
class FuzzHub:
    hub: Hub
    admin: Principal
    app: Any
    tokens: dict[str, str]
    scratch: Path  # where generated local store URLs are sent instead of the real places
    project: int = 0  # rita's approved project, granted pmsi_stays
    query: int = 0  # one of rita's queries in it
    release: int = 0

    def renew(self, who: str) -> None:
        """A fresh token for ``who`` (the fuzzer may have revoked the last one, the admin's
        own included: minting goes through the admin as the hub's operator, with no token,
        since a revoked token mints nothing)."""
        operator = dataclasses.replace(self.admin, token_id=None, token_expires=None)
        self.tokens[who] = issue_token(self.hub, operator, user=who, label="fuzz").secret


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory, synth_sources: Path) -> Iterator[FuzzHub]:
    """The hub every operation is fuzzed on, as an admin and a steward (they change its state)."""
    yield from _fuzz_hub(tmp_path_factory.mktemp("fuzz") / "hub", synth_sources)


@pytest.fixture(scope="module")
def member_hub(tmp_path_factory: pytest.TempPathFactory, synth_sources: Path) -> Iterator[FuzzHub]:
    """A hub of its own for Rita's fuzzing: the admin's and steward's fuzzing may have
    suspended her project or revoked its grants on ``fuzz_hub``."""
    yield from _fuzz_hub(tmp_path_factory.mktemp("member") / "hub", synth_sources)


def _fuzz_hub(directory: Path, synth_sources: Path) -> Iterator[FuzzHub]:
    from datetime import timedelta

    server, database, name = None, None, ""
    if os.environ.get("PASSERELLE_FUZZ_ON_POSTGRES") == "1":  # a deeper, slower run
        server = require_postgres()
        database, name = fresh_postgres_database(server)
    # the fuzzer revokes its own tokens: a high cap keeps the 401s from turning into 429s
    hub, issued = init_hub(
        directory, admin="fuzz-admin", database=database, settings={"auth_failures": 10**6}
    )
    admin = authenticate(hub, issued.secret)
    create_user(hub, admin, "fuzz-steward", ["steward"])
    create_user(hub, admin, "fuzz-auditor", ["auditor"])
    create_user(hub, admin, "other-steward", ["steward"])
    create_user(hub, admin, "rita", ["researcher"])
    steward = authenticate(hub, issue_token(hub, admin, user="other-steward").secret)
    rita = authenticate(hub, issue_token(hub, admin, user="rita").secret)
    create_organization(hub, steward, "CHU-LYON", "Hospices Civils de Lyon", "hospital")
    create_dataset(
        hub,
        steward,
        name="pmsi_mco",
        organization="CHU-LYON",
        classification="health-pseudonymized",
        schema=[{"name": "age", "type": "INTEGER"}],
    )
    today = hub.now().date()
    project = submit_project(
        hub,
        rita,
        title="Sepsis",
        purpose="Outcomes",
        legal_basis="GDPR 9.2.j",
        authorization_ref="CNIL 1",
        start=today,
        end=today + timedelta(days=30),
    )
    change_status(hub, steward, project.id, "approve")
    create_grant(hub, steward, project.id, "pmsi_mco")
    ingest_dataset(
        hub,
        steward,
        dataset="pmsi_stays",
        organization="CHU-LYON",
        source_url=f"file://{synth_sources}/stays.csv",
        schema="pmsi_stays",
    )
    create_grant(hub, steward, project.id, "pmsi_stays")
    query, _ = run_query(
        hub, rita, project.id, "SELECT sex, count(*) AS n FROM pmsi_stays GROUP BY 1"
    )
    release = request_release(hub, rita, query.id)
    _every_kind_of_event(hub, rita, project.id)
    fuzz = FuzzHub(
        hub, admin, create_app(hub), {}, directory.parent, project.id, query.id, release.id
    )
    for who in (*FUZZERS, "rita", "fuzz-auditor"):
        fuzz.renew(who)
    yield fuzz
    hub.close()
    if server:
        drop_postgres_database(server, name)


BAD_QUERIES = (
    "SELECT error(string_agg(sex, ',')) FROM pmsi_stays",  # DuckDB fails at run time
    "SELECT CAST('x' || sex AS INTEGER) FROM pmsi_stays",  # a failed cast
    "SELECT * FROM no_such_table",  # refused by the guard
    "SELECT read_csv('/etc/passwd')",  # file access: refused
    "SELEC 1",  # a syntax error
)


def written_actions() -> set[str]:
    """Every action name the hub's code writes to the log (the rules' and the literals)."""
    import re

    import passerelle
    from passerelle.hub.rules import Action

    root = Path(passerelle.__file__).parent
    literals = {
        name
        for path in root.rglob("*.py")
        for name in re.findall(r'action="([a-z][a-z0-9_.-]*)"', path.read_text())
    }
    return {a.value for a in Action} | literals


def _every_kind_of_event(hub: Hub, rita: Principal, project: int) -> None:
    """Real query errors, refusals and a flood; then one event per action and verdict."""
    from passerelle.errors import PasserelleError
    from passerelle.hub.accounts import auth_limiter, flush_auth_floods
    from passerelle.hub.audit import append_event

    for sql in BAD_QUERIES:
        with pytest.raises(PasserelleError):
            run_query(hub, rita, project, sql)
    limiter = auth_limiter(hub)
    for i in range(3):
        with pytest.raises(PasserelleError):
            authenticate(hub, f"pst_bad{i}", source="203.0.113.1", limiter=limiter)
    flush_auth_floods(hub, limiter, everything=True)
    details: dict[str, Any] = {"n": 1, "nested": {"list": [1, "x", None, 2.5]}, "text": "é\u2028"}
    with hub.transaction() as session:
        for action in sorted(written_actions()):
            for verdict in ("allowed", "denied", "error", "refused"):
                append_event(
                    hub,
                    session,
                    actor="fuzz-seed",
                    action=action,
                    target=f"project:{project}",
                    decision=verdict,
                    details={**details, "project": project},
                )


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document (the app is built without a hub)."""
    document = create_app(cast(Hub, None)).openapi()
    return [(m.upper(), p) for p, ops in document["paths"].items() for m in ops]


URL_FIELDS = ("source_url", "destination_url")
"""Store URLs the hub opens server-side (ingest sources, move destinations)."""


def _reaches_out(url: str) -> bool:
    """Whether the hub would open ``url`` as a real folder or a cloud endpoint."""
    from passerelle.errors import PasserelleError
    from passerelle.storage.urls import parse_store_url

    try:
        return parse_store_url(url).scheme != "memory"
    except PasserelleError:
        return False  # garbage: the API must answer 4xx, which is what is tested
    except Exception:
        return True


def contained(case: Any, scratch: Path) -> Any:
    """The case, with any store URL the hub would open redirected to a folder under ``scratch``.

    A generated ``/``, ``0`` or ``s3://x`` would otherwise make the hub walk the
    machine's root, create folders in the working directory or wait on the
    network; garbage and ``memory://`` URLs are sent as generated.
    """
    import hashlib

    body = case.body
    if isinstance(body, dict):
        for field in URL_FIELDS:
            url = body.get(field)
            if isinstance(url, str) and _reaches_out(url):
                name = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:12]
                body[field] = f"file://{scratch}/{name}"
    return case


@pytest.fixture(scope="module")
def api_schema(fuzz_hub: FuzzHub) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_hub.app)


@pytest.fixture(scope="module")
def member_schema(member_hub: FuzzHub) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", member_hub.app)


@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_server_error_and_every_answer_is_documented(
    method: str, path: str, api_schema: Any, fuzz_hub: FuzzHub
) -> None:
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ).map(lambda case: contained(case, fuzz_hub.scratch))

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        derandomize=True,
    )
    def fuzz(case: Any) -> None:
        for who in FUZZERS:
            headers = {"Authorization": f"Bearer {fuzz_hub.tokens[who]}"}
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if response.status_code == 401:
                fuzz_hub.renew(who)

    fuzz()


RESEARCH = [
    ("POST", "/projects/{project_id}/queries"),
    ("GET", "/queries/{query_id}/result"),
    ("POST", "/queries/{query_id}/releases"),
    ("POST", "/releases/{release_id}/approve"),
    ("GET", "/releases/{release_id}/output"),
]
"""Operations whose interesting paths need a member of the project, on its own ids."""


@pytest.mark.parametrize(("method", "path"), RESEARCH)
def test_a_member_of_the_project_gets_no_server_error(
    method: str, path: str, member_schema: Any, member_hub: FuzzHub
) -> None:
    """Generated SQL, release specs and formats reach the sandbox and the disclosure check."""
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    ids = {"project_id": member_hub.project, "query_id": member_hub.query}
    ids["release_id"] = member_hub.release

    def pinned(case: Any) -> Any:
        for name in list(case.path_parameters or {}):
            case.path_parameters[name] = ids[name]
        return case

    operation = member_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ).map(pinned)

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        derandomize=True,
    )
    def fuzz(case: Any) -> None:
        headers = {"Authorization": f"Bearer {member_hub.tokens['rita']}"}
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        if response.status_code == 401:
            member_hub.renew("rita")

    fuzz()


SQL_WORDS = (
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "UNION",
    "JOIN",
    "ON",
    "AS",
    "pmsi_stays",
    "pmsi_mco",
    "sex",
    "person_id",
    "admission_date",
    "*",
    "count(*)",
    "(",
    ")",
    ",",
    ";",
    "1",
    "'x'",
    "NULL",
    "read_csv('/etc/passwd')",
    "read_parquet('datasets/*')",
    "getenv('HOME')",
    "ATTACH 'x.db'",
    "COPY",
    "TO '/tmp/out.csv'",
    "SET threads = 8",
    "PRAGMA version",
    "INSTALL httpfs",
    "range(1e9)",
    "CAST(sex AS INTEGER)",
    "1/0",
    "'2026-13-45'::DATE",
    "[1, 2]",
    "{'a': 1}",
    "glob('/*')",
    "$$",
    "--",
    "/*",
)


def test_sql_made_of_sql_words_is_never_a_server_error(member_hub: FuzzHub) -> None:
    """Statements built from SQL words, escapes included, answer 201, 403 or 422."""
    from fastapi.testclient import TestClient
    from hypothesis import strategies as st

    client = TestClient(member_hub.app)
    path = f"/projects/{member_hub.project}/queries"

    @hypothesis.given(words=st.lists(st.sampled_from(SQL_WORDS), min_size=1, max_size=12))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES * 2,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        derandomize=True,
    )
    def fuzz(words: list[str]) -> None:
        sql = " ".join(words)
        headers = {"Authorization": f"Bearer {member_hub.tokens['rita']}"}
        response = client.post(path, json={"sql": sql, "timeout_s": 5}, headers=headers)
        assert response.status_code in (201, 403, 422), (sql, response.text)
        if response.status_code != 201:
            assert set(response.json()["error"]) == {"status", "code", "message", "reason"}

    fuzz()


AUDIT = [op for op in _operations() if op[1].startswith("/audit")]


def test_the_log_holds_query_errors_and_every_action(fuzz_hub: FuzzHub) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(fuzz_hub.app)
    fuzz_hub.renew("fuzz-auditor")  # the admin's fuzzing may have revoked every token
    headers = {"Authorization": f"Bearer {fuzz_hub.tokens['fuzz-auditor']}"}
    seen: list[dict[str, Any]] = []
    after = 0
    while True:  # every page, in small pages, so each kind of event is on some page
        page = client.get("/audit/events", params={"after": after, "limit": 7}, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend(body["items"])
        if body["next_after"] is None:
            break
        after = body["next_after"]
    errors = [e for e in seen if e["action"] == "query.run" and e["decision"] == "error"]
    assert len(errors) >= 2
    assert written_actions() <= {e["action"] for e in seen}
    assert any(e["action"] == "auth.flood" and e["details"]["failures"] == 3 for e in seen)
    for fmt in ("jsonl", "csv"):
        export = client.get("/audit/export", params={"format": fmt}, headers=headers)
        assert export.status_code == 200 and "query.run" in export.text


@pytest.mark.parametrize(("method", "path"), AUDIT)
def test_the_audit_routes_as_an_auditor(
    method: str, path: str, api_schema: Any, fuzz_hub: FuzzHub
) -> None:
    """Generated filters and pages over a log with every kind of event: no 500, all documented."""
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis.given(case=cases)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES * 2,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        database=None,
        derandomize=True,
    )
    def fuzz(case: Any) -> None:
        headers = {"Authorization": f"Bearer {fuzz_hub.tokens['fuzz-auditor']}"}
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        if response.status_code == 401:
            fuzz_hub.renew("fuzz-auditor")

    fuzz()
