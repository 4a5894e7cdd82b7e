"""Property-based fuzzing of every route from the app's own OpenAPI schema (schemathesis).

Each operation gets generated requests (valid and invalid) as an admin and as a
steward, on a SQLite hub holding a small catalog and an approved project. Every
answer must be documented by the schema (status, content type, body) and none
may be a server error.
"""

from __future__ import annotations

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

    def renew(self, who: str) -> None:
        """A fresh token for ``who`` (the fuzzer may have revoked the last one)."""
        self.tokens[who] = issue_token(self.hub, self.admin, user=who, label="fuzz").secret


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    from datetime import timedelta

    directory: Path = tmp_path_factory.mktemp("fuzz") / "hub"
    server, database, name = None, None, ""
    if os.environ.get("PASSERELLE_FUZZ_ON_POSTGRES") == "1":  # a deeper, slower run
        server = require_postgres()
        database, name = fresh_postgres_database(server)
    hub, issued = init_hub(directory, admin="fuzz-admin", database=database)
    admin = authenticate(hub, issued.secret)
    create_user(hub, admin, "fuzz-steward", ["steward"])
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
    fuzz = FuzzHub(hub, admin, create_app(hub), {})
    for who in FUZZERS:
        fuzz.renew(who)
    yield fuzz
    hub.close()
    if server:
        drop_postgres_database(server, name)


def _operations() -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document (the app is built without a hub)."""
    document = create_app(cast(Hub, None)).openapi()
    return [(m.upper(), p) for p, ops in document["paths"].items() for m in ops]


@pytest.fixture(scope="module")
def api_schema(fuzz_hub: FuzzHub) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_hub.app)


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
    )

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
