"""The DCAT-AP export: IRIs, hostile texts that must stay literals, and who sees what."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdflib import Graph, Literal, URIRef

from passerelle import hub as H
from passerelle.errors import UsageError
from passerelle.hub.catalog_export import (
    PublicCatalog,
    catalog_as_graph,
    catalog_description,
    export_catalog,
    public_description,
)
from passerelle.hub.dcat import (
    CatalogDescription,
    ColumnRecord,
    Contact,
    DatasetRecord,
    Publisher,
    VersionRecord,
    catalog_graph,
    check_catalog_url,
    segment,
    serialize,
)
from passerelle.hub.tables import AuditEvent
from tests.hub.conftest import Cast, approved_project, dataset

BASE = "https://hub.example.eu/"
WHEN = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HOSTILE = [
    'a "quoted" title',
    "<script>alert(1)</script>",
    "line one\nline two\r\n\ttabbed",
    "http://evil/",
    "@context",
    "@id",
    '"}, {"@id": "http://evil/x", "@type": "dcat:Dataset"}, {"a": "',
    '" ; <http://evil/p> <http://evil/o> . <http://evil/s> <http://evil/p> "',
    "'''\"\"\" . } ] ) # not a comment",
    "\\u0022 \\n \\\\",
    "\u202eeviL\u202c and \u0000 nul",
]


def _description(
    text: str, *, name: str = "pmsi_stays", code: str = "750712184"
) -> CatalogDescription:
    record = DatasetRecord(
        name=name,
        description=text,
        publisher=Publisher(code, text),
        format="parquet",
        issued=WHEN,
        modified=WHEN,
        columns=(ColumnRecord(text, text, text), ColumnRecord("age", "INTEGER")),
        versions=(VersionRecord(1, WHEN), VersionRecord(2, WHEN, 10, text)),
        records=5,
    )
    return CatalogDescription(
        base=BASE,
        hub="hub",
        contact=Contact(text, "dac@hub.example.eu"),
        modified=WHEN,
        datasets=(record,),
        country="FRA",
        restricted=True,
    )


def _shape(graph: Graph) -> tuple[set[str], int, set[str]]:
    """Subjects, triple count and predicates: what a crafted text must not change."""
    subjects = {str(s) for s in graph.subjects() if isinstance(s, URIRef)}
    return subjects, len(graph), {str(p) for p in graph.predicates()}


@given(st.text(min_size=1, max_size=40))
def test_a_segment_is_one_inert_path_segment(text: str) -> None:
    encoded = segment(text)
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-%")
    assert "." not in encoded and "/" not in encoded
    assert unquote(encoded) == text


@pytest.mark.parametrize(
    "url",
    [
        "hub.example.eu/",
        "https://hub.example.eu",
        "https://user@hub.example.eu/",
        "https://hub.example.eu/?q=1/",
        "https://hub.example.eu/#x/",
        "javascript://hub/",
        "https://hub.example.eu/a b/",
        "https://hub.example.eu/\n/",
        'https://hub.example.eu/">/',
        "https://hub.example.eu/../",
        "https://hub.example.eu/a/./",
    ],
)
def test_a_catalog_url_that_could_bend_an_iri_is_refused(url: str) -> None:
    with pytest.raises(UsageError, match="catalog_url"):
        check_catalog_url(url)


def test_a_catalog_url_is_an_address_ending_with_a_slash() -> None:
    for url in ("https://hub.example.eu/", "http://127.0.0.1:8000/", "https://h.eu/dcat/v1/"):
        assert check_catalog_url(url) == url


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("format", ["jsonld", "turtle"])
def test_a_crafted_text_stays_a_literal_in_both_formats(text: str, format: str) -> None:
    """Titles, descriptions, column names and types, a supplier's and the access body's
    names, a version note: none adds a triple, a subject or an @id."""
    benign = catalog_graph(_description("plain words"))
    crafted = catalog_graph(_description(text))
    parsed = Graph().parse(
        data=serialize(crafted, format), format="json-ld" if format == "jsonld" else "turtle"
    )
    assert _shape(parsed) == _shape(benign)
    literals = {str(o) for o in parsed.objects() if isinstance(o, Literal)}
    assert text in literals
    if format == "jsonld":
        ids = _ids(json.loads(serialize(crafted, "jsonld")))
        assert ids == _ids(json.loads(serialize(benign, "jsonld")))
        assert not any("evil" in i for i in ids)


def _ids(document: object) -> set[str]:
    found: set[str] = set()
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("@id"), str):
                found.add(value["@id"])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


@pytest.mark.parametrize("name", ["..", "a/../b", "x?y#z", "é", "http://evil/", "a b"])
def test_a_name_becomes_one_encoded_segment_of_its_iri(name: str) -> None:
    graph = catalog_graph(_description("x", name=name, code=name))
    datasets = {str(s) for s in graph.subjects() if str(s).startswith(f"{BASE}datasets/")}
    top = {s.split("/")[4] for s in datasets}
    assert top == {segment(name)}
    assert all(s.startswith(BASE) or s.startswith("mailto:") for s in _iri_subjects(graph))


def _iri_subjects(graph: Graph) -> set[str]:
    return {str(s) for s in graph.subjects() if isinstance(s, URIRef)}


@pytest.mark.parametrize("format", ["jsonld", "turtle"])
def test_the_same_catalog_is_the_same_text(format: str) -> None:
    first = serialize(catalog_graph(_description("x")), format)  # type: ignore[arg-type]
    assert serialize(catalog_graph(_description("x")), format) == first  # type: ignore[arg-type]


def test_the_json_ld_context_is_inline_and_stable() -> None:
    from passerelle.hub.dcat import CONTEXT

    document = json.loads(serialize(catalog_graph(_description("x")), "jsonld"))
    assert document["@context"] == CONTEXT
    assert CONTEXT["dcat"] == "http://www.w3.org/ns/dcat#"
    assert all(isinstance(v, str | float) for v in CONTEXT.values())


def test_ingestions_own_description_and_store_urls_stay_out_of_the_public_view() -> None:
    assert public_description("ingested from az://landing@drop/2026/aphp.csv") == ""
    assert public_description("see https://doc.example.eu/x") == "see https://doc.example.eu/x"
    kept = public_description("copied from s3://vault@hdh-raw/k and FILE:///srv/x today")
    assert "vault" not in kept and "/srv" not in kept and kept.endswith("today")


# -- the hub's views: public, and what the rules give a signed-in user -----------------


def _catalog(c: Cast) -> int:
    """A discoverable entry with hostile texts, a hidden one granted to Alice's project,
    a quarantine; the project's id."""
    H.create_dataset(
        c.hub,
        c.steward,
        name="open_stays",
        organization="750712184",
        classification="health-pseudonymized",
        description="ingested from s3://vault@hdh-landing/aphp/stays.csv",
        schema=[{"name": t, "type": "VARCHAR", "description": t} for t in HOSTILE[:6]],
        locations=["s3://vault@hdh-secret-bucket/datasets/open_stays"],
    )
    dataset(c, "hidden_claims", discoverable=False)
    H.create_dataset(
        c.hub,
        c.steward,
        name="open_quarantine",
        organization="750712184",
        classification="health-pseudonymized",
        derived=True,
    )
    project = approved_project(c)
    H.create_grant(c.hub, c.steward, project, "hidden_claims")
    return project


def _datasets(graph: Graph) -> set[str]:
    return {
        str(o).rsplit("/", 1)[-1]
        for o in graph.objects(predicate=URIRef("http://www.w3.org/ns/dcat#dataset"))
    }


def test_the_public_view_lists_discoverable_entries_only_and_no_counts(cast: Cast) -> None:
    _catalog(cast)
    text = export_catalog(cast.hub, None, "turtle") + export_catalog(cast.hub, None, "jsonld")
    assert _datasets(catalog_as_graph(cast.hub, None)) == {"open_stays"}
    for secret in (
        "hidden_claims",
        "open_quarantine",
        "vault",
        "hdh-secret-bucket",
        "hdh-landing",
        "health-pseudonymized",
        "numberOfRecords",
        "byteSize",
        "Diabetes cohort",
        "alice",
        "steward",
    ):
        assert secret not in text, secret
    assert "open_stays, supplied by AP-HP" in text  # ingestion's description, replaced


def test_a_signed_in_view_follows_the_rules(cast: Cast) -> None:
    _catalog(cast)
    assert _datasets(catalog_as_graph(cast.hub, cast.alice)) == {"open_stays", "hidden_claims"}
    assert _datasets(catalog_as_graph(cast.hub, cast.bob)) == {"open_stays"}
    assert _datasets(catalog_as_graph(cast.hub, cast.steward)) == {
        "open_stays",
        "hidden_claims",
        "open_quarantine",
    }
    assert _datasets(catalog_as_graph(cast.hub, cast.auditor)) == set()
    assert _datasets(catalog_as_graph(cast.hub, cast.alice, public=True)) == {"open_stays"}
    mine = catalog_description(cast.hub, cast.alice)
    assert mine.restricted
    assert "s3://" in next(d.description for d in mine.datasets if d.name == "open_stays")
    text = export_catalog(cast.hub, cast.alice, "turtle")
    assert "hdh-secret-bucket" not in text  # locations are in no view


def test_a_signed_in_export_is_audited_and_the_public_one_is_not(cast: Cast) -> None:
    from sqlalchemy import func, select

    _catalog(cast)

    def events() -> int:
        with cast.hub.db.read() as session:
            return int(session.execute(select(func.count(AuditEvent.seq))).scalar_one())

    before = events()
    export_catalog(cast.hub, None, "jsonld")
    assert events() == before
    export_catalog(cast.hub, cast.bob, "jsonld")
    with cast.hub.db.read() as session:
        newest = select(
            AuditEvent.actor, AuditEvent.action, AuditEvent.decision, AuditEvent.details
        )
        actor, action, decision, details = session.execute(
            newest.order_by(AuditEvent.seq.desc()).limit(1)
        ).one()
    assert (actor, action, decision) == ("bob", "catalog.export", "allowed")
    assert json.loads(details) == {"view": "restricted", "visible": 1}


def test_the_cached_public_view_is_rebuilt_after_every_change_and_only_then(
    cast: Cast,
) -> None:
    _catalog(cast)
    public = PublicCatalog()
    first = public.text(cast.hub, "jsonld")
    assert public.text(cast.hub, "jsonld") == first
    assert public.builds == 1
    assert _datasets(Graph().parse(data=first, format="json-ld")) == {"open_stays"}

    H.update_dataset(cast.hub, cast.steward, "open_stays", discoverable=False)
    hidden = public.text(cast.hub, "jsonld")
    assert _datasets(Graph().parse(data=hidden, format="json-ld")) == set()
    H.update_dataset(cast.hub, cast.steward, "hidden_claims", discoverable=True)
    shown = public.text(cast.hub, "turtle")
    assert _datasets(Graph().parse(data=shown, format="turtle")) == {"hidden_claims"}
    assert shown == export_catalog(cast.hub, None, "turtle")
    assert public.builds == 3


def test_the_catalog_settings_round_trip_and_are_checked_when_the_hub_opens(
    tmp_path: Path,
) -> None:
    from passerelle.errors import ConfigError
    from passerelle.hub.hub import HubConfig, load_config

    chosen = {
        "catalog_url": "https://hub.example.eu/dcat/",
        "catalog_country": "FRA",
        "hdab_name": 'Agence "santé" [/x] 🏥',
        "hdab_email": "dac@hub.example.eu",
    }
    (tmp_path / "hub.toml").write_text(HubConfig(directory=tmp_path, **chosen).to_toml())
    loaded = load_config(tmp_path)
    assert {k: getattr(loaded, k) for k in chosen} == chosen
    for key, value, words in (
        ("catalog_url", "javascript://hub/", "catalog_url"),
        ("catalog_url", "https://hub.example.eu", "ending with '/'"),
        ("catalog_country", "USA", "EEA country"),
        ("hdab_email", "two words@x.eu", "hdab_email"),
        ("hdab_name", "line\nbreak", "one line of text"),
        ("hdab_name", 3, "one line of text"),
    ):
        toml = f"[hub]\n{key} = {json.dumps(value)}\n"
        (tmp_path / "hub.toml").write_text(toml)
        with pytest.raises(ConfigError, match=re.escape(words)):
            load_config(tmp_path)


def test_an_unset_access_body_is_named_after_the_hub_and_reaches_no_one(tmp_path: Path) -> None:
    from passerelle.hub.catalog_export import catalog_base, hdab_contact
    from passerelle.hub.hub import HubConfig

    config = HubConfig(directory=tmp_path, name="hdh_lyon", catalog_url="http://localhost:8700/")
    assert catalog_base(config) == "http://localhost:8700/"
    assert hdab_contact(config) == Contact("hdh_lyon", "hdab@hdh-lyon.invalid")
    assert catalog_base(HubConfig(directory=tmp_path, name="hdh_lyon")) == (
        "https://hdh-lyon.invalid/"
    )
