"""Idempotent re-ingest, and project extracts that join inside a project but not across."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq

from passerelle.ingest import extract_for_project, ingest, shipped_schema
from passerelle.storage import open_store
from tests.ingest.conftest import KEY, Ingested
from tests.ingest.helpers import read_files


def _listing(url: str) -> dict[str, tuple[int, object]]:
    return {o.key: (o.size, o.last_modified) for o in open_store(url).list()}


def test_reingest_same_input_is_the_same_version_and_rewrites_nothing(ingested: Ingested) -> None:
    url = f"file://{ingested.out}/pmsi_stays"
    before = _listing(url)
    again = ingest(
        f"file://{ingested.src}/stays.csv",
        schema=shipped_schema("pmsi_stays"),
        pseudonym_key=KEY,
        output_url=url,
    )
    assert again.reused and again.version == ingested.stays.version
    assert again.files == ingested.stays.files
    assert _listing(url) == before


def test_a_damaged_version_is_rewritten(tmp_path: Path, ingested: Ingested) -> None:
    out = f"memory://versions-{uuid.uuid4().hex[:8]}"
    args = dict(schema=shipped_schema("dcir_claims"), pseudonym_key=KEY, output_url=out)
    first = ingest(f"file://{ingested.src}/claims.parquet", **args)  # type: ignore[arg-type]
    store = open_store(out)
    store.put(first.files[0].key, b"tampered")
    second = ingest(f"file://{ingested.src}/claims.parquet", **args)  # type: ignore[arg-type]
    assert not second.reused and second.version == first.version
    assert second.files == first.files  # same bytes again, verified
    third = ingest(f"file://{ingested.src}/claims.parquet", **args)  # type: ignore[arg-type]
    assert third.reused


def test_other_key_or_input_is_another_version(ingested: Ingested) -> None:
    out = f"memory://versions-{uuid.uuid4().hex[:8]}"
    a = ingest(
        f"file://{ingested.src}/claims.parquet",
        schema=shipped_schema("dcir_claims"),
        pseudonym_key=KEY,
        output_url=out,
    )
    b = ingest(
        f"file://{ingested.src}/claims.parquet",
        schema=shipped_schema("dcir_claims"),
        pseudonym_key=KEY[::-1],
        output_url=out,
    )
    assert a.version != b.version
    ids_a = set(read_files(a.files).column("person_id").to_pylist())
    ids_b = set(read_files(b.files).column("person_id").to_pylist())
    assert not ids_a & ids_b


def test_project_extracts_join_inside_and_not_across(ingested: Ingested) -> None:
    files = [f.url for f in ingested.stays.files] + [f.url for f in ingested.claims.files]
    results = {}
    for project in ("a", "b"):
        results[project] = extract_for_project(
            files,
            project_key=f"project-{project}-key-0123456789".encode(),
            output_url=f"memory://extract-{project}-{uuid.uuid4().hex[:6]}",
        )
    hub_stays = set(read_files(ingested.stays.files).column("person_id").to_pylist())
    hub_claims = set(read_files(ingested.claims.files).column("person_id").to_pylist())
    ids = {}
    for project, r in results.items():
        assert r.rekeyed_columns == ("person_id",)
        assert r.rows == ingested.stays.rows_accepted + ingested.claims.rows_accepted
        stays = [f for f in r.files if f.key.startswith("pmsi_stays/")]
        claims = [f for f in r.files if f.key.startswith("dcir_claims/")]
        s = set(read_files(stays).column("person_id").to_pylist())
        c = set(read_files(claims).column("person_id").to_pylist())
        assert len(s & c) == len(hub_stays & hub_claims) > 0  # joins inside the project
        assert not (s | c) & (hub_stays | hub_claims)  # hub pseudonyms do not leak out
        ids[project] = s | c
        other = read_files(stays)
        assert other.num_rows == ingested.stays.rows_accepted
        meta = pq.read_schema(
            io.BytesIO(open_store(r.output_url).get(stays[0].key).read())
        ).metadata
        assert meta[b"passerelle.person_columns"] == b"person_id"
    assert not ids["a"] & ids["b"]  # two projects' extracts cannot be joined


def test_settings_added_later_leave_older_schemas_their_digest() -> None:
    """``on_mismatch`` and ``[person] local_id`` at their defaults change no digest, so the
    versions of datasets ingested before they existed keep their ids (digests from before)."""
    assert shipped_schema("pmsi_stays").digest() == (
        "425a46eb4fc1dd9b691e946b254035556c853c02a5316feb8c8425dd0bdae319"
    )
    assert shipped_schema("dcir_claims").digest() == (
        "07dcb169944b2a56e0f076d75f1c62e8d5ea9679b4bce5a02541d173ab82cd8d"
    )
    fhir = shipped_schema("fhir_bulk")
    nulled = replace(
        fhir,
        views=tuple(
            replace(v, columns=tuple(replace(c, on_mismatch="quarantine") for c in v.columns))
            for v in fhir.views
        ),
    )
    assert nulled.digest() != fhir.digest()  # a setting in use does count
